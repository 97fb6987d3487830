//! The one pseudo-random generator of the tests: xorshift64 (Marsaglia's
//! shifts 13, 7, 17), deterministic from its seed, so a failing case can
//! be replayed. The same file serves the benches and the library's unit
//! tests (`crate::testrng`), both including it by path.

/// One step of xorshift64 (a nonzero state stays nonzero).
pub fn xorshift(mut x: u64) -> u64 {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}

/// A stream of [`xorshift`] values from any seed (0 included: the seed is
/// spread by the golden ratio and made odd, so the state is never 0).
#[derive(Clone, Debug)]
pub struct Rng(pub u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next value.
    pub fn u64(&mut self) -> u64 {
        self.0 = xorshift(self.0);
        self.0
    }

    /// A value in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.u64() % n
        }
    }

    /// `len` bytes, each `f` of the next value.
    pub fn bytes(&mut self, len: usize, f: impl Fn(u64) -> u8) -> Vec<u8> {
        (0..len).map(|_| f(self.u64())).collect()
    }
}

/// `len` incompressible bytes from `seed`.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    Rng::new(seed).bytes(len, |x| x as u8)
}
