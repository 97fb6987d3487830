//! Writer of the v2 LZ block payload (docs/FORMAT.md section 5): turns a
//! parse (sequences with plain offsets, plus the literal bytes) into the
//! header, the cheapest literal section, the three sequence tables and
//! the three sequence bit streams. Offsets become repeat codes here, with the
//! same repeat-offset state the decoder keeps.

use super::spec::*;
use crate::codec::block::encode_block;
use crate::codec::lengths::{reversed_codes_into, seq_code_lengths};
use crate::codec::table::encode_table;
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
}

/// Writes field K of every sequence (code, then extra bits, LSB-first)
/// into `buf` (at least the stream's size plus 8 bytes); returns the
/// stream's size. At the top of an iteration the accumulator holds < 8
/// bits, so after a field (<= 9 + 19 bits) it holds at most 35.
#[inline(always)]
fn put_stream<const K: usize>(coded: &[Coded], tab: &[u64; 64], buf: &mut [u8]) -> usize {
    let lim = buf.len().saturating_sub(8);
    let (mut acc, mut nb, mut pos) = (0u64, 0u32, 0usize);
    for c in coded {
        let x = c[K];
        let e = tab[(x >> 26) as usize];
        let len = (e >> 32) as u32;
        let v = (e & 0xFFFF_FFFF) | (u64::from(x & 0xF_FFFF) << len);
        acc |= v << nb;
        nb += len + ((x >> 20) & 31);
        // pos <= lim while the sizes are right; min() keeps the store in
        // bounds (and the bounds check out of the loop) regardless.
        let p = pos.min(lim);
        if let Some(d) = buf.get_mut(p..p + 8) {
            d.copy_from_slice(&acc.to_le_bytes());
        }
        pos += (nb >> 3) as usize;
        acc >>= nb & !7;
        nb &= 7;
    }
    if nb > 0 {
        if let Some(d) = buf.get_mut(pos) {
            *d = acc as u8;
        }
        pos += 1;
    }
    pos
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
        self.coded.clear();
        self.coded.reserve(parse.seqs.len());
        let mut hist = [[0u32; 64]; 3];
        let mut rep = REP_INIT;
        for s in &parse.seqs {
            let lf = field(len_code(s.ll));
            let mf = field(len_code(s.ml - MIN_MATCH as u32));
            let of = if s.off == rep[0] {
                0
            } else if s.off == rep[1] {
                rep.swap(0, 1);
                1 << 26
            } else if s.off == rep[2] {
                rep = [rep[2], rep[0], rep[1]];
                2 << 26
            } else {
                rep = [s.off, rep[0], rep[1]];
                field(offset_code(s.off))
            };
            hist[0][(lf >> 26) as usize] += 1;
            hist[1][(mf >> 26) as usize] += 1;
            hist[2][(of >> 26) as usize] += 1;
            self.coded.push([lf, mf, of]);
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
            encode_table(&full, None, out);
            let single = l.iter().filter(|&&x| x > 0).count() == 1;
            if !single {
                lens[k] = l;
                reversed_codes_into(&l, &mut codes[k]);
            }
        }
        // Per symbol: code | length << 32; each stream's exact size
        // from the histograms (a symbol's extra-bit count is fixed).
        let mut tab = [[0u64; 64]; 3];
        let mut sizes = [0usize; 3];
        for k in 0..3 {
            let mut bits = 0u64;
            for s in 0..64 {
                tab[k][s] = u64::from(codes[k][s]) | u64::from(lens[k][s]) << 32;
                let extra = match (k, s) {
                    (2, 0..=2) => 0,
                    (2, _) if s < OF_SYMS => offset_base(s).1,
                    (_, _) if s < LEN_SYMS => len_base(s).1,
                    _ => 0,
                };
                bits += u64::from(hist[k][s]) * u64::from(u32::from(lens[k][s]) + extra);
            }
            sizes[k] = bits.div_ceil(8) as usize;
        }
        put_varint(out, sizes[0]);
        put_varint(out, sizes[1]);
        // The streams straight into `out`, one after the other, with 8
        // bytes of slack: a stream's last stores spill zeros into the
        // next one's place, which that stream then overwrites.
        let base = out.len();
        let total = sizes.iter().sum::<usize>();
        out.resize(base + total + 8, 0);
        let mut at = base;
        let coded = &self.coded[..];
        at += put_stream::<0>(coded, &tab[0], &mut out[at..]);
        at += put_stream::<1>(coded, &tab[1], &mut out[at..]);
        at += put_stream::<2>(coded, &tab[2], &mut out[at..]);
        debug_assert_eq!(at, base + total);
        out.truncate(base + total);
    }

    /// `lmode nlit [lsize] literals`, the smallest of raw / Huffman / fill.
    fn write_literals(&mut self, lits: &[u8], out: &mut Vec<u8>) {
        self.lit_payload.clear();
        let coding = if lits.is_empty() {
            BlockCoding::Raw
        } else {
            encode_block(lits, &mut self.lit_payload)
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
