//! The namespace and metadata through a real in-process mount: a BACKING
//! and a MNT temp dir, `ScfsFs` mounted with fuser, driven through std::fs
//! and libc (directories, open flags, chmod/chown/utimens, renames, links,
//! special files, xattrs, statfs, access, ownership of new objects, ro).
//! Data semantics are in fs_data.rs. Skipped (with a message) only when
//! /dev/fuse is missing.

mod common;

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt, PermissionsExt};

use common::inproc::*;

#[test]
fn dirs_files_and_listing() {
    let Some(m) = Mounted::new() else { return };
    fs::create_dir(m.p("d")).unwrap();
    fs::write(m.p("d/a.txt"), b"hello world").unwrap();
    assert_eq!(fs::read(m.p("d/a.txt")).unwrap(), b"hello world");
    assert_eq!(names(&m.p("d")), vec!["a.txt"]);
    assert!(m.b("d/a.txt").is_file());
    let md = fs::metadata(m.p("d/a.txt")).unwrap();
    assert_eq!(md.len(), 11);
    assert!(md.is_file());
    assert!(fs::metadata(m.p("d")).unwrap().is_dir());
    // A listing longer than one reply buffer (readdirplus and readdir).
    fs::create_dir(m.p("many")).unwrap();
    let mut want = Vec::new();
    for i in 0..300 {
        let n = format!("file-with-a-longish-name-{i:04}");
        fs::write(m.p(&format!("many/{n}")), i.to_string()).unwrap();
        want.push(n);
    }
    assert_eq!(names(&m.p("many")), want);
    for (i, n) in want.iter().enumerate().step_by(37) {
        assert_eq!(
            fs::read_to_string(m.p(&format!("many/{n}"))).unwrap(),
            i.to_string()
        );
    }
    // Errors.
    assert_eq!(errno_of(fs::create_dir(m.p("d"))), libc::EEXIST);
    assert_eq!(errno_of(fs::remove_dir(m.p("d"))), libc::ENOTEMPTY);
    assert_eq!(errno_of(fs::remove_file(m.p("nope"))), libc::ENOENT);
    assert_eq!(errno_of(fs::metadata(m.p("nope"))), libc::ENOENT);
    assert_eq!(errno_of(fs::read_dir(m.p("d/a.txt"))), libc::ENOTDIR);
    fs::remove_file(m.p("d/a.txt")).unwrap();
    fs::remove_dir(m.p("d")).unwrap();
    assert!(!m.b("d").exists());
}

#[test]
fn open_flags() {
    let Some(m) = Mounted::new() else { return };
    fs::write(m.p("f"), b"0123456789").unwrap();
    // O_TRUNC
    let mut f = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(m.p("f"))
        .unwrap();
    f.write_all(b"ab").unwrap();
    drop(f);
    assert_eq!(fs::read(m.p("f")).unwrap(), b"ab");
    // O_APPEND from two handles.
    let mut a1 = OpenOptions::new().append(true).open(m.p("f")).unwrap();
    let mut a2 = OpenOptions::new().append(true).open(m.p("f")).unwrap();
    a1.write_all(b"cd").unwrap();
    a2.write_all(b"ef").unwrap();
    a1.write_all(b"gh").unwrap();
    drop((a1, a2));
    assert_eq!(fs::read(m.p("f")).unwrap(), b"abcdefgh");
    // O_EXCL
    assert_eq!(
        errno_of(
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(m.p("f"))
        ),
        libc::EEXIST
    );
    let mut n = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(m.p("new"))
        .unwrap();
    n.write_all(b"x").unwrap();
    drop(n);
    // O_RDONLY cannot write, O_WRONLY cannot read.
    let mut r = File::open(m.p("f")).unwrap();
    assert_eq!(errno_of(r.write(b"zz")), libc::EBADF);
    let mut w = OpenOptions::new().write(true).open(m.p("f")).unwrap();
    let mut buf = [0u8; 4];
    assert_eq!(errno_of(w.read(&mut buf)), libc::EBADF);
    // O_RDWR reads and writes through one handle.
    let mut rw = OpenOptions::new()
        .read(true)
        .write(true)
        .open(m.p("f"))
        .unwrap();
    rw.seek(SeekFrom::Start(2)).unwrap();
    rw.write_all(b"XY").unwrap();
    rw.seek(SeekFrom::Start(0)).unwrap();
    let mut s = String::new();
    rw.read_to_string(&mut s).unwrap();
    assert_eq!(s, "abXYefgh");
    // Opening a directory for writing fails.
    assert_eq!(
        errno_of(OpenOptions::new().write(true).open(&m.mnt)),
        libc::EISDIR
    );
}

#[test]
fn chmod_chown_utimens() {
    let Some(m) = Mounted::new() else { return };
    fs::write(m.p("f"), b"x").unwrap();
    fs::set_permissions(m.p("f"), fs::Permissions::from_mode(0o640)).unwrap();
    assert_eq!(fs::metadata(m.p("f")).unwrap().mode() & 0o7777, 0o640);
    assert_eq!(fs::metadata(m.b("f")).unwrap().mode() & 0o7777, 0o640);
    std::os::unix::fs::chown(m.p("f"), Some(1234), Some(5678)).unwrap();
    let md = fs::metadata(m.p("f")).unwrap();
    assert_eq!((md.uid(), md.gid()), (1234, 5678));
    let bmd = fs::metadata(m.b("f")).unwrap();
    assert_eq!((bmd.uid(), bmd.gid()), (1234, 5678));
    // Specific times, then UTIME_OMIT for atime and UTIME_NOW for mtime.
    let p = cstr(m.p("f"));
    let t = [
        libc::timespec {
            tv_sec: 1_000_000_000,
            tv_nsec: 5,
        },
        libc::timespec {
            tv_sec: 1_200_000_000,
            tv_nsec: 7,
        },
    ];
    // SAFETY: valid path and a two-element timespec array.
    assert_eq!(
        unsafe { libc::utimensat(libc::AT_FDCWD, p.as_ptr(), t.as_ptr(), 0) },
        0
    );
    let md = fs::metadata(m.p("f")).unwrap();
    assert_eq!((md.atime(), md.atime_nsec()), (1_000_000_000, 5));
    assert_eq!((md.mtime(), md.mtime_nsec()), (1_200_000_000, 7));
    let t = [
        libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_OMIT,
        },
        libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_NOW,
        },
    ];
    // SAFETY: as above.
    assert_eq!(
        unsafe { libc::utimensat(libc::AT_FDCWD, p.as_ptr(), t.as_ptr(), 0) },
        0
    );
    let md = fs::metadata(m.p("f")).unwrap();
    assert_eq!(md.atime(), 1_000_000_000);
    assert!(md.mtime() > 1_600_000_000);
    // Times set while the file is open and dirty survive the close.
    let mut f = OpenOptions::new().write(true).open(m.p("f")).unwrap();
    f.write_all(b"more data").unwrap();
    let t = [
        libc::timespec {
            tv_sec: 1_300_000_000,
            tv_nsec: 0,
        },
        libc::timespec {
            tv_sec: 1_300_000_000,
            tv_nsec: 0,
        },
    ];
    // SAFETY: valid descriptor and timespec array.
    assert_eq!(unsafe { libc::futimens(f.as_raw_fd(), t.as_ptr()) }, 0);
    drop(f);
    assert_eq!(fs::metadata(m.p("f")).unwrap().mtime(), 1_300_000_000);
    assert_eq!(fs::metadata(m.b("f")).unwrap().mtime(), 1_300_000_000);
}

#[test]
fn rename_variants() {
    let Some(m) = Mounted::new() else { return };
    fs::create_dir(m.p("a")).unwrap();
    fs::create_dir(m.p("b")).unwrap();
    fs::write(m.p("a/x"), b"xx").unwrap();
    fs::write(m.p("b/y"), b"yy").unwrap();
    // Across directories.
    fs::rename(m.p("a/x"), m.p("b/x")).unwrap();
    assert_eq!(fs::read(m.p("b/x")).unwrap(), b"xx");
    assert!(!m.p("a/x").exists() && !m.b("a/x").exists());
    // Over an existing file.
    fs::rename(m.p("b/x"), m.p("b/y")).unwrap();
    assert_eq!(fs::read(m.p("b/y")).unwrap(), b"xx");
    assert_eq!(names(&m.p("b")), vec!["y"]);
    // RENAME_NOREPLACE
    fs::write(m.p("a/z"), b"zz").unwrap();
    assert_eq!(
        errno_of(renameat2(&m.p("a/z"), &m.p("b/y"), libc::RENAME_NOREPLACE)),
        libc::EEXIST
    );
    renameat2(&m.p("a/z"), &m.p("b/z"), libc::RENAME_NOREPLACE).unwrap();
    // RENAME_EXCHANGE
    renameat2(&m.p("b/y"), &m.p("b/z"), libc::RENAME_EXCHANGE).unwrap();
    assert_eq!(fs::read(m.p("b/y")).unwrap(), b"zz");
    assert_eq!(fs::read(m.p("b/z")).unwrap(), b"xx");
    // Directories move too, with their contents.
    fs::rename(m.p("b"), m.p("a/b2")).unwrap();
    assert_eq!(names(&m.p("a/b2")), vec!["y", "z"]);
    assert_eq!(fs::read(m.p("a/b2/z")).unwrap(), b"xx");
    // A renamed open file keeps working.
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(m.p("a/b2/z"))
        .unwrap();
    fs::rename(m.p("a/b2/z"), m.p("moved")).unwrap();
    f.write_all(b"W").unwrap();
    drop(f);
    assert_eq!(fs::read(m.p("moved")).unwrap(), b"Wx");
}

#[test]
fn hard_links() {
    let Some(m) = Mounted::new() else { return };
    fs::write(m.p("a"), b"shared").unwrap();
    fs::hard_link(m.p("a"), m.p("b")).unwrap();
    let (ma, mb) = (
        fs::metadata(m.p("a")).unwrap(),
        fs::metadata(m.p("b")).unwrap(),
    );
    assert_eq!(ma.ino(), mb.ino());
    assert_eq!(mb.nlink(), 2);
    assert_eq!(
        fs::metadata(m.b("a")).unwrap().ino(),
        fs::metadata(m.b("b")).unwrap().ino()
    );
    let f = OpenOptions::new().write(true).open(m.p("b")).unwrap();
    f.write_all_at(b"SH", 0).unwrap();
    drop(f);
    assert_eq!(fs::read(m.p("a")).unwrap(), b"SHared");
    fs::remove_file(m.p("a")).unwrap();
    assert_eq!(fs::metadata(m.p("b")).unwrap().nlink(), 1);
    assert_eq!(fs::read(m.p("b")).unwrap(), b"SHared");
    assert_eq!(errno_of(fs::hard_link(m.p("b"), m.p("b"))), libc::EEXIST);
}

#[test]
fn symlinks() {
    let Some(m) = Mounted::new() else { return };
    fs::write(m.p("target"), b"pointed at").unwrap();
    std::os::unix::fs::symlink("target", m.p("link")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/elsewhere", m.p("dangling")).unwrap();
    assert_eq!(fs::read_link(m.p("link")).unwrap().to_str(), Some("target"));
    assert_eq!(fs::read(m.p("link")).unwrap(), b"pointed at");
    assert!(fs::symlink_metadata(m.p("link"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(fs::symlink_metadata(m.b("link"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(
        fs::read_link(m.b("dangling")).unwrap().to_str(),
        Some("/nonexistent/elsewhere")
    );
    assert_eq!(errno_of(fs::read(m.p("dangling"))), libc::ENOENT);
    assert_eq!(fs::symlink_metadata(m.p("link")).unwrap().len(), 6);
    fs::remove_file(m.p("link")).unwrap();
    assert!(m.p("target").exists());
}

#[test]
fn fifos_devices_sockets() {
    let Some(m) = Mounted::new() else { return };
    let fifo = cstr(m.p("fifo"));
    // SAFETY: valid path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    assert!(fs::metadata(m.b("fifo")).unwrap().file_type().is_fifo());
    assert!(fs::metadata(m.p("fifo")).unwrap().file_type().is_fifo());
    let dev = cstr(m.p("null2"));
    let rdev = libc::makedev(1, 3);
    // SAFETY: valid path.
    assert_eq!(
        unsafe { libc::mknod(dev.as_ptr(), libc::S_IFCHR | 0o666, rdev) },
        0
    );
    let md = fs::metadata(m.p("null2")).unwrap();
    assert!(md.file_type().is_char_device());
    assert_eq!(md.rdev(), rdev);
    assert_eq!(fs::metadata(m.b("null2")).unwrap().rdev(), rdev);
    let big = cstr(m.p("bigdev"));
    let rdev2 = libc::makedev(259, 70000);
    // SAFETY: valid path.
    assert_eq!(
        unsafe { libc::mknod(big.as_ptr(), libc::S_IFBLK | 0o600, rdev2) },
        0
    );
    assert_eq!(fs::metadata(m.p("bigdev")).unwrap().rdev(), rdev2);
    let sock = cstr(m.p("sock"));
    // SAFETY: valid path.
    assert_eq!(
        unsafe { libc::mknod(sock.as_ptr(), libc::S_IFSOCK | 0o600, 0) },
        0
    );
    assert!(fs::metadata(m.p("sock")).unwrap().file_type().is_socket());
    // mknod of a regular file makes an (empty) file.
    let reg = cstr(m.p("reg"));
    // SAFETY: valid path.
    assert_eq!(
        unsafe { libc::mknod(reg.as_ptr(), libc::S_IFREG | 0o600, 0) },
        0
    );
    assert_eq!(fs::read(m.p("reg")).unwrap(), b"");
    fs::write(m.p("reg"), b"now with data").unwrap();
    assert_eq!(fs::read(m.p("reg")).unwrap(), b"now with data");
    // A FIFO through the mount carries data between two openers.
    let path = m.p("fifo");
    let writer = std::thread::spawn(move || {
        let mut w = OpenOptions::new().write(true).open(path).unwrap();
        w.write_all(b"through the pipe").unwrap();
    });
    let mut s = String::new();
    File::open(m.p("fifo"))
        .unwrap()
        .read_to_string(&mut s)
        .unwrap();
    writer.join().unwrap();
    assert_eq!(s, "through the pipe");
}

#[test]
fn xattrs() {
    let Some(m) = Mounted::new() else { return };
    fs::write(m.p("f"), b"data").unwrap();
    fs::create_dir(m.p("d")).unwrap();
    let f = m.p("f");
    xattr_set(&f, "user.color", b"blue", 0).unwrap();
    xattr_set(&f, "trusted.t", b"tt", 0).unwrap();
    xattr_set(&m.p("d"), "user.dir", b"yes", 0).unwrap();
    assert_eq!(xattr_get(&f, "user.color", 0).unwrap().0, 4); // size probe
    assert_eq!(xattr_get(&f, "user.color", 64).unwrap().1, b"blue");
    assert_eq!(errno_of(xattr_get(&f, "user.color", 2)), libc::ERANGE);
    assert_eq!(errno_of(xattr_get(&f, "user.none", 64)), libc::ENODATA);
    assert_eq!(xattr_get(&m.p("d"), "user.dir", 64).unwrap().1, b"yes");
    // Stored on the backing object.
    assert_eq!(xattr_get(&m.b("f"), "user.color", 64).unwrap().1, b"blue");
    assert_eq!(
        errno_of(xattr_set(&f, "user.color", b"red", libc::XATTR_CREATE)),
        libc::EEXIST
    );
    assert_eq!(
        errno_of(xattr_set(&f, "user.other", b"red", libc::XATTR_REPLACE)),
        libc::ENODATA
    );
    xattr_set(&f, "user.color", b"red", libc::XATTR_REPLACE).unwrap();
    assert_eq!(xattr_get(&f, "user.color", 64).unwrap().1, b"red");
    let (n, _) = xattr_list(&f, 0).unwrap();
    let (n2, list) = xattr_list(&f, n).unwrap();
    assert_eq!(n, n2);
    let mut names: Vec<&[u8]> = list.split(|&b| b == 0).filter(|s| !s.is_empty()).collect();
    names.sort();
    assert_eq!(names, vec![&b"trusted.t"[..], &b"user.color"[..]]);
    assert_eq!(errno_of(xattr_list(&f, 3)), libc::ERANGE);
    let (p, n) = (cstr(&f), cstr("user.color"));
    // SAFETY: valid C strings.
    assert_eq!(unsafe { libc::removexattr(p.as_ptr(), n.as_ptr()) }, 0);
    assert_eq!(errno_of(xattr_get(&f, "user.color", 64)), libc::ENODATA);
    // SAFETY: valid C strings.
    assert_eq!(unsafe { libc::removexattr(p.as_ptr(), n.as_ptr()) }, -1);
}

#[test]
fn statfs_and_access() {
    let Some(m) = Mounted::new() else { return };
    let sv = |p: &std::path::Path| {
        let c = cstr(p);
        // SAFETY: an all-zero statvfs is valid; the buffer is live.
        let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: valid path and buffer.
        assert_eq!(unsafe { libc::statvfs(c.as_ptr(), &mut s) }, 0);
        s
    };
    let (a, b) = (sv(&m.mnt), sv(&m.backing));
    assert_eq!(a.f_blocks, b.f_blocks);
    assert_eq!(a.f_bsize, b.f_bsize);
    assert_eq!(a.f_files, b.f_files);
    assert!(a.f_bfree.abs_diff(b.f_bfree) < b.f_blocks / 100 + 1000);
    fs::write(m.p("f"), b"x").unwrap();
    fs::set_permissions(m.p("f"), fs::Permissions::from_mode(0o644)).unwrap();
    let c = cstr(m.p("f"));
    // SAFETY: valid path.
    unsafe {
        assert_eq!(libc::access(c.as_ptr(), libc::R_OK | libc::W_OK), 0);
        assert_eq!(libc::access(c.as_ptr(), libc::X_OK), -1);
    }
}

#[test]
fn new_objects_belong_to_the_caller() {
    let opts = scfs::fs::FsOptions {
        allow_other: true,
        ..Default::default()
    };
    let Some(m) = Mounted::with(opts, |_| {}) else {
        return;
    };
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipping: needs root");
        return;
    }
    // The temp dirs are 0700: let the other user through the root.
    fs::set_permissions(&m.mnt, fs::Permissions::from_mode(0o755)).unwrap();
    fs::create_dir(m.p("pub")).unwrap();
    fs::set_permissions(m.p("pub"), fs::Permissions::from_mode(0o777)).unwrap();
    let dir = m.p("pub");
    std::thread::spawn(move || {
        // setfsuid/setfsgid change only this thread's filesystem identity,
        // which is what FUSE reports as the caller.
        // SAFETY: plain integer arguments.
        unsafe {
            libc::setfsgid(2345);
            libc::setfsuid(1234);
        }
        fs::write(dir.join("mine"), b"x").unwrap();
        fs::create_dir(dir.join("mydir")).unwrap();
        std::os::unix::fs::symlink("mine", dir.join("myln")).unwrap();
    })
    .join()
    .unwrap();
    for n in ["pub/mine", "pub/mydir", "pub/myln"] {
        let md = fs::symlink_metadata(m.b(n)).unwrap();
        assert_eq!((md.uid(), md.gid()), (1234, 2345), "{n}");
    }
    // The mode asked for is kept exactly (umask 0 caller, 0o666 file).
    let c = cstr(m.p("pub/exact"));
    // SAFETY: valid path; the descriptor is closed right away.
    unsafe {
        let old = libc::umask(0);
        let fd = libc::open(c.as_ptr(), libc::O_CREAT | libc::O_WRONLY, 0o666);
        libc::umask(old);
        assert!(fd >= 0);
        libc::close(fd);
    }
    assert_eq!(
        fs::metadata(m.b("pub/exact")).unwrap().mode() & 0o777,
        0o666
    );
}

/// As root, a mount other users may use (its root mode 0755); None
/// (after a message) when not root or without FUSE.
fn root_mount_for_others() -> Option<Mounted> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipping: needs root");
        return None;
    }
    let opts = scfs::fs::FsOptions {
        allow_other: true,
        ..Default::default()
    };
    let m = Mounted::with(opts, |_| {})?;
    fs::set_permissions(&m.mnt, fs::Permissions::from_mode(0o755)).unwrap();
    Some(m)
}

#[test]
fn writes_by_others_drop_set_id_bits() {
    let Some(m) = root_mount_for_others() else {
        return;
    };
    for n in ["root", "user"] {
        fs::write(m.p(n), b"#!/bin/sh\n").unwrap();
        std::os::unix::fs::chown(m.p(n), Some(1234), Some(1234)).unwrap();
        fs::set_permissions(m.p(n), fs::Permissions::from_mode(0o6775)).unwrap();
    }
    // Root (CAP_FSETID) keeps them.
    OpenOptions::new()
        .append(true)
        .open(m.p("root"))
        .unwrap()
        .write_all(b"x")
        .unwrap();
    assert_eq!(fs::metadata(m.p("root")).unwrap().mode() & 0o7777, 0o6775);
    // The owner without CAP_FSETID loses them.
    let p = m.p("user");
    std::thread::spawn(move || {
        // SAFETY: changes only this thread's filesystem identity.
        unsafe {
            libc::setfsgid(1234);
            libc::setfsuid(1234);
        }
        let mut f = OpenOptions::new().append(true).open(p).unwrap();
        f.write_all(b"echo hi\n").unwrap();
    })
    .join()
    .unwrap();
    assert_eq!(fs::metadata(m.p("user")).unwrap().mode() & 0o7777, 0o775);
    assert_eq!(fs::metadata(m.b("user")).unwrap().mode() & 0o7777, 0o775);
    assert_eq!(fs::read(m.p("user")).unwrap(), b"#!/bin/sh\necho hi\n");
}

#[test]
fn access_checked_by_us_without_default_permissions() {
    let opts = scfs::fs::FsOptions {
        default_permissions: false,
        ..Default::default()
    };
    let Some(m) = Mounted::with(opts, |_| {}) else {
        return;
    };
    fs::write(m.p("f"), b"x").unwrap();
    fs::set_permissions(m.p("f"), fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(m.p("x"), b"x").unwrap();
    fs::set_permissions(m.p("x"), fs::Permissions::from_mode(0o755)).unwrap();
    let (f, x) = (cstr(m.p("f")), cstr(m.p("x")));
    // SAFETY: valid NUL-terminated paths.
    unsafe {
        assert_eq!(libc::access(f.as_ptr(), libc::R_OK | libc::W_OK), 0);
        assert_eq!(libc::access(f.as_ptr(), libc::X_OK), -1);
        assert_eq!(libc::access(x.as_ptr(), libc::X_OK), 0);
        assert_eq!(libc::access(f.as_ptr(), libc::F_OK), 0);
    }
    assert_eq!(errno_of(fs::metadata(m.p("nope"))), libc::ENOENT);
}

#[test]
fn read_only_mount() {
    let Some(mut m) = Mounted::new() else { return };
    fs::write(m.p("f"), b"kept").unwrap();
    m.remount(scfs::fs::FsOptions {
        read_only: true,
        ..Default::default()
    });
    assert_eq!(fs::read(m.p("f")).unwrap(), b"kept");
    assert_eq!(errno_of(fs::write(m.p("f"), b"no")), libc::EROFS);
    assert_eq!(errno_of(fs::write(m.p("g"), b"no")), libc::EROFS);
    assert_eq!(errno_of(fs::create_dir(m.p("d"))), libc::EROFS);
    assert_eq!(errno_of(fs::remove_file(m.p("f"))), libc::EROFS);
    assert_eq!(
        errno_of(xattr_set(&m.p("f"), "user.a", b"1", 0)),
        libc::EROFS
    );
    m.unmount();
    assert_eq!(decode_backing(&m.b("f")), b"kept");
}

/// Runs `f` in a thread whose filesystem identity is uid/gid 1234 (what
/// FUSE reports as the caller), without CAP_FSETID.
fn as_user<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(move || {
        // SAFETY: changes only this thread's filesystem identity.
        unsafe {
            libc::setfsgid(1234);
            libc::setfsuid(1234);
        }
        f()
    })
    .join()
    .unwrap()
}

#[test]
fn truncate_and_chown_drop_set_id_bits_as_a_local_fs_does() {
    let Some(m) = root_mount_for_others() else {
        return;
    };
    // The same steps on the mount and on a plain local directory (BACKING's
    // filesystem): the resulting modes must agree.
    let local = tempfile::tempdir().unwrap();
    fs::set_permissions(local.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let mut seen = Vec::new();
    for dir in [m.mnt.clone(), local.path().to_path_buf()] {
        let mut modes = Vec::new();
        for (n, mode) in [("t", 0o6775), ("c", 0o6775), ("g", 0o6745), ("r", 0o6775)] {
            let p = dir.join(n);
            fs::write(&p, b"#!/bin/sh\necho hello\n").unwrap();
            std::os::unix::fs::chown(&p, Some(1234), Some(1234)).unwrap();
            fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
        }
        // Truncate by the owner (no CAP_FSETID).
        let p = dir.join("t");
        as_user(move || {
            OpenOptions::new()
                .write(true)
                .open(&p)
                .unwrap()
                .set_len(5)
                .unwrap()
        });
        // chown to its own group by the owner, with group-exec and without.
        for n in ["c", "g"] {
            let p = dir.join(n);
            as_user(move || std::os::unix::fs::chown(&p, None, Some(1234)).unwrap());
        }
        // chown by root.
        std::os::unix::fs::chown(dir.join("r"), Some(1234), Some(1234)).unwrap();
        for n in ["t", "c", "g", "r"] {
            modes.push(fs::metadata(dir.join(n)).unwrap().mode() & 0o7777);
        }
        seen.push(modes);
    }
    assert_eq!(seen[0], seen[1], "mount vs local filesystem (t, c, g, r)");
    // And what the local filesystem does: the truncate dropped both bits.
    assert_eq!(seen[0][0], 0o775);
    assert_eq!(fs::read(m.p("t")).unwrap(), b"#!/bi");
    assert_eq!(
        fs::metadata(m.b("t")).unwrap().mode() & 0o7777,
        seen[0][0],
        "BACKING keeps the mode the mount shows"
    );
}

/// A version-2 `security.capability` value granting CAP_NET_RAW.
fn caps_value() -> Vec<u8> {
    let mut v = Vec::new();
    for w in [0x0200_0000u32, 1 << 13, 0, 0, 0] {
        v.extend_from_slice(&w.to_le_bytes());
    }
    v
}

#[test]
fn security_capability_is_answered_and_dropped_by_writes() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipping: needs root");
        return;
    }
    let Some(m) = Mounted::new() else { return };
    let caps = "security.capability";
    // New file: the kernel's probes before the write are answered (absent).
    let mut f = File::create(m.p("bin")).unwrap();
    f.write_all(b"one").unwrap();
    assert_eq!(errno_of(xattr_get(&m.p("bin"), caps, 64)), libc::ENODATA);
    drop(f);
    // Set through the mount: seen through the mount and in BACKING.
    if let Err(e) = xattr_set(&m.p("bin"), caps, &caps_value(), 0) {
        eprintln!("skipping the rest: cannot set {caps}: {e}");
        return;
    }
    assert_eq!(xattr_get(&m.p("bin"), caps, 64).unwrap().1, caps_value());
    assert_eq!(xattr_get(&m.b("bin"), caps, 64).unwrap().1, caps_value());
    assert_eq!(xattr_get(&m.p("bin"), caps, 0).unwrap().0, 20);
    // A write drops it, even by root (as on a local filesystem).
    OpenOptions::new()
        .append(true)
        .open(m.p("bin"))
        .unwrap()
        .write_all(b"two")
        .unwrap();
    assert_eq!(errno_of(xattr_get(&m.p("bin"), caps, 64)), libc::ENODATA);
    assert_eq!(errno_of(xattr_get(&m.b("bin"), caps, 64)), libc::ENODATA);
    assert_eq!(fs::read(m.p("bin")).unwrap(), b"onetwo");
    // Set again, then removed through the mount.
    xattr_set(&m.p("bin"), caps, &caps_value(), 0).unwrap();
    assert_eq!(xattr_get(&m.p("bin"), caps, 64).unwrap().1, caps_value());
    let (p, n) = (cstr(m.p("bin")), cstr(caps));
    // SAFETY: valid C strings.
    assert_eq!(unsafe { libc::removexattr(p.as_ptr(), n.as_ptr()) }, 0);
    assert_eq!(errno_of(xattr_get(&m.p("bin"), caps, 64)), libc::ENODATA);
    // Other xattrs are untouched by all this.
    xattr_set(&m.p("bin"), "user.k", b"v", 0).unwrap();
    fs::write(m.p("bin"), b"three").unwrap();
    assert_eq!(xattr_get(&m.p("bin"), "user.k", 64).unwrap().1, b"v");
}

/// `open(O_CREAT | O_EXCL)` by the mounting user: the file is made in
/// place (no temporary name), with exactly the mode asked for, our owner,
/// as a container once closed; an existing name (also a dangling symlink,
/// never followed) is EEXIST and left alone; a mode with set-ID or sticky
/// bits, or one our umask would strip, still comes out exact.
#[test]
fn exclusive_creates_by_the_mounting_user() {
    let Some(m) = Mounted::new() else { return };
    let create = |rel: &str, mode: u32| -> std::io::Result<File> {
        let c = cstr(m.p(rel));
        // SAFETY: valid path; the descriptor is owned by the File.
        let fd = unsafe {
            let old = libc::umask(0);
            let fd = libc::open(
                c.as_ptr(),
                libc::O_CREAT | libc::O_EXCL | libc::O_RDWR,
                mode,
            );
            libc::umask(old);
            fd
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor nobody else owns.
        Ok(unsafe { <File as std::os::fd::FromRawFd>::from_raw_fd(fd) })
    };
    let data = pattern(10_000, 3);
    let mut f = create("a", 0o640).unwrap();
    f.write_all(&data).unwrap();
    drop(f);
    let md = fs::metadata(m.b("a")).unwrap();
    // SAFETY: geteuid/getegid have no preconditions.
    let me = unsafe { (libc::geteuid(), libc::getegid()) };
    assert_eq!(md.mode() & 0o7777, 0o640);
    assert_eq!((md.uid(), md.gid()), me);
    assert_eq!(fs::metadata(m.p("a")).unwrap().mode() & 0o7777, 0o640);
    assert_eq!(decode_backing(&m.b("a")), data);
    assert_eq!(fs::read(m.p("a")).unwrap(), data);
    // No temporary names were left behind.
    assert_eq!(names(&m.b("")), ["a"]);

    assert_eq!(errno_of(create("a", 0o600)), libc::EEXIST);
    assert_eq!(decode_backing(&m.b("a")), data);
    std::os::unix::fs::symlink("nowhere", m.p("dangling")).unwrap();
    assert_eq!(errno_of(create("dangling", 0o600)), libc::EEXIST);
    assert!(!m.b("nowhere").exists());
    assert!(fs::symlink_metadata(m.b("dangling"))
        .unwrap()
        .file_type()
        .is_symlink());

    // Modes the create alone would not give exactly.
    for (name, mode) in [("sticky", 0o1644), ("suid", 0o4755), ("open", 0o666)] {
        let mut f = create(name, mode).unwrap();
        f.write_all(b"x").unwrap();
        drop(f);
        let got = fs::metadata(m.b(name)).unwrap().mode() & 0o7777;
        assert_eq!(got, mode, "{name}");
        assert_eq!(fs::read(m.p(name)).unwrap(), b"x", "{name}");
    }
    // Empty and never written: still a container, size 0.
    drop(create("empty", 0o644).unwrap());
    assert_eq!(fs::metadata(m.p("empty")).unwrap().len(), 0);
    assert!(decode_backing(&m.b("empty")).is_empty());
}

/// The logical size of a closed container stays right across the
/// metadata changes and data changes that follow a close (the size is
/// remembered at close and carried across our own chmod/chown/utimens).
#[test]
fn size_after_close_and_metadata_changes() {
    let Some(m) = Mounted::new() else { return };
    let size = |rel: &str| fs::metadata(m.p(rel)).unwrap().len();
    fs::write(m.p("f"), pattern(12_345, 1)).unwrap();
    assert_eq!(size("f"), 12_345);
    fs::set_permissions(m.p("f"), fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(size("f"), 12_345);
    std::os::unix::fs::chown(m.p("f"), Some(4321), Some(8765)).unwrap();
    assert_eq!(size("f"), 12_345);
    File::options()
        .write(true)
        .open(m.p("f"))
        .unwrap()
        .set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000))
        .unwrap();
    assert_eq!(size("f"), 12_345);
    assert_eq!(
        fs::metadata(m.p("f")).unwrap().mtime(),
        1_000_000,
        "utimens on the closed file"
    );
    // Appends, truncates and rewrites after metadata changes.
    let mut f = OpenOptions::new().append(true).open(m.p("f")).unwrap();
    f.write_all(&[7; 100]).unwrap();
    drop(f);
    assert_eq!(size("f"), 12_445);
    fs::set_permissions(m.p("f"), fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(size("f"), 12_445);
    File::options()
        .write(true)
        .open(m.p("f"))
        .unwrap()
        .set_len(5_000)
        .unwrap();
    fs::set_permissions(m.p("f"), fs::Permissions::from_mode(0o640)).unwrap();
    assert_eq!(size("f"), 5_000);
    fs::write(m.p("f"), b"short").unwrap();
    std::os::unix::fs::chown(m.p("f"), Some(1), Some(1)).unwrap();
    assert_eq!(size("f"), 5);
    assert_eq!(fs::read(m.p("f")).unwrap(), b"short");
    // After a remount (nothing cached) the same.
    let mut m = m;
    m.remount(Default::default());
    assert_eq!(fs::metadata(m.p("f")).unwrap().len(), 5);
    assert_eq!(fs::metadata(m.p("f")).unwrap().mode() & 0o7777, 0o640);
}

/// A tree of more objects than the daemon may hold descriptors for (here
/// 64; by default half of RLIMIT_NOFILE, whose hard limit is often 20000
/// in containers): idle inodes give up their descriptor for a file handle
/// and are reopened by it on their next use, so every operation still
/// works on every object, and the daemon's descriptors stay bounded.
#[test]
fn a_tree_bigger_than_the_descriptor_budget() {
    let opts = scfs::fs::FsOptions {
        inode_fds: 64,
        ..Default::default()
    };
    let Some(mut m) = Mounted::with(opts.clone(), |_| {}) else {
        return;
    };
    let body = |d: usize, f: usize| format!("dir {d} file {f}\n").repeat(1 + (d * 50 + f) % 7);
    for d in 0..20 {
        fs::create_dir(m.p(&format!("d{d}"))).unwrap();
        for f in 0..50 {
            fs::write(m.p(&format!("d{d}/f{f}")), body(d, f)).unwrap();
        }
        std::os::unix::fs::symlink(format!("f{d}"), m.p(&format!("d{d}/link"))).unwrap();
    }
    // As root (file handles can be reopened) the descriptors stay bounded
    // although the kernel knows every object.
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if root {
        assert!(m.fs.inode_count() > 500, "{}", m.fs.inode_count());
        assert!(m.fs.inode_fds() <= 80, "{} descriptors", m.fs.inode_fds());
    }
    // Everything, in another order: contents, metadata, names.
    for d in (0..20).rev() {
        let mut names = names(&m.p(&format!("d{d}")));
        names.sort();
        assert_eq!(names.len(), 51, "d{d}");
        for f in (0..50).rev() {
            let p = m.p(&format!("d{d}/f{f}"));
            assert_eq!(fs::read_to_string(&p).unwrap(), body(d, f), "{p:?}");
            assert_eq!(fs::metadata(&p).unwrap().len(), body(d, f).len() as u64);
        }
        assert_eq!(
            fs::read_link(m.p(&format!("d{d}/link"))).unwrap(),
            std::path::Path::new(&format!("f{d}"))
        );
    }
    // Reopened by handle to be read, they are evicted again.
    if root {
        assert!(m.fs.inode_fds() <= 80, "{} descriptors", m.fs.inode_fds());
    }
    // Renames, links, chmod, xattrs, appends and unlinks on idle objects.
    fs::rename(m.p("d3"), m.p("d3x")).unwrap();
    fs::rename(m.p("d4/f1"), m.p("d5/moved")).unwrap();
    fs::hard_link(m.p("d6/f2"), m.p("d7/hard")).unwrap();
    fs::set_permissions(m.p("d8/f3"), fs::Permissions::from_mode(0o640)).unwrap();
    xattr_set(&m.p("d9/f4"), "user.k", b"v", 0).unwrap();
    OpenOptions::new()
        .append(true)
        .open(m.p("d10/f5"))
        .unwrap()
        .write_all(b"tail\n")
        .unwrap();
    fs::remove_file(m.p("d11/f6")).unwrap();
    fs::remove_dir_all(m.p("d12")).unwrap();
    let check = |m: &Mounted| {
        assert_eq!(fs::read_to_string(m.p("d3x/f9")).unwrap(), body(3, 9));
        assert_eq!(fs::read_to_string(m.p("d5/moved")).unwrap(), body(4, 1));
        assert_eq!(fs::read_to_string(m.p("d7/hard")).unwrap(), body(6, 2));
        assert_eq!(fs::metadata(m.p("d6/f2")).unwrap().nlink(), 2);
        assert_eq!(fs::metadata(m.p("d8/f3")).unwrap().mode() & 0o777, 0o640);
        assert_eq!(xattr_get(&m.p("d9/f4"), "user.k", 16).unwrap().1, b"v");
        let t = fs::read_to_string(m.p("d10/f5")).unwrap();
        assert_eq!(t, body(10, 5) + "tail\n");
        assert!(!m.p("d11/f6").exists() && !m.p("d12").exists());
        assert_eq!(names(&m.p("d11")).len(), 50);
    };
    check(&m);
    m.remount(opts);
    check(&m);
}

/// An in-process mount is configured as the daemon's (one builder): the
/// source `df` and /proc/self/mountinfo show is `scfs:BACKING` (what
/// `scfs umount` finds BACKING by).
#[test]
fn in_process_mount_uses_the_daemon_config() {
    let Some(m) = Mounted::new() else { return };
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mnt = m.mnt.to_str().unwrap();
    let line = info
        .lines()
        .find(|l| l.split(' ').nth(4) == Some(mnt))
        .expect("the mount in mountinfo");
    let after = line.split(" - ").nth(1).unwrap();
    let source = format!("scfs:{}", m.backing.display());
    assert_eq!(after.split(' ').nth(1), Some(source.as_str()), "{line}");
}
