//! Small helpers shared by the match finders: unaligned little-endian
//! loads, hashing and forward/backward match extension.

/// Farthest offset a match may use (FORMAT.md 5.2: offsets < 2^20).
pub(crate) const MAX_OFFSET: usize = (1 << 20) - 1;

#[inline(always)]
pub(crate) fn read32(d: &[u8], i: usize) -> u32 {
    let s: &[u8; 4] = d[i..i + 4].try_into().unwrap_or(&[0; 4]);
    u32::from_le_bytes(*s)
}

/// `read32(d, i)` without the bounds check.
///
/// # Safety
/// `i + 4 <= d.len()`.
#[inline(always)]
pub(crate) unsafe fn read32_unchecked(d: &[u8], i: usize) -> u32 {
    debug_assert!(i + 4 <= d.len());
    // SAFETY: the caller guarantees d[i..i + 4] is inside `d`;
    // read_unaligned needs no alignment.
    u32::from_le(unsafe { std::ptr::read_unaligned(d.as_ptr().add(i) as *const u32) })
}

/// The 8 bytes at `d[i..]`, little-endian, without a bounds check.
///
/// # Safety
/// `i + 8 <= d.len()`.
#[inline(always)]
pub(crate) unsafe fn read64_unchecked(d: &[u8], i: usize) -> u64 {
    debug_assert!(i + 8 <= d.len());
    // SAFETY: the caller guarantees d[i..i + 8] is inside `d`;
    // read_unaligned needs no alignment.
    u64::from_le(unsafe { std::ptr::read_unaligned(d.as_ptr().add(i) as *const u64) })
}

/// Hash of the `MLS` (4..=8) low bytes of `v` into `bits` bits.
#[inline(always)]
pub(crate) fn hash<const MLS: u32>(v: u64, bits: u32) -> usize {
    const PRIME: u64 = 0xCF1B_BCDC_BB00_0000 | 0x9E37_79B1;
    ((v << (64 - 8 * MLS)).wrapping_mul(PRIME) >> (64 - bits)) as usize
}

/// Length of the common prefix of `d[a..]` and `d[b..]` (a < b; 0
/// otherwise), at most `d.len() - b`.
#[inline(always)]
pub(crate) fn match_len(d: &[u8], a: usize, b: usize) -> usize {
    let n = d.len();
    if a >= b {
        return 0;
    }
    let mut l = 0;
    while b + l + 8 <= n {
        // SAFETY: a < b and b + l + 8 <= n, so both 8-byte reads are
        // inside `d`.
        let x = unsafe { read64_unchecked(d, a + l) ^ read64_unchecked(d, b + l) };
        if x != 0 {
            return l + (x.trailing_zeros() / 8) as usize;
        }
        l += 8;
    }
    while b + l < n && d[a + l] == d[b + l] {
        l += 1;
    }
    l
}

/// How far a match of `d[a..]` at `d[b..]` extends backwards, at most
/// `max` bytes (a < b <= d.len(); 0 otherwise).
#[inline(always)]
pub(crate) fn back_len(d: &[u8], a: usize, b: usize, max: usize) -> usize {
    if a >= b || b > d.len() {
        return 0;
    }
    let max = max.min(a);
    let mut l = 0;
    // SAFETY: l < max <= a < b <= d.len(), so a - l - 1 and b - l - 1
    // are inside `d`.
    while l < max && unsafe { d.get_unchecked(a - l - 1) == d.get_unchecked(b - l - 1) } {
        l += 1;
    }
    l
}

/// floor(log2 v) for v >= 1.
#[inline(always)]
pub(crate) fn highbit(v: u32) -> i32 {
    31 - v.leading_zeros() as i32
}
