//! The four-stream kernels of v2 segments (codes <= 11 bits): the four
//! quarters of a segment are coded and decoded in one loop, so the CPU runs
//! four independent dependency chains (bit buffer -> table -> shift).

use super::bits::BitReader;
use super::stream::{decode_short, DecTable, EncTable};
use super::CodecError;

/// Streams per segment.
pub(crate) const STREAMS: usize = 4;

/// The quarter `k` of a segment of `n` bytes: [k*q, (k+1)*q) clamped to n,
/// with q = ceil(n/4).
pub(crate) fn quarter(n: usize, k: usize) -> (usize, usize) {
    let q = n.div_ceil(STREAMS);
    ((k * q).min(n), ((k + 1) * q).min(n))
}

fn split4(out: &mut [u8]) -> [&mut [u8]; STREAMS] {
    let n = out.len();
    let q = n.div_ceil(STREAMS);
    let (a, rest) = out.split_at_mut(q.min(n));
    let (b, rest) = rest.split_at_mut(q.min(rest.len()));
    let (c, d) = rest.split_at_mut(q.min(rest.len()));
    [a, b, c, d]
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

/// Decodes the four streams of one segment into its quarters; each stream
/// must end exactly where its last symbol's last byte is.
pub(crate) fn decode4(
    t: &DecTable,
    streams: &[&[u8]; STREAMS],
    out: &mut [u8],
) -> Result<(), CodecError> {
    let [o0, o1, o2, o3] = split4(out);
    let mut r: [BitReader<'_>; STREAMS] = std::array::from_fn(|k| BitReader::new(streams[k]));
    let common = o3.len();
    let mut i = 0;
    while i + 5 <= common && r.iter().all(|x| x.can_refill_fast()) {
        let (c0, c1, c2, c3) = (
            &mut o0[i..i + 5],
            &mut o1[i..i + 5],
            &mut o2[i..i + 5],
            &mut o3[i..i + 5],
        );
        for x in r.iter_mut() {
            x.refill_fast();
        }
        for j in 0..5 {
            let e0 = t.get(r[0].peek());
            let e1 = t.get(r[1].peek());
            let e2 = t.get(r[2].peek());
            let e3 = t.get(r[3].peek());
            c0[j] = (e0 >> 4) as u8;
            c1[j] = (e1 >> 4) as u8;
            c2[j] = (e2 >> 4) as u8;
            c3[j] = (e3 >> 4) as u8;
            r[0].consume(u32::from(e0 & 15));
            r[1].consume(u32::from(e1 & 15));
            r[2].consume(u32::from(e2 & 15));
            r[3].consume(u32::from(e3 & 15));
        }
        i += 5;
    }
    let outs: [&mut [u8]; STREAMS] = [o0, o1, o2, o3];
    for (k, (o, rd)) in outs.into_iter().zip(r.iter_mut()).enumerate() {
        let rest = o.get_mut(i..).unwrap_or_default();
        decode_short(t, rd, rest);
        if rd.overrun() {
            return Err(CodecError::new(format!("stream {k} ends early")));
        }
        if rd.consumed_bytes() != streams[k].len() {
            return Err(CodecError::new(format!(
                "stream {k} has {} bytes but its symbols use {}",
                streams[k].len(),
                rd.consumed_bytes()
            )));
        }
    }
    Ok(())
}
