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
//!
//! Parts: `block` (a decoded block and the buffer pool), `lru` (order,
//! budget, eviction), `queue` (the compression threads' jobs), and here the
//! shared state, the idle flusher and the [`BlockCache`] that owns the
//! threads.

mod block;
mod lru;
mod queue;

pub(crate) use block::{Block, MemStats};
use lru::Lru;
use queue::{Backlog, Queue};

use parking_lot::{Condvar, Mutex};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Default byte budget of decoded blocks (`cache_size=`).
pub const DEFAULT_CACHE_SIZE: u64 = 64 << 20;

/// Default idle time after which a file's unwritten blocks are flushed.
pub const DEFAULT_IDLE_FLUSH: Duration = Duration::from_secs(3);

/// Tunables of a [`BlockCache`].
#[derive(Debug, Clone)]
pub struct CacheOptions {
    /// Byte budget of decoded blocks.
    pub budget: u64,
    /// Background compression threads (0: compress in the writing thread).
    pub compress_threads: usize,
    /// Flush files whose last write is older than this (None: never).
    pub idle_flush: Option<Duration>,
    /// The mount's live counters, which the cache and its files bump.
    pub metrics: Arc<crate::metrics::Metrics>,
}

impl Default for CacheOptions {
    fn default() -> Self {
        CacheOptions {
            budget: DEFAULT_CACHE_SIZE,
            compress_threads: std::thread::available_parallelism()
                .map(|n| n.get().min(4))
                .unwrap_or(1),
            idle_flush: Some(DEFAULT_IDLE_FLUSH),
            metrics: Arc::default(),
        }
    }
}

/// What the cache needs from the owner of blocks (a logical file).
pub(crate) trait BlockOwner: Send + Sync {
    /// Writes block `no` back if dirty and drops it. Returns false if it
    /// could not (write error): the owner then keeps it and re-inserts it.
    fn evict(&self, no: u64) -> bool;
    /// Writes back `block` (block `no`) if it is still dirty and current;
    /// `behind`: the compression threads are behind the writers (code it
    /// the cheap way).
    fn write_back(&self, no: u64, block: &Arc<Block>, behind: bool);
    /// Decodes block `no` into the cache if it is not there (read-ahead).
    fn prefetch(&self, no: u64);
    /// Flushes if the owner has unwritten data and has been idle `idle`.
    fn idle_flush(&self, idle: Duration);
    /// Flushes unconditionally (unmount).
    fn flush_now(&self) -> std::io::Result<()>;
}

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
    pub(crate) metrics: Arc<crate::metrics::Metrics>,
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
                map: ::lru::LruCache::unbounded(),
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
            metrics: opts.metrics,
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

    /// Blocks in the LRU.
    pub fn entries(&self) -> usize {
        self.shared.lru.lock().map.len()
    }

    /// Files with blocks in this cache (open logical files).
    pub fn open_files(&self) -> usize {
        self.shared.registry.lock().len()
    }

    /// The mount's live counters.
    pub fn metrics(&self) -> &Arc<crate::metrics::Metrics> {
        &self.shared.metrics
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
mod tests;
