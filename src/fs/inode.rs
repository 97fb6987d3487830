//! The inode table: one entry per backing object the kernel knows, held by
//! an `O_PATH` descriptor (as libfuse's passthrough_hp does) so renames,
//! hard links and unlinked-but-open files follow the backing inode. The
//! same backing object is always the same FUSE inode, so hard links are
//! one inode. Entries are counted by lookup and dropped by forget.
//!
//! An object is found by its (st_dev, st_ino), but that number names it
//! only while it exists: BACKING gives the number of a deleted object to
//! the next one made, and the kernel may still hold the old inode for a
//! while. A descriptor pins its object; an evicted inode (below) is
//! checked by its file handle, which tells objects apart. A gone one keeps
//! its node id (ESTALE on use) until forgotten; the new object gets its own.
//!
//! The kernel keeps every inode it has seen until memory pressure or a
//! forget, and a descriptor each would exceed RLIMIT_NOFILE on a big tree
//! (its hard limit is often 20000 in containers). So past a budget (half
//! the limit) the descriptors of idle inodes are swapped for file handles
//! (`name_to_handle_at`, a few bytes each) and reopened on the next use
//! (`open_by_handle_at`, which needs CAP_DAC_READ_SEARCH: a daemon without
//! it keeps every descriptor, as before).

use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock, RwLockReadGuard, RwLockUpgradableReadGuard, RwLockWriteGuard};

mod ghosts;
mod state;

use super::sys;
use ghosts::{Ghost, Ghosts};

pub use state::{now_timespec, FileState};

/// The FUSE inode number of the mount's root.
pub const ROOT: u64 = 1;

/// Synthetic inode numbers (when the backing st_ino cannot be used) start
/// here, far above any real inode number.
const SYNTHETIC_BASE: u64 = 1 << 56;

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
    has_fd: AtomicBool,
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
    fn new(
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

    fn reopen(&self, slot: &mut Slot) -> std::io::Result<()> {
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
    fn is_object(&self, fd: BorrowedFd<'_>, kind: u32) -> bool {
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
    fn ghost_handle(&self) -> Option<Box<[u32]>> {
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
    fn adopt(&self, fd: OwnedFd) {
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
    fn evict(&self) -> Option<bool> {
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

struct Entry {
    inode: Arc<Inode>,
    key: (u64, u64),
    /// The key of the backing file about to replace this one (compaction):
    /// mapped before the rename so that no lookup can make a second inode
    /// of the new file.
    pending: Option<(u64, u64)>,
    nlookup: u64,
    /// The backing object is gone (its number went to another): no ghost.
    dead: bool,
}

struct Tables {
    by_ino: HashMap<u64, Entry>,
    by_key: HashMap<(u64, u64), u64>,
    next_synthetic: u64,
    /// The last generation given (one per new object).
    last_gen: u64,
    /// Forgotten inodes remembered for the kernel's file handles.
    ghosts: Ghosts,
}

/// All known inodes.
pub struct InodeTable {
    t: RwLock<Tables>,
    /// Inode descriptors open now, and how many may be before idle ones
    /// are swapped for handles (0: never).
    open_fds: Arc<AtomicUsize>,
    fd_budget: usize,
    /// Device of BACKING and a descriptor on it: only its objects are
    /// evicted, and their handles are opened on it.
    dev: u64,
    mount: Option<Arc<OwnedFd>>,
    /// Set when the filesystem refused a handle: eviction stops trying.
    no_handles: AtomicBool,
}

impl InodeTable {
    /// A table holding the root (`fd` on BACKING, never forgotten).
    /// `fd_budget` inode descriptors may be open before idle ones are
    /// swapped for handles; 0 picks half of RLIMIT_NOFILE, and eviction is
    /// off where handles cannot be reopened (no CAP_DAC_READ_SEARCH).
    pub fn new(root_fd: OwnedFd, st: &libc::stat, fd_budget: usize) -> InodeTable {
        let key = (st.st_dev, st.st_ino);
        let open_fds = Arc::new(AtomicUsize::new(0));
        let mut budget = if fd_budget > 0 {
            fd_budget
        } else {
            sys::nofile_limit() / 2
        };
        // open_by_handle_at wants a real descriptor (not O_PATH) on the
        // filesystem.
        let mount = sys::open_path(
            &sys::proc_path(root_fd.as_raw_fd()),
            libc::O_RDONLY | libc::O_DIRECTORY,
        );
        let mount = match mount {
            Ok(m) if budget > 0 && can_reopen_handles(&root_fd, &m) => Some(Arc::new(m)),
            _ => {
                budget = 0;
                None
            }
        };
        let root = Arc::new(Inode::new(
            ROOT,
            0,
            st.st_mode & libc::S_IFMT,
            root_fd,
            &open_fds,
            None,
        ));
        let mut t = Tables {
            by_ino: HashMap::new(),
            by_key: HashMap::new(),
            next_synthetic: SYNTHETIC_BASE,
            last_gen: 0,
            ghosts: Ghosts::new(),
        };
        t.by_ino.insert(
            ROOT,
            Entry {
                inode: root,
                key,
                pending: None,
                nlookup: 1,
                dead: false,
            },
        );
        t.by_key.insert(key, ROOT);
        InodeTable {
            t: RwLock::new(t),
            open_fds,
            fd_budget: budget,
            dev: st.st_dev,
            mount,
            no_handles: AtomicBool::new(false),
        }
    }

    /// Inode descriptors open now (tests, logging).
    pub fn open_fds(&self) -> usize {
        self.open_fds.load(Ordering::Relaxed)
    }

    /// Over budget: swaps the descriptors of idle inodes (no operation
    /// holds them, no open file) for handles until a quarter of the budget
    /// is free again. Called with the table locked, so no new reference
    /// to an inode can appear meanwhile.
    fn evict_some(&self, t: &Tables) {
        if self.fd_budget == 0
            || self.open_fds() <= self.fd_budget
            || self.no_handles.load(Ordering::Relaxed)
        {
            return;
        }
        let target = self.fd_budget - self.fd_budget / 4;
        let mut refused = 0usize;
        for e in t.by_ino.values() {
            if self.open_fds() <= target {
                break;
            }
            if e.inode.ino == ROOT
                || e.key.0 != self.dev
                || e.pending.is_some()
                || Arc::strong_count(&e.inode) > 1
            {
                continue;
            }
            let idle = e
                .inode
                .state
                .try_lock()
                .is_some_and(|s| s.open.content.is_none() && s.open.opens == 0);
            if !idle {
                continue;
            }
            if e.inode.evict().is_none() {
                refused += 1;
                if refused >= 16 {
                    // A filesystem that gives no handles for these objects.
                    self.no_handles.store(true, Ordering::Relaxed);
                    log::warn!("inode descriptors: no file handles; keeping all open");
                    return;
                }
            }
        }
    }

    /// The inode `ino`, or ESTALE if the kernel names one we do not know.
    /// Inodes reopened by their handle count against the descriptor
    /// budget too: past it, idle ones are evicted again here.
    pub fn get(&self, ino: u64) -> std::io::Result<Arc<Inode>> {
        let inode = self
            .t
            .read()
            .by_ino
            .get(&ino)
            .map(|e| e.inode.clone())
            .ok_or_else(|| std::io::Error::from_raw_os_error(libc::ESTALE))?;
        if self.fd_budget > 0 && self.open_fds() > self.fd_budget {
            self.evict_some(&self.t.write());
        }
        Ok(inode)
    }

    /// Records one more lookup of the backing object behind `fd` (whose
    /// stat is `st`), creating the inode if new; `fd` is dropped if the
    /// object is already known.
    ///
    /// An inode known by the same (st_dev, st_ino) is this object only if
    /// it still is: BACKING reuses the number of a deleted object, while
    /// the kernel may still hold the old inode (an evicted one, whose
    /// descriptor no longer pins the object). A gone one keeps its node
    /// id until the kernel forgets it (every use is ESTALE) and the new
    /// object gets a node id of its own.
    pub fn lookup(&self, fd: OwnedFd, st: &libc::stat) -> Arc<Inode> {
        let key = (st.st_dev, st.st_ino);
        let kind = st.st_mode & libc::S_IFMT;
        let t = self.t.upgradable_read();
        let known = t.by_key.get(&key).copied();
        let same = known.and_then(|ino| {
            let e = t.by_ino.get(&ino)?;
            Some(e.inode.is_object(fd.as_fd(), kind))
        });
        let mut t = RwLockUpgradableReadGuard::upgrade(t);
        match (known, same) {
            (Some(ino), Some(true)) => {
                let e = t.by_ino.get_mut(&ino).expect("checked above");
                e.nlookup += 1;
                let inode = e.inode.clone();
                if !inode.has_fd.load(Ordering::Acquire) {
                    inode.adopt(fd);
                    self.evict_some(&t);
                }
                return inode;
            }
            (Some(ino), Some(false)) => {
                log::debug!("ino {ino}: backing object gone, its number reused");
                t.by_key.remove(&key);
                if let Some(e) = t.by_ino.get_mut(&ino) {
                    e.dead = true;
                }
            }
            (Some(_), None) => {
                t.by_key.remove(&key);
            }
            (None, _) => {}
        }
        let (ino, gen) = t.place(key, fd.as_fd());
        self.evict_some(&t);
        let mount = self.mount.clone().filter(|_| key.0 == self.dev);
        let inode = Arc::new(Inode::new(ino, gen, kind, fd, &self.open_fds, mount));
        t.by_ino.insert(
            ino,
            Entry {
                inode: inode.clone(),
                key,
                pending: None,
                nlookup: 1,
                dead: false,
            },
        );
        t.by_key.insert(key, ino);
        inode
    }

    /// Drops `n` lookups of `ino`; the inode goes when none are left.
    pub fn forget(&self, ino: u64, n: u64) {
        if ino == ROOT {
            return;
        }
        let mut t = self.t.write();
        let Some(e) = t.by_ino.get_mut(&ino) else {
            return;
        };
        e.nlookup = e.nlookup.saturating_sub(n);
        if e.nlookup == 0 {
            let keys = [Some(e.key), e.pending];
            let Some(e) = t.by_ino.remove(&ino) else {
                return;
            };
            for key in keys.into_iter().flatten() {
                if t.by_key.get(&key) == Some(&ino) {
                    t.by_key.remove(&key);
                }
            }
            if e.dead || e.pending.is_some() {
                return;
            }
            if let Some(handle) = e.inode.ghost_handle() {
                let g = Ghost {
                    key: e.key,
                    handle,
                    gen: e.inode.gen,
                };
                t.ghosts.bury(ino, g);
            }
        }
    }

    /// The backing object of `ino` is about to become `st` (a new file
    /// renamed over it): from now on both map to `ino`.
    pub fn rekey_begin(&self, ino: u64, st: &libc::stat) {
        let key = (st.st_dev, st.st_ino);
        let mut t = self.t.write();
        let Some(e) = t.by_ino.get_mut(&ino) else {
            return;
        };
        e.pending = Some(key);
        t.by_key.insert(key, ino);
    }

    /// The replacement happened (`done`) or failed: one key is dropped.
    pub fn rekey_end(&self, ino: u64, done: bool) {
        let mut t = self.t.write();
        let Some(e) = t.by_ino.get_mut(&ino) else {
            return;
        };
        let Some(new) = e.pending.take() else {
            return;
        };
        let gone = if done {
            std::mem::replace(&mut e.key, new)
        } else {
            new
        };
        if t.by_key.get(&gone) == Some(&ino) {
            t.by_key.remove(&gone);
        }
    }

    /// The inode number in use for the backing object `key` (st_dev,
    /// st_ino), if any (no check that it is still that object).
    pub fn ino_of(&self, key: (u64, u64)) -> Option<u64> {
        self.t.read().by_key.get(&key).copied()
    }

    /// The inode known for the backing object `fd` (stat `st`), if the
    /// kernel holds one and it is this very object.
    pub fn find(&self, fd: BorrowedFd<'_>, st: &libc::stat) -> Option<Arc<Inode>> {
        let t = self.t.read();
        let ino = *t.by_key.get(&(st.st_dev, st.st_ino))?;
        let inode = t.by_ino.get(&ino)?.inode.clone();
        drop(t);
        inode
            .is_object(fd, st.st_mode & libc::S_IFMT)
            .then_some(inode)
    }

    /// Maps backing inode numbers (on device `dev`) to the FUSE inode
    /// numbers in use for them (they differ after compaction), in place.
    pub fn map_inos(&self, dev: u64, inos: &mut [u64]) {
        let t = self.t.read();
        for ino in inos {
            if let Some(&n) = t.by_key.get(&(dev, *ino)) {
                *ino = n;
            }
        }
    }

    /// Number of known inodes (tests, logging).
    pub fn len(&self) -> usize {
        self.t.read().by_ino.len()
    }

    #[allow(dead_code)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Whether a handle of `fd`'s object can be made and opened again on
/// `mount` (the filesystem supports handles and we may open them).
fn can_reopen_handles(fd: &OwnedFd, mount: &OwnedFd) -> bool {
    sys::name_to_handle(fd.as_fd())
        .and_then(|h| sys::open_by_handle(mount.as_fd(), &h, libc::O_PATH))
        .is_ok()
}
