//! POSIX ACLs through the real daemon, side by side with what ext4 does:
//! the kernel enforces access ACLs for every user (deny and grant entries,
//! the mask, chmod's effect on it), new objects inherit their directory's
//! default ACL (which replaces the umask), the caller's umask applies
//! elsewhere, and mode changes the daemon makes on its own (an access ACL
//! set, set-ID bits dropped by a write or fallocate of another user) show
//! in `stat` at once. Needs root (to act as `nobody`) and setfacl/getfacl
//! (Debian package `acl`); skipped without them.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output};

use common::Mount;

const NOBODY: u32 = 65534;

/// A mount other users may use (BACKING must keep ACLs), or None (after a
/// message) where this cannot run.
fn acl_mount() -> Option<Mount> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipping: needs root");
        return None;
    }
    if Command::new("setfacl").arg("--version").output().is_err() {
        eprintln!("skipping: setfacl is missing (Debian package acl)");
        return None;
    }
    let m = Mount::new()?;
    let probe = m.scratch().join("acl-probe");
    fs::write(&probe, b"").unwrap();
    let out = Command::new("setfacl")
        .args(["-m", "u:nobody:r"])
        .arg(&probe)
        .output()
        .unwrap();
    if !out.status.success() {
        eprintln!("skipping: the filesystem of BACKING keeps no ACLs");
        return None;
    }
    fs::set_permissions(m.scratch(), fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(&m.mnt, fs::Permissions::from_mode(0o777)).unwrap();
    Some(m)
}

/// Runs `script` under `sh -c` in `dir` as root.
fn root_sh(dir: &Path, script: &str) -> String {
    common::sh(dir, script)
}

/// Runs `script` under `sh -c` in `dir` as nobody (uid and gid 65534, no
/// supplementary groups).
fn nobody(dir: &Path, script: &str) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .uid(NOBODY)
        .gid(NOBODY)
        .output()
        .unwrap()
}

#[track_caller]
fn assert_ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: refused: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[track_caller]
fn assert_denied(out: &Output, what: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("Permission denied"),
        "{what}: not denied (status {}, stdout {:?}, stderr {err:?})",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
}

/// The mode of `p` as `stat -c %a` gets it: statx asking for the mode only
/// (so a cached mode is served if the kernel holds one).
fn mode_now(p: &Path) -> u32 {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: an all-zero statx is a valid value of this plain C struct.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: a valid NUL-terminated path and a writable statx buffer.
    let r = unsafe { libc::statx(libc::AT_FDCWD, c.as_ptr(), 0, libc::STATX_MODE, &mut stx) };
    assert_eq!(r, 0, "statx {}", p.display());
    u32::from(stx.stx_mode) & 0o7777
}

/// The backing file's mode.
fn backing_mode(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

/// `getfacl -c` of `p` on one line (entries separated by spaces, without
/// the `#effective` remarks).
fn acl_of(p: &Path) -> String {
    let out = Command::new("getfacl")
        .args(["-c", "-E"])
        .arg(p)
        .output()
        .unwrap();
    assert_ok(&out, "getfacl");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn a_deny_entry_keeps_another_user_out() {
    let Some(m) = acl_mount() else { return };
    let d = &m.mnt;
    root_sh(
        d,
        "echo secret > f; chmod 666 f; setfacl -m u:nobody:--- f
         echo open > g; chmod 666 g
         printf '#!/bin/sh\\necho ran\\n' > x; chmod 777 x; setfacl -m u:nobody:rw- x
         mkdir dir; chmod 777 dir; echo in > dir/in; chmod 644 dir/in
         setfacl -m u:nobody:--- dir",
    );
    // Without an entry the mode bits let nobody in.
    assert_ok(&nobody(d, "cat g && echo more >> g"), "a 666 file");
    assert_denied(&nobody(d, "cat f"), "read through a --- entry");
    assert_denied(&nobody(d, "echo x >> f"), "write through a --- entry");
    assert_eq!(fs::read(m.p("f")).unwrap(), b"secret\n");
    assert_denied(&nobody(d, "./x"), "exec through a rw- entry");
    assert_denied(&nobody(d, "ls dir"), "list through a --- entry");
    assert_denied(&nobody(d, "cat dir/in"), "search through a --- entry");
    // Root is not bound by ACLs.
    assert_eq!(root_sh(d, "cat f; ./x; cat dir/in"), "secret\nran\nin\n");
}

#[test]
fn a_grant_entry_lets_in_where_the_mode_bits_do_not() {
    let Some(m) = acl_mount() else { return };
    let d = &m.mnt;
    root_sh(
        d,
        "echo data > r; chmod 600 r; setfacl -m u:nobody:r-- r
         echo data > w; chmod 600 w; setfacl -m u:nobody:rw- w
         printf '#!/bin/sh\\necho ran\\n' > x; chmod 700 x; setfacl -m u:nobody:r-x x
         mkdir dir; chmod 700 dir; echo in > dir/in; chmod 644 dir/in
         setfacl -m u:nobody:r-x dir
         mkdir wd; chmod 755 wd; setfacl -m u:nobody:rwx wd",
    );
    let out = nobody(d, "cat r");
    assert_ok(&out, "read through an r-- entry");
    assert_eq!(out.stdout, b"data\n");
    assert_denied(&nobody(d, "echo x >> r"), "write through an r-- entry");
    assert_ok(&nobody(d, "echo more >> w"), "write through a rw- entry");
    assert_eq!(fs::read(m.p("w")).unwrap(), b"data\nmore\n");
    let out = nobody(d, "./x");
    assert_ok(&out, "exec through an r-x entry");
    assert_eq!(out.stdout, b"ran\n");
    let out = nobody(d, "ls dir && cat dir/in");
    assert_ok(&out, "list and search through an r-x entry");
    assert_eq!(out.stdout, b"in\nin\n");
    assert_ok(
        &nobody(d, "echo new > wd/new"),
        "create through an rwx entry",
    );
    let md = fs::metadata(m.p("wd/new")).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&md), NOBODY);
}

#[test]
fn the_mask_limits_named_entries_and_chmod_sets_it_as_ext4() {
    let Some(m) = acl_mount() else { return };
    let d = &m.mnt;
    root_sh(d, "echo data > f; chmod 600 f; setfacl -m u:nobody:rw- f");
    // The group bits show the mask.
    assert_eq!(mode_now(&m.p("f")), 0o660);
    assert_ok(&nobody(d, "cat f && echo a >> f"), "rw- entry, mask rw-");
    root_sh(d, "setfacl -m m::r-- f");
    assert_eq!(mode_now(&m.p("f")), 0o640, "mode after a mask change");
    assert_ok(&nobody(d, "cat f"), "rw- entry, mask r--: read");
    assert_denied(&nobody(d, "echo b >> f"), "rw- entry, mask r--: write");
    root_sh(d, "setfacl -m m::--- f");
    assert_denied(&nobody(d, "cat f"), "rw- entry, mask ---: read");
    // chmod sets the mask from the group bits (the entry stays).
    root_sh(d, "chmod 660 f");
    assert_eq!(
        acl_of(&m.p("f")),
        "user::rw- user:nobody:rw- group::--- mask::rw- other::---"
    );
    assert_ok(&nobody(d, "echo c >> f"), "after chmod 660");
    root_sh(d, "chmod 604 f");
    assert_eq!(
        acl_of(&m.p("f")),
        "user::rw- user:nobody:rw- group::--- mask::--- other::r--"
    );
    // With no group bits (mask ---) Linux checks no ACL at all: the other
    // bits apply to nobody, as on ext4.
    assert_ok(&nobody(d, "cat f"), "after chmod 604: read");
    assert_denied(&nobody(d, "echo d >> f"), "after chmod 604: write");
    assert_eq!(fs::read(m.p("f")).unwrap(), b"data\na\nc\n");
}

#[test]
fn new_objects_inherit_the_default_acl_instead_of_the_umask() {
    let Some(m) = acl_mount() else { return };
    let d = &m.mnt;
    // The case of the report: umask 0, default u::r-x,g::r--,o::---.
    root_sh(
        d,
        "mkdir d; setfacl -d -m u::r-x,g::r--,o::--- d
         umask 0; touch d/file; mkdir d/sub; mknod d/fifo p; echo x > d/written",
    );
    for (name, want) in [("file", 0o440), ("fifo", 0o440), ("written", 0o440)] {
        assert_eq!(mode_now(&m.p(&format!("d/{name}"))), want, "d/{name}");
        assert_eq!(
            backing_mode(&m.b(&format!("d/{name}"))),
            want,
            "backing d/{name}"
        );
    }
    assert_eq!(mode_now(&m.p("d/sub")), 0o540, "d/sub");
    // A subdirectory gets the default ACL too, as its default and access ACL.
    assert_eq!(
        acl_of(&m.p("d/sub")),
        "user::r-x group::r-- other::--- \
         default:user::r-x default:group::r-- default:other::---"
    );
    // Named entries: the new file gets them as its access ACL, limited by
    // the mode asked for; the umask (077 here) does not apply.
    root_sh(
        d,
        "mkdir e; chmod 755 e; setfacl -d -m u::rwx,u:nobody:rwx,g::r-x,o::r-x e
         umask 077; echo hi > e/file; mkdir e/sub",
    );
    assert_eq!(mode_now(&m.p("e/file")), 0o664);
    assert_eq!(
        acl_of(&m.p("e/file")),
        "user::rw- user:nobody:rwx group::r-x mask::rw- other::r--"
    );
    assert_eq!(mode_now(&m.p("e/sub")), 0o775);
    assert_ok(
        &nobody(d, "echo more >> e/file"),
        "write via the inherited entry",
    );
    assert_ok(
        &nobody(d, "echo n > e/sub/n"),
        "create via the inherited entry",
    );
    // The new file of another user in e inherits as well.
    assert_eq!(
        acl_of(&m.p("e/sub/n")),
        "user::rw- user:nobody:rwx group::r-x mask::rw- other::r--"
    );
}

#[test]
fn the_umask_applies_where_there_is_no_default_acl() {
    let Some(m) = acl_mount() else { return };
    root_sh(
        &m.mnt,
        "umask 027; touch f; mkdir dir; mknod fifo p; echo x > w
         umask 0; touch open; mkdir opendir",
    );
    for (name, want) in [
        ("f", 0o640),
        ("dir", 0o750),
        ("fifo", 0o640),
        ("w", 0o640),
        ("open", 0o666),
        ("opendir", 0o777),
    ] {
        assert_eq!(mode_now(&m.p(name)), want, "{name}");
        assert_eq!(backing_mode(&m.b(name)), want, "backing {name}");
    }
}

#[test]
fn acl_changes_of_the_mode_show_at_once() {
    let Some(m) = acl_mount() else { return };
    let d = &m.mnt;
    root_sh(d, "touch f; chmod 644 f");
    assert_eq!(mode_now(&m.p("f")), 0o644);
    root_sh(d, "setfacl -m g::rwx f");
    assert_eq!(mode_now(&m.p("f")), 0o674, "after setfacl g::rwx");
    root_sh(d, "setfacl -m u:nobody:r-x,m::r-x f");
    assert_eq!(mode_now(&m.p("f")), 0o654, "after setfacl m::r-x");
    root_sh(d, "setfacl -b f");
    assert_eq!(mode_now(&m.p("f")), 0o654, "after setfacl -b");
    assert_eq!(acl_of(&m.p("f")), "user::rw- group::r-x other::r--");
}

#[test]
fn only_the_owner_sets_acls_and_a_non_member_loses_set_group_id() {
    let Some(m) = acl_mount() else { return };
    let d = &m.mnt;
    root_sh(
        d,
        "touch roots; chmod 666 roots
         touch sg; chown nobody sg; chmod 2775 sg
         touch member; chown nobody:nogroup member; chmod 2775 member",
    );
    assert_eq!(mode_now(&m.p("sg")), 0o2775);
    let out = nobody(d, "setfacl -m u:nobody:rwx roots");
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("not permitted"),
        "nobody set an ACL on root's file: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(acl_of(&m.p("roots")), "user::rw- group::rw- other::rw-");
    // nobody owns sg but is not in its group (root): as on ext4, setting
    // an access ACL drops S_ISGID.
    assert_ok(
        &nobody(d, "setfacl -m u:root:rw- sg"),
        "the owner's setfacl",
    );
    assert_eq!(mode_now(&m.p("sg")), 0o775);
    assert_eq!(backing_mode(&m.b("sg")), 0o775);
    // A member keeps it.
    assert_ok(
        &nobody(d, "setfacl -m u:root:rw- member"),
        "a member's setfacl",
    );
    assert_eq!(mode_now(&m.p("member")), 0o2775);
}

#[test]
fn another_users_fallocate_and_write_drop_set_id_bits_at_once() {
    let Some(m) = acl_mount() else { return };
    let d = &m.mnt;
    let cases = [
        ("alloc", "fallocate -l 8192 alloc"),
        ("keep", "fallocate -n -l 8192 keep"),
        ("punch", "fallocate -p -o 0 -l 4096 punch"),
        ("zero", "fallocate -z -o 0 -l 4096 zero"),
        ("append", "echo x >> append"),
        ("trunc", ": > trunc"),
    ];
    for (name, how) in cases {
        root_sh(d, &format!("echo data > {name}; chmod 6666 {name}"));
        // Cached by the kernel before the change.
        assert_eq!(mode_now(&m.p(name)), 0o6666);
        assert_ok(&nobody(d, how), how);
        assert_eq!(mode_now(&m.p(name)), 0o666, "after `{how}` by nobody");
        assert_eq!(backing_mode(&m.b(name)), 0o666, "backing after `{how}`");
    }
    // A member of the file's group keeps S_ISGID (no group execute).
    root_sh(
        d,
        "echo data > member; chgrp nogroup member; chmod 6666 member",
    );
    assert_eq!(mode_now(&m.p("member")), 0o6666);
    assert_ok(
        &nobody(d, "fallocate -l 8192 member"),
        "fallocate by a member",
    );
    assert_eq!(mode_now(&m.p("member")), 0o2666);
    // Root keeps both.
    root_sh(
        d,
        "echo data > rootf; chmod 6666 rootf; fallocate -l 8192 rootf; echo x >> rootf",
    );
    assert_eq!(mode_now(&m.p("rootf")), 0o6666);
}

#[test]
fn compaction_gives_a_file_no_acl_it_did_not_have() {
    let Some(m) = acl_mount() else { return };
    let d = &m.mnt;
    // Two files with enough data that overwriting them makes them worth
    // compacting (into a new backing file in the same directory); then the
    // directory gets a default ACL, which new files there inherit.
    root_sh(
        d,
        "mkdir d
         head -c 3000000 /dev/urandom > d/plain; chmod 640 d/plain
         head -c 3000000 /dev/urandom > d/acl; chmod 640 d/acl
         setfacl -m u:root:r-- d/acl
         setfacl -d -m u:nobody:rwx,g::rwx,o::rwx d",
    );
    let ino = |p: &str| std::os::unix::fs::MetadataExt::ino(&fs::metadata(m.b(p)).unwrap());
    let before = (ino("d/plain"), ino("d/acl"));
    root_sh(
        d,
        "for i in 1 2 3; do
           for f in plain acl; do
             dd if=/dev/urandom of=d/$f bs=1M count=3 conv=notrunc status=none
           done
         done",
    );
    assert_ne!(before.0, ino("d/plain"), "no compaction happened");
    assert_ne!(before.1, ino("d/acl"), "no compaction happened");
    assert_eq!(acl_of(&m.p("d/plain")), "user::rw- group::r-- other::---");
    assert_eq!(
        acl_of(&m.p("d/acl")),
        "user::rw- user:root:r-- group::r-- mask::r-- other::---"
    );
    assert_denied(&nobody(d, "cat d/plain"), "nobody reading a 640 file");
    assert_eq!(mode_now(&m.p("d/plain")), 0o640);
}

#[test]
fn acls_are_refused_where_nothing_enforces_them() {
    if acl_mount().is_none() {
        return;
    }
    // no_default_permissions: the kernel checks nothing, so an ACL would
    // only pretend to protect.
    let Some(m) = Mount::with_opts(&["no_default_permissions"]) else {
        return;
    };
    root_sh(&m.mnt, "touch f; umask 027; touch g; mkdir dir");
    let out = Command::new("setfacl")
        .args(["-m", "u:nobody:r"])
        .arg(m.p("f"))
        .output()
        .unwrap();
    assert!(
        !out.status.success()
            && String::from_utf8_lossy(&out.stderr).contains("Operation not supported"),
        "setfacl without enforcement: {:?}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(acl_of(&m.p("f")), "user::rw- group::r-- other::r--");
    // The umask still applies.
    assert_eq!(mode_now(&m.p("g")), 0o640);
    assert_eq!(mode_now(&m.p("dir")), 0o750);
}

/// What a new object inherits from its directory is read again after the
/// directory changes through the mount (the mount keeps it per directory
/// between changes): a default ACL set after the first create replaces the
/// umask for the next one, its removal brings the umask back, and so does
/// a policy set and removed (`user.scfs.compress`).
#[test]
fn what_a_directory_passes_on_follows_its_changes() {
    let Some(m) = acl_mount() else { return };
    let d = &m.mnt;
    root_sh(d, "mkdir d; umask 077; touch d/a");
    assert_eq!(mode_now(&m.p("d/a")), 0o600, "no default ACL yet");
    root_sh(
        d,
        "setfacl -d -m u::rw-,g::r--,o::r-- d; umask 077; touch d/b; mkdir d/s",
    );
    assert_eq!(mode_now(&m.p("d/b")), 0o644, "the new default ACL applies");
    assert_eq!(mode_now(&m.p("d/s")), 0o644, "and to a new directory");
    root_sh(d, "setfacl -k d; umask 077; touch d/c");
    assert_eq!(mode_now(&m.p("d/c")), 0o600, "the umask is back");
    // A chmod of the directory leaves its default ACL.
    root_sh(
        d,
        "setfacl -d -m u::rw-,g::r--,o::r-- d; umask 077; touch d/d; chmod 700 d; touch d/e",
    );
    assert_eq!(mode_now(&m.p("d/d")), 0o644);
    assert_eq!(mode_now(&m.p("d/e")), 0o644, "after a chmod");
    let policy = |p: &Path| common::inproc::xattr_get(p, "user.scfs.compress", 64).ok();
    root_sh(d, "touch d/f");
    assert_eq!(policy(&m.p("d/f")), None);
    common::inproc::xattr_set(&m.p("d"), "user.scfs.compress", b"none", 0).unwrap();
    root_sh(d, "touch d/g; mkdir d/t");
    assert_eq!(policy(&m.p("d/g")), Some((4, b"none".to_vec())));
    assert_eq!(policy(&m.p("d/t")), Some((4, b"none".to_vec())));
    // SAFETY: valid C strings.
    let r = unsafe {
        libc::removexattr(
            common::inproc::cstr(m.p("d")).as_ptr(),
            c"user.scfs.compress".as_ptr(),
        )
    };
    assert_eq!(r, 0);
    root_sh(d, "touch d/h");
    assert_eq!(policy(&m.p("d/h")), None, "the policy is gone");
}
