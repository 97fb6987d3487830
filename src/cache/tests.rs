//! Unit tests of the cache: LRU order and budget, buffer reuse, jobs.

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
    fn write_back(&self, _no: u64, _block: &Arc<Block>, _behind: bool) {}
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
        ..Default::default()
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
