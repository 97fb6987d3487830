//! The four-stream encoder of v2 segments (codes <= 11 bits): the four
//! quarters of a segment are coded two at a time, so the CPU runs
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

/// Symbols per flush: 7 left-over bits + 4 codes of <= 11 bits leave
/// the 4 junk bits (see `Enc4Table`) below the valid ones.
const SYMS: usize = 4;

/// Per-symbol entries `reversed code << (64 - len) | len` (0 for absent
/// symbols): the shift by an entry uses its low 6 bits, the length, and the
/// length is also what the entry adds to `nb`; the length bits it leaves in
/// the container are junk below the valid bits while `nb <= 60`.
pub(crate) struct Enc4Table([u64; 256]);

impl Enc4Table {
    /// From the `reversed code << 8 | length` table (lengths <= 11).
    pub(crate) fn new(t: &EncTable) -> Enc4Table {
        let mut o = [0u64; 256];
        for (x, &e) in o.iter_mut().zip(t.0.iter()) {
            let len = e & 0xFF;
            if (1..=11).contains(&len) {
                *x = ((e >> 8) << (64 - len)) | len;
            }
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
    fn put(&mut self, t: &Enc4Table, x: u8) {
        let e = t.0[x as usize];
        self.c = (self.c >> (e & 63)) | e;
        self.nb += e as u32; // the low 32 bits of an entry are its length
    }

    /// Stores the valid bits (8 bytes written, `nb / 8` kept). `lim` is
    /// `out.len() - 8`: the store goes to `min(pos, lim)`, which is `pos`
    /// (see `region_cap`) but lets the compiler drop the bounds checks.
    #[inline(always)]
    fn flush(&mut self, out: &mut [u8], lim: usize) {
        // nb >= 1 here except in a tail flush with nothing put, where the
        // word stored is junk that the next store or the end overwrites or
        // leaves outside the stream.
        let w = self.c >> (self.nb.wrapping_neg() & 63);
        let p = self.pos.min(lim);
        if let Some(d) = out.get_mut(p..p + 8) {
            d.copy_from_slice(&w.to_le_bytes());
        }
        self.pos += (self.nb >> 3) as usize;
        self.nb &= 7;
    }

    /// Codes `rest` (normally the few symbols after the main loop) with
    /// bounds-checked stores, and writes the last partial byte (zero
    /// padded); returns the stream length.
    fn finish(mut self, t: &Enc4Table, rest: &[u8], out: &mut [u8]) -> usize {
        for c in rest.chunks(SYMS) {
            for &x in c {
                self.put(t, x);
            }
            if let Some(d) = out.get_mut(self.pos..self.pos + 8) {
                d.copy_from_slice(&(self.c >> (self.nb.wrapping_neg() & 63)).to_le_bytes());
            }
            self.pos += (self.nb >> 3) as usize;
            self.nb &= 7;
        }
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
#[inline(always)]
pub(crate) fn encode4(seg: &[u8], t: &EncTable, scratch: &mut Vec<u8>) -> [usize; STREAMS] {
    encode4_with(seg, &Enc4Table::new(t), scratch)
}

/// `encode4` with the coding table already built.
#[inline(always)]
pub(crate) fn encode4_with(seg: &[u8], t: &Enc4Table, scratch: &mut Vec<u8>) -> [usize; STREAMS] {
    let n = seg.len();
    let cap = region_cap(n);
    if scratch.len() < STREAMS * cap {
        scratch.resize(STREAMS * cap, 0);
    }
    let q: [&[u8]; STREAMS] = std::array::from_fn(|k| {
        let (a, b) = quarter(n, k);
        &seg[a..b]
    });
    let (r01, r23) = scratch.split_at_mut(2 * cap);
    let (r0, r1) = r01.split_at_mut(cap);
    let (r2, r3) = r23.split_at_mut(cap);
    let r = [r0, r1, r2, &mut r3[..cap]];
    code4(q, t, r)
}

/// Codes quarter k into `r[k]`, two streams at a time (four would not
/// fit the registers).
#[inline(always)]
fn code4(q: [&[u8]; STREAMS], t: &Enc4Table, r: [&mut [u8]; STREAMS]) -> [usize; STREAMS] {
    let [r0, r1, r2, r3] = r;
    let (s0, s1) = code2(q[0], q[1], t, r0, r1);
    let (s2, s3) = code2(q[2], q[3], t, r2, r3);
    [s0, s1, s2, s3]
}

/// Codes `a` into `ra` and `b` into `rb`.
#[inline(always)]
fn code2(a: &[u8], b: &[u8], t: &Enc4Table, ra: &mut [u8], rb: &mut [u8]) -> (usize, usize) {
    let mut ea = Enc::NEW;
    let mut eb = Enc::NEW;
    // The regions have 8 bytes of slack (`region_cap`); without them
    // (never) everything would go through `finish`.
    let (Some(la), Some(lb)) = (ra.len().checked_sub(8), rb.len().checked_sub(8)) else {
        return (ea.finish(t, a, ra), eb.finish(t, b, rb));
    };
    let common = b.len().min(a.len()) / SYMS * SYMS;
    for (ca, cb) in a[..common]
        .chunks_exact(SYMS)
        .zip(b[..common].chunks_exact(SYMS))
    {
        for j in 0..SYMS {
            ea.put(t, ca[j]);
            eb.put(t, cb[j]);
        }
        ea.flush(ra, la);
        eb.flush(rb, lb);
    }
    (
        ea.finish(t, &a[common..], ra),
        eb.finish(t, &b[common..], rb),
    )
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
