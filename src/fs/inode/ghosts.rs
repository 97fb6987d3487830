//! Inodes the kernel has forgotten, remembered for its file handles (NFS
//! re-export, open_by_handle_at on the mount): by node id, the backing
//! file handle to find the object again and the generation it had, so a
//! handle resolves to the same node id and generation for the mount's
//! life (or ESTALE once its object is gone or it is no longer remembered).

use std::collections::HashMap;
use std::num::NonZeroUsize;

use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;

use lru::LruCache;

use super::{Inode, InodeTable, Tables, ROOT, SYNTHETIC_BASE};
use crate::fs::sys;

/// What is kept of an inode the kernel forgot, so that its file handles
/// (NFS, open_by_handle_at on the mount) find the object again.
pub struct Ghost {
    pub key: (u64, u64),
    pub handle: Box<[u32]>,
    pub gen: u64,
}

/// Forgotten inodes remembered for the kernel's file handles: about 100
/// bytes each; past this many, the longest forgotten go (their handles
/// then fail with ESTALE).
const GHOSTS: usize = 1 << 19;

/// Forgotten inodes by node id, and their node ids by backing key.
pub struct Ghosts {
    map: LruCache<u64, Ghost>,
    keys: HashMap<(u64, u64), u64>,
}

impl Ghosts {
    pub fn new() -> Ghosts {
        Ghosts {
            map: LruCache::new(NonZeroUsize::new(GHOSTS).expect("nonzero")),
            keys: HashMap::new(),
        }
    }

    /// Whether node id `ino` is remembered (not to be given to another).
    pub fn contains(&self, ino: u64) -> bool {
        self.map.contains(&ino)
    }

    /// The backing handle of forgotten node `ino`.
    pub fn handle(&mut self, ino: u64) -> Option<Box<[u32]>> {
        self.map.get(&ino).map(|g| g.handle.clone())
    }

    /// Takes out the node remembered for backing key `key` (about to be
    /// known again, or its object gone).
    pub fn take(&mut self, key: (u64, u64)) -> Option<(u64, Ghost)> {
        let n = self.keys.remove(&key)?;
        self.map.pop(&n).map(|g| (n, g))
    }

    /// Remembers the forgotten node `ino`.
    pub fn bury(&mut self, ino: u64, g: Ghost) {
        let key = g.key;
        if let Some(old) = self.keys.insert(key, ino) {
            if old != ino {
                self.map.pop(&old);
            }
        }
        // The entry replaced (same node id) or the longest forgotten one.
        if let Some((n, old)) = self.map.push(ino, g) {
            if old.key != key && self.keys.get(&old.key) == Some(&n) {
                self.keys.remove(&old.key);
            }
        }
    }
}

impl Tables {
    /// Node id and generation for a new inode of the object `fd` (known
    /// by `key`): those it had when forgotten, if remembered, otherwise
    /// its st_ino when free (a synthetic number if not) and a new
    /// generation.
    pub(super) fn place(&mut self, key: (u64, u64), fd: BorrowedFd<'_>) -> (u64, u64) {
        if let Some((n, g)) = self.ghosts.take(key) {
            let same = sys::name_to_handle(fd).is_ok_and(|h| h == g.handle);
            if same && !self.by_ino.contains_key(&n) {
                return (n, g.gen);
            }
        }
        let mut ino = key.1;
        let taken = |t: &Tables, n: u64| t.by_ino.contains_key(&n) || t.ghosts.contains(n);
        if ino <= ROOT || ino >= SYNTHETIC_BASE || taken(self, ino) {
            loop {
                ino = self.next_synthetic;
                self.next_synthetic += 1;
                if !taken(self, ino) {
                    break;
                }
            }
        }
        self.last_gen += 1;
        (ino, self.last_gen)
    }
}

impl InodeTable {
    /// One more lookup of node `ino` by its id (the kernel resolving a
    /// file handle): the known inode, or one the kernel forgot, reopened
    /// by the handle remembered then. ESTALE if its object is gone.
    pub fn lookup_id(&self, ino: u64) -> std::io::Result<Arc<Inode>> {
        let estale = || std::io::Error::from_raw_os_error(libc::ESTALE);
        let handle = {
            let mut t = self.t.write();
            if let Some(e) = t.by_ino.get_mut(&ino) {
                if e.dead {
                    return Err(estale());
                }
                e.nlookup += 1;
                return Ok(e.inode.clone());
            }
            t.ghosts.handle(ino).ok_or_else(estale)?
        };
        let mount = self.mount.as_ref().ok_or_else(estale)?;
        let fd = sys::open_by_handle(mount.as_fd(), &handle, libc::O_PATH | libc::O_NOFOLLOW)?;
        let st = sys::fstat(fd.as_fd())?;
        let inode = self.lookup(fd, &st);
        if inode.ino != ino {
            // Known under another node id meanwhile (not remembered).
            self.forget(inode.ino, 1);
            return Err(estale());
        }
        Ok(inode)
    }

    /// The generation of node `ino` (0 if unknown).
    pub fn generation(&self, ino: u64) -> u64 {
        self.t.read().by_ino.get(&ino).map_or(0, |e| e.inode.gen)
    }
}
