//! The four-stream encoder of v2 segments (codes <= 11 bits): the four
//! quarters of a segment are coded in one loop, so the CPU runs four
//! independent dependency chains.
//!
//! Each stream keeps a 64-bit container whose valid bits sit at the top:
//! a symbol's entry is `reversed code << (64 - len) | len`, and adding it
//! is `c = (c >> len) | entry; nb += len` (the shift count is the entry's
//! low byte, so no field needs extracting). The low bits of the container
//! collect junk (the `len` fields) below the valid region, which is never
//! read while `nb <= 60`. Every four symbols (at most 7 + 4 * 11 = 51
//! bits) the valid bits are shifted down and stored as one little-endian
//! word, which is exactly the section-1 LSB-first bit order.

use super::interleave::{quarter, STREAMS};
use super::stream::EncTable;

/// Per-symbol entries of the top-aligned container (see the module doc).
pub(crate) struct Enc4Table([u64; 256]);

impl Enc4Table {
    /// From the `reversed code << 8 | length` table (lengths <= 11).
    pub(crate) fn new(t: &EncTable) -> Enc4Table {
        let mut o = [0u64; 256];
        for (x, &e) in o.iter_mut().zip(t.0.iter()) {
            let len = e & 0xFF;
            *x = if len == 0 || len > 11 {
                0 // absent symbol (never coded)
            } else {
                ((e >> 8) << (64 - len)) | len
            };
        }
        Enc4Table(o)
    }
}

/// One stream's state: the container, its valid bits, the output position.
#[derive(Clone, Copy)]
struct Enc {
    c: u64,
    nb: u32,
    pos: usize,
}

impl Enc {
    const NEW: Enc = Enc {
        c: 0,
        nb: 0,
        pos: 0,
    };

    #[inline(always)]
    fn put(&mut self, e: u64) {
        self.c = (self.c >> (e as u32 & 63)) | e;
        self.nb += e as u32; // the low 32 bits of an entry are its length
    }

    /// Stores the valid bits (8 bytes written, `nb / 8` kept).
    #[inline(always)]
    fn flush(&mut self, out: &mut [u8]) {
        // nb >= 1 here except in a tail flush with nothing put, where the
        // word stored is junk that the next store or the end overwrites or
        // leaves outside the stream.
        let w = self.c >> (self.nb.wrapping_neg() & 63);
        if let Some(d) = out.get_mut(self.pos..self.pos + 8) {
            d.copy_from_slice(&w.to_le_bytes());
        }
        self.pos += (self.nb >> 3) as usize;
        self.nb &= 7;
    }

    /// Writes the last partial byte (zero padded); returns the length.
    fn finish(mut self, out: &mut [u8]) -> usize {
        if self.nb > 0 {
            let w = self.c >> (64 - self.nb);
            if let Some(d) = out.get_mut(self.pos) {
                *d = w as u8;
            }
            self.pos += 1;
        }
        self.pos
    }
}

/// Upper bound of one quarter's coded bytes plus slack.
pub(crate) fn region_cap(seg_len: usize) -> usize {
    (seg_len.div_ceil(STREAMS) * 11).div_ceil(8) + 8
}

/// Codes the four quarters of `seg` (every byte must have a code of at
/// most 11 bits in `t`) into `scratch`, grown to four regions of
/// `region_cap` bytes; stream k starts at k * cap. Returns the stream byte
/// lengths.
pub(crate) fn encode4(seg: &[u8], t: &EncTable, scratch: &mut Vec<u8>) -> [usize; STREAMS] {
    let n = seg.len();
    let cap = region_cap(n);
    if scratch.len() < STREAMS * cap {
        scratch.resize(STREAMS * cap, 0);
    }
    let tt = Enc4Table::new(t);
    let (r01, r23) = scratch.split_at_mut(2 * cap);
    let (r0, r1) = r01.split_at_mut(cap);
    let (r2, r3) = r23.split_at_mut(cap);
    let q: [&[u8]; STREAMS] = std::array::from_fn(|k| {
        let (a, b) = quarter(n, k);
        &seg[a..b]
    });
    let (s0, s1) = encode2(q[0], q[1], &tt.0, r0, r1);
    let (s2, s3) = encode2(q[2], q[3], &tt.0, r2, &mut r3[..cap]);
    [s0, s1, s2, s3]
}

/// Codes `a` into `ra` and `b` into `rb`.
#[inline(always)]
fn encode2(a: &[u8], b: &[u8], tt: &[u64; 256], ra: &mut [u8], rb: &mut [u8]) -> (usize, usize) {
    let mut ea = Enc::NEW;
    let mut eb = Enc::NEW;
    let common = b.len().min(a.len()) / 4 * 4;
    for (ca, cb) in a[..common].chunks_exact(4).zip(b[..common].chunks_exact(4)) {
        for j in 0..4 {
            ea.put(tt[ca[j] as usize]);
            eb.put(tt[cb[j] as usize]);
        }
        ea.flush(ra);
        eb.flush(rb);
    }
    (
        tail(ea, &a[common..], tt, ra),
        tail(eb, &b[common..], tt, rb),
    )
}

/// Codes the rest of one stream and finishes it.
fn tail(mut e: Enc, rest: &[u8], tt: &[u64; 256], out: &mut [u8]) -> usize {
    for c in rest.chunks(4) {
        for &x in c {
            e.put(tt[x as usize]);
        }
        e.flush(out);
    }
    e.finish(out)
}

#[cfg(test)]
mod tests {
    use super::super::bits::BitWriter;
    use super::super::lengths::{code_lengths, histogram};
    use super::*;

    /// The reference: one general bit writer per quarter.
    fn reference(seg: &[u8], t: &EncTable) -> [Vec<u8>; STREAMS] {
        std::array::from_fn(|k| {
            let (a, b) = quarter(seg.len(), k);
            let mut v = Vec::new();
            let mut w = BitWriter::new(&mut v);
            for &x in &seg[a..b] {
                let e = t.0[x as usize];
                w.put((e >> 8) as u32, (e & 0xFF) as u32);
            }
            w.finish();
            v
        })
    }

    #[test]
    fn matches_bit_writer() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        for len in [
            1usize, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 100, 1001, 4096, 70_001,
        ] {
            for shape in 0..4u32 {
                let data: Vec<u8> = (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        match shape {
                            0 => seed as u8,
                            1 => (seed as u32).trailing_zeros() as u8,
                            2 => (seed % 3) as u8,
                            _ => seed.leading_zeros() as u8 * 7,
                        }
                    })
                    .collect();
                let mut h = histogram(&data);
                // A rare extra symbol (not in the data) forces long codes.
                h[255] += 1;
                let lengths = code_lengths(&h, 11);
                let t = EncTable::new(&lengths);
                let mut scratch = vec![0xA5u8; 3];
                let sizes = encode4(&data, &t, &mut scratch);
                let cap = region_cap(len);
                let want = reference(&data, &t);
                for k in 0..STREAMS {
                    assert_eq!(
                        &scratch[k * cap..k * cap + sizes[k]],
                        &want[k][..],
                        "len {len} shape {shape} stream {k}"
                    );
                }
            }
        }
    }
}
