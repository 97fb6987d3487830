//! Space accounting (live and dead bytes, counts by kind), the compaction
//! rule, and compaction itself: a fresh container holding only the live
//! records and one checkpoint, written to a new file and fsynced.

use std::fs::File;
use std::os::unix::fs::FileExt;

use super::format::{HEADER_LEN, RECORD_HEADER_LEN};
use super::index::Entry;
use super::{Container, ContainerError, Result};

/// Dead bytes below this never trigger compaction: rewriting a file
/// costs a syscall or two and its live bytes, not worth it for less.
pub const COMPACT_MIN_DEAD: u64 = 64 << 10;

/// When dead space is worth a rewrite (FORMAT.md 3.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompactWhen {
    /// The file is being written: dead > 3/4 of live and > 64 KiB, so the
    /// file stays under 1.75x its live size (plus 64 KiB) while each byte
    /// written costs at most 4/3 of a byte of rewriting, amortized.
    InUse,
    /// The file was just closed (it is at rest): dead over 1/8 of live
    /// and over 64 KiB, so a file at rest is at most 1.125x its live size
    /// (plus 64 KiB).
    AtRest,
}

/// Space report of one container.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SpaceReport {
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
    pub lz: u64,
    pub fill: u64,
    /// Payload bytes of stored, Huffman and LZ records.
    pub stored_payload: u64,
    pub huffman_payload: u64,
    pub lz_payload: u64,
    /// Deltas since the last checkpoint (0 for none).
    pub chain_len: u32,
    /// Commit sequence number of the newest commit (0 if none).
    pub seq: u64,
}

impl Container {
    /// Live bytes (see [`SpaceReport::live_bytes`]).
    pub fn live_bytes(&self) -> u64 {
        // Block 0 held in the packed record has a 26-byte head, not a
        // 32-byte record header (FORMAT.md 3.11).
        let short = match self.index.get(0).and_then(|e| e.record_offset()) {
            Some(offset) => RECORD_HEADER_LEN - self.head_len(offset),
            None => 0,
        };
        HEADER_LEN + self.index.live_record_bytes() + self.last.map_or(0, |l| l.chain_bytes) - short
    }

    /// Dead bytes (see [`SpaceReport::dead_bytes`]).
    pub fn dead_bytes(&self) -> u64 {
        self.end.saturating_sub(self.live_bytes())
    }

    pub fn stats(&self) -> SpaceReport {
        let k = self.index.counts();
        let data_blocks = k.stored + k.huffman + k.lz + k.fill;
        let total_blocks = self.logical_size.div_ceil(1u64 << self.shift);
        SpaceReport {
            block_size: self.block_size(),
            logical_size: self.logical_size,
            file_len: self.end,
            live_bytes: self.live_bytes(),
            dead_bytes: self.dead_bytes(),
            holes: total_blocks.saturating_sub(data_blocks),
            stored: k.stored,
            huffman: k.huffman,
            lz: k.lz,
            fill: k.fill,
            stored_payload: k.stored_payload,
            huffman_payload: k.huffman_payload,
            lz_payload: k.lz_payload,
            chain_len: self.last.map_or(0, |l| l.chain_len),
            seq: self.last.map_or(0, |l| l.seq),
        }
    }

    /// The compaction rule (see [`CompactWhen`]). Rewriting costs O(live)
    /// and is triggered only after a fixed share of live bytes died since
    /// the last rewrite, so it is O(1) amortized per byte written.
    pub fn needs_compaction(&self, when: CompactWhen) -> bool {
        let (dead, live) = (self.dead_bytes(), self.live_bytes());
        match when {
            CompactWhen::InUse => dead / 3 > live / 4 && dead > COMPACT_MIN_DEAD,
            CompactWhen::AtRest => dead > live / 8 && dead > COMPACT_MIN_DEAD,
        }
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
            let (coding, offset, len) = match e {
                Entry::Fill { .. } => {
                    out.index.insert(b, e);
                    continue;
                }
                Entry::Record {
                    coding,
                    offset,
                    len,
                } => (coding, offset, len),
            };
            // A block in a packed record becomes an ordinary record: the
            // payload moves up behind a record header (FORMAT.md 3.8).
            let head = self.head_len(offset) as usize;
            let skip = RECORD_HEADER_LEN as usize - head;
            rec.resize(RECORD_HEADER_LEN as usize + len as usize, 0);
            self.read_exact(&mut rec[skip..], offset, b)?;
            let h = self.decode_head(&rec[skip..skip + head], offset)?;
            if h.block_no != b || h.kind != coding.kind_byte() || h.payload_len != len {
                return Err(ContainerError::corrupt_block(
                    offset,
                    b,
                    "record header does not match the index",
                ));
            }
            h.encode(out.salt, &mut rec);
            let new_off = buf_start + buf.len() as u64;
            buf.extend_from_slice(&rec);
            out.index.insert(
                b,
                Entry::Record {
                    coding,
                    offset: new_off,
                    len,
                },
            );
            if buf.len() >= 1 << 20 {
                out.file.write_all_at(&buf, buf_start)?;
                buf_start += buf.len() as u64;
                buf.clear();
            }
        }
        out.end = buf_start + buf.len() as u64;
        if buf_start == HEADER_LEN && buf.len() <= super::PENDING_MAX {
            // Small: it goes out with the commit, as a packed record when
            // FORMAT.md 3.11's conditions hold.
            out.pending = buf;
        } else {
            out.file.write_all_at(&buf, buf_start)?;
        }
        out.logical_size = self.logical_size;
        out.changed = true;
        out.commit()?;
        out.file.sync_all()?;
        out.seal_now()?;
        Ok(out)
    }
}
