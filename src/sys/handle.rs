//! File handles (`name_to_handle_at`, `open_by_handle_at`): naming an
//! object so it can be reopened later without holding a descriptor.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use super::check;

/// Words of a `struct file_handle` buffer: its two 4-byte fields and
/// MAX_HANDLE_SZ (128) bytes of handle.
const HANDLE_WORDS: usize = 2 + 128 / 4;

/// A handle naming the object `fd` refers to (`name_to_handle_at`), to
/// reopen it later without a descriptor held meanwhile ([`open_by_handle`]).
/// The words are the kernel's `struct file_handle`, trimmed to its length.
pub fn name_to_handle(fd: BorrowedFd<'_>) -> io::Result<Box<[u32]>> {
    let mut buf = [0u32; HANDLE_WORDS];
    buf[0] = 128; // handle_bytes: the room after the two header fields
    let mut mount_id: libc::c_int = 0;
    // SAFETY: `buf` is a live, 4-byte aligned buffer of 8 + 128 bytes, a
    // `struct file_handle` (alignment 4) whose handle_bytes says 128 bytes
    // follow; the kernel writes at most that. `mount_id` is a live local;
    // the path is a static empty C string (AT_EMPTY_PATH: `fd` itself).
    let r = unsafe {
        libc::name_to_handle_at(
            fd.as_raw_fd(),
            c"".as_ptr(),
            buf.as_mut_ptr().cast(),
            &mut mount_id,
            libc::AT_EMPTY_PATH,
        )
    };
    check(r)?;
    let words = 2 + (buf[0] as usize).min(128).div_ceil(4);
    Ok(buf[..words].into())
}

/// Opens (`flags`, e.g. O_PATH) the object a [`name_to_handle`] handle
/// names, on the filesystem of `mount` (needs CAP_DAC_READ_SEARCH; ESTALE
/// once the object is gone).
pub fn open_by_handle(mount: BorrowedFd<'_>, handle: &[u32], flags: i32) -> io::Result<OwnedFd> {
    let mut buf = [0u32; HANDLE_WORDS];
    let n = handle.len().min(HANDLE_WORDS);
    buf[..n].copy_from_slice(&handle[..n]);
    buf[0] = buf[0].min(128);
    // SAFETY: `buf` is a live, aligned `struct file_handle` of 8 + 128
    // bytes whose handle_bytes is at most 128; the kernel reads it only.
    let fd = unsafe { libc::open_by_handle_at(mount.as_raw_fd(), buf.as_mut_ptr().cast(), flags) };
    check(fd)?;
    // SAFETY: `fd` was just returned by the kernel and is owned by no one else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
