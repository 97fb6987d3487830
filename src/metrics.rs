//! The live counters of one mount ([`Metrics`]): atomics bumped by the
//! cache, file and filesystem layers as they work, read by `scfs status`
//! (through the `scfs.status` xattr, `fs/status.rs`). One object per mount,
//! created with the filesystem and handed down with the block cache
//! (`CacheOptions::metrics`); there is no process-wide state, so two mounts
//! in one process (the tests) count apart.
//!
//! Every counter only grows, except the gauges `dirty_bytes` and
//! `compactions_running`. All use relaxed ordering: the figures are a
//! snapshot for people, not a synchronization point.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Counters of one mount since it was made.
#[derive(Debug)]
pub struct Metrics {
    /// When the mount's filesystem was created (uptime).
    pub started: Instant,
    /// Bytes of decoded blocks newer than what BACKING holds (gauge).
    pub dirty_bytes: AtomicU64,
    /// Blocks decoded from BACKING into the cache (reads and read-ahead).
    pub blocks_decoded: AtomicU64,
    /// Block lookups answered by a block already in the cache.
    pub cache_hits: AtomicU64,
    /// Block reads that found a corrupt block (checksum mismatch or
    /// undecodable record); every failed read counts.
    pub checksum_failures: AtomicU64,
    /// Bytes appended to BACKING by write-back and commits of files.
    pub data_written: AtomicU64,
    /// Compactions running now (gauge) and done.
    pub compactions_running: AtomicU64,
    pub compactions_done: AtomicU64,
    /// Bytes of compacted copies written.
    pub compaction_written: AtomicU64,
    /// Files rewritten by idle recompression (renamed into place).
    pub recompressions_done: AtomicU64,
    /// Bytes of recompressed copies written (also those thrown away
    /// because they were not smaller or the file changed meanwhile).
    pub recompression_written: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            started: Instant::now(),
            dirty_bytes: AtomicU64::new(0),
            blocks_decoded: AtomicU64::new(0),
            cache_hits: AtomicU64::new(0),
            checksum_failures: AtomicU64::new(0),
            data_written: AtomicU64::new(0),
            compactions_running: AtomicU64::new(0),
            compactions_done: AtomicU64::new(0),
            compaction_written: AtomicU64::new(0),
            recompressions_done: AtomicU64::new(0),
            recompression_written: AtomicU64::new(0),
        }
    }
}

/// Adds `n` to a counter.
pub fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

/// Reads a counter.
pub fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

impl Metrics {
    /// A block of `bytes` became dirty (`up`) or clean / dropped dirty.
    pub fn dirty(&self, bytes: u64, up: bool) {
        if up {
            self.dirty_bytes.fetch_add(bytes, Ordering::Relaxed);
        } else {
            // Never below zero, should a path ever miss its increment.
            let _ = self
                .dirty_bytes
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                    Some(v.saturating_sub(bytes))
                });
        }
    }

    /// Counts a compaction as running until the guard is dropped.
    pub fn compaction(&self) -> Running<'_> {
        add(&self.compactions_running, 1);
        Running(self)
    }
}

/// A compaction in progress ([`Metrics::compaction`]).
pub struct Running<'a>(&'a Metrics);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.compactions_running.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dirty_gauge_never_goes_below_zero() {
        let m = Metrics::default();
        m.dirty(4096, true);
        m.dirty(4096, false);
        m.dirty(4096, false);
        assert_eq!(get(&m.dirty_bytes), 0);
    }

    #[test]
    fn running_guard_counts_while_alive() {
        let m = Metrics::default();
        {
            let _r = m.compaction();
            assert_eq!(get(&m.compactions_running), 1);
        }
        assert_eq!(get(&m.compactions_running), 0);
    }
}
