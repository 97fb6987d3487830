//! POSIX details a conformance suite checks through the real daemon:
//! other users can use a mount made by root (with the kernel checking mode
//! bits), and data changes move mtime/ctime at once, even while the new
//! bytes still sit in dirty blocks, and persistently after the close.

mod common;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use common::Mount;

const PAST: i64 = 1_000_000_000;

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Sets atime and mtime of `p` to PAST.
fn age(p: &Path) {
    let f = fs::File::open(p).unwrap();
    let t = [libc::timespec {
        tv_sec: PAST as libc::time_t,
        tv_nsec: 0,
    }; 2];
    // SAFETY: a valid descriptor and a two-element timespec array.
    assert_eq!(unsafe { libc::futimens(f.as_raw_fd(), t.as_ptr()) }, 0);
    let md = fs::metadata(p).unwrap();
    assert_eq!(md.mtime(), PAST);
}

fn assert_recent(md: &fs::Metadata, what: &str) {
    assert!(
        md.mtime() > PAST + 1000 && md.ctime() >= md.mtime(),
        "{what}: mtime {} ctime {} not updated",
        md.mtime(),
        md.ctime()
    );
}

#[test]
fn data_changes_update_mtime_and_ctime() {
    let Some(mut m) = Mount::new() else { return };
    // An in-place overwrite (no size change), seen by fstat while the file
    // is still open and the data not yet written to BACKING.
    fs::write(m.p("f"), vec![b'a'; 200_000]).unwrap();
    age(&m.p("f"));
    let f = OpenOptions::new().write(true).open(m.p("f")).unwrap();
    f.write_all_at(b"overwrite", 1000).unwrap();
    assert_recent(&f.metadata().unwrap(), "fstat after an in-place write");
    drop(f);
    assert_recent(&fs::metadata(m.p("f")).unwrap(), "stat after close");
    assert_recent(&fs::metadata(m.b("f")).unwrap(), "backing file after close");

    // O_TRUNC of an empty file still counts as a change (as on Linux
    // local filesystems).
    fs::write(m.p("empty"), b"").unwrap();
    age(&m.p("empty"));
    drop(
        OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(m.p("empty"))
            .unwrap(),
    );
    assert_recent(
        &fs::metadata(m.p("empty")).unwrap(),
        "O_TRUNC of an empty file",
    );

    // Punching a hole changes data too; KEEP_SIZE preallocation does not
    // change mtime.
    fs::write(m.p("p"), vec![b'x'; 100_000]).unwrap();
    age(&m.p("p"));
    let f = OpenOptions::new().write(true).open(m.p("p")).unwrap();
    // SAFETY: fallocate on a descriptor we own; no memory is passed.
    let r = unsafe { libc::fallocate(f.as_raw_fd(), libc::FALLOC_FL_KEEP_SIZE, 200_000, 4096) };
    assert_eq!(r, 0);
    assert_eq!(f.metadata().unwrap().mtime(), PAST, "KEEP_SIZE moved mtime");
    // SAFETY: as above.
    let r = unsafe {
        libc::fallocate(
            f.as_raw_fd(),
            libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
            4096,
            8192,
        )
    };
    assert_eq!(r, 0);
    assert_recent(&f.metadata().unwrap(), "punch hole");
    drop(f);

    // Times set explicitly after the writes win, also after a remount.
    let mut f = OpenOptions::new().append(true).open(m.p("f")).unwrap();
    f.write_all(b"tail").unwrap();
    drop(f);
    age(&m.p("f"));
    m.remount();
    assert_eq!(fs::metadata(m.p("f")).unwrap().mtime(), PAST);
    assert_recent(
        &fs::metadata(m.p("empty")).unwrap(),
        "O_TRUNC after remount",
    );
    assert_recent(&fs::metadata(m.p("p")).unwrap(), "punch after remount");
}

/// mtime is the time of the last write(2), not of the later write-back:
/// a stat after the close (past the kernel's 1 s attribute cache) shows
/// what fstat showed before it. A file created and closed without content
/// changes nothing after its creation (times, st_blocks) and stays an
/// empty file in BACKING.
#[test]
fn times_stay_put_after_close_and_creation() {
    let Some(m) = Mount::new() else { return };
    let f = fs::File::create(m.p("w")).unwrap();
    f.write_all_at(&vec![b'w'; 100_000], 0).unwrap();
    let before = f.metadata().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(60));
    drop(f);
    let e = fs::File::create(m.p("e")).unwrap();
    let created = e.metadata().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(60));
    drop(e);
    std::thread::sleep(std::time::Duration::from_millis(1300));
    let after = fs::metadata(m.p("w")).unwrap();
    assert_eq!(
        (after.mtime(), after.mtime_nsec()),
        (before.mtime(), before.mtime_nsec()),
        "mtime moved at close"
    );
    let e2 = fs::metadata(m.p("e")).unwrap();
    assert_eq!(
        (
            e2.mtime(),
            e2.mtime_nsec(),
            e2.ctime(),
            e2.ctime_nsec(),
            e2.blocks()
        ),
        (
            created.mtime(),
            created.mtime_nsec(),
            created.ctime(),
            created.ctime_nsec(),
            created.blocks()
        ),
        "an empty new file changed after its creation"
    );
    assert_eq!(fs::metadata(m.b("e")).unwrap().len(), 0);
}

/// Reading marks a file accessed as a local filesystem mounted relatime
/// does (the atime moves when it is not newer than mtime or a day old),
/// without touching ctime; `-o noatime` never does.
#[test]
fn reads_update_atime_by_relatime_rules() {
    for (opts, moves) in [(&[][..], true), (&["noatime"][..], false)] {
        let Some(m) = Mount::with_opts(opts) else {
            return;
        };
        for name in ["c", "empty"] {
            let p = m.p(name);
            fs::write(
                &p,
                if name == "c" {
                    &b"some content"[..]
                } else {
                    b""
                },
            )
            .unwrap();
            age(&p);
            let before = fs::metadata(&p).unwrap();
            assert_eq!(before.atime(), PAST);
            fs::read(&p).unwrap();
            if name == "empty" {
                // No read request reaches the daemon for an empty file, so
                // the kernel keeps its cached attributes for their 1 s.
                std::thread::sleep(std::time::Duration::from_millis(1100));
            }
            let after = fs::metadata(&p).unwrap();
            assert_eq!(after.atime() > PAST, moves, "{opts:?} {name}: atime");
            assert_eq!(
                (after.ctime(), after.ctime_nsec()),
                (before.ctime(), before.ctime_nsec()),
                "{opts:?} {name}: a read moved ctime"
            );
            assert_eq!(after.mtime(), PAST);
            // Once newer than mtime and ctime, a read within the day does not
            // move it again.
            if moves {
                fs::read(&p).unwrap();
                assert_eq!(fs::metadata(&p).unwrap().atime(), after.atime());
            }
        }
    }
}

#[test]
fn a_container_with_a_damaged_header_reads_as_eio() {
    let Some(mut m) = Mount::new() else { return };
    let data = common::data(300_000, 9, true);
    fs::write(m.p("a"), &data).unwrap();
    fs::write(m.p("b"), &data).unwrap();
    m.umount();
    // Zero the header (and the start of the first record) of one, and
    // only the magic of the other.
    let f = OpenOptions::new().write(true).open(m.b("a")).unwrap();
    f.write_all_at(&[0u8; 40], 0).unwrap();
    let f = OpenOptions::new().write(true).open(m.b("b")).unwrap();
    f.write_all_at(b"XXXX", 0).unwrap();
    drop(f);
    m.mount();
    for n in ["a", "b"] {
        let e = fs::read(m.p(n)).expect_err("damaged container served as data");
        assert_eq!(e.raw_os_error(), Some(libc::EIO), "{n}: {e}");
    }
    assert!(
        m.log_text().contains("damaged file header"),
        "{}",
        m.log_text()
    );
}

#[test]
fn other_users_use_a_root_mount_with_mode_bits_checked() {
    if !is_root() {
        eprintln!("skipping: needs root");
        return;
    }
    let Some(m) = Mount::new() else { return };
    fs::set_permissions(m.scratch(), fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(&m.mnt, fs::Permissions::from_mode(0o777)).unwrap();
    fs::write(m.p("public"), b"hello\n").unwrap();
    fs::set_permissions(m.p("public"), fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(m.p("secret"), b"no\n").unwrap();
    fs::set_permissions(m.p("secret"), fs::Permissions::from_mode(0o600)).unwrap();
    let as_nobody = |script: &str| {
        Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir("/")
            .uid(65534)
            .gid(65534)
            .output()
            .unwrap()
    };
    let dir = m.mnt.display().to_string();
    let out = as_nobody(&format!("cat {dir}/public"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"hello\n");
    let out = as_nobody(&format!("cat {dir}/secret"));
    assert!(
        !out.status.success(),
        "a 0600 root file was readable by nobody"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("Permission denied"));
    let out = as_nobody(&format!("echo mine > {dir}/mine && cat {dir}/mine"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let md = fs::metadata(m.p("mine")).unwrap();
    assert_eq!((md.uid(), md.gid()), (65534, 65534));
    let out = as_nobody(&format!("rm {dir}/public"));
    assert!(out.status.success(), "rm in a 0777 dir failed");
    // The sticky bit protects others' files.
    fs::create_dir(m.p("tmp")).unwrap();
    fs::set_permissions(m.p("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    fs::write(m.p("tmp/roots"), b"x").unwrap();
    fs::set_permissions(m.p("tmp/roots"), fs::Permissions::from_mode(0o666)).unwrap();
    let out = as_nobody(&format!("rm -f {dir}/tmp/roots"));
    assert!(!out.status.success(), "sticky bit ignored");
    assert!(m.p("tmp/roots").exists());
    // And no_allow_other keeps the old owner-only behaviour.
    drop(m);
    let Some(m) = Mount::with_opts(&["no_allow_other"]) else {
        return;
    };
    fs::set_permissions(m.scratch(), fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(m.p("public"), b"hello\n").unwrap();
    let out = as_nobody(&format!("cat {}/public", m.mnt.display()));
    assert!(!out.status.success(), "no_allow_other let another user in");
}

/// Runs `script` under `sh -c` as uid/gid 65534 with supplementary groups
/// `groups` (through setpriv, as std cannot set them without unsafe).
fn as_nobody_groups(script: &str, groups: &str) -> std::process::Output {
    Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            &format!("--groups={groups}"),
            "sh",
            "-c",
            script,
        ])
        .current_dir("/")
        .output()
        .unwrap()
}

/// An unprivileged write or truncate drops S_ISGID of a file without group
/// execute permission when the writer is not in the file's group, as the
/// Linux VFS does on a local filesystem since 6.2 (the FUSE protocol's
/// FUSE_HANDLE_KILLPRIV_V2 text only describes the older group-execute
/// rule, which kept the bit); a writer in the group keeps it.
#[test]
fn unprivileged_writes_drop_setgid_as_a_local_filesystem() {
    if !is_root() || Command::new("setpriv").arg("--help").output().is_err() {
        eprintln!("skipping: needs root and setpriv");
        return;
    }
    let Some(m) = Mount::new() else { return };
    fs::set_permissions(m.scratch(), fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(&m.mnt, fs::Permissions::from_mode(0o777)).unwrap();
    let dir = m.mnt.display().to_string();
    // (name, gid, mode, how nobody changes it, supplementary group, mode after)
    let cases: [(&str, u32, u32, &str, &str, u32); 7] = [
        ("w_other", 0, 0o2747, "printf x >> F", "65534", 0o747),
        ("w_group", 65534, 0o2767, "printf x >> F", "65534", 0o2767),
        (
            "w_supp",
            1234,
            0o2767,
            "printf x >> F",
            "65534,1234",
            0o2767,
        ),
        ("o_trunc", 0, 0o2747, ": > F", "65534", 0o747),
        ("truncate", 0, 0o2747, "truncate -s 3 F", "65534", 0o747),
        ("w_gx", 65534, 0o6777, "printf x >> F", "65534", 0o777),
        ("w_suid", 65534, 0o4767, "printf x >> F", "65534", 0o767),
    ];
    for (name, gid, mode, how, groups, want) in cases {
        let p = m.p(name);
        fs::write(&p, b"data").unwrap();
        std::os::unix::fs::chown(&p, Some(0), Some(gid)).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
        assert_eq!(fs::metadata(&p).unwrap().mode() & 0o7777, mode, "{name}");
        let script = how.replace('F', &format!("{dir}/{name}"));
        let out = as_nobody_groups(&script, groups);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got = fs::metadata(&p).unwrap().mode() & 0o7777;
        assert_eq!(got, want, "{name}: mode {got:o} after `{how}` as nobody");
    }
}

/// open(O_RDONLY | O_TRUNC) truncates on Linux (POSIX leaves it
/// unspecified; every Linux local filesystem truncates, and the kernel
/// hands O_TRUNC to the daemon under FUSE_ATOMIC_O_TRUNC): the data goes
/// and mtime/ctime move, for a container, a plain file and an empty one.
#[test]
fn read_only_open_with_o_trunc_truncates() {
    let Some(m) = Mount::new() else { return };
    fs::write(m.p("c"), vec![b'z'; 100_000]).unwrap();
    fs::write(m.b("plain"), b"plain backing bytes").unwrap();
    fs::write(m.p("e"), b"").unwrap();
    for name in ["c", "plain", "e"] {
        let p = m.p(name);
        age(&p);
        let path = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path; the descriptor is closed below.
        let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_TRUNC) };
        assert!(fd >= 0, "{name}: {}", std::io::Error::last_os_error());
        // SAFETY: fd was just opened by us and is not used afterwards.
        let f = unsafe { <fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
        assert_eq!(f.metadata().unwrap().len(), 0, "{name}: fstat size");
        drop(f);
        let md = fs::metadata(&p).unwrap();
        assert_eq!(md.len(), 0, "{name}: size after O_RDONLY|O_TRUNC");
        assert_recent(&md, name);
        assert_eq!(fs::read(&p).unwrap(), b"", "{name}: data left");
    }
}

/// Puts /dev/fuse's mode back when dropped.
struct FuseMode(Option<u32>);

impl Drop for FuseMode {
    fn drop(&mut self) {
        if let Some(mode) = self.0 {
            let _ = fs::set_permissions("/dev/fuse", fs::Permissions::from_mode(mode));
        }
    }
}

/// A daemon run by an ordinary user (as `scfs mount` is usually run)
/// serves that user's files whose mode shuts the owner out as a local
/// filesystem does: `chmod 000` keeps the logical size in `stat` (not the
/// container's), and `chmod 200` (write-only) can still be appended to,
/// although scfs must read a container to change it.
#[test]
fn a_user_daemon_serves_its_files_whatever_their_mode() {
    if !is_root() {
        eprintln!("skipped: needs root to set up a user mount");
        return;
    }
    let Some(mut m) = Mount::unmounted(&[]) else {
        return;
    };
    m.forget_mounted();
    // nobody may use /dev/fuse (put back after), reach the scratch dir
    // and own BACKING and MNT.
    let mode = fs::metadata("/dev/fuse").unwrap().mode() & 0o7777;
    let _fuse = if mode & 0o006 != 0o006 {
        fs::set_permissions("/dev/fuse", fs::Permissions::from_mode(0o666)).unwrap();
        FuseMode(Some(mode))
    } else {
        FuseMode(None)
    };
    fs::set_permissions(m.scratch(), fs::Permissions::from_mode(0o777)).unwrap();
    for d in [&m.backing, &m.mnt] {
        std::os::unix::fs::chown(d, Some(65534), Some(65534)).unwrap();
    }
    let as_nobody =
        |cmd: &mut Command| cmd.current_dir("/").uid(65534).gid(65534).output().unwrap();
    let sh = |script: &str| {
        let out = as_nobody(Command::new("sh").arg("-c").arg(script));
        assert!(
            out.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let mount = || {
        let out = as_nobody(&mut m.mount_cmd());
        assert!(
            out.status.success(),
            "scfs mount as nobody: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let umount = || {
        let out = common::run(common::scfs().arg("umount").arg(&m.mnt));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let dir = m.mnt.display().to_string();
    mount();
    sh(&format!("echo hello > {dir}/f && chmod 000 {dir}/f"));
    // A fresh daemon knows nothing of the file but what BACKING holds.
    umount();
    mount();
    let got = sh(&format!("stat -c %s {dir}/f; ls -l {dir}/f | cut -c1-10"));
    assert_eq!(got, "6\n----------\n");
    // Write-only: appending works; then readable again, intact.
    sh(&format!("chmod 200 {dir}/f && echo more >> {dir}/f"));
    umount();
    mount();
    let got = sh(&format!(
        "stat -c '%s %a' {dir}/f; chmod 600 {dir}/f; cat {dir}/f"
    ));
    assert_eq!(got, "11 200\nhello\nmore\n");
    umount();
    assert_eq!(
        fs::metadata(m.b("f")).unwrap().mode() & 0o7777,
        0o600,
        "the mode asked for is the backing file's"
    );
}
