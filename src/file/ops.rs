//! truncate, punch_hole, allocate, SEEK_DATA and SEEK_HOLE.

use super::{os_error, FileCore, MAX_FILE_SIZE};
use crate::container::BlockKind;
use std::io;
use std::sync::atomic::Ordering;

impl FileCore {
    /// Drops the resident copies of blocks `from..to` (discarding dirty
    /// data) and takes them out of the LRU. Caller holds `op` exclusively.
    fn drop_resident(&self, from: u64, to: u64) {
        if from >= to {
            return;
        }
        let victims: Vec<_> = {
            let mut m = self.blocks.lock();
            let keys: Vec<u64> = m.range(from..to).map(|(k, _)| *k).collect();
            keys.into_iter()
                .filter_map(|k| m.remove(&k).map(|b| (k, b)))
                .collect()
        };
        for (no, b) in victims {
            // Waits for a write-back in progress; none starts afterwards.
            let mut g = b.state.write();
            if g.dirty {
                g.dirty = false;
                self.count_dirty(false);
            }
            g.gone = true;
            drop(g);
            self.cache.remove(self.id, no);
        }
    }

    /// `-o shared`, close-to-open ([`super::LogicalFile::refresh`]).
    pub(super) fn refresh(&self) -> io::Result<bool> {
        let _op = self.op.write();
        let own = self.dirty.load(Ordering::Acquire) > 0
            || self.uncommitted.load(Ordering::Acquire)
            || self.size_changed.load(Ordering::Acquire);
        if own {
            return Ok(false);
        }
        let mut c = self.container.write();
        if !c.changed_elsewhere()? || !c.is_clean() {
            return Ok(false);
        }
        c.reload().map_err(|e| self.cerr(e, None))?;
        self.size.store(c.logical_size(), Ordering::Release);
        drop(c);
        self.drop_resident(0, u64::MAX);
        Ok(true)
    }

    /// Zeroes bytes `from..to` of block `no` (within one block) unless the
    /// block is a hole already. Caller holds `op` exclusively.
    fn zero_range(&self, no: u64, from: usize, to: usize) -> io::Result<()> {
        if from >= to {
            return Ok(());
        }
        self.with_current_block(
            no,
            || self.stored_hole(no).then_some(()),
            |block| {
                let mut g = block.state.write();
                if g.gone {
                    return None;
                }
                if g.data[from..to].iter().any(|&b| b != 0) {
                    g.data[from..to].fill(0);
                    if !g.dirty {
                        g.dirty = true;
                        self.count_dirty(true);
                    }
                }
                drop(g);
                self.cache.shrink();
                Some(())
            },
        )
    }

    /// Sets the logical size. Shrinking drops the blocks past the new end
    /// and zeroes the tail of the last block, so a later extension reads
    /// zeros; growing adds a hole.
    pub fn truncate(&self, size: u64) -> io::Result<()> {
        self.check_writable()?;
        if size > MAX_FILE_SIZE {
            return Err(os_error(libc::EFBIG));
        }
        let _op = self.op.write();
        let old = self.size();
        if size < old {
            let mask = self.bs as u64 - 1;
            let keep_blocks = size.div_ceil(self.bs as u64);
            // The tail first: if it cannot be read, nothing has changed.
            if size & mask != 0 {
                self.zero_range(size >> self.shift, (size & mask) as usize, self.bs)?;
            }
            self.drop_resident(keep_blocks, u64::MAX);
            let mut c = self.container.write();
            self.size.store(size, Ordering::Release);
            c.set_logical_size(size);
        } else {
            self.size.store(size, Ordering::Release);
        }
        if size != old {
            self.size_changed.store(true, Ordering::Release);
            self.mark_modified();
        }
        self.seq_end.store(u64::MAX, Ordering::Relaxed);
        Ok(())
    }

    /// Deallocates `offset..offset+len` (FALLOC_FL_PUNCH_HOLE|KEEP_SIZE):
    /// it reads as zeros afterwards; whole blocks become holes, partial
    /// ones are zeroed. The size never changes.
    pub fn punch_hole(&self, offset: u64, len: u64) -> io::Result<()> {
        self.check_writable()?;
        if len == 0 {
            return Err(os_error(libc::EINVAL));
        }
        let _op = self.op.write();
        let size = self.size();
        let end = offset.saturating_add(len).min(size);
        if offset >= end {
            return Ok(());
        }
        let bs = self.bs as u64;
        let mask = bs - 1;
        // A range reaching EOF extends to the end of the EOF block (bytes
        // past EOF are zeros anyway), so that block can become a hole.
        let end = if end == size {
            end.div_ceil(bs) * bs
        } else {
            end
        };
        let (head, head_off) = (offset >> self.shift, (offset & mask) as usize);
        let (tail, tail_off) = (end >> self.shift, (end & mask) as usize);
        if head == tail {
            self.zero_range(head, head_off, tail_off)?;
        } else {
            let mut full_from = head;
            if head_off != 0 {
                self.zero_range(head, head_off, self.bs)?;
                full_from += 1;
            }
            if tail_off != 0 {
                self.zero_range(tail, 0, tail_off)?;
            }
            self.punch_blocks(full_from, tail)?;
        }
        self.mark_modified();
        Ok(())
    }

    /// Makes blocks `from..to` holes: resident copies are dropped and
    /// every stored block in the range is replaced by a hole.
    fn punch_blocks(&self, from: u64, to: u64) -> io::Result<()> {
        if from >= to {
            return Ok(());
        }
        self.drop_resident(from, to);
        let mut stored = Vec::new();
        {
            let c = self.container.read();
            let mut at = from;
            while let Some(no) = c.next_data_block(at) {
                if no >= to {
                    break;
                }
                stored.push(no);
                at = no + 1;
            }
        }
        for no in stored {
            self.put(self.encode(no, &[]), no)?;
        }
        Ok(())
    }

    /// fallocate mode 0 / KEEP_SIZE: reserves BACKING space for the range
    /// (`reserve.rs`; ENOSPC when it cannot) and extends the size (unless
    /// `keep_size`); existing data is never changed.
    pub fn allocate(&self, offset: u64, len: u64, keep_size: bool) -> io::Result<()> {
        self.check_writable()?;
        if len == 0 {
            return Err(os_error(libc::EINVAL));
        }
        let end = match offset.checked_add(len) {
            Some(e) if e <= MAX_FILE_SIZE => e,
            _ => return Err(os_error(libc::EFBIG)),
        };
        let _op = self.op.write();
        self.reserve(offset, end)?;
        if keep_size {
            return Ok(());
        }
        if end > self.size() {
            self.size.store(end, Ordering::Release);
            self.size_changed.store(true, Ordering::Release);
            self.mark_modified();
        }
        Ok(())
    }

    /// Whether block `no` holds (or may hold) data.
    fn is_data(&self, no: u64) -> bool {
        let resident = self.blocks.lock().contains_key(&no);
        resident || self.container.read().block_kind(no) != BlockKind::Hole
    }

    /// SEEK_DATA: the first offset >= `offset` in a block holding data
    /// (a resident block counts as data). ENXIO at or past EOF or when only
    /// holes follow.
    pub fn seek_data(&self, offset: u64) -> io::Result<u64> {
        let _op = self.op.read();
        let size = self.size();
        if offset >= size {
            return Err(os_error(libc::ENXIO));
        }
        let b0 = offset >> self.shift;
        let resident = self.blocks.lock().range(b0..).next().map(|(k, _)| *k);
        let stored = self.container.read().next_data_block(b0);
        let next = match (resident, stored) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b).ok_or_else(|| os_error(libc::ENXIO))?,
        };
        let pos = offset.max(self.block_start(next));
        if pos >= size {
            return Err(os_error(libc::ENXIO));
        }
        Ok(pos)
    }

    /// SEEK_HOLE: the first offset >= `offset` in a hole, EOF counting as
    /// one. ENXIO at or past EOF.
    pub fn seek_hole(&self, offset: u64) -> io::Result<u64> {
        let _op = self.op.read();
        let size = self.size();
        if offset >= size {
            return Err(os_error(libc::ENXIO));
        }
        let last = (size - 1) >> self.shift;
        let mut no = offset >> self.shift;
        while no <= last {
            if !self.is_data(no) {
                return Ok(offset.max(self.block_start(no)));
            }
            no += 1;
        }
        Ok(size)
    }
}
