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
}

/// A sequence as symbols and extra bits.
#[derive(Clone, Copy)]
struct Coded {
    sym: [u8; 3],
    nbits: [u8; 3],
    extra: [u32; 3],
}

/// Scratch space of the writer, kept between blocks.
#[derive(Default)]
pub(crate) struct Writer {
    coded: Vec<Coded>,
    lit_payload: Vec<u8>,
    /// The LL, ML and OF bit streams.
    streams: [Vec<u8>; 3],
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
    #[inline(never)]
    pub(crate) fn write(&mut self, parse: &Parse, out: &mut Vec<u8>) {
        // Sequences to symbols, with the decoder's repeat-offset rules.
        self.coded.clear();
        let mut hist = [[0u32; 64]; 3];
        let mut rep = REP_INIT;
        for s in &parse.seqs {
            let (ls, ln, le) = len_code(s.ll);
            let (ms, mn, me) = len_code(s.ml - MIN_MATCH as u32);
            let (os, on, oe) = if s.off == rep[0] {
                (0, 0, 0)
            } else if s.off == rep[1] {
                rep.swap(0, 1);
                (1, 0, 0)
            } else if s.off == rep[2] {
                rep = [rep[2], rep[0], rep[1]];
                (2, 0, 0)
            } else {
                rep = [s.off, rep[0], rep[1]];
                offset_code(s.off)
            };
            hist[0][ls as usize] += 1;
            hist[1][ms as usize] += 1;
            hist[2][os as usize] += 1;
            self.coded.push(Coded {
                sym: [ls, ms, os],
                nbits: [ln as u8, mn as u8, on as u8],
                extra: [le, me, oe],
            });
        }
        put_varint(out, parse.seqs.len());
        self.write_literals(&parse.lits, out);
        if parse.seqs.is_empty() {
            return;
        }
        let mut codes = [[0u32; 64]; 3];
        let mut lens = [[0u8; 64]; 3];
        let mut prev: Option<[u8; 256]> = None;
        for k in 0..3 {
            let l = seq_code_lengths(&hist[k], SEQ_MAX_CODE);
            let mut full = [0u8; 256];
            full[..64].copy_from_slice(&l);
            encode_table(&full, prev.as_ref(), out);
            let single = l.iter().filter(|&&x| x > 0).count() == 1;
            if !single {
                lens[k] = l;
                reversed_codes_into(&l, &mut codes[k]);
            }
            prev = Some(full);
        }
        // Code and extra bits go out as one field of at most 27 bits,
        // stored 8 bytes at a time into a buffer with slack; the three
        // streams in one pass (three independent accumulators). At the
        // top of an iteration an accumulator holds < 8 bits, so after a
        // field it holds at most 34.
        let cap = (self.coded.len() * 27).div_ceil(8) + 16;
        for st in self.streams.iter_mut() {
            if st.len() < cap {
                st.resize(cap, 0);
            }
        }
        // Per symbol: code | length << 32.
        let mut tab = [[0u64; 64]; 3];
        for k in 0..3 {
            for s in 0..64 {
                tab[k][s] = u64::from(codes[k][s]) | u64::from(lens[k][s]) << 32;
            }
        }
        let mut acc = [0u64; 3];
        let mut nb = [0u32; 3];
        let mut pos = [0usize; 3];
        let [s0, s1, s2] = &mut self.streams;
        let sts = [&mut s0[..cap], &mut s1[..cap], &mut s2[..cap]];
        for c in &self.coded {
            for k in 0..3 {
                let e = tab[k][usize::from(c.sym[k]) & 63];
                let len = (e >> 32) as u32;
                let v = (e & 0xFFFF_FFFF) | (u64::from(c.extra[k]) << len);
                acc[k] |= v << nb[k];
                nb[k] += len + u32::from(c.nbits[k]);
                if let Some(d) = sts[k].get_mut(pos[k]..pos[k] + 8) {
                    d.copy_from_slice(&acc[k].to_le_bytes());
                }
                pos[k] += (nb[k] >> 3) as usize;
                acc[k] >>= nb[k] & !7;
                nb[k] &= 7;
            }
        }
        let mut sizes = [0usize; 3];
        for k in 0..3 {
            if nb[k] > 0 {
                sts[k][pos[k]] = acc[k] as u8;
                pos[k] += 1;
            }
            sizes[k] = pos[k];
        }
        put_varint(out, sizes[0]);
        put_varint(out, sizes[1]);
        for (st, &size) in self.streams.iter().zip(&sizes) {
            out.extend_from_slice(&st[..size]);
        }
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
