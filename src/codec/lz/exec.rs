//! The copy half of the v2 LZ sequence loop (docs/FORMAT.md section 5.3):
//! carries out one batch of decoded sequences (literal run, then match)
//! with 16-byte, overlap-safe copies, after the bounds checks of 5.3 on
//! each sequence. sequences.rs decodes the batches and owns the loop.

use super::error::LzError;

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

/// One batch of decoded sequences: literal length, match length (with
/// MIN_MATCH) and offset of each (all below 2^21). `Default` is all
/// zeros (arrays of up to 32 elements derive it: BATCH stays 32).
#[derive(Default)]
pub(super) struct Batch {
    pub(super) ll: [u32; BATCH],
    pub(super) ml: [u32; BATCH],
    pub(super) off: [u32; BATCH],
}

/// Where the sequence loop is: the next output byte and next literal.
pub(super) struct Cursor {
    pub(super) op: usize,
    pub(super) lp: usize,
}

/// Carries out the first `m` (<= BATCH) sequences of `b`, sequence
/// `first` being the first of them, from `cur` on. `lits[..nlit]` are
/// the block's literals. Checks every sequence (literals, block end,
/// offset) before it writes a byte; a sequence that fails gives its
/// error and leaves `out` partly written.
// Kept out of line: its own register allocation (op, lp, the pointers
// and limits stay in registers through the batch).
#[inline(never)]
pub(super) fn execute_batch(
    out: &mut [u8],
    lits: &[u8],
    nlit: usize,
    b: &Batch,
    m: usize,
    first: usize,
    cur: &mut Cursor,
) -> Result<(), LzError> {
    let n = out.len();
    if lits.len() < nlit + LIT_SLACK {
        return Err(LzError::LiteralsOverrun {
            seq: first,
            needed: nlit + LIT_SLACK,
            nlit: lits.len(),
        });
    }
    // Sequences ending at or before this take the straight-line path
    // (its copies write up to FAST bytes past the end); 0 (with n <
    // FAST) lets none take it, as `end` >= MIN_MATCH.
    let n_fast = n.saturating_sub(FAST);
    let (mut op, mut lp) = (cur.op, cur.lp);
    let m = m.min(BATCH);
    // Both addresses through an optimisation barrier: the compiler no
    // longer knows that `lits` and `out` are different objects, so it
    // does not turn `copy_long`'s chunk loop into a call of memcpy (a call
    // anywhere in the loop makes it keep op, lp and the limits on the
    // stack). The same addresses; `copy_long` does not rely on the two
    // being apart beyond what its comment says.
    let out_ptr = std::hint::black_box(out.as_mut_ptr());
    let lit_ptr = std::hint::black_box(lits.as_ptr());
    // The whole batch's literals and output at once (sums of at most 32
    // values below 2^21: no overflow): when every sequence of the batch
    // ends at least FAST bytes before the block end and takes no literal
    // past `nlit`, only each offset is left to check.
    let sum_ll: u64 = b.ll[..m].iter().map(|&x| u64::from(x)).sum();
    let sum_ml: u64 = b.ml[..m].iter().map(|&x| u64::from(x)).sum();
    if (lp as u64 + sum_ll <= nlit as u64) & (op as u64 + sum_ll + sum_ml <= n_fast as u64) {
        for j in 0..m {
            let (ll, ml, off) = (b.ll[j] as usize, b.ml[j] as usize, b.off[j] as usize);
            let mid = op + ll;
            // off == 0 too (wraps): the decoder never makes one.
            if off.wrapping_sub(1) >= mid {
                *cur = Cursor { op, lp };
                return Err(LzError::OffsetBeforeStart {
                    seq: first + j,
                    pos: mid,
                    offset: off,
                });
            }
            if ((ll | ml) < FAST) & (off >= CHUNK) {
                // SAFETY: as on the straight-line path below, with
                // lp + ll <= lp0 + sum_ll <= nlit and end = mid + ml <=
                // op0 + sum_ll + sum_ml <= n_fast (the batch's sums,
                // checked above; lp0, op0 where the batch starts).
                unsafe { copy_short(out_ptr, lit_ptr, op, lp, mid, off) };
            } else {
                // SAFETY: as on the `copy_long` path below (end + 16 <=
                // n_fast + 16 <= n, the rest as just above).
                unsafe { copy_long(out_ptr, lit_ptr, op, lp, ll, off, ml) };
            }
            lp += ll;
            op = mid + ml;
        }
        *cur = Cursor { op, lp };
        return Ok(());
    }
    for j in 0..m {
        let (ll, ml, off) = (b.ll[j] as usize, b.ml[j] as usize, b.off[j] as usize);
        let lit_end = lp + ll;
        let mid = op + ll;
        let end = mid + ml;
        if (lit_end > nlit) | (end > n) | (off.wrapping_sub(1) >= mid) {
            *cur = Cursor { op, lp };
            return Err(sequence_error(first + j, lit_end, nlit, end, n, mid, off));
        }
        if ((ll | ml) < FAST) & (off >= CHUNK) & (end <= n_fast) {
            // The common case (both lengths < 32): two 16-byte chunks
            // each, no loop, no branch.
            // SAFETY: lp + ll = lit_end <= nlit, 1 <= off <= mid,
            // off >= 16 and end <= n_fast (all checked just above), and
            // lits.len() >= nlit + LIT_SLACK (checked at the top): what
            // `copy_short` needs.
            unsafe { copy_short(out_ptr, lit_ptr, op, lp, mid, off) };
        } else if end + CHUNK <= n {
            // SAFETY: lp + ll <= nlit and lits.len() >= nlit + LIT_SLACK;
            // op + ll = mid, 1 <= off <= mid (off >= 1: every offset
            // the decoder makes is; checked above for <= mid) and
            // mid + ml = end with end + 16 <= n = out.len(): what
            // `copy_long` needs.
            unsafe { copy_long(out_ptr, lit_ptr, op, lp, ll, off, ml) };
        } else {
            copy_tail(out, lits, op, lp, ll, off, ml);
        }
        lp = lit_end;
        op = end;
    }
    *cur = Cursor { op, lp };
    Ok(())
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

/// One sequence away from the block end (`end + 16 > out.len()`): exact
/// copies. Out of line and cold (at most the last few sequences of a
/// block), so that the batch loop makes no call on its other paths and
/// keeps its state in registers. Needs the checks `execute_batch` made.
#[cold]
#[inline(never)]
fn copy_tail(out: &mut [u8], lits: &[u8], op: usize, lp: usize, ll: usize, off: usize, ml: usize) {
    let mid = op + ll;
    out[op..mid].copy_from_slice(&lits[lp..lp + ll]);
    copy_match(out, mid, off, ml);
}

/// A sequence whose lengths are both below 32 with an offset >= 16:
/// 32 bytes of literals from `l + lp` to `o + op`, then 32 bytes of match
/// from `o + mid - off` to `o + mid`, two 16-byte chunks each, no loop,
/// no branch (the chunks past the sequence's end are overwritten later).
///
/// SAFETY (the caller's): `l[lp..lp + 32]` is valid (lp + ll <= nlit and
/// LIT_SLACK = 32 bytes follow the literals), `o[..mid + ml + 32]` is
/// valid (the sequence ends FAST bytes before the block end), op <= mid,
/// and 16 <= off <= mid. Then within each copy the source and
/// destination do not overlap: the literals are another object than the
/// output; match chunk c (0 or 1) reads o[mid - off + 16c..][..16],
/// which ends at or before mid + 16c, where its destination starts. The
/// copies run in order (literals, chunk 0, chunk 1), so every byte a
/// chunk reads is final: the byte-by-byte meaning of the match.
#[inline(always)]
unsafe fn copy_short(o: *mut u8, l: *const u8, op: usize, lp: usize, mid: usize, off: usize) {
    // SAFETY: see above.
    unsafe {
        let l = l.add(lp);
        copy16(l, o.add(op));
        copy16(l.add(CHUNK), o.add(op + CHUNK));
        let src = o.add(mid - off);
        copy16(src, o.add(mid));
        copy16(src.add(CHUNK), o.add(mid + CHUNK));
    }
}

/// Copies 16 bytes from `src` to `dst` as one load and one store (not a
/// memcpy intrinsic, which the compiler merges across a loop's
/// iterations into a call).
/// SAFETY (the caller's): both ranges valid, not overlapping.
#[inline(always)]
unsafe fn copy16(src: *const u8, dst: *mut u8) {
    // SAFETY: as the caller guarantees; unaligned reads and writes of
    // plain integers.
    unsafe {
        let v = std::ptr::read_unaligned(src as *const u128);
        std::ptr::write_unaligned(dst as *mut u128, v);
    }
}

/// Copies 8 bytes from `src` to `dst` (as `copy16`).
/// SAFETY (the caller's): both ranges valid, not overlapping.
#[inline(always)]
unsafe fn copy8(src: *const u8, dst: *mut u8) {
    // SAFETY: as the caller guarantees.
    unsafe {
        let v = std::ptr::read_unaligned(src as *const u64);
        std::ptr::write_unaligned(dst as *mut u64, v);
    }
}

/// A sequence with a length >= 32 or an offset < 16, not near the block
/// end: the `ll` literals at `lits + lp` to `out + op`, then the match of
/// `ml` bytes at offset `off` after them, in 16-byte (8-byte) chunks that
/// may write up to 15 bytes past the sequence's end; no library call.
/// Offsets below 8 widen the pattern first: its first 8 bytes one at a
/// time, then 8-byte chunks from the nearest earlier copy of the pattern
/// that is at least 8 bytes back.
///
/// SAFETY (the caller's): `lits[lp..lp + ll + LIT_SLACK]` and
/// `out[..op + ll + ml + 16]` are valid, and 1 <= off <= op + ll. Then
/// every chunk below is inside them:
/// - literals: chunk c reads lits[lp + 16c..][..16] and writes
///   out[op + 16c..][..16] for 16c < ll, so it ends before lp + ll + 16
///   <= lp + ll + LIT_SLACK and op + ll + 16 <= end + 16; `lits` and
///   `out` are different objects;
/// - match, off >= 16: chunk c reads out[mid - off + 16c..][..16], which
///   ends at or before its destination out[mid + 16c..] starts (no
///   overlap; every byte read was written before, by an earlier chunk or
///   sequence: the byte-by-byte meaning), for 16c < ml, so it ends
///   before mid + ml + 16 = end + 16;
/// - match, 8 <= off < 16: the same with 8-byte chunks;
/// - match, off < 8: the bytes mid..mid + 8 one at a time (each read
///   after the one before it is written; mid + 8 <= end + 16), then
///   8-byte chunks at offset p (a multiple of off, 8 <= p <= off + 8 <=
///   mid + 8 - (mid - off)... i.e. the source mid + 8 - p >= mid - off
///   >= 0), non-overlapping, from mid + 8 up to below end + 8.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn copy_long(
    o: *mut u8,
    l: *const u8,
    op: usize,
    lp: usize,
    ll: usize,
    off: usize,
    ml: usize,
) {
    // SAFETY: see the function's comment; every offset below is one it
    // covers.
    unsafe {
        let mut i = 0;
        loop {
            copy16(l.add(lp + i), o.add(op + i));
            i += CHUNK;
            if i >= ll {
                break;
            }
        }
        let mid = op + ll;
        let dst = o.add(mid);
        if off >= CHUNK {
            let src = dst.sub(off);
            let mut i = 0;
            while i < ml {
                copy16(src.add(i), dst.add(i));
                i += CHUNK;
            }
        } else if off >= 8 {
            let src = dst.sub(off);
            let mut i = 0;
            while i < ml {
                copy8(src.add(i), dst.add(i));
                i += 8;
            }
        } else {
            let src = dst.sub(off);
            for k in 0..8 {
                *dst.add(k) = *src.add(k);
            }
            // The smallest multiple of off that is >= 8.
            let p = off * 8usize.div_ceil(off);
            let src = dst.add(8).sub(p);
            let mut i = 8;
            while i < ml {
                copy8(src.add(i - 8), dst.add(i));
                i += 8;
            }
        }
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
