//! Mount life cycle through the real `scfs` binary: daemon readiness, the
//! BACKING lock, one-line errors, `ro`, and every way of unmounting
//! (`scfs umount`, `fusermount3 -u`, SIGTERM, SIGINT in the foreground)
//! losing nothing.

mod common;

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{alive, is_mounted, kill, run, scfs, wait_until, Mount};

fn one_line_error(out: &std::process::Output, prefix: &str) -> String {
    assert!(!out.status.success(), "expected failure");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err:?}");
    assert!(err.starts_with(prefix), "{err:?}");
    err
}

#[test]
fn daemon_returns_only_when_ready() {
    let Some(m) = Mount::new() else { return };
    // No sleep, no retry: the mount is usable the moment `scfs mount` exits.
    let parent = std::fs::metadata(m.mnt.parent().unwrap()).unwrap();
    let st = std::fs::metadata(&m.mnt).unwrap();
    assert_ne!(st.dev(), parent.dev(), "MNT is not a new filesystem");
    std::fs::write(m.p("hello.txt"), b"hello\n").unwrap();
    assert_eq!(std::fs::read(m.p("hello.txt")).unwrap(), b"hello\n");
    let pid = m.daemon_pid().expect("daemon holds the BACKING lock");
    assert!(alive(pid));
    // Nothing but the file itself and the daemon's lock file (tests/mount_guard.rs)
    // appears in BACKING.
    let mut names: Vec<_> = std::fs::read_dir(&m.backing)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names, vec![".scfs.lock", "hello.txt"]);
}

#[test]
fn second_mount_of_same_backing_fails() {
    let Some(m) = Mount::new() else { return };
    let other = m.scratch().join("mnt2");
    std::fs::create_dir(&other).unwrap();
    let out = run(scfs().arg("mount").arg(&m.backing).arg(&other));
    let err = one_line_error(&out, "scfs mount:");
    assert!(err.contains("already"), "{err}");
    assert!(!is_mounted(&other));
    // Same MNT again is refused too.
    let out = run(&mut m.mount_cmd());
    one_line_error(&out, "scfs mount:");
}

#[test]
fn bad_arguments_fail_with_one_line() {
    let Some(m) = Mount::unmounted(&[]) else {
        return;
    };
    let file = m.scratch().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let missing = m.scratch().join("missing");
    let cases: Vec<(Vec<&std::ffi::OsStr>, &str)> = vec![
        (vec![missing.as_os_str(), m.mnt.as_os_str()], "BACKING"),
        (vec![file.as_os_str(), m.mnt.as_os_str()], "not a directory"),
        (vec![m.backing.as_os_str(), missing.as_os_str()], "MNT"),
        (
            vec![m.backing.as_os_str(), file.as_os_str()],
            "not a directory",
        ),
        (
            vec![m.backing.as_os_str(), m.backing.as_os_str()],
            "contain",
        ),
    ];
    for (args, needle) in cases {
        let out = run(scfs().arg("mount").args(&args));
        let err = one_line_error(&out, "scfs mount:");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    for opt in [
        "bogus",
        "cache_size=12Q",
        "block_size=3000",
        "ro=yes",
        "threads=0",
    ] {
        let out = run(scfs()
            .arg("mount")
            .arg(&m.backing)
            .arg(&m.mnt)
            .arg("-o")
            .arg(opt));
        let err = one_line_error(&out, "scfs mount:");
        assert!(err.contains(opt.split('=').next().unwrap()), "{opt}: {err}");
    }
    assert!(!is_mounted(&m.mnt));
    let out = run(scfs().arg("umount").arg(&m.mnt));
    one_line_error(&out, "scfs umount:");
}

#[test]
fn read_only_mount_refuses_writes() {
    let Some(mut m) = Mount::new() else { return };
    std::fs::write(m.p("f"), b"content").unwrap();
    m.umount();
    m.opts = vec!["ro".into()];
    m.mount();
    assert_eq!(std::fs::read(m.p("f")).unwrap(), b"content");
    let erofs = |r: std::io::Result<()>| {
        assert_eq!(r.unwrap_err().raw_os_error(), Some(libc::EROFS));
    };
    erofs(std::fs::write(m.p("f"), b"new").map(|_| ()));
    erofs(std::fs::write(m.p("g"), b"new").map(|_| ()));
    erofs(std::fs::create_dir(m.p("d")));
    erofs(std::fs::remove_file(m.p("f")));
    m.remount();
    assert_eq!(std::fs::read(m.p("f")).unwrap(), b"content");
}

/// `scfs stats`, `info` and `verify` given paths inside a live mount report
/// the containers in BACKING (not the plain bytes the mount shows), with
/// the user's paths in the rows.
#[test]
fn stats_info_verify_through_the_mount_point() {
    let Some(m) = Mount::new() else { return };
    let text: Vec<u8> = (0..300_000u32)
        .flat_map(|i| format!("line {} of a log\n", i % 977).into_bytes())
        .collect();
    std::fs::create_dir(m.p("logs")).unwrap();
    std::fs::write(m.p("logs/a.log"), &text).unwrap();
    std::fs::write(m.p("top.txt"), &text[..100_000]).unwrap();
    let out_of = |args: &[&std::ffi::OsStr]| {
        let out = run(scfs().args(args));
        assert!(out.status.success(), "{args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    // The total row's fields (the column widths follow the paths).
    let total = |s: &str| {
        s.lines()
            .last()
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let via_mnt = out_of(&["stats".as_ref(), m.mnt.as_os_str()]);
    let via_backing = out_of(&["stats".as_ref(), m.backing.as_os_str()]);
    assert_eq!(total(&via_mnt), total(&via_backing), "{via_mnt}");
    assert!(total(&via_mnt).starts_with("total (2 files)"), "{via_mnt}");
    let row = via_mnt
        .lines()
        .find(|l| l.contains("a.log"))
        .unwrap_or_else(|| panic!("{via_mnt}"));
    assert!(
        row.starts_with(&m.p("logs/a.log").display().to_string()),
        "{row}"
    );
    assert!(row.contains("  v2  ") && row.contains(" lz "), "{row}");
    // A compressible file saves space; the stored size is the container's.
    let stored = std::fs::metadata(m.backing.join("logs/a.log"))
        .unwrap()
        .len();
    assert!(stored < text.len() as u64 / 2, "{stored}");
    let info = out_of(&["info".as_ref(), m.p("logs/a.log").as_os_str()]);
    assert!(info.contains("scfs v2 container"), "{info}");
    assert!(
        info.contains(&format!("logical size:  {} bytes", text.len())),
        "{info}"
    );
    assert!(
        info.contains(&format!("stored size:   {stored} bytes")),
        "{info}"
    );
    let verify = out_of(&["verify".as_ref(), m.p("top.txt").as_os_str()]);
    assert!(verify.contains(": OK (v2,"), "{verify}");
    // A relative path inside the mount works too.
    let out = run(scfs().arg("stats").arg("a.log").current_dir(m.p("logs")));
    let s = String::from_utf8(out.stdout).unwrap();
    assert!(
        s.lines()
            .any(|l| l.starts_with("a.log ") && l.contains("v2")),
        "{s}"
    );
}

/// Writes files without fsync or close-to-disk waits and returns them.
fn write_set(m: &Mount) -> Vec<(String, Vec<u8>)> {
    let files = vec![
        ("small.txt".to_string(), b"small\n".to_vec()),
        ("text.txt".to_string(), common::data(700_000, 1, true)),
        ("random.bin".to_string(), common::data(300_000, 2, false)),
    ];
    for (name, d) in &files {
        let mut f = std::fs::File::create(m.p(name)).unwrap();
        f.write_all(d).unwrap();
    }
    files
}

fn check_set(m: &Mount, files: &[(String, Vec<u8>)]) {
    for (name, d) in files {
        assert!(std::fs::read(m.p(name)).unwrap() == *d, "{name} differs");
    }
}

#[test]
fn scfs_umount_flushes_everything() {
    let Some(mut m) = Mount::new() else { return };
    let files = write_set(&m);
    // Keep one file open and dirty until just before the unmount.
    let mut open = std::fs::File::create(m.p("open.txt")).unwrap();
    open.write_all(b"written while open").unwrap();
    drop(open);
    m.umount();
    // Without any mount: every backing file is a complete container.
    for (name, d) in &files {
        assert!(
            m.decompress(name) == *d,
            "{name}: decompressed backing differs"
        );
    }
    assert_eq!(m.decompress("open.txt"), b"written while open");
    m.mount();
    check_set(&m, &files);
}

#[test]
fn plain_fusermount_loses_nothing() {
    let Some(mut m) = Mount::new() else { return };
    let files = write_set(&m);
    let pid = m.daemon_pid().unwrap();
    let out = run(Command::new("fusermount3").arg("-u").arg(&m.mnt));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    m.forget_mounted();
    wait_until(30, "the daemon to exit", || !alive(pid));
    m.mount();
    check_set(&m, &files);
}

#[test]
fn sigterm_unmounts_and_flushes() {
    let Some(mut m) = Mount::new() else { return };
    let files = write_set(&m);
    let pid = m.daemon_pid().unwrap();
    kill(pid, libc::SIGTERM);
    wait_until(30, "the daemon to exit", || !alive(pid));
    assert!(!is_mounted(&m.mnt), "SIGTERM left the mount behind");
    m.forget_mounted();
    m.mount();
    check_set(&m, &files);
}

#[test]
fn busy_mount_is_not_unmounted() {
    let Some(mut m) = Mount::new() else { return };
    let f = std::fs::File::create(m.p("held")).unwrap();
    let out = run(scfs().arg("umount").arg(&m.mnt));
    let err = one_line_error(&out, "scfs umount:");
    assert!(err.contains("busy"), "{err}");
    assert!(is_mounted(&m.mnt));
    drop(f);
    m.umount();
}

#[test]
fn foreground_mode_and_sigint() {
    let Some(mut m) = Mount::unmounted(&[]) else {
        return;
    };
    let child = scfs()
        .arg("mount")
        .arg("-f")
        .arg(&m.backing)
        .arg(&m.mnt)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until(30, "the foreground mount", || is_mounted(&m.mnt));
    std::fs::write(m.p("fg.txt"), b"foreground").unwrap();
    kill(child.id(), libc::SIGINT);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!is_mounted(&m.mnt));
    m.mount();
    assert_eq!(std::fs::read(m.p("fg.txt")).unwrap(), b"foreground");
}

/// SIGKILLs the daemon and waits until its mount point is dead (ENOTCONN;
/// the group leader can be a zombie a moment before the last thread
/// closed /dev/fuse).
fn kill_daemon(m: &Mount) {
    let pid = m.daemon_pid().unwrap();
    kill(pid, libc::SIGKILL);
    wait_until(10, "the killed daemon to exit", || !alive(pid));
    wait_until(10, "ENOTCONN on the dead mount", || {
        std::fs::metadata(&m.mnt)
            .map_err(|e| e.raw_os_error())
            .err()
            == Some(Some(libc::ENOTCONN))
    });
}

#[test]
fn umount_of_a_dead_daemon_cleans_up() {
    let Some(mut m) = Mount::new() else { return };
    kill_daemon(&m);
    m.umount();
    m.mount();
    assert!(Path::new(&m.mnt).read_dir().is_ok());
}

#[test]
fn mount_over_a_dead_mount_after_kill_9_just_works() {
    let Some(mut m) = Mount::new() else { return };
    std::fs::write(m.p("kept"), b"closed before the crash").unwrap();
    kill_daemon(&m);
    // No manual unmount: scfs mount detaches the dead mount itself.
    m.mount();
    assert_eq!(
        std::fs::read(m.p("kept")).unwrap(),
        b"closed before the crash"
    );
    // The same after a crash when remounting somewhere else.
    kill_daemon(&m);
    let other = m.scratch().join("mnt2");
    std::fs::create_dir(&other).unwrap();
    let out = run(common::scfs().arg("mount").arg(&m.backing).arg(&other));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !common::is_mounted(&m.mnt),
        "the dead mount was left behind"
    );
    assert_eq!(
        std::fs::read(other.join("kept")).unwrap(),
        b"closed before the crash"
    );
    let out = run(common::scfs().arg("umount").arg(&other));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    m.forget_mounted();
}

/// The sealed seq of a backing container, from `scfs info`.
fn sealed(backing: &Path) -> Option<String> {
    let out = run(scfs().arg("info").arg(backing));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.starts_with("sealed:"))
        .map(|l| l.trim_start_matches("sealed:").trim().to_owned())
}

#[test]
fn quiet_files_are_sealed_while_mounted_and_deleted_ones_are_let_go() {
    let Some(mut m) = Mount::new() else { return };
    std::fs::write(m.p("kept"), vec![b'k'; 300_000]).unwrap();
    std::fs::write(m.p("gone"), vec![b'g'; 3_000_000]).unwrap();
    let pid = m.daemon_pid().unwrap();
    let backing_gone = m.b("gone").canonicalize().unwrap();
    std::fs::remove_file(m.p("gone")).unwrap();
    // The daemon lets go of the deleted file (its space is freed) soon,
    // not at unmount.
    wait_until(10, "the daemon to close the deleted backing file", || {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .all(|t| {
                !t.to_string_lossy()
                    .starts_with(&*backing_gone.to_string_lossy())
            })
    });
    // After a quiet moment the closed file is sealed, still mounted.
    assert!(
        sealed(&m.b("kept")).is_some_and(|s| s.starts_with("no commit")),
        "{:?}",
        sealed(&m.b("kept"))
    );
    wait_until(40, "the background seal", || {
        sealed(&m.b("kept")).is_some_and(|s| s.starts_with("commit 1 of 1"))
    });
    // Killed now, the daemon leaves a sealed file: cut short, it is EIO.
    m.crash();
    let len = std::fs::metadata(m.b("kept")).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(m.b("kept"))
        .unwrap()
        .set_len(len - 10)
        .unwrap();
    m.mount();
    let err = std::fs::read(m.p("kept")).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EIO));
}
