//! read and write, and the block lookup they share (with ops.rs):
//! [`FileCore::with_current_block`].

use super::{os_error, span, FileCore, MAX_FILE_SIZE};
use crate::cache::Block;
use crate::container::BlockKind;
use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;

impl FileCore {
    /// The resident copy of block `no` (marking it recently used).
    pub(super) fn resident(&self, no: u64) -> Option<Arc<Block>> {
        let b = self.blocks.lock().get(&no).cloned();
        if b.is_some() {
            self.cache.touch(self.id, no);
            crate::metrics::add(&self.cache.metrics.cache_hits, 1);
        }
        b
    }

    /// The resident copy of block `no`, decoding it (or materializing a
    /// hole) if needed. Caller holds `op`. The block is in the LRU; call
    /// `cache.shrink()` once done with it.
    pub(super) fn load_block(&self, no: u64) -> io::Result<Arc<Block>> {
        match self.resident(no) {
            Some(b) => Ok(b),
            None => self.decode_block(no, true),
        }
    }

    /// Runs `f` on the current copy of block `no`: the resident one, else
    /// (unless `missing` settles the matter without it, say for a hole)
    /// the one decoded now. `f` takes the block's lock and returns None
    /// when it finds the copy gone (evicted, truncated or punched
    /// meanwhile): then the block is looked up again. Caller holds `op`.
    pub(super) fn with_current_block<R>(
        &self,
        no: u64,
        missing: impl Fn() -> Option<R>,
        mut f: impl FnMut(&Arc<Block>) -> Option<R>,
    ) -> io::Result<R> {
        loop {
            let block = match self.resident(no) {
                Some(b) => b,
                None => match missing() {
                    Some(r) => return Ok(r),
                    None => self.load_block(no)?,
                },
            };
            match f(&block) {
                Some(r) => return Ok(r),
                None => self.forget(no, &block),
            }
        }
    }

    /// Whether block `no` is a hole in the container (not looking at the
    /// resident blocks).
    pub(super) fn stored_hole(&self, no: u64) -> bool {
        self.container.read().block_kind(no) == BlockKind::Hole
    }

    /// Decodes block `no` into a new resident block. While it decodes, the
    /// block is already in the map, write-locked: readers of the same block
    /// wait for it instead of decoding it a second time. If the block turns
    /// out to be resident already, that one is returned. On failure the
    /// block is dropped again (waiters see it gone and retry); `report`
    /// logs the corruption.
    fn decode_block(&self, no: u64, report: bool) -> io::Result<Arc<Block>> {
        // read_block overwrites the whole buffer (holes included).
        let fresh = Arc::new(Block::new(
            self.cache.mem.buffer(self.bs),
            false,
            &self.cache.mem,
        ));
        let mut g = fresh.state.write();
        {
            let mut m = self.blocks.lock();
            if let Some(b) = m.get(&no) {
                return Ok(b.clone());
            }
            m.insert(no, fresh.clone());
        }
        let (res, stored) = {
            let c = self.container.read();
            (
                c.read_block(no, &mut g.data),
                c.block_kind(no) != BlockKind::Hole,
            )
        };
        if let Err(e) = res {
            g.gone = true;
            drop(g);
            self.forget(no, &fresh);
            return Err(if report {
                self.cerr(e, Some(no))
            } else {
                os_error(libc::EIO)
            });
        }
        // Keep the invariant "zeros past EOF" even for foreign containers.
        let start = self.block_start(no);
        let size = self.size();
        if start.saturating_add(self.bs as u64) > size {
            let keep = size.saturating_sub(start) as usize;
            g.data[keep..].fill(0);
        }
        drop(g);
        crate::metrics::add(&self.cache.metrics.blocks_decoded, u64::from(stored));
        self.cache.insert(self.id, no, self.bs as u64, self.owner());
        Ok(fresh)
    }

    /// Background read-ahead of block `no`: decoded into the cache unless
    /// resident (or being decoded), a hole, past EOF, or the file is being
    /// modified right now. Errors are left for the reader to report.
    pub(super) fn read_ahead(&self, no: u64) {
        let Some(_op) = self.op.try_read() else {
            return;
        };
        if self.closed.load(Ordering::Acquire)
            || no >= self.size().div_ceil(self.bs as u64)
            || self.blocks.lock().contains_key(&no)
            || self.container.read().block_kind(no) == BlockKind::Hole
        {
            return;
        }
        let _ = self.decode_block(no, false);
    }

    /// After a read of `offset..end`: if the reader looks sequential, hand
    /// the next blocks of its window to the background threads.
    fn schedule_read_ahead(&self, offset: u64, end: u64) {
        let max = match self.cache.read_ahead_bytes() {
            0 => 0,
            n => (n >> self.shift).max(1),
        };
        let blocks = self.size().div_ceil(self.bs as u64);
        let bytes = self.bs as u64;
        self.streams
            .lock()
            .on_read(offset, end, self.shift, blocks, max, |no| {
                self.cache.submit_prefetch(no, bytes, self.owner())
            });
    }

    /// Reads up to `buf.len()` bytes at `offset`; short only at EOF (or
    /// when a later block is corrupt: then the bytes before it). A corrupt
    /// block is EIO (and a log line naming file and block).
    pub fn read(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        let _op = self.op.read();
        let size = self.size();
        if offset >= size || buf.is_empty() {
            return Ok(0);
        }
        let n = (buf.len() as u64).min(size - offset) as usize;
        for s in span::spans(offset, n, self.shift) {
            if let Err(e) = self.read_chunk(s.no, s.in_off, &mut buf[s.at..s.at + s.len]) {
                self.cache.shrink();
                return if s.at > 0 { Ok(s.at) } else { Err(e) };
            }
            self.cache.shrink();
        }
        drop(_op);
        self.schedule_read_ahead(offset, offset + n as u64);
        Ok(n)
    }

    fn read_chunk(&self, no: u64, in_off: usize, out: &mut [u8]) -> io::Result<()> {
        // A hole costs no decoding and no cache space.
        let copied = self.with_current_block(
            no,
            || self.stored_hole(no).then_some(false),
            |block| {
                let g = block.state.read();
                (!g.gone).then(|| {
                    out.copy_from_slice(&g.data[in_off..in_off + out.len()]);
                    true
                })
            },
        )?;
        if !copied {
            out.fill(0);
        }
        Ok(())
    }

    /// Writes `data` at `offset` (any offset: a gap past EOF becomes a
    /// hole). Returns the bytes written (all of them unless an error hit a
    /// later block or the write reaches [`MAX_FILE_SIZE`]: then short).
    /// EFBIG at or past [`MAX_FILE_SIZE`].
    pub fn write(&self, offset: u64, data: &[u8]) -> io::Result<usize> {
        self.check_writable()?;
        if data.is_empty() {
            return Ok(0);
        }
        // As Linux does at s_maxbytes: EFBIG at the limit, a short write
        // up to it.
        if offset >= MAX_FILE_SIZE {
            return Err(os_error(libc::EFBIG));
        }
        let data = &data[..(data.len() as u64).min(MAX_FILE_SIZE - offset) as usize];
        // Out of space (or a failed disk): refuse more data now, as a local
        // filesystem does.
        self.retry_failed_writeback()?;
        let _op = self.op.write();
        let sequential = offset == self.seq_end.load(Ordering::Relaxed);
        let mut done = 0;
        let mut result = Ok(());
        for s in span::spans(offset, data.len(), self.shift) {
            let block = match self.write_chunk(s.no, s.in_off, &data[s.at..s.at + s.len]) {
                Ok(b) => b,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            done = s.at + s.len;
            self.size.fetch_max(offset + done as u64, Ordering::AcqRel);
            // A block a sequential writer has just filled is compressed now,
            // beside the writer; others wait for flush, eviction or idle.
            if s.in_off + s.len == self.bs && (s.in_off == 0 || sequential) {
                self.compress_soon(s.no, &block);
            }
            self.cache.shrink();
        }
        self.seq_end.store(offset + done as u64, Ordering::Relaxed);
        self.mark_modified();
        match result {
            Err(e) if done == 0 => {
                self.cache.shrink();
                Err(e)
            }
            _ => Ok(done),
        }
    }

    fn write_chunk(&self, no: u64, in_off: usize, src: &[u8]) -> io::Result<Arc<Block>> {
        let whole_block = || {
            // A whole block: no need to decode the old one.
            (src.len() == self.bs).then(|| {
                let mut data = self.cache.mem.buffer(self.bs);
                data.copy_from_slice(src);
                let fresh = Arc::new(Block::new(data, true, &self.cache.mem));
                self.count_dirty(true);
                self.blocks.lock().insert(no, fresh.clone());
                self.cache.insert(self.id, no, self.bs as u64, self.owner());
                fresh
            })
        };
        self.with_current_block(no, whole_block, |block| {
            let mut g = block.state.write();
            if g.gone {
                return None;
            }
            g.data[in_off..in_off + src.len()].copy_from_slice(src);
            if !g.dirty {
                g.dirty = true;
                self.count_dirty(true);
            }
            Some(block.clone())
        })
    }

    /// Hands a full block to the compression threads, or compresses it
    /// here when they are busy (back-pressure). A block coded here because
    /// the threads are behind the writer is coded at
    /// [`crate::container::Compression::under_pressure`] (`fast` becomes
    /// `huffman`): so a writer outrunning the compressor slows to about
    /// `huffman`'s speed instead of `fast`'s on the cores it shares with
    /// the writer. Idle recompression rewrites such files at its level.
    fn compress_soon(&self, no: u64, block: &Arc<Block>) {
        if !self.cache.submit(no, self.owner(), block) {
            // Refused with threads: they are behind (none: no give-way).
            if let Err(e) = self.writeback_behind(no, block, self.cache.has_workers()) {
                self.record_wb_error(&e);
            }
        }
    }
}
