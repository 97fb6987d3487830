//! Writing commit records: chooses delta or checkpoint and streams the
//! record (header, entries, entries CRC, trailer) to the end of the log
//! through a bounded buffer, so a checkpoint of a huge index needs no
//! memory beyond the index itself. The buffer starts with the container's
//! pending bytes (a deferred header, records), so a small commit and what
//! it refers to reach the file in one write. The first commit of a small
//! version-5 container is a packed record instead (FORMAT.md 3.11).

use std::os::unix::fs::FileExt;

use super::format::{
    self, crc_append, salted_crc, CommitHeader, DiskEntry, PackedHead, RecordHeader, Trailer,
    COMMIT_CHECKPOINT, ENTRY_LEN, HEADER_LEN, KIND_FILL, KIND_HOLE, RECORD_HEADER_LEN,
};
use super::index::Entry;
use super::{CommitState, Container, Result};

/// Delta chain bounds: the writer starts a checkpoint once the chain holds
/// `clamp(index entries / 16, MIN_CHAIN, MAX_CHAIN)` deltas, so a
/// checkpoint of n entries (24n bytes) is amortized over at least n/16
/// commits (at most 384 bytes per commit) while open reads a bounded
/// number of deltas.
pub const MIN_CHAIN: u32 = 1024;
pub const MAX_CHAIN: u32 = 65536;

/// The chain length at which the next commit is a checkpoint.
pub fn chain_cap(index_entries: u64) -> u32 {
    (index_entries / 16).clamp(u64::from(MIN_CHAIN), u64::from(MAX_CHAIN)) as u32
}

/// Write buffer size for streaming commits.
const BUF: usize = 64 * 1024;

/// Decides whether the next commit is a checkpoint (see FORMAT.md 3.6).
pub fn wants_checkpoint(c: &Container) -> bool {
    let Some(last) = c.last else { return true };
    let d = c.dirty.len() as u64;
    let n = c.index.len();
    last.chain_len >= chain_cap(n) || d >= n || last.chain_entries + d > n
}

struct Sink<'a> {
    c: &'a Container,
    pos: u64,
    buf: Vec<u8>,
    /// Buffer length that triggers a write.
    limit: usize,
    crc: u32,
}

impl Sink<'_> {
    fn put(&mut self, bytes: &[u8], crc: bool) -> std::io::Result<()> {
        if crc {
            self.crc = crc_append(self.crc, bytes);
        }
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= self.limit {
            self.flush()?;
        }
        Ok(())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.c.file.write_all_at(&self.buf, self.pos)?;
        self.pos += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }
}

pub fn write_commit(c: &mut Container) -> Result<()> {
    if let Some(p) = packed_candidate(c) {
        return write_packed(c, p);
    }
    let checkpoint = wants_checkpoint(c);
    let start = c.end;
    let prev = c.last;
    let entry_count = if checkpoint {
        c.index.len()
    } else {
        c.dirty.len() as u64
    };
    let (chain_len, checkpoint_off) = match (checkpoint, prev) {
        (false, Some(p)) => (p.chain_len + 1, p.checkpoint),
        _ => (0, start),
    };
    let header = CommitHeader {
        flags: if checkpoint { COMMIT_CHECKPOINT } else { 0 },
        seq: prev.map_or(c.seq_floor + 1, |p| p.seq + 1),
        logical_size: c.logical_size,
        prev_commit: prev.map_or(0, |p| p.offset),
        checkpoint: checkpoint_off,
        entry_count,
        chain_len,
        packed: None,
    };
    let hb = header.encode(c.salt);
    let written = c.written();
    let mut buf = Vec::with_capacity(c.pending.len() + BUF + 128);
    buf.extend_from_slice(&c.pending);
    let limit = BUF + buf.len();
    let mut sink = Sink {
        c,
        pos: written,
        buf,
        limit,
        crc: salted_crc(c.salt, &[]),
    };
    let mut eb = [0u8; ENTRY_LEN as usize];
    let result = (|| -> std::io::Result<()> {
        sink.put(&hb, true)?;
        if checkpoint {
            for (b, e) in c.index.iter() {
                e.to_disk(b).encode(&mut eb);
                sink.put(&eb, true)?;
            }
        } else {
            for &b in &c.dirty {
                let d = match c.index.get(b) {
                    Some(e) => e.to_disk(b),
                    None => DiskEntry {
                        block_no: b,
                        offset: 0,
                        len: 0,
                        kind: KIND_HOLE,
                        fill: 0,
                    },
                };
                d.encode(&mut eb);
                sink.put(&eb, true)?;
            }
        }
        let crc = sink.crc;
        sink.put(&crc.to_le_bytes(), false)?;
        let t = Trailer {
            commit_offset: start,
            logical_size: c.logical_size,
            seq: header.seq,
        };
        sink.put(&t.encode(c.salt), false)?;
        sink.flush()
    })();
    let end = sink.pos;
    if let Err(e) = result {
        // The pending bytes stay pending (and readable); nothing changes.
        let _ = c.file.set_len(written);
        return Err(e.into());
    }
    c.pending.clear();
    if c.pending.capacity() > 2 * super::PENDING_MAX {
        c.pending = Vec::new();
    }
    debug_assert_eq!(end - start, header.record_len());
    let len = end - start;
    c.end = end;
    c.kept = end;
    c.last = Some(CommitState {
        offset: start,
        seq: header.seq,
        checkpoint: checkpoint_off,
        chain_len,
        chain_entries: if checkpoint {
            0
        } else {
            prev.map_or(0, |p| p.chain_entries) + entry_count
        },
        chain_bytes: if checkpoint {
            len
        } else {
            prev.map_or(0, |p| p.chain_bytes) + len
        },
    });
    c.dirty.clear();
    c.changed = false;
    Ok(())
}

/// The packed head of this first commit, when it can be a packed record
/// (FORMAT.md 3.11): a version-5 container whose first commit (seq 1)
/// starts at offset 32 with nothing but the header before it, a logical
/// size of at most one block, and no block but block 0, whose record (if
/// any) is the one record pending right after the header.
fn packed_candidate(c: &Container) -> Option<PackedHead> {
    if !format::allows_packed(c.version) || c.last.is_some() || c.seq_floor != 0 {
        return None;
    }
    let bs = c.block_size();
    let written = c.written();
    if c.logical_size > u64::from(bs) || written > HEADER_LEN {
        return None;
    }
    let logical_size = c.logical_size as u32;
    let none = PackedHead {
        kind: KIND_HOLE,
        fill: 0,
        logical_size,
        decoded_len: 0,
        payload_len: 0,
        data_crc: 0,
    };
    let mut it = c.index.iter();
    let first = it.next();
    if it.next().is_some() {
        return None;
    }
    match first {
        None if c.end == HEADER_LEN => Some(none),
        Some((0, Entry::Fill { byte, len })) if c.end == HEADER_LEN => Some(PackedHead {
            kind: KIND_FILL,
            fill: byte,
            decoded_len: len,
            ..none
        }),
        Some((
            0,
            Entry::Record {
                coding,
                offset,
                len,
            },
        )) if offset == HEADER_LEN && c.end == HEADER_LEN + RECORD_HEADER_LEN + u64::from(len) => {
            // The record is pending (written <= 32): its header is ours.
            let at = (HEADER_LEN - written) as usize;
            let hb = c.pending.get(at..at + RECORD_HEADER_LEN as usize)?;
            let r = RecordHeader::decode(hb, c.salt, bs, offset).ok()?;
            if r.block_no != 0 || r.kind != coding.kind_byte() || r.payload_len != len {
                return None;
            }
            Some(PackedHead {
                kind: r.kind,
                decoded_len: r.decoded_len,
                payload_len: len,
                data_crc: r.data_crc,
                ..none
            })
        }
        _ => None,
    }
}

/// Writes the first commit as the packed record `p` at offset 32: the
/// pending bytes (the deferred header, if any, and block 0's record) with
/// the record header replaced by the packed head, then the trailer, in
/// one write. On failure the pending bytes stay pending and nothing
/// changes.
fn write_packed(c: &mut Container, p: PackedHead) -> Result<()> {
    let written = c.written();
    let at = (HEADER_LEN - written) as usize;
    let mut buf = Vec::with_capacity(at + p.record_len() as usize);
    buf.extend_from_slice(&c.pending[..at]);
    buf.extend_from_slice(&p.encode(c.salt));
    if p.has_record() {
        let from = at + RECORD_HEADER_LEN as usize;
        buf.extend_from_slice(&c.pending[from..from + p.payload_len as usize]);
    }
    let ch = p.commit_header();
    let t = Trailer {
        commit_offset: HEADER_LEN,
        logical_size: ch.logical_size,
        seq: ch.seq,
    };
    buf.extend_from_slice(&t.encode(c.salt));
    if let Err(e) = c.file.write_all_at(&buf, written) {
        let _ = c.file.set_len(written);
        return Err(e.into());
    }
    c.pending.clear();
    if c.pending.capacity() > 2 * super::PENDING_MAX {
        c.pending = Vec::new();
    }
    c.end = written + buf.len() as u64;
    c.kept = c.end;
    c.packed = true;
    c.last = Some(CommitState {
        offset: HEADER_LEN,
        seq: ch.seq,
        checkpoint: HEADER_LEN,
        chain_len: 0,
        chain_entries: 0,
        chain_bytes: ch.commit_bytes(),
    });
    c.dirty.clear();
    c.changed = false;
    Ok(())
}
