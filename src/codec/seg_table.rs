//! The lookup tables of one v2 segment (FORMAT.md section 4), built from
//! its code lengths, and the choice of the decoding kernel they serve
//! (the kernels are in huff_decode.rs).
//!
//! Tables, all indexed by the next 11 bits of a stream:
//! - `single`, one symbol a lookup: `symbol << 8 | length`. Built by
//!   doubling: after step k the first 2^k entries are right for every code
//!   of length <= k; step k+1 copies them once (a memcpy) and writes the
//!   one entry of each code of length k+1.
//! - `pairs`, one or two symbols a lookup (the second when both codes fit
//!   in 11 bits), built from `single` one code at a time (`build_pairs`);
//!   8-byte entries (`Pair`), one field a load for the kernel.
//! - `quads`, one to four symbols a lookup (`build_multi`).
//!
//! `prepare` picks the kernel per segment: `quads` for segments averaging
//! at most 2.6 bits a symbol, `pairs` for segments of 8 KiB or more when
//! a few lookups in ten would give two symbols (`PAIRS_MIN_ODDS`), else
//! `single` (see `Kernel` for the measurements).

/// Bits the table is indexed by (the longest v2 code).
pub(super) const TABLE_BITS: u32 = 11;
pub(super) const TABLE_SIZE: usize = 1 << TABLE_BITS;

/// Shortest segment that gets the four-symbol table.
const QUADS_MIN_LEN: usize = 8192;
/// Shortest segment that gets the two-symbol table (its build, ~10 K
/// instructions, costs about what decoding 8 KiB with it saves).
pub(super) const PAIRS_MIN_LEN: usize = 8192;
/// Fewest lookups in 2048 that must give two symbols for the two-symbol
/// table (by the code's implied probabilities). Its kernel takes 7
/// instructions a lookup (one or two symbols) against 6 a symbol one
/// symbol a lookup, plus the same chain of dependent loads a lookup:
/// it pays from a few lookups in ten giving two. Session 16 on the corpus
/// of user data at 64K, instructions a decode pass: 1300 (sessions
/// 12-15, for the older kernel) 1708 M, 900 1678 M, 600 1649 M, 300 and 0
/// the same as 600 (no segment of 8 KiB or more between), with 8192 as
/// the shortest segment instead of 12288 1642 M.
pub(super) const PAIRS_MIN_ODDS: u32 = 600;

/// The lookup tables of one segment.
pub(crate) struct SegTable {
    /// One symbol per lookup: symbol << 8 | code length.
    pub(super) single: [u16; TABLE_SIZE],
    /// One or two symbols per lookup (`build_pairs`).
    pub(super) pairs: [Pair; TABLE_SIZE],
    /// Up to four symbols per lookup (`build_multi`): the symbols in bits
    /// 0-31 (first in the low byte), the bits they use in 32-39, their
    /// number less one (0..=3) in 62-63.
    pub(super) quads: [u64; TABLE_SIZE],
    /// Scratch of `build_pairs`: one code length's entries in order (the
    /// second symbol and the bits, without the first symbol).
    pair_row: [Pair; TABLE_SIZE],
    /// Codes in canonical order: (symbol, length, bit-reversed code).
    codes: [(u8, u8, u16); 256],
    ncodes: usize,
    /// The kernel `decode_segment` uses (its table is built).
    pub(super) kernel: Kernel,
}

/// How a segment is decoded: which table the four-stream loop uses.
/// Kernel speeds measured on 64 KiB segments of Silesia (ns/byte, this
/// machine, table builds excluded; sessions 12-15, before the two-symbol
/// kernel's 8-byte entries of session 16): one symbol a lookup 0.86-0.90
/// on every file; two symbols 0.59 (mr), 0.66-0.70 (text), 0.93 (x-ray),
/// 1.0-1.1 (ooffice, osdb); four 0.45 (nci), 0.64-0.67 (text), 0.75 (mr).
/// Builds: `single` ~1.3 us, `pairs` ~2.5 us, `quads` 5-6 us.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kernel {
    /// `single`: one symbol a lookup.
    Single,
    /// `pairs`: one or two symbols a lookup.
    Pairs,
    /// `quads`: one to four symbols a lookup.
    Quads,
}

/// An entry of the two-symbol table: one or two symbols (bytes 0-1,
/// first first), the bits their codes use (byte 2) and their number
/// (bytes 4-7, little-endian). Built as one word (one store an entry);
/// the kernel reads each field with a load of its own (no shifts to take
/// a packed word apart) and adds `count` to a 32-bit output offset
/// straight from memory. The bytes are private and only `new` makes an
/// entry, with a count of 1 or 2: the kernel's bound on its writes
/// follows from the type, whatever a table holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, align(8))]
pub(crate) struct Pair([u8; 8]);

impl Pair {
    /// An entry giving one symbol 0 with a code of no bits (a table not
    /// built yet).
    pub(super) const ONE: Pair = Pair([0, 0, 0, 0, 1, 0, 0, 0]);

    /// The entry of `syms` (first symbol in the low byte; the high byte
    /// is not a symbol unless `two`) whose codes use `bits`.
    #[inline(always)]
    pub(super) fn new(syms: u16, bits: u8, two: bool) -> Pair {
        let w = u64::from(syms) | u64::from(bits) << 16 | (1 + u64::from(two)) << 32;
        Pair(w.to_le_bytes())
    }

    /// This entry with `s` added to its symbols (the first symbol, into
    /// a low byte left zero).
    #[inline(always)]
    fn with_first(self, s: u8) -> Pair {
        let w = u64::from_le_bytes(self.0) | u64::from(s);
        Pair(w.to_le_bytes())
    }

    /// The two symbol bytes, first first (the second is not a symbol
    /// when `count` is 1: the kernel's next store overwrites it).
    #[inline(always)]
    pub(super) fn syms(&self) -> [u8; 2] {
        [self.0[0], self.0[1]]
    }

    /// Bits the entry's codes use.
    #[inline(always)]
    pub(super) fn bits(&self) -> u32 {
        u32::from(self.0[2])
    }

    /// Symbols the entry gives: 1 or 2.
    #[inline(always)]
    pub(super) fn count(&self) -> u32 {
        u32::from_le_bytes([self.0[4], self.0[5], self.0[6], self.0[7]])
    }
}

impl SegTable {
    pub(crate) fn new() -> SegTable {
        SegTable {
            single: [0; TABLE_SIZE],
            pairs: [Pair::ONE; TABLE_SIZE],
            quads: [0; TABLE_SIZE],
            pair_row: [Pair::ONE; TABLE_SIZE],
            codes: [(0, 0, 0); 256],
            ncodes: 0,
            kernel: Kernel::Single,
        }
    }

    /// Fills the table for `lengths`, which must be a validated complete
    /// code of two or more symbols with lengths <= 11 (otherwise the table
    /// is wrong but still safe to use: decoding gives garbage that the
    /// stream length checks or the container's CRC reject).
    pub(crate) fn build(&mut self, lengths: &[u8; 256]) {
        // Absent symbols are not counted (count[0] is not used), and
        // 8 absent symbols in a row cost one test here and below
        // (literal alphabets leave most of 128..=255 empty).
        let mut count = [0u16; 16];
        for c in lengths.chunks_exact(8) {
            if c.try_into().map_or(1, u64::from_ne_bytes) == 0 {
                continue;
            }
            for &l in c {
                count[usize::from(l & 15)] += 1;
            }
        }
        // Symbols in canonical order: by length, then value.
        let mut offs = [0u16; 16];
        let mut acc = 0u16;
        for l in 1..=TABLE_BITS as usize {
            offs[l] = acc;
            acc += count[l];
        }
        // Absent symbols (and lengths past 11, never in a validated
        // table) land in the second half, which is never read: no branch
        // per symbol.
        offs[0] = 256;
        for o in &mut offs[TABLE_BITS as usize + 1..] {
            *o = 256;
        }
        let mut sorted = [0u8; 512];
        for (i, c) in lengths.chunks_exact(8).enumerate() {
            if c.try_into().map_or(1, u64::from_ne_bytes) == 0 {
                continue;
            }
            for (j, &l) in c.iter().enumerate() {
                let o = &mut offs[usize::from(l & 15)];
                sorted[usize::from(*o & 511)] = (8 * i + j) as u8;
                *o += 1;
            }
        }
        let t = &mut self.single;
        t[0] = 0;
        let mut size = 1usize;
        let mut code = 0u32;
        let mut idx = 0usize;
        for k in 1..=TABLE_BITS {
            t.copy_within(0..size, size);
            size *= 2;
            code <<= 1;
            for _ in 0..count[k as usize] {
                let s = sorted[idx & 255];
                idx += 1;
                let r = (code.reverse_bits() >> (32 - k)) as usize & (TABLE_SIZE - 1);
                t[r] = (u16::from(s) << 8) | k as u16;
                self.codes[(idx - 1) & 255] = (s, k as u8, r as u16);
                code += 1;
            }
        }
        self.ncodes = idx.min(256);
        self.kernel = Kernel::Single;
    }

    /// Builds the table for `lengths` (as `build`) and the multi-symbol
    /// table that pays for a segment of `seg_len` bytes, if any: four
    /// symbols a lookup for a segment whose code averages at most 2.6 bits
    /// a symbol by its own implied probabilities (2^-length; nci), two
    /// when most lookups would give two (`PAIRS_MIN_ODDS`), else one.
    pub(crate) fn prepare(&mut self, lengths: &[u8; 256], seg_len: usize) {
        self.build(lengths);
        if seg_len < QUADS_MIN_LEN.min(PAIRS_MIN_LEN) {
            return;
        }
        if seg_len >= QUADS_MIN_LEN && self.avg_bits_2048() * 10 <= 26 * 2048 {
            self.build_multi();
        } else if seg_len >= PAIRS_MIN_LEN && self.pair_odds_2048() >= PAIRS_MIN_ODDS {
            self.build_pairs();
        }
    }

    /// Lookups of the two-symbol table (of 2048) that give two symbols
    /// when the code's bits are random (valid after `build`).
    pub(super) fn pair_odds_2048(&self) -> u32 {
        let mut count = [0u32; 12];
        for &(_, l, _) in &self.codes[..self.ncodes] {
            count[usize::from(l).min(11)] += 1;
        }
        // kraft[m]: sum over codes of length <= m of 2^(11 - length).
        let mut kraft = [0u32; 12];
        for m in 1..12 {
            kraft[m] = kraft[m - 1] + (count[m] << (11 - m));
        }
        (1..11)
            .map(|l| ((count[l] << (11 - l)) * kraft[11 - l]) >> 11)
            .sum()
    }

    /// Fills the two-symbol table from the codes `build` found (valid
    /// after `build`): index i gives the code c at i and, when both fit in
    /// 11 bits, the code after it. The indices starting with c are
    /// r + (j << l) (r its reversed bits, l its length) for the
    /// 2^(11 - l) values of j, and the code after c is the one at index j
    /// of the one-symbol table when it fits in 11 - l bits. So all codes
    /// of one length share one row of entries in j order (all but the
    /// first symbol, built once per length by a loop the compiler
    /// vectorises), which each code adds its symbol to as it stores them
    /// at its strided indices.
    pub(crate) fn build_pairs(&mut self) {
        let t = &self.single;
        let row = &mut self.pair_row;
        let mut row_len = u32::MAX; // no row built yet
        for &(s1, l1, r1) in &self.codes[..self.ncodes] {
            let l1 = u32::from(l1).min(TABLE_BITS);
            let rem = TABLE_BITS - l1;
            let m = 1usize << rem;
            if l1 != row_len {
                row_len = l1;
                for (x, &e2) in row[..m].iter_mut().zip(&t[..m]) {
                    let l2 = u32::from(e2 & 15);
                    let two = l2 <= rem;
                    // The second symbol in the high byte (the first is
                    // added per code), both codes' bits when it fits.
                    let bits = l1 + if two { l2 } else { 0 };
                    *x = Pair::new((e2 >> 8) << 8, bits as u8, two);
                }
            }
            for (j, &e) in row[..m].iter().enumerate() {
                self.pairs[(usize::from(r1) | j << l1) & (TABLE_SIZE - 1)] = e.with_first(s1);
            }
        }
        self.kernel = Kernel::Pairs;
    }

    /// Expected bits per symbol times 2^11, by the code's own implied
    /// probabilities 2^-length; valid after `build`.
    fn avg_bits_2048(&self) -> u32 {
        self.codes[..self.ncodes]
            .iter()
            .map(|&(_, l, _)| u32::from(l) << (TABLE_BITS - u32::from(l).min(TABLE_BITS)))
            .sum()
    }

    /// Fills the multi-symbol table from the codes `build` found: every
    /// sequence of up to four codes whose lengths add up to at most 11 is
    /// written at all the indices it starts (every 2^total), sequences
    /// before their extensions, so an index ends up with the longest
    /// sequence that fits in its 11 bits.
    pub(crate) fn build_multi(&mut self) {
        let codes = &self.codes[..self.ncodes];
        fill_multi(&mut self.quads, codes, 0, 0, 0, 0);
        self.kernel = Kernel::Quads;
    }
}

/// `build_multi` below a prefix of `count` symbols `syms` using `used`
/// bits whose codes, concatenated, are `pos`.
fn fill_multi(
    m: &mut [u64; TABLE_SIZE],
    codes: &[(u8, u8, u16)],
    pos: usize,
    used: u32,
    syms: u32,
    count: u32,
) {
    for &(s, l, r) in codes {
        let total = used + u32::from(l);
        if total > TABLE_BITS {
            break; // codes are sorted by length
        }
        let p = pos | usize::from(r) << used;
        let sy = syms | u32::from(s) << (8 * count);
        let e = u64::from(sy) | u64::from(total) << 32 | u64::from(count) << 62;
        let mut i = p & (TABLE_SIZE - 1);
        while i < TABLE_SIZE {
            m[i] = e;
            i += 1 << total;
        }
        if count + 1 < 4 {
            fill_multi(m, codes, p, total, sy, count + 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::canonical::reversed_codes;
    use super::super::lengths::{code_lengths, histogram};
    use super::super::tests::{skewed_over as skewed, xorshift};
    use super::*;

    /// `prepare` takes the two-symbol table exactly from PAIRS_MIN_LEN
    /// bytes and PAIRS_MIN_ODDS lookups in 2048 giving two (tables at the
    /// threshold and within 8 either side: odds are even and sparse here,
    /// 598 and 608 the nearest found; segments one byte either side), the
    /// four-symbol table's rule first.
    #[test]
    fn pairs_thresholds() {
        let mut seed = 41u64;
        let mut seen = [false; 3];
        let mut t = SegTable::new();
        for round in 0..6000 {
            // Histograms from flat to steep over 2..=256 symbols, and
            // flat ones with a few heavy symbols (odds around the
            // threshold, as in binaries).
            let mut hist = [0u32; 256];
            if round % 2 == 0 {
                let alphabet = 2 + xorshift(&mut seed) as usize % 255;
                let steep = 1 + xorshift(&mut seed) % 64;
                for (s, h) in hist.iter_mut().enumerate().take(alphabet) {
                    *h =
                        1 + (1_000_000 / (1 + s as u64 * steep) + xorshift(&mut seed) % 100) as u32;
                }
            } else {
                let heavy = xorshift(&mut seed) as usize % 24;
                let weight = 1 + xorshift(&mut seed) % 40_000;
                for (s, h) in hist.iter_mut().enumerate() {
                    let w = if s < heavy { weight } else { 1000 };
                    *h = (w + xorshift(&mut seed) % 1000) as u32;
                }
            }
            let lengths = code_lengths(&hist, 11);
            if lengths.iter().filter(|&&l| l > 0).count() < 2 {
                continue;
            }
            t.build(&lengths);
            let odds = t.pair_odds_2048();
            let quads = t.avg_bits_2048() * 10 <= 26 * 2048;
            let near = odds.abs_diff(PAIRS_MIN_ODDS) <= 8;
            if near {
                seen[(odds.cmp(&PAIRS_MIN_ODDS) as isize + 1) as usize] = true;
            }
            if !near && round % 50 != 0 {
                continue;
            }
            for len in [PAIRS_MIN_LEN - 1, PAIRS_MIN_LEN, PAIRS_MIN_LEN + 1] {
                t.prepare(&lengths, len);
                let want = if quads && len >= QUADS_MIN_LEN {
                    Kernel::Quads
                } else if len >= PAIRS_MIN_LEN && odds >= PAIRS_MIN_ODDS {
                    Kernel::Pairs
                } else {
                    Kernel::Single
                };
                assert_eq!(t.kernel, want, "odds {odds}, length {len}");
            }
        }
        assert_eq!(seen, [true; 3], "tables at the threshold and either side");
    }

    /// The table gives every 11-bit index the code that prefixes it.
    #[test]
    fn table_matches_codes() {
        let mut seed = 3u64;
        for alphabet in [2u64, 5, 100, 256] {
            let data = skewed(30000, alphabet, &mut seed);
            let lengths = code_lengths(&histogram(&data), 11);
            let codes = reversed_codes(&lengths);
            let mut t = SegTable::new();
            t.build(&lengths);
            for i in 0..TABLE_SIZE {
                let e = t.single[i];
                let (s, l) = (usize::from(e >> 8), u32::from(e & 0xFF));
                assert!(l >= 1 && l == u32::from(lengths[s]), "index {i}");
                assert_eq!(i as u32 & ((1 << l) - 1), codes[s], "index {i}");
            }
            // The two-symbol table gives the code at its index and the next
            // one when both fit in 11 bits.
            t.build_pairs();
            for i in 0..TABLE_SIZE {
                let e = t.pairs[i];
                let x1 = t.single[i];
                let l1 = u32::from(x1 & 0xFF);
                let x2 = t.single[(i >> l1) & (TABLE_SIZE - 1)];
                let l2 = u32::from(x2 & 0xFF);
                assert_eq!(e.syms()[0], (x1 >> 8) as u8, "index {i}");
                if l1 + l2 <= 11 {
                    assert_eq!(e.syms()[1], (x2 >> 8) as u8, "index {i}");
                    assert_eq!((e.bits(), e.count()), (l1 + l2, 2), "index {i}");
                } else {
                    assert_eq!((e.bits(), e.count()), (l1, 1), "index {i}");
                }
            }
            // The multi-symbol table gives the longest run of codes (up to
            // four) that fits in the 11 bits of its index.
            t.build_multi();
            for i in 0..TABLE_SIZE {
                let e = t.quads[i];
                let (used, n) = ((e >> 32) & 0xFF, (e >> 62) + 1);
                let (mut u, mut k) = (0u64, 0u64);
                while k < 4 {
                    let x = t.single[(i >> u) & (TABLE_SIZE - 1)];
                    let l = u64::from(x & 0xFF);
                    if u + l > 11 {
                        break;
                    }
                    assert_eq!((e >> (8 * k)) as u8, (x >> 8) as u8, "index {i}");
                    u += l;
                    k += 1;
                }
                assert_eq!((used, n), (u, k), "index {i}");
            }
        }
    }
}
