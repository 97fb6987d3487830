//! The four-stream kernels of v2 segments (codes <= 11 bits): the four
//! quarters of a segment are coded and decoded in one loop, so the CPU runs
//! four independent dependency chains (bit buffer -> table -> shift).

use super::bits::BitReader;
use super::stream::{decode_short, DecTable};
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

pub(crate) use super::enc4::{encode4, region_cap};

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

/// Decodes the four streams of one segment into its quarters, up to two
/// symbols per table lookup, two streams at a time; each stream must end
/// exactly where its last symbol's last byte is.
pub(crate) fn decode4(
    t: &DecTable,
    pairs: Option<&PairTable>,
    streams: &[&[u8]; STREAMS],
    out: &mut [u8],
) -> Result<(), CodecError> {
    let [o0, o1, o2, o3] = split4(out);
    let mut r: [BitReader<'_>; STREAMS] = std::array::from_fn(|k| BitReader::new(streams[k]));
    let p = match pairs {
        Some(pairs) => {
            let [r0, r1, r2, r3] = &mut r;
            let (p0, p1) = decode2(pairs, r0, r1, o0, o1);
            let (p2, p3) = decode2(pairs, r2, r3, o2, o3);
            [p0, p1, p2, p3]
        }
        None => {
            let i = decode4_single(t, &mut r, [o0, o1, o2, o3]);
            [i; STREAMS]
        }
    };
    let outs: [&mut [u8]; STREAMS] = [o0, o1, o2, o3];
    for (k, (o, rd)) in outs.into_iter().zip(r.iter_mut()).enumerate() {
        let rest = o.get_mut(p[k]..).unwrap_or_default();
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

/// The fast part of four streams, one symbol per lookup: decodes while
/// every stream has 8 input bytes to load; returns the symbols done per
/// stream.
#[inline(always)]
fn decode4_single(
    t: &DecTable,
    r: &mut [BitReader<'_>; STREAMS],
    o: [&mut [u8]; STREAMS],
) -> usize {
    let [o0, o1, o2, o3] = o;
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
    i
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

/// The fast part of two streams: decodes while both have 8 input bytes
/// to load and room for 10 output bytes; returns the output positions.
#[inline(always)]
fn decode2(
    pairs: &PairTable,
    ra: &mut BitReader<'_>,
    rb: &mut BitReader<'_>,
    oa: &mut [u8],
    ob: &mut [u8],
) -> (usize, usize) {
    let (mut pa, mut pb) = (0usize, 0usize);
    let pt = &pairs.t;
    while ra.can_refill_fast() && rb.can_refill_fast() && pa + 10 <= oa.len() && pb + 10 <= ob.len()
    {
        ra.refill_fast();
        rb.refill_fast();
        for _ in 0..5 {
            let ea = pt[(ra.peek() & 0x7FF) as usize];
            let eb = pt[(rb.peek() & 0x7FF) as usize];
            if let Some(d) = oa.get_mut(pa..pa + 2) {
                d.copy_from_slice(&(ea as u16).to_le_bytes());
            }
            if let Some(d) = ob.get_mut(pb..pb + 2) {
                d.copy_from_slice(&(eb as u16).to_le_bytes());
            }
            pa += (ea >> 24) as usize;
            pb += (eb >> 24) as usize;
            ra.consume((ea >> 16) & 0xFF);
            rb.consume((eb >> 16) & 0xFF);
        }
    }
    (pa, pb)
}

#[cfg(test)]
mod tests {
    use super::super::lengths::{code_lengths, histogram};
    use super::super::stream::EncTable;
    use super::*;

    /// Both fast paths (one and two symbols per lookup) and the tails give
    /// the same bytes, for short and long codes and every quarter shape.
    #[test]
    fn pair_and_single_paths_agree() {
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        for (len, spread) in [(40_000usize, 3u32), (40_000, 9), (4097, 2), (13, 4), (1, 8)] {
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    ((seed & 0xFFFF_FFFF).trailing_zeros().min(31) * spread % 256) as u8
                        ^ (seed >> 60) as u8
                })
                .collect();
            let lengths = code_lengths(&histogram(&data), 11);
            if lengths.iter().filter(|&&l| l > 0).count() < 2 {
                continue;
            }
            let et = EncTable::new(&lengths);
            let mut scratch = Vec::new();
            let sizes = encode4(&data, &et, &mut scratch);
            let cap = region_cap(len);
            let streams: [&[u8]; STREAMS] =
                std::array::from_fn(|k| &scratch[k * cap..k * cap + sizes[k]]);
            let t = DecTable::new(&lengths);
            let pairs = PairTable::new(&t);
            let mut a = vec![0u8; len];
            let mut b = vec![0u8; len];
            decode4(&t, Some(&pairs), &streams, &mut a).unwrap();
            decode4(&t, None, &streams, &mut b).unwrap();
            assert_eq!(a, data);
            assert_eq!(b, data);
            // A stream one byte short fails on both paths.
            if sizes[0] > 0 {
                let mut cut = streams;
                cut[0] = &streams[0][..sizes[0] - 1];
                assert!(decode4(&t, Some(&pairs), &cut, &mut a).is_err());
                assert!(decode4(&t, None, &cut, &mut b).is_err());
            }
        }
    }
}
