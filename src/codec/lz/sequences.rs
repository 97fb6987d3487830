//! The sequence half of the v2 LZ decoder (docs/FORMAT.md section 5.3):
//! the three sequence tables as 9-bit lookup tables (base and extra bits in
//! one entry), the bit streams they read, and the loop that decodes the
//! sequences BATCH at a time and hands each batch to exec.rs, which
//! checks and carries them out. Every check of 5.3 on a sequence is made
//! here or there; decode.rs parses the payload around it.

use super::error::LzError;
pub(super) use super::exec::LIT_SLACK;
use super::exec::{execute_batch, Batch, Cursor, BATCH};
use super::spec::*;
use crate::codec::canonical::TableKind;

/// A lookup table of one sequence alphabet, indexed by the next
/// SEQ_MAX_CODE bits of the stream. (A table of 2^longest-code entries
/// with a mask per table was tried: 1-1.5% more instructions a pass on
/// 128K blocks for the mask's load in every lookup, 0.6% fewer on the
/// small blocks of `source`.)
pub(super) struct SeqTable {
    entries: [Entry; 1 << SEQ_MAX_CODE],
}

/// One table entry: each field a load of its own in the decoder (no
/// shifts and masks to take a packed word apart). Built from its packed
/// form `base << 32 | idx << 16 | code_length << 8 | used`.
#[derive(Clone, Copy)]
#[repr(C, align(8))]
struct Entry {
    /// Bits the symbol takes: code length + extra bits (<= 27).
    used: u8,
    /// Code length (<= SEQ_MAX_CODE).
    cl: u8,
    /// Offsets: 0..=2 the repeat offset the symbol names, 3 a new
    /// offset (3 in the length tables, where it is not read).
    idx: u8,
    base: u32,
}

impl Entry {
    const ZERO: Entry = Entry {
        used: 0,
        cl: 0,
        idx: 0,
        base: 0,
    };

    fn unpack(v: u64) -> Entry {
        Entry {
            used: v as u8,
            cl: (v >> 8) as u8,
            idx: (v >> 16) as u8,
            base: (v >> 32) as u32,
        }
    }
}

const NEW_OFFSET: u64 = 3 << 16;
const SEQ_MASK: u64 = (1 << SEQ_MAX_CODE) - 1;

impl SeqTable {
    pub(super) fn new() -> SeqTable {
        SeqTable {
            entries: [Entry::ZERO; 1 << SEQ_MAX_CODE],
        }
    }

    /// Builds the table for `lengths` (validated, symbols in range, codes
    /// at most SEQ_MAX_CODE bits); `entries[symbol]` is the symbol's
    /// entry without its code length (base, repeat flag, extra bits).
    /// Every entry is written.
    /// Only the first `nsyms` (<= 64) symbols are looked at (the caller
    /// checked that the others are absent).
    pub(super) fn build(&mut self, lengths: &[u8], kind: TableKind, entries: &[u64; 64]) {
        if let TableKind::Single(s) = kind {
            // No bits for the symbol: every index gives it.
            self.entries
                .fill(Entry::unpack(entries[usize::from(s) & 63]));
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
        self.entries[0] = Entry::ZERO;
        let lens = count.iter().enumerate().take(SEQ_MAX_CODE as usize + 1);
        for (k, &nk) in lens.skip(1) {
            self.entries.copy_within(..filled, filled);
            filled *= 2;
            for &sym in order.iter().skip(next).take(usize::from(nk)) {
                let s = usize::from(sym) & 63;
                let rev = code.reverse_bits() >> (32 - k);
                self.entries[rev as usize & (filled - 1)] =
                    Entry::unpack(entries[s] + ((k as u64) << 8) + k as u64);
                code += 1;
            }
            next += usize::from(nk);
            code <<= 1;
        }
    }

    #[inline(always)]
    fn get(&self, bits: u64) -> &Entry {
        &self.entries[(bits & SEQ_MASK) as usize]
    }
}

const fn entry(base: u32, extra: u32) -> u64 {
    ((base as u64) << 32) | NEW_OFFSET | extra as u64
}

/// The low `n & 0xFF` bits of `x` (n & 0xFF <= 27 for every table entry,
/// and bits 6 and 7 of `n` are 0).
/// `BMI2` only where the CPU has it: one `bzhi`, which reads the count
/// from the low byte of `n` itself.
#[inline(always)]
fn low_bits<const BMI2: bool>(x: u64, n: u64) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if BMI2 {
        // SAFETY: `BMI2` is true only in `decode_batch_bmi2`'s instance,
        // which `run_sequences` calls after detecting BMI2 on this CPU.
        // bzhi zeroes the bits of `x` from bit n[7:0] up (none when
        // n[7:0] >= 64): for n[7:0] <= 27 the same as the line below.
        return unsafe { std::arch::x86_64::_bzhi_u64(x, n as u32) };
    }
    x & ((1u64 << (n & 0x3F)) - 1)
}

/// A length symbol's entry (`ml`: a match length, whose base includes
/// MIN_MATCH).
const fn len_entry(s: usize, ml: bool) -> u64 {
    let (base, extra) = len_base(s);
    entry(base + if ml { MIN_MATCH as u32 } else { 0 }, extra)
}

const fn of_entry(s: usize) -> u64 {
    if s < 3 {
        return (s as u64) << 32 | (s as u64) << 16;
    }
    let (base, extra) = offset_base(s);
    entry(base, extra)
}

/// Every symbol's entry without its code length (base, repeat index,
/// extra bits), for the LL, ML and OF alphabets in payload order
/// (symbols past an alphabet: 0, never built). Made at compile time, so
/// that `SeqTable::build` takes each from an array.
pub(super) const SEQ_ENTRIES: [[u64; 64]; 3] = {
    let mut t = [[0u64; 64]; 3];
    let mut s = 0;
    while s < LEN_SYMS {
        t[0][s] = len_entry(s, false);
        t[1][s] = len_entry(s, true);
        s += 1;
    }
    s = 0;
    while s < OF_SYMS {
        t[2][s] = of_entry(s);
        s += 1;
    }
    t
};

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
/// (STREAM_PAD zero bytes follow). `decode_batch` checks before every batch
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
/// d.len()`: `decode_batch` makes sure of it (see `Stream`).
#[inline(always)]
fn look(d: &[u8], r: &Stream) -> u64 {
    let i = r.pos >> 3;
    debug_assert!(i + 8 <= d.len());
    // SAFETY: `decode_batch` checked `lim + STREAM_PAD <= d.len()` and
    // `pos <= lim * 8` at the start of the current batch; a batch advances
    // `pos` by at most BATCH * MAX_SEQ_BITS bits (every table entry uses
    // at most a 9-bit code and 18 extra bits), so i + 8 <= lim + 108 + 8
    // <= lim + STREAM_PAD <= d.len(): the 8 bytes are inside `d`.
    // read_unaligned reads them whatever their alignment.
    let w = unsafe { std::ptr::read_unaligned(d.as_ptr().add(i) as *const [u8; 8]) };
    u64::from_le_bytes(w) >> (r.pos & 7)
}

/// Decodes one symbol and its extra bits from the front of `w` with `t`:
/// the entry's `idx`, the value (base + extra bits) and the bits used.
/// The code and its extra bits are the low `used` bits of `w` (one
/// `bzhi`); the extra bits are what is left of them after the code.
#[inline(always)]
fn decode1<const BMI2: bool>(w: u64, t: &SeqTable) -> (u8, usize, u64) {
    let e = t.get(w);
    let used = u64::from(e.used);
    let x = low_bits::<BMI2>(w, used);
    let v = (x >> e.cl) + u64::from(e.base);
    (e.idx, v as usize, used)
}

/// Decodes the next symbol of stream `r` (idx, value).
#[inline(always)]
fn next<const BMI2: bool>(d: &[u8], r: &mut Stream, t: &SeqTable) -> (u8, usize) {
    let (e, v, used) = decode1::<BMI2>(look(d, r), t);
    r.pos += used as usize;
    (e, v)
}

/// Decodes the next two symbols of stream `r` from one look-ahead (two
/// sequences take at most 54 of its 57 bits).
#[inline(always)]
fn next2<const BMI2: bool>(d: &[u8], r: &mut Stream, t: &SeqTable) -> [(u8, usize); 2] {
    let w = look(d, r);
    let (e1, v1, u1) = decode1::<BMI2>(w, t);
    let (e2, v2, u2) = decode1::<BMI2>(w >> u1, t);
    r.pos += (u1 + u2) as usize;
    [(e1, v1), (e2, v2)]
}

/// Runs the sequences; returns the output position after the last one
/// (checked: the literals left fill the block exactly). Sequences are
/// decoded BATCH at a time (`decode_batch`: a tight loop of table
/// lookups), then carried out (`exec::execute_batch`: copies and their
/// branches), each phase a function of its own so that each keeps its
/// state in registers.
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
    let bmi2 = std::arch::is_x86_feature_detected!("bmi2");
    #[cfg(not(target_arch = "x86_64"))]
    let bmi2 = false;
    let n = out.len();
    let mut rep = [
        REP_INIT[0] as usize,
        REP_INIT[1] as usize,
        REP_INIT[2] as usize,
    ];
    let mut cur = Cursor { op: 0, lp: 0 };
    let mut batch = Batch::default();
    let mut first = 0;
    while first < nseq {
        let m = (nseq - first).min(BATCH);
        #[cfg(target_arch = "x86_64")]
        if bmi2 {
            // SAFETY: `decode_batch_bmi2` is safe code whose only
            // requirement is that the CPU supports BMI2, which `bmi2`
            // says it does (detected above).
            unsafe { decode_batch_bmi2(d, streams, tables, &mut rep, m, first, &mut batch)? };
        } else {
            decode_batch_plain(d, streams, tables, &mut rep, m, first, &mut batch)?;
        }
        #[cfg(not(target_arch = "x86_64"))]
        decode_batch_plain(d, streams, tables, &mut rep, m, first, &mut batch)?;
        execute_batch(out, lits, nlit, &batch, m, first, &mut cur)?;
        first += m;
    }
    let _ = bmi2;
    let rest = nlit - cur.lp;
    if cur.op + rest != n {
        return Err(LzError::LengthMismatch {
            produced: cur.op + rest,
            len: n,
        });
    }
    Ok(cur.op)
}

/// `decode_batch` with BMI2: variable shifts and masks without moving the
/// count to CL (the bit-field extraction is most of the lookup work).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "bmi2")]
#[inline(never)]
fn decode_batch_bmi2(
    d: &[u8],
    streams: &mut [Stream; 3],
    tables: &[SeqTable; 3],
    rep: &mut [usize; 3],
    m: usize,
    first: usize,
    b: &mut Batch,
) -> Result<(), LzError> {
    decode_batch::<true>(d, streams, tables, rep, m, first, b)
}

/// `decode_batch` for any CPU.
#[inline(never)]
fn decode_batch_plain(
    d: &[u8],
    streams: &mut [Stream; 3],
    tables: &[SeqTable; 3],
    rep: &mut [usize; 3],
    m: usize,
    first: usize,
    b: &mut Batch,
) -> Result<(), LzError> {
    decode_batch::<false>(d, streams, tables, rep, m, first, b)
}

/// Decodes the next `m` (<= BATCH) sequences, the first of them
/// sequence `first`, into `b`, updating the repeat offsets. First checks
/// `look`'s requirement for the batch (see `Stream`): an error if a
/// stream has been read past its end.
#[inline(always)]
fn decode_batch<const BMI2: bool>(
    d: &[u8],
    streams: &mut [Stream; 3],
    tables: &[SeqTable; 3],
    rep: &mut [usize; 3],
    m: usize,
    first: usize,
    b: &mut Batch,
) -> Result<(), LzError> {
    for (r, which) in streams.iter().zip(SEQ_NAMES) {
        if r.lim + STREAM_PAD > d.len() {
            // Not reached: `decode_with` pads every stream.
            let (used_bits, bytes) = r.used();
            return Err(LzError::BitStream { used_bits, bytes });
        }
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
    let [llt, mlt, oft] = tables;
    let [mut rl, mut rm, mut ro] = *streams;
    let m = m.min(BATCH);
    let mut j = 0;
    while j + 2 <= m {
        // Each stream's two values stored as soon as they are decoded:
        // fewer values live at once (the loop keeps more in registers).
        let l = next2::<BMI2>(d, &mut rl, llt);
        b.ll[j] = l[0].1 as u32;
        b.ll[j + 1] = l[1].1 as u32;
        let ml = next2::<BMI2>(d, &mut rm, mlt);
        b.ml[j] = ml[0].1 as u32;
        b.ml[j + 1] = ml[1].1 as u32;
        let o = next2::<BMI2>(d, &mut ro, oft);
        b.off[j] = new_offset(rep, o[0]) as u32;
        b.off[j + 1] = new_offset(rep, o[1]) as u32;
        j += 2;
    }
    if j < m {
        b.ll[j] = next::<BMI2>(d, &mut rl, llt).1 as u32;
        b.ml[j] = next::<BMI2>(d, &mut rm, mlt).1 as u32;
        b.off[j] = new_offset(rep, next::<BMI2>(d, &mut ro, oft)) as u32;
    }
    *streams = [rl, rm, ro];
    Ok(())
}

/// `c ? a : b`.
#[inline(always)]
fn pick(c: bool, a: usize, b: usize) -> usize {
    if c {
        a
    } else {
        b
    }
}

/// The offset of a sequence whose offset symbol gave (idx, value), and
/// the repeat offsets after it: idx 0..=2 a repeat, 3 a new offset.
/// Written as selects, which the compiler makes conditional moves here
/// (x86-64 with BMI2: no branch in `decode_batch_bmi2`'s loop; which
/// repeat code comes next is data, not a pattern a predictor learns).
#[inline(always)]
fn new_offset(rep: &mut [usize; 3], (idx, o): (u8, usize)) -> usize {
    let idx = usize::from(idx);
    let odd = idx & 1 != 0;
    let lo = pick(odd, rep[1], rep[0]);
    let hi = pick(odd, o, rep[2]);
    let o = pick(idx & 2 != 0, hi, lo);
    rep[2] = pick(idx >= 2, rep[1], rep[2]);
    rep[1] = pick(idx == 0, rep[1], rep[0]);
    rep[0] = o;
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The compile-time entries say what spec.rs says of every symbol:
    /// base (ML with MIN_MATCH), extra bits, repeat index; nothing past an
    /// alphabet.
    #[test]
    fn sequence_entries_follow_the_spec() {
        let unpacked = |v: u64| (v >> 32, (v >> 16) & 0xFF, v & 0xFF);
        let [lls, mls, ofs] = &SEQ_ENTRIES;
        for (s, ((&ll, &ml), &of)) in lls.iter().zip(mls).zip(ofs).enumerate() {
            let [ll, ml, of] = [ll, ml, of].map(unpacked);
            if s < LEN_SYMS {
                let (base, extra) = len_base(s);
                assert_eq!(ll, (u64::from(base), 3, u64::from(extra)), "LL {s}");
                let ml_base = u64::from(base) + MIN_MATCH as u64;
                assert_eq!(ml, (ml_base, 3, u64::from(extra)), "ML {s}");
            } else {
                assert_eq!((ll, ml), ((0, 0, 0), (0, 0, 0)), "length symbol {s}");
            }
            let want = match s {
                0..=2 => (s as u64, s as u64, 0),
                _ if s < OF_SYMS => {
                    let (base, extra) = offset_base(s);
                    (u64::from(base), 3, u64::from(extra))
                }
                _ => (0, 0, 0),
            };
            assert_eq!(of, want, "OF {s}");
        }
    }
}
