//! The constants and symbol alphabets of the v2 LZ block payload
//! (docs/FORMAT.md section 5.2): how literal lengths, match lengths and
//! offsets map to Huffman-coded symbols plus extra bits, both ways.

/// Shortest match the format can express.
pub(crate) const MIN_MATCH: usize = 3;
/// Symbols of the literal-length and match-length alphabets.
pub(crate) const LEN_SYMS: usize = 48;
/// Symbols of the offset alphabet (3 repeat codes + 39 offset buckets).
pub(crate) const OF_SYMS: usize = 42;
/// Repeat offsets at the start of every block.
pub(crate) const REP_INIT: [u32; 3] = [1, 4, 8];
/// Longest Huffman code of the sequence tables.
pub(crate) const SEQ_MAX_CODE: u32 = 9;
/// Literal modes (`lmode`).
pub(crate) const LMODE_RAW: u8 = 0;
pub(crate) const LMODE_HUFFMAN: u8 = 1;
pub(crate) const LMODE_FILL: u8 = 2;

/// floor(log2 v) for v >= 1.
#[inline(always)]
fn log2(v: u32) -> u32 {
    31 - v.leading_zeros()
}

/// Symbol, extra-bit count and extra-bit value of a length value
/// (LL, or ML - 3), v < 2^20.
#[inline(always)]
pub(crate) fn len_code(v: u32) -> (u8, u32, u32) {
    debug_assert!(v < 1 << 20);
    if v < 16 {
        return (v as u8, 0, 0);
    }
    let k = log2(v);
    let h = (v >> (k - 1)) & 1;
    let sym = 16 + 2 * (k - 4) + h;
    (sym as u8, k - 1, v & ((1 << (k - 1)) - 1))
}

/// Symbol, extra-bit count and extra-bit value of a new offset
/// (1..2^20): the offset bucket b plus 2.
#[inline(always)]
pub(crate) fn offset_code(o: u32) -> (u8, u32, u32) {
    debug_assert!((1..1 << 20).contains(&o));
    if o < 4 {
        return (o as u8 + 2, 0, 0);
    }
    let k = log2(o);
    let h = (o >> (k - 1)) & 1;
    let b = 4 + 2 * (k - 2) + h;
    ((b + 2) as u8, k - 1, o & ((1 << (k - 1)) - 1))
}

/// Base value and extra-bit count of length symbol `s` (< LEN_SYMS).
pub(crate) const fn len_base(s: usize) -> (u32, u32) {
    if s < 16 {
        return (s as u32, 0);
    }
    let k = (s as u32 - 16) / 2 + 4;
    let h = (s as u32 - 16) & 1;
    ((2 + h) << (k - 1), k - 1)
}

/// Base offset and extra-bit count of offset symbol `s` in 3..OF_SYMS.
pub(crate) const fn offset_base(s: usize) -> (u32, u32) {
    let b = s as u32 - 2;
    if b < 4 {
        return (b, 0);
    }
    let k = (b - 4) / 2 + 2;
    let h = (b - 4) & 1;
    ((2 + h) << (k - 1), k - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_codes_cover_every_value_once() {
        let mut next = 0u32;
        for s in 0..LEN_SYMS {
            let (base, extra) = len_base(s);
            assert_eq!(base, next, "symbol {s}");
            next = base + (1 << extra);
        }
        assert_eq!(next, 1 << 20);
        for v in (0..1u32 << 20)
            .step_by(97)
            .chain([0, 15, 16, 17, 31, 32, (1 << 20) - 1])
        {
            let (s, n, e) = len_code(v);
            let (base, extra) = len_base(s as usize);
            assert_eq!((n, base + e), (extra, v), "value {v}");
            assert!(e < 1 << n || n == 0 && e == 0);
        }
    }

    #[test]
    fn offset_codes_cover_every_offset_once() {
        let mut next = 1u32;
        for s in 3..OF_SYMS {
            let (base, extra) = offset_base(s);
            assert_eq!(base, next, "symbol {s}");
            next = base + (1 << extra);
        }
        assert_eq!(next, 1 << 20);
        for o in (1..1u32 << 20)
            .step_by(89)
            .chain([1, 2, 3, 4, 5, 6, 7, 8, (1 << 20) - 1])
        {
            let (s, n, e) = offset_code(o);
            assert!((3..OF_SYMS as u8).contains(&s));
            let (base, extra) = offset_base(s as usize);
            assert_eq!((n, base + e), (extra, o), "offset {o}");
        }
    }
}
