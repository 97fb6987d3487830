//! Open files and directories: open/create, read, write, flush, release,
//! fsync, fallocate, lseek, and directory listings (opendir, readdir,
//! readdirplus, fsyncdir).

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::{DirEntryExt, FileTypeExt};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use fuser::{FileAttr, FileType};
use parking_lot::Mutex;

use super::attr::err;
use super::inode::Inode;
use super::names::{new_name_cstr, Caller};
use super::sys;
use super::xattr::CAPS;
use super::Inner;
use crate::file::{stamp, CompactWhen, Content};

/// One directory entry of a listing snapshot.
pub struct DirEnt {
    pub name: OsString,
    pub ino: u64,
    pub kind: FileType,
}

/// An open file or directory.
pub enum Handle {
    File {
        inode: Arc<Inode>,
        content: Arc<Content>,
        append: bool,
        /// Counted in the inode's `writers` (shared mode: holds the write lock).
        writer: bool,
        /// security.capability was removed at this handle's first write.
        caps_killed: AtomicBool,
    },
    Dir {
        inode: Arc<Inode>,
        listing: Mutex<Listing>,
    },
}

/// The snapshot an open directory is listed from.
pub struct Listing {
    entries: Arc<Vec<DirEnt>>,
    /// Taken by opendir and not yet read from offset 0: the first read
    /// from the start uses it instead of listing the directory again.
    fresh: bool,
}

/// What `open` and `create` tell the kernel.
pub struct Opened {
    pub fh: u64,
    pub keep_cache: bool,
}

impl Inner {
    fn add_handle(&self, h: Handle) -> u64 {
        let fh = self.next_fh.fetch_add(1, Ordering::Relaxed);
        self.handles.write().insert(fh, Arc::new(h));
        fh
    }

    fn handle(&self, fh: u64) -> io::Result<Arc<Handle>> {
        self.handles
            .read()
            .get(&fh)
            .cloned()
            .ok_or_else(|| err(libc::EBADF))
    }

    /// The content behind file handle `fh`, if it is one.
    pub(crate) fn file_content(&self, fh: u64) -> Option<Arc<Content>> {
        match &*self.handle(fh).ok()? {
            Handle::File { content, .. } => Some(content.clone()),
            Handle::Dir { .. } => None,
        }
    }

    fn file(&self, fh: u64) -> io::Result<(Arc<Inode>, Arc<Content>, bool)> {
        match &*self.handle(fh)? {
            Handle::File {
                inode,
                content,
                append,
                ..
            } => Ok((inode.clone(), content.clone(), *append)),
            Handle::Dir { .. } => Err(err(libc::EISDIR)),
        }
    }

    /// First write through a handle: a write drops file capabilities (we
    /// asked the kernel for FUSE_HANDLE_KILLPRIV_V2, so it no longer
    /// probes security.capability before each write itself).
    fn kill_caps_once(&self, fh: u64) {
        if let Ok(h) = self.handle(fh) {
            if let Handle::File {
                inode, caps_killed, ..
            } = &*h
            {
                if !caps_killed.swap(true, Ordering::Relaxed) {
                    let mut s = inode.state.lock();
                    if let (false, Ok(fd)) = (s.caps_absent, inode.fd()) {
                        let r = sys::removexattr(&sys::proc_path(fd.raw()), CAPS);
                        s.caps_absent =
                            r.is_ok() || r.is_err_and(|e| e.raw_os_error() == Some(libc::ENODATA));
                    }
                }
            }
        }
    }

    pub(crate) fn open(&self, ino: u64, flags: i32, caller: Caller) -> io::Result<Opened> {
        let inode = self.inodes.get(ino)?;
        if inode.is_dir() {
            return Err(err(libc::EISDIR));
        }
        if !inode.is_reg() {
            return Err(err(libc::EINVAL));
        }
        let writable = flags & libc::O_ACCMODE != libc::O_RDONLY;
        // O_TRUNC truncates whatever the access mode, O_RDONLY included, as
        // on Linux local filesystems (the kernel, which hands O_TRUNC to us
        // under FUSE_ATOMIC_O_TRUNC, has already checked write permission).
        let trunc = flags & libc::O_TRUNC != 0;
        let writer = (writable || trunc) && !self.opts.read_only;
        self.shared_open_check(&inode)?;
        if writer {
            self.shared_writer_begin(&inode)?;
        }
        if trunc && !self.opts.read_only {
            if caller.uid != 0 {
                if let Err(e) = self.kill_suidgid(&inode, caller) {
                    self.shared_writer_end(&inode);
                    return Err(e);
                }
            }
            self.maybe_convert(&inode);
        }
        let content = match self.acquire(&inode, writable || trunc) {
            Ok(c) => c,
            Err(e) => {
                if writer {
                    self.shared_writer_end(&inode);
                }
                return Err(e);
            }
        };
        if trunc {
            self.touch_data(&inode);
            if let Err(e) = content.truncate(0) {
                let _ = self.release_content(&inode);
                if writer {
                    self.shared_writer_end(&inode);
                }
                return Err(e);
            }
            // Everything the container held is dead now: reclaim it while
            // that costs nothing.
            self.maybe_compact(&inode, &content, CompactWhen::AtRest);
        }
        let st = sys::fstat(inode.fd()?.as_fd());
        let keep_cache = {
            let s = inode.state.lock();
            match (s.open.cached_stamp, &st) {
                (Some(old), Ok(st)) => old == stamp(st) && flags & libc::O_TRUNC == 0,
                _ => false,
            }
        };
        // An open for reading counts as the read that marks the file
        // accessed (with the page cache kept, the reads may never reach
        // us), under relatime rules: usually no syscall at all.
        // (strictatime: every open; the backing filesystem stores it as far
        // as the mount of BACKING the daemon uses allows.)
        let atime = self.opts.atime_now();
        if atime != super::AtimePolicy::NEVER
            && flags & libc::O_ACCMODE != libc::O_WRONLY
            && !self.opts.read_only
        {
            let now = super::inode::now_timespec().tv_sec;
            let strict = atime == super::AtimePolicy::STRICT;
            if st
                .as_ref()
                .is_ok_and(|st| strict || sys::relatime_due(st, now))
            {
                if let Err(e) = content.mark_accessed() {
                    log::debug!("ino {}: atime not updated: {e}", inode.ino);
                }
            }
        }
        let fh = self.add_handle(Handle::File {
            inode,
            content,
            append: flags & libc::O_APPEND != 0,
            writer,
            caps_killed: AtomicBool::new(false),
        });
        Ok(Opened { fh, keep_cache })
    }

    pub(crate) fn create(
        &self,
        parent: u64,
        name: &OsStr,
        mode: u32,
        flags: i32,
        caller: Caller,
    ) -> io::Result<(FileAttr, Opened)> {
        self.check_rw()?;
        let cname = new_name_cstr(parent, name)?;
        let parent_inode = self.inodes.get(parent)?;
        let content = match self.create_file(&parent_inode, &cname, mode, caller) {
            Ok(c) => c,
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) && flags & libc::O_EXCL == 0 => {
                // Lost a race with another creator: open the existing file.
                let (inode, _) = self.lookup_in(&parent_inode, &cname)?;
                let opened = self.open(inode.ino, flags, caller)?;
                let attr = self.getattr(inode.ino)?;
                return Ok((attr, opened));
            }
            Err(e) => return Err(e),
        };
        let mut content = Some(Arc::new(content));
        let shared = self.opts.shared;
        let (inode, attr) = self.lookup_prepared(&parent_inode, &cname, |s, st| {
            s.open.adopt_created(&mut content);
            s.caps_absent = true;
            s.new_name_parent = Some(Arc::downgrade(&parent_inode));
            // Just created by us: no ctime record to read or remove while
            // it stays open (another host could write one on a shared
            // mount; the open count keeps this one from closing meanwhile).
            if !shared && s.open.opens == 1 {
                s.no_ctime_rec = true;
                s.ctime_rec = Some((super::ctime::backing(st), None));
            }
        })?;
        let content = {
            let mut s = inode.state.lock();
            let c = s.open.content.clone();
            if c.as_ref().is_some_and(|c| c.is_container()) {
                self.ctime_opened(&inode, &mut s);
            }
            c
        };
        let Some(content) = content else {
            return Err(err(libc::EIO));
        };
        if let Err(e) = self.shared_writer_begin(&inode) {
            drop(content);
            let _ = self.release_content(&inode);
            return Err(e);
        }
        let fh = self.add_handle(Handle::File {
            inode,
            content,
            writer: true,
            append: flags & libc::O_APPEND != 0,
            // A new file has no capabilities to drop.
            caps_killed: AtomicBool::new(true),
        });
        Ok((
            attr,
            Opened {
                fh,
                keep_cache: false,
            },
        ))
    }

    /// Reads into `buf` (the size the kernel asked for); returns the
    /// bytes read (fewer only at EOF).
    pub(crate) fn read(&self, fh: u64, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let (_, content, _) = self.file(fh)?;
        content.read(offset, buf)
    }

    /// Writes `data`; `kill_suidgid`: the writer (given) lacks CAP_FSETID,
    /// so the set-user-ID and set-group-ID bits go as on a local filesystem.
    pub(crate) fn write(
        &self,
        fh: u64,
        offset: u64,
        data: &[u8],
        kill_suidgid: Option<Caller>,
    ) -> io::Result<usize> {
        let (inode, content, append) = self.file(fh)?;
        self.kill_caps_once(fh);
        if let Some(caller) = kill_suidgid {
            self.kill_suidgid(&inode, caller)?;
        }
        self.touch_data(&inode);
        let n = if append && !self.opts.writeback_cache {
            // Appends go to the current logical end, whatever offset the
            // kernel computed; the state lock orders concurrent appends.
            let _s = inode.state.lock();
            let end = content.size()?;
            content.write(end, data)?
        } else {
            content.write(offset, data)?
        };
        // Overwrites leave dead records behind: bound them while the file
        // is in use, not only at close (FORMAT.md 3.8).
        self.maybe_compact(&inode, &content, CompactWhen::InUse);
        Ok(n)
    }

    /// close(): the data written so far reaches BACKING.
    pub(crate) fn flush(&self, fh: u64) -> io::Result<()> {
        match &*self.handle(fh)? {
            Handle::File { inode, content, .. } => {
                content.flush()?;
                self.maybe_compact(inode, content, CompactWhen::AtRest);
                Ok(())
            }
            Handle::Dir { .. } => Ok(()),
        }
    }

    pub(crate) fn release(&self, fh: u64) -> io::Result<()> {
        let h = self.handles.write().remove(&fh);
        let (inode, writer) = match h.as_deref() {
            Some(Handle::File { inode, writer, .. }) => (inode.clone(), *writer),
            _ => return Ok(()),
        };
        // The handle's reference to the content goes first, so the last
        // close drops the content under the inode's state lock (its final
        // flush cannot overlap the next open of the same file).
        drop(h);
        let r = self.release_content(&inode);
        if writer {
            self.shared_writer_end(&inode);
        }
        r
    }

    fn sync_new_name(&self, inode: &Inode) -> io::Result<()> {
        let parent = inode.state.lock().new_name_parent.take();
        if let Some(p) = parent.and_then(|p| p.upgrade()) {
            self.sync_dir(&p)?;
        }
        Ok(())
    }

    fn sync_dir(&self, dir: &Inode) -> io::Result<()> {
        let fd = dir.fd()?;
        let d = sys::openat(fd.as_fd(), c".", libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
        File::from(d).sync_all()
    }

    pub(crate) fn fsync(&self, fh: u64, datasync: bool) -> io::Result<()> {
        let (inode, content, _) = self.file(fh)?;
        content.fsync(datasync)?;
        self.maybe_compact(&inode, &content, CompactWhen::InUse);
        self.sync_new_name(&inode)
    }

    /// fallocate(2) through handle `fh`. Like a write (and as on ext4), it
    /// drops file capabilities and, for a caller other than root, the
    /// set-ID bits (the kernel leaves both to us under
    /// FUSE_HANDLE_KILLPRIV_V2).
    pub(crate) fn fallocate(
        &self,
        fh: u64,
        offset: u64,
        len: u64,
        mode: i32,
        caller: Caller,
    ) -> io::Result<()> {
        const KEEP: i32 = libc::FALLOC_FL_KEEP_SIZE;
        const PUNCH: i32 = libc::FALLOC_FL_PUNCH_HOLE;
        const ZERO: i32 = libc::FALLOC_FL_ZERO_RANGE;
        if ![0, KEEP, PUNCH | KEEP, ZERO, ZERO | KEEP].contains(&mode) {
            return Err(err(libc::EOPNOTSUPP));
        }
        let (inode, content, _) = self.file(fh)?;
        self.kill_caps_once(fh);
        if caller.uid != 0 {
            self.kill_suidgid(&inode, caller)?;
        }
        if mode & KEEP == 0 || mode & (PUNCH | ZERO) != 0 {
            self.touch_data(&inode);
        }
        match mode {
            0 => content.allocate(offset, len, false),
            KEEP => content.allocate(offset, len, true),
            m if m == PUNCH | KEEP => content.punch_hole(offset, len),
            ZERO => content.zero_range(offset, len, false),
            m if m == ZERO | KEEP => content.zero_range(offset, len, true),
            _ => Err(err(libc::EOPNOTSUPP)),
        }
    }

    pub(crate) fn lseek(&self, fh: u64, offset: i64, whence: i32) -> io::Result<i64> {
        let (_, content, _) = self.file(fh)?;
        let off = u64::try_from(offset).map_err(|_| err(libc::ENXIO))?;
        let r = match whence {
            libc::SEEK_DATA => content.seek_data(off)?,
            libc::SEEK_HOLE => content.seek_hole(off)?,
            libc::SEEK_SET => off,
            libc::SEEK_END => content.size()?.saturating_add(off),
            _ => return Err(err(libc::EINVAL)),
        };
        i64::try_from(r).map_err(|_| err(libc::EOVERFLOW))
    }

    /// Writes and syncs every open file, then seals every container
    /// committed since the mount (`SealQueue::seal_pending`).
    pub(crate) fn flush_all(&self) -> io::Result<()> {
        let handles: Vec<Arc<Handle>> = self.handles.read().values().cloned().collect();
        let mut first_err = None;
        let mut seen = std::collections::HashSet::new();
        for h in handles {
            if let Handle::File { content, .. } = &*h {
                if seen.insert(Arc::as_ptr(content) as usize) {
                    if let Err(e) = content.fsync(false) {
                        log::error!("flush at unmount failed: {e}");
                        first_err.get_or_insert(e);
                    }
                }
            }
        }
        if let Err(e) = self.files.cache().flush_all() {
            log::error!("flush at unmount failed: {e}");
            first_err.get_or_insert(e);
        }
        // Everything is committed: sync once and seal (FORMAT.md 3.6).
        match self.files.seals().seal_pending() {
            Ok(n) => log::debug!("sealed {n} containers"),
            Err(e) => {
                log::error!("sealing at unmount failed: {e}");
                first_err.get_or_insert(e);
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    pub(crate) fn opendir(&self, ino: u64) -> io::Result<u64> {
        let inode = self.inodes.get(ino)?;
        if !inode.is_dir() {
            return Err(err(libc::ENOTDIR));
        }
        let entries = self.list_dir(&inode)?;
        let listing = Mutex::new(Listing {
            entries: Arc::new(entries),
            fresh: true,
        });
        Ok(self.add_handle(Handle::Dir { inode, listing }))
    }

    /// A snapshot of the names in directory `inode`, `.` and `..` first,
    /// with the inode numbers stat gives (the FUSE ones).
    fn list_dir(&self, inode: &Arc<Inode>) -> io::Result<Vec<DirEnt>> {
        let mut entries = vec![
            DirEnt {
                name: ".".into(),
                ino: inode.ino,
                kind: FileType::Directory,
            },
            DirEnt {
                name: "..".into(),
                ino: 0,
                kind: FileType::Directory,
            },
        ];
        let mut stale = Vec::new();
        {
            let fd = inode.fd()?;
            let path = std::path::PathBuf::from(format!("/proc/self/fd/{}", fd.raw()));
            for e in std::fs::read_dir(&path)? {
                let e = e?;
                if e.file_name()
                    .as_encoded_bytes()
                    .starts_with(super::compact::TEMP_PREFIX.as_bytes())
                {
                    stale.push(e.file_name());
                    continue;
                }
                if super::names::is_reserved(inode.ino, &e.file_name()) {
                    continue;
                }
                let kind = match e.file_type() {
                    Ok(t) if t.is_dir() => FileType::Directory,
                    Ok(t) if t.is_symlink() => FileType::Symlink,
                    Ok(t) if t.is_fifo() => FileType::NamedPipe,
                    Ok(t) if t.is_socket() => FileType::Socket,
                    Ok(t) if t.is_char_device() => FileType::CharDevice,
                    Ok(t) if t.is_block_device() => FileType::BlockDevice,
                    _ => FileType::RegularFile,
                };
                entries.push(DirEnt {
                    name: e.file_name(),
                    ino: e.ino(),
                    kind,
                });
            }
        }
        if !stale.is_empty() {
            self.remove_stale_temps(inode, &stale);
        }
        // Listed inode numbers agree with stat (the FUSE inode numbers);
        // `..` is the parent's (the root's own at the root), in every
        // listing and every resumed one alike.
        let fd = inode.fd()?;
        if let Ok(st) = sys::fstat(fd.as_fd()) {
            entries[1].ino = if inode.ino == super::inode::ROOT {
                super::inode::ROOT
            } else {
                sys::fstatat(fd.as_fd(), c"..", libc::AT_SYMLINK_NOFOLLOW)
                    .map_or(super::inode::ROOT, |p| p.st_ino)
            };
            let mut inos: Vec<u64> = entries.iter().map(|e| e.ino).collect();
            self.inodes.map_inos(st.st_dev, &mut inos[1..]);
            for (e, n) in entries.iter_mut().zip(inos).skip(1) {
                e.ino = n;
            }
        }
        Ok(entries)
    }

    /// Runs `f` over the listing of `fh` from `offset`; `f` returns true
    /// when the reply is full. Reading from offset 0 again (`rewinddir`,
    /// `seekdir` to the start) takes a new snapshot, so names made since
    /// the directory was opened appear (POSIX); other offsets resume the
    /// snapshot they came from, so d_off and d_ino stay stable.
    pub(crate) fn readdir(
        &self,
        fh: u64,
        offset: u64,
        mut f: impl FnMut(&DirEnt, u64) -> bool,
    ) -> io::Result<()> {
        let h = self.handle(fh)?;
        let Handle::Dir { inode, listing } = &*h else {
            return Err(err(libc::ENOTDIR));
        };
        let entries = {
            let mut l = listing.lock();
            if offset == 0 && !std::mem::replace(&mut l.fresh, false) {
                l.entries = Arc::new(self.list_dir(inode)?);
            }
            l.entries.clone()
        };
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        for (i, e) in entries.iter().enumerate().skip(start) {
            if f(e, i as u64 + 1) {
                break;
            }
        }
        Ok(())
    }

    /// The directory inode of handle `fh`.
    pub(crate) fn dir_inode(&self, fh: u64) -> io::Result<Arc<Inode>> {
        match &*self.handle(fh)? {
            Handle::Dir { inode, .. } => Ok(inode.clone()),
            Handle::File { .. } => Err(err(libc::ENOTDIR)),
        }
    }

    pub(crate) fn releasedir(&self, fh: u64) {
        self.handles.write().remove(&fh);
    }

    pub(crate) fn fsyncdir(&self, ino: u64) -> io::Result<()> {
        let inode = self.inodes.get(ino)?;
        self.sync_dir(&inode)
    }
}
