//! The sequence half of the v2 LZ decoder (docs/FORMAT.md section 5.3):
//! the three sequence tables as 9-bit lookup tables (base and extra bits in
//! one entry), the bit streams they read, and the loop that decodes the
//! sequences BATCH at a time and carries them out with 16-byte,
//! overlap-safe copies. Every check of 5.3 on a sequence is made here;
//! decode.rs parses the payload around it.

use super::error::LzError;
use super::spec::*;
use crate::codec::canonical::TableKind;

/// Slack after the literals so that short literal runs copy as one
/// 16-byte chunk.
pub(super) const LIT_SLACK: usize = 32;
/// Copy chunk of the fast paths.
const CHUNK: usize = 16;
/// Lengths below this (both) take the straight-line path: two chunks.
const FAST: usize = 2 * CHUNK;
const _: () = assert!(FAST <= LIT_SLACK);
/// Sequences decoded before they are carried out.
pub(super) const BATCH: usize = 32;

/// A lookup table of one sequence alphabet, indexed by the next
/// SEQ_MAX_CODE bits of the stream. Entry: `base << 40 | repeat << 34 |
/// extra_bits << 16 | (code_length + extra_bits) << 8 | code_length`;
/// for repeat symbols `base` is 0..=2. (The extra-bit count in bits 16-23
/// is where BMI2's `bzhi` reads it from `e >> 16`.)
pub(super) struct SeqTable {
    entries: [u64; 1 << SEQ_MAX_CODE],
}

const REPEAT: u64 = 1 << 34;
const SEQ_MASK: u64 = (1 << SEQ_MAX_CODE) - 1;

impl SeqTable {
    pub(super) fn new() -> SeqTable {
        SeqTable {
            entries: [0; 1 << SEQ_MAX_CODE],
        }
    }

    /// Builds the table for `lengths` (validated, symbols in range, codes
    /// at most SEQ_MAX_CODE bits); `entry(symbol)` gives the symbol's
    /// entry without its code length (base, repeat flag, extra bits).
    /// Every entry is written.
    /// Only the first `nsyms` (<= 64) symbols are looked at (the caller
    /// checked that the others are absent).
    pub(super) fn build(&mut self, lengths: &[u8], kind: TableKind, entry: impl Fn(usize) -> u64) {
        if let TableKind::Single(s) = kind {
            // No bits for the symbol: every index gives it.
            self.entries.fill(entry(s as usize));
            return;
        }
        // Symbols grouped by code length (counting sort, symbol order
        // within a length: canonical order).
        let n = lengths.len().min(64);
        let mut count = [0u8; 16];
        for &l in &lengths[..n] {
            count[usize::from(l & 15)] += 1;
        }
        let mut at = [0u8; 16];
        for l in 2..16 {
            at[l] = at[l - 1] + count[l - 1];
        }
        let mut order = [0u8; 64];
        for (s, &l) in lengths[..n].iter().enumerate() {
            if l != 0 {
                let a = &mut at[usize::from(l & 15)];
                if let Some(o) = order.get_mut(usize::from(*a)) {
                    *o = s as u8;
                }
                *a += 1;
            }
        }
        // Doubling: before length k, entries[..2^(k-1)] are right for
        // every code shorter than k (a code of length j fills the indices
        // that are its reversed code modulo 2^j); copying them up makes
        // entries[..2^k] right for those codes, and each code of length k
        // has exactly one index below 2^k. A complete code (validated)
        // leaves no index unwritten.
        let mut filled = 1usize;
        let mut code = 0u32;
        let mut next = 0usize;
        self.entries[0] = 0;
        let lens = count.iter().enumerate().take(SEQ_MAX_CODE as usize + 1);
        for (k, &nk) in lens.skip(1) {
            self.entries.copy_within(..filled, filled);
            filled *= 2;
            for &sym in order.iter().skip(next).take(usize::from(nk)) {
                let s = usize::from(sym);
                let rev = code.reverse_bits() >> (32 - k);
                self.entries[rev as usize & (filled - 1)] = entry(s) + ((k as u64) << 8) + k as u64;
                code += 1;
            }
            next += usize::from(nk);
            code <<= 1;
        }
    }

    #[inline(always)]
    fn get(&self, bits: u64) -> u64 {
        self.entries[(bits & SEQ_MASK) as usize]
    }
}

fn entry(base: u32, extra: u32) -> u64 {
    (u64::from(base) << 40) | (u64::from(extra) << 16) | (u64::from(extra) << 8)
}

/// The low `n & 0xFF` bits of `x` (n & 0xFF <= 18 for every table entry).
/// `BMI2` only where the CPU has it: one `bzhi`, which reads the count
/// from the low byte of `n` itself.
#[inline(always)]
fn low_bits<const BMI2: bool>(x: u64, n: u64) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if BMI2 {
        // SAFETY: `BMI2` is true only in `sequences_bmi2`'s instance,
        // which `run_sequences` calls after detecting BMI2 on this CPU.
        // bzhi zeroes the bits of `x` from bit n[7:0] up (none when
        // n[7:0] >= 64): for n[7:0] <= 18 the same as the line below.
        return unsafe { std::arch::x86_64::_bzhi_u64(x, n as u32) };
    }
    x & ((1u64 << (n & 0x3F)) - 1)
}

pub(super) fn len_entry(s: usize) -> u64 {
    let (base, extra) = len_base(s);
    entry(base, extra)
}

/// A match-length entry: its base includes MIN_MATCH.
pub(super) fn ml_entry(s: usize) -> u64 {
    let (base, extra) = len_base(s);
    entry(base + MIN_MATCH as u32, extra)
}

pub(super) fn of_entry(s: usize) -> u64 {
    if s < 3 {
        return entry(s as u32, 0) | REPEAT;
    }
    let (base, extra) = offset_base(s);
    entry(base, extra)
}

/// Most bits one sequence takes in one stream: a 9-bit code and 18
/// extra bits.
pub(super) const MAX_SEQ_BITS: usize = 27;
/// Zero bytes after each stream in the scratch copy: a batch of BATCH
/// sequences that starts with the stream's position inside the stream
/// reads at most BATCH * MAX_SEQ_BITS bits (108 bytes) and then 8 bytes.
pub(super) const STREAM_PAD: usize = 128;
const _: () = assert!(BATCH * MAX_SEQ_BITS / 8 + 1 + 8 <= STREAM_PAD);

/// A sequence bit stream (section-1 order) inside the padded scratch
/// copy: `pos` is its next bit (absolute), `lim` the byte where it ends
/// (STREAM_PAD zero bytes follow). `sequences` checks before every batch
/// that `pos` has not passed `lim * 8` (a stream that has would fail the
/// length check at the end anyway); within a batch `pos` then stays
/// below (lim + 109) * 8, so every look-ahead (8 bytes at `pos / 8`) is
/// inside the padded copy.
#[derive(Clone, Copy)]
pub(super) struct Stream {
    pub(super) pos: usize,
    pub(super) lim: usize,
    /// The byte where it starts.
    pub(super) start: usize,
}

impl Stream {
    /// Bits read so far and the stream's length in bytes.
    pub(super) fn used(&self) -> (u64, usize) {
        ((self.pos - self.start * 8) as u64, self.lim - self.start)
    }
}

/// Names of the sequence streams and tables, in payload order.
pub(super) const SEQ_NAMES: [&str; 3] = ["LL", "ML", "OF"];

/// The next 57 or more bits of stream `r`. Needs `r.pos / 8 + 8 <=
/// d.len()`: `sequences` makes sure of it (see `Stream`).
#[inline(always)]
fn look(d: &[u8], r: &Stream) -> u64 {
    let i = r.pos >> 3;
    debug_assert!(i + 8 <= d.len());
    // SAFETY: `sequences` checked `lim + STREAM_PAD <= d.len()` once and
    // `pos <= lim * 8` at the start of the current batch; a batch advances
    // `pos` by at most BATCH * MAX_SEQ_BITS bits (every table entry uses
    // at most a 9-bit code and 18 extra bits), so i + 8 <= lim + 108 + 8
    // <= lim + STREAM_PAD <= d.len(): the 8 bytes are inside `d`.
    // read_unaligned reads them whatever their alignment.
    let w = unsafe { std::ptr::read_unaligned(d.as_ptr().add(i) as *const [u8; 8]) };
    u64::from_le_bytes(w) >> (r.pos & 7)
}

/// Decodes one symbol and its extra bits from the front of `w` with `t`:
/// the table entry, the value (base + extra bits) and the bits used.
#[inline(always)]
fn decode1<const BMI2: bool>(w: u64, t: &SeqTable) -> (u64, usize, u64) {
    let e = t.get(w);
    // Code lengths are <= 9: `e & 63` is the code length.
    let v = (e >> 40) + low_bits::<BMI2>(w >> (e & 63), e >> 16);
    (e, v as usize, (e >> 8) & 0xFF)
}

/// Decodes the next symbol of stream `r` (entry, value).
#[inline(always)]
fn next<const BMI2: bool>(d: &[u8], r: &mut Stream, t: &SeqTable) -> (u64, usize) {
    let (e, v, used) = decode1::<BMI2>(look(d, r), t);
    r.pos += used as usize;
    (e, v)
}

/// Decodes the next two symbols of stream `r` from one look-ahead (two
/// sequences take at most 54 of its 57 bits).
#[inline(always)]
fn next2<const BMI2: bool>(d: &[u8], r: &mut Stream, t: &SeqTable) -> [(u64, usize); 2] {
    let w = look(d, r);
    let (e1, v1, u1) = decode1::<BMI2>(w, t);
    let (e2, v2, u2) = decode1::<BMI2>(w >> u1, t);
    r.pos += (u1 + u2) as usize;
    [(e1, v1), (e2, v2)]
}

/// `sequences` compiled for this CPU (the same result on all).
#[allow(clippy::too_many_arguments)]
pub(super) fn run_sequences(
    d: &[u8],
    streams: &mut [Stream; 3],
    nseq: usize,
    lits: &[u8],
    nlit: usize,
    out: &mut [u8],
    tables: &[SeqTable; 3],
) -> Result<usize, LzError> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("bmi2") {
        // SAFETY: `sequences_bmi2` is safe code whose only requirement is
        // that the CPU supports BMI2, which was checked just above.
        return unsafe { sequences_bmi2(d, streams, nseq, lits, nlit, out, tables) };
    }
    sequences::<false>(d, streams, nseq, lits, nlit, out, tables)
}

/// `sequences` with BMI2: variable shifts and masks without moving the
/// count to CL (the bit-field extraction is most of the lookup work).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "bmi2")]
#[allow(clippy::too_many_arguments)]
fn sequences_bmi2(
    d: &[u8],
    streams: &mut [Stream; 3],
    nseq: usize,
    lits: &[u8],
    nlit: usize,
    out: &mut [u8],
    tables: &[SeqTable; 3],
) -> Result<usize, LzError> {
    sequences::<true>(d, streams, nseq, lits, nlit, out, tables)
}

/// Runs the sequences; returns the output position after the last one
/// (checked: the literals left fill the block exactly).
#[inline(always)]
fn sequences<const BMI2: bool>(
    d: &[u8],
    streams: &mut [Stream; 3],
    nseq: usize,
    lits: &[u8],
    nlit: usize,
    out: &mut [u8],
    tables: &[SeqTable; 3],
) -> Result<usize, LzError> {
    let n = out.len();
    let [llt, mlt, oft] = tables;
    let [mut rl, mut rm, mut ro] = *streams;
    // `look`'s requirement, for the whole loop (`lim` does not change);
    // `decode_with` lays the streams out this way.
    if let Some(r) = streams.iter().find(|r| r.lim + STREAM_PAD > d.len()) {
        // Not reached: `decode_with` pads every stream.
        let (used_bits, bytes) = r.used();
        return Err(LzError::BitStream { used_bits, bytes });
    }
    if lits.len() < nlit + LIT_SLACK {
        return Err(LzError::LiteralsOverrun {
            seq: 0,
            needed: nlit + LIT_SLACK,
            nlit: lits.len(),
        });
    }
    let mut rep = [
        REP_INIT[0] as usize,
        REP_INIT[1] as usize,
        REP_INIT[2] as usize,
    ];
    let mut op = 0usize;
    let mut lp = 0usize;
    // Sequences ending at or before this take the straight-line path
    // (its copies write up to FAST bytes past the end); 0 (with n <
    // FAST) lets none take it, as `end` >= MIN_MATCH.
    let n_fast = n.saturating_sub(FAST);
    // Sequences are decoded BATCH at a time (a tight loop of table
    // lookups), then carried out (copies and their branches).
    let mut lls = [0usize; BATCH];
    let mut mls = [0usize; BATCH];
    let mut offs = [0usize; BATCH];
    let mut first = 0;
    while first < nseq {
        let m = (nseq - first).min(BATCH);
        // `look`'s requirement for this batch (see `Stream`).
        for (r, which) in [&rl, &rm, &ro].into_iter().zip(SEQ_NAMES) {
            if r.pos > r.lim * 8 {
                let (used_bits, bytes) = r.used();
                return Err(LzError::StreamOverrun {
                    which,
                    seq: first,
                    used_bits,
                    bytes,
                });
            }
        }
        let mut j = 0;
        while j + 2 <= m {
            let l = next2::<BMI2>(d, &mut rl, llt);
            let ml = next2::<BMI2>(d, &mut rm, mlt);
            let o = next2::<BMI2>(d, &mut ro, oft);
            for k in 0..2 {
                lls[j + k] = l[k].1;
                mls[j + k] = ml[k].1;
                offs[j + k] = new_offset(&mut rep, o[k]);
            }
            j += 2;
        }
        if j < m {
            lls[j] = next::<BMI2>(d, &mut rl, llt).1;
            mls[j] = next::<BMI2>(d, &mut rm, mlt).1;
            offs[j] = new_offset(&mut rep, next::<BMI2>(d, &mut ro, oft));
        }
        for j in 0..m {
            let (ll, ml, off) = (lls[j], mls[j], offs[j]);
            let lit_end = lp + ll;
            let mid = op + ll;
            let end = mid + ml;
            if (lit_end > nlit) | (end > n) | (off > mid) {
                return Err(sequence_error(first + j, lit_end, nlit, end, n, mid, off));
            }
            if ((ll | ml) < FAST) & (off >= CHUNK) & (end <= n_fast) {
                // The common case (both lengths < 32): two 16-byte chunks
                // each, no loop, no branch.
                // SAFETY (every pointer below is in bounds; within each
                // copy the source and destination do not overlap):
                // - literals: lp <= lit_end <= nlit (checked above), so
                //   lp + 32 <= nlit + LIT_SLACK (32) <= lits.len();
                // - literal destination: op <= mid <= end and end + 32 <= n
                //   (checked), so out[op..op + 32] is inside `out`; `lits`
                //   and `out` are different slices (one &, one &mut);
                // - match: off <= mid (checked) and off >= 16, so chunk c
                //   (0 or 1) reads out[mid - off + 16c..][..16], which ends
                //   at or before mid + 16c, where its destination
                //   out[mid + 16c..][..16] starts, and mid + 32 <= end + 32
                //   <= n. The copies run in order (literals, then chunk 0,
                //   then chunk 1), so every byte a chunk reads is final:
                //   the byte-by-byte meaning of the match.
                unsafe {
                    let o = out.as_mut_ptr();
                    let l = lits.as_ptr().add(lp);
                    std::ptr::copy_nonoverlapping(l, o.add(op), CHUNK);
                    std::ptr::copy_nonoverlapping(l.add(CHUNK), o.add(op + CHUNK), CHUNK);
                    let src = o.add(mid - off);
                    std::ptr::copy_nonoverlapping(src, o.add(mid), CHUNK);
                    std::ptr::copy_nonoverlapping(src.add(CHUNK), o.add(mid + CHUNK), CHUNK);
                }
            } else if end + CHUNK <= n {
                copy_wild(out, lits, op, lp, ll);
                copy_match_wild(out, mid, off, ml);
            } else {
                out[op..mid].copy_from_slice(&lits[lp..lit_end]);
                copy_match(out, mid, off, ml);
            }
            lp = lit_end;
            op = end;
        }
        first += m;
    }
    *streams = [rl, rm, ro];
    let rest = nlit - lp;
    if op + rest != n {
        return Err(LzError::LengthMismatch {
            produced: op + rest,
            len: n,
        });
    }
    Ok(op)
}

/// The offset of a sequence whose offset symbol gave (entry, value), and
/// the repeat offsets after it. Without branches: idx 0..=2 a repeat, 3 a
/// new offset.
#[inline(always)]
fn new_offset(rep: &mut [usize; 3], (eo, o): (u64, usize)) -> usize {
    let idx = if eo & REPEAT != 0 { o & 3 } else { 3 };
    let lo = if idx & 1 != 0 { rep[1] } else { rep[0] };
    let hi = if idx & 1 != 0 { o } else { rep[2] };
    let o = if idx & 2 != 0 { hi } else { lo };
    rep[2] = if idx >= 2 { rep[1] } else { rep[2] };
    rep[1] = if idx == 0 { rep[1] } else { rep[0] };
    rep[0] = o;
    o
}

/// The error of a sequence that failed one of the checks.
#[cold]
fn sequence_error(
    seq: usize,
    lit_end: usize,
    nlit: usize,
    end: usize,
    n: usize,
    mid: usize,
    off: usize,
) -> LzError {
    if lit_end > nlit {
        LzError::LiteralsOverrun {
            seq,
            needed: lit_end,
            nlit,
        }
    } else if end > n {
        LzError::PastEnd { seq, end, len: n }
    } else {
        LzError::OffsetBeforeStart {
            seq,
            pos: mid,
            offset: off,
        }
    }
}

/// Copies the `ll` literals at `lits[lp..]` to `out[op..]`: one 16-byte
/// chunk (which may write up to 15 bytes past `op + ll`), then the rest
/// exactly. Needs `lp + ll <= lits.len() - LIT_SLACK` and
/// `op + ll + 16 <= out.len()` (as `sequences` checked).
#[inline(always)]
fn copy_wild(out: &mut [u8], lits: &[u8], op: usize, lp: usize, ll: usize) {
    let (Some(dst), Some(src)) = (
        out.get_mut(op..op + ll.max(CHUNK)),
        lits.get(lp..lp + ll.max(CHUNK)),
    ) else {
        return; // not reached: the callers' checks imply both ranges
    };
    dst[..CHUNK].copy_from_slice(&src[..CHUNK]);
    if ll > CHUNK {
        dst[CHUNK..].copy_from_slice(&src[CHUNK..]);
    }
}

/// `copy_match` when `dst + ml + 16 <= out.len()`: copies in chunks that
/// may write up to 15 bytes past `dst + ml`.
#[inline(always)]
fn copy_match_wild(out: &mut [u8], dst: usize, off: usize, ml: usize) {
    if off >= CHUNK {
        // Each source chunk ends at or before its destination chunk
        // starts (off >= 16), so the bytes read are final.
        let src = dst - off;
        let end = dst + ml.next_multiple_of(CHUNK);
        if end > out.len() {
            return copy_match(out, dst, off, ml); // not reached (caller's check)
        }
        let mut i = 0;
        while i < ml {
            // SAFETY: src + i + 16 <= dst + i (off >= 16) and
            // dst + i + 16 <= end <= out.len() (checked above, i < ml and
            // i a multiple of 16), so both 16-byte ranges are inside `out`
            // and do not overlap.
            unsafe {
                let o = out.as_mut_ptr();
                std::ptr::copy_nonoverlapping(o.add(src + i), o.add(dst + i), CHUNK);
            }
            i += CHUNK;
        }
    } else if off >= 8 {
        let src = dst - off;
        let mut i = 0;
        loop {
            out.copy_within(src + i..src + i + 8, dst + i);
            i += 8;
            if i >= ml {
                break;
            }
        }
    } else {
        copy_match(out, dst, off, ml);
    }
}

/// Copies `ml` bytes from `dst - off` to `dst` with the byte-by-byte
/// meaning (overlap repeats the pattern). Needs 1 <= off <= dst and
/// dst + ml <= out.len().
#[inline(always)]
fn copy_match(out: &mut [u8], dst: usize, off: usize, ml: usize) {
    let src = dst - off;
    if off >= ml {
        out.copy_within(src..src + ml, dst);
    } else if off == 1 {
        let b = out[src];
        out[dst..dst + ml].fill(b);
    } else {
        // Overlapping: copy the pattern in growing non-overlapping pieces.
        let mut done = 0;
        while done < ml {
            let len = (dst + done - src).min(ml - done);
            out.copy_within(src..src + len, dst + done);
            done += len;
        }
    }
}
