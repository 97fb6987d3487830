//! Every FUSE operation through a real in-process mount: a BACKING and a
//! MNT temp dir, `ScfsFs` mounted with fuser, driven through std::fs and
//! libc. Skipped (with a message) only when /dev/fuse is missing.

mod fs_common;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};

use fs_common::{cstr, errno_of, Mounted};

fn names(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 9) as u8)
        .collect()
}

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
fn read_write_at_offsets() {
    let Some(m) = Mounted::new() else { return };
    let data = pattern(300_000, 7);
    let mut f = File::create(m.p("f")).unwrap();
    f.write_all(&data).unwrap();
    // Overwrite in the middle across a block boundary, and write past EOF.
    let patch = pattern(70_000, 99);
    f.write_all_at(&patch, 60_000).unwrap();
    f.write_all_at(b"tail", 400_000).unwrap();
    drop(f);
    let mut want = data.clone();
    want[60_000..130_000].copy_from_slice(&patch);
    want.resize(400_000, 0);
    want.extend_from_slice(b"tail");
    let got = fs::read(m.p("f")).unwrap();
    assert_eq!(got.len(), want.len());
    assert!(got == want, "content differs");
    // Reads at any offset, including past EOF.
    let f = File::open(m.p("f")).unwrap();
    let mut buf = vec![0u8; 5000];
    f.read_exact_at(&mut buf, 123_457).unwrap();
    assert_eq!(&buf[..], &want[123_457..128_457]);
    assert_eq!(f.read_at(&mut buf, 500_000).unwrap(), 0);
    assert_eq!(f.read_at(&mut buf, 399_998).unwrap(), 6);
}

#[test]
fn truncate_up_and_down() {
    let Some(m) = Mounted::new() else { return };
    let data = pattern(200_000, 3);
    fs::write(m.p("t"), &data).unwrap();
    let f = OpenOptions::new().write(true).open(m.p("t")).unwrap();
    f.set_len(70_001).unwrap(); // ftruncate
    assert_eq!(fs::metadata(m.p("t")).unwrap().len(), 70_001);
    f.set_len(150_000).unwrap();
    drop(f);
    let got = fs::read(m.p("t")).unwrap();
    assert_eq!(&got[..70_001], &data[..70_001]);
    assert!(got[70_001..].iter().all(|&b| b == 0));
    // truncate(2) by path, without an open handle.
    let p = cstr(m.p("t"));
    // SAFETY: `p` is a valid NUL-terminated path.
    assert_eq!(unsafe { libc::truncate(p.as_ptr(), 10) }, 0);
    assert_eq!(fs::read(m.p("t")).unwrap(), &data[..10]);
    // SAFETY: as above.
    assert_eq!(unsafe { libc::truncate(p.as_ptr(), 0) }, 0);
    assert_eq!(fs::read(m.p("t")).unwrap(), b"");
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

fn renameat2(from: &std::path::Path, to: &std::path::Path, flags: u32) -> io::Result<()> {
    let (a, b) = (cstr(from), cstr(to));
    // SAFETY: valid NUL-terminated paths.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            flags,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
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
fn unlinked_open_file_lives_until_close() {
    let Some(m) = Mounted::new() else { return };
    fs::write(m.p("gone"), pattern(100_000, 1)).unwrap();
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(m.p("gone"))
        .unwrap();
    fs::remove_file(m.p("gone")).unwrap();
    assert!(!m.p("gone").exists());
    assert!(!m.b("gone").exists());
    f.write_all_at(b"still here", 99_995).unwrap();
    let mut buf = vec![0u8; 10];
    f.read_exact_at(&mut buf, 99_995).unwrap();
    assert_eq!(&buf, b"still here");
    assert_eq!(f.metadata().unwrap().len(), 100_005);
    let mut all = Vec::new();
    f.seek(SeekFrom::Start(0)).unwrap();
    f.read_to_end(&mut all).unwrap();
    assert_eq!(&all[..1000], &pattern(100_000, 1)[..1000]);
    drop(f);
    assert!(
        names(&m.backing).is_empty(),
        "backing: {:?}",
        names(&m.backing)
    );
    // A new file of the same name is a new, independent file.
    fs::write(m.p("gone"), b"new").unwrap();
    assert_eq!(fs::read(m.p("gone")).unwrap(), b"new");
}

fn xattr_get(p: &std::path::Path, name: &str, size: usize) -> io::Result<(usize, Vec<u8>)> {
    let (p, n) = (cstr(p), cstr(name));
    let mut buf = vec![0u8; size];
    // SAFETY: buf is writable for `size` bytes (null when size is 0).
    let r = unsafe {
        libc::getxattr(
            p.as_ptr(),
            n.as_ptr(),
            if size == 0 {
                std::ptr::null_mut()
            } else {
                buf.as_mut_ptr().cast()
            },
            size,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate((r as usize).min(size));
    Ok((r as usize, buf))
}

fn xattr_set(p: &std::path::Path, name: &str, v: &[u8], flags: i32) -> io::Result<()> {
    let (p, n) = (cstr(p), cstr(name));
    // SAFETY: v is readable for its length.
    let r = unsafe { libc::setxattr(p.as_ptr(), n.as_ptr(), v.as_ptr().cast(), v.len(), flags) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn xattr_list(p: &std::path::Path, size: usize) -> io::Result<(usize, Vec<u8>)> {
    let p = cstr(p);
    let mut buf = vec![0u8; size];
    // SAFETY: as for getxattr.
    let r = unsafe {
        libc::listxattr(
            p.as_ptr(),
            if size == 0 {
                std::ptr::null_mut()
            } else {
                buf.as_mut_ptr().cast()
            },
            size,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate((r as usize).min(size));
    Ok((r as usize, buf))
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

fn fallocate(f: &File, mode: i32, off: i64, len: i64) -> io::Result<()> {
    // SAFETY: plain integer arguments on an open descriptor.
    if unsafe { libc::fallocate(f.as_raw_fd(), mode, off, len) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn lseek(f: &File, off: i64, whence: i32) -> io::Result<i64> {
    // SAFETY: plain integer arguments on an open descriptor.
    let r = unsafe { libc::lseek(f.as_raw_fd(), off, whence) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

#[test]
fn fallocate_modes() {
    let Some(m) = Mounted::new() else { return };
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(m.p("f"))
        .unwrap();
    f.write_all_at(&pattern(200_000, 5), 0).unwrap();
    fallocate(&f, 0, 0, 300_000).unwrap();
    assert_eq!(f.metadata().unwrap().len(), 300_000);
    fallocate(&f, libc::FALLOC_FL_KEEP_SIZE, 0, 500_000).unwrap();
    assert_eq!(f.metadata().unwrap().len(), 300_000);
    fallocate(
        &f,
        libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
        10_000,
        150_000,
    )
    .unwrap();
    assert_eq!(f.metadata().unwrap().len(), 300_000);
    assert_eq!(
        errno_of(fallocate(&f, libc::FALLOC_FL_COLLAPSE_RANGE, 0, 65536)),
        libc::EOPNOTSUPP
    );
    drop(f);
    let got = fs::read(m.p("f")).unwrap();
    let mut want = pattern(200_000, 5);
    want[10_000..160_000].fill(0);
    want.resize(300_000, 0);
    assert!(got == want, "content differs after fallocate");
}

#[test]
fn seek_data_and_hole() {
    let Some(m) = Mounted::new() else { return };
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(m.p("s"))
        .unwrap();
    let mb = 1 << 20;
    f.write_all_at(&[1u8; 4096], 4 * mb).unwrap();
    f.set_len(8 * mb).unwrap();
    drop(f);
    let f = File::open(m.p("s")).unwrap();
    let d = lseek(&f, 0, libc::SEEK_DATA).unwrap();
    assert!(d <= 4 * mb as i64 && d > mb as i64, "data at {d}");
    let h = lseek(&f, d, libc::SEEK_HOLE).unwrap();
    assert!(
        h >= 4 * mb as i64 + 4096 && h < 6 * mb as i64,
        "hole at {h}"
    );
    assert_eq!(lseek(&f, 0, libc::SEEK_HOLE).unwrap(), 0);
    assert_eq!(
        errno_of(lseek(&f, 9 * mb as i64, libc::SEEK_DATA)),
        libc::ENXIO
    );
    assert_eq!(
        errno_of(lseek(&f, 6 * mb as i64, libc::SEEK_DATA)),
        libc::ENXIO
    );
}

#[test]
fn shared_writable_mmap() {
    let Some(mut m) = Mounted::new() else { return };
    let len = 3 * 65536 + 100;
    fs::write(m.p("map"), pattern(len, 11)).unwrap();
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(m.p("map"))
        .unwrap();
    // SAFETY: maps `len` bytes of an open file shared; the mapping is only
    // accessed inside [0, len) below and unmapped before `f` is dropped.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            f.as_raw_fd(),
            0,
        )
    };
    assert_ne!(p, libc::MAP_FAILED);
    // SAFETY: p..p+len is a live writable mapping owned by this test only.
    let s = unsafe { std::slice::from_raw_parts_mut(p.cast::<u8>(), len) };
    assert_eq!(&s[..100], &pattern(len, 11)[..100]);
    s[10..20].copy_from_slice(b"MMAPWRITE!");
    s[len - 5..].copy_from_slice(b"END!!");
    // SAFETY: msync and munmap on exactly the mapping created above.
    unsafe {
        assert_eq!(libc::msync(p, len, libc::MS_SYNC), 0);
        assert_eq!(libc::munmap(p, len), 0);
    }
    drop(f);
    let mut want = pattern(len, 11);
    want[10..20].copy_from_slice(b"MMAPWRITE!");
    want[len - 5..].copy_from_slice(b"END!!");
    assert!(fs::read(m.p("map")).unwrap() == want);
    m.remount(Default::default());
    assert!(fs::read(m.p("map")).unwrap() == want, "after remount");
}

#[test]
fn fsync_fdatasync_fsyncdir() {
    let Some(m) = Mounted::new() else { return };
    fs::create_dir(m.p("d")).unwrap();
    let mut f = File::create(m.p("d/f")).unwrap();
    f.write_all(b"durable").unwrap();
    f.sync_data().unwrap();
    f.write_all(b" more").unwrap();
    f.sync_all().unwrap();
    drop(f);
    File::open(m.p("d")).unwrap().sync_all().unwrap();
    assert_eq!(fs::read(m.p("d/f")).unwrap(), b"durable more");
}

#[test]
fn persistence_across_remount() {
    let Some(mut m) = Mounted::new() else { return };
    fs::create_dir_all(m.p("x/y")).unwrap();
    let data = pattern(500_000, 42);
    fs::write(m.p("x/y/big"), &data).unwrap();
    fs::write(m.p("x/small"), b"s").unwrap();
    std::os::unix::fs::symlink("y/big", m.p("x/ln")).unwrap();
    m.remount(Default::default());
    assert!(fs::read(m.p("x/y/big")).unwrap() == data);
    assert_eq!(fs::read(m.p("x/small")).unwrap(), b"s");
    assert!(fs::read(m.p("x/ln")).unwrap() == data);
    assert_eq!(fs::metadata(m.p("x/y/big")).unwrap().len(), 500_000);
}

#[test]
fn preexisting_plain_files_are_served_unchanged() {
    let plain = pattern(150_000, 77);
    let p2 = plain.clone();
    let Some(mut m) = Mounted::with(Default::default(), move |b| {
        fs::create_dir(b.join("old")).unwrap();
        fs::write(b.join("old/plain.bin"), &p2).unwrap();
        fs::write(b.join("empty"), b"").unwrap();
        // Starts with the magic but is not a v2 container.
        fs::write(b.join("fake"), b"\x0c\x00\x0d\x0e\x01\x00 v1-ish").unwrap();
    }) else {
        return;
    };
    assert!(fs::read(m.p("old/plain.bin")).unwrap() == plain);
    assert_eq!(fs::metadata(m.p("old/plain.bin")).unwrap().len(), 150_000);
    assert_eq!(fs::read(m.p("empty")).unwrap(), b"");
    assert_eq!(
        fs::read(m.p("fake")).unwrap(),
        b"\x0c\x00\x0d\x0e\x01\x00 v1-ish"
    );
    assert_eq!(fs::metadata(m.p("fake")).unwrap().len(), 13);
    // Writing into a plain file keeps it valid as a plain file.
    let f = OpenOptions::new()
        .write(true)
        .open(m.p("old/plain.bin"))
        .unwrap();
    f.write_all_at(b"patched", 1000).unwrap();
    drop(f);
    m.unmount();
    let mut want = plain.clone();
    want[1000..1007].copy_from_slice(b"patched");
    assert!(fs::read(m.b("old/plain.bin")).unwrap() == want);
    assert_eq!(
        fs::read(m.b("fake")).unwrap(),
        b"\x0c\x00\x0d\x0e\x01\x00 v1-ish"
    );
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

fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect()
}

/// Whether the codec compresses text (false only until the codec lands).
fn codec_compresses() -> bool {
    let mut out = Vec::new();
    let text = b"aaaaaaaabbbbccde".repeat(100);
    matches!(
        scfs::codec::encode_block(&text, &mut out),
        scfs::codec::BlockCoding::Huffman
    )
}

/// Decodes a backing container without the mount.
fn decode_backing(p: &std::path::Path) -> Vec<u8> {
    let c = scfs::container::Container::open(File::open(p).unwrap(), false).unwrap();
    let bs = c.block_size() as usize;
    let size = c.logical_size() as usize;
    let mut out = vec![0u8; size.div_ceil(bs) * bs];
    for (i, chunk) in out.chunks_mut(bs).enumerate() {
        c.read_block(i as u64, chunk).unwrap();
    }
    out.truncate(size);
    out
}

#[test]
fn backing_files_are_v2_containers() {
    let Some(mut m) = Mounted::new() else { return };
    let text: Vec<u8> = b"the quick brown fox jumps over the lazy dog. "
        .iter()
        .cycle()
        .take(1_000_000)
        .copied()
        .collect();
    fs::write(m.p("text"), &text).unwrap();
    let mut sparse = File::create(m.p("sparse")).unwrap();
    sparse.seek(SeekFrom::Start(3 << 20)).unwrap();
    sparse.write_all(b"island").unwrap();
    drop(sparse);
    fs::write(m.p("empty"), b"").unwrap();
    // st_size is logical, st_blocks counts what BACKING stores.
    let md = fs::metadata(m.p("text")).unwrap();
    assert_eq!(md.len(), 1_000_000);
    assert!(md.blocks() > 0);
    if codec_compresses() {
        assert!(md.blocks() * 512 < 600_000, "blocks {}", md.blocks());
    }
    assert_eq!(fs::metadata(m.p("sparse")).unwrap().len(), (3 << 20) + 6);
    m.unmount();
    for n in ["text", "sparse", "empty"] {
        let head = fs::read(m.b(n)).unwrap();
        assert_eq!(&head[..6], b"\x0c\x00\x0d\x0e\x02\x00", "{n}");
    }
    if codec_compresses() {
        assert!(fs::metadata(m.b("text")).unwrap().len() < 600_000);
    }
    assert!(fs::metadata(m.b("sparse")).unwrap().len() < 100_000);
    assert!(decode_backing(&m.b("text")) == text);
    let s = decode_backing(&m.b("sparse"));
    assert_eq!(s.len(), (3 << 20) + 6);
    assert_eq!(&s[3 << 20..], b"island");
    assert!(s[..3 << 20].iter().all(|&b| b == 0));
    assert_eq!(decode_backing(&m.b("empty")), b"");
}

#[test]
fn compaction_keeps_content_and_metadata() {
    let Some(mut m) = Mounted::new() else { return };
    fs::write(m.p("c"), noise(65536, 1)).unwrap();
    fs::set_permissions(m.p("c"), fs::Permissions::from_mode(0o604)).unwrap();
    xattr_set(&m.p("c"), "user.keep", b"me", 0).unwrap();
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(m.p("c"))
        .unwrap();
    let mut last = Vec::new();
    for i in 0..40 {
        last = noise(65536, 100 + i);
        f.write_all_at(&last, 0).unwrap();
        f.sync_data().unwrap();
    }
    let t = [
        libc::timespec {
            tv_sec: 1_111_111_111,
            tv_nsec: 0,
        },
        libc::timespec {
            tv_sec: 1_222_222_222,
            tv_nsec: 0,
        },
    ];
    // SAFETY: valid descriptor and timespec array.
    assert_eq!(unsafe { libc::futimens(f.as_raw_fd(), t.as_ptr()) }, 0);
    drop(f);
    let bmd = fs::metadata(m.b("c")).unwrap();
    // 40 rewrites of 64 KiB would be 2.6 MB without compaction, which
    // leaves at most live + ~1 MiB.
    assert!(bmd.len() < 1_300_000, "backing holds {} bytes", bmd.len());
    assert_eq!(bmd.mode() & 0o7777, 0o604);
    assert_eq!(bmd.mtime(), 1_222_222_222);
    assert_eq!(names(&m.backing), vec!["c"]);
    assert_eq!(xattr_get(&m.p("c"), "user.keep", 64).unwrap().1, b"me");
    assert!(fs::read(m.p("c")).unwrap() == last);
    // Listing and stat agree on the inode number.
    let e = fs::read_dir(&m.mnt).unwrap().next().unwrap().unwrap();
    assert_eq!(
        std::os::unix::fs::DirEntryExt::ino(&e),
        fs::metadata(m.p("c")).unwrap().ino()
    );
    // The inode followed the new file.
    let f = OpenOptions::new().write(true).open(m.p("c")).unwrap();
    f.write_all_at(b"after", 10).unwrap();
    drop(f);
    last[10..15].copy_from_slice(b"after");
    m.unmount();
    assert!(decode_backing(&m.b("c")) == last);
}

#[test]
fn corrupt_block_reads_as_eio() {
    let Some(mut m) = Mounted::new() else { return };
    let data = noise(16 * 65536, 9);
    fs::write(m.p("bad"), &data).unwrap();
    fs::write(m.p("good"), b"fine").unwrap();
    m.unmount();
    // Flip one byte in the middle of the second block's record (blocks
    // may be stored in any order: ask the container where it is).
    let c = scfs::container::Container::open(File::open(m.b("bad")).unwrap(), false).unwrap();
    let pos = c.record_offset(1).unwrap() as usize + 65536 / 2;
    drop(c);
    let mut raw = fs::read(m.b("bad")).unwrap();
    raw[pos] ^= 0x55;
    fs::write(m.b("bad"), &raw).unwrap();
    m.remount(Default::default());
    // O_DIRECT reads reach the filesystem with exactly these ranges.
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(m.p("bad"))
        .unwrap();
    let mut buf = vec![0u8; 65536];
    f.read_exact_at(&mut buf, 0).unwrap();
    assert_eq!(&buf[..], &data[..65536]);
    assert_eq!(errno_of(f.read_exact_at(&mut buf, 65536)), libc::EIO);
    assert_eq!(
        errno_of(f.read_exact_at(&mut buf[..10], 65536 + 100)),
        libc::EIO
    );
    f.read_exact_at(&mut buf, 3 * 65536).unwrap();
    assert_eq!(&buf[..], &data[3 * 65536..4 * 65536]);
    drop(f);
    // Buffered: the whole file cannot be read, and never as wrong bytes.
    assert_eq!(errno_of(fs::read(m.p("bad"))), libc::EIO);
    assert_eq!(fs::read(m.p("good")).unwrap(), b"fine");
}

#[test]
fn copy_file_range_falls_back() {
    let Some(m) = Mounted::new() else { return };
    let data = pattern(200_000, 4);
    fs::write(m.p("src"), &data).unwrap();
    let src = File::open(m.p("src")).unwrap();
    let dst = File::create(m.p("dst")).unwrap();
    let mut left = data.len();
    while left > 0 {
        // SAFETY: two open descriptors, null offsets (use file positions).
        let n = unsafe {
            libc::copy_file_range(
                src.as_raw_fd(),
                std::ptr::null_mut(),
                dst.as_raw_fd(),
                std::ptr::null_mut(),
                left,
                0,
            )
        };
        assert!(n > 0, "copy_file_range: {}", io::Error::last_os_error());
        left -= n as usize;
    }
    drop((src, dst));
    assert!(fs::read(m.p("dst")).unwrap() == data);
    // std::fs::copy (copy_file_range or read/write) too.
    fs::copy(m.p("src"), m.p("dst2")).unwrap();
    assert!(fs::read(m.p("dst2")).unwrap() == data);
}

#[test]
fn concurrent_writers_and_readers() {
    let Some(m) = Mounted::new() else { return };
    let chunk = 100_000usize;
    File::create(m.p("shared")).unwrap();
    std::thread::scope(|s| {
        for t in 0..4u8 {
            let p = m.p("shared");
            s.spawn(move || {
                let f = OpenOptions::new().write(true).open(p).unwrap();
                // Interleaved 10 KB pieces of this thread's region.
                for piece in 0..10 {
                    let off = t as usize * chunk + piece * 10_000;
                    f.write_all_at(
                        &pattern(10_000, t.wrapping_mul(50).wrapping_add(piece as u8)),
                        off as u64,
                    )
                    .unwrap();
                }
            });
        }
        for _ in 0..2 {
            let p = m.p("shared");
            s.spawn(move || {
                for _ in 0..20 {
                    let _ = fs::read(&p).unwrap();
                }
            });
        }
    });
    let got = fs::read(m.p("shared")).unwrap();
    assert_eq!(got.len(), 4 * chunk);
    for t in 0..4u8 {
        for piece in 0..10 {
            let off = t as usize * chunk + piece * 10_000;
            assert!(
                got[off..off + 10_000]
                    == pattern(10_000, t.wrapping_mul(50).wrapping_add(piece as u8))[..],
                "thread {t} piece {piece}"
            );
        }
    }
}

#[test]
fn broken_container_stays_listed_and_removable() {
    let Some(mut m) = Mounted::new() else { return };
    fs::write(m.p("broken"), noise(100_000, 3)).unwrap();
    m.unmount();
    // Keep the header, destroy everything after it.
    let raw = fs::read(m.b("broken")).unwrap();
    let mut bad = raw[..32].to_vec();
    bad.extend(std::iter::repeat_n(0xA5u8, raw.len() - 32));
    fs::write(m.b("broken"), &bad).unwrap();
    m.remount(Default::default());
    assert_eq!(names(&m.mnt), vec!["broken"]);
    // Whatever the container layer recovers, reading must not crash or
    // hang (its torn-tail recovery may find no valid records at all).
    let _ = fs::read(m.p("broken"));
    fs::remove_file(m.p("broken")).unwrap();
    assert!(names(&m.backing).is_empty());
}

#[test]
fn plain_file_rewritten_becomes_a_container() {
    let Some(mut m) = Mounted::with(Default::default(), |b| {
        fs::write(b.join("old.txt"), b"plain old bytes").unwrap();
        fs::write(b.join("linked"), b"two names").unwrap();
        fs::hard_link(b.join("linked"), b.join("linked2")).unwrap();
    }) else {
        return;
    };
    fs::set_permissions(m.p("old.txt"), fs::Permissions::from_mode(0o640)).unwrap();
    xattr_set(&m.p("old.txt"), "user.tag", b"t", 0).unwrap();
    // O_TRUNC rewrite (as cp does).
    let mut f = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(m.p("old.txt"))
        .unwrap();
    f.write_all(b"new content").unwrap();
    drop(f);
    let mut f = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(m.p("linked"))
        .unwrap();
    f.write_all(b"2 names").unwrap();
    drop(f);
    assert_eq!(fs::read(m.p("old.txt")).unwrap(), b"new content");
    assert_eq!(fs::read(m.p("linked2")).unwrap(), b"2 names");
    assert_eq!(fs::metadata(m.p("old.txt")).unwrap().mode() & 0o777, 0o640);
    assert_eq!(xattr_get(&m.p("old.txt"), "user.tag", 8).unwrap().1, b"t");
    assert_eq!(names(&m.mnt), vec!["linked", "linked2", "old.txt"]);
    m.unmount();
    assert_eq!(
        &fs::read(m.b("old.txt")).unwrap()[..6],
        b"\x0c\x00\x0d\x0e\x02\x00"
    );
    assert_eq!(decode_backing(&m.b("old.txt")), b"new content");
    // Hard-linked plain files stay plain (one inode, two names).
    assert_eq!(fs::read(m.b("linked")).unwrap(), b"2 names");
    assert_eq!(names(&m.backing), vec!["linked", "linked2", "old.txt"]);
}

#[test]
fn writeback_cache_mode() {
    let opts = scfs::fs::FsOptions {
        writeback_cache: true,
        ..Default::default()
    };
    let Some(mut m) = Mounted::with(opts.clone(), |_| {}) else {
        return;
    };
    let mut want = Vec::new();
    let mut f = File::create(m.p("wb")).unwrap();
    for i in 0..3000u32 {
        let piece = format!("line {i} of the writeback test\n");
        f.write_all(piece.as_bytes()).unwrap();
        want.extend_from_slice(piece.as_bytes());
    }
    drop(f);
    let mut a = OpenOptions::new().append(true).open(m.p("wb")).unwrap();
    a.write_all(b"appended").unwrap();
    want.extend_from_slice(b"appended");
    drop(a);
    // O_WRONLY partial-page writes (the kernel reads the page first).
    let w = OpenOptions::new().write(true).open(m.p("wb")).unwrap();
    w.write_all_at(b"XYZ", 5000).unwrap();
    want[5000..5003].copy_from_slice(b"XYZ");
    w.set_len(80_000).unwrap();
    want.truncate(80_000);
    drop(w);
    assert!(fs::read(m.p("wb")).unwrap() == want);
    assert_eq!(fs::metadata(m.p("wb")).unwrap().len(), want.len() as u64);
    m.remount(opts);
    assert!(fs::read(m.p("wb")).unwrap() == want);
    m.unmount();
    assert!(decode_backing(&m.b("wb")) == want);
}

#[test]
fn writes_by_others_drop_set_id_bits() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipping: needs root");
        return;
    }
    let opts = scfs::fs::FsOptions {
        allow_other: true,
        ..Default::default()
    };
    let Some(m) = Mounted::with(opts, |_| {}) else {
        return;
    };
    fs::set_permissions(&m.mnt, fs::Permissions::from_mode(0o755)).unwrap();
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
fn one_gib_sparse_file_small_updates() {
    let Some(mut m) = Mounted::new() else { return };
    let gib = 1u64 << 30;
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(m.p("huge"))
        .unwrap();
    f.write_all_at(&noise(4 << 20, 5), 0).unwrap();
    f.set_len(gib).unwrap();
    f.sync_all().unwrap();
    assert_eq!(f.metadata().unwrap().len(), gib);
    let before = fs::metadata(m.b("huge")).unwrap().len();
    // One 4 KiB write in the middle, fsynced: O(block) bytes to BACKING.
    f.write_all_at(&[7u8; 4096], gib / 2 + 12345).unwrap();
    f.sync_data().unwrap();
    let grown = fs::metadata(m.b("huge")).unwrap().len() - before;
    assert!(grown <= 64 << 10, "one 4 KiB write added {grown} bytes");
    // And one into the data (rewrites that block only).
    let before = fs::metadata(m.b("huge")).unwrap().len();
    f.write_all_at(&[9u8; 4096], 1 << 20).unwrap();
    f.sync_data().unwrap();
    let grown = fs::metadata(m.b("huge")).unwrap().len() - before;
    assert!(grown <= 80 << 10, "one 4 KiB write added {grown} bytes");
    // Reads across the hole.
    let mut buf = vec![1u8; 8192];
    f.read_exact_at(&mut buf, gib / 2 + 8192).unwrap();
    assert!(buf[..4153].iter().all(|&b| b == 0) && buf[4153..].iter().all(|&b| b == 7));
    f.read_exact_at(&mut buf, gib - 8192).unwrap();
    assert!(buf.iter().all(|&b| b == 0));
    drop(f);
    assert!(fs::metadata(m.p("huge")).unwrap().blocks() * 512 < 16 << 20);
    m.unmount();
    assert!(fs::metadata(m.b("huge")).unwrap().len() < 6 << 20);
}

#[test]
fn rewriting_a_file_reclaims_its_old_space() {
    let Some(m) = Mounted::new() else { return };
    let data = noise(3 << 20, 8);
    fs::write(m.p("r"), &data).unwrap();
    let first = fs::metadata(m.b("r")).unwrap().len();
    for seed in 0..3 {
        // O_TRUNC rewrites, as cp and editors do.
        fs::write(m.p("r"), noise(3 << 20, 20 + seed)).unwrap();
    }
    let f = OpenOptions::new().write(true).open(m.p("r")).unwrap();
    f.set_len(0).unwrap(); // ftruncate
    f.write_all_at(&data, 0).unwrap();
    drop(f);
    let last = fs::metadata(m.b("r")).unwrap().len();
    assert!(
        last < first + first / 10,
        "first {first}, after rewrites {last}"
    );
    assert!(fs::read(m.p("r")).unwrap() == data);
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
