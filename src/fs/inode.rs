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
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::{RwLock, RwLockUpgradableReadGuard};

mod ghosts;
mod node;
mod state;

use super::sys;
use ghosts::{Ghost, Ghosts};

pub use node::{FdGuard, Inode, Slot};
pub use state::{now_timespec, FileState};

/// The FUSE inode number of the mount's root.
pub const ROOT: u64 = 1;

/// Synthetic inode numbers (when the backing st_ino cannot be used) start
/// here, far above any real inode number.
const SYNTHETIC_BASE: u64 = 1 << 56;

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
    /// Eviction scans run while more descriptors than this are open: the
    /// budget, or after a scan that could not get down to its target
    /// (too many inodes in use: open files, directories being listed) a
    /// quarter of the budget above what that scan left, so that the next
    /// one waits for that many new descriptors instead of every request
    /// scanning the whole table again.
    scan_above: AtomicUsize,
    /// Eviction scans run so far (tests, `scfs status`).
    scans: AtomicU64,
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
            scan_above: AtomicUsize::new(budget),
            scans: AtomicU64::new(0),
            dev: st.st_dev,
            mount,
            no_handles: AtomicBool::new(false),
        }
    }

    /// Inode descriptors open now (tests, logging).
    pub fn open_fds(&self) -> usize {
        self.open_fds.load(Ordering::Relaxed)
    }

    /// Eviction scans run so far (tests, `scfs status`).
    pub fn evict_scans(&self) -> u64 {
        self.scans.load(Ordering::Relaxed)
    }

    /// Whether a scan is due: more descriptors open than `scan_above`.
    fn over_budget(&self) -> bool {
        self.fd_budget > 0 && self.open_fds() > self.scan_above.load(Ordering::Relaxed)
    }

    /// Over budget: swaps the descriptors of idle inodes (no operation
    /// holds them, no open file) for handles until a quarter of the budget
    /// is free again. Called with the table locked, so no new reference
    /// to an inode can appear meanwhile. A scan visits the whole table at
    /// worst, so one that falls short (the inodes in use hold more than
    /// the target) puts the next one off until a quarter of the budget
    /// more descriptors are open: the scans' cost stays proportional to
    /// the descriptors opened, not to the requests served.
    fn evict_some(&self, t: &Tables) {
        if !self.over_budget() || self.no_handles.load(Ordering::Relaxed) {
            return;
        }
        self.scans.fetch_add(1, Ordering::Relaxed);
        let target = self.fd_budget - self.fd_budget / 4;
        let mut refused = 0usize;
        for e in t.by_ino.values() {
            if self.open_fds() <= target {
                break;
            }
            if e.inode.ino == ROOT
                || !e.inode.has_fd.load(Ordering::Acquire)
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
        let left = self.open_fds();
        let next = if left <= target {
            self.fd_budget
        } else {
            let next = left + (self.fd_budget / 4).max(1);
            log::debug!(
                "inode descriptors: {left} in use after a scan (budget {}); next scan above {next}",
                self.fd_budget
            );
            next
        };
        self.scan_above.store(next, Ordering::Relaxed);
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
        if self.over_budget() {
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
            if self.open_fds() <= self.fd_budget {
                // Back under budget: a scan put off after falling short
                // is due at the budget again.
                self.scan_above.store(self.fd_budget, Ordering::Relaxed);
            }
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
