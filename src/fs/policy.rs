//! The compression policy of files and directories (issue 13, item 5):
//! the xattr `user.scfs.compress` (`none`, `huffman`, `fast`, `default` or
//! `max`), kept on the backing object like any user xattr. A file or
//! directory created in a directory that has it gets a copy at creation;
//! a file's own value chooses how its blocks are coded when written, and
//! without one the mount's `compress=` option does. Setting or removing it
//! on an open file applies to that file's next writes at once; blocks
//! already stored keep their coding until they are written again.

use std::ffi::CStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::sync::Arc;

use super::attr::err;
use super::inode::Inode;
use super::sys;
use super::Inner;
use crate::file::{Compression, Content};

/// The policy xattr.
pub const POLICY: &CStr = c"user.scfs.compress";

/// Parses a policy value (a trailing newline, as `setfattr` or `echo` may
/// leave, is allowed); EINVAL for anything else, so a misspelt level is
/// refused at once instead of being ignored later.
pub fn parse(value: &[u8]) -> io::Result<Compression> {
    let v = value.strip_suffix(b"\n").unwrap_or(value);
    std::str::from_utf8(v)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| err(libc::EINVAL))
}

/// The policy stored on the backing object `fd` (a regular file or a
/// directory), if it has a valid one. Absent, unreadable or invalid values
/// (set behind the mount's back) count as no policy.
pub(super) fn read(fd: BorrowedFd<'_>) -> Option<Compression> {
    let path = sys::proc_path(fd.as_raw_fd());
    let (n, v) = sys::getxattr(&path, POLICY, 16).ok()?;
    if n > v.len() {
        return None;
    }
    parse(&v).ok()
}

/// Stores policy `c` on the new backing object `fd` (a `what`: file or
/// directory); best effort, as the object works without it.
fn write(fd: RawFd, c: Compression, what: &str) {
    let path = sys::proc_path(fd);
    if let Err(e) = sys::setxattr(&path, POLICY, c.name().as_bytes(), 0) {
        log::debug!("cannot copy the compression policy to a new {what}: {e}");
    }
}

impl Inner {
    /// How a file whose backing descriptor is `fd` is coded: its own
    /// policy, else the mount's.
    pub(crate) fn compression_of(&self, fd: BorrowedFd<'_>) -> Compression {
        read(fd).unwrap_or(self.opts.compression)
    }

    /// A new file in `parent`: copies the parent's policy onto it (best
    /// effort: without it the file follows the mount's option) and codes
    /// its blocks by it.
    pub(crate) fn adopt_policy_file(&self, parent: &Inode, content: &Content) {
        let inherited = self.dir_policy(parent);
        if let (Some(c), Content::Logical(l)) = (inherited, content) {
            l.with_backing(|f: &File| write(f.as_raw_fd(), c, "file"));
        }
        content.set_compression(inherited.unwrap_or(self.opts.compression));
    }

    /// A new directory `dir` in `parent`: copies the parent's policy onto it.
    pub(crate) fn adopt_policy_dir(&self, parent: &Inode, dir: &Inode) {
        let Some(c) = self.dir_policy(parent) else {
            return;
        };
        if let Ok(fd) = dir.fd() {
            write(fd.raw(), c, "directory");
        }
    }

    /// After the policy xattr of `ino` was set (`Some`) or removed
    /// (`None`): an open file codes its next writes by it at once.
    /// A closed plain file given a level other than `none` becomes a
    /// container coded at it now (`scfs convert` through a mount); an open
    /// one, or one with several names, stays plain (the caller sees it is
    /// still plain in BACKING).
    pub(crate) fn policy_changed(&self, ino: u64, now: Option<Compression>) {
        let Ok(inode) = self.inodes.get(ino) else {
            return;
        };
        let content = inode.state.lock().open.content.clone();
        if let Some(c) = content {
            c.set_compression(now.unwrap_or(self.opts.compression));
            return;
        }
        if let Some(level) = now.filter(|c| *c != Compression::None) {
            if inode.is_reg() && !self.opts.read_only {
                self.convert_closed_plain(&inode, level);
            }
        }
    }

    /// A closed plain file becomes a container coded at `level` (failures
    /// are logged and leave it plain).
    pub(crate) fn convert_closed_plain(&self, inode: &Arc<Inode>, level: Compression) {
        self.files
            .convert_if_closed_plain(&self.node(inode), || self.convert_plain(inode, level));
    }
}
