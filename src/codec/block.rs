//! The v2 Huffman block payload (FORMAT.md section 4): a block is cut into
//! segments, each with its own code-length table and four interleaved
//! streams; plus the choice between Zero / Fill / Raw / Huffman (with the
//! `huffman` level's rules for decoding speed, `encode_block_huffman`).

use super::huff_decode::decode_segment;
use super::interleave::{encode4, region_cap, STREAMS};
use super::lengths::{coded_bits, TableKind};
use super::seg_table::SegTable;
use super::split::{plan_segments, Granules, Segment};
use super::stream::EncTable;
use super::table::decode_table;
use super::{BlockCoding, CodecError, MAX_CODE_LEN};

/// Largest block `encode_block` codes and `decode_block` accepts.
pub const MAX_BLOCK_LEN: usize = 1 << 20;

/// Most segments a payload may have.
pub(crate) const MAX_SEGMENTS: usize = 4096;

/// Byte width of a segment's stream-size fields: 2 when a quarter can never
/// code to more than 65535 bytes at 11 bits per symbol, else 3.
fn size_width(seg_len: usize) -> usize {
    let q = seg_len.div_ceil(STREAMS);
    if (q * MAX_CODE_LEN as usize).div_ceil(8) <= 0xFFFF {
        2
    } else {
        3
    }
}

fn varint_len(mut v: usize) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

fn put_varint(out: &mut Vec<u8>, mut v: usize) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(input: &[u8], pos: &mut usize) -> Result<usize, CodecError> {
    let start = *pos;
    let mut v: usize = 0;
    for shift in (0..28).step_by(7) {
        let b = *input.get(*pos).ok_or(CodecError::BadVarint { at: start })?;
        *pos += 1;
        v |= usize::from(b & 0x7F) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(CodecError::BadVarint { at: start })
}

/// `e`, found in segment `segment`.
#[cold]
fn in_segment(segment: usize, e: CodecError) -> CodecError {
    CodecError::Segment {
        segment,
        error: Box::new(e),
    }
}

/// Extra bits the `huffman` level charges each segment when it plans a
/// block's segments: what a segment costs the decoder (a table to read
/// and build, four streams to set up: about as long as decoding 4-6 KB)
/// weighed as 128 bytes of payload. On the corpus of user data at 64K it
/// cuts the segments by a third for 0.17% of the level's ratio.
pub(crate) const HUFFMAN_SEGMENT_BITS: u32 = 1024;

/// What the coding choice weighs besides the payload's size.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// The smallest payload; Huffman whenever it is smaller than the data
    /// (the LZ levels' literals and their Huffman fallback).
    Smallest,
    /// The `huffman` level: segments charged `HUFFMAN_SEGMENT_BITS`, and
    /// Huffman only when it saves more than `min_gain` bytes.
    HuffmanLevel,
}

/// Bytes the `huffman` level's payload must save over the data before the
/// block is stored Huffman instead of Raw: n/64 + 2, zstd's minimum gain
/// for Huffman literals. A near-random block that Huffman codes for less
/// decodes at ~1 GB/s where Raw is a memcpy.
pub(crate) fn min_gain(n: usize) -> usize {
    (n >> 6) + 2
}

/// Chooses the cheapest coding for `data` (length 1..=1 MiB; 0 gives
/// Zero, longer than 1 MiB gives Raw). For Huffman it appends the section-4
/// payload to `out`; for the others it appends nothing. Raw whenever the
/// Huffman payload would not be smaller than the data.
pub fn encode_block(data: &[u8], out: &mut Vec<u8>) -> BlockCoding {
    encode_block_with(data, None, out)
}

/// The `huffman` level's coding of `data`: as `encode_block`, but each
/// segment past the first must pay for its decoding (`HUFFMAN_SEGMENT_BITS`)
/// and the block is Raw unless Huffman saves more than `min_gain` bytes.
pub fn encode_block_huffman(data: &[u8], out: &mut Vec<u8>) -> BlockCoding {
    encode_block_rule(data, None, out, Rule::HuffmanLevel)
}

/// `encode_block` given the block's granule histograms if already
/// computed (`Granules::new(data)`, by the LZ levels).
pub(crate) fn encode_block_with(
    data: &[u8],
    g: Option<&Granules>,
    out: &mut Vec<u8>,
) -> BlockCoding {
    encode_block_rule(data, g, out, Rule::Smallest)
}

fn encode_block_rule(
    data: &[u8],
    g: Option<&Granules>,
    out: &mut Vec<u8>,
    rule: Rule,
) -> BlockCoding {
    SCRATCH.with(|s| match s.try_borrow_mut() {
        Ok(mut scratch) => encode_block_in(data, g, out, &mut scratch, rule),
        // Not reached (no re-entry), but fresh scratch is always correct.
        Err(_) => encode_block_in(data, g, out, &mut Vec::new(), rule),
    })
}

thread_local! {
    /// Stream scratch space, kept between calls (no zeroing, no faults).
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// `encode_block` with the stream scratch space: the body compiled for
/// this CPU (the same output on all).
fn encode_block_in(
    data: &[u8],
    g: Option<&Granules>,
    out: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
    rule: Rule,
) -> BlockCoding {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("bmi2") {
        // SAFETY: `encode_block_bmi2` is safe code whose only requirement
        // is that the CPU supports BMI2, which was checked just above.
        return unsafe { encode_block_bmi2(data, g, out, scratch, rule) };
    }
    encode_block_body(data, g, out, scratch, rule)
}

/// `encode_block_body` compiled with BMI2: the stream writer and the
/// histogram, inlined here, shift by a register without moving the count
/// to CL first (a third fewer instructions in the writer's inner loop).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "bmi2")]
fn encode_block_bmi2(
    data: &[u8],
    g: Option<&Granules>,
    out: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
    rule: Rule,
) -> BlockCoding {
    encode_block_body(data, g, out, scratch, rule)
}

#[inline(always)]
fn encode_block_body(
    data: &[u8],
    g: Option<&Granules>,
    out: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
    rule: Rule,
) -> BlockCoding {
    let n = data.len();
    if n == 0 {
        return BlockCoding::Zero;
    }
    if n > MAX_BLOCK_LEN {
        return BlockCoding::Raw;
    }
    let own;
    let g = match g {
        Some(g) if g.is_complete() => g,
        // (A prefix only is not reached: callers complete it first.)
        _ => {
            own = match rule {
                Rule::Smallest => Granules::new(data),
                Rule::HuffmanLevel => Granules::new(data).with_segment_bits(HUFFMAN_SEGMENT_BITS),
            };
            &own
        }
    };
    let gain = match rule {
        Rule::Smallest => 0,
        Rule::HuffmanLevel => min_gain(n),
    };
    let hist = g.total();
    if let Some(b) = hist.iter().position(|&c| c as usize == n) {
        return if b == 0 {
            BlockCoding::Zero
        } else {
            BlockCoding::Fill(b as u8)
        };
    }
    let segs = plan_segments(g);
    // Exact size but for stream padding (at most 3 bytes a segment).
    let last = segs.len() - 1;
    let mut lower = varint_len(segs.len());
    for (i, s) in segs.iter().enumerate() {
        lower += s.table.len();
        if i < last {
            lower += varint_len(s.len);
        }
        if !is_single(&s.lengths) {
            let fields = if i < last { STREAMS } else { STREAMS - 1 };
            lower += fields * size_width(s.len);
            lower += coded_bits(&s.hist, &s.lengths).div_ceil(8) as usize;
        }
    }
    if lower + gain >= n {
        return BlockCoding::Raw;
    }
    let start = out.len();
    out.reserve(lower + 3 * segs.len());
    write_payload(data, &segs, out, scratch);
    if out.len() - start + gain >= n {
        out.truncate(start);
        return BlockCoding::Raw;
    }
    BlockCoding::Huffman
}

fn is_single(lengths: &[u8; 256]) -> bool {
    lengths.iter().filter(|&&l| l > 0).count() == 1
}

#[inline(always)]
fn write_payload(data: &[u8], segs: &[Segment], out: &mut Vec<u8>, scratch: &mut Vec<u8>) {
    put_varint(out, segs.len());
    let mut off = 0;
    for (i, s) in segs.iter().enumerate() {
        let last = i + 1 == segs.len();
        if !last {
            put_varint(out, s.len);
        }
        out.extend_from_slice(&s.table);
        let seg = &data[off..off + s.len];
        off += s.len;
        if is_single(&s.lengths) {
            continue;
        }
        let w = size_width(s.len);
        let t = EncTable::new(&s.lengths);
        let sizes = encode4(seg, &t, scratch);
        let fields = if last { STREAMS - 1 } else { STREAMS };
        for &size in &sizes[..fields] {
            out.extend_from_slice(&(size as u32).to_le_bytes()[..w]);
        }
        let cap = region_cap(s.len);
        for (k, &size) in sizes.iter().enumerate() {
            out.extend_from_slice(&scratch[k * cap..k * cap + size]);
        }
    }
}

thread_local! {
    /// Decoding tables, kept between calls (30 KiB not zeroed per block).
    static TABLES: std::cell::RefCell<Option<Box<SegTable>>> = const { std::cell::RefCell::new(None) };
}

/// Decodes a section-4 payload into exactly `out` (out.len() = decoded
/// length, 1..=1 MiB). Any payload that is not exactly what the encoder
/// writes for some data of that length is an error.
pub fn decode_block(payload: &[u8], out: &mut [u8]) -> Result<(), CodecError> {
    TABLES.with(|cell| match cell.try_borrow_mut() {
        Ok(mut slot) => {
            let table = slot.get_or_insert_with(|| Box::new(SegTable::new()));
            decode_block_with(payload, out, table)
        }
        // Not reached (no re-entry), but a fresh table is always correct.
        Err(_) => decode_block_with(payload, out, &mut SegTable::new()),
    })
}

fn decode_block_with(
    payload: &[u8],
    out: &mut [u8],
    table: &mut SegTable,
) -> Result<(), CodecError> {
    let n = out.len();
    if n == 0 || n > MAX_BLOCK_LEN {
        return Err(CodecError::BlockLength {
            len: n,
            max: MAX_BLOCK_LEN,
        });
    }
    let mut pos = 0usize;
    let nseg = get_varint(payload, &mut pos)?;
    if nseg == 0 || nseg > MAX_SEGMENTS || nseg > n {
        return Err(CodecError::SegmentCount {
            count: nseg,
            max: MAX_SEGMENTS.min(n),
        });
    }
    let mut prev: Option<[u8; 256]> = None;
    let mut off = 0usize;
    for i in 0..nseg {
        let last = i + 1 == nseg;
        let len = if last {
            n - off
        } else {
            let l = get_varint(payload, &mut pos)?;
            if l == 0 || l >= n - off {
                return Err(CodecError::SegmentLength {
                    segment: i,
                    len: l,
                    room: n - off,
                });
            }
            l
        };
        let rest = payload.get(pos..).unwrap_or(&[]);
        let (lengths, kind, used) =
            decode_table(rest, prev.as_ref()).map_err(|e| in_segment(i, e))?;
        pos += used;
        let seg_out = &mut out[off..off + len];
        off += len;
        match kind {
            TableKind::Single(s) => seg_out.fill(s),
            TableKind::Code { .. } => {
                let w = size_width(len);
                let fields = if last { STREAMS - 1 } else { STREAMS };
                let mut sizes = [0usize; STREAMS];
                for (k, sz) in sizes.iter_mut().enumerate().take(fields) {
                    let at = pos + k * w;
                    let f = payload.get(at..at + w).ok_or(CodecError::Truncated {
                        what: "stream sizes",
                        at,
                        needed: w,
                        have: payload.len(),
                    })?;
                    let mut b = [0u8; 4];
                    b[..w].copy_from_slice(f);
                    *sz = u32::from_le_bytes(b) as usize;
                }
                pos += fields * w;
                let avail = payload.len() - pos.min(payload.len());
                let given: usize = sizes[..fields].iter().sum();
                if given > avail {
                    return Err(CodecError::StreamSizes {
                        segment: i,
                        given,
                        available: avail,
                    });
                }
                if last {
                    sizes[STREAMS - 1] = avail - given;
                }
                let mut starts = [0usize; STREAMS];
                for k in 0..STREAMS {
                    starts[k] = pos;
                    pos += sizes[k];
                }
                table.prepare(&lengths, len);
                decode_segment(table, payload, starts, sizes, seg_out)
                    .map_err(|e| in_segment(i, e))?;
            }
        }
        prev = Some(lengths);
    }
    if pos != payload.len() {
        return Err(CodecError::Trailing {
            extra: payload.len() - pos,
        });
    }
    Ok(())
}
