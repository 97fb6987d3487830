//! The four-stream encoder of v2 segments (codes <= 11 bits): the four
//! quarters of a segment are coded in one loop, so the CPU runs
//! independent dependency chains; plus the two-symbol lookups of the v1
//! single-stream decoder. (v2 segments are decoded by `dec4`.)

use super::bits::BitReader;
use super::stream::{DecTable, EncTable};

/// Streams per segment.
pub(crate) const STREAMS: usize = 4;

/// The quarter `k` of a segment of `n` bytes: [k*q, (k+1)*q) clamped to n,
/// with q = ceil(n/4).
pub(crate) fn quarter(n: usize, k: usize) -> (usize, usize) {
    let q = n.div_ceil(STREAMS);
    ((k * q).min(n), ((k + 1) * q).min(n))
}

/// One stream's encoder state: a 64-bit accumulator flushed 8 bytes at a
/// time into its own region (which has 8 bytes of slack).
struct Enc {
    acc: u64,
    n: u32,
    pos: usize,
}

impl Enc {
    #[inline(always)]
    fn put(&mut self, e: u64) {
        self.acc |= (e >> 8) << self.n;
        self.n += (e & 0xFF) as u32;
    }

    #[inline(always)]
    fn flush(&mut self, out: &mut [u8]) {
        if let Some(d) = out.get_mut(self.pos..self.pos + 8) {
            d.copy_from_slice(&self.acc.to_le_bytes());
        }
        self.pos += (self.n >> 3) as usize;
        self.acc >>= self.n & !7;
        self.n &= 7;
    }

    fn finish(&mut self, out: &mut [u8]) {
        if self.n > 0 {
            if let Some(d) = out.get_mut(self.pos) {
                *d = self.acc as u8;
            }
            self.pos += 1;
        }
    }
}

/// Upper bound of one quarter's coded bytes plus slack.
pub(crate) fn region_cap(seg_len: usize) -> usize {
    (seg_len.div_ceil(STREAMS) * 11).div_ceil(8) + 8
}

/// Codes the four quarters of `seg` into `scratch` (grown to four regions
/// of `region_cap` bytes; stream k starts at k * cap). Returns the stream
/// byte lengths. Two streams are coded at a time (more would spill the
/// registers of x86-64).
pub(crate) fn encode4(seg: &[u8], t: &EncTable, scratch: &mut Vec<u8>) -> [usize; STREAMS] {
    let n = seg.len();
    let cap = region_cap(n);
    if scratch.len() < STREAMS * cap {
        scratch.resize(STREAMS * cap, 0);
    }
    let (r01, r23) = scratch.split_at_mut(2 * cap);
    let (r0, r1) = r01.split_at_mut(cap);
    let (r2, r3) = r23.split_at_mut(cap);
    let q: [&[u8]; STREAMS] = std::array::from_fn(|k| {
        let (a, b) = quarter(n, k);
        &seg[a..b]
    });
    let (s0, s1) = encode2(q[0], q[1], &t.0, r0, r1);
    let (s2, s3) = encode2(q[2], q[3], &t.0, r2, &mut r3[..cap]);
    [s0, s1, s2, s3]
}

/// Codes `a` into `ra` and `b` into `rb` (b no longer than a).
#[inline(always)]
fn encode2(a: &[u8], b: &[u8], tt: &[u64; 256], ra: &mut [u8], rb: &mut [u8]) -> (usize, usize) {
    let mut ea = Enc {
        acc: 0,
        n: 0,
        pos: 0,
    };
    let mut eb = Enc {
        acc: 0,
        n: 0,
        pos: 0,
    };
    let common = b.len().min(a.len()) / 4 * 4;
    for (ca, cb) in a[..common].chunks_exact(4).zip(b[..common].chunks_exact(4)) {
        for j in 0..4 {
            ea.put(tt[ca[j] as usize]);
            eb.put(tt[cb[j] as usize]);
        }
        ea.flush(ra);
        eb.flush(rb);
    }
    for (st, rest, reg) in [
        (&mut ea, &a[common..], &mut *ra),
        (&mut eb, &b[common..], &mut *rb),
    ] {
        let mut chunks = rest.chunks_exact(4);
        for c in &mut chunks {
            for &x in c {
                st.put(tt[x as usize]);
            }
            st.flush(reg);
        }
        for &x in chunks.remainder() {
            st.put(tt[x as usize]);
            st.flush(reg);
        }
        st.finish(reg);
    }
    (ea.pos, eb.pos)
}

/// Two-symbol decoding table: indexed by the next 11 bits, an entry gives
/// one or two symbols (bits 0-15, first symbol in the low byte), the bits
/// they use (16-23) and their count (24-31).
pub(crate) struct PairTable {
    t: [u32; 2048],
}

impl PairTable {
    /// Built from the one-symbol table of a complete code <= 11 bits.
    pub(crate) fn new(single: &DecTable) -> PairTable {
        let mut t = [0u32; 2048];
        for (i, x) in t.iter_mut().enumerate() {
            let e1 = single.get(i as u64);
            let l1 = u32::from(e1 & 15);
            let s1 = u32::from(e1 >> 4);
            let e2 = single.get((i as u64) >> l1);
            let l2 = u32::from(e2 & 15);
            *x = if l1 + l2 <= 11 {
                (2 << 24) | ((l1 + l2) << 16) | (u32::from(e2 >> 4) << 8) | s1
            } else {
                (1 << 24) | (l1 << 16) | s1
            };
        }
        PairTable { t }
    }
}

/// True when two-symbol lookups should pay for building their table: a
/// long segment whose code is short on average (by the code's own implied
/// probabilities 2^-length, so the decoder can tell from the lengths).
pub(crate) fn pairs_pay(lengths: &[u8; 256], seg_len: usize) -> bool {
    if seg_len < 16384 {
        return false;
    }
    // sum of length * 2^(11 - length): average length * 2048.
    let avg2048: u32 = lengths
        .iter()
        .filter(|&&l| l > 0 && l <= 11)
        .map(|&l| u32::from(l) << (11 - l))
        .sum();
    avg2048 <= 11 * 1024 // average <= 5.5 bits
}

/// The fast part of one stream with two-symbol lookups (the v1 stream):
/// decodes while 8 input bytes remain and 10 output bytes are free;
/// returns the output position reached.
pub(crate) fn decode1_pairs(pairs: &PairTable, r: &mut BitReader<'_>, o: &mut [u8]) -> usize {
    let mut p = 0usize;
    let pt = &pairs.t;
    while r.can_refill_fast() && p + 10 <= o.len() {
        r.refill_fast();
        for _ in 0..5 {
            let e = pt[(r.peek() & 0x7FF) as usize];
            if let Some(d) = o.get_mut(p..p + 2) {
                d.copy_from_slice(&(e as u16).to_le_bytes());
            }
            p += (e >> 24) as usize;
            r.consume((e >> 16) & 0xFF);
        }
    }
    p
}
