//! Decoder of the v2 LZ block payload (docs/FORMAT.md section 5): header,
//! literals (raw, fill, or the section-4 four-stream decoder), the three
//! sequence tables and streams, handed to the sequence loop
//! (sequences.rs). Every check of 5.3 is made; nothing is allocated
//! beyond the decoded length (scratch kept per thread).

use super::error::LzError;
use super::sequences::{
    run_sequences, SeqTable, Stream, LIT_SLACK, MAX_SEQ_BITS, SEQ_ENTRIES, SEQ_NAMES, STREAM_PAD,
};
use super::spec::*;
use crate::codec::canonical::TableKind;
use crate::codec::table::decode_table;
use crate::codec::{decode_block, CodecError, MAX_BLOCK_LEN};
/// Per-thread decoding state: literal scratch and the three tables.
pub(crate) struct Scratch {
    lits: Vec<u8>,
    streams: Vec<u8>,
    tables: [SeqTable; 3],
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Option<Box<Scratch>>> = const { std::cell::RefCell::new(None) };
}

fn new_scratch() -> Box<Scratch> {
    Box::new(Scratch {
        lits: Vec::new(),
        streams: Vec::new(),
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
            decode_block(p, &mut lits[..nlit]).map_err(|e| LzError::Literals(Box::new(e)))?;
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
    for (k, (which, nsyms)) in SEQ_NAMES
        .into_iter()
        .zip([LEN_SYMS, LEN_SYMS, OF_SYMS])
        .enumerate()
    {
        let rest = payload.get(pos..).unwrap_or(&[]);
        let (lengths, kind, used) =
            decode_table(rest, prev.as_ref()).map_err(|e| LzError::Table {
                which,
                error: Box::new(e),
            })?;
        pos += used;
        // One OR over the symbols past the alphabet (vectorised), the
        // search for the first only when one is present.
        if lengths[nsyms..].iter().fold(0u8, |a, &l| a | l) != 0 {
            let symbol = (nsyms..256).find(|&s| lengths[s] != 0).unwrap_or(nsyms);
            return Err(LzError::SymbolOutOfRange { which, symbol });
        }
        if let TableKind::Code { max_len } = kind {
            if max_len > SEQ_MAX_CODE {
                return Err(LzError::SeqCodeTooLong {
                    which,
                    length: max_len,
                    max: SEQ_MAX_CODE,
                });
            }
        }
        sc.tables[k].build(&lengths[..nsyms], kind, &SEQ_ENTRIES[k]);
        prev = Some(lengths);
    }
    let llsize = varint(payload, &mut pos)?;
    let mlsize = varint(payload, &mut pos)?;
    let ll = take(payload, &mut pos, llsize)?;
    let ml = take(payload, &mut pos, mlsize)?;
    let of = &payload[pos..];
    // A stream holds at most 29 bits a sequence.
    let most = (nseq * MAX_SEQ_BITS).div_ceil(8);
    for st in [ll, ml, of] {
        if st.len() > most {
            return Err(LzError::BitStream {
                used_bits: (nseq * MAX_SEQ_BITS) as u64,
                bytes: st.len(),
            });
        }
    }
    // Each stream copied with STREAM_PAD zero bytes after it, so that
    // every look-ahead is one 8-byte load.
    let padded = &mut sc.streams;
    padded.clear();
    let mut streams = [Stream {
        pos: 0,
        lim: 0,
        start: 0,
    }; 3];
    for (k, st) in [ll, ml, of].into_iter().enumerate() {
        streams[k].start = padded.len();
        streams[k].pos = padded.len() * 8;
        padded.extend_from_slice(st);
        streams[k].lim = padded.len();
        padded.extend_from_slice(&[0u8; STREAM_PAD]);
    }
    let used = run_sequences(padded, &mut streams, nseq, lits, nlit, out, &sc.tables)?;
    for st in &streams {
        let (bits, len) = st.used();
        if bits.div_ceil(8) != len as u64 {
            return Err(LzError::BitStream {
                used_bits: bits,
                bytes: len,
            });
        }
    }
    out[used..].copy_from_slice(&lits[nlit - (n - used)..nlit]);
    Ok(())
}
