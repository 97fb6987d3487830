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

/// The RLE items of `t`, in order, given to `emit`.
#[inline(always)]
fn rle(t: &[u8; 256], mut emit: impl FnMut(ClItem)) {
    let mut i = 0;
    while i < 256 {
        let v = t[i];
        let mut run = 1;
        while i + run < 256 && t[i + run] == v {
            run += 1;
        }
        i += run;
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
/// without making the items: run starts found branch-free, then each
/// run's items from `RUNS`.
fn rle_stats(t: &[u8; 256]) -> ([u32; 32], u64) {
    let mut starts = [0u16; 257];
    let mut runs = 0usize;
    let mut prev = u16::MAX; // no value: position 0 starts a run
    for (i, &v) in t.iter().enumerate() {
        starts[runs] = i as u16;
        runs += usize::from(u16::from(v) != prev);
        prev = u16::from(v);
    }
    starts[runs] = 256;
    let mut hist = [0u32; 32];
    // REP_PREV, ZERO_SHORT and ZERO_LONG counts, packed as in `run_items`
    // (each total is below 256: at most one item per 3 values).
    let mut packed = 0u32;
    for w in starts[..=runs].windows(2) {
        let (a, len) = (usize::from(w[0]), usize::from(w[1] - w[0]));
        let v = t[a & 255];
        let e = RUNS[usize::from(v == 0)][len];
        hist[usize::from(v) & 31] += e & 0xFF;
        packed += e >> 8;
    }
    let (rep, short, long) = (packed & 0xFF, (packed >> 8) & 0xFF, packed >> 16);
    hist[usize::from(REP_PREV)] += rep;
    hist[usize::from(ZERO_SHORT)] += short;
    hist[usize::from(ZERO_LONG)] += long;
    (hist, u64::from(2 * rep + 3 * short + 7 * long))
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
}

fn perm(mode: u32) -> &'static [u8; CL_SYMS] {
    if mode == MODE_DIRECT {
        &PERM_DIRECT
    } else {
        &PERM_DELTA
    }
}

fn plan(mode: u32, lengths: &[u8; 256], prev: &[u8; 256]) -> Plan {
    let (hist, extra) = rle_stats(&values(mode, lengths, prev));
    let cl_lens = small_code_lengths_fast(&hist, CL_MAX_LEN);
    let p = perm(mode);
    let k = p
        .iter()
        .rposition(|&s| cl_lens[s as usize] > 0)
        .map_or(1, |x| x + 1);
    let single = cl_lens.iter().filter(|&&l| l > 0).count() == 1;
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
    let start = out.len();
    let present = lengths.iter().filter(|&&l| l > 0).count();
    if present == 1 {
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
        if mode == MODE_PREV_TABLE && prev.is_none() {
            continue;
        }
        let p = plan(mode, lengths, pv);
        if p.bits < best.bits {
            best = p;
        }
    }
    let mut cl_lens = [0u8; 256];
    cl_lens[..32].copy_from_slice(&best.cl_lens);
    let single = cl_lens.iter().filter(|&&l| l > 0).count() == 1;
    let mut codes = [0u32; CL_SYMS];
    reversed_codes_into(&cl_lens[..CL_SYMS], &mut codes);
    let mut w = BitWriter::new(out);
    w.put(best.mode, 2);
    w.put(best.k as u32 - 1, 5);
    for &s in &perm(best.mode)[..best.k] {
        w.put(u32::from(cl_lens[s as usize]), 3);
    }
    // The items straight from the run scan (no list).
    rle(&values(best.mode, lengths, pv), |it| {
        if !single {
            w.put(codes[it.sym as usize], u32::from(cl_lens[it.sym as usize]));
        }
        w.put(u32::from(it.extra), extra_bits(it.sym));
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
        let mut t = [0u8; 256];
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
            t[i..i + n].fill(v);
            hist[usize::from(v & 31)] += n as u32;
            i += n;
        }
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
mod tests {
    use super::super::{code_lengths, histogram};
    use super::*;

    fn rt(lengths: &[u8; 256], prev: Option<&[u8; 256]>) -> usize {
        let mut v = vec![0xAB];
        let n = encode_table(lengths, prev, &mut v);
        assert_eq!(n, v.len() - 1);
        v.extend_from_slice(&[1, 2, 3]);
        let (got, _, used) = decode_table(&v[1..], prev).unwrap();
        assert_eq!(&got, lengths);
        assert_eq!(used, n);
        n
    }

    #[test]
    fn tables_roundtrip() {
        let mut one = [0u8; 256];
        one[200] = 1;
        assert_eq!(rt(&one, None), 2);
        let flat = [8u8; 256];
        assert!(rt(&flat, None) <= 12);
        let text = b"The quick brown fox jumps over the lazy dog; 0123456789 THE END.".repeat(20);
        let l = code_lengths(&histogram(&text), 11);
        rt(&l, None);
        rt(&l, Some(&flat));
        let mut skew = [0u32; 256];
        for (i, c) in skew.iter_mut().enumerate() {
            *c = 1 + (1000.0 * (-(i as f64) / 20.0).exp()) as u32;
        }
        let l2 = code_lengths(&skew, 11);
        let n_direct = rt(&l2, None);
        assert!(n_direct < 100, "{n_direct}");
        // Nearly the same table: delta from previous is tiny.
        skew[3] += 50;
        let l3 = code_lengths(&skew, 11);
        assert!(rt(&l3, Some(&l2)) < 20);
    }

    /// `rle_stats` counts exactly the items `rle` makes.
    #[test]
    fn rle_stats_match_rle() {
        let mut seed = 0x0123_4567_89AB_CDEFu64;
        let mut items = Vec::new();
        for round in 0..500 {
            let mut t = [0u8; 256];
            let mut i = 0;
            while i < 256 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let len = match round % 4 {
                    0 => 1 + (seed % 4) as usize,
                    1 => 1 + (seed % 20) as usize,
                    2 => 1 + (seed % 300) as usize,
                    _ => 1 + (seed % 9) as usize * (seed >> 60) as usize,
                };
                let v = if seed >> 63 == 0 {
                    0
                } else {
                    (seed >> 32) as u8 % 23
                };
                for x in t[i..(i + len).min(256)].iter_mut() {
                    *x = v;
                }
                i += len;
            }
            items.clear();
            rle(&t, |it| items.push(it));
            let mut hist = [0u32; 32];
            let mut extra = 0u64;
            for it in &items {
                hist[it.sym as usize] += 1;
                extra += u64::from(extra_bits(it.sym));
            }
            assert_eq!(rle_stats(&t), (hist, extra), "round {round}");
        }
        for t in [[0u8; 256], [7u8; 256]] {
            items.clear();
            rle(&t, |it| items.push(it));
            let n: u32 = rle_stats(&t).0.iter().sum();
            assert_eq!(n as usize, items.len());
        }
    }

    #[test]
    fn corrupt_tables_rejected() {
        // Every truncation and every single-byte change must be an error or
        // a valid table, never a panic.
        let mut skew = [0u32; 256];
        for (i, c) in skew.iter_mut().enumerate() {
            *c = 1 + (i as u32 * 37) % 101;
        }
        let l = code_lengths(&skew, 11);
        let mut v = Vec::new();
        encode_table(&l, None, &mut v);
        for cut in 0..v.len() {
            assert!(decode_table(&v[..cut], None).is_err(), "cut {cut}");
        }
        for i in 0..v.len() {
            for x in [1u8, 0x80, 0xFF] {
                let mut w = v.clone();
                w[i] ^= x;
                if let Ok((got, _, _)) = decode_table(&w, None) {
                    assert!(validate(&got, 11).is_ok());
                }
            }
        }
        assert!(decode_table(&[], None).is_err());
        assert!(decode_table(&[2 | 0xFC, 0xFF, 0xFF], None).is_err());
    }
}
