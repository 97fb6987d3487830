//! The namespace part of compaction (the open-file table, `file::OpenFiles`,
//! decides when; `file::Content::compact` writes the bytes) and of the
//! conversion of plain files into containers: when a container has
//! accumulated enough dead records, a compacted copy is written into a
//! temporary file in the same
//! backing directory (with the same owner, mode, xattrs and times) and
//! renamed over the current name; the inode's O_PATH descriptor then
//! follows the new file. Files with several names (hard links) or none
//! (unlinked while open) are left alone. Namespace changes are excluded
//! meanwhile (the `ns` lock), so the name found cannot go stale. Idle
//! recompression (`recompress`) shares the temporary names, the metadata
//! copy and the final rename.

use std::ffi::{CStr, CString, OsStr};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::inode::{Inode, Slot};
use super::sys;
use super::Inner;
use crate::file::{Compression, Content};

impl Inner {
    /// Writes a compacted copy of `content` (the open content of `inode`)
    /// and renames it over the name (`file::Node::compact`).
    pub(crate) fn compact(&self, inode: &Inode, content: &Content) -> io::Result<bool> {
        self.replace_backing(inode, true, |tmp| content.compact(tmp))
    }

    /// Rewrites an empty plain file as an empty container (a plain file
    /// truncated to zero through the mount becomes a container, atomically).
    /// Runs under the inode's state lock (`OpenFiles::convert_if_closed_plain`,
    /// which checked the shared write lock itself): no `holds_write_lock`
    /// here, which takes that lock and would wait on itself.
    pub(crate) fn convert_to_container(&self, inode: &Inode) -> io::Result<bool> {
        self.replace_backing_unchecked(inode, false, |tmp| self.files.create(tmp)?.flush())
    }

    /// Rewrites the closed plain file `inode` as a container coded at `c`
    /// with the same contents (holes stay holes), owner, mode, xattrs and
    /// times, renamed over it atomically: what `scfs convert` asks for by
    /// setting the policy xattr on a plain file through the mount.
    /// Ok(false) when the file has several names or none.
    pub(crate) fn convert_plain(&self, inode: &Inode, c: Compression) -> io::Result<bool> {
        let src = self.reopen(inode, libc::O_RDONLY)?;
        self.replace_backing(inode, true, |tmp| {
            let content = self.files.create(tmp)?;
            content.set_compression(c);
            content.copy_plain(&src, self.opts.block_size as usize)?;
            content.flush()
        })
    }

    /// The directory holding the backing object `fd` and its name there,
    /// found through the paths the kernel shows for `fd` and for BACKING's
    /// root, so it also works when BACKING is opened through a detached
    /// copy of its mount (whose paths resolve from no root of ours). None
    /// when the object has no name under BACKING's root (unlinked).
    pub(super) fn parent_of(&self, fd: BorrowedFd<'_>) -> io::Result<Option<(OwnedFd, CString)>> {
        let link = |fd: i32| std::fs::read_link(format!("/proc/self/fd/{fd}"));
        let path = link(fd.as_raw_fd())?;
        let root_inode = self.inodes.get(super::inode::ROOT)?;
        let root_fd = root_inode.fd()?;
        let root = link(root_fd.raw())?;
        let Ok(rel) = path.strip_prefix(&root) else {
            return Ok(None);
        };
        let (Some(name), dir) = (rel.file_name(), rel.parent().unwrap_or(Path::new(""))) else {
            return Ok(None);
        };
        let dir = if dir.as_os_str().is_empty() {
            CString::new(".").expect("no NUL")
        } else {
            sys::cstr(dir.as_os_str())?
        };
        let dirfd = sys::openat(
            root_fd.as_fd(),
            &dir,
            libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW,
            0,
        )?;
        Ok(Some((dirfd, sys::cstr(name)?)))
    }

    /// Replaces the backing file of `inode` (which must have exactly one
    /// name) by a new file in the same directory: same owner, mode and
    /// xattrs (and times if `keep_times`), contents written by `fill`,
    /// renamed over the name; the inode then follows the new file.
    /// Ok(false) when the file has several names or none.
    fn replace_backing(
        &self,
        inode: &Inode,
        keep_times: bool,
        fill: impl FnOnce(File) -> io::Result<()>,
    ) -> io::Result<bool> {
        if !self.holds_write_lock(inode) {
            // Shared mode: only the host holding the file's write lock
            // may replace it.
            return Ok(false);
        }
        self.replace_backing_unchecked(inode, keep_times, fill)
    }

    /// `replace_backing` for a caller that checked the shared write lock
    /// itself (and may hold the inode's state lock). The new file is
    /// filled first; its owner, mode, xattrs and times are copied last,
    /// right before the rename, under the file's metadata lock on a shared
    /// mount (`replace_meta_lock`), so a change of them on this host or
    /// another one is either copied or finds the old file replaced.
    fn replace_backing_unchecked(
        &self,
        inode: &Inode,
        keep_times: bool,
        fill: impl FnOnce(File) -> io::Result<()>,
    ) -> io::Result<bool> {
        let _ns = self.ns.write();
        let (first, dirfd, name) = {
            let fd = inode.fd()?;
            let st = sys::fstat(fd.as_fd())?;
            if st.st_nlink != 1 {
                return Ok(false);
            }
            let Some((dirfd, name)) = self.parent_of(fd.as_fd())? else {
                return Ok(false);
            };
            (st, dirfd, name)
        };
        // The name must still be this very file.
        if !names_it(dirfd.as_fd(), &name, &first)? {
            return Ok(false);
        }
        let tmpname = temp_name(inode.ino);
        let tmp = sys::openat(
            dirfd.as_fd(),
            &tmpname,
            libc::O_CREAT | libc::O_EXCL | libc::O_RDWR | libc::O_NOFOLLOW,
            0o600,
        )?;
        let tmp = File::from(tmp);
        let done = (|| {
            fill(tmp.try_clone()?)?;
            let Some(_meta) = self.replace_meta_lock(first.st_ino)? else {
                return Ok(false);
            };
            let mut fd = inode.fd_mut()?;
            let st = sys::fstat(fd.as_fd())?;
            if (st.st_dev, st.st_ino) != (first.st_dev, first.st_ino)
                || st.st_nlink != 1
                || !names_it(dirfd.as_fd(), &name, &st)?
            {
                return Ok(false);
            }
            copy_metadata(fd.as_fd(), &tmp, &st)?;
            if keep_times {
                set_times(&tmp, &st)?;
            }
            self.rename_over(inode, &mut fd, dirfd.as_fd(), &tmpname, &name)?;
            Ok(true)
        })();
        if !matches!(done, Ok(true)) {
            let _ = sys::unlinkat(dirfd.as_fd(), &tmpname, 0);
            return done;
        }
        // Make the rename durable.
        let d = sys::openat(dirfd.as_fd(), c".", libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
        File::from(d).sync_all()?;
        Ok(true)
    }

    /// `-o shared`: the metadata lock of backing inode `ino` for writing,
    /// held by a replacement of the file from its copy of the metadata to
    /// its rename (`file::metalock::MetaLocks`, fs/meta.rs `meta_change`).
    /// None when changes of other hosts kept it for [`REPLACE_META_WAIT`]
    /// (the replacement is skipped and tried again later); a guard that
    /// holds nothing on a single-host mount, where this daemon's own
    /// changes wait for the inode's descriptor lock instead.
    pub(super) fn replace_meta_lock(
        &self,
        ino: u64,
    ) -> io::Result<Option<crate::file::metalock::MetaGuard<'_>>> {
        if !self.opts.shared {
            return Ok(Some(self.meta.unguarded()));
        }
        match self.meta.lock(ino, true, REPLACE_META_WAIT) {
            Ok(g) => Ok(Some(g)),
            Err(e) if e.raw_os_error() == Some(crate::file::lock::BUSY_ERRNO) => {
                log::debug!("backing inode {ino}: metadata busy, not replaced now");
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

/// How long a replacement of a file waits for metadata changes in
/// progress (each holds the lock for a few system calls) before it gives
/// up for now.
const REPLACE_META_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Whether `name` in `dir` is the object `st` describes.
fn names_it(dir: BorrowedFd<'_>, name: &CStr, st: &libc::stat) -> io::Result<bool> {
    let cur = sys::fstatat(dir, name, libc::AT_SYMLINK_NOFOLLOW)?;
    Ok((cur.st_dev, cur.st_ino) == (st.st_dev, st.st_ino))
}

impl Inner {
    /// Renames the finished file `tmpname` in `dirfd` over `name`, the one
    /// name of `inode`, whose descriptor slot `fd` the caller holds
    /// exclusively (under `ns`); the inode then follows the new file.
    pub(super) fn rename_over(
        &self,
        inode: &Inode,
        fd: &mut Slot,
        dirfd: BorrowedFd<'_>,
        tmpname: &CStr,
        name: &CStr,
    ) -> io::Result<()> {
        // Lookups that find the new file once renamed must find this
        // inode, never make a second one (two contents on one file).
        let newfd = sys::openat(dirfd, tmpname, libc::O_PATH | libc::O_NOFOLLOW, 0)?;
        self.inodes
            .rekey_begin(inode.ino, &sys::fstat(newfd.as_fd())?);
        let r = sys::renameat2(dirfd, tmpname, dirfd, name, 0);
        self.inodes.rekey_end(inode.ino, r.is_ok());
        r?;
        fd.set(newfd);
        Ok(())
    }

    /// Removes temporary files left in `dir` by a compaction, conversion or
    /// recompression that a crash interrupted (the old file is intact
    /// beside them). Only when none is running: compaction and conversion
    /// hold `ns` exclusively, the one recompression in flight names its
    /// file (`is_in_flight`), and one daemon serves a BACKING at a time.
    pub(crate) fn remove_stale_temps(&self, dir: &Inode, names: &[std::ffi::OsString]) {
        if self.opts.read_only {
            return;
        }
        let Some(_ns) = self.ns.try_write() else {
            return;
        };
        let Ok(fd) = dir.fd() else { return };
        for n in names {
            if self.recompress.is_in_flight(n) {
                continue;
            }
            if let Ok(c) = sys::cstr(n) {
                if self.opts.shared && !old_enough(fd.as_fd(), &c) {
                    // Perhaps another host's compaction in progress.
                    continue;
                }
                match sys::unlinkat(fd.as_fd(), &c, 0) {
                    Ok(()) => log::info!("removed stale temporary file {n:?}"),
                    Err(e) => log::warn!("cannot remove stale temporary file {n:?}: {e}"),
                }
            }
        }
    }
}

/// How old a temporary file must be before a shared mount's listing
/// removes it as stale: another host may be writing it (a compaction of a
/// large file at a slow disk's speed takes well under this).
pub const SHARED_STALE_AGE: std::time::Duration = std::time::Duration::from_secs(600);

/// Whether the temporary file `name` in `dir` was last changed more than
/// [`SHARED_STALE_AGE`] ago (false when it cannot be told).
fn old_enough(dir: BorrowedFd<'_>, name: &CStr) -> bool {
    let Ok(st) = sys::fstatat(dir, name, libc::AT_SYMLINK_NOFOLLOW) else {
        return false;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    now - st.st_mtime.max(st.st_ctime) > SHARED_STALE_AGE.as_secs() as i64
}

/// Prefix of the temporary files of compaction and conversion (hidden
/// from listings).
pub const TEMP_PREFIX: &str = ".scfs-compact.";

pub(super) fn temp_name(ino: u64) -> CString {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    CString::new(format!("{TEMP_PREFIX}{ino}.{nanos}")).unwrap_or_default()
}

/// Owner, mode and xattrs of the old file onto the new one. The new file
/// got the directory's default ACL, if any, as its access ACL: it keeps
/// only the old file's (an ACL the old file did not have would grant or
/// deny what its owner never set).
pub(crate) fn copy_metadata(old: BorrowedFd<'_>, new: &File, st: &libc::stat) -> io::Result<()> {
    if sys::is_root() {
        sys::fchown(new.as_fd(), st.st_uid, st.st_gid)?;
    }
    let newpath = sys::proc_path(new.as_raw_fd());
    let oldpath = sys::proc_path(old.as_raw_fd());
    let (n, _) = sys::listxattr(&oldpath, 0)?;
    let (_, list) = if n == 0 {
        (0, Vec::new())
    } else {
        sys::listxattr(&oldpath, n + 256)?
    };
    let acl = super::xattr::ACL_ACCESS.to_bytes();
    if !list.split(|&b| b == 0).any(|x| x == acl) {
        match sys::removexattr(&newpath, super::xattr::ACL_ACCESS) {
            Err(e) if !matches!(e.raw_os_error(), Some(libc::ENODATA | libc::EOPNOTSUPP)) => {
                return Err(e)
            }
            _ => {}
        }
    }
    // After the ACL is settled (removing one leaves the mode as it is).
    sys::chmod_path(&newpath, st.st_mode & 0o7777)?;
    for xname in list.split(|&b| b == 0).filter(|s| !s.is_empty()) {
        let cname = sys::cstr(OsStr::from_bytes(xname))?;
        let (len, _) = sys::getxattr(&oldpath, &cname, 0)?;
        let (_, value) = sys::getxattr(&oldpath, &cname, len)?;
        if let Err(e) = sys::setxattr(&newpath, &cname, &value, 0) {
            if xname.starts_with(b"security.") {
                log::debug!("not copying {:?}: {e}", OsStr::from_bytes(xname));
            } else {
                return Err(e);
            }
        }
    }
    Ok(())
}

/// The old file's atime and mtime onto the new one.
pub(crate) fn set_times(new: &File, st: &libc::stat) -> io::Result<()> {
    let t = [
        libc::timespec {
            tv_sec: st.st_atime,
            tv_nsec: st.st_atime_nsec,
        },
        libc::timespec {
            tv_sec: st.st_mtime,
            tv_nsec: st.st_mtime_nsec,
        },
    ];
    sys::utimensat(new.as_raw_fd(), c"", &t, libc::AT_EMPTY_PATH)
}
