//! Decoder of the v2 LZ block payload (docs/FORMAT.md section 5): header,
//! literals (raw, fill, or the section-4 four-stream decoder), the three
//! sequence tables as 11-bit lookup tables, and the sequence loop with
//! chunked, overlap-safe copies. Every check of 5.3 is made; nothing is
//! allocated beyond the decoded length (scratch kept per thread).

use super::error::LzError;
use super::spec::*;
use crate::codec::bits::BitReader;
use crate::codec::lengths::TableKind;
use crate::codec::table::decode_table;
use crate::codec::{decode_block, CodecError, MAX_BLOCK_LEN};

/// Slack after the literals so that short literal runs copy as one
/// 16-byte chunk.
const LIT_SLACK: usize = 32;
/// Copy chunk of the fast paths.
const CHUNK: usize = 16;

/// A lookup table of one sequence alphabet, indexed by the next
/// `bits` bits of the stream. Entry: `base << 32 | repeat << 16 |
/// extra_bits << 8 | code_length`; for repeat symbols `base` is 0..=2.
pub(crate) struct SeqTable {
    t: [u64; 1 << SEQ_MAX_CODE],
    mask: u64,
}

const REPEAT: u64 = 1 << 16;

impl SeqTable {
    fn new() -> SeqTable {
        SeqTable {
            t: [0; 1 << SEQ_MAX_CODE],
            mask: 0,
        }
    }

    /// Builds the table for `lengths` (validated, symbols < `nsyms`);
    /// `entry(symbol)` gives the symbol's `base << 32 | flags` part.
    fn build(&mut self, lengths: &[u8; 256], kind: TableKind, entry: impl Fn(usize) -> u64) {
        let max_len = match kind {
            TableKind::Single(s) => {
                self.mask = 0;
                self.t[0] = entry(s as usize);
                return;
            }
            TableKind::Code { max_len } => max_len,
        };
        let codes = crate::codec::lengths::reversed_codes(lengths);
        self.mask = (1u64 << max_len) - 1;
        for (s, &l) in lengths.iter().enumerate() {
            if l == 0 {
                continue;
            }
            let e = entry(s) | u64::from(l);
            let step = 1usize << l;
            let mut i = codes[s] as usize;
            while i < 1 << max_len {
                self.t[i] = e;
                i += step;
            }
        }
    }

    #[inline(always)]
    fn get(&self, bits: u64) -> u64 {
        self.t[(bits & self.mask & ((1 << SEQ_MAX_CODE) - 1)) as usize]
    }
}

fn len_entry(s: usize) -> u64 {
    let (base, extra) = len_base(s);
    (u64::from(base) << 32) | (u64::from(extra) << 8)
}

fn of_entry(s: usize) -> u64 {
    if s < 3 {
        return ((s as u64) << 32) | REPEAT;
    }
    let (base, extra) = offset_base(s);
    (u64::from(base) << 32) | (u64::from(extra) << 8)
}

/// Per-thread decoding state: literal scratch and the three tables.
pub(crate) struct Scratch {
    lits: Vec<u8>,
    tables: [SeqTable; 3],
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Option<Box<Scratch>>> = const { std::cell::RefCell::new(None) };
}

fn new_scratch() -> Box<Scratch> {
    Box::new(Scratch {
        lits: Vec::new(),
        tables: [SeqTable::new(), SeqTable::new(), SeqTable::new()],
    })
}

/// Decodes a section-5 payload into exactly `out` (out.len() = decoded
/// length, 1..=1 MiB). Hostile input gives an error, never a panic, an
/// out-of-bounds access or an allocation beyond the decoded length.
pub fn decode_lz_block(payload: &[u8], out: &mut [u8]) -> Result<(), CodecError> {
    SCRATCH
        .with(|cell| match cell.try_borrow_mut() {
            Ok(mut slot) => decode_with(payload, out, slot.get_or_insert_with(new_scratch)),
            // Not reached (no re-entry), but fresh scratch is always correct.
            Err(_) => decode_with(payload, out, &mut new_scratch()),
        })
        .map_err(CodecError::from)
}

/// Reads a shortest-form varint of at most 4 bytes.
fn varint(p: &[u8], pos: &mut usize) -> Result<usize, LzError> {
    let start = *pos;
    let mut v = 0usize;
    for i in 0..4 {
        let b = *p.get(*pos).ok_or(LzError::Truncated {
            at: *pos,
            needed: 1,
            have: p.len(),
        })?;
        *pos += 1;
        v |= usize::from(b & 0x7F) << (7 * i);
        if b & 0x80 == 0 {
            if b == 0 && i > 0 {
                return Err(LzError::BadVarint { at: start });
            }
            return Ok(v);
        }
    }
    Err(LzError::BadVarint { at: start })
}

fn take<'a>(p: &'a [u8], pos: &mut usize, len: usize) -> Result<&'a [u8], LzError> {
    let s = p
        .get(*pos..pos.saturating_add(len))
        .ok_or(LzError::Truncated {
            at: *pos,
            needed: len,
            have: p.len(),
        })?;
    *pos += len;
    Ok(s)
}

fn decode_with(payload: &[u8], out: &mut [u8], sc: &mut Scratch) -> Result<(), LzError> {
    let n = out.len();
    if n == 0 || n > MAX_BLOCK_LEN {
        return Err(LzError::BlockLength { len: n });
    }
    let mut pos = 0usize;
    let nseq = varint(payload, &mut pos)?;
    if nseq > n / MIN_MATCH {
        return Err(LzError::Count {
            what: "sequence count",
            value: nseq,
            max: n / MIN_MATCH,
        });
    }
    let lmode = take(payload, &mut pos, 1)?[0];
    let nlit = varint(payload, &mut pos)?;
    if nlit > n {
        return Err(LzError::Count {
            what: "literal count",
            value: nlit,
            max: n,
        });
    }
    if sc.lits.len() < nlit + LIT_SLACK {
        sc.lits.resize(nlit + LIT_SLACK, 0);
    }
    let lits = &mut sc.lits[..nlit + LIT_SLACK];
    match lmode {
        LMODE_RAW => lits[..nlit].copy_from_slice(take(payload, &mut pos, nlit)?),
        LMODE_HUFFMAN | LMODE_FILL if nlit == 0 => {
            return Err(LzError::Count {
                what: "literal count of a coded literal section (must be >= 1)",
                value: 0,
                max: 0,
            })
        }
        LMODE_HUFFMAN => {
            let lsize = varint(payload, &mut pos)?;
            if lsize == 0 {
                return Err(LzError::Count {
                    what: "literal section size (must be >= 1)",
                    value: 0,
                    max: 0,
                });
            }
            let p = take(payload, &mut pos, lsize)?;
            decode_block(p, &mut lits[..nlit]).map_err(|e| LzError::Literals { msg: e.0 })?;
        }
        LMODE_FILL => {
            let b = take(payload, &mut pos, 1)?[0];
            lits[..nlit].fill(b);
        }
        mode => return Err(LzError::LiteralMode { mode }),
    }
    if nseq == 0 {
        if pos != payload.len() {
            return Err(LzError::Trailing {
                extra: payload.len() - pos,
            });
        }
        if nlit != n {
            return Err(LzError::LengthMismatch {
                produced: nlit,
                len: n,
            });
        }
        out.copy_from_slice(&lits[..n]);
        return Ok(());
    }
    let mut prev: Option<[u8; 256]> = None;
    for (k, (which, nsyms)) in [("LL", LEN_SYMS), ("ML", LEN_SYMS), ("OF", OF_SYMS)]
        .into_iter()
        .enumerate()
    {
        let rest = payload.get(pos..).unwrap_or(&[]);
        let (lengths, kind, used) =
            decode_table(rest, prev.as_ref()).map_err(|e| LzError::Table { which, msg: e.0 })?;
        pos += used;
        if let Some(symbol) = (nsyms..256).find(|&s| lengths[s] != 0) {
            return Err(LzError::SymbolOutOfRange { which, symbol });
        }
        let entry = if k == 2 { of_entry } else { len_entry };
        sc.tables[k].build(&lengths, kind, entry);
        prev = Some(lengths);
    }
    let bits = &payload[pos..];
    let [llt, mlt, oft] = &sc.tables;
    sequences(bits, nseq, lits, nlit, out, llt, mlt, oft)
}

/// Reads `e`'s extra bits from the buffer.
#[inline(always)]
fn value(r: &mut BitReader<'_>, e: u64) -> usize {
    let extra = ((e >> 8) & 0xFF) as u32;
    let v = (e >> 32) as usize + (r.peek() & ((1u64 << extra) - 1)) as usize;
    r.consume(extra);
    v
}

#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn sequences(
    bits: &[u8],
    nseq: usize,
    lits: &[u8],
    nlit: usize,
    out: &mut [u8],
    llt: &SeqTable,
    mlt: &SeqTable,
    oft: &SeqTable,
) -> Result<(), LzError> {
    let n = out.len();
    let mut r = BitReader::new(bits);
    let mut rep = [
        REP_INIT[0] as usize,
        REP_INIT[1] as usize,
        REP_INIT[2] as usize,
    ];
    let mut op = 0usize;
    let mut lp = 0usize;
    for seq in 0..nseq {
        // Codes: at most 3 x 11 bits; extra bits: at most 3 x 18 (each
        // group fits the 56 bits a refill guarantees).
        r.refill();
        let el = llt.get(r.peek());
        r.consume((el & 0xFF) as u32);
        let em = mlt.get(r.peek());
        r.consume((em & 0xFF) as u32);
        let eo = oft.get(r.peek());
        r.consume((eo & 0xFF) as u32);
        r.refill();
        let ll = value(&mut r, el);
        let ml = value(&mut r, em) + MIN_MATCH;
        let off = if eo & REPEAT != 0 {
            match eo >> 32 {
                0 => rep[0],
                1 => {
                    rep.swap(0, 1);
                    rep[0]
                }
                _ => {
                    rep = [rep[2], rep[0], rep[1]];
                    rep[0]
                }
            }
        } else {
            let o = value(&mut r, eo);
            rep = [o, rep[0], rep[1]];
            o
        };
        // Literals.
        let lit_end = lp + ll;
        if lit_end > nlit {
            return Err(LzError::LiteralsOverrun {
                seq,
                needed: lit_end,
                nlit,
            });
        }
        let mid = op + ll;
        let end = mid + ml;
        if end > n {
            return Err(LzError::PastEnd { seq, end, len: n });
        }
        if off > mid {
            return Err(LzError::OffsetBeforeStart {
                seq,
                pos: mid,
                offset: off,
            });
        }
        if ll <= CHUNK && op + CHUNK <= n {
            // `lits` has LIT_SLACK bytes after `nlit`: lp + 16 is inside.
            out[op..op + CHUNK].copy_from_slice(&lits[lp..lp + CHUNK]);
        } else {
            out[op..mid].copy_from_slice(&lits[lp..lit_end]);
        }
        lp = lit_end;
        copy_match(out, mid, off, ml);
        op = end;
    }
    let used = r.consumed_bits();
    if r.overrun() || used.div_ceil(8) != bits.len() as u64 {
        return Err(LzError::BitStream {
            used_bits: used,
            bytes: bits.len(),
        });
    }
    let rest = nlit - lp;
    if op + rest != n {
        return Err(LzError::LengthMismatch {
            produced: op + rest,
            len: n,
        });
    }
    out[op..].copy_from_slice(&lits[lp..nlit]);
    Ok(())
}

/// Copies `ml` bytes from `dst - off` to `dst` with the byte-by-byte
/// meaning (overlap repeats the pattern). Needs 1 <= off <= dst and
/// dst + ml <= out.len().
#[inline(always)]
fn copy_match(out: &mut [u8], dst: usize, off: usize, ml: usize) {
    let src = dst - off;
    let n = out.len();
    if off >= CHUNK && dst + ml.next_multiple_of(CHUNK) <= n {
        // Chunks of 16: each source chunk ends at or before its
        // destination chunk starts (off >= 16), so earlier chunks are
        // final when read; the last may write past dst + ml (inside out,
        // rewritten later by the following sequences).
        let mut i = 0;
        while i < ml {
            out.copy_within(src + i..src + i + CHUNK, dst + i);
            i += CHUNK;
        }
    } else if off >= ml {
        out.copy_within(src..src + ml, dst);
    } else if off == 1 {
        let b = out[src];
        out[dst..dst + ml].fill(b);
    } else {
        // Overlapping: copy the pattern in growing non-overlapping pieces.
        let mut done = 0;
        while done < ml {
            let len = (dst + done - src).min(ml - done);
            out.copy_within(src..src + len, dst + done);
            done += len;
        }
    }
}
