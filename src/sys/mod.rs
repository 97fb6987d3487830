//! The crate's one layer of OS calls, at the bottom (every other layer may
//! use it; it uses none of them). Safe wrappers over the system calls
//! neither std nor nix wrap safely: here the `*at` calls on descriptors and
//! names; in `xattr` the extended attributes, in `handle` file handles, in
//! `process` the process and thread settings (limits, ids, priority,
//! randomness) and write-out hints. Where nix has a safe wrapper it is used
//! instead of an `unsafe` call of our own.
//!
//! Every `unsafe` block passes only NUL-terminated C strings that outlive
//! the call, buffers whose length is passed alongside, and file descriptors
//! borrowed for the call, so the kernel never reads or writes memory it
//! does not own; each says so for its call. Errors come back as
//! `io::Error` carrying the errno.

mod handle;
mod process;
mod xattr;

pub use handle::{name_to_handle, open_by_handle};
pub use process::{
    default_sigpipe, euid, is_root, lower_thread_priority, nofile_limit, process_umask,
    raise_nofile_limit, random_u64, stderr_is_terminal, sync_file_range_write,
};
pub use xattr::{fgetxattr, fsetxattr, getxattr, listxattr, removexattr, setxattr};

use std::ffi::{CStr, CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

/// Converts a name or path to a C string (EINVAL if it holds a NUL byte).
pub fn cstr(s: &OsStr) -> io::Result<CString> {
    CString::new(s.as_bytes()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// `/proc/self/fd/N`: the path through which an O_PATH descriptor is
/// reopened or used by path-only calls (chmod, xattrs, truncate, utimensat).
pub fn proc_path(fd: RawFd) -> CString {
    // A decimal number never contains NUL.
    CString::new(format!("/proc/self/fd/{fd}")).unwrap_or_default()
}

/// The supplementary groups of thread `pid` (the `Groups:` line of
/// /proc/<pid>/status), or None when it cannot be read (pid 0, gone).
pub fn proc_groups(pid: u32) -> Option<Vec<u32>> {
    if pid == 0 {
        return None;
    }
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find_map(|l| l.strip_prefix("Groups:"))?;
    line.split_whitespace().map(|g| g.parse().ok()).collect()
}

pub(crate) fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

pub(crate) fn check_size(ret: libc::ssize_t) -> io::Result<usize> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as usize)
    }
}

const EMPTY: &CStr = c"";

/// `openat(dirfd, name, flags | O_CLOEXEC, mode)`.
pub fn openat(dir: BorrowedFd<'_>, name: &CStr, flags: i32, mode: u32) -> io::Result<OwnedFd> {
    // SAFETY: `name` is a valid C string; `dir` is an open descriptor.
    let fd = check(unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            flags | libc::O_CLOEXEC,
            mode as libc::c_uint,
        )
    })?;
    // SAFETY: the kernel just returned this new descriptor; we own it alone.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `open(path, flags | O_CLOEXEC)` for a /proc/self/fd path.
pub fn open_path(path: &CStr, flags: i32) -> io::Result<OwnedFd> {
    // SAFETY: valid C string; the result is checked.
    let fd = check(unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC, 0) })?;
    // SAFETY: a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `fstatat(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)`: stat of the object
/// an (O_PATH) descriptor refers to.
pub fn fstat(fd: BorrowedFd<'_>) -> io::Result<libc::stat> {
    fstatat(fd, EMPTY, libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW)
}

/// Reads one byte of `file` with O_NOATIME cleared for the moment, so the
/// backing filesystem marks it accessed by its own rules (relatime), as a
/// read would, without touching ctime (as setting atime explicitly would).
/// Our descriptors are opened O_NOATIME so that our own reads (headers,
/// read-ahead, stat) never count as accesses.
pub fn read_marking_access(file: &std::fs::File) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    let fd = file.as_raw_fd();
    // SAFETY: F_GETFL on a descriptor `file` keeps open; no memory passed.
    let flags = check(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    let noatime = flags & libc::O_NOATIME != 0;
    if noatime {
        // SAFETY: as above; F_SETFL takes an integer argument.
        check(unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NOATIME) })?;
    }
    let r = file.read_at(&mut [0u8; 1], 0);
    if noatime {
        // SAFETY: as above.
        check(unsafe { libc::fcntl(fd, libc::F_SETFL, flags) })?;
    }
    r.map(|_| ())
}

/// Whether a read now would update an atime under relatime rules: the
/// atime is not after the mtime or ctime, or is at least a day old.
pub fn relatime_due(st: &libc::stat, now_sec: i64) -> bool {
    let at = (st.st_atime, st.st_atime_nsec);
    at <= (st.st_mtime, st.st_mtime_nsec)
        || at <= (st.st_ctime, st.st_ctime_nsec)
        || now_sec.saturating_sub(st.st_atime) >= 24 * 3600
}

/// `fstatat(dir, name, flags)`.
pub fn fstatat(dir: BorrowedFd<'_>, name: &CStr, flags: i32) -> io::Result<libc::stat> {
    // SAFETY: an all-zero `stat` is a valid value of this plain C struct.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a live, writable stat buffer; `name` a valid C string.
    check(unsafe { libc::fstatat(dir.as_raw_fd(), name.as_ptr(), &mut st, flags) })?;
    Ok(st)
}

/// `fstatvfs(fd)` (allowed on O_PATH descriptors).
pub fn fstatvfs(fd: BorrowedFd<'_>) -> io::Result<libc::statvfs> {
    // SAFETY: an all-zero `statvfs` is a valid value of this plain C struct.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a live, writable buffer of the right type.
    check(unsafe { libc::fstatvfs(fd.as_raw_fd(), &mut st) })?;
    Ok(st)
}

pub fn mkdirat(dir: BorrowedFd<'_>, name: &CStr, mode: u32) -> io::Result<()> {
    // SAFETY: valid C string and descriptor.
    check(unsafe { libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), mode as libc::mode_t) })?;
    Ok(())
}

pub fn mknodat(dir: BorrowedFd<'_>, name: &CStr, mode: u32, dev: libc::dev_t) -> io::Result<()> {
    // SAFETY: valid C string and descriptor.
    check(unsafe { libc::mknodat(dir.as_raw_fd(), name.as_ptr(), mode as libc::mode_t, dev) })?;
    Ok(())
}

pub fn unlinkat(dir: BorrowedFd<'_>, name: &CStr, flags: i32) -> io::Result<()> {
    // SAFETY: valid C string and descriptor.
    check(unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), flags) })?;
    Ok(())
}

pub fn symlinkat(target: &CStr, dir: BorrowedFd<'_>, name: &CStr) -> io::Result<()> {
    // SAFETY: valid C strings and descriptor.
    check(unsafe { libc::symlinkat(target.as_ptr(), dir.as_raw_fd(), name.as_ptr()) })?;
    Ok(())
}

/// Moves `old` to `new` in `dir` unless `new` exists (EEXIST then):
/// `renameat2(RENAME_NOREPLACE)`, or where the filesystem does not support
/// that flag (EINVAL: ceph-fuse, NFS) a hard link to `new` (which fails on
/// an existing name just as atomically) and the unlink of `old`.
pub fn rename_noreplace(dir: BorrowedFd<'_>, old: &CStr, new: &CStr) -> io::Result<()> {
    match renameat2(dir, old, dir, new, libc::RENAME_NOREPLACE) {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            linkat(dir.as_raw_fd(), old, dir, new, 0)?;
            unlinkat(dir, old, 0)
        }
        r => r,
    }
}

/// `renameat2(olddir, old, newdir, new, flags)` (raw syscall: works with
/// any libc).
pub fn renameat2(
    olddir: BorrowedFd<'_>,
    old: &CStr,
    newdir: BorrowedFd<'_>,
    new: &CStr,
    flags: u32,
) -> io::Result<()> {
    // SAFETY: valid C strings and descriptors; renameat2 takes exactly these
    // five arguments.
    let r = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            olddir.as_raw_fd() as libc::c_long,
            old.as_ptr(),
            newdir.as_raw_fd() as libc::c_long,
            new.as_ptr(),
            flags as libc::c_long,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Hard-links the object behind an O_PATH descriptor as `newdir/name`.
pub fn link_fd(fd: BorrowedFd<'_>, newdir: BorrowedFd<'_>, name: &CStr) -> io::Result<()> {
    match linkat(fd.as_raw_fd(), EMPTY, newdir, name, libc::AT_EMPTY_PATH) {
        // AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH: fall back on /proc.
        Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT) | Some(libc::EPERM)) => {
            linkat_follow(&proc_path(fd.as_raw_fd()), newdir, name)
        }
        r => r,
    }
}

/// `linkat(olddir, old, newdir, new, flags)`; `olddir` is raw so that it
/// may be `AT_FDCWD`.
fn linkat(
    olddir: RawFd,
    old: &CStr,
    newdir: BorrowedFd<'_>,
    new: &CStr,
    flags: libc::c_int,
) -> io::Result<()> {
    // SAFETY: valid C strings; `olddir` is AT_FDCWD or a descriptor the
    // caller borrows, `newdir` a borrowed descriptor; linkat only reads them.
    check(unsafe {
        libc::linkat(
            olddir,
            old.as_ptr(),
            newdir.as_raw_fd(),
            new.as_ptr(),
            flags,
        )
    })?;
    Ok(())
}

/// `linkat(AT_FDCWD, path, newdir, name, AT_SYMLINK_FOLLOW)`: names the
/// file behind a /proc/self/fd path (an O_TMPFILE file, for instance).
pub fn linkat_follow(path: &CStr, newdir: BorrowedFd<'_>, name: &CStr) -> io::Result<()> {
    linkat(libc::AT_FDCWD, path, newdir, name, libc::AT_SYMLINK_FOLLOW)
}

/// Target of the symlink an O_PATH descriptor refers to.
pub fn readlink_fd(fd: BorrowedFd<'_>) -> io::Result<OsString> {
    readlinkat(fd, EMPTY)
}

/// `readlinkat(dir, name)`, growing the buffer as needed.
pub fn readlinkat(dir: BorrowedFd<'_>, name: &CStr) -> io::Result<OsString> {
    let mut buf = vec![0u8; 256];
    loop {
        // SAFETY: `buf` is writable for `buf.len()` bytes.
        let n = check_size(unsafe {
            libc::readlinkat(
                dir.as_raw_fd(),
                name.as_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        })?;
        if n < buf.len() {
            buf.truncate(n);
            return Ok(OsString::from_vec(buf));
        }
        if buf.len() >= 1 << 16 {
            return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
        }
        buf.resize(buf.len() * 4, 0);
    }
}

/// `fchownat(fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW)`;
/// `u32::MAX` leaves a field unchanged.
pub fn fchown(fd: BorrowedFd<'_>, uid: u32, gid: u32) -> io::Result<()> {
    // SAFETY: valid C string and descriptor.
    check(unsafe {
        libc::fchownat(
            fd.as_raw_fd(),
            EMPTY.as_ptr(),
            uid,
            gid,
            libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW,
        )
    })?;
    Ok(())
}

/// chmod of a path (used with /proc/self/fd/N).
pub fn chmod_path(path: &CStr, mode: u32) -> io::Result<()> {
    // SAFETY: valid C string.
    check(unsafe { libc::chmod(path.as_ptr(), mode as libc::mode_t) })?;
    Ok(())
}

/// fchmodat2 (Linux 6.6+): the same number on every architecture.
const SYS_FCHMODAT2: libc::c_long = 452;

/// Set once fchmodat2 turned out to be missing (ENOSYS) or to refuse
/// AT_EMPTY_PATH (EINVAL): from then on `fchmod_fd` goes through /proc.
static NO_FCHMODAT2: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// chmod of the object a descriptor (also O_PATH) refers to, never
/// following a symlink: `fchmodat2(fd, "", mode, AT_EMPTY_PATH)`, which
/// saves the /proc/self/fd/N path walk of `chmod_path`; falls back to that
/// on kernels without fchmodat2.
pub fn fchmod_fd(fd: BorrowedFd<'_>, mode: u32) -> io::Result<()> {
    use std::sync::atomic::Ordering;
    if !NO_FCHMODAT2.load(Ordering::Relaxed) {
        // SAFETY: integer arguments, a borrowed descriptor and a static
        // NUL-terminated empty string; the kernel writes no memory.
        let r = unsafe {
            libc::syscall(
                SYS_FCHMODAT2,
                fd.as_raw_fd(),
                EMPTY.as_ptr(),
                mode as libc::mode_t,
                libc::AT_EMPTY_PATH,
            )
        };
        if r == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::ENOSYS) | Some(libc::EINVAL) => NO_FCHMODAT2.store(true, Ordering::Relaxed),
            _ => return Err(e),
        }
    }
    chmod_path(&proc_path(fd.as_raw_fd()), mode)
}

/// `utimensat(dir, name, times, flags)`.
pub fn utimensat(
    dir: RawFd,
    name: &CStr,
    times: &[libc::timespec; 2],
    flags: i32,
) -> io::Result<()> {
    // SAFETY: `times` points to two timespecs as the call requires.
    check(unsafe { libc::utimensat(dir, name.as_ptr(), times.as_ptr(), flags) })?;
    Ok(())
}

/// `fallocate(fd, mode, offset, len)`.
pub fn fallocate(fd: BorrowedFd<'_>, mode: i32, offset: u64, len: u64) -> io::Result<()> {
    let (Ok(off), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return Err(io::Error::from_raw_os_error(libc::EFBIG));
    };
    // SAFETY: plain integer arguments on a borrowed descriptor.
    check(unsafe { libc::fallocate(fd.as_raw_fd(), mode, off, len) })?;
    Ok(())
}

/// `lseek(fd, offset, whence)`.
pub fn lseek(fd: BorrowedFd<'_>, offset: i64, whence: i32) -> io::Result<u64> {
    // SAFETY: plain integer arguments on a borrowed descriptor.
    let r = unsafe { libc::lseek(fd.as_raw_fd(), offset, whence) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(r as u64)
}

/// `(major, minor)` -> the kernel's 32-bit "new" device encoding used by FUSE.
pub fn encode_dev(rdev: libc::dev_t) -> u32 {
    let major = libc::major(rdev);
    let minor = libc::minor(rdev);
    (minor & 0xff) | (major << 8) | ((minor & !0xff) << 12)
}

/// FUSE's 32-bit device number -> `dev_t`.
pub fn decode_dev(rdev: u32) -> libc::dev_t {
    let major = (rdev & 0xfff00) >> 8;
    let minor = (rdev & 0xff) | ((rdev >> 12) & 0xfff00);
    libc::makedev(major, minor)
}

/// `fchownat(dir, name, uid, gid, AT_SYMLINK_NOFOLLOW)`; `u32::MAX` leaves
/// a field unchanged.
pub fn fchownat(dir: BorrowedFd<'_>, name: &CStr, uid: u32, gid: u32) -> io::Result<()> {
    // SAFETY: valid C string and descriptor.
    check(unsafe {
        libc::fchownat(
            dir.as_raw_fd(),
            name.as_ptr(),
            uid,
            gid,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })?;
    Ok(())
}

/// `fchmodat(dir, name, mode, 0)` (never used on symlinks).
pub fn fchmodat(dir: BorrowedFd<'_>, name: &CStr, mode: u32) -> io::Result<()> {
    // SAFETY: valid C string and descriptor.
    check(unsafe { libc::fchmodat(dir.as_raw_fd(), name.as_ptr(), mode as libc::mode_t, 0) })?;
    Ok(())
}
