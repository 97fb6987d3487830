//! Writer of the v2 LZ block payload (docs/FORMAT.md section 5): turns a
//! parse (sequences with plain offsets, plus the literal bytes) into the
//! header, the cheapest literal section, the three sequence tables and
//! the three sequence bit streams. Offsets become repeat codes here, with the
//! same repeat-offset state the decoder keeps.

use super::spec::*;
use crate::codec::block::{encode_block, encode_block_with};
use crate::codec::lengths::{reversed_codes_into, seq_code_lengths};
use crate::codec::split::Granules;
use crate::codec::table::{encode_table, encode_table_direct, present};
use crate::codec::BlockCoding;

/// One sequence of a parse: `ll` literals, then `ml` (>= 3) bytes from
/// `off` (1..2^20) bytes back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Seq {
    pub(crate) ll: u32,
    pub(crate) ml: u32,
    pub(crate) off: u32,
}

/// A block's parse: its sequences and all its literal bytes in order.
#[derive(Default)]
pub(crate) struct Parse {
    pub(crate) seqs: Vec<Seq>,
    pub(crate) lits: Vec<u8>,
}

impl Parse {
    pub(crate) fn clear(&mut self) {
        self.seqs.clear();
        self.lits.clear();
    }

    /// Bytes the matches of the parse so far (which covers `covered`
    /// bytes) save over order-0 coding at `per_byte` bytes a byte, each
    /// sequence costing about `SEQ_COST` bytes.
    pub(crate) fn saved(&self, covered: usize, per_byte: f32) -> usize {
        let matched = (covered.saturating_sub(self.lits.len()) as f32 * per_byte) as usize;
        matched - (self.seqs.len() * SEQ_COST).min(matched)
    }
}

/// Bytes a sequence costs, roughly (its three codes and extra bits).
pub(crate) const SEQ_COST: usize = 3;

/// A sequence as three fields (LL, ML, OF), each `sym << 26 | nbits <<
/// 20 | extra`: symbol < 64, extra-bit count <= 19, extra bits < 2^20.
type Coded = [u32; 3];

#[inline(always)]
fn field((sym, nbits, extra): (u8, u32, u32)) -> u32 {
    u32::from(sym) << 26 | nbits << 20 | extra
}

/// Scratch space of the writer, kept between blocks.
#[derive(Default)]
pub(crate) struct Writer {
    coded: Vec<Coded>,
    lit_payload: Vec<u8>,
    /// `field(len_code(v))` for v < LEN_LUT (filled on first use).
    len_lut: Vec<u32>,
    /// The `fast` level's cheaper choices: literals coded as one Huffman
    /// segment (no search for cuts: 2% of the instructions for 0.3% of
    /// the corpus's ratio) and sequence tables in the direct mode only
    /// (no delta-mode plan: 1% of the instructions, the corpus's ratio
    /// the same to 4 digits).
    pub(crate) one_segment: bool,
}

/// Length values looked up in `Writer::len_lut` (most are smaller).
const LEN_LUT: usize = 256;

/// `field(len_code(v))`, from `lut` when v is small.
#[inline(always)]
fn len_field(lut: &[u32], v: u32) -> u32 {
    match lut.get(v as usize) {
        Some(&f) => f,
        None => field(len_code(v)),
    }
}

/// The three fields of sequence `s`, with the decoder's repeat-offset
/// rules applied to `rep`.
#[inline(always)]
fn code_seq(lut: &[u32], s: &Seq, rep: &mut [u32; 3]) -> Coded {
    let lf = len_field(lut, s.ll);
    let mf = len_field(lut, s.ml - MIN_MATCH as u32);
    let of = if s.off == rep[0] {
        0
    } else if s.off == rep[1] {
        rep.swap(0, 1);
        1 << 26
    } else if s.off == rep[2] {
        *rep = [rep[2], rep[0], rep[1]];
        2 << 26
    } else {
        *rep = [s.off, rep[0], rep[1]];
        field(offset_code(s.off))
    };
    [lf, mf, of]
}

/// Counts the symbols of `c` in `h`.
#[inline(always)]
fn count_seq(h: &mut [[u32; 64]; 3], c: &Coded) {
    h[0][(c[0] >> 26) as usize] += 1;
    h[1][(c[1] >> 26) as usize] += 1;
    h[2][(c[2] >> 26) as usize] += 1;
}

/// One stream's bit writer: accumulator, its bits, the output position.
#[derive(Clone, Copy)]
struct Acc {
    acc: u64,
    nb: u32,
    pos: usize,
}

impl Acc {
    /// Adds field `x` with table entry `e` (`code | len << 32 | (len +
    /// extra bits) << 40`) to the accumulator (no store).
    #[inline(always)]
    fn add(&mut self, x: u32, e: u64) {
        let len = (e >> 32) as u8 as u32;
        let v = (e & 0xFFFF_FFFF) | (u64::from(x & 0xF_FFFF) << len);
        self.acc |= v << self.nb;
        self.nb += (e >> 40) as u32;
    }

    /// Stores the whole bytes (8 bytes written at `min(pos, lim)`, which
    /// is `pos` while the sizes are right: `lim` is `buf.len() - 8`; min()
    /// keeps the store in bounds regardless).
    #[inline(always)]
    fn flush(&mut self, buf: &mut [u8], lim: usize) {
        let p = self.pos.min(lim);
        if let Some(d) = buf.get_mut(p..p + 8) {
            d.copy_from_slice(&self.acc.to_le_bytes());
        }
        self.pos += (self.nb >> 3) as usize;
        self.acc >>= self.nb & !7;
        self.nb &= 7;
    }

    /// `add` then `flush`. At the top the accumulator holds < 8 bits,
    /// after a field (<= 9 + 19 bits) at most 35.
    #[inline(always)]
    fn put(&mut self, x: u32, e: u64, buf: &mut [u8], lim: usize) {
        self.add(x, e);
        self.flush(buf, lim);
    }

    /// Two fields, one flush: < 8 + 2 * 28 = 64 bits.
    #[inline(always)]
    fn put2(&mut self, x: [u32; 2], e: [u64; 2], buf: &mut [u8], lim: usize) {
        self.add(x[0], e[0]);
        self.add(x[1], e[1]);
        self.flush(buf, lim);
    }

    /// The last partial byte; returns the stream's size.
    fn finish(self, buf: &mut [u8]) -> usize {
        if self.nb == 0 {
            return self.pos;
        }
        if let Some(d) = buf.get_mut(self.pos) {
            *d = self.acc as u8;
        }
        self.pos + 1
    }
}

/// Writes the three streams of `coded` (code, then extra bits, LSB-first)
/// in one pass into `bufs` (each at least its stream's size plus 8
/// bytes); returns the streams' sizes.
#[inline(always)]
fn put_streams(coded: &[Coded], tab: &[[u64; 64]; 3], bufs: [&mut [u8]; 3]) -> [usize; 3] {
    let [b0, b1, b2] = bufs;
    let lim = [b0.len(), b1.len(), b2.len()].map(|l| l.saturating_sub(8));
    let mut w = [Acc {
        acc: 0,
        nb: 0,
        pos: 0,
    }; 3];
    let mut pairs = coded.chunks_exact(2);
    for p in &mut pairs {
        let (c, d) = (&p[0], &p[1]);
        let e = |k: usize| [tab[k][(c[k] >> 26) as usize], tab[k][(d[k] >> 26) as usize]];
        w[0].put2([c[0], d[0]], e(0), b0, lim[0]);
        w[1].put2([c[1], d[1]], e(1), b1, lim[1]);
        w[2].put2([c[2], d[2]], e(2), b2, lim[2]);
    }
    for c in pairs.remainder() {
        w[0].put(c[0], tab[0][(c[0] >> 26) as usize], b0, lim[0]);
        w[1].put(c[1], tab[1][(c[1] >> 26) as usize], b1, lim[1]);
        w[2].put(c[2], tab[2][(c[2] >> 26) as usize], b2, lim[2]);
    }
    [w[0].finish(b0), w[1].finish(b1), w[2].finish(b2)]
}

fn put_varint(out: &mut Vec<u8>, mut v: usize) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

impl Writer {
    /// Appends the section-5 payload of `parse` to `out` (valid when the
    /// parse is: offsets within the output so far, lengths adding up).
    pub(crate) fn write(&mut self, parse: &Parse, out: &mut Vec<u8>) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("bmi2") {
            // SAFETY: `write_bmi2` is safe code whose only requirement is
            // that the CPU supports BMI2, which was checked just above.
            return unsafe { self.write_bmi2(parse, out) };
        }
        self.write_body(parse, out)
    }

    /// `write_body` compiled with BMI2 (shifts by a register without
    /// moving the count to CL: the stream loops are mostly such shifts).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "bmi2")]
    fn write_bmi2(&mut self, parse: &Parse, out: &mut Vec<u8>) {
        self.write_body(parse, out)
    }

    #[inline(always)]
    fn write_body(&mut self, parse: &Parse, out: &mut Vec<u8>) {
        // Sequences to symbols, with the decoder's repeat-offset rules.
        if self.len_lut.len() != LEN_LUT {
            self.len_lut = (0..LEN_LUT as u32).map(|v| field(len_code(v))).collect();
        }
        let lut = &self.len_lut[..];
        self.coded.clear();
        // Two histograms per stream, for even and odd sequences: runs of
        // one symbol (repeat offsets, short lengths) do not wait on one
        // counter's store and reload. Sequences go in pairs (no counter
        // to pick the histogram: it was a chain through memory).
        let mut ha = [[0u32; 64]; 3];
        let mut hb = [[0u32; 64]; 3];
        let mut rep = REP_INIT;
        self.coded.clear();
        self.coded.reserve(parse.seqs.len());
        let mut pairs = parse.seqs.chunks_exact(2);
        for p in &mut pairs {
            let a = code_seq(lut, &p[0], &mut rep);
            let b = code_seq(lut, &p[1], &mut rep);
            count_seq(&mut ha, &a);
            count_seq(&mut hb, &b);
            self.coded.extend_from_slice(&[a, b]);
        }
        for s in pairs.remainder() {
            let a = code_seq(lut, s, &mut rep);
            count_seq(&mut ha, &a);
            self.coded.push(a);
        }
        let mut hist = ha;
        for (a, b) in hist.iter_mut().zip(&hb) {
            for (x, &y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
        put_varint(out, parse.seqs.len());
        self.write_literals(&parse.lits, out);
        if parse.seqs.is_empty() {
            return;
        }
        let mut codes = [[0u32; 64]; 3];
        let mut lens = [[0u8; 64]; 3];
        // Each table is coded on its own (no "previous table" mode: the
        // three alphabets differ, and trying that mode cost a third of
        // the tables' time for a byte or two).
        for k in 0..3 {
            let l = seq_code_lengths(&hist[k], SEQ_MAX_CODE);
            let mut full = [0u8; 256];
            full[..64].copy_from_slice(&l);
            if self.one_segment {
                encode_table_direct(&full, out);
            } else {
                encode_table(&full, None, out);
            }
            let single = present(&l) == 1;
            if !single {
                lens[k] = l;
                reversed_codes_into(&l, &mut codes[k]);
            }
        }
        // Per symbol: code | length << 32 | (length + extra bits) << 40;
        // each stream's exact size from the histograms (a symbol's
        // extra-bit count is fixed).
        let mut tab = [[0u64; 64]; 3];
        let mut sizes = [0usize; 3];
        for k in 0..3 {
            let mut bits = 0u64;
            for s in 0..64 {
                let extra = match (k, s) {
                    (2, 0..=2) => 0,
                    (2, _) if s < OF_SYMS => offset_base(s).1,
                    (_, _) if s < LEN_SYMS => len_base(s).1,
                    _ => 0,
                };
                let len = u32::from(lens[k][s]);
                tab[k][s] =
                    u64::from(codes[k][s]) | u64::from(len) << 32 | u64::from(len + extra) << 40;
                bits += u64::from(hist[k][s]) * u64::from(len + extra);
            }
            sizes[k] = bits.div_ceil(8) as usize;
        }
        put_varint(out, sizes[0]);
        put_varint(out, sizes[1]);
        // The streams straight into `out`, one after the other, each
        // with 8 bytes of slack in the scratch layout: a stream's stores
        // may spill zeros and junk into the next one's first 8 bytes, so
        // the streams are written into disjoint regions with slack, then
        // the gaps are closed.
        let base = out.len();
        let total = sizes.iter().sum::<usize>();
        out.resize(base + total + 24, 0);
        let (r0, rest) = out[base..].split_at_mut(sizes[0] + 8);
        let (r1, r2) = rest.split_at_mut(sizes[1] + 8);
        let got = put_streams(&self.coded, &tab, [r0, r1, r2]);
        debug_assert_eq!(got, sizes);
        // Close the two 8-byte gaps.
        let s1 = base + sizes[0] + 8;
        out.copy_within(s1..s1 + sizes[1], base + sizes[0]);
        let s2 = s1 + sizes[1] + 8;
        out.copy_within(s2..s2 + sizes[2], base + sizes[0] + sizes[1]);
        out.truncate(base + total);
    }

    /// `lmode nlit [lsize] literals`, the smallest of raw / Huffman / fill.
    fn write_literals(&mut self, lits: &[u8], out: &mut Vec<u8>) {
        self.lit_payload.clear();
        let coding = if lits.is_empty() {
            BlockCoding::Raw
        } else {
            if self.one_segment {
                encode_block_with(lits, Some(&Granules::whole(lits)), &mut self.lit_payload)
            } else {
                encode_block(lits, &mut self.lit_payload)
            }
        };
        match coding {
            BlockCoding::Zero | BlockCoding::Fill(_) => {
                out.push(LMODE_FILL);
                put_varint(out, lits.len());
                out.push(lits[0]);
            }
            BlockCoding::Huffman => {
                out.push(LMODE_HUFFMAN);
                put_varint(out, lits.len());
                put_varint(out, self.lit_payload.len());
                out.extend_from_slice(&self.lit_payload);
            }
            _ => {
                out.push(LMODE_RAW);
                put_varint(out, lits.len());
                out.extend_from_slice(lits);
            }
        }
    }
}
