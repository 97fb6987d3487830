//! The LRU order and byte budget of the resident blocks, and eviction
//! down to the budget.

use super::{BlockOwner, Shared};
use lru::LruCache;
use std::sync::Weak;

pub(super) struct LruEntry {
    bytes: u64,
    owner: Weak<dyn BlockOwner>,
}

pub(super) struct Lru {
    pub(super) map: LruCache<(u64, u64), LruEntry>,
    pub(super) used: u64,
}

impl Shared {
    /// Marks block `no` of file `id` most recently used (if in the LRU).
    pub(crate) fn touch(&self, id: u64, no: u64) {
        self.lru.lock().map.promote(&(id, no));
    }

    /// Puts block `no` of file `id` in the LRU (most recently used). Call
    /// [`Shared::shrink`] once the caller no longer needs any block.
    pub(crate) fn insert(&self, id: u64, no: u64, bytes: u64, owner: Weak<dyn BlockOwner>) {
        let mut lru = self.lru.lock();
        if let Some((_, old)) = lru.map.push((id, no), LruEntry { bytes, owner }) {
            lru.used -= old.bytes;
        }
        lru.used += bytes;
    }

    /// Takes block `no` of file `id` out of the LRU (truncate, punch, drop).
    pub(crate) fn remove(&self, id: u64, no: u64) {
        let mut lru = self.lru.lock();
        if let Some(old) = lru.map.pop(&(id, no)) {
            lru.used -= old.bytes;
        }
    }

    /// Evicts least recently used blocks until the budget is met. Stops
    /// early if an owner cannot write a block back (it keeps the block).
    pub(crate) fn shrink(&self) {
        loop {
            let (key, entry) = {
                let mut lru = self.lru.lock();
                if lru.used <= self.budget {
                    return;
                }
                match lru.map.pop_lru() {
                    Some((k, e)) => {
                        lru.used -= e.bytes;
                        (k, e)
                    }
                    None => return,
                }
            };
            if let Some(owner) = entry.owner.upgrade() {
                if !owner.evict(key.1) {
                    return;
                }
            }
        }
    }
}
