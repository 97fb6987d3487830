//! The frontend's side of the open-file table (`file::OpenFiles`): an
//! inode as a `file::Node` (its state lock, fresh descriptors of its
//! backing file through /proc, its timestamps at open and close, the
//! rename of a compacted copy over its name), and the `Inner` methods the
//! FUSE operations call (`acquire`, `release_content`, `maybe_compact`,
//! and the `-o shared` hooks around them: `shared_writer_begin/end`,
//! `shared_open_check`, `holds_write_lock`; `file/shared.rs`).

use std::ffi::CStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use parking_lot::MutexGuard;

use super::attr;
use super::inode::{FileState, Inode};
use super::sys;
use super::Inner;
use crate::file::lock::WriteLock;
use crate::file::{CompactWhen, Compression, Content, OpenEntry};

/// An inode of this mount as the open-file table sees it.
pub(crate) struct FsNode<'a> {
    fs: &'a Inner,
    inode: &'a Inode,
}

impl Inner {
    /// `inode` as a node of the open-file table.
    pub(crate) fn node<'a>(&'a self, inode: &'a Inode) -> FsNode<'a> {
        FsNode { fs: self, inode }
    }

    /// The shared content of `inode`, opened if needed; counts one open.
    pub(crate) fn acquire(&self, inode: &Arc<Inode>, writable: bool) -> io::Result<Arc<Content>> {
        if writable {
            self.check_rw()?;
            self.recompress.opening_for_write(inode.ino);
        }
        self.files.acquire(&self.node(inode), writable)
    }

    /// Drops one open of `inode`'s content; the last one flushes it,
    /// compacts it if worthwhile, and closes it (`OpenFiles::release`).
    /// Returns the flush result.
    pub(crate) fn release_content(&self, inode: &Arc<Inode>) -> io::Result<()> {
        self.files.release(&self.node(inode))
    }

    /// Whether this daemon may change `inode`'s backing file behind the
    /// user's writes: always on a single-host mount, only while it holds
    /// the file's write lock on a shared one (`OpenFiles::holds_write_lock`).
    pub(crate) fn holds_write_lock(&self, inode: &Inode) -> bool {
        self.files.holds_write_lock(&self.node(inode))
    }

    /// `-o shared`: before an open (or a change without a handle) that may
    /// write `inode`, takes its write lock and counts one writer
    /// (`OpenFiles::writer_begin`; EWOULDBLOCK after `lock_wait`, ESTALE).
    pub(crate) fn shared_writer_begin(&self, inode: &Inode) -> io::Result<()> {
        self.files.writer_begin(&self.node(inode))
    }

    /// `-o shared`: after a writer's handle is released (or its open
    /// failed); the last one commits and lets the lock go
    /// (`OpenFiles::writer_end`).
    pub(crate) fn shared_writer_end(&self, inode: &Inode) {
        self.files.writer_end(&self.node(inode))
    }

    /// `-o shared`: the write lock of `inode` for idle work that replaces
    /// its backing file (recompression), taken only if free now: None when
    /// another host holds it (or it cannot be taken), Some(None) on a
    /// single-host mount, which needs none. Errors: reopening the file.
    pub(crate) fn idle_write_lock(&self, inode: &Inode) -> io::Result<Option<Option<WriteLock>>> {
        if !self.opts.shared {
            return Ok(Some(None));
        }
        let f = self.reopen(inode, libc::O_RDONLY)?;
        Ok(WriteLock::try_take(f).ok().flatten().map(Some))
    }

    /// `-o shared`: close-to-open checks at every open
    /// (`OpenFiles::open_check`); the kernel's cached attributes are
    /// dropped when the backing file changed since.
    pub(crate) fn shared_open_check(&self, inode: &Inode) -> io::Result<()> {
        if self.files.open_check(&self.node(inode))? {
            self.attrs_changed(inode.ino);
        }
        Ok(())
    }

    /// `-o shared`: an O_PATH descriptor of the regular file `name` in
    /// `dir` when this is its last name, taken before a removal of the
    /// name for [`Inner::mark_unlinked`]. None on a single-host mount.
    pub(crate) fn last_name_fd(&self, dir: BorrowedFd<'_>, name: &CStr) -> Option<OwnedFd> {
        if !self.opts.shared {
            return None;
        }
        let fd = sys::openat(dir, name, libc::O_PATH | libc::O_NOFOLLOW, 0).ok()?;
        let st = sys::fstat(fd.as_fd()).ok()?;
        (st.st_mode & libc::S_IFMT == libc::S_IFREG && st.st_nlink == 1).then_some(fd)
    }

    /// `-o shared`: after the removal of the name `last_name_fd` looked
    /// at, marks the file's inode as unlinked here (a later open through
    /// /proc/PID/fd, or a change of its metadata, is served, not ESTALE).
    pub(crate) fn mark_unlinked(&self, last: Option<OwnedFd>) {
        let Some(fd) = last else { return };
        let Ok(st) = sys::fstat(fd.as_fd()) else {
            return;
        };
        if st.st_nlink == 0 {
            if let Some(inode) = self.inodes.find(fd.as_fd(), &st) {
                inode.unlinked_here.store(true, Ordering::Relaxed);
            }
        }
    }

    /// Compacts `content` (the open content of `inode`) if it needs it
    /// (`OpenFiles::maybe_compact`).
    pub(crate) fn maybe_compact(&self, inode: &Inode, content: &Arc<Content>, when: CompactWhen) {
        self.files.maybe_compact(&self.node(inode), content, when)
    }

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

    /// The frontend's part of a last close (`Node::closed`): stamps the
    /// time of the last data change onto the backing file, records the
    /// user ctime, starts the idle-recompression timer. Returns the
    /// backing stat afterwards.
    fn closed(
        &self,
        inode: &Inode,
        s: &mut FileState,
        mut st: Option<libc::stat>,
    ) -> Option<libc::stat> {
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
                s.no_ctime_rec = false;
                false
            }
        };
        if recorded {
            st = inode.fd().and_then(|fd| sys::fstat(fd.as_fd())).ok();
        }
        if let Some(st) = &st {
            self.recompress.closed(inode.ino, st);
        }
        st
    }
}

impl crate::file::Node for FsNode<'_> {
    type State = FileState;

    fn lock(&self) -> MutexGuard<'_, FileState> {
        self.inode.state.lock()
    }

    fn entry(s: &mut FileState) -> &mut OpenEntry {
        &mut s.open
    }

    fn id(&self) -> u64 {
        self.inode.ino
    }

    fn reopen(&self, flags: i32, as_owner: bool) -> io::Result<File> {
        if as_owner {
            self.fs.reopen(self.inode, flags)
        } else {
            self.fs.reopen_plain(self.inode, flags)
        }
    }

    fn fstat(&self) -> io::Result<libc::stat> {
        sys::fstat(self.inode.fd()?.as_fd())
    }

    fn log_name(&self) -> Option<String> {
        let fd = self.inode.fd().ok()?;
        let p = std::fs::read_link(format!("/proc/self/fd/{}", fd.raw())).ok()?;
        Some(p.to_string_lossy().into_owned())
    }

    fn compression(&self) -> Option<Compression> {
        let fd = self.inode.fd().ok()?;
        Some(self.fs.compression_of(fd.as_fd()))
    }

    fn opened(&self, s: &mut FileState) {
        self.fs.ctime_opened(self.inode, s);
    }

    fn closed(&self, s: &mut FileState, st: Option<libc::stat>) -> Option<libc::stat> {
        self.fs.closed(self.inode, s, st)
    }

    fn compact(&self, content: &Content) -> io::Result<bool> {
        self.fs.compact(self.inode, content)
    }

    fn unlinked_here(&self) -> bool {
        self.inode.unlinked_here.load(Ordering::Relaxed)
    }

    fn readers_waiting(&self) -> bool {
        self.fstat()
            .is_ok_and(|st| self.fs.meta.readers_waiting(st.st_ino))
    }
}
