//! The one pseudo-random generator of the tests: xorshift64 (Marsaglia's
//! shifts 13, 7, 17), deterministic from its seed, so a failing case can
//! be replayed.

/// One step of xorshift64 (a nonzero state stays nonzero).
pub fn xorshift(mut x: u64) -> u64 {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}
