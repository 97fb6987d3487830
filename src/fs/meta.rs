//! Metadata operations: getattr (with the logical size and stored bytes of
//! containers, which the open-file table finds), setattr (chmod, chown,
//! truncate, utimens), statfs, access.

use std::io;
use std::os::fd::AsFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use fuser::{AccessFlags, FileAttr, TimeOrNow};

use super::attr::{self, err};
use super::inode::{now_timespec, Inode};
use super::names::Caller;
use super::sys;
use super::Inner;
use crate::file::{CompactWhen, Content};

/// What setattr was asked to change.
#[derive(Default)]
pub struct SetAttr {
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub size: Option<u64>,
    pub atime: Option<TimeOrNow>,
    pub mtime: Option<TimeOrNow>,
    pub fh: Option<u64>,
    /// Whoever asks (an unprivileged truncate drops set-ID bits).
    pub caller: Caller,
}

impl Inner {
    /// Attributes of `inode` whose backing stat is `st`.
    pub(crate) fn attr_of(&self, inode: &Inode, st: &libc::stat) -> io::Result<FileAttr> {
        let logical = if st.st_mode & libc::S_IFMT == libc::S_IFREG {
            self.files.logical(&self.node(inode), st)?
        } else {
            None
        };
        let blksize = self.opts.block_size.max(4096);
        let mut a = attr::to_attr(inode.ino, st, logical, blksize);
        if logical.is_some() {
            let mut s = inode.state.lock();
            if let Some(t) = s.touched {
                // The last data change; what the backing file says may be
                // the later write-back (the last close makes them agree).
                a.mtime = attr::time(t.tv_sec, t.tv_nsec);
            }
            // The user's ctime, not the daemon's (fs/ctime.rs).
            let (sec, nsec) = self.reported_ctime(inode, &mut s, st);
            a.ctime = attr::time(sec, nsec);
        }
        Ok(a)
    }

    /// Records that the data of `inode` changed now (see `FileState::touched`).
    pub(crate) fn touch_data(&self, inode: &Inode) {
        inode.state.lock().touched = Some(now_timespec());
        self.recompress_written(inode);
    }

    pub(crate) fn getattr(&self, ino: u64) -> io::Result<FileAttr> {
        let inode = self.inodes.get(ino)?;
        let st = sys::fstat(inode.fd()?.as_fd())?;
        self.attr_of(&inode, &st)
    }

    /// The content of `inode` to truncate: the handle's, the inode's open
    /// one, or a temporary one (flushed and closed afterwards).
    fn with_content<T>(
        &self,
        inode: &Arc<Inode>,
        f: impl FnOnce(&Content) -> io::Result<T>,
    ) -> io::Result<T> {
        // Shared mode: a change without a writable handle takes the
        // file's write lock too (file/shared.rs).
        self.shared_writer_begin(inode)?;
        let r = self.with_content_locked(inode, f);
        self.shared_writer_end(inode);
        r
    }

    fn with_content_locked<T>(
        &self,
        inode: &Arc<Inode>,
        f: impl FnOnce(&Content) -> io::Result<T>,
    ) -> io::Result<T> {
        let open = inode.state.lock().open.content.clone();
        if let Some(c) = open {
            return f(&c);
        }
        let c = self.acquire(inode, true)?;
        let r = f(&c).and_then(|v| c.flush().map(|_| v));
        let released = self.release_content(inode);
        r.and_then(|v| released.map(|_| v))
    }

    pub(crate) fn setattr(&self, ino: u64, a: SetAttr) -> io::Result<FileAttr> {
        let inode = self.inodes.get(ino)?;
        let any = a.mode.is_some()
            || a.uid.is_some()
            || a.gid.is_some()
            || a.size.is_some()
            || a.atime.is_some()
            || a.mtime.is_some();
        if any {
            self.check_rw()?;
        }
        // A closed container whose size we know keeps it across a change
        // of mode, owner or times (these move ctime, hence the stamp).
        let carried = if inode.is_reg() && any && a.size.is_none() {
            self.files.valid_cached_size(&self.node(&inode))
        } else {
            None
        };
        if let Some(mode) = a.mode {
            if inode.is_symlink() {
                return Err(err(libc::EOPNOTSUPP));
            }
            self.meta_change(&inode, || {
                sys::fchmod_fd(inode.fd()?.as_fd(), mode & 0o7777)
            })?;
            self.dir_inherit_changed(&inode);
        }
        if a.uid.is_some() || a.gid.is_some() {
            self.meta_change(&inode, || {
                sys::fchown(
                    inode.fd()?.as_fd(),
                    a.uid.unwrap_or(u32::MAX),
                    a.gid.unwrap_or(u32::MAX),
                )
            })?;
        }
        if let Some(size) = a.size {
            if inode.is_dir() {
                return Err(err(libc::EISDIR));
            }
            if !inode.is_reg() {
                return Err(err(libc::EINVAL));
            }
            if a.caller.uid != 0 {
                self.kill_suidgid(&inode, a.caller)?;
            }
            if size == 0 {
                self.maybe_convert(&inode);
            }
            self.touch_data(&inode);
            let handle_content = a.fh.and_then(|fh| self.file_content(fh));
            match handle_content {
                Some(c) => {
                    c.truncate(size)?;
                    if size == 0 {
                        self.maybe_compact(&inode, &c, CompactWhen::AtRest);
                    }
                }
                None => self.with_content(&inode, |c| c.truncate(size))?,
            }
        }
        if a.atime.is_some() || a.mtime.is_some() {
            // Pending data written later would move mtime past the value
            // asked for: write it first.
            let open = inode.state.lock().open.content.clone();
            if let Some(c) = open {
                c.flush()?;
            }
            // The times asked for replace any pending data-change time.
            inode.state.lock().touched = None;
            let times = [attr::timespec(a.atime), attr::timespec(a.mtime)];
            self.meta_change(&inode, || {
                sys::utimensat(
                    std::os::fd::AsRawFd::as_raw_fd(&inode.fd()?.as_fd()),
                    c"",
                    &times,
                    libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW,
                )
            })?;
        }
        if any {
            // The backing ctime moved for the user (fs/ctime.rs).
            self.user_changed(&inode);
        }
        let st = sys::fstat(inode.fd()?.as_fd())?;
        self.files.carry_size(&self.node(&inode), carried, &st);
        self.attr_of(&inode, &st)
    }

    /// Runs `change`, a change of the metadata (mode, owner, times,
    /// xattrs) of `inode`'s backing file. On a shared mount it holds the
    /// file's metadata lock for reading (`file::metalock::MetaLocks`), which a
    /// host replacing the file (compaction, recompression, conversion)
    /// holds for writing from its copy of the metadata to its rename: the
    /// change lands before the copy and is carried over, or finds the old
    /// inode without a name and fails with ESTALE, on which the kernel
    /// looks the name up again and retries on the new file (chmod, chown,
    /// utimes, setxattr by path; a change through a descriptor gets the
    /// ESTALE). A file this host unlinked is changed as it is.
    pub(crate) fn meta_change<T>(
        &self,
        inode: &Inode,
        change: impl FnOnce() -> io::Result<T>,
    ) -> io::Result<T> {
        if !self.opts.shared || !inode.is_reg() {
            return change();
        }
        let fstat = || sys::fstat(inode.fd()?.as_fd());
        let mut ino = fstat()?.st_ino;
        for _ in 0..8 {
            let _held = self.meta.lock(ino, false, self.opts.lock_wait)?;
            let st = fstat()?;
            if st.st_ino != ino {
                // This host replaced the file meanwhile: lock the new one.
                ino = st.st_ino;
                continue;
            }
            if st.st_nlink == 0 && !inode.unlinked_here.load(Ordering::Relaxed) {
                break;
            }
            return change();
        }
        Err(err(libc::ESTALE))
    }

    /// A closed plain file truncated to zero becomes an empty container
    /// (failures leave it a plain file, truncated below as usual).
    pub(crate) fn maybe_convert(&self, inode: &Arc<Inode>) {
        self.files
            .convert_if_closed_plain(&self.node(inode), || self.convert_to_container(inode));
    }

    /// Drops S_ISUID, and S_ISGID when group-executable or when `caller`
    /// is not in the file's group, as a write or truncate by an
    /// unprivileged user does on a local filesystem (the Linux VFS rule of
    /// setattr_should_drop_sgid since 6.2; a group member keeps S_ISGID on
    /// a file without group execute permission). The kernel, which keeps
    /// the mode in its attribute cache, is told when it changes (a write,
    /// fallocate or O_TRUNC open has no attributes in its reply).
    pub(crate) fn kill_suidgid(&self, inode: &Inode, caller: Caller) -> io::Result<()> {
        if !inode.is_reg() {
            return Ok(());
        }
        let fd = inode.fd()?;
        let st = sys::fstat(fd.as_fd())?;
        let mut kill = libc::S_ISUID;
        if st.st_mode & libc::S_ISGID != 0
            && (st.st_mode & libc::S_IXGRP != 0 || !caller.in_group(st.st_gid))
        {
            kill |= libc::S_ISGID;
        }
        if st.st_mode & kill != 0 {
            sys::fchmod_fd(fd.as_fd(), st.st_mode & 0o7777 & !kill)?;
            drop(fd);
            self.attrs_changed(inode.ino);
        }
        Ok(())
    }

    /// Tells the kernel that the attributes of `ino` changed behind its
    /// back (it drops its cached ones; no page is touched). Not before the
    /// session gave us its notifier (`ScfsFs::set_notifier`).
    pub(crate) fn attrs_changed(&self, ino: u64) {
        if let Some(n) = self.notifier.get() {
            if let Err(e) = n.inval_inode(fuser::INodeNo(ino), -1, 0) {
                // ENOENT: the kernel holds no such inode (nothing cached).
                log::debug!("ino {ino}: attribute invalidation: {e}");
            }
        }
    }

    pub(crate) fn statfs(&self) -> io::Result<libc::statvfs> {
        let root = self.inodes.get(super::inode::ROOT)?;
        let fd = root.fd()?;
        sys::fstatvfs(fd.as_fd())
    }

    /// access(2) for the caller, from the backing object's mode bits (only
    /// called without default_permissions).
    pub(crate) fn access(&self, ino: u64, mask: AccessFlags, caller: Caller) -> io::Result<()> {
        let inode = self.inodes.get(ino)?;
        let st = sys::fstat(inode.fd()?.as_fd())?;
        let want = mask.bits() & 7;
        if want == 0 {
            return Ok(());
        }
        if want & libc::W_OK != 0 && self.opts.read_only {
            return Err(err(libc::EROFS));
        }
        let mode = st.st_mode;
        if caller.uid == 0 {
            let x_ok = mode & 0o111 != 0 || mode & libc::S_IFMT == libc::S_IFDIR;
            if want & libc::X_OK != 0 && !x_ok {
                return Err(err(libc::EACCES));
            }
            return Ok(());
        }
        let bits = if caller.uid == st.st_uid {
            (mode >> 6) & 7
        } else if caller.gid == st.st_gid {
            (mode >> 3) & 7
        } else {
            mode & 7
        };
        if (bits as i32) & want == want {
            Ok(())
        } else {
            Err(err(libc::EACCES))
        }
    }
}
