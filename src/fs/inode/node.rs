//! One inode the kernel knows: its O_PATH descriptor slot (swapped for a
//! file handle while evicted, reopened on use, checked to be the same
//! object), its kind, and its state lock (`FileState`, which holds the
//! open-file table's entry). The table of them is `inode.rs`.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::state::FileState;
use crate::fs::sys;

/// One inode the kernel knows.
pub struct Inode {
    /// FUSE inode number (the backing st_ino whenever possible).
    pub ino: u64,
    /// FUSE generation: (ino, gen) names one object for the mount's life,
    /// so a kernel file handle (NFS) never reaches another object that
    /// got the same node id.
    pub gen: u64,
    /// `S_IFMT` bits of the backing object.
    pub kind: u32,
    /// O_PATH descriptor of the backing object (or, while idle, a handle
    /// to reopen it by); replaced when compaction renames a fresh
    /// container over the old one.
    fd: RwLock<Slot>,
    /// Whether the slot holds a descriptor (changed with the slot locked
    /// for writing; eviction also holds the table's lock, so a reader of
    /// the table sees it settled).
    pub(super) has_fd: AtomicBool,
    /// While evicted, the handle of the backing object (what identifies
    /// it: another object may get its inode number once it is gone). Its
    /// own lock, never held across anything else.
    handle: Mutex<Option<Box<[u32]>>>,
    /// The table's count of open inode descriptors.
    open_fds: Arc<AtomicUsize>,
    /// A descriptor on BACKING's filesystem to open handles on (None:
    /// this inode is never evicted).
    mount: Option<Arc<OwnedFd>>,
    /// Open-file state of regular files (content shared by every handle).
    pub state: Mutex<FileState>,
    /// `-o shared`: this daemon removed the file's last name (an unlink or
    /// a rename over it through this mount), so a link count of 0 means
    /// "unlinked while open", not "replaced by another host" (which is
    /// ESTALE: docs/SHARED.md).
    pub unlinked_here: AtomicBool,
    /// A directory's default ACL and compression policy as last read from
    /// BACKING (what each create in it inherits: `fs/inherit.rs`).
    pub inherit: Mutex<super::super::inherit::DirInherit>,
}

/// An inode's hold on its backing object: a descriptor, or none while
/// evicted (then `Inode::handle` reopens it).
pub struct Slot {
    fd: Option<OwnedFd>,
}

impl AsFd for Slot {
    /// The descriptor of an open slot (`Inode::fd_mut` opens it first).
    fn as_fd(&self) -> BorrowedFd<'_> {
        match &self.fd {
            Some(fd) => fd.as_fd(),
            // Not reached: `Inode::fd_mut` returns the slot open, and it
            // stays open while that write guard is held.
            None => unreachable!("inode slot without a descriptor"),
        }
    }
}

impl Slot {
    /// Replaces the descriptor (compaction: the inode follows a new file).
    /// (The slot is open here, as `Inode::fd_mut` returns it, so the
    /// inode's remembered handle is not used before the next eviction
    /// takes the new file's.)
    pub fn set(&mut self, fd: OwnedFd) {
        self.fd = Some(fd);
    }
}

impl Inode {
    pub(super) fn new(
        ino: u64,
        gen: u64,
        kind: u32,
        fd: OwnedFd,
        open_fds: &Arc<AtomicUsize>,
        mount: Option<Arc<OwnedFd>>,
    ) -> Inode {
        open_fds.fetch_add(1, Ordering::Relaxed);
        Inode {
            ino,
            gen,
            kind,
            fd: RwLock::new(Slot { fd: Some(fd) }),
            has_fd: AtomicBool::new(true),
            handle: Mutex::new(None),
            open_fds: open_fds.clone(),
            mount,
            state: Mutex::new(FileState::default()),
            unlinked_here: AtomicBool::new(false),
            inherit: Mutex::new(Default::default()),
        }
    }

    /// Borrows the O_PATH descriptor (holding a read lock on it), reopening
    /// it by its handle if it was evicted (ESTALE if the object is gone).
    pub fn fd(&self) -> std::io::Result<FdGuard<'_>> {
        {
            // Recursive: a thread may hold this inode's descriptor twice (a
            // rename within one directory), and a plain read would queue
            // behind a writer waiting to reopen it: a deadlock.
            let g = self.fd.read_recursive();
            if g.fd.is_some() {
                return Ok(FdGuard(g));
            }
        }
        let mut w = self.fd.write();
        self.reopen(&mut w)?;
        Ok(FdGuard(RwLockWriteGuard::downgrade(w)))
    }

    /// Exclusive access to the descriptor (compaction replaces it), open.
    pub fn fd_mut(&self) -> std::io::Result<RwLockWriteGuard<'_, Slot>> {
        let mut w = self.fd.write();
        self.reopen(&mut w)?;
        Ok(w)
    }

    pub(super) fn reopen(&self, slot: &mut Slot) -> std::io::Result<()> {
        if slot.fd.is_some() {
            return Ok(());
        }
        let estale = || std::io::Error::from_raw_os_error(libc::ESTALE);
        let h = self.handle.lock().clone();
        let (Some(h), Some(mount)) = (h, &self.mount) else {
            return Err(estale());
        };
        let fd = sys::open_by_handle(mount.as_fd(), &h, libc::O_PATH | libc::O_NOFOLLOW)?;
        slot.fd = Some(fd);
        self.has_fd.store(true, Ordering::Release);
        self.open_fds.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Whether `fd` (whose file type is `kind`, and whose (st_dev, st_ino)
    /// is the key this inode was found by) is this inode's backing object.
    /// A held descriptor pins the object, so no other can have its number;
    /// an evicted one is compared by handle, or (no handle to compare)
    /// checked to be still there. Called with the table locked (no
    /// eviction meanwhile); takes no other lock but the handle's.
    pub(super) fn is_object(&self, fd: BorrowedFd<'_>, kind: u32) -> bool {
        if self.kind != kind {
            return false;
        }
        if self.has_fd.load(Ordering::Acquire) {
            return true;
        }
        let old = self.handle.lock();
        let Some(old) = old.as_ref() else {
            return true;
        };
        match sys::name_to_handle(fd) {
            Ok(new) => new == *old,
            Err(_) => self.mount.as_ref().is_some_and(|m| {
                sys::open_by_handle(m.as_fd(), old, libc::O_PATH | libc::O_NOFOLLOW).is_ok()
            }),
        }
    }

    /// The handle to find this inode's object by after the kernel forgot
    /// it (None: deleted, or busy, or no handle).
    pub(super) fn ghost_handle(&self) -> Option<Box<[u32]>> {
        self.mount.as_ref()?;
        if !self.has_fd.load(Ordering::Acquire) {
            return self.handle.lock().clone();
        }
        let slot = self.fd.try_read_recursive()?;
        let fd = slot.fd.as_ref()?;
        if sys::fstat(fd.as_fd()).ok()?.st_nlink == 0 {
            return None;
        }
        sys::name_to_handle(fd.as_fd()).ok()
    }

    /// Gives an evicted inode the descriptor a lookup just opened on its
    /// object (it is about to be used); dropped if the slot is busy.
    pub(super) fn adopt(&self, fd: OwnedFd) {
        if let Some(mut w) = self.fd.try_write() {
            if w.fd.is_none() {
                w.fd = Some(fd);
                self.has_fd.store(true, Ordering::Release);
                self.open_fds.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Swaps the descriptor for a handle if nobody uses it: Some(true) if
    /// done, Some(false) if busy or not evictable, None if the filesystem
    /// gave no handle.
    pub(super) fn evict(&self) -> Option<bool> {
        if self.mount.is_none() {
            return Some(false);
        }
        let Some(mut w) = self.fd.try_write() else {
            return Some(false);
        };
        let Some(fd) = &w.fd else {
            return Some(false);
        };
        let h = sys::name_to_handle(fd.as_fd()).ok()?;
        *self.handle.lock() = Some(h);
        w.fd = None;
        self.has_fd.store(false, Ordering::Release);
        self.open_fds.fetch_sub(1, Ordering::Relaxed);
        Some(true)
    }

    pub fn is_dir(&self) -> bool {
        self.kind == libc::S_IFDIR
    }

    pub fn is_reg(&self) -> bool {
        self.kind == libc::S_IFREG
    }

    pub fn is_symlink(&self) -> bool {
        self.kind == libc::S_IFLNK
    }
}

impl Drop for Inode {
    fn drop(&mut self) {
        if self.fd.get_mut().fd.is_some() {
            self.open_fds.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// A borrowed O_PATH descriptor, valid while the guard lives (made only
/// over a slot holding a descriptor, which stays while the lock is held).
pub struct FdGuard<'a>(RwLockReadGuard<'a, Slot>);

impl FdGuard<'_> {
    pub fn raw(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

impl AsFd for FdGuard<'_> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        // `Inode::fd` makes a guard only over an open slot, and eviction
        // needs the write lock the guard excludes.
        self.0.as_fd()
    }
}
