//! Bit I/O in the FORMAT.md section 1 order: bytes are filled from the
//! least significant bit up. Writers take codes already bit-reversed.
//!
//! `BitReader` keeps a 64-bit buffer refilled without a branch per bit:
//! while 8 bytes remain it loads a whole little-endian word and advances by
//! the number of whole bytes that fit; near the end of its input it feeds
//! zero bytes past the end and remembers how far it went, so a stream that
//! runs out is detected (`overrun`) instead of read out of bounds.

/// Appends bits to a `Vec<u8>` (small, general-purpose: code-length tables).
pub(crate) struct BitWriter<'a> {
    out: &'a mut Vec<u8>,
    acc: u64,
    n: u32,
}

impl<'a> BitWriter<'a> {
    pub(crate) fn new(out: &'a mut Vec<u8>) -> Self {
        BitWriter { out, acc: 0, n: 0 }
    }

    /// Writes the low `n` bits of `bits` (n <= 32; higher bits must be 0).
    #[inline]
    pub(crate) fn put(&mut self, bits: u32, n: u32) {
        debug_assert!(n <= 32 && (n == 32 || bits >> n == 0));
        self.acc |= u64::from(bits) << self.n;
        self.n += n;
        while self.n >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }

    /// Pads the last byte with zero bits.
    pub(crate) fn finish(self) {
        if self.n > 0 {
            self.out.push(self.acc as u8);
        }
    }
}

/// Reads an LSB-first bit stream from a byte slice.
#[derive(Clone)]
pub(crate) struct BitReader<'a> {
    data: &'a [u8],
    /// Next byte to load; may pass `data.len()` (zeros are fed past the end).
    pos: usize,
    buf: u64,
    /// Valid bits in `buf`.
    cnt: u32,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        BitReader {
            data,
            pos: 0,
            buf: 0,
            cnt: 0,
        }
    }

    /// True while `refill_fast` may be used.
    #[inline(always)]
    pub(crate) fn can_refill_fast(&self) -> bool {
        self.pos + 8 <= self.data.len()
    }

    /// Tops the buffer up to at least 56 bits; needs `can_refill_fast`.
    #[inline(always)]
    pub(crate) fn refill_fast(&mut self) {
        let w = match self.data.get(self.pos..self.pos + 8) {
            Some(s) => u64::from_le_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]]),
            None => 0, // unreachable when the caller checked can_refill_fast
        };
        self.buf |= w << self.cnt;
        self.pos += ((63 - self.cnt) >> 3) as usize;
        self.cnt |= 56;
    }

    /// Tops the buffer up to at least 56 bits anywhere in the stream.
    #[inline]
    pub(crate) fn refill(&mut self) {
        if self.can_refill_fast() {
            self.refill_fast();
        } else {
            while self.cnt <= 56 {
                let b = self.data.get(self.pos).copied().unwrap_or(0);
                self.buf |= u64::from(b) << self.cnt;
                self.pos += 1;
                self.cnt += 8;
            }
        }
    }

    /// The next 64 bits, as available (refill first).
    #[inline(always)]
    pub(crate) fn peek(&self) -> u64 {
        self.buf
    }

    /// Drops `n` bits (n <= bits in the buffer).
    #[inline(always)]
    pub(crate) fn consume(&mut self, n: u32) {
        self.buf >>= n;
        self.cnt -= n;
    }

    /// Bits in the buffer.
    #[inline(always)]
    pub(crate) fn available(&self) -> u32 {
        self.cnt
    }

    /// Bits consumed so far (counting any zero bits read past the end).
    pub(crate) fn consumed_bits(&self) -> u64 {
        self.pos as u64 * 8 - u64::from(self.cnt)
    }

    /// True if more bits were consumed than the input holds.
    pub(crate) fn overrun(&self) -> bool {
        self.consumed_bits() > self.data.len() as u64 * 8
    }

    /// Reads `n` bits (n <= 32), for small structures such as tables.
    pub(crate) fn read(&mut self, n: u32) -> u32 {
        if self.cnt < n {
            self.refill();
        }
        let v = (self.buf & ((1u64 << n) - 1)) as u32;
        self.consume(n);
        v
    }

    /// Bytes of input the consumed bits occupy (whole bytes, rounded up).
    pub(crate) fn consumed_bytes(&self) -> usize {
        self.consumed_bits().div_ceil(8) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_read_roundtrip() {
        let mut v = Vec::new();
        let mut w = BitWriter::new(&mut v);
        let items: Vec<(u32, u32)> = (0..500u32)
            .map(|i| {
                let n = i % 33;
                let bits = if n == 0 {
                    0
                } else {
                    (i.wrapping_mul(2654435761)) >> (32 - n)
                };
                (bits, n)
            })
            .collect();
        for &(b, n) in &items {
            w.put(b, n);
        }
        w.finish();
        let total: u64 = items.iter().map(|x| x.1 as u64).sum();
        assert_eq!(v.len() as u64, total.div_ceil(8));
        let mut r = BitReader::new(&v);
        for &(b, n) in &items {
            assert_eq!(r.read(n), b);
        }
        assert!(!r.overrun());
        assert_eq!(r.consumed_bytes(), v.len());
        r.read(9);
        assert!(r.overrun());
    }

    #[test]
    fn lsb_first_order() {
        let mut v = Vec::new();
        let mut w = BitWriter::new(&mut v);
        w.put(1, 1);
        w.put(0b10, 2);
        w.finish();
        assert_eq!(v, vec![0b101]);
    }
}
