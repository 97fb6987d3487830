//! Fast decoding of one v2 segment (FORMAT.md section 4): the four-stream
//! kernels over the segment's lookup tables (seg_table.rs).
//!
//! Kernels: the four streams of a segment lie back to back in the payload,
//! so each is tracked only by its bit position in the payload. A group
//! loads 8 bytes at the position and shifts out the bits already used (at
//! most 7): 57 or more bits are valid, enough for five lookups of at most
//! 11 bits. The one-symbol kernel (`fast4`) keeps each stream's next 64
//! bits in a register and loads the following 8 bytes before decoding a
//! group (`group_ahead`), which keeps the load off the chain of dependent
//! lookups that bounds it. The multi-symbol kernels (`fast4_pairs`,
//! `fast4_multi`) are bound by instructions instead: they reload each
//! group and interleave the four streams' lookups; the two-symbol one
//! (the most used: text) reads each field of an entry with a load of its
//! own and adds the symbol count to a 32-bit output offset from memory,
//! 7 instructions a lookup. Reading past the end of a stream (into the
//! next stream, or into later data of the payload) is harmless: a code
//! whose bits lie inside its stream decodes the same whatever follows, and
//! a stream whose codes run past its end is rejected by the exact length
//! check at the end. Before running groups a kernel computes how many
//! groups it can run with every load inside the payload and every store
//! inside its quarter, so the inner loop has no end-of-input tests; the
//! rest is done one stream and one symbol at a time, reading zeros past
//! the end of the payload.

use super::seg_table::{Kernel, Pair, SegTable, TABLE_BITS, TABLE_SIZE};
use super::CodecError;

const MASK: u64 = TABLE_SIZE as u64 - 1;
/// Symbols per stream per 64-bit load: 5 codes of <= 11 bits.
const GROUP: usize = 5;
/// Most bits one group uses.
const GROUP_BITS: u64 = GROUP as u64 * TABLE_BITS as u64;
/// Marker bit: after shifting out the codes, its leading zeros are the bits used.
const MARK: u64 = 1 << 63;
/// Streams per segment.
const STREAMS: usize = 4;
/// The 8 bytes of `payload` at byte `bit >> 3`, little-endian; 0 if they
/// are not all inside (callers make sure they are).
#[inline(always)]
fn load(payload: &[u8], bit: u64) -> u64 {
    let p = (bit >> 3) as usize;
    match payload.get(p..p + 8) {
        Some(s) => s.try_into().map_or(0, u64::from_le_bytes),
        None => 0,
    }
}

/// The bits of `payload` from bit `bit` on, with zeros past its end
/// (one load when 8 bytes are left, no `memcpy` call).
#[inline(always)]
fn load_padded(payload: &[u8], bit: u64) -> u64 {
    let p = (bit >> 3) as usize;
    if let Some(s) = payload.get(p..p.saturating_add(8)) {
        return s.try_into().map_or(0, u64::from_le_bytes) >> (bit & 7);
    }
    load_short(payload, bit)
}

/// `load_padded` near the end of `payload`.
#[cold]
#[inline(never)]
fn load_short(payload: &[u8], bit: u64) -> u64 {
    let p = (bit >> 3) as usize;
    let mut b = [0u8; 8];
    if let Some(s) = payload.get(p..) {
        let n = s.len().min(8);
        b[..n].copy_from_slice(&s[..n]);
    }
    u64::from_le_bytes(b) >> (bit & 7)
}

/// True when the 8 bytes at bit position `bit` are inside `payload`.
#[inline(always)]
fn can_load(payload: &[u8], bit: u64) -> bool {
    (bit >> 3) + 8 <= payload.len() as u64
}

/// Decodes one symbol from `w` (codes start at its bit 0) into `o`.
#[inline(always)]
fn step(t: &[u16; TABLE_SIZE], w: &mut u64, o: &mut u8) {
    let e = t[(*w & MASK) as usize];
    *o = (e >> 8) as u8;
    *w >>= u32::from(e) & 63;
}

/// One group of one stream at bit `bp`; needs `can_load(payload, *bp)`.
#[inline(always)]
fn group(t: &[u16; TABLE_SIZE], payload: &[u8], bp: &mut u64, o: &mut [u8; GROUP]) {
    let mut w = (load(payload, *bp) >> (*bp & 7)) | MARK;
    for x in o.iter_mut() {
        step(t, &mut w, x);
    }
    *bp += u64::from(w.leading_zeros());
}

/// One group of one stream whose window `w` holds the next 64 bits from
/// bit `bp`, keeping `w` full without waiting for a load: the 8 bytes that
/// follow the 8 at byte `bp >> 3` are loaded before decoding (their address
/// is already known) and shifted in after it. Needs the 16 bytes at byte
/// `bp >> 3` inside the payload.
#[inline(always)]
fn group_ahead(
    t: &[u16; TABLE_SIZE],
    payload: &[u8],
    w: &mut u64,
    bp: &mut u64,
    o: &mut [u8; GROUP],
) {
    let next = load(payload, (*bp & !7) + 64);
    // Sum of the entries: its low byte is the bits used (<= 55).
    let mut sum = 0u32;
    for x in o.iter_mut() {
        let e = t[(*w & MASK) as usize];
        *x = (e >> 8) as u8;
        *w >>= u32::from(e) & 63;
        sum += u32::from(e);
    }
    let c = sum & 0xFF;
    // `w` now holds the bits up to byte (bp >> 3) + 8 (and zeros above);
    // `next` starts there, 64 - (bp & 7) - c bits up (2..=59, as 5 <= c <= 55).
    *w |= next << (64u32.wrapping_sub(*bp as u32 & 7).wrapping_sub(c) & 63);
    *bp += u64::from(c);
}

/// Groups of `group_ahead` that can run on every stream from bit positions
/// `bp` with all loads inside the payload.
fn groups_ahead(payload: &[u8], bp: &[u64; STREAMS]) -> usize {
    let Some(lim) = (payload.len() as u64).checked_sub(16).map(|x| x * 8) else {
        return 0;
    };
    let mut g = u64::MAX;
    for &b in bp {
        if b > lim {
            return 0;
        }
        g = g.min((lim - b) / GROUP_BITS + 1);
    }
    g.min(usize::MAX as u64) as usize
}

/// The four-stream loop, one symbol per lookup: runs groups while every
/// stream has a whole group of output left and all loads stay inside the
/// payload; returns the symbols done per stream (the same for all four).
#[inline(always)]
fn fast4(
    tt: &[u16; TABLE_SIZE],
    payload: &[u8],
    bp: &mut [u64; STREAMS],
    o: [&mut [u8]; STREAMS],
) -> usize {
    let [o0, o1, o2, o3] = o;
    let mut i = 0usize;
    let mut w: [u64; STREAMS] = std::array::from_fn(|k| load_padded(payload, bp[k]));
    loop {
        let g = groups_ahead(payload, bp).min((o3.len() - i) / GROUP);
        if g == 0 {
            return i;
        }
        for _ in 0..g {
            let (Some(c0), Some(c1), Some(c2), Some(c3)) = (
                o0.get_mut(i..i + GROUP),
                o1.get_mut(i..i + GROUP),
                o2.get_mut(i..i + GROUP),
                o3.get_mut(i..i + GROUP),
            ) else {
                return i; // not reached: o3 is the shortest quarter
            };
            // One stream after the other: each group is a short chain, and
            // the CPU overlaps the four (fewer live registers than
            // interleaving them by hand, which measured slower).
            for ((c, b), w) in [c0, c1, c2, c3]
                .into_iter()
                .zip(bp.iter_mut())
                .zip(w.iter_mut())
            {
                if let Ok(c) = <&mut [u8; GROUP]>::try_from(c) {
                    group_ahead(tt, payload, w, b, c);
                }
            }
            i += GROUP;
        }
    }
}

/// A multi-symbol table entry (seg_table.rs): the symbols from bit 0
/// (first in the lowest byte, `WIDTH` bytes), the bits they use in the
/// next byte, and their number less one in the top bits, a field too
/// narrow to say more than `WIDTH` (so that the kernel's bound on its
/// writes follows from the entry's type, whatever the table holds).
trait Multi: Copy {
    /// Bytes of symbols (the most one entry gives).
    const WIDTH: usize;
    /// Bits the entry's codes use (the low 6 bits are what a shift reads).
    fn bits(self) -> u64;
    /// Symbols the entry gives: 1..=WIDTH.
    fn count(self) -> usize;
    /// Writes the `WIDTH` symbol bytes to `d` (some may be past the
    /// entry's `count`: the next entry's write covers them).
    ///
    /// # Safety
    /// `d..d + WIDTH` must be valid for writes.
    unsafe fn put(self, d: *mut u8);
}

impl Multi for u64 {
    const WIDTH: usize = 4;
    #[inline(always)]
    fn bits(self) -> u64 {
        self >> 32
    }
    #[inline(always)]
    fn count(self) -> usize {
        (self >> 62) as usize + 1
    }
    #[inline(always)]
    unsafe fn put(self, d: *mut u8) {
        // SAFETY: the caller makes sure the 4 bytes at `d` are writable;
        // write_unaligned takes any alignment.
        unsafe { std::ptr::write_unaligned(d as *mut [u8; 4], (self as u32).to_le_bytes()) }
    }
}

/// The four-stream loop with multi-symbol lookups: runs groups while every
/// stream has room for a whole group (`GROUP * WIDTH` bytes) in its
/// quarter and all loads stay inside the payload; `at` are the output
/// positions reached in the quarters, `bp` the bit positions. In a group
/// each stream loads the 8 bytes at its bit position and decodes 5 to
/// 5 * WIDTH symbols, the four streams' lookups interleaved (symbol-major)
/// so that the CPU sees four independent chains of lookups close together;
/// each lookup writes WIDTH bytes and moves the stream's output on by the
/// symbols it gave (huff0's two-symbol idea).
#[inline(always)]
fn fast4_multi<E: Multi>(
    mt: &[E; TABLE_SIZE],
    payload: &[u8],
    bp: &mut [u64; STREAMS],
    mut o: [&mut [u8]; STREAMS],
    at: &mut [usize; STREAMS],
) {
    let room = GROUP * E::WIDTH;
    loop {
        let mut g = groups_loadable(payload, bp);
        for k in 0..STREAMS {
            g = g.min(o[k].len().saturating_sub(at[k]) / room);
        }
        if g == 0 {
            return;
        }
        // Output pointers, each at its stream's position in its quarter.
        let mut p: [*mut u8; STREAMS] =
            std::array::from_fn(|k| o[k].as_mut_ptr().wrapping_add(at[k]));
        let mut b = *bp;
        for _ in 0..g {
            // SAFETY (loads): `groups_loadable` gave g groups that each
            // stream can run from `b[k]` with the 8 bytes at byte
            // `b[k] >> 3` inside `payload`, if a group advances `b[k]`
            // by at most GROUP_BITS; it does (the `min` below).
            let mut w: [u64; STREAMS] = std::array::from_fn(|k| {
                let x = unsafe {
                    std::ptr::read_unaligned(
                        payload.as_ptr().add((b[k] >> 3) as usize) as *const [u8; 8]
                    )
                };
                (u64::from_le_bytes(x) >> (b[k] & 7)) | MARK
            });
            for _ in 0..GROUP {
                for k in 0..STREAMS {
                    let e = mt[(w[k] & MASK) as usize];
                    // SAFETY (stores): at the start of each of the g
                    // groups p[k] + room is at most the end of o[k] (g was
                    // chosen so for the first, and a group moves p[k] on
                    // by at most room: GROUP lookups of at most WIDTH
                    // symbols, `count`'s type bound). The lookup i of a
                    // group (0-based) writes WIDTH bytes from at most
                    // i * WIDTH past the group's start, so it ends at most
                    // GROUP * WIDTH = room past it: inside o[k], which
                    // nothing else borrows while `p` is used.
                    unsafe {
                        e.put(p[k]);
                        p[k] = p[k].add(e.count());
                    }
                    w[k] >>= e.bits() & 63;
                }
            }
            for k in 0..STREAMS {
                // The marker's leading zeros are the bits shifted out:
                // at most 55 from a built table (codes use <= 11 bits a
                // lookup); the `min` bounds any other table.
                b[k] += u64::from(w[k].leading_zeros()).min(GROUP_BITS);
            }
        }
        *bp = b;
        for k in 0..STREAMS {
            at[k] = p[k] as usize - o[k].as_ptr() as usize;
        }
    }
}

/// The four-stream loop with the two-symbol table: `fast4_multi`'s loop
/// for `Pair` entries, whose fields are loads of their own. The four
/// output positions are 32-bit offsets from the start of `out` (the
/// segment), so that an entry's `count` is added to one straight from
/// the table; `at` are the positions reached in the quarters (relative to
/// each quarter), `bp` the bit positions.
#[inline(always)]
fn fast4_pairs(
    mt: &[Pair; TABLE_SIZE],
    payload: &[u8],
    bp: &mut [u64; STREAMS],
    out: &mut [u8],
    bounds: &[usize; STREAMS + 1],
    at: &mut [usize; STREAMS],
) {
    const ROOM: usize = GROUP * 2;
    // Quarters and positions as offsets in `out` (a segment is at most
    // MAX_BLOCK_LEN bytes: they fit in 32 bits).
    if out.len() > u32::MAX as usize {
        return; // not reached
    }
    loop {
        let mut g = groups_loadable(payload, bp);
        for k in 0..STREAMS {
            g = g.min((bounds[k + 1] - bounds[k]).saturating_sub(at[k]) / ROOM);
        }
        if g == 0 {
            return;
        }
        let base = out.as_mut_ptr();
        let mut o: [u32; STREAMS] = std::array::from_fn(|k| (bounds[k] + at[k]) as u32);
        let mut b = *bp;
        for _ in 0..g {
            // SAFETY (loads): as in `fast4_multi`.
            let mut w: [u64; STREAMS] = std::array::from_fn(|k| {
                let x = unsafe {
                    std::ptr::read_unaligned(
                        payload.as_ptr().add((b[k] >> 3) as usize) as *const [u8; 8]
                    )
                };
                (u64::from_le_bytes(x) >> (b[k] & 7)) | MARK
            });
            for _ in 0..GROUP {
                for k in 0..STREAMS {
                    let e = &mt[(w[k] & MASK) as usize];
                    // SAFETY (stores): at the start of each of the g
                    // groups o[k] + ROOM is at most the end of quarter k
                    // (g was chosen so for the first, and a group moves
                    // o[k] on by at most ROOM: GROUP lookups of `count`
                    // <= 2 symbols, `Pair`'s invariant). The lookup i of
                    // a group (0-based) writes 2 bytes from at most 2i
                    // past the group's start, so it ends at most ROOM
                    // past it: inside quarter k of `out`, which nothing
                    // else borrows while `base` is used.
                    unsafe {
                        std::ptr::write_unaligned(
                            base.add(o[k] as usize) as *mut [u8; 2],
                            e.syms(),
                        );
                    }
                    o[k] = o[k].wrapping_add(e.count());
                    w[k] >>= e.bits() & 63;
                }
            }
            for k in 0..STREAMS {
                // As in `fast4_multi`: at most 55 bits from a built table.
                b[k] += u64::from(w[k].leading_zeros()).min(GROUP_BITS);
            }
        }
        *bp = b;
        for k in 0..STREAMS {
            at[k] = o[k] as usize - bounds[k];
        }
    }
}

/// Groups of `group` (or of `fast4_multi`) that can run on every stream from
/// bit positions `bp` with all loads inside the payload.
fn groups_loadable(payload: &[u8], bp: &[u64; STREAMS]) -> usize {
    let Some(lim) = (payload.len() as u64).checked_sub(8).map(|x| x * 8) else {
        return 0;
    };
    let mut g = u64::MAX;
    for &b in bp {
        if b > lim + 7 {
            return 0;
        }
        // A group at bit b loads byte b >> 3, fine while b >> 3 <= lim / 8.
        g = g.min(((lim | 7) - b) / GROUP_BITS + 1);
    }
    g.min(usize::MAX as u64) as usize
}

/// Decodes the four streams of a segment into `out` (the segment's bytes).
/// Stream k starts at byte `starts[k]` of `payload` and is `sizes[k]` bytes
/// long (both inside the payload); it codes quarter k of `out` (FORMAT.md
/// 4.1) and must end exactly at the byte holding its last code bit.
pub(crate) fn decode_segment(
    t: &SegTable,
    payload: &[u8],
    starts: [usize; STREAMS],
    sizes: [usize; STREAMS],
    out: &mut [u8],
) -> Result<(), CodecError> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("bmi2") && std::arch::is_x86_feature_detected!("lzcnt") {
        // SAFETY: `decode_segment_bmi2` is safe code whose only
        // requirement is that the CPU supports BMI2 and LZCNT, checked
        // just above.
        return unsafe { decode_segment_bmi2(t, payload, starts, sizes, out) };
    }
    decode_segment_body(t, payload, starts, sizes, out)
}

/// `decode_segment_body` compiled with BMI2 and LZCNT: the kernels shift
/// the bit windows by a register count (`shrx`) without moving it to CL
/// first, and count a group's bits with one `lzcnt` (not `bsr`, a test
/// and a flip).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "bmi2,lzcnt")]
fn decode_segment_bmi2(
    t: &SegTable,
    payload: &[u8],
    starts: [usize; STREAMS],
    sizes: [usize; STREAMS],
    out: &mut [u8],
) -> Result<(), CodecError> {
    decode_segment_body(t, payload, starts, sizes, out)
}

/// The four quarters of `out`: out[bounds[k]..bounds[k + 1]].
#[inline(always)]
fn quarters<'a>(out: &'a mut [u8], bounds: &[usize; STREAMS + 1]) -> [&'a mut [u8]; STREAMS] {
    let (o0, rest) = out.split_at_mut(bounds[1]);
    let (o1, rest) = rest.split_at_mut(bounds[2] - bounds[1]);
    let (o2, o3) = rest.split_at_mut(bounds[3] - bounds[2]);
    [o0, o1, o2, o3]
}

#[inline(always)]
fn decode_segment_body(
    t: &SegTable,
    payload: &[u8],
    starts: [usize; STREAMS],
    sizes: [usize; STREAMS],
    out: &mut [u8],
) -> Result<(), CodecError> {
    let n = out.len();
    let q = n.div_ceil(STREAMS);
    let mut bp: [u64; STREAMS] = std::array::from_fn(|k| starts[k] as u64 * 8);
    let tt = &t.single;
    // Quarter k is out[bounds[k]..bounds[k + 1]].
    let bounds: [usize; STREAMS + 1] = std::array::from_fn(|k| (k * q).min(n));

    // Four streams at once while all have symbols and input left.
    let mut at = [0usize; STREAMS];
    match t.kernel {
        Kernel::Single => {
            at = [fast4(tt, payload, &mut bp, quarters(out, &bounds)); STREAMS];
        }
        Kernel::Pairs => fast4_pairs(&t.pairs, payload, &mut bp, out, &bounds, &mut at),
        Kernel::Quads => {
            let o = quarters(out, &bounds);
            fast4_multi::<u64>(&t.quads, payload, &mut bp, o, &mut at)
        }
    }

    // The rest of each stream alone, then the checks.
    for k in 0..STREAMS {
        let o = out.get_mut(bounds[k]..bounds[k + 1]).unwrap_or_default();
        let mut b = bp[k];
        let mut j = at[k];
        while j + GROUP <= o.len() && can_load(payload, b) {
            if let Some(c) = o.get_mut(j..j + GROUP) {
                if let Ok(c) = <&mut [u8; GROUP]>::try_from(c) {
                    group(tt, payload, &mut b, c);
                }
            }
            j += GROUP;
        }
        for x in o.get_mut(j..).unwrap_or_default() {
            let e = tt[(load_padded(payload, b) & MASK) as usize];
            *x = (e >> 8) as u8;
            b += u64::from(e & 15);
        }
        let used = b - starts[k] as u64 * 8;
        if used > sizes[k] as u64 * 8 {
            return Err(CodecError::StreamEndsEarly {
                stream: k,
                used_bits: used,
                bytes: sizes[k],
            });
        }
        if used.div_ceil(8) != sizes[k] as u64 {
            return Err(CodecError::StreamLength {
                stream: k,
                bytes: sizes[k],
                used: used.div_ceil(8),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::canonical::validate;
    use super::super::interleave::{encode4, region_cap};
    use super::super::lengths::{code_lengths, histogram};
    use super::super::stream::EncTable;
    use super::super::tests::{skewed_over as skewed, xorshift};
    use super::*;

    /// Codes `data` as one segment's four streams, back to back after
    /// `lead` bytes of other payload, followed by `trail` bytes.
    fn payload_for(
        data: &[u8],
        lengths: &[u8; 256],
        lead: usize,
        trail: usize,
    ) -> (Vec<u8>, [usize; 4], [usize; 4]) {
        let mut scratch = Vec::new();
        let sizes = encode4(data, &EncTable::new(lengths), &mut scratch);
        let cap = region_cap(data.len());
        let mut p = vec![0xA5u8; lead];
        let mut starts = [0usize; 4];
        for k in 0..4 {
            starts[k] = p.len();
            p.extend_from_slice(&scratch[k * cap..k * cap + sizes[k]]);
        }
        p.extend(std::iter::repeat_n(0x5Au8, trail));
        (p, starts, sizes)
    }

    fn check(data: &[u8], lead: usize, trail: usize) {
        check_with(data, &code_lengths(&histogram(data), 11), lead, trail);
    }

    fn check_with(data: &[u8], lengths: &[u8; 256], lead: usize, trail: usize) {
        let (p, starts, sizes) = payload_for(data, lengths, lead, trail);
        if lengths.iter().filter(|&&l| l > 0).count() < 2 {
            return;
        }
        let mut t = SegTable::new();
        t.build(lengths);
        check_table(&t, data, &p, starts, sizes);
        t.build_pairs();
        check_table(&t, data, &p, starts, sizes);
        t.build_multi();
        check_table(&t, data, &p, starts, sizes);
    }

    fn check_table(t: &SegTable, data: &[u8], p: &[u8], starts: [usize; 4], sizes: [usize; 4]) {
        check_decoder(decode_segment, t, data, p, starts, sizes);
    }

    type DecodeFn =
        fn(&SegTable, &[u8], [usize; 4], [usize; 4], &mut [u8]) -> Result<(), CodecError>;

    fn check_decoder(
        dec: DecodeFn,
        t: &SegTable,
        data: &[u8],
        p: &[u8],
        starts: [usize; 4],
        sizes: [usize; 4],
    ) {
        let mut out = vec![0u8; data.len()];
        dec(t, p, starts, sizes, &mut out).unwrap();
        assert!(out == data, "len {} {:?}", data.len(), t.kernel);
        // A stream one byte short, or one byte long, is an error.
        for k in 0..4 {
            if sizes[k] > 0 {
                let mut s2 = sizes;
                s2[k] -= 1;
                assert!(dec(t, p, starts, s2, &mut out).is_err());
            }
            if starts[k] + sizes[k] < p.len() {
                let mut s2 = sizes;
                s2[k] += 1;
                let mut st2 = starts;
                for st in &mut st2[k + 1..] {
                    *st += 1;
                }
                if st2[3] + s2[3] <= p.len() {
                    assert!(dec(t, p, st2, s2, &mut out).is_err());
                }
            }
        }
    }

    /// Every segment length up to 200 (all quarter shapes, groups and
    /// tails), with the streams at the end of the payload and inside it.
    #[test]
    fn short_segments_roundtrip() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        for n in 1..=200 {
            let data = skewed(n, 3 + n as u64 % 60, &mut seed);
            check(&data, 0, 0);
            check(&data, 3, 17);
        }
    }

    /// Segments made of 11-bit codes only (the most bits per group), with
    /// a code that also has short ones.
    #[test]
    fn longest_codes_roundtrip() {
        // Counts 2^-k give lengths 1, 2, ..., capped at 11.
        let mut hist = [0u32; 256];
        for (s, h) in hist.iter_mut().enumerate().take(40) {
            *h = 1 << (20 - (s as u32).min(20));
        }
        let lengths = code_lengths(&hist, 11);
        assert!(validate(&lengths, 11).is_ok());
        let long: Vec<u8> = (0..=255u8).filter(|&s| lengths[s as usize] == 11).collect();
        assert!(long.len() > 4);
        let mut seed = 77u64;
        let data: Vec<u8> = (0..20000)
            .map(|_| long[(xorshift(&mut seed) % long.len() as u64) as usize])
            .collect();
        for n in [data.len(), 1001, 1000, 999, 64, 63, 21, 20, 19, 5, 4, 1] {
            check_with(&data[..n], &lengths, 0, 0);
            check_with(&data[..n], &lengths, 1, 9);
        }
    }

    /// Low-entropy data (one- and two-bit codes: four symbols a lookup).
    #[test]
    fn low_entropy_roundtrip() {
        let mut seed = 11u64;
        for n in [20000usize, 4099, 100, 37] {
            let data: Vec<u8> = (0..n)
                .map(|_| {
                    let r = xorshift(&mut seed);
                    match r % 16 {
                        0..=9 => b' ',
                        10..=13 => b'0',
                        14 => b'1',
                        _ => (r >> 8) as u8,
                    }
                })
                .collect();
            check(&data, 0, 0);
            check(&data, 5, 3);
        }
    }

    /// Random payload bytes and sizes never panic.
    #[test]
    fn garbage_streams_do_not_panic() {
        let mut seed = 5u64;
        let data = skewed(5000, 30, &mut seed);
        let lengths = code_lengths(&histogram(&data), 11);
        let mut t = SegTable::new();
        t.build(&lengths);
        t.build_pairs();
        t.build_multi();
        for round in 0..300 {
            let len = (xorshift(&mut seed) % 3000) as usize;
            let p: Vec<u8> = (0..len).map(|_| xorshift(&mut seed) as u8).collect();
            let mut starts = [0usize; 4];
            let mut sizes = [0usize; 4];
            let mut at = 0;
            for k in 0..4 {
                let sz = (xorshift(&mut seed) as usize % (len / 4 + 1)).min(len - at);
                starts[k] = at;
                sizes[k] = sz;
                at += sz;
            }
            let n = 1 + (xorshift(&mut seed) % 6000) as usize;
            let mut out = vec![0u8; n];
            t.kernel = [Kernel::Single, Kernel::Pairs, Kernel::Quads][round % 3];
            let _ = decode_segment(&t, &p, starts, sizes, &mut out);
        }
    }
}
