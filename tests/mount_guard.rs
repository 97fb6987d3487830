//! The one-daemon guard across hosts (issue 16): the daemon's lock file
//! `BACKING/.scfs.lock` exists, is locked, hidden at the mount's root and
//! cannot be made, replaced or removed through the mount; a BACKING whose
//! lock file another process holds (what a daemon on another host of a
//! shared filesystem looks like) is refused; a read-only BACKING, where
//! the file cannot be made, still mounts; `scfs stats` and `scfs convert`
//! leave the file alone.

mod common;

use std::fs::{self, File};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use common::inproc::errno_of;
use common::{is_mounted, run, scfs, Mount};
use nix::fcntl::{Flock, FlockArg};

const LOCK: &str = ".scfs.lock";

/// Whether another process holds a lock on `p` (probed with a shared
/// flock, released at once).
fn locked(p: &Path) -> bool {
    let f = File::open(p).unwrap();
    match Flock::lock(f, FlockArg::LockSharedNonblock) {
        Ok(_released) => false,
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => true,
        Err((_, e)) => panic!("flock {}: {e}", p.display()),
    }
}

#[test]
fn lock_file_exists_is_held_and_hidden() {
    let Some(m) = Mount::new() else { return };
    let lock = m.b(LOCK);
    let st = fs::symlink_metadata(&lock).expect("the daemon made BACKING/.scfs.lock");
    assert!(st.is_file());
    assert_eq!(st.len(), 0);
    assert_eq!(st.permissions().mode() & 0o7777, 0o600);
    assert!(
        locked(&lock),
        "the daemon holds no lock on {}",
        lock.display()
    );

    fs::write(m.p("a.txt"), b"a\n").unwrap();
    let names = common::inproc::names(&m.mnt);
    assert_eq!(names, vec!["a.txt".to_string()], "lock file listed");
    assert_eq!(errno_of(fs::symlink_metadata(m.p(LOCK))), libc::ENOENT);
    assert_eq!(errno_of(File::open(m.p(LOCK))), libc::ENOENT);
    // `ls -a` and `find` (real programs) do not see it either.
    let ls = run(Command::new("ls").arg("-a").arg(&m.mnt));
    assert!(!String::from_utf8_lossy(&ls.stdout).contains(LOCK));
    let find = run(Command::new("find").arg(&m.mnt));
    assert!(!String::from_utf8_lossy(&find.stdout).contains(LOCK));
    // Only at the root: elsewhere the name is an ordinary one.
    fs::create_dir(m.p("d")).unwrap();
    fs::write(m.p(&format!("d/{LOCK}")), b"mine\n").unwrap();
    assert_eq!(fs::read(m.p(&format!("d/{LOCK}"))).unwrap(), b"mine\n");
    assert_eq!(common::inproc::names(&m.p("d")), vec![LOCK.to_string()]);
}

#[test]
fn reserved_name_cannot_be_made_replaced_or_removed() {
    let Some(m) = Mount::new() else { return };
    let lock = m.b(LOCK);
    let before = fs::metadata(&lock).unwrap().ino();
    fs::write(m.p("f"), b"data\n").unwrap();
    fs::create_dir(m.p("dir")).unwrap();
    let target = m.p(LOCK);
    // Made: EPERM.
    assert_eq!(errno_of(File::create(&target)), libc::EPERM);
    assert_eq!(
        errno_of(File::options().write(true).create_new(true).open(&target)),
        libc::EPERM
    );
    assert_eq!(errno_of(fs::create_dir(&target)), libc::EPERM);
    assert_eq!(
        errno_of(std::os::unix::fs::symlink("f", &target)),
        libc::EPERM
    );
    assert_eq!(errno_of(fs::hard_link(m.p("f"), &target)), libc::EPERM);
    assert_eq!(
        errno_of(nix::unistd::mkfifo(&target, nix::sys::stat::Mode::S_IRWXU).map_err(Into::into)),
        libc::EPERM
    );
    // Replaced: EPERM.
    assert_eq!(errno_of(fs::rename(m.p("f"), &target)), libc::EPERM);
    assert_eq!(errno_of(fs::rename(m.p("dir"), &target)), libc::EPERM);
    // Removed or renamed away: it is not there (ENOENT).
    assert_eq!(errno_of(fs::remove_file(&target)), libc::ENOENT);
    assert_eq!(errno_of(fs::remove_dir(&target)), libc::ENOENT);
    assert_eq!(errno_of(fs::rename(&target, m.p("g"))), libc::ENOENT);
    // A real program.
    let mv = run(Command::new("mv").arg(m.p("f")).arg(&target));
    assert!(!mv.status.success());

    // The lock file is untouched and still held; the rest is intact.
    let st = fs::symlink_metadata(&lock).unwrap();
    assert_eq!((st.ino(), st.len(), st.is_file()), (before, 0, true));
    assert!(locked(&lock));
    assert_eq!(fs::read(m.p("f")).unwrap(), b"data\n");
    assert_eq!(
        common::inproc::names(&m.mnt),
        vec!["dir".to_string(), "f".to_string()]
    );
}

#[test]
fn mount_refused_while_another_host_holds_the_lock_file() {
    let Some(mut m) = Mount::unmounted(&[]) else {
        return;
    };
    fs::write(m.b("keep.txt"), b"keep\n").unwrap();
    // What a daemon on another host of a shared filesystem looks like: the
    // lock file is held, the directory (a local lock) is free.
    let f = File::create(m.b(LOCK)).unwrap();
    let held = Flock::lock(f, FlockArg::LockExclusiveNonblock).unwrap();
    let out = run(&mut m.mount_cmd());
    assert!(
        !out.status.success(),
        "mounted while the lock file was held"
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err:?}");
    assert!(err.starts_with("scfs mount:"), "{err}");
    assert!(
        err.contains("in use by another scfs daemon (perhaps on another host)"),
        "{err}"
    );
    assert!(err.contains(LOCK), "{err}");
    assert!(!is_mounted(&m.mnt));
    // Freed (the other host's daemon exited): the mount goes ahead.
    drop(held);
    m.mount();
    assert_eq!(fs::read(m.p("keep.txt")).unwrap(), b"keep\n");
    assert!(locked(&m.b(LOCK)));
}

#[test]
fn something_else_under_the_name_is_refused_not_used() {
    let Some(m) = Mount::unmounted(&[]) else {
        return;
    };
    fs::write(m.b(LOCK), b"a user's file\n").unwrap();
    let out = run(&mut m.mount_cmd());
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("reserved for scfs's lock file"), "{err}");
    assert!(!is_mounted(&m.mnt));
    assert_eq!(fs::read(m.b(LOCK)).unwrap(), b"a user's file\n");
}

#[test]
fn read_only_backing_still_mounts() {
    let Some(mut m) = Mount::unmounted(&["ro"]) else {
        return;
    };
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: a read-only bind mount needs root");
        return;
    }
    fs::write(m.b("plain.txt"), b"hello\n").unwrap();
    // BACKING becomes a read-only bind mount of itself.
    let b = m.backing.clone();
    let ok = |c: &mut Command| run(c).status.success();
    assert!(ok(Command::new("mount").arg("--bind").arg(&b).arg(&b)));
    let ro = ok(Command::new("mount")
        .args(["-o", "remount,bind,ro"])
        .arg(&b)
        .arg(&b));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        assert!(ro, "cannot make the bind mount read-only");
        assert_eq!(errno_of(fs::write(b.join("x"), b"")), libc::EROFS);
        m.mount();
        assert_eq!(fs::read(m.p("plain.txt")).unwrap(), b"hello\n");
        assert!(
            !b.join(LOCK).exists(),
            "a lock file in a read-only BACKING?"
        );
        m.umount();
    }));
    if is_mounted(&m.mnt) {
        let _ = run(scfs().arg("umount").arg(&m.mnt));
        m.forget_mounted();
    }
    let _ = run(Command::new("umount").arg(&b));
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
}

#[test]
fn stats_and_convert_skip_the_lock_file() {
    let Some(mut m) = Mount::new() else { return };
    fs::write(m.p("a.txt"), "compressible text\n".repeat(1000)).unwrap();
    m.umount();
    let lock = m.b(LOCK);
    let ino = fs::metadata(&lock).unwrap().ino();
    fs::write(m.b("plain.txt"), "plain text to convert\n".repeat(1000)).unwrap();
    let out = run(scfs().arg("stats").arg(&m.backing));
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains(LOCK), "{text}");
    assert!(text.contains("total (2 files)"), "{text}");
    let out = run(scfs().arg("convert").arg(&m.backing));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let st = fs::symlink_metadata(&lock).unwrap();
    assert_eq!(
        (st.ino(), st.len()),
        (ino, 0),
        "convert touched the lock file"
    );
    m.mount();
    assert_eq!(
        fs::read(m.p("plain.txt")).unwrap(),
        "plain text to convert\n".repeat(1000).as_bytes()
    );
    assert_eq!(
        common::inproc::names(&m.mnt),
        vec!["a.txt".to_string(), "plain.txt".to_string()]
    );
}
