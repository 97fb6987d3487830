//! Huffman bit streams: the v1 single stream (`encode_stream`,
//! `decode_stream`, codes up to 32 bits) and the fast kernels shared with
//! v2 blocks (codes up to 11 bits, four interleaved streams).
//!
//! Decoding uses a 2048-entry table indexed by the next 11 bits; each entry
//! holds `symbol << 4 | length`. Codes longer than 11 bits (v1 only) have
//! entries of length 0 that send the decoder to a canonical bit-by-bit slow
//! path (`LongCodes`), correct for any valid code up to 32 bits.

use super::bits::BitReader;
use super::canonical::{reversed_codes, validate, TableKind};
use super::interleave::{decode1_pairs, pairs_pay, PairTable};
use super::{CodecError, MAX_CODE_LEN, MAX_DECODE_LEN};

/// Bits the fast table is indexed by.
pub(crate) const TABLE_BITS: u32 = 11;
const TABLE_SIZE: usize = 1 << TABLE_BITS;
const TABLE_MASK: u64 = TABLE_SIZE as u64 - 1;

/// Encoder table: `reversed code << 8 | length` per symbol.
pub(crate) struct EncTable(pub(crate) [u64; 256]);

impl EncTable {
    pub(crate) fn new(lengths: &[u8; 256]) -> EncTable {
        let codes = reversed_codes(lengths);
        let mut t = [0u64; 256];
        for s in 0..256 {
            t[s] = (u64::from(codes[s]) << 8) | u64::from(lengths[s]);
        }
        EncTable(t)
    }
}

/// Encodes `data` into `out`, which must have room for the coded bytes plus
/// 8 bytes of slack; returns the number of coded bytes (padded to a byte).
/// `SYMS` symbols are buffered per flush: 4 is safe for codes <= 14 bits
/// (4 * 14 + 7 <= 64), 1 for codes up to 32 bits.
#[inline]
pub(crate) fn encode_into<const SYMS: usize>(data: &[u8], t: &EncTable, out: &mut [u8]) -> usize {
    let mut acc: u64 = 0;
    let mut n: u32 = 0;
    let mut pos = 0usize;
    let mut chunks = data.chunks_exact(SYMS);
    for c in &mut chunks {
        for &b in c {
            let e = t.0[b as usize];
            acc |= (e >> 8) << n;
            n += (e & 0xFF) as u32;
        }
        if let Some(dst) = out.get_mut(pos..pos + 8) {
            dst.copy_from_slice(&acc.to_le_bytes());
        }
        pos += (n >> 3) as usize;
        acc = if n >= 64 { 0 } else { acc >> (n & !7) };
        n &= 7;
    }
    for &b in chunks.remainder() {
        let e = t.0[b as usize];
        acc |= (e >> 8) << n;
        n += (e & 0xFF) as u32;
        if let Some(dst) = out.get_mut(pos..pos + 8) {
            dst.copy_from_slice(&acc.to_le_bytes());
        }
        pos += (n >> 3) as usize;
        acc >>= n & !7;
        n &= 7;
    }
    if n > 0 {
        if let Some(d) = out.get_mut(pos) {
            *d = acc as u8;
        }
        pos += 1;
    }
    pos
}

/// Single-stream coding (the v1 bit stream): appends the stream, padded to
/// a whole byte, to `out`. Every byte of `data` must have a nonzero length
/// in `lengths` (lengths up to 32); a one-symbol table writes nothing.
pub fn encode_stream(data: &[u8], lengths: &[u8; 256], out: &mut Vec<u8>) {
    if lengths.iter().filter(|&&l| l > 0).count() <= 1 {
        return;
    }
    let max = u64::from(*lengths.iter().max().unwrap_or(&0));
    let bound = (data.len() as u64 * max).div_ceil(8) as usize;
    let start = out.len();
    out.resize(start + bound + 8, 0);
    let t = EncTable::new(lengths);
    let written = if max <= 14 {
        encode_into::<4>(data, &t, &mut out[start..])
    } else {
        encode_into::<1>(data, &t, &mut out[start..])
    };
    out.truncate(start + written);
}

/// The fast decoding table (see the module comment).
pub(crate) struct DecTable {
    /// `symbol << 4 | code length` of the code at each index.
    entries: [u16; TABLE_SIZE],
}

impl DecTable {
    /// Builds the table of a validated complete code (lengths <= 32).
    pub(crate) fn new(lengths: &[u8; 256]) -> DecTable {
        let mut t = [0u16; TABLE_SIZE];
        let codes = reversed_codes(lengths);
        for s in 0..256 {
            let l = u32::from(lengths[s]);
            if l == 0 || l > TABLE_BITS {
                continue; // long codes keep entry 0 (slow path)
            }
            let e = ((s as u16) << 4) | l as u16;
            let mut i = codes[s] as usize;
            while i < TABLE_SIZE {
                t[i] = e;
                i += 1 << l;
            }
        }
        DecTable { entries: t }
    }

    #[inline(always)]
    pub(crate) fn get(&self, bits: u64) -> u16 {
        self.entries[(bits & TABLE_MASK) as usize]
    }
}

/// Canonical decoding of codes of any length (puff-style), for the
/// entries the fast table marks as long.
struct LongCodes {
    count: [u16; 33],
    sorted: [u8; 256],
}

impl LongCodes {
    fn new(lengths: &[u8; 256]) -> LongCodes {
        let mut count = [0u16; 33];
        for &l in lengths.iter() {
            if (1..=32).contains(&l) {
                count[l as usize] += 1;
            }
        }
        let mut offs = [0u16; 34];
        for l in 1..=32 {
            offs[l + 1] = offs[l] + count[l];
        }
        let mut sorted = [0u8; 256];
        for (s, &l) in lengths.iter().enumerate() {
            if (1..=32).contains(&l) {
                sorted[offs[l as usize] as usize] = s as u8;
                offs[l as usize] += 1;
            }
        }
        LongCodes { count, sorted }
    }

    /// Decodes one symbol from `bits` (the next 32+ bits, LSB = first);
    /// returns (symbol, length).
    fn decode(&self, bits: u64) -> Option<(u8, u32)> {
        let (mut code, mut first, mut index) = (0i64, 0i64, 0i64);
        for len in 1..=32u32 {
            code |= ((bits >> (len - 1)) & 1) as i64;
            let count = i64::from(self.count[len as usize]);
            if code - first < count {
                return self
                    .sorted
                    .get((index + code - first) as usize)
                    .map(|&s| (s, len));
            }
            index += count;
            first = (first + count) << 1;
            code <<= 1;
        }
        None
    }
}

/// Decodes symbols into `out` with codes <= 11 bits (no long entries),
/// five per refill while the input allows it. Checks for overrun at the end
/// only (the caller checks `r.overrun()`).
#[inline]
pub(crate) fn decode_short(t: &DecTable, r: &mut BitReader<'_>, out: &mut [u8]) {
    let mut chunks = out.chunks_exact_mut(5);
    for c in &mut chunks {
        r.refill();
        for o in c.iter_mut() {
            let e = t.get(r.peek());
            *o = (e >> 4) as u8;
            r.consume(u32::from(e & 15));
        }
    }
    for o in chunks.into_remainder() {
        r.refill();
        let e = t.get(r.peek());
        *o = (e >> 4) as u8;
        r.consume(u32::from(e & 15));
    }
}

/// Validates `lengths` (up to 32 bits) and decodes exactly `out.len()`
/// symbols from `input`; error on an invalid table or a stream that runs
/// out. Bits after the last symbol are padding and are ignored.
pub fn decode_stream(lengths: &[u8; 256], input: &[u8], out: &mut [u8]) -> Result<(), CodecError> {
    let max_len = match validate(lengths, MAX_DECODE_LEN)? {
        TableKind::Single(s) => {
            out.fill(s);
            return Ok(());
        }
        TableKind::Code { max_len } => max_len,
    };
    let t = DecTable::new(lengths);
    let mut r = BitReader::new(input);
    if max_len <= MAX_CODE_LEN {
        let done = if pairs_pay(lengths, out.len()) {
            decode1_pairs(&PairTable::new(&t), &mut r, out)
        } else {
            0
        };
        decode_short(&t, &mut r, out.get_mut(done..).unwrap_or_default());
    } else {
        let long = LongCodes::new(lengths);
        for (i, o) in out.iter_mut().enumerate() {
            if r.available() < 32 {
                r.refill();
                if r.overrun() {
                    break;
                }
            }
            let bits = r.peek();
            let e = t.get(bits);
            if e & 15 != 0 {
                *o = (e >> 4) as u8;
                r.consume(u32::from(e & 15));
            } else {
                let (s, l) = long
                    .decode(bits)
                    .ok_or(CodecError::InvalidCode { symbol: i })?;
                *o = s;
                r.consume(l);
            }
        }
    }
    if r.overrun() {
        return Err(CodecError::StreamTooShort {
            bytes: input.len(),
            symbols: out.len(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{code_lengths, histogram};
    use super::*;

    fn roundtrip(data: &[u8], cap: u32) {
        let lens = code_lengths(&histogram(data), cap);
        let mut enc = Vec::new();
        encode_stream(data, &lens, &mut enc);
        let bits = super::super::coded_bits(&histogram(data), &lens);
        assert_eq!(enc.len() as u64, bits.div_ceil(8));
        let mut dec = vec![0u8; data.len()];
        if data.is_empty() {
            return;
        }
        decode_stream(&lens, &enc, &mut dec).unwrap();
        assert_eq!(dec, data);
        if !enc.is_empty() && bits % 8 == 0 {
            // One byte short must be an error.
            let r = decode_stream(&lens, &enc[..enc.len() - 1], &mut dec);
            assert!(r.is_err());
        }
    }

    #[test]
    fn roundtrips() {
        roundtrip(b"hello world, hello huffman", 11);
        roundtrip(&[7u8; 100], 11);
        let all: Vec<u8> = (0..=255u8).cycle().take(5000).collect();
        roundtrip(&all, 11);
    }

    #[test]
    fn pair_path_roundtrip() {
        // Long and short on average: the two-symbol fast path runs.
        let text = b"it was the best of times, it was the worst of times; ".repeat(800);
        let lens = code_lengths(&histogram(&text), 11);
        assert!(super::super::interleave::pairs_pay(&lens, text.len()));
        roundtrip(&text, 11);
        let mut enc = Vec::new();
        encode_stream(&text, &lens, &mut enc);
        let mut dec = vec![0u8; text.len()];
        assert!(decode_stream(&lens, &enc[..enc.len() - 2], &mut dec).is_err());
    }

    #[test]
    fn long_codes_roundtrip() {
        // Fibonacci-like counts give codes far beyond 11 bits when uncapped.
        let mut data = Vec::new();
        let (mut a, mut b) = (1usize, 1usize);
        for s in 0..26u8 {
            data.extend(std::iter::repeat_n(s, a));
            let t = a + b;
            a = b;
            b = t;
        }
        // Interleave so that long codes meet short ones.
        let mut mixed = Vec::with_capacity(data.len());
        let (x, y) = data.split_at(data.len() / 2);
        for i in 0..x.len().max(y.len()) {
            if let Some(&v) = y.get(i) {
                mixed.push(v);
            }
            if let Some(&v) = x.get(i) {
                mixed.push(v);
            }
        }
        let lens = code_lengths(&histogram(&mixed), 32);
        assert!(*lens.iter().max().unwrap() > 20);
        roundtrip(&mixed, 32);
        roundtrip(&mixed, 16);
        roundtrip(&mixed, 11);
    }

    #[test]
    fn running_out_is_an_error() {
        let data = b"abcabcabcabcabcdddd".repeat(10);
        let lens = code_lengths(&histogram(&data), 11);
        let mut enc = Vec::new();
        encode_stream(&data, &lens, &mut enc);
        let mut dec = vec![0u8; data.len() + 50];
        assert!(decode_stream(&lens, &enc, &mut dec).is_err());
        assert!(decode_stream(&lens, &[], &mut dec).is_err());
    }

    #[test]
    fn invalid_tables_rejected() {
        let mut lens = [0u8; 256];
        lens[1] = 1;
        lens[2] = 1;
        lens[3] = 1;
        let mut out = [0u8; 4];
        assert!(decode_stream(&lens, &[0xFF; 8], &mut out).is_err());
        let lens = [0u8; 256];
        assert!(decode_stream(&lens, &[0xFF; 8], &mut out).is_err());
    }
}
