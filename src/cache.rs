//! The block cache: one per mount. Owns the LRU order and the byte budget of
//! decoded blocks, the pool of background compression threads and the idle
//! flusher. It knows nothing about containers: every resident block belongs
//! to an owner (a `file::LogicalFile`) reached through the [`BlockOwner`]
//! trait, which does the actual write-back.
//!
//! Locking: the LRU, the job queue and the registry are short leaf mutexes,
//! never held while decoding, encoding or doing I/O. Each block has its own
//! `RwLock` (see [`Block`]).
//!
//! Memory: `used` counts the blocks currently in the LRU; `shrink` evicts
//! until `used <= budget`. A block popped for eviction stays allocated until
//! its owner has written it back, so the real memory (`resident_bytes`) can
//! exceed the budget by the blocks being evicted or worked on at that moment
//! (about one per thread). Freed block buffers are kept for reuse on top
//! of that: up to `SPARE_BUFFERS` of them, more while they take at most
//! 1/`SPARE_SHARE` of the budget.

use lru::LruCache;
use parking_lot::{Condvar, Mutex, RwLock};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Default byte budget of decoded blocks (`cache_size=`).
pub const DEFAULT_CACHE_SIZE: u64 = 64 << 20;

/// Tunables of a [`BlockCache`].
#[derive(Debug, Clone)]
pub struct CacheOptions {
    /// Byte budget of decoded blocks.
    pub budget: u64,
    /// Background compression threads (0: compress in the writing thread).
    pub compress_threads: usize,
    /// Flush files whose last write is older than this (None: never).
    pub idle_flush: Option<Duration>,
}

impl Default for CacheOptions {
    fn default() -> Self {
        CacheOptions {
            budget: DEFAULT_CACHE_SIZE,
            compress_threads: std::thread::available_parallelism()
                .map(|n| n.get().min(4))
                .unwrap_or(1),
            idle_flush: Some(Duration::from_secs(3)),
        }
    }
}

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
    len: u64,
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
    resident: AtomicU64,
    peak: AtomicU64,
    /// Spare buffers and their total bytes.
    spare: Mutex<(Vec<Box<[u8]>>, u64)>,
    /// Most bytes of spare buffers beyond the first `SPARE_BUFFERS`.
    spare_max: u64,
}

impl MemStats {
    fn new(budget: u64) -> MemStats {
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
    fn spare_bytes(&self) -> u64 {
        self.spare.lock().1
    }
}

/// What the cache needs from the owner of blocks (a logical file).
pub(crate) trait BlockOwner: Send + Sync {
    /// Writes block `no` back if dirty and drops it. Returns false if it
    /// could not (write error): the owner then keeps it and re-inserts it.
    fn evict(&self, no: u64) -> bool;
    /// Writes back `block` (block `no`) if it is still dirty and current.
    fn write_back(&self, no: u64, block: &Arc<Block>);
    /// Decodes block `no` into the cache if it is not there (read-ahead).
    fn prefetch(&self, no: u64);
    /// Flushes if the owner has unwritten data and has been idle `idle`.
    fn idle_flush(&self, idle: Duration);
    /// Flushes unconditionally (unmount).
    fn flush_now(&self) -> std::io::Result<()>;
}

struct LruEntry {
    bytes: u64,
    owner: Weak<dyn BlockOwner>,
}

struct Lru {
    map: LruCache<(u64, u64), LruEntry>,
    used: u64,
}

struct Job {
    no: u64,
    owner: Weak<dyn BlockOwner>,
    /// Some: write this block back; None: read block `no` ahead.
    block: Option<Weak<Block>>,
    /// Bytes of the block (what the job holds or will allocate).
    bytes: u64,
}

/// Jobs waiting of one kind (write-back or read-ahead).
#[derive(Default)]
struct Backlog {
    jobs: usize,
    bytes: u64,
}

struct Queue {
    jobs: VecDeque<Job>,
    /// Waiting write-back jobs and read-ahead jobs: each kind may queue
    /// up to a quarter of the budget (and always `2 * workers` jobs), so
    /// a sequential writer hands its blocks off without stalling and a
    /// sequential reader's window is decoded ahead, without the queued
    /// blocks ever being the LRU's oldest ones.
    write_back: Backlog,
    read_ahead: Backlog,
    stop: bool,
}

/// Most bytes decoded ahead of one sequential reader.
const MAX_READ_AHEAD: u64 = 4 << 20;

/// The part of the cache shared with files and background threads.
pub(crate) struct Shared {
    budget: u64,
    lru: Mutex<Lru>,
    pub(crate) mem: Arc<MemStats>,
    next_id: AtomicU64,
    registry: Mutex<HashMap<u64, Weak<dyn BlockOwner>>>,
    queue: Mutex<Queue>,
    queue_cv: Condvar,
    queue_cap: usize,
    workers: usize,
    flusher_stop: Mutex<bool>,
    flusher_cv: Condvar,
    epoch: Instant,
}

impl Shared {
    pub(crate) fn new_file_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn register(&self, id: u64, owner: Weak<dyn BlockOwner>) {
        self.registry.lock().insert(id, owner);
    }

    pub(crate) fn unregister(&self, id: u64) {
        self.registry.lock().remove(&id);
    }

    /// Milliseconds since the cache was created (monotonic).
    pub(crate) fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

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

    /// Hands a full dirty block to the compression threads. Returns false
    /// if there are none or their backlog is full: the caller decides.
    pub(crate) fn submit(&self, no: u64, owner: Weak<dyn BlockOwner>, block: &Arc<Block>) -> bool {
        self.push(Job {
            no,
            owner,
            block: Some(Arc::downgrade(block)),
            bytes: block.len,
        })
    }

    /// Asks the background threads to decode block `no` (of `bytes`) ahead
    /// of a sequential reader. Returns false (and queues nothing) when
    /// their read-ahead backlog is full.
    pub(crate) fn submit_prefetch(&self, no: u64, bytes: u64, owner: Weak<dyn BlockOwner>) -> bool {
        self.push(Job {
            no,
            owner,
            block: None,
            bytes,
        })
    }

    /// Most bytes worth decoding ahead of one sequential reader: an
    /// eighth of the budget, at most [`MAX_READ_AHEAD`] (0 without
    /// background threads).
    pub(crate) fn read_ahead_bytes(&self) -> u64 {
        if self.workers == 0 {
            return 0;
        }
        (self.budget / 8).min(MAX_READ_AHEAD)
    }

    fn push(&self, job: Job) -> bool {
        if self.workers == 0 {
            return false;
        }
        let mut q = self.queue.lock();
        if q.stop {
            return false;
        }
        let cap = self.queue_cap;
        let limit = self.budget / 4;
        let bytes = job.bytes;
        let log = if job.block.is_some() {
            &mut q.write_back
        } else {
            &mut q.read_ahead
        };
        if log.jobs >= cap && log.bytes + bytes > limit {
            return false;
        }
        log.jobs += 1;
        log.bytes += bytes;
        q.jobs.push_back(job);
        drop(q);
        self.queue_cv.notify_one();
        true
    }

    fn worker(&self) {
        loop {
            let job = {
                let mut q = self.queue.lock();
                loop {
                    if let Some(j) = q.jobs.pop_front() {
                        let log = if j.block.is_some() {
                            &mut q.write_back
                        } else {
                            &mut q.read_ahead
                        };
                        log.jobs -= 1;
                        log.bytes -= j.bytes;
                        break j;
                    }
                    if q.stop {
                        return;
                    }
                    self.queue_cv.wait(&mut q);
                }
            };
            let Some(owner) = job.owner.upgrade() else {
                continue;
            };
            match job.block {
                Some(block) => {
                    if let Some(block) = block.upgrade() {
                        owner.write_back(job.no, &block);
                    }
                }
                None => {
                    owner.prefetch(job.no);
                    self.shrink();
                }
            }
        }
    }

    fn owners(&self) -> Vec<Arc<dyn BlockOwner>> {
        self.registry
            .lock()
            .values()
            .filter_map(|w| w.upgrade())
            .collect()
    }

    fn flusher(&self, idle: Duration) {
        let tick = (idle / 2).clamp(Duration::from_millis(50), Duration::from_secs(1));
        loop {
            {
                let mut stop = self.flusher_stop.lock();
                if !*stop {
                    self.flusher_cv.wait_for(&mut stop, tick);
                }
                if *stop {
                    return;
                }
            }
            for owner in self.owners() {
                owner.idle_flush(idle);
            }
        }
    }
}

/// The mount-wide cache of decoded blocks. Dropping it stops the background
/// threads (files still open then write back in the calling thread).
pub struct BlockCache {
    pub(crate) shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl BlockCache {
    /// A cache with a byte budget and default threads.
    pub fn new(budget: u64) -> Arc<BlockCache> {
        Self::with_options(CacheOptions {
            budget,
            ..CacheOptions::default()
        })
    }

    pub fn with_options(opts: CacheOptions) -> Arc<BlockCache> {
        let workers = opts.compress_threads;
        let shared = Arc::new(Shared {
            budget: opts.budget,
            lru: Mutex::new(Lru {
                map: LruCache::unbounded(),
                used: 0,
            }),
            mem: Arc::new(MemStats::new(opts.budget)),
            next_id: AtomicU64::new(1),
            registry: Mutex::new(HashMap::new()),
            queue: Mutex::new(Queue {
                jobs: VecDeque::new(),
                write_back: Backlog::default(),
                read_ahead: Backlog::default(),
                stop: false,
            }),
            queue_cv: Condvar::new(),
            queue_cap: (workers * 2).max(2),
            workers,
            flusher_stop: Mutex::new(false),
            flusher_cv: Condvar::new(),
            epoch: Instant::now(),
        });
        let mut threads = Vec::new();
        for i in 0..workers {
            let s = shared.clone();
            let t = std::thread::Builder::new()
                .name(format!("scfs-compress-{i}"))
                .spawn(move || s.worker());
            match t {
                Ok(t) => threads.push(t),
                Err(e) => log::warn!("cannot start compression thread: {e}"),
            }
        }
        if let Some(idle) = opts.idle_flush {
            let s = shared.clone();
            match std::thread::Builder::new()
                .name("scfs-flusher".into())
                .spawn(move || s.flusher(idle))
            {
                Ok(t) => threads.push(t),
                Err(e) => log::warn!("cannot start flusher thread: {e}"),
            }
        }
        Arc::new(BlockCache {
            shared,
            threads: Mutex::new(threads),
        })
    }

    /// The byte budget.
    pub fn budget(&self) -> u64 {
        self.shared.budget
    }

    /// Bytes of blocks in the LRU (what the budget limits).
    pub fn used_bytes(&self) -> u64 {
        self.shared.lru.lock().used
    }

    /// Bytes of decoded blocks allocated right now.
    pub fn resident_bytes(&self) -> u64 {
        self.shared.mem.resident.load(Ordering::Relaxed)
    }

    /// Highest `resident_bytes` seen since creation.
    pub fn peak_resident_bytes(&self) -> u64 {
        self.shared.mem.peak.load(Ordering::Relaxed)
    }

    /// Flushes every open file (unmount, SIGTERM). Returns the first error
    /// after trying them all.
    pub fn flush_all(&self) -> std::io::Result<()> {
        let mut first = Ok(());
        for owner in self.shared.owners() {
            if let Err(e) = owner.flush_now() {
                if first.is_ok() {
                    first = Err(e);
                }
            }
        }
        first
    }
}

impl Drop for BlockCache {
    fn drop(&mut self) {
        self.shared.queue.lock().stop = true;
        self.shared.queue_cv.notify_all();
        *self.shared.flusher_stop.lock() = true;
        self.shared.flusher_cv.notify_all();
        for t in self.threads.get_mut().drain(..) {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records evictions; refuses those of block `stuck`.
    struct Owner {
        evicted: Mutex<Vec<u64>>,
        stuck: Option<u64>,
    }

    impl BlockOwner for Owner {
        fn evict(&self, no: u64) -> bool {
            self.evicted.lock().push(no);
            Some(no) != self.stuck
        }
        fn write_back(&self, _no: u64, _block: &Arc<Block>) {}
        fn prefetch(&self, _no: u64) {}
        fn idle_flush(&self, _idle: Duration) {}
        fn flush_now(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn cache(budget: u64) -> Arc<BlockCache> {
        BlockCache::with_options(CacheOptions {
            budget,
            compress_threads: 0,
            idle_flush: None,
        })
    }

    #[test]
    fn evicts_least_recently_used_down_to_the_budget() {
        let c = cache(3 * 100);
        let owner = Arc::new(Owner {
            evicted: Mutex::new(Vec::new()),
            stuck: None,
        });
        let w: Weak<dyn BlockOwner> = Arc::downgrade(&owner) as Weak<dyn BlockOwner>;
        let s = &c.shared;
        for no in 0..3 {
            s.insert(1, no, 100, w.clone());
        }
        s.shrink();
        assert!(owner.evicted.lock().is_empty());
        assert_eq!(c.used_bytes(), 300);
        s.touch(1, 0); // 1 is now the oldest
        s.insert(1, 3, 100, w.clone());
        s.insert(1, 3, 100, w.clone()); // again: counted once
        assert_eq!(c.used_bytes(), 400);
        s.shrink();
        assert_eq!(*owner.evicted.lock(), vec![1]);
        assert_eq!(c.used_bytes(), 300);
        s.remove(1, 2);
        s.remove(1, 2);
        assert_eq!(c.used_bytes(), 200);
        // A dead owner's blocks just leave.
        let gone = Arc::new(Owner {
            evicted: Mutex::new(Vec::new()),
            stuck: None,
        });
        s.insert(2, 0, 250, Arc::downgrade(&gone) as Weak<dyn BlockOwner>);
        drop(gone);
        s.shrink();
        assert!(c.used_bytes() <= 300);
    }

    #[test]
    fn shrink_stops_when_an_owner_cannot_write_back() {
        let c = cache(100);
        let owner = Arc::new(Owner {
            evicted: Mutex::new(Vec::new()),
            stuck: Some(0),
        });
        let w: Weak<dyn BlockOwner> = Arc::downgrade(&owner) as Weak<dyn BlockOwner>;
        for no in 0..3 {
            c.shared.insert(1, no, 100, w.clone());
        }
        c.shared.shrink();
        // Block 0 refused: no busy loop over the others.
        assert_eq!(*owner.evicted.lock(), vec![0]);
    }

    #[test]
    fn spare_buffers_are_reused_and_bounded() {
        // Budget 64 KiB * 32: up to 4 buffers, or 64 KiB of them.
        let m = Arc::new(MemStats::new(64 << 10 << 5));
        let blocks: Vec<Block> = (0..10)
            .map(|_| Block::new(m.buffer(16 << 10), false, &m))
            .collect();
        assert_eq!(m.spare_bytes(), 0);
        let ptrs: Vec<*const u8> = blocks
            .iter()
            .map(|b| b.state.read().data.as_ptr())
            .collect();
        drop(blocks);
        // Four 16 KiB buffers fit the 64 KiB bound; the rest are freed.
        assert_eq!(m.spare_bytes(), 64 << 10);
        let again = m.buffer(16 << 10);
        assert!(ptrs.contains(&again.as_ptr()));
        assert_eq!(m.spare_bytes(), 48 << 10);
        // Other sizes are not handed out for this one.
        assert_eq!(m.buffer(8 << 10).len(), 8 << 10);
        assert_eq!(m.spare_bytes(), 48 << 10);
        // Past 4 buffers, big ones only within the byte bound.
        drop(Block::new(m.buffer(1 << 20), false, &m));
        assert_eq!(m.spare_bytes(), (48 << 10) + (1 << 20));
        drop(Block::new(m.buffer(1 << 20), false, &m));
        let b = Block::new(vec![0u8; 1 << 20].into_boxed_slice(), false, &m);
        drop(b);
        assert!(m.spare_bytes() <= (48 << 10) + (1 << 20));
    }

    #[test]
    fn no_threads_means_no_background_jobs() {
        let c = cache(100);
        let owner = Arc::new(Owner {
            evicted: Mutex::new(Vec::new()),
            stuck: None,
        });
        let w: Weak<dyn BlockOwner> = Arc::downgrade(&owner) as Weak<dyn BlockOwner>;
        assert!(!c.shared.submit_prefetch(0, 64, w));
        assert_eq!(c.shared.read_ahead_bytes(), 0);
        let b = c.shared.mem.buffer(64);
        assert_eq!(b.len(), 64);
        let blk = Arc::new(Block::new(b, false, &c.shared.mem));
        assert_eq!(c.resident_bytes(), 64);
        drop(blk);
        assert_eq!(c.resident_bytes(), 0);
        assert_eq!(c.peak_resident_bytes(), 64);
    }
}
