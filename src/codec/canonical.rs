//! Canonical prefix codes from code lengths (docs/FORMAT.md section 1):
//! `validate` (the lengths form one symbol of length 1 or a complete
//! prefix code within a length limit) and the canonical code of every
//! symbol, bit-reversed for LSB-first streams. Used by every decoder's
//! table setup and by the encoders' writers; building good lengths from
//! counts is lengths.rs.

use super::CodecError;

/// What a validated table is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TableKind {
    /// Exactly one present symbol (length 1): 0 bits per symbol.
    Single(u8),
    /// A complete prefix code; the longest length.
    Code { max_len: u32 },
}

/// Validates a code-length table: lengths <= `max_len`, and either exactly
/// one present symbol with length 1 or a Kraft sum of exactly 1. Symbols
/// past `lengths.len()` count as absent (callers pass the part of a
/// table that may hold symbols). No branch per symbol. `max_len` <= 32.
pub(crate) fn validate(lengths: &[u8], max_len: u32) -> Result<TableKind, CodecError> {
    // A histogram of the lengths (one increment per symbol, four
    // histograms so that runs of equal lengths do not wait on each other),
    // then the sums over the at most 256 lengths.
    let mut count = [[0u16; 256]; 4];
    let mut quads = lengths.chunks_exact(4);
    for q in &mut quads {
        for (c, &l) in count.iter_mut().zip(q) {
            c[usize::from(l)] += 1;
        }
    }
    for &l in quads.remainder() {
        count[0][usize::from(l)] += 1;
    }
    let longest = u32::from(lengths.iter().copied().max().unwrap_or(0));
    if longest > max_len {
        let (symbol, length) = lengths
            .iter()
            .enumerate()
            .find(|&(_, &l)| u32::from(l) > max_len)
            .map_or((0, longest), |(s, &l)| (s, u32::from(l)));
        return Err(CodecError::CodeTooLong {
            symbol,
            length,
            max: max_len,
        });
    }
    let mut kraft: u64 = 0;
    let mut present = 0u32;
    // longest <= max_len; callers pass max_len <= 32.
    let top = (longest as usize).min(32);
    for (l, (((a, b), c), d)) in count[0]
        .iter()
        .zip(&count[1])
        .zip(&count[2])
        .zip(&count[3])
        .enumerate()
        .take(top + 1)
        .skip(1)
    {
        let c = u32::from(*a) + u32::from(*b) + u32::from(*c) + u32::from(*d);
        kraft += u64::from(c) << (32 - l);
        present += c;
    }
    classify(present, longest, kraft, lengths)
}

/// What `validate(lengths, 15)` gives for `lengths` whose histogram is
/// `count` (count[l]: symbols of length l; every length <= 15), without
/// another pass over the symbols but to find a single one: the same
/// kinds and the same errors (Kraft sum scaled by 2^32).
pub(crate) fn validate_counts(count: &[u32; 32], lengths: &[u8]) -> Result<TableKind, CodecError> {
    let mut kraft = 0u64;
    let mut present = 0u32;
    let mut longest = 0u32;
    for (l, &c) in count.iter().enumerate().take(16).skip(1) {
        kraft += u64::from(c) << (32 - l);
        present += c;
        if c > 0 {
            longest = l as u32;
        }
    }
    classify(present, longest, kraft, lengths)
}

/// Canonical codes (DEFLATE order) of a table whose lengths are <= 32,
/// bit-reversed so that writing them LSB-first emits the code MSB-first.
pub(crate) fn reversed_codes(lengths: &[u8; 256]) -> [u32; 256] {
    let mut out = [0u32; 256];
    reversed_codes_into(lengths, &mut out);
    out
}

/// `reversed_codes` of the first `lengths.len()` symbols (the others
/// absent) into `out[..lengths.len()]`; absent symbols get code 0.
///
/// The symbols are taken in four quarters side by side (a symbol's code
/// is the first code of its length plus the symbols of that length
/// before it), so runs of equal lengths make four short chains of
/// counter updates instead of one long one.
pub(crate) fn reversed_codes_into(lengths: &[u8], out: &mut [u32]) {
    // Every v2 table (codes <= 11 bits, CL codes <= 7, sequence codes
    // <= 9) takes the short instance: its work arrays are a quarter of
    // the size (they were most of the cost of a 26- or 64-symbol table).
    let n = lengths.len().min(out.len());
    let longest = lengths[..n].iter().fold(0u8, |m, &l| m.max(l));
    if n <= 64 && longest <= 15 {
        codes_small(&lengths[..n], &mut out[..n])
    } else if longest <= 15 {
        codes_by_quarters::<16, 15>(lengths, out)
    } else {
        codes_by_quarters::<64, 32>(lengths, out)
    }
}

/// Each byte value with its bits reversed.
const REV8: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = (i as u8).reverse_bits();
        i += 1;
    }
    t
};

/// The low `l` (0..=15) bits of `c` (< 2^15) reversed; 0 for l = 0. Two
/// byte lookups and shifts, no branch (a 32-bit `reverse_bits` is a
/// dozen instructions without a bit-reverse instruction).
#[inline(always)]
fn rev_code(c: u32, l: usize) -> u32 {
    let r = u32::from(REV8[(c & 0xFF) as usize]) << 8 | u32::from(REV8[((c >> 8) & 0xFF) as usize]);
    r >> (16 - (l & 15))
}

/// `reversed_codes_into` for a small alphabet (the CL code, the sequence
/// tables) with lengths <= 15: one pass, no quarters, no branch per
/// symbol (an absent symbol's code, 0, comes from the same shift).
#[inline(always)]
fn codes_small(lengths: &[u8], out: &mut [u32]) {
    let mut count = [0u32; 16];
    for &l in lengths {
        count[usize::from(l) & 15] += 1;
    }
    let mut next = [0u32; 16];
    let mut code = 0u32;
    for l in 1..16 {
        let below = if l == 1 { 0 } else { count[l - 1] };
        code = (code + below) << 1;
        next[l] = code;
    }
    for (o, &l) in out.iter_mut().zip(lengths) {
        let li = usize::from(l) & 15;
        *o = rev_code(next[li], li);
        next[li] += 1;
    }
}

/// `reversed_codes_into` for lengths <= MAXL (L a power of two above
/// MAXL: the counters' index is `length & (L - 1)`).
#[inline(always)]
fn codes_by_quarters<const L: usize, const MAXL: usize>(lengths: &[u8], out: &mut [u32]) {
    let n = lengths.len().min(out.len());
    let (lengths, out) = (&lengths[..n], &mut out[..n]);
    let q = n / 4;
    // count[j][l]: symbols of length l in quarter j (quarter 3 also takes
    // the n % 4 symbols past 4q).
    let mut count = [[0u32; L]; 4];
    for i in 0..q {
        for (j, c) in count.iter_mut().enumerate() {
            c[usize::from(lengths[j * q + i]) & (L - 1)] += 1;
        }
    }
    for &l in &lengths[4 * q..] {
        count[3][usize::from(l) & (L - 1)] += 1;
    }
    // next[j][l]: the code of quarter j's next symbol of length l
    // (next[j][0] collects the absent symbols and lengths over MAXL their
    // own junk, never read back: their code is 0).
    let mut next = [[0u64; L]; 4];
    let mut code = 0u64;
    for l in 1..=MAXL {
        let below = if l == 1 {
            0
        } else {
            count.iter().map(|c| u64::from(c[l - 1])).sum()
        };
        code = (code + below) << 1;
        let mut c = code;
        for j in 0..4 {
            next[j][l] = c;
            c += u64::from(count[j][l]);
        }
    }
    let code_of = |l: u8, c: u64| -> u32 {
        let l = u32::from(l);
        if l == 0 || l > MAXL as u32 {
            0
        } else {
            (c as u32).reverse_bits() >> (32 - l)
        }
    };
    for i in 0..q {
        for (j, nx) in next.iter_mut().enumerate() {
            let s = j * q + i;
            let l = lengths[s];
            let li = usize::from(l) & (L - 1);
            out[s] = code_of(l, nx[li]);
            nx[li] += 1;
        }
    }
    for s in 4 * q..n {
        let l = lengths[s];
        let li = usize::from(l) & (L - 1);
        out[s] = code_of(l, next[3][li]);
        next[3][li] += 1;
    }
}

/// The kind of a table with `present` symbols, the longest of `longest`
/// bits and Kraft sum `kraft` (scaled by 2^32), or its error; `lengths`
/// is searched only for a single symbol.
fn classify(
    present: u32,
    longest: u32,
    kraft: u64,
    lengths: &[u8],
) -> Result<TableKind, CodecError> {
    let single = || lengths.iter().position(|&l| l != 0).unwrap_or(0);
    match present {
        0 => Err(CodecError::NoSymbols),
        1 if longest == 1 => Ok(TableKind::Single(single() as u8)),
        1 => Err(CodecError::SingleLength {
            symbol: single(),
            length: longest,
        }),
        _ if kraft == 1u64 << 32 => Ok(TableKind::Code { max_len: longest }),
        _ => Err(CodecError::NotPrefixCode { kraft }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_rejects() {
        let mut l = [0u8; 256];
        assert_eq!(validate(&l, 32), Err(CodecError::NoSymbols));
        l[7] = 2;
        // One symbol, not length 1.
        assert_eq!(
            validate(&l, 32),
            Err(CodecError::SingleLength {
                symbol: 7,
                length: 2
            })
        );
        l[1] = 1;
        l[2] = 2;
        assert_eq!(validate(&l, 32), Ok(TableKind::Code { max_len: 2 }));
        l[3] = 2; // oversubscribed: 1/2 + 3/4
        assert_eq!(
            validate(&l, 32),
            Err(CodecError::NotPrefixCode { kraft: 5 << 30 })
        );
        let mut l = [0u8; 256];
        l[0] = 1;
        l[1] = 2;
        // Incomplete: 1/2 + 1/4.
        assert_eq!(
            validate(&l, 32),
            Err(CodecError::NotPrefixCode { kraft: 3 << 30 })
        );
        let mut l = [8u8; 256];
        assert_eq!(validate(&l, 11), Ok(TableKind::Code { max_len: 8 }));
        l[5] = 33;
        assert_eq!(
            validate(&l, 32),
            Err(CodecError::CodeTooLong {
                symbol: 5,
                length: 33,
                max: 32
            })
        );
        let mut l = [0u8; 256];
        l[0] = 1;
        l[1] = 12;
        assert_eq!(
            validate(&l, 11),
            Err(CodecError::CodeTooLong {
                symbol: 1,
                length: 12,
                max: 11
            })
        );
        // Symbols past the slice count as absent.
        let mut l = [0u8; 256];
        l[0] = 1;
        l[1] = 1;
        l[100] = 5;
        assert_eq!(validate(&l[..64], 11), Ok(TableKind::Code { max_len: 1 }));
        let mut one = [0u8; 256];
        one[42] = 1;
        assert_eq!(validate(&one, 11), Ok(TableKind::Single(42)));
    }

    /// The four-quarter assignment gives the codes of the plain one
    /// (symbol order within a length), for every table size 0..=256.
    #[test]
    fn reversed_codes_match_symbol_order() {
        let mut seed = 0x1234_5678_9ABC_DEF1u64;
        for n in 0..=256usize {
            for round in 0..4 {
                let lengths: Vec<u8> = (0..n)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        match round {
                            0 => (seed % 12) as u8,
                            1 => (seed % 3) as u8 * 5,
                            2 => 7,
                            _ => (seed % 40) as u8,
                        }
                    })
                    .collect();
                let mut want = vec![0u32; n];
                let mut code = 0u64;
                for l in 1..=32u8 {
                    for (s, &x) in lengths.iter().enumerate() {
                        if x == l {
                            want[s] = (code as u32).reverse_bits() >> (32 - u32::from(l));
                            code += 1;
                        }
                    }
                    code <<= 1;
                }
                let mut got = vec![0xFFFF_FFFFu32; n];
                reversed_codes_into(&lengths, &mut got);
                assert_eq!(got, want, "n {n} round {round}");
            }
        }
    }

    #[test]
    fn canonical_codes_rfc1951_example() {
        // RFC 1951 3.2.2: lengths (3,3,3,3,3,2,4,4) for A..H.
        let mut l = [0u8; 256];
        l[..8].copy_from_slice(&[3, 3, 3, 3, 3, 2, 4, 4]);
        let c = reversed_codes(&l);
        let want = [0b010u32, 0b011, 0b100, 0b101, 0b110, 0b00, 0b1110, 0b1111];
        for s in 0..8 {
            let len = l[s] as u32;
            assert_eq!(c[s].reverse_bits() >> (32 - len), want[s], "symbol {s}");
        }
    }

    /// `validate_counts` on a histogram says what `validate` says on the
    /// lengths: complete, incomplete, oversubscribed, single, empty.
    #[test]
    fn validate_counts_agrees_with_validate() {
        let mut seed = 0x5EED_1234_u64;
        for round in 0..3000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let mut l = [0u8; 256];
            let present = 1 + (seed % 40) as usize;
            let top = 1 + (seed >> 8) % 15;
            for k in 0..present {
                let x = seed.rotate_left(k as u32 * 7);
                l[(x >> 16) as usize & 255] = (1 + (x >> 40) % top) as u8;
            }
            if round % 3 == 0 {
                // A complete code: lengths from counts.
                let mut h = [0u32; 256];
                for (s, c) in h.iter_mut().enumerate().take(present * 3) {
                    *c = 1 + (seed.rotate_left(s as u32) % 1000) as u32;
                }
                l = crate::codec::code_lengths(&h, 11);
            }
            let mut count = [0u32; 32];
            for &x in &l {
                count[usize::from(x)] += 1;
            }
            assert_eq!(validate_counts(&count, &l), validate(&l, 15), "{l:?}");
        }
        let mut one = [0u8; 256];
        one[9] = 1;
        let mut count = [0u32; 32];
        count[1] = 1;
        assert_eq!(validate_counts(&count, &one), Ok(TableKind::Single(9)));
        assert_eq!(
            validate_counts(&[0; 32], &[0; 256]),
            Err(CodecError::NoSymbols)
        );
    }
}
