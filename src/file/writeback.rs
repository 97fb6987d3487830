//! Write-back of dirty blocks (compression outside the container lock),
//! eviction, flush, fsync and commit.

use super::{os_error, FileCore};
use crate::cache::Block;
use crate::container::{Compression, Container, EncodedBlock};
use parking_lot::RwLockUpgradableReadGuard;
use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Length of `data` without its trailing zeros (8 bytes at a time).
fn trimmed_len(data: &[u8]) -> usize {
    let mut end = data.len();
    while end >= 8 && data[end - 8..end] == [0u8; 8] {
        end -= 8;
    }
    while end > 0 && data[end - 1] == 0 {
        end -= 1;
    }
    end
}

/// Below this many dirty blocks a flush writes them back in the calling
/// thread alone.
const PARALLEL_FLUSH_MIN: usize = 8;

/// Once this many bytes have been appended to the backing file since the
/// last write-out was started, the kernel is asked to start writing them
/// to the disk (see [`FileCore::start_writeout`]).
const WRITEOUT_STEP: u64 = 8 << 20;

/// Bytes at the end of the backing file left alone by a write-out: the
/// container may still hold them back (its pending buffer) or append to
/// their last page.
const WRITEOUT_LAG: u64 = 1 << 20;

impl FileCore {
    /// How blocks are coded when written back.
    pub(super) fn compression(&self) -> Compression {
        Compression::from_index(self.compression.load(Ordering::Relaxed))
    }

    /// Encodes block `no` from its decoded bytes. Trailing zeros are not
    /// stored (the container reads bytes past a block's stored length as
    /// zeros), so an all-zero block becomes a hole.
    pub(super) fn encode(&self, no: u64, data: &[u8]) -> EncodedBlock {
        self.encode_at(no, data, self.compression())
    }

    /// [`FileCore::encode`] at `compression`.
    fn encode_at(&self, no: u64, data: &[u8], compression: Compression) -> EncodedBlock {
        Container::encode(no, &data[..trimmed_len(data)], compression)
    }

    /// Writes `block` (block `no`) back if it is dirty and still the file's
    /// copy. Returns whether it wrote anything.
    pub(super) fn writeback(&self, no: u64, block: &Arc<Block>) -> io::Result<bool> {
        self.writeback_at(no, block, self.compression())
    }

    /// [`FileCore::writeback`] of a block the compression threads are
    /// `behind` on or not: then at the file's level's
    /// [`Compression::under_pressure`] (`fast` becomes `huffman`).
    pub(super) fn writeback_behind(
        &self,
        no: u64,
        block: &Arc<Block>,
        behind: bool,
    ) -> io::Result<bool> {
        let c = self.compression();
        self.writeback_at(no, block, if behind { c.under_pressure() } else { c })
    }

    /// [`FileCore::writeback`] coding the block with `compression`.
    pub(super) fn writeback_at(
        &self,
        no: u64,
        block: &Arc<Block>,
        compression: Compression,
    ) -> io::Result<bool> {
        let g = block.state.upgradable_read();
        if g.gone || !g.dirty || self.closed.load(Ordering::Acquire) {
            return Ok(false);
        }
        let enc = self.encode_at(no, &g.data, compression);
        self.put(enc, no)?;
        let mut g = RwLockUpgradableReadGuard::upgrade(g);
        g.dirty = false;
        self.count_dirty(false);
        drop(g);
        self.start_writeout();
        Ok(true)
    }

    /// Streaming writes: once [`WRITEOUT_STEP`] bytes have been appended
    /// to the backing file since the last time, asks the kernel to start
    /// writing them to the disk (asynchronously), so the disk works while
    /// the next blocks are compressed and a final fsync or the kernel's
    /// own write-back has little left to do. Changes nothing about what a
    /// crash keeps: records are only reachable through a commit.
    pub(super) fn start_writeout(&self) {
        let len = self.container.read().file_len();
        let to = len.saturating_sub(WRITEOUT_LAG) & !4095;
        let from = self.written_out.load(Ordering::Relaxed);
        if to < from {
            // The container was replaced by a smaller one (compaction).
            self.written_out.store(to, Ordering::Relaxed);
            return;
        }
        if to - from < WRITEOUT_STEP
            || self
                .written_out
                .compare_exchange(from, to, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let h = self.container.read().sync_handle();
        if let Err(e) = h.and_then(|h| crate::sys::sync_file_range_write(&h, from, to - from)) {
            log::debug!("{}: starting write-out: {e}", self.name());
        }
    }

    /// Stores an encoded block in the container (write lock held only for
    /// the append).
    pub(super) fn put(&self, enc: EncodedBlock, no: u64) -> io::Result<()> {
        let mut c = self.container.write();
        let before = c.file_len();
        c.put_block(enc).map_err(|e| self.cerr(e, Some(no)))?;
        self.count_written(before, c.file_len());
        self.uncommitted.store(true, Ordering::Release);
        Ok(())
    }

    /// Eviction: write back if dirty, then drop the block. On a write error
    /// the block stays (dirty, resident, back in the LRU) and false is
    /// returned.
    pub(super) fn evict_block(&self, no: u64) -> bool {
        let Some(block) = self.blocks.lock().get(&no).cloned() else {
            return true;
        };
        let g = block.state.upgradable_read();
        if g.gone {
            drop(g);
            self.forget(no, &block);
            return true;
        }
        // A closed file was flushed; nothing is written to it any more.
        if g.dirty && !self.closed.load(Ordering::Acquire) {
            let enc = self.encode(no, &g.data);
            if let Err(e) = self.put(enc, no) {
                drop(g);
                self.record_wb_error(&e);
                self.cache.insert(self.id, no, self.bs as u64, self.owner());
                return false;
            }
        }
        let mut g = RwLockUpgradableReadGuard::upgrade(g);
        if g.dirty {
            g.dirty = false;
            self.count_dirty(false);
        }
        g.gone = true;
        drop(g);
        self.forget(no, &block);
        true
    }

    /// Removes `block` from the resident map if it is still the entry for
    /// `no` (it was marked gone).
    pub(super) fn forget(&self, no: u64, block: &Arc<Block>) {
        let mut m = self.blocks.lock();
        if m.get(&no).is_some_and(|b| Arc::ptr_eq(b, block)) {
            m.remove(&no);
        }
    }

    pub(super) fn record_wb_error(&self, e: &io::Error) {
        log::error!("{}: write-back failed: {e}", self.name());
        let code = e.raw_os_error().unwrap_or(libc::EIO);
        self.wb_error.lock().get_or_insert(code);
    }

    /// After a write-back of this file failed (ENOSPC or EDQUOT: the
    /// backing filesystem is full; EIO, EROFS: it failed): writes the dirty
    /// blocks back again, and returns the error while they still cannot be
    /// stored. So a writer gets ENOSPC at write(2) once the disk is full, as
    /// on a local filesystem, instead of filling memory with data that
    /// close() would then fail to store (failed blocks cannot be evicted,
    /// so the cache would grow past its budget); and once space is freed,
    /// writing goes on with nothing lost (the failed blocks stayed dirty;
    /// the error is then healed).
    pub(super) fn retry_failed_writeback(&self) -> io::Result<()> {
        let Some(code) = *self.wb_error.lock() else {
            return Ok(());
        };
        self.write_dirty()?;
        let mut e = self.wb_error.lock();
        if *e == Some(code) {
            *e = None;
        }
        Ok(())
    }

    /// Writes back every dirty resident block (in parallel when many).
    pub(super) fn write_dirty(&self) -> io::Result<()> {
        let n = self.dirty.load(Ordering::Acquire);
        if n == 0 {
            return Ok(());
        }
        let list: Vec<(u64, Arc<Block>)> = self
            .blocks
            .lock()
            .iter()
            .map(|(no, b)| (*no, b.clone()))
            .collect();
        let workers = if n >= PARALLEL_FLUSH_MIN {
            std::thread::available_parallelism()
                .map(|p| p.get())
                .unwrap_or(1)
                .min(n / (PARALLEL_FLUSH_MIN / 2))
                .max(1)
        } else {
            1
        };
        let run = |part: &[(u64, Arc<Block>)]| -> io::Result<()> {
            let mut first = Ok(());
            for (no, b) in part {
                if let Err(e) = self.writeback(*no, b) {
                    if first.is_ok() {
                        first = Err(e);
                    }
                }
            }
            first
        };
        if workers <= 1 {
            return run(&list);
        }
        // Interleave so every worker gets a share of the dirty blocks.
        let parts: Vec<Vec<(u64, Arc<Block>)>> = (0..workers)
            .map(|w| list.iter().skip(w).step_by(workers).cloned().collect())
            .collect();
        std::thread::scope(|s| {
            let handles: Vec<_> = parts[1..].iter().map(|p| s.spawn(|| run(p))).collect();
            let mut res = run(&parts[0]);
            for h in handles {
                let r = h.join().unwrap_or_else(|_| Err(os_error(libc::EIO)));
                if res.is_ok() {
                    res = r;
                }
            }
            res
        })
    }

    /// Sets the container's logical size and commits. Caller holds `op`
    /// (shared or exclusive), so size and blocks are consistent.
    pub(super) fn commit_locked(&self) -> io::Result<()> {
        if let Some(code) = self.wb_error.lock().take() {
            return Err(os_error(code));
        }
        let mut c = self.container.write();
        if self.closed.load(Ordering::Acquire) {
            // Closed: the last flush is done; the backing file may belong
            // to a new LogicalFile already.
            return Ok(());
        }
        let size = self.size();
        if c.logical_size() != size {
            c.set_logical_size(size);
        }
        let before = c.file_len();
        c.commit().map_err(|e| self.cerr(e, None))?;
        self.count_written(before, c.file_len());
        self.uncommitted.store(false, Ordering::Release);
        self.size_changed.store(false, Ordering::Release);
        Ok(())
    }

    /// Writes every dirty block and commits: when it returns, the data is
    /// in the backing file (not necessarily on stable storage).
    pub fn flush(&self) -> io::Result<()> {
        if !self.writable {
            return Ok(());
        }
        // Most of the work without blocking writers...
        self.write_dirty()?;
        // ...then what was written meanwhile, and the commit, consistently.
        let _op = self.op.read();
        self.write_dirty()?;
        self.commit_locked()
    }

    /// flush, then fdatasync (or fsync) of the backing file, outside every
    /// lock.
    pub fn fsync(&self, datasync: bool) -> io::Result<()> {
        self.flush()?;
        let h = self.container.read().sync_handle()?;
        if datasync {
            h.sync_data()?;
        } else {
            h.sync_all()?;
        }
        self.queue_seal();
        Ok(())
    }

    /// Queues the seal of the newest commit (written at unmount, after a
    /// syncfs: `file::seal`). Best effort: a file left unsealed is only
    /// less protected against being cut short.
    pub(super) fn queue_seal(&self) {
        if !self.writable {
            return;
        }
        match self.container.read().seal_ticket() {
            Ok(Some(t)) => self.seals.enqueue(t),
            Ok(None) => {}
            Err(e) => log::warn!("{}: no seal ticket: {e}", self.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::cache::BlockCache;
    use crate::file::{LogicalFile, SealQueue};
    use std::sync::atomic::Ordering;

    /// Incompressible bytes (xorshift), so every block is a full record.
    fn noise(n: usize, x: u64) -> Vec<u8> {
        crate::testrng::Rng(x).bytes(n, |x| x as u8)
    }

    #[test]
    fn streaming_writer_starts_write_out_and_small_files_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let cache = BlockCache::new(4 << 20);
        let seals = SealQueue::new();
        let open = |name: &str| crate::file::new_backing(dir.path(), name);
        let small = LogicalFile::create(open("small"), 65536, &cache, &seals).unwrap();
        let data = noise(20 << 20, 7);
        small.write(0, &data[..2 << 20]).unwrap();
        small.flush().unwrap();
        assert_eq!(small.inner.written_out.load(Ordering::Relaxed), 0);

        let big = LogicalFile::create(open("big"), 65536, &cache, &seals).unwrap();
        for (i, c) in data.chunks(1 << 20).enumerate() {
            assert_eq!(big.write((i as u64) << 20, c).unwrap(), c.len());
        }
        big.flush().unwrap();
        let out = big.inner.written_out.load(Ordering::Relaxed);
        let len = big.stats().file_len;
        assert!(out >= super::WRITEOUT_STEP && out <= len, "{out} of {len}");
        assert_eq!(out % 4096, 0);
        // Nothing about the content changes.
        drop(big);
        let f = std::fs::File::open(dir.path().join("big")).unwrap();
        let back = LogicalFile::open(f, false, &cache, &seals).unwrap();
        let mut buf = vec![0u8; data.len()];
        assert_eq!(back.read(0, &mut buf).unwrap(), data.len());
        assert!(buf == data);
    }

    /// A writer that outruns the compression threads gets its blocks coded
    /// at `huffman` instead of `fast`: the ones it codes itself because the
    /// backlog is full, and the ones a thread takes while the backlog is
    /// still at least half full. The rest stay `fast` (LZ). The one thread
    /// is held up on block 0 (its lock held here) while the writer goes on.
    #[test]
    fn writer_ahead_of_the_compression_threads_gets_huffman_blocks() {
        use crate::cache::CacheOptions;
        use crate::codec::Level;
        use crate::container::{BlockKind, Compression};
        let dir = tempfile::tempdir().unwrap();
        let cache = BlockCache::with_options(CacheOptions {
            budget: 4 << 20,
            compress_threads: 1,
            idle_flush: None,
            ..CacheOptions::default()
        });
        let seals = SealQueue::new();
        let file = crate::file::new_backing(dir.path(), "f");
        let f = LogicalFile::create(file, 65536, &cache, &seals).unwrap();
        f.set_compression(Compression::Level(Level::Fast));
        let bs = 65536usize;
        let mut text = Vec::new();
        for i in 0.. {
            let line = format!("{i:08} GET /static/app.js HTTP/1.1 200 {}\n", i * 7 % 1000);
            text.extend_from_slice(line.as_bytes());
            if text.len() >= 41 * bs {
                break;
            }
        }
        text.truncate(41 * bs);
        // Block 0 partly written, then queued by hand with its lock held
        // here: the thread stops at it.
        f.write(0, &text[..100]).unwrap();
        let b0 = f.inner.blocks.lock().get(&0).cloned().unwrap();
        let held = b0.state.upgradable_read();
        assert!(f.inner.cache.submit(0, f.inner.owner(), &b0));
        // Wait until the thread has taken block 0 (and stopped at its
        // lock): a job still queued when the writer starts would free a
        // slot in the backlog mid-write, and the block queued in it would
        // be coded by the thread once it has caught up (at `fast`).
        let t0 = std::time::Instant::now();
        while f.inner.cache.queued_jobs() > 0 {
            assert!(t0.elapsed().as_secs() < 60, "the thread never took block 0");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        // Blocks 1..=15 fill the backlog (1 MiB, a quarter of the budget);
        // from 17 on the writer codes them itself.
        f.write(bs as u64, &text[bs..]).unwrap();
        drop(held);
        // The thread alone writes the queued blocks back (a flush now would
        // code them itself, at `fast`).
        let t0 = std::time::Instant::now();
        while f.inner.dirty.load(Ordering::Acquire) > 0 {
            assert!(t0.elapsed().as_secs() < 60, "the thread never caught up");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        f.flush().unwrap();
        // Once the backlog is gone, a full block is coded at `fast` again.
        f.write(0, &text[..bs]).unwrap();
        f.flush().unwrap();
        let kind = |no: u64| f.inner.container.read().block_kind(no);
        // Taken by the thread with 14 blocks still waiting: behind.
        assert_eq!(kind(1), BlockKind::Huffman);
        // Taken with at most one waiting: fast.
        assert_eq!(kind(15), BlockKind::Lz);
        assert_eq!(kind(0), BlockKind::Lz);
        // Coded by the writer while the backlog was full.
        for no in 17..=40 {
            assert_eq!(kind(no), BlockKind::Huffman, "block {no}");
        }
        let mut back = vec![0u8; text.len()];
        assert_eq!(f.read(0, &mut back).unwrap(), text.len());
        assert!(back == text);
    }

    #[test]
    fn trimmed_len_drops_only_trailing_zeros() {
        use super::trimmed_len;
        assert_eq!(trimmed_len(&[]), 0);
        assert_eq!(trimmed_len(&[0; 100]), 0);
        assert_eq!(trimmed_len(&[1; 100]), 100);
        let mut v = vec![0u8; 100];
        for at in [0, 1, 7, 8, 9, 50, 91, 92, 98, 99] {
            v.fill(0);
            v[at] = 5;
            assert_eq!(trimmed_len(&v), at + 1, "{at}");
        }
    }
}
