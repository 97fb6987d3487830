//! Writing: appending records (through the pending buffer that lets a
//! small file reach the disk in one write), putting blocks, the logical
//! size, commits, and cutting off what was never committed.

use super::*;

impl Container {
    pub(super) fn check_writable(&self) -> Result<()> {
        if self.writable {
            Ok(())
        } else {
            Err(ContainerError::ReadOnly)
        }
    }

    pub(super) fn mark_dirty(&mut self, block_no: u64) {
        if self.last.is_some() {
            self.dirty.insert(block_no);
        }
        self.changed = true;
    }

    /// Appends `bytes` at the end of the log: held in `pending` while it
    /// fits, else written together with what is pending (one write). On
    /// failure the file is cut back to the written end (best effort: that
    /// only drops this append's own partial bytes, as the written end is
    /// never below the length found at open) and nothing changes.
    pub(super) fn append(&mut self, bytes: Vec<u8>) -> Result<u64> {
        if self.guard_first && self.last.is_none() && self.pending.len() + bytes.len() > PENDING_MAX
        {
            self.commit_empty_first()?;
        }
        let at = self.end;
        let len = bytes.len() as u64;
        if self.pending.is_empty() && bytes.len() <= PENDING_MAX {
            self.pending = bytes;
        } else if self.pending.len() + bytes.len() <= PENDING_MAX {
            self.pending.extend_from_slice(&bytes);
        } else if self.pending.is_empty() {
            if let Err(e) = self.file.write_all_at(&bytes, at) {
                let _ = self.file.set_len(at);
                return Err(e.into());
            }
        } else {
            let keep = self.pending.len();
            self.pending.extend_from_slice(&bytes);
            self.end += len;
            if let Err(e) = self.write_pending() {
                self.pending.truncate(keep);
                self.end = at;
                return Err(e);
            }
            return Ok(at);
        }
        self.end += len;
        Ok(at)
    }

    /// Puts an empty checkpoint commit (logical size 0) in front of the
    /// pending block records of a new container that has no commit yet, and
    /// writes it with the header: from then on a crash or a failed write
    /// before the first real commit leaves the state "empty file" (the
    /// records after it are uncommitted bytes, FORMAT.md 3.5), never a
    /// salvage of some of the records. Nothing of the container is in the
    /// file before this (the header is deferred), so the pending records
    /// and the index entries pointing at them just move up by the commit's
    /// length. On failure nothing changes.
    pub(super) fn commit_empty_first(&mut self) -> Result<()> {
        debug_assert!(self.last.is_none() && self.written() == 0);
        if self.written() != 0 || self.pending.len() < HEADER_LEN as usize {
            // Not a deferred new container (never reached): no guard.
            self.guard_first = false;
            return Ok(());
        }
        let records = self.pending.split_off(HEADER_LEN as usize);
        let index = std::mem::take(&mut self.index);
        let size = std::mem::replace(&mut self.logical_size, 0);
        let end = std::mem::replace(&mut self.end, HEADER_LEN);
        let changed = std::mem::replace(&mut self.changed, true);
        let dirty = std::mem::take(&mut self.dirty);
        let res = commit::write_commit(self);
        if let Err(e) = res {
            self.pending.extend_from_slice(&records);
            self.index = index;
            self.logical_size = size;
            self.end = end;
            self.changed = changed;
            self.dirty = dirty;
            return Err(e);
        }
        let by = self.end - HEADER_LEN;
        self.index = index;
        self.index.shift_records(by);
        // Every block is new since that commit (the next one is a checkpoint).
        self.dirty = self.index.iter().map(|(b, _)| b).collect();
        self.dirty.extend(dirty);
        self.end += records.len() as u64;
        self.pending = records;
        self.logical_size = size;
        self.changed = true;
        self.guard_first = false;
        Ok(())
    }

    /// Gives up what was appended since the newest commit this container
    /// wrote (or since open): block records no commit names, which no open
    /// would ever use. The file is cut back to [`Container::kept`] bytes,
    /// so a writer whose last flush failed (the disk is full) frees that
    /// space at once. Nothing committed, and nothing that was in the file
    /// at open, is touched. Afterwards the container is read-only and fit
    /// only to be dropped (its index may name the records cut).
    pub fn discard_uncommitted(&mut self) -> Result<()> {
        let written = self.written();
        self.pending.clear();
        self.writable = false;
        self.end = written;
        // Only when the file ends where this container left it: if anything
        // else appended meanwhile, its bytes are not ours to cut.
        if written > self.kept && self.file.metadata()?.len() == written {
            self.file.set_len(self.kept)?;
            self.end = self.kept;
        }
        Ok(())
    }

    /// Writes the pending bytes (if any) to the file. On failure they stay
    /// pending and the file is cut back to the written end.
    pub(super) fn write_pending(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let at = self.written();
        if let Err(e) = self.file.write_all_at(&self.pending, at) {
            let _ = self.file.set_len(at);
            return Err(e.into());
        }
        if self.pending.capacity() > 2 * PENDING_MAX {
            self.pending = Vec::new();
        } else {
            self.pending.clear();
        }
        Ok(())
    }

    /// Appends the block's record (if any) at the end of the file and points
    /// the in-memory index at it. Not durable until [`Container::commit`].
    pub fn put_block(&mut self, mut block: EncodedBlock) -> Result<()> {
        self.check_writable()?;
        let b = block.block_no;
        if b > self.max_block_no() {
            return Err(ContainerError::TooLarge(format!(
                "block {b} lies past the maximum file size 2^63-1"
            )));
        }
        if block.decoded_len > self.block_size() {
            return Err(ContainerError::InvalidArgument(format!(
                "block of {} bytes exceeds the block size {}",
                block.decoded_len,
                self.block_size()
            )));
        }
        match block.kind {
            BlockKind::Hole => {
                if self.index.remove(b).is_some() {
                    self.mark_dirty(b);
                }
            }
            BlockKind::Fill(byte) => {
                let e = Entry::Fill {
                    byte,
                    len: block.decoded_len,
                };
                if self.index.insert(b, e) != Some(e) {
                    self.mark_dirty(b);
                }
            }
            BlockKind::Stored | BlockKind::Huffman | BlockKind::Lz => {
                let payload_len = (block.bytes.len() as u64 - RECORD_HEADER_LEN) as u32;
                let coding = match block.kind {
                    BlockKind::Stored => Coding::Stored,
                    BlockKind::Huffman => Coding::Huffman,
                    _ => Coding::Lz,
                };
                if coding == Coding::Lz {
                    self.raise_for_lz()?;
                }
                RecordHeader {
                    kind: coding.kind_byte(),
                    block_no: b,
                    decoded_len: block.decoded_len,
                    payload_len,
                    data_crc: block.data_crc,
                }
                .encode(self.salt, &mut block.bytes);
                let offset = self.append(std::mem::take(&mut block.bytes))?;
                self.index.insert(
                    b,
                    Entry::Record {
                        coding,
                        offset,
                        len: payload_len,
                    },
                );
                self.mark_dirty(b);
            }
        }
        Ok(())
    }

    /// Convenience: `put_block(encode(block_no, data, ..))` at the
    /// default level (`huffman` in a version-2 container).
    pub fn write_block(&mut self, block_no: u64, data: &[u8]) -> Result<()> {
        let c = self.compression_for(Compression::default());
        self.put_block(Self::encode(block_no, data, c))
    }

    /// Sets the logical size (clamped to 2^63-1) and drops the index
    /// entries of blocks wholly past it. Bytes of a partial last block past
    /// the size are the caller's business (the file layer rewrites it).
    pub fn set_logical_size(&mut self, size: u64) {
        let size = size.min(MAX_LOGICAL_SIZE);
        if size == self.logical_size && self.index.next_from(self.blocks_for(size)).is_none() {
            return;
        }
        self.logical_size = size;
        self.changed = true;
        let first_gone = self.blocks_for(size);
        for b in self.index.remove_from(first_gone) {
            self.mark_dirty(b);
        }
    }

    /// Number of blocks covering `size` bytes.
    pub(super) fn blocks_for(&self, size: u64) -> u64 {
        size.div_ceil(1u64 << self.shift)
    }

    /// Writes a commit record (delta or checkpoint) if anything changed
    /// since the last one. The data is then in the backing file (page
    /// cache); it is durable after a sync of [`Container::sync_handle`].
    pub fn commit(&mut self) -> Result<()> {
        if !self.changed {
            if self.is_unborn() {
                return Ok(());
            }
            // Still writes a deferred header or uncommitted records.
            return self.write_pending();
        }
        self.check_writable()?;
        commit::write_commit(self)
    }
}
