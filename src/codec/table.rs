//! The compact code-length table of v2 blocks (FORMAT.md section 4.3).
//!
//! A table is a byte-aligned bit string (LSB-first). It starts with a 2-bit
//! mode: 0 one symbol (8-bit value follows); 1 the 256 lengths directly;
//! 2 differences from the previous segment's table; 3 differences from the
//! previous symbol's length. Modes 1-3 code a sequence of 256 values with a
//! DEFLATE-like run-length alphabet whose own prefix code (the "CL code",
//! lengths <= 7) is sent first. The encoder picks the cheapest mode exactly.

use super::bits::{BitReader, BitWriter};
use super::canonical::{reversed_codes_into, validate, validate_counts, TableKind};
use super::lengths::small_code_lengths_fast;
use super::{CodecError, MAX_CODE_LEN};

/// CL alphabet: values 0..=22, then the three run symbols.
const CL_SYMS: usize = 26;
const REP_PREV: u8 = 23; // previous value 3..=6 more times (2 extra bits)
const ZERO_SHORT: u8 = 24; // value 0, 3..=10 times (3 extra bits)
const ZERO_LONG: u8 = 25; // value 0, 11..=138 times (7 extra bits)
const CL_MAX_LEN: u32 = 7;
/// Bytes `decode_table` stores at once for a run of values.
const RUN_STORE: usize = 16;

/// Order in which CL code lengths are sent (trailing zeros are cut).
const PERM_DIRECT: [u8; CL_SYMS] = [
    24, 25, 23, 0, 8, 7, 9, 6, 10, 5, 11, 4, 3, 2, 1, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
];
const PERM_DELTA: [u8; CL_SYMS] = [
    0, 24, 25, 23, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
];

const MODE_SINGLE: u32 = 0;
const MODE_DIRECT: u32 = 1;
const MODE_PREV_TABLE: u32 = 2;
const MODE_PREV_SYMBOL: u32 = 3;

fn zigzag(d: i32) -> u8 {
    (if d >= 0 { 2 * d } else { -2 * d - 1 }) as u8
}

fn unzigzag(v: u8) -> i32 {
    let v = i32::from(v);
    if v & 1 == 0 {
        v / 2
    } else {
        -(v + 1) / 2
    }
}

/// One CL symbol with its extra bits.
#[derive(Clone, Copy)]
struct ClItem {
    sym: u8,
    extra: u8,
}

/// The values of `mode` for `lengths` (simple loops, on vectors).
fn values(mode: u32, lengths: &[u8; 256], prev: &[u8; 256]) -> [u8; 256] {
    let mut t = [0u8; 256];
    match mode {
        MODE_DIRECT => t = *lengths,
        MODE_PREV_TABLE => {
            for ((x, &l), &p) in t.iter_mut().zip(lengths).zip(prev) {
                *x = zigzag(i32::from(l) - i32::from(p));
            }
        }
        _ => {
            t[0] = zigzag(i32::from(lengths[0]));
            for (x, w) in t[1..].iter_mut().zip(lengths.windows(2)) {
                *x = zigzag(i32::from(w[1]) - i32::from(w[0]));
            }
        }
    }
    t
}

/// The RLE items of the 256 values `t` followed by zeros, in order,
/// given to `emit` (`t` up to its last nonzero value, see `used`).
#[cfg(test)]
fn rle(t: &[u8], emit: impl FnMut(ClItem)) {
    rle_runs(t, &Runs::new(t), emit);
}

/// The runs of equal values in `t` (at most 256 values): `starts[..=count]`
/// are where each begins, then `t.len()`. Found without a branch per
/// value.
struct Runs {
    starts: [u16; 257],
    count: usize,
}

impl Runs {
    fn new(t: &[u8]) -> Runs {
        let m = t.len().min(256);
        let mut starts = [0u16; 257];
        let mut count = 0usize;
        let mut prev = u16::MAX; // no value: position 0 starts a run
        for (i, &v) in t[..m].iter().enumerate() {
            starts[count] = i as u16;
            count += usize::from(u16::from(v) != prev);
            prev = u16::from(v);
        }
        starts[count] = m as u16;
        Runs { starts, count }
    }

    /// (value, length) of each run of `t`.
    fn each<'a>(&'a self, t: &'a [u8]) -> impl Iterator<Item = (u8, usize)> + 'a {
        self.starts[..=self.count].windows(2).map(move |w| {
            let a = usize::from(w[0]);
            (t[a & 255], usize::from(w[1] - w[0]))
        })
    }
}

/// The RLE items of `t` (with `runs`, its runs) and the zero tail up to
/// 256 values, given to `emit`.
#[inline(always)]
fn rle_runs(t: &[u8], runs: &Runs, mut emit: impl FnMut(ClItem)) {
    for (v, len) in runs.each(t) {
        run_emit(v, len, &mut emit);
    }
    if t.len() < 256 {
        run_emit(0, 256 - t.len(), &mut emit);
    }
}

/// The items of a run of `len` values `v`.
#[inline(always)]
fn run_emit(v: u8, mut run: usize, emit: &mut impl FnMut(ClItem)) {
    if v == 0 && run >= 3 {
        while run >= 11 {
            let r = run.min(138);
            emit(ClItem {
                sym: ZERO_LONG,
                extra: (r - 11) as u8,
            });
            run -= r;
        }
        if run >= 3 {
            emit(ClItem {
                sym: ZERO_SHORT,
                extra: (run - 3) as u8,
            });
            run = 0;
        }
    } else {
        emit(ClItem { sym: v, extra: 0 });
        run -= 1;
        while run >= 3 {
            let r = run.min(6);
            emit(ClItem {
                sym: REP_PREV,
                extra: (r - 3) as u8,
            });
            run -= r;
        }
    }
    for _ in 0..run {
        emit(ClItem { sym: v, extra: 0 });
    }
}

/// The items `rle` makes of a run of `len` equal values (zero or not),
/// packed: literals | REP_PREV << 8 | ZERO_SHORT << 16 | ZERO_LONG << 24.
const fn run_items(len: usize, zero: bool) -> u32 {
    let (mut lit, mut rep, mut short, mut long) = (0u32, 0u32, 0u32, 0u32);
    let mut run = len;
    if zero && run >= 3 {
        while run >= 11 {
            run -= if run < 138 { run } else { 138 };
            long += 1;
        }
        if run >= 3 {
            short += 1;
            run = 0;
        }
    } else if run > 0 {
        lit += 1;
        run -= 1;
        while run >= 3 {
            run -= if run < 6 { run } else { 6 };
            rep += 1;
        }
    }
    lit += run as u32;
    lit | rep << 8 | short << 16 | long << 24
}

/// `run_items` of runs of 0..=256 values, zero or not.
const RUNS: [[u32; 257]; 2] = {
    let mut t = [[0u32; 257]; 2];
    let mut len = 0;
    while len <= 256 {
        t[0][len] = run_items(len, false);
        t[1][len] = run_items(len, true);
        len += 1;
    }
    t
};

/// The CL histogram of `rle(t)` (symbols 0..26) and its extra bits,
/// without making the items: each run's items from `RUNS`. `t` is the
/// table's values up to its last nonzero one (`used`); the rest of the
/// 256 are zeros, one run.
fn rle_stats(t: &[u8], runs: &Runs) -> ([u32; 32], u64) {
    let mut hist = [0u32; 32];
    // REP_PREV, ZERO_SHORT and ZERO_LONG counts, packed as in `run_items`
    // (each total is below 256: at most one item per 3 values).
    let mut packed = 0u32;
    for (v, len) in runs.each(t) {
        let e = RUNS[usize::from(v == 0)][len];
        hist[usize::from(v) & 31] += e & 0xFF;
        packed += e >> 8;
    }
    // The zero tail (t[m - 1] is not zero, so it is a run of its own).
    let e = RUNS[1][256 - t.len().min(256)];
    hist[0] += e & 0xFF;
    packed += e >> 8;
    let (rep, short, long) = (packed & 0xFF, (packed >> 8) & 0xFF, packed >> 16);
    hist[usize::from(REP_PREV)] += rep;
    hist[usize::from(ZERO_SHORT)] += short;
    hist[usize::from(ZERO_LONG)] += long;
    (hist, u64::from(2 * rep + 3 * short + 7 * long))
}

/// Length of `t` up to its last nonzero value (0 if all are zero),
/// eight values at a time from the end.
fn used(t: &[u8; 256]) -> usize {
    let mut end = 256;
    while end >= 8 {
        let w: &[u8; 8] = t[end - 8..end].try_into().unwrap_or(&[0; 8]);
        let x = u64::from_le_bytes(*w);
        if x != 0 {
            return end - (x.leading_zeros() / 8) as usize;
        }
        end -= 8;
    }
    0
}

/// Nonzero lengths in `l` (a sum of 0/1 values: it vectorizes, unlike a
/// filtered count).
pub(crate) fn present(l: &[u8]) -> usize {
    l.iter().map(|&x| usize::from(x > 0)).sum()
}

fn extra_bits(sym: u8) -> u32 {
    match sym {
        REP_PREV => 2,
        ZERO_SHORT => 3,
        ZERO_LONG => 7,
        _ => 0,
    }
}

/// A table's size in one mode: its CL code and exact size in bits.
struct Plan {
    mode: u32,
    cl_lens: [u8; 32],
    k: usize,
    bits: u64,
    /// The values (up to the last nonzero one: `m` of them) and their runs.
    t: [u8; 256],
    m: usize,
    runs: Runs,
}

fn perm(mode: u32) -> &'static [u8; CL_SYMS] {
    if mode == MODE_DIRECT {
        &PERM_DIRECT
    } else {
        &PERM_DELTA
    }
}

fn plan(mode: u32, lengths: &[u8; 256], prev: &[u8; 256]) -> Plan {
    let t = values(mode, lengths, prev);
    let m = used(&t);
    let runs = Runs::new(&t[..m]);
    let (hist, extra) = rle_stats(&t[..m], &runs);
    let cl_lens = small_code_lengths_fast(&hist, CL_MAX_LEN);
    let p = perm(mode);
    let k = p
        .iter()
        .rposition(|&s| cl_lens[s as usize] > 0)
        .map_or(1, |x| x + 1);
    let single = present(&cl_lens[..]) == 1;
    let mut bits = 2 + 5 + 3 * k as u64 + extra;
    if !single {
        bits += hist
            .iter()
            .zip(cl_lens.iter())
            .map(|(&c, &l)| u64::from(c) * u64::from(l))
            .sum::<u64>();
    }
    Plan {
        mode,
        cl_lens,
        k,
        bits,
        t,
        m,
        runs,
    }
}

/// Appends the cheapest encoding of `lengths` (a table our encoder built:
/// lengths <= 11, one symbol or a complete code) to `out`. `prev` is the
/// previous segment's table, if any. Returns the bytes written.
pub(crate) fn encode_table(
    lengths: &[u8; 256],
    prev: Option<&[u8; 256]>,
    out: &mut Vec<u8>,
) -> usize {
    encode_table_in(lengths, prev, true, out)
}

/// `encode_table` in mode 1 (direct) only, unless one symbol: a plan
/// less (the `fast` level's sequence tables).
pub(crate) fn encode_table_direct(lengths: &[u8; 256], out: &mut Vec<u8>) -> usize {
    encode_table_in(lengths, None, false, out)
}

/// `encode_table`; `search`: try the delta modes too.
fn encode_table_in(
    lengths: &[u8; 256],
    prev: Option<&[u8; 256]>,
    search: bool,
    out: &mut Vec<u8>,
) -> usize {
    let start = out.len();
    if present(lengths) == 1 {
        let s = lengths.iter().position(|&l| l > 0).unwrap_or(0);
        let mut w = BitWriter::new(out);
        w.put(MODE_SINGLE, 2);
        w.put(s as u32, 8);
        w.finish();
        return out.len() - start;
    }
    let zero = [0u8; 256];
    let pv = prev.unwrap_or(&zero);
    let mut best = plan(MODE_DIRECT, lengths, pv);
    for mode in [MODE_PREV_SYMBOL, MODE_PREV_TABLE] {
        if !search || mode == MODE_PREV_TABLE && prev.is_none() {
            continue;
        }
        let p = plan(mode, lengths, pv);
        if p.bits < best.bits {
            best = p;
        }
    }
    let cl_lens = &best.cl_lens;
    let single = present(&cl_lens[..]) == 1;
    let mut codes = [0u32; CL_SYMS];
    reversed_codes_into(&cl_lens[..CL_SYMS], &mut codes);
    // Per CL symbol: its code's length (none for a one-symbol code) and
    // the extra bits that follow it.
    let mut clen = [0u32; CL_SYMS];
    for (s, c) in clen.iter_mut().enumerate() {
        *c = if single { 0 } else { u32::from(cl_lens[s]) };
    }
    let mut w = BitWriter::new(out);
    w.put(best.mode, 2);
    w.put(best.k as u32 - 1, 5);
    for &s in &perm(best.mode)[..best.k] {
        w.put(u32::from(cl_lens[s as usize]), 3);
    }
    // The items from the plan's runs (no list), each code and its extra
    // bits in one put (at most 7 + 7 bits).
    rle_runs(&best.t[..best.m], &best.runs, |it| {
        let s = usize::from(it.sym) % CL_SYMS;
        let (c, l) = if single { (0, 0) } else { (codes[s], clen[s]) };
        w.put(c | u32::from(it.extra) << l, l + extra_bits(it.sym));
    });
    w.finish();
    out.len() - start
}

/// Decodes one table from the front of `input`; `prev` is the previous
/// segment's table (None in the first segment). Returns the lengths
/// (validated: lengths <= 11, one symbol or a complete code), their kind
/// and the bytes
/// the table occupied.
pub(crate) fn decode_table(
    input: &[u8],
    prev: Option<&[u8; 256]>,
) -> Result<([u8; 256], TableKind, usize), CodecError> {
    let mut r = BitReader::new(input);
    let mode = r.read(2);
    let mut lengths = [0u8; 256];
    if mode == MODE_SINGLE {
        let s = r.read(8);
        lengths[s as usize] = 1;
    } else {
        let k = r.read(5) as usize + 1;
        if k > CL_SYMS {
            return Err(CodecError::ClLengths {
                count: k,
                max: CL_SYMS,
            });
        }
        let mut cl_lens = [0u8; 256];
        for &s in &perm(mode)[..k] {
            cl_lens[s as usize] = r.read(3) as u8;
        }
        let cl = ClDecoder::new(&cl_lens)?;
        let prev = match (mode, prev) {
            (MODE_PREV_TABLE, None) => return Err(CodecError::NoPreviousTable),
            (_, p) => p,
        };
        // The 256 values, and room for a 16-byte store at any of them.
        let mut wide_t = [0u8; 256 + RUN_STORE];
        let t = &mut wide_t;
        // Values decoded, by value (all 23 CL values): in mode 1 these are
        // the lengths' histogram, which `validate_counts` checks without
        // another pass over the 256 symbols.
        let mut hist = [0u32; 32];
        let mut i = 0usize;
        while i < 256 {
            if r.overrun() {
                return Err(CodecError::TableTruncated { bytes: input.len() });
            }
            let sym = cl.decode(&mut r);
            let (v, n) = match sym {
                REP_PREV => {
                    if i == 0 {
                        return Err(CodecError::RepeatAtStart);
                    }
                    (t[i - 1], 3 + r.read(2) as usize)
                }
                ZERO_SHORT => (0, 3 + r.read(3) as usize),
                ZERO_LONG => (0, 11 + r.read(7) as usize),
                v => (v, 1),
            };
            if i + n > 256 {
                return Err(CodecError::RunPastEnd { at: i, run: n });
            }
            // Runs of at most 16 (all but zero runs of 17 and more) as one
            // store of 16 bytes, whose excess the next values overwrite
            // (or that lands past the 256): no call to memset.
            if n <= RUN_STORE {
                t[i..i + RUN_STORE].copy_from_slice(&[v; RUN_STORE]);
            } else {
                t[i..i + n].fill(v);
            }
            hist[usize::from(v & 31)] += n as u32;
            i += n;
        }
        let t: [u8; 256] = t[..256].try_into().unwrap_or([0; 256]);
        if mode == MODE_DIRECT {
            if hist[MAX_CODE_LEN as usize + 1..].iter().any(|&c| c > 0) {
                return Err(out_of_range(&t.map(i32::from)));
            }
            if r.overrun() {
                return Err(CodecError::TableTruncated { bytes: input.len() });
            }
            let kind = validate_counts(&hist, &t)?;
            return Ok((t, kind, r.consumed_bytes()));
        }
        // One loop per mode (no branch per symbol); a length out of
        // 0..=MAX_CODE_LEN is found after the loop.
        let mut wide = [0i32; 256];
        match (mode, prev) {
            (MODE_PREV_TABLE, Some(p)) => {
                for ((w, &v), &q) in wide.iter_mut().zip(&t).zip(p) {
                    *w = i32::from(q) + unzigzag(v);
                }
            }
            _ => {
                let mut last = 0i32;
                for (w, &v) in wide.iter_mut().zip(&t) {
                    last += unzigzag(v);
                    *w = last;
                }
            }
        }
        let mut bad = false;
        for (o, &l) in lengths.iter_mut().zip(&wide) {
            bad |= !(0..=MAX_CODE_LEN as i32).contains(&l);
            *o = l as u8;
        }
        if bad {
            return Err(out_of_range(&wide));
        }
    }
    if r.overrun() {
        return Err(CodecError::TableTruncated { bytes: input.len() });
    }
    let kind = validate(&lengths, MAX_CODE_LEN)?;
    Ok((lengths, kind, r.consumed_bytes()))
}

/// The error for the first of `wide` that is not a v2 code length.
#[cold]
fn out_of_range(wide: &[i32; 256]) -> CodecError {
    let (symbol, length) = wide
        .iter()
        .enumerate()
        .find(|&(_, &l)| !(0..=MAX_CODE_LEN as i32).contains(&l))
        .map_or((0, 0), |(s, &l)| (s, l));
    CodecError::LengthOutOfRange {
        symbol,
        length,
        max: MAX_CODE_LEN,
    }
}

/// Decoder for the CL code (lengths <= 7): a 128-entry table.
struct ClDecoder {
    single: Option<u8>,
    /// `symbol << 4 | code length` of the code at each 7-bit index.
    entries: [u16; 128],
}

impl ClDecoder {
    /// `cl_lens`: the CL lengths (3-bit fields: <= 7) of the CL symbols.
    fn new(cl_lens: &[u8; 256]) -> Result<ClDecoder, CodecError> {
        let lens = &cl_lens[..CL_SYMS];
        let mut count = [0u32; 32];
        for &l in lens {
            count[usize::from(l & 7)] += 1;
        }
        let mut t = [0u16; 128];
        if lens.iter().any(|&l| u32::from(l) > CL_MAX_LEN) {
            // Not reached (3-bit fields), but `validate` says why.
            validate(lens, CL_MAX_LEN).map_err(|e| CodecError::ClCode(Box::new(e)))?;
        }
        let kind = validate_counts(&count, lens).map_err(|e| CodecError::ClCode(Box::new(e)))?;
        if let TableKind::Single(s) = kind {
            return Ok(ClDecoder {
                single: Some(s),
                entries: t,
            });
        }
        // Canonical codes (DEFLATE order): the first code of each length,
        // then the symbols in order, each code bit-reversed (LSB-first
        // stream) and its entry written at every index it prefixes.
        let mut next = [0u32; 8];
        let mut code = 0u32;
        for l in 1..8 {
            code = (code + count[l - 1] * u32::from(l > 1)) << 1;
            next[l] = code;
        }
        for (s, &l) in lens.iter().enumerate() {
            let l = usize::from(l & 7);
            if l == 0 {
                continue;
            }
            let c = next[l];
            next[l] += 1;
            let mut i = (c.reverse_bits() >> (32 - l)) as usize;
            while i < 128 {
                t[i] = ((s as u16) << 4) | l as u16;
                i += 1 << l;
            }
        }
        Ok(ClDecoder {
            single: None,
            entries: t,
        })
    }

    fn decode(&self, r: &mut BitReader<'_>) -> u8 {
        if let Some(s) = self.single {
            return s;
        }
        if r.available() < 7 {
            r.refill();
        }
        let e = self.entries[(r.peek() & 127) as usize];
        r.consume(u32::from(e & 15));
        (e >> 4) as u8
    }
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
