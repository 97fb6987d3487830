//! Space accounting (live and dead bytes, counts by kind), the compaction
//! rule, and compaction itself: a fresh container holding only the live
//! records and one checkpoint, written to a new file and fsynced.

use std::fs::File;
use std::os::unix::fs::FileExt;

use super::format::{RecordHeader, HEADER_LEN, KIND_HUFFMAN, KIND_STORED, RECORD_HEADER_LEN};
use super::index::Entry;
use super::{Container, ContainerError, Result};

/// Dead bytes below this never trigger compaction.
pub const COMPACT_MIN_DEAD: u64 = 1 << 20;

/// Space report of one container.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub block_size: u32,
    pub logical_size: u64,
    /// Bytes of the backing file (the valid log).
    pub file_len: u64,
    /// Bytes still needed: header, live block records, the current commit
    /// chain (checkpoint and deltas).
    pub live_bytes: u64,
    /// Bytes compaction would reclaim: superseded records, old commits,
    /// uncommitted records no longer referenced.
    pub dead_bytes: u64,
    /// Blocks within the logical size that have no record and no fill.
    pub holes: u64,
    pub stored: u64,
    pub huffman: u64,
    pub fill: u64,
    /// Payload bytes of stored and Huffman records.
    pub stored_payload: u64,
    pub huffman_payload: u64,
    /// Deltas since the last checkpoint (0 for none).
    pub chain_len: u32,
    /// Commit sequence number of the newest commit (0 if none).
    pub seq: u64,
}

impl Container {
    /// Live bytes (see [`Stats::live_bytes`]).
    pub fn live_bytes(&self) -> u64 {
        HEADER_LEN + self.index.live_record_bytes() + self.last.map_or(0, |l| l.chain_bytes)
    }

    /// Dead bytes (see [`Stats::dead_bytes`]).
    pub fn dead_bytes(&self) -> u64 {
        self.end.saturating_sub(self.live_bytes())
    }

    pub fn stats(&self) -> Stats {
        let k = self.index.counts();
        let data_blocks = k.stored + k.huffman + k.fill;
        let total_blocks = self.logical_size.div_ceil(1u64 << self.shift);
        Stats {
            block_size: self.block_size(),
            logical_size: self.logical_size,
            file_len: self.end,
            live_bytes: self.live_bytes(),
            dead_bytes: self.dead_bytes(),
            holes: total_blocks.saturating_sub(data_blocks),
            stored: k.stored,
            huffman: k.huffman,
            fill: k.fill,
            stored_payload: k.stored_payload,
            huffman_payload: k.huffman_payload,
            chain_len: self.last.map_or(0, |l| l.chain_len),
            seq: self.last.map_or(0, |l| l.seq),
        }
    }

    /// The compaction rule: dead bytes exceed both the live bytes and
    /// 1 MiB. Rewriting costs O(live) and is triggered only after at least
    /// as many dead bytes were appended, so it is O(1) amortized per byte
    /// written, and the file is never more than about twice its live size
    /// (plus 1 MiB).
    pub fn needs_compaction(&self) -> bool {
        let dead = self.dead_bytes();
        dead > self.live_bytes() && dead > COMPACT_MIN_DEAD
    }

    /// Writes a compacted copy (only live records, one checkpoint, a new
    /// salt) into `dst` (an empty file opened read-write, in the same
    /// directory), fsyncs and seals it and returns it opened writable. The caller
    /// renames it over the old file (and fsyncs the directory). The
    /// uncommitted state of `self` is included (it is committed in the
    /// copy). Record headers are checked while copying; a damaged header
    /// fails the compaction (the old file stays as it is), a damaged
    /// payload is copied as it is and stays detectable by its CRC.
    pub fn compact_into(&self, dst: File) -> Result<Container> {
        let mut out = Container::create(dst, self.block_size())?;
        let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
        let mut buf_start = out.end;
        let mut rec = Vec::new();
        for (b, e) in self.index.iter() {
            let (offset, len, kind) = match e {
                Entry::Fill { .. } => {
                    out.index.insert(b, e);
                    continue;
                }
                Entry::Stored { offset, len } => (offset, len, KIND_STORED),
                Entry::Huffman { offset, len } => (offset, len, KIND_HUFFMAN),
            };
            rec.resize(RECORD_HEADER_LEN as usize + len as usize, 0);
            self.read_exact(&mut rec, offset, b)?;
            let h = RecordHeader::decode(&rec, self.salt, self.block_size(), offset)?;
            if h.block_no != b || h.kind != kind || h.payload_len != len {
                return Err(ContainerError::Corrupt {
                    offset,
                    msg: format!("block {b}: record header does not match the index"),
                });
            }
            h.encode(out.salt, &mut rec);
            let new_off = buf_start + buf.len() as u64;
            buf.extend_from_slice(&rec);
            out.index.insert(
                b,
                if kind == KIND_STORED {
                    Entry::Stored {
                        offset: new_off,
                        len,
                    }
                } else {
                    Entry::Huffman {
                        offset: new_off,
                        len,
                    }
                },
            );
            if buf.len() >= 1 << 20 {
                out.file.write_all_at(&buf, buf_start)?;
                buf_start += buf.len() as u64;
                buf.clear();
            }
        }
        out.file.write_all_at(&buf, buf_start)?;
        out.end = buf_start + buf.len() as u64;
        out.logical_size = self.logical_size;
        out.changed = true;
        out.commit()?;
        out.file.sync_all()?;
        out.seal_now()?;
        Ok(out)
    }
}
