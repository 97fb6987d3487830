//! Metadata operations: getattr (with the logical size and stored bytes of
//! containers), setattr (chmod, chown, truncate, utimens), statfs, access,
//! and the detection of which backing files are containers.

use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::sync::Arc;

use fuser::{AccessFlags, FileAttr, TimeOrNow};

use super::attr::{self, err};
use super::content::{self, stamp, Content, FileState, Format, Stamp};
use super::inode::Inode;
use super::names::Caller;
use super::sys;
use super::Inner;
use crate::container::CompactWhen;

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
    /// Reopens the backing object of `inode` through /proc with `flags`,
    /// without touching its atime when allowed (our own reads of headers
    /// and blocks are not accesses by the user).
    ///
    /// A file whose mode denies its owner what scfs needs (`chmod 000`,
    /// `chmod 200`: unlike a plain passthrough, scfs must read a container
    /// to know its size and to change it) is opened anyway when the daemon
    /// owns it, as a local filesystem's driver would: see `reopen_as_owner`.
    pub(crate) fn reopen(&self, inode: &Inode, flags: i32) -> io::Result<File> {
        match self.reopen_plain(inode, flags) {
            Err(e) if e.raw_os_error() == Some(libc::EACCES) => {
                self.reopen_as_owner(inode, flags).ok_or(e)?
            }
            r => r,
        }
    }

    /// `reopen` without the owner's way around the mode bits.
    fn reopen_plain(&self, inode: &Inode, flags: i32) -> io::Result<File> {
        let fd = inode.fd()?;
        let path = sys::proc_path(fd.raw());
        let owned = match sys::open_path(&path, flags | libc::O_NOATIME) {
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => sys::open_path(&path, flags)?,
            r => r?,
        };
        Ok(File::from(owned))
    }

    /// Opens a regular file the daemon owns but whose mode bits keep it
    /// out (a daemon that is not root): adds the owner's read (and write,
    /// when asked) permission for the moment of the open and puts the mode
    /// back at once (the backing file's ctime moves). None when that does
    /// not apply (not ours, not a regular file, the chmod fails).
    fn reopen_as_owner(&self, inode: &Inode, flags: i32) -> Option<io::Result<File>> {
        // Each step takes the descriptor anew (no guard held across
        // `reopen_plain`, which takes it too).
        let st = sys::fstat(inode.fd().ok()?.as_fd()).ok()?;
        let me = sys::euid();
        if st.st_uid != me || st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return None;
        }
        let mode = st.st_mode & 0o7777;
        let mut need = mode | libc::S_IRUSR;
        if flags & libc::O_ACCMODE != libc::O_RDONLY {
            need |= libc::S_IWUSR;
        }
        if need == mode {
            return None;
        }
        sys::fchmod_fd(inode.fd().ok()?.as_fd(), need).ok()?;
        let r = self.reopen_plain(inode, flags);
        if let Err(e) = inode.fd().and_then(|fd| sys::fchmod_fd(fd.as_fd(), mode)) {
            log::error!("ino {}: mode {mode:o} not restored: {e}", inode.ino);
        }
        Some(r)
    }

    /// Whether the regular file `inode` is a container (cached). Returns
    /// the descriptor opened to find out, if any, for reuse.
    pub(crate) fn format_locked(&self, inode: &Inode, s: &mut FileState) -> (Format, Option<File>) {
        if self.opts.shared && s.format == Format::Plain && s.content.is_none() {
            // Another host may have made an empty plain file a container
            // (its first write): looked at again while closed.
            s.format = Format::Unknown;
        }
        if s.format != Format::Unknown {
            return (s.format, None);
        }
        match self.reopen(inode, libc::O_RDONLY) {
            Ok(f) => match content::is_container(&f) {
                Ok(true) => {
                    s.format = Format::Container;
                    (Format::Container, Some(f))
                }
                Ok(false) => {
                    s.format = Format::Plain;
                    (Format::Plain, None)
                }
                Err(e) => {
                    log::warn!("ino {}: cannot read header: {e}", inode.ino);
                    (Format::Plain, None)
                }
            },
            // Unreadable by us: we can only serve it as it is.
            Err(_) => (Format::Plain, None),
        }
    }

    /// (logical size, stored bytes) of a container; None for plain files.
    fn logical(&self, inode: &Inode, st: &libc::stat) -> io::Result<Option<(u64, u64)>> {
        let mut s = inode.state.lock();
        if let Some(c) = &s.content {
            if !c.is_container() {
                return Ok(None);
            }
            let stored = c.stored_bytes().unwrap_or(0);
            return Ok(Some((c.size()?, stored)));
        }
        let (format, file) = self.format_locked(inode, &mut s);
        if format != Format::Container {
            return Ok(None);
        }
        let stamp = stamp(st);
        let stored = st.st_size as u64;
        if let Some((st2, size)) = s.size_cache {
            if st2 == stamp {
                return Ok(Some((size, stored)));
            }
        }
        let file = match file {
            Some(f) => f,
            None => self.reopen(inode, libc::O_RDONLY)?,
        };
        match Content::container_size(&file) {
            Ok(size) => {
                s.size_cache = Some((stamp, size));
                Ok(Some((size, stored)))
            }
            Err(e) => {
                // Still listed (so it can be removed); opening it reports
                // the error.
                log::warn!("ino {}: unreadable container: {e}", inode.ino);
                Ok(None)
            }
        }
    }

    /// Attributes of `inode` whose backing stat is `st`.
    pub(crate) fn attr_of(&self, inode: &Inode, st: &libc::stat) -> io::Result<FileAttr> {
        let logical = if st.st_mode & libc::S_IFMT == libc::S_IFREG {
            self.logical(inode, st)?
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
        inode.state.lock().touched = Some(super::content::now_timespec());
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
        // file's write lock too (fs/shared.rs).
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
        let open = inode.state.lock().content.clone();
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
            self.valid_cached_size(&inode)
        } else {
            None
        };
        if let Some(mode) = a.mode {
            if inode.is_symlink() {
                return Err(err(libc::EOPNOTSUPP));
            }
            let fd = inode.fd()?;
            sys::fchmod_fd(fd.as_fd(), mode & 0o7777)?;
        }
        if a.uid.is_some() || a.gid.is_some() {
            let fd = inode.fd()?;
            sys::fchown(
                fd.as_fd(),
                a.uid.unwrap_or(u32::MAX),
                a.gid.unwrap_or(u32::MAX),
            )?;
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
            let open = inode.state.lock().content.clone();
            if let Some(c) = open {
                c.flush()?;
            }
            // The times asked for replace any pending data-change time.
            inode.state.lock().touched = None;
            let times = [attr::timespec(a.atime), attr::timespec(a.mtime)];
            let fd = inode.fd()?;
            sys::utimensat(
                std::os::fd::AsRawFd::as_raw_fd(&fd.as_fd()),
                c"",
                &times,
                libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW,
            )?;
        }
        if any {
            // The backing ctime moved for the user (fs/ctime.rs).
            self.user_changed(&inode);
        }
        let st = sys::fstat(inode.fd()?.as_fd())?;
        self.carry_size(&inode, carried, &st);
        self.attr_of(&inode, &st)
    }

    /// A closed plain file truncated to zero becomes an empty container
    /// (failures leave it a plain file, truncated below as usual).
    pub(crate) fn maybe_convert(&self, inode: &Arc<Inode>) {
        self.convert_if_closed_plain(inode, || self.convert_to_container(inode));
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

    /// The shared content of `inode`, opened if needed; counts one open.
    pub(crate) fn acquire(&self, inode: &Arc<Inode>, writable: bool) -> io::Result<Arc<Content>> {
        if writable {
            self.check_rw()?;
            self.recompress.opening_for_write(inode.ino);
        }
        let mut s = inode.state.lock();
        if let Some(c) = &s.content {
            if writable && !c.is_writable() {
                return Err(err(libc::EACCES));
            }
            let c = c.clone();
            s.opens += 1;
            return Ok(c);
        }
        if let Some(c) = s.closing.upgrade() {
            if !writable || c.is_writable() {
                s.closing = std::sync::Weak::new();
                s.content = Some(c.clone());
                s.opens += 1;
                if c.is_container() {
                    self.ctime_opened(inode, &mut s);
                }
                return Ok(c);
            }
        }
        let (format, _) = self.format_locked(inode, &mut s);
        let (file, w) = if self.opts.read_only {
            (self.reopen(inode, libc::O_RDONLY)?, false)
        } else {
            // Writable when the mode allows it (for a reader the owner's
            // way around the mode bits is only taken to read).
            let rw = if writable {
                self.reopen(inode, libc::O_RDWR)
            } else {
                self.reopen_plain(inode, libc::O_RDWR)
            };
            match rw {
                Ok(f) => (f, true),
                Err(e) if writable => return Err(e),
                Err(_) => (self.reopen(inode, libc::O_RDONLY)?, false),
            }
        };
        // An empty file (a new one that never got content, or one that was
        // in BACKING) is served as an empty plain file, or, opened
        // writable, as a new container that writes nothing unless it gets
        // content (FORMAT.md 3.6).
        let empty = |file: &File| file.metadata().is_ok_and(|m| m.len() == 0);
        let content = 'open: {
            let file = if format == Format::Container {
                let e = match Content::open(file, w, format, &self.ctx) {
                    Ok(c) => break 'open c,
                    Err(e) => e,
                };
                // Known as a container, but empty now (nothing was ever
                // written to it): an empty plain file, as below.
                let file = self.reopen(inode, if w { libc::O_RDWR } else { libc::O_RDONLY })?;
                if !empty(&file) {
                    return Err(e);
                }
                s.format = Format::Plain;
                file
            } else {
                file
            };
            if w && empty(&file) {
                s.format = Format::Container;
                Content::create_deferred(file, self.opts.block_size, &self.ctx)?
            } else {
                Content::open(file, w, Format::Plain, &self.ctx)?
            }
        };
        let c = Arc::new(content);
        if c.is_container() && w {
            if let Ok(fd) = inode.fd() {
                c.set_compression(self.compression_of(fd.as_fd()));
            }
        }
        if c.is_container() {
            let path = inode
                .fd()
                .and_then(|fd| std::fs::read_link(format!("/proc/self/fd/{}", fd.raw())));
            if let Ok(p) = path {
                c.set_name(&p.to_string_lossy());
            }
        }
        s.content = Some(c.clone());
        s.opens += 1;
        if c.is_container() {
            self.ctime_opened(inode, &mut s);
        }
        Ok(c)
    }

    /// Drops one open of `inode`'s content; the last one flushes it,
    /// compacts it if worthwhile, and closes it. Returns the flush result.
    ///
    /// Invariant: at most one `Content` exists per inode at any time. The
    /// last one is closed under the state lock, and a compaction counts as
    /// an open while it runs, so a concurrent open shares the same content
    /// instead of opening the backing file a second time.
    pub(crate) fn release_content(&self, inode: &Arc<Inode>) -> io::Result<()> {
        let c = {
            let mut s = inode.state.lock();
            s.opens = s.opens.saturating_sub(1);
            if s.opens > 0 {
                return Ok(());
            }
            let Some(c) = s.content.clone() else {
                return Ok(());
            };
            // Flushed under the state lock: a new open waits, and then
            // finds everything in the backing file.
            let flushed = c.flush();
            if flushed.is_err() || self.opts.read_only || !c.needs_compaction(CompactWhen::AtRest) {
                drop(c);
                self.close_locked(inode, &mut s, flushed.is_ok());
                return flushed;
            }
            s.opens = 1; // held by the compaction below
            c
        };
        self.compact_now(inode, &c);
        drop(c);
        self.release_without_compaction(inode)
    }

    /// `release_content` without compacting (after a compaction).
    pub(crate) fn release_without_compaction(&self, inode: &Arc<Inode>) -> io::Result<()> {
        let mut s = inode.state.lock();
        s.opens = s.opens.saturating_sub(1);
        if s.opens > 0 {
            return Ok(());
        }
        let flushed = match &s.content {
            Some(c) => c.flush(),
            None => Ok(()),
        };
        self.close_locked(inode, &mut s, flushed.is_ok());
        flushed
    }

    /// Closes the content (the last reference goes here, under the lock)
    /// and records the backing file's stamp for FOPEN_KEEP_CACHE; after a
    /// successful flush (`flushed`: BACKING holds everything) also the
    /// logical size for that stamp, so the getattr or chmod that usually
    /// follows a close does not reopen the container to read it.
    fn close_locked(&self, inode: &Inode, s: &mut FileState, flushed: bool) {
        let closed = s.content.take();
        let size = match &closed {
            Some(c) if flushed && c.is_container() => c.size().ok(),
            _ => None,
        };
        // Usually the last reference, dropped here under the lock; if an
        // operation still holds it, the next open shares it (`acquire`).
        s.closing = match closed {
            Some(c) if Arc::strong_count(&c) > 1 => Arc::downgrade(&c),
            _ => std::sync::Weak::new(),
        };
        s.size_cache = None;
        let mut st = inode.fd().and_then(|fd| sys::fstat(fd.as_fd())).ok();
        if st.as_ref().is_some_and(|st| st.st_size == 0) {
            // A new or empty file that got no content stays a plain empty
            // file (see `acquire`).
            s.format = Format::Plain;
        }
        let touched = s.touched.take();
        if let (Some(t), Some(now)) = (touched, &st) {
            // The data last changed at `t` (the last write() call, an
            // O_TRUNC, a truncate): the backing file's mtime says when its
            // blocks were written back (later) or was never moved (an
            // O_TRUNC of an empty file). Make `t` the mtime.
            if (now.st_mtime, now.st_mtime_nsec) != (t.tv_sec, t.tv_nsec as _) {
                let omit = attr::timespec(None);
                if let Ok(fd) = inode.fd() {
                    let _ = sys::utimensat(
                        std::os::fd::AsRawFd::as_raw_fd(&fd.as_fd()),
                        c"",
                        &[omit, t],
                        libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW,
                    );
                    st = sys::fstat(fd.as_fd()).ok();
                }
            }
        }
        // Before recording the stamp: this may move the backing ctime.
        let recorded = match &st {
            Some(st) => self.ctime_closing(inode, s, st, touched),
            None => {
                s.uctime = None;
                false
            }
        };
        if recorded {
            st = inode.fd().and_then(|fd| sys::fstat(fd.as_fd())).ok();
        }
        if let Some(st) = &st {
            self.recompress.closed(inode.ino, st);
        }
        s.cached_stamp = st.map(|st| stamp(&st));
        if let (Some(stamp), Some(size)) = (s.cached_stamp, size) {
            s.size_cache = Some((stamp, size));
        }
    }

    /// The logical size of the closed container `inode` when the cached
    /// one is still valid (its stamp is the backing file's current one),
    /// to carry across a metadata change of ours (`carry_size`).
    fn valid_cached_size(&self, inode: &Inode) -> Option<(Stamp, u64)> {
        let s = inode.state.lock();
        if s.content.is_some() {
            return None;
        }
        let (cached, size) = s.size_cache?;
        let st = sys::fstat(inode.fd().ok()?.as_fd()).ok()?;
        (stamp(&st) == cached).then_some((cached, size))
    }

    /// After a chmod/chown/utimens of ours (the data unchanged): the size
    /// `valid_cached_size` returned before it holds for the new stamp `st`,
    /// unless anything else touched the cache meanwhile (an open and close
    /// in between records its own stamp, so the entry differs).
    fn carry_size(&self, inode: &Inode, before: Option<(Stamp, u64)>, st: &libc::stat) {
        let Some((old, size)) = before else { return };
        let mut s = inode.state.lock();
        if s.content.is_none() && s.size_cache == Some((old, size)) {
            s.size_cache = Some((stamp(st), size));
        }
    }
}
