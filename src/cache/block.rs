//! One decoded block ([`Block`], behind its own lock) and the memory of
//! decoded blocks: the resident and peak byte counts, and the pool of
//! spare buffers reused for new blocks.

use parking_lot::{Mutex, RwLock};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// State of one decoded block, behind the block's lock.
pub(crate) struct BlockState {
    /// Exactly block_size bytes; bytes past EOF are always zero.
    pub(crate) data: Box<[u8]>,
    /// Newer than what the container holds.
    pub(crate) dirty: bool,
    /// No longer the file's copy of this block (evicted, truncated or
    /// punched): whoever holds it must look the block up again.
    pub(crate) gone: bool,
}

/// One decoded block. Readers take `state.read()`, writers `state.write()`;
/// write-back takes `state.upgradable_read()` for the whole encode + store,
/// which serializes write-backs of one block and keeps its bytes stable
/// while readers go on.
pub(crate) struct Block {
    pub(crate) state: RwLock<BlockState>,
    mem: Arc<MemStats>,
    pub(super) len: u64,
}

impl Block {
    pub(crate) fn new(data: Box<[u8]>, dirty: bool, mem: &Arc<MemStats>) -> Block {
        let len = data.len() as u64;
        mem.add(len);
        Block {
            state: RwLock::new(BlockState {
                data,
                dirty,
                gone: false,
            }),
            mem: mem.clone(),
            len,
        }
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        self.mem.resident.fetch_sub(self.len, Ordering::Relaxed);
        self.mem
            .recycle(std::mem::take(&mut self.state.get_mut().data));
    }
}

/// Freed block buffers kept for reuse (saves the page faults and zeroing
/// of fresh memory on every decode and every new block): always up to
/// this many...
const SPARE_BUFFERS: usize = 4;

/// ...and more while they take at most 1/SPARE_SHARE of the budget, so a
/// stream of decodes or new blocks (each freeing an older block) finds a
/// buffer even when the allocator would hand freed memory back to the
/// kernel in between.
const SPARE_SHARE: u64 = 32;

/// Bytes of decoded blocks actually allocated (whether in the LRU or not),
/// and a few spare buffers.
#[derive(Default)]
pub(crate) struct MemStats {
    pub(super) resident: AtomicU64,
    pub(super) peak: AtomicU64,
    /// Spare buffers and their total bytes.
    spare: Mutex<(Vec<Box<[u8]>>, u64)>,
    /// Most bytes of spare buffers beyond the first `SPARE_BUFFERS`.
    spare_max: u64,
}

impl MemStats {
    pub(super) fn new(budget: u64) -> MemStats {
        MemStats {
            spare_max: budget / SPARE_SHARE,
            ..MemStats::default()
        }
    }

    fn add(&self, n: u64) {
        let now = self.resident.fetch_add(n, Ordering::Relaxed) + n;
        self.peak.fetch_max(now, Ordering::Relaxed);
    }

    /// A buffer of `len` bytes with unspecified contents (a recycled one
    /// when available), for a block about to be overwritten entirely.
    pub(crate) fn buffer(&self, len: usize) -> Box<[u8]> {
        let recycled = {
            let mut spare = self.spare.lock();
            let (bufs, bytes) = &mut *spare;
            bufs.iter().rposition(|b| b.len() == len).map(|i| {
                *bytes -= len as u64;
                bufs.swap_remove(i)
            })
        };
        recycled.unwrap_or_else(|| vec![0u8; len].into_boxed_slice())
    }

    fn recycle(&self, buf: Box<[u8]>) {
        if buf.is_empty() {
            return;
        }
        let mut spare = self.spare.lock();
        let (bufs, bytes) = &mut *spare;
        let len = buf.len() as u64;
        if bufs.len() < SPARE_BUFFERS || *bytes + len <= self.spare_max {
            *bytes += len;
            bufs.push(buf);
        }
    }

    /// Bytes held in spare buffers (for tests).
    #[cfg(test)]
    pub(super) fn spare_bytes(&self) -> u64 {
        self.spare.lock().1
    }
}
