//! Shared pieces of the four-stream layout of v2 segments (quarters; the
//! encoder is in `huff_encode`, the decoder in `huff_decode`) and the two-symbol lookups
//! of the v1 single-stream decoder.

use super::bits::BitReader;
use super::stream::DecTable;

/// Streams per segment.
pub(crate) const STREAMS: usize = 4;

/// The quarter `k` of a segment of `n` bytes: [k*q, (k+1)*q) clamped to n,
/// with q = ceil(n/4).
pub(crate) fn quarter(n: usize, k: usize) -> (usize, usize) {
    let q = n.div_ceil(STREAMS);
    ((k * q).min(n), ((k + 1) * q).min(n))
}

pub(crate) use super::huff_encode::{encode4, region_cap};

/// Two-symbol decoding table: indexed by the next 11 bits, an entry gives
/// one or two symbols (bits 0-15, first symbol in the low byte), the bits
/// they use (16-23) and their count (24-31).
pub(crate) struct PairTable {
    entries: [u32; 2048],
}

impl PairTable {
    /// Built from the one-symbol table of a complete code <= 11 bits.
    pub(crate) fn new(single: &DecTable) -> PairTable {
        let mut t = [0u32; 2048];
        for (i, x) in t.iter_mut().enumerate() {
            let e1 = single.get(i as u64);
            let l1 = u32::from(e1 & 15);
            let s1 = u32::from(e1 >> 4);
            let e2 = single.get((i as u64) >> l1);
            let l2 = u32::from(e2 & 15);
            *x = if l1 + l2 <= 11 {
                (2 << 24) | ((l1 + l2) << 16) | (u32::from(e2 >> 4) << 8) | s1
            } else {
                (1 << 24) | (l1 << 16) | s1
            };
        }
        PairTable { entries: t }
    }
}

/// True when two-symbol lookups should pay for building their table: a
/// long segment whose code is short on average (by the code's own implied
/// probabilities 2^-length, so the decoder can tell from the lengths).
pub(crate) fn pairs_pay(lengths: &[u8; 256], seg_len: usize) -> bool {
    if seg_len < 16384 {
        return false;
    }
    // sum of length * 2^(11 - length): average length * 2048.
    let avg2048: u32 = lengths
        .iter()
        .filter(|&&l| l > 0 && l <= 11)
        .map(|&l| u32::from(l) << (11 - l))
        .sum();
    avg2048 <= 11 * 1024 // average <= 5.5 bits
}

/// The fast part of one stream with two-symbol lookups (the v1 stream):
/// decodes while 8 input bytes remain and 10 output bytes are free;
/// returns the output position reached.
pub(crate) fn decode1_pairs(pairs: &PairTable, r: &mut BitReader<'_>, o: &mut [u8]) -> usize {
    let mut p = 0usize;
    let pt = &pairs.entries;
    while r.can_refill_fast() && p + 10 <= o.len() {
        r.refill_fast();
        for _ in 0..5 {
            let e = pt[(r.peek() & 0x7FF) as usize];
            if let Some(d) = o.get_mut(p..p + 2) {
                d.copy_from_slice(&(e as u16).to_le_bytes());
            }
            p += (e >> 24) as usize;
            r.consume((e >> 16) & 0xFF);
        }
    }
    p
}
