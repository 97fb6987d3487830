//! Extended attributes by path (`/proc/self/fd/N` paths of O_PATH
//! descriptors): get, list, set, remove.

use std::ffi::CStr;
use std::io;

use super::{check, check_size};

/// `getxattr(path, name)` into a buffer of `size` bytes; `size == 0`
/// probes. Returns (value size, value bytes read).
pub fn getxattr(path: &CStr, name: &CStr, size: usize) -> io::Result<(usize, Vec<u8>)> {
    let mut buf = vec![0u8; size];
    // SAFETY: `buf` is writable for `buf.len()` bytes (a null pointer with
    // length 0 asks for the size only).
    let n = check_size(unsafe {
        libc::getxattr(
            path.as_ptr(),
            name.as_ptr(),
            if size == 0 {
                std::ptr::null_mut()
            } else {
                buf.as_mut_ptr().cast()
            },
            buf.len(),
        )
    })?;
    buf.truncate(n.min(size));
    Ok((n, buf))
}

/// `listxattr(path)` into a buffer of `size` bytes; `size == 0` probes.
pub fn listxattr(path: &CStr, size: usize) -> io::Result<(usize, Vec<u8>)> {
    let mut buf = vec![0u8; size];
    // SAFETY: as for getxattr.
    let n = check_size(unsafe {
        libc::listxattr(
            path.as_ptr(),
            if size == 0 {
                std::ptr::null_mut()
            } else {
                buf.as_mut_ptr().cast()
            },
            buf.len(),
        )
    })?;
    buf.truncate(n.min(size));
    Ok((n, buf))
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

pub fn removexattr(path: &CStr, name: &CStr) -> io::Result<()> {
    // SAFETY: valid C strings.
    check(unsafe { libc::removexattr(path.as_ptr(), name.as_ptr()) })?;
    Ok(())
}
