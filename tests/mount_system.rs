//! `scfs mount` as part of the system: what it refuses (MNT already an
//! scfs mount, a non-empty MNT, BACKING inside or overlapping a mount, no
//! access to /dev/fuse), the wait for the previous daemon after a plain
//! unmount, the mount type `fuse.scfs`, the generic mount(8)/systemd
//! options, `mount -t fuse.scfs`, an fstab line, and remounts.
//!
//! mount(8) runs helpers with the default PATH, so the tests that go
//! through it run in a private mount namespace (`unshare -m`) in which a
//! temp dir holding an `scfs` symlink to the built binary is bind-mounted
//! over /usr/local/bin, and the fstab is a temp file (`mount --fstab`):
//! nothing of the system is changed.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{alive, is_mounted, lock_holder, run, scfs, wait_until, Mount};

/// Unmounts `mnt` if a mount that should have been refused was made.
fn undo_if_mounted(mnt: &Path) {
    if is_mounted(mnt) {
        let _ = run(scfs().arg("umount").arg(mnt));
    }
}

fn one_line_error(out: &Output, needle: &str) -> String {
    assert!(!out.status.success(), "expected failure: {out:?}");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err:?}");
    assert!(err.starts_with("scfs mount:"), "{err:?}");
    assert!(err.contains(needle), "{err:?} lacks {needle:?}");
    err
}

fn is_root() -> bool {
    // SAFETY: geteuid cannot fail and touches no memory.
    unsafe { libc::geteuid() == 0 }
}

/// The mountinfo line of the mount at `p`.
fn mountinfo_line(p: &Path) -> Option<String> {
    let s = p.to_string_lossy().replace(' ', "\\040");
    std::fs::read_to_string("/proc/self/mountinfo")
        .ok()?
        .lines()
        .rev()
        .find(|l| l.split(' ').nth(4) == Some(s.as_str()))
        .map(str::to_owned)
}

/// The filesystem type of the mount at `p`.
fn fs_type(p: &Path) -> Option<String> {
    let line = mountinfo_line(p)?;
    let mut f = line.split(" - ").nth(1)?.split(' ');
    f.next().map(str::to_owned)
}

#[test]
fn mount_over_an_scfs_mount_is_refused() {
    let Some(m) = Mount::new() else { return };
    std::fs::write(m.p("first"), b"first mount").unwrap();
    let b2 = m.scratch().join("b2");
    std::fs::create_dir(&b2).unwrap();
    let out = run(scfs().arg("mount").arg(&b2).arg(&m.mnt));
    if out.status.success() {
        undo_if_mounted(&m.mnt);
    }
    one_line_error(&out, "already an scfs mount");
    // The first mount is still what MNT shows, and one umount is enough.
    assert_eq!(std::fs::read(m.p("first")).unwrap(), b"first mount");
    assert_eq!(lock_holder(&b2), None);
    let out = run(scfs().arg("umount").arg(&m.mnt));
    assert!(out.status.success(), "{out:?}");
    assert!(!is_mounted(&m.mnt));
    let mut m = m;
    m.forget_mounted();
}

#[test]
fn non_empty_mount_point_needs_nonempty() {
    let Some(mut m) = Mount::unmounted(&[]) else {
        return;
    };
    std::fs::write(m.mnt.join("hidden"), b"under the mount").unwrap();
    let out = run(&mut m.mount_cmd());
    one_line_error(&out, "not empty");
    assert!(!is_mounted(&m.mnt));
    m.opts = vec!["nonempty".into()];
    m.mount();
    assert!(!m.p("hidden").exists(), "the mount shows BACKING");
    std::fs::write(m.p("new"), b"in the mount").unwrap();
    m.umount();
    assert_eq!(
        std::fs::read(m.mnt.join("hidden")).unwrap(),
        b"under the mount"
    );
}

#[test]
fn backing_inside_or_overlapping_a_mount_is_refused() {
    let Some(m) = Mount::new() else { return };
    std::fs::create_dir(m.p("sub")).unwrap();
    let mnt2 = m.scratch().join("mnt2");
    std::fs::create_dir(&mnt2).unwrap();
    // Inside the mount point of another scfs mount.
    let out = run(scfs().arg("mount").arg(m.p("sub")).arg(&mnt2));
    undo_if_mounted(&mnt2);
    one_line_error(&out, "inside the scfs mount");
    // Inside, or around, the BACKING of a live mount.
    let out = run(scfs().arg("mount").arg(m.b("sub")).arg(&mnt2));
    undo_if_mounted(&mnt2);
    one_line_error(&out, "overlaps");
    let out = run(scfs().arg("mount").arg(m.scratch()).arg(&mnt2));
    undo_if_mounted(&mnt2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("contain"), "{err}");
    assert!(!is_mounted(&mnt2));
}

/// Runs `script` with sh in a private mount namespace.
fn in_namespace(script: &str) -> Output {
    run(Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-ec"])
        .arg(script))
}

fn have_namespaces() -> bool {
    let ok = is_root()
        && Command::new("unshare")
            .args(["-m", "true"])
            .status()
            .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("skipping: needs root and unshare -m");
    }
    ok
}

#[test]
fn user_without_dev_fuse_access_is_told_what_to_do() {
    if !have_namespaces() || !common::fuse_available() {
        return;
    }
    let Some(m) = Mount::unmounted(&[]) else {
        return;
    };
    let node = m.scratch().join("fuse-node");
    let bin = env!("CARGO_BIN_EXE_scfs");
    use std::os::unix::fs::PermissionsExt;
    for (d, mode) in [(m.scratch(), 0o755), (&m.backing, 0o777), (&m.mnt, 0o777)] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    // A /dev/fuse of mode 0600, only in this namespace.
    let script = format!(
        "mknod -m 0600 '{node}' c 10 229\n\
         mount --bind '{node}' /dev/fuse\n\
         setpriv --reuid=nobody --regid=nogroup --clear-groups '{bin}' mount '{b}' '{mnt}'",
        node = node.display(),
        b = m.backing.display(),
        mnt = m.mnt.display()
    );
    let out = in_namespace(&script);
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("Permission denied") && err.contains(bin) {
        eprintln!("skipping: nobody cannot run {bin}");
        return;
    }
    let err = one_line_error(&out, "/dev/fuse");
    assert!(err.contains("chmod 0666 /dev/fuse"), "{err}");
    assert!(!err.contains("cannot mount on"), "{err}");
}

/// Writes enough data that the daemon is still busy writing it back for a
/// moment after the kernel let go of MNT.
fn dirty_data(m: &Mount, round: usize) {
    for i in 0..4 {
        let d = common::data(12 << 20, (round * 10 + i) as u64, true);
        std::fs::write(m.p(&format!("big{round}-{i}")), d).unwrap();
    }
}

/// After `unmount` detached MNT (the old daemon may still be writing),
/// `scfs mount` of the same BACKING waits for it instead of failing.
fn remount_right_after(unmount: &dyn Fn(&Path) -> Output) {
    let Some(mut m) = Mount::with_opts(&["cache_size=256M"]) else {
        return;
    };
    let mut exercised = false;
    for round in 0..4 {
        dirty_data(&m, round);
        let pid = m.daemon_pid().unwrap();
        let out = unmount(&m.mnt);
        assert!(out.status.success(), "{out:?}");
        m.forget_mounted();
        exercised |= alive(pid) && lock_holder(&m.backing) == Some(pid);
        // Succeeds (after waiting for the old daemon if it still runs).
        m.mount();
        assert!(!alive(pid), "the old daemon still runs");
        let names = std::fs::read_dir(&m.mnt).unwrap().count();
        assert_eq!(names, 4 * (round + 1));
        if exercised {
            break;
        }
    }
    assert!(exercised, "the old daemon was never caught writing");
    let d = common::data(12 << 20, 0, true);
    assert!(std::fs::read(m.p("big0-0")).unwrap() == d);
}

#[test]
fn mount_right_after_plain_umount_waits_for_the_old_daemon() {
    if !is_root() {
        return;
    }
    remount_right_after(&|mnt| run(Command::new("umount").arg(mnt)));
}

#[test]
fn mount_right_after_fusermount_waits_for_the_old_daemon() {
    remount_right_after(&|mnt| run(Command::new("fusermount3").arg("-u").arg(mnt)));
}

#[test]
fn root_mounts_have_type_fuse_scfs_and_generic_flags() {
    if !is_root() {
        return;
    }
    let Some(m) = Mount::with_opts(&["noexec,strictatime,nodiratime,lazytime"]) else {
        return;
    };
    assert_eq!(fs_type(&m.mnt).as_deref(), Some("fuse.scfs"));
    let line = mountinfo_line(&m.mnt).unwrap();
    let mount_opts = line.split(' ').nth(5).unwrap();
    for want in ["nosuid", "nodev", "noexec", "nodiratime"] {
        assert!(mount_opts.split(',').any(|o| o == want), "{line}");
    }
    assert!(
        !mount_opts.contains("relatime") && !mount_opts.contains("noatime"),
        "{line}"
    );
    assert!(line.contains("lazytime"), "{line}");
    let out = run(Command::new("findmnt")
        .args(["-n", "-t", "fuse.scfs", "-o", "SOURCE"])
        .arg(&m.mnt));
    let src = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        src.trim(),
        format!("scfs:{}", m.backing.canonicalize().unwrap().display())
    );
    let out = run(Command::new("df")
        .args(["--output=target", "-t", "fuse.scfs"])
        .arg(&m.mnt));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&*m.mnt.to_string_lossy()),
        "{out:?}"
    );
}

/// A temp dir with `scfs` -> the built binary, for PATH.
fn bin_dir(scratch: &Path) -> PathBuf {
    let dir = scratch.join("bin");
    std::fs::create_dir_all(&dir).unwrap();
    let link = dir.join("scfs");
    if !link.exists() {
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_scfs"), &link).unwrap();
    }
    dir
}

fn mount_fuse3() -> Option<&'static str> {
    ["/sbin/mount.fuse3", "/usr/sbin/mount.fuse3"]
        .into_iter()
        .find(|p| Path::new(p).exists())
}

#[test]
fn mount_fuse3_runs_scfs_as_a_helper() {
    let Some(helper) = mount_fuse3() else {
        eprintln!("skipping: no mount.fuse3");
        return;
    };
    let Some(mut m) = Mount::unmounted(&[]) else {
        return;
    };
    let path = format!(
        "{}:{}",
        bin_dir(m.scratch()).display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let helper_mount = |opts: &str| {
        run(Command::new(helper)
            .arg(&m.backing)
            .arg(&m.mnt)
            .args(["-t", "fuse.scfs", "-o", opts])
            .env("PATH", &path))
    };
    // A misspelled scfs option is still an error.
    let out = helper_mount("rw,cache_sise=8M,nofail");
    one_line_error(&out, "cache_sise");
    // What systemd and fstab lines add is accepted.
    let out = helper_mount(
        "rw,relatime,cache_size=8M,nofail,_netdev,noauto,x-systemd.automount,\
         x-systemd.requires=network.target,defaults,users,comment=x",
    );
    assert!(out.status.success(), "{out:?}");
    m.opts.clear();
    assert!(is_mounted(&m.mnt));
    std::fs::write(m.p("f"), b"through mount.fuse3").unwrap();
    if is_root() {
        assert_eq!(fs_type(&m.mnt).as_deref(), Some("fuse.scfs"));
    }
    m.umount();
    assert_eq!(m.decompress("f"), b"through mount.fuse3");
}

#[test]
fn fstab_line_mount_remount_and_umount_through_mount8() {
    if !have_namespaces() || mount_fuse3().is_none() || !common::fuse_available() {
        return;
    }
    let Some(m) = Mount::unmounted(&[]) else {
        return;
    };
    let bin = bin_dir(m.scratch());
    let fstab = m.scratch().join("fstab");
    std::fs::write(
        &fstab,
        format!(
            "# scfs test\n{} {} fuse.scfs defaults,cache_size=256M,nofail 0 0\n",
            m.backing.display(),
            m.mnt.display()
        ),
    )
    .unwrap();
    let mnt = m.mnt.display();
    let script = format!(
        "trap 'umount -l {mnt} 2>/dev/null || true' EXIT\n\
         mount --bind '{bin}' /usr/local/bin\n\
         mount --fstab '{fstab}' '{mnt}'\n\
         findmnt -n -t fuse.scfs -o FSTYPE,SOURCE '{mnt}'\n\
         echo fstab > '{mnt}/a'\n\
         mount -o remount,ro '{mnt}'\n\
         findmnt -n -o OPTIONS '{mnt}'\n\
         if echo no 2>/dev/null > '{mnt}/b'; then echo WROTE-ON-RO; fi\n\
         mount -o remount,rw '{mnt}'\n\
         echo rw-again > '{mnt}/b'\n\
         umount '{mnt}'\n\
         mount -t fuse.scfs -o cache_size=16M '{b}' '{mnt}'\n\
         cat '{mnt}/a' '{mnt}/b'\n\
         umount '{mnt}'\n",
        bin = bin.display(),
        fstab = fstab.display(),
        b = m.backing.display(),
    );
    let out = in_namespace(&script);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        vec![
            "fuse.scfs",
            &format!("scfs:{}", m.backing.canonicalize().unwrap().display())
        ]
    );
    assert!(lines[1].starts_with("ro,"), "{stdout}");
    assert!(!stdout.contains("WROTE-ON-RO"), "{stdout}");
    assert_eq!(&lines[2..], ["fstab", "rw-again"], "{stdout}");
    // The daemons of the namespace are gone and left complete containers.
    wait_until(60, "the daemon to exit", || {
        lock_holder(&m.backing).is_none()
    });
    assert_eq!(m.decompress("a"), b"fstab\n");
}

/// The backing file's atime in nanoseconds (where the daemon stores it;
/// the mount shows it after the kernel's attribute cache time).
fn backing_atime(m: &Mount, rel: &str) -> i128 {
    use std::os::unix::fs::MetadataExt;
    let st = std::fs::metadata(m.b(rel)).unwrap();
    st.atime() as i128 * 1_000_000_000 + st.atime_nsec() as i128
}

#[test]
fn access_times_follow_the_mount_flags_and_remounts() {
    if !is_root() {
        return;
    }
    let Some(m) = Mount::with_opts(&["strictatime"]) else {
        return;
    };
    let pause = || std::thread::sleep(std::time::Duration::from_millis(60));
    let read = |m: &Mount| {
        pause();
        assert_eq!(std::fs::read(m.p("f")).unwrap(), b"content");
        backing_atime(m, "f")
    };
    let remount = |opts: &str| {
        let out = run(scfs()
            .arg("mount")
            .arg(&m.backing)
            .arg(&m.mnt)
            .arg("-o")
            .arg(format!("remount,{opts}")));
        assert!(out.status.success(), "{opts}: {out:?}");
        pause();
    };
    std::fs::write(m.p("f"), b"content").unwrap();
    std::fs::create_dir(m.p("d")).unwrap();
    // strictatime: every read counts (relatime would count only the first).
    let a1 = read(&m);
    let a2 = read(&m);
    let a3 = read(&m);
    assert!(a1 < a2 && a2 < a3, "strictatime: {a1} {a2} {a3}");
    remount("relatime");
    let r1 = read(&m);
    assert_eq!(read(&m), r1, "relatime: the atime is after the mtime");
    // noatime: not even a read due under relatime rules counts.
    std::fs::write(m.p("f"), b"content").unwrap();
    remount("noatime");
    let n1 = read(&m);
    assert_eq!(read(&m), n1, "noatime");
    // Read-only: no atime changes either; back to rw (relatime): it counts.
    remount("ro,relatime");
    assert_eq!(read(&m), n1, "read-only mount changed an atime");
    remount("rw");
    assert!(read(&m) > n1, "relatime after remount,rw: the read is due");
    // Directories: listed under strictatime they are accessed, not with
    // nodiratime.
    remount("strictatime,nodiratime");
    let d0 = backing_atime(&m, "d");
    pause();
    std::fs::read_dir(m.p("d")).unwrap().for_each(drop);
    assert_eq!(backing_atime(&m, "d"), d0, "nodiratime");
    remount("diratime");
    pause();
    std::fs::read_dir(m.p("d")).unwrap().for_each(drop);
    assert!(backing_atime(&m, "d") > d0, "strictatime for a directory");
    let line = mountinfo_line(&m.mnt).unwrap();
    assert!(line.split(' ').nth(5).unwrap().starts_with("rw,"), "{line}");
}
