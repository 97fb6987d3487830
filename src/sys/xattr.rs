//! Extended attributes by path (`/proc/self/fd/N` paths of O_PATH
//! descriptors): get, list, set, remove; and get on an open descriptor.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use super::{check, check_size};

/// Runs a sized xattr call (`call(ptr, len)`) into a buffer of `size`
/// bytes; `size == 0` probes (a null pointer with length 0 asks for the
/// size only). Returns (full size, bytes read).
fn sized(
    size: usize,
    call: impl FnOnce(*mut libc::c_void, usize) -> libc::ssize_t,
) -> io::Result<(usize, Vec<u8>)> {
    let mut buf = vec![0u8; size];
    let ptr = if size == 0 {
        std::ptr::null_mut()
    } else {
        buf.as_mut_ptr().cast()
    };
    let n = check_size(call(ptr, buf.len()))?;
    buf.truncate(n.min(size));
    Ok((n, buf))
}

/// `getxattr(path, name)` into a buffer of `size` bytes; `size == 0`
/// probes. Returns (value size, value bytes read).
pub fn getxattr(path: &CStr, name: &CStr, size: usize) -> io::Result<(usize, Vec<u8>)> {
    // SAFETY: `sized` passes a pointer writable for `len` bytes (or null
    // with length 0); the strings are NUL-terminated and live.
    sized(size, |ptr, len| unsafe {
        libc::getxattr(path.as_ptr(), name.as_ptr(), ptr, len)
    })
}

/// `fgetxattr(fd, name)` into a buffer of `size` bytes (an open regular
/// file or directory, not an O_PATH descriptor); `size == 0` probes.
pub fn fgetxattr(fd: BorrowedFd<'_>, name: &CStr, size: usize) -> io::Result<(usize, Vec<u8>)> {
    // SAFETY: as for getxattr; the descriptor is borrowed, so open for
    // the whole call.
    sized(size, |ptr, len| unsafe {
        libc::fgetxattr(fd.as_raw_fd(), name.as_ptr(), ptr, len)
    })
}

/// `listxattr(path)` into a buffer of `size` bytes; `size == 0` probes.
pub fn listxattr(path: &CStr, size: usize) -> io::Result<(usize, Vec<u8>)> {
    // SAFETY: as for getxattr.
    sized(size, |ptr, len| unsafe {
        libc::listxattr(path.as_ptr(), ptr.cast(), len)
    })
}

pub fn setxattr(path: &CStr, name: &CStr, value: &[u8], flags: i32) -> io::Result<()> {
    // SAFETY: `value` is readable for its length.
    check(unsafe {
        libc::setxattr(
            path.as_ptr(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            flags,
        )
    })?;
    Ok(())
}

/// `fsetxattr(fd, name)` on an open regular file or directory (not an
/// O_PATH descriptor).
pub fn fsetxattr(fd: BorrowedFd<'_>, name: &CStr, value: &[u8], flags: i32) -> io::Result<()> {
    // SAFETY: `value` is readable for its length; the string is
    // NUL-terminated and the descriptor borrowed (open) for the call.
    check(unsafe {
        libc::fsetxattr(
            fd.as_raw_fd(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            flags,
        )
    })?;
    Ok(())
}

pub fn removexattr(path: &CStr, name: &CStr) -> io::Result<()> {
    // SAFETY: valid C strings.
    check(unsafe { libc::removexattr(path.as_ptr(), name.as_ptr()) })?;
    Ok(())
}
