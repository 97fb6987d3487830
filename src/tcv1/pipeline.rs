//! Whole-stream compression and decompression, block-parallel.
//!
//! Blocks are independent, so both directions work in batches: read a few
//! blocks in order, code them on up to [`worker_count`] threads, write them in
//! order. A batch holds at most `BATCH_BLOCKS` blocks and `BATCH_BYTES`
//! bytes, so memory stays bounded (a few MiB) whatever the input size; the
//! output is byte-for-byte what the one-block-at-a-time loop would write, and
//! errors are reported for the first bad block in stream order.

use std::io::{Read, Write};
use std::thread;

use super::reader::{decode_raw, BlockHeader, Reader};
use super::writer::{encode_block, V1Block, Writer};
use super::{read_full, BlockType, RunTotals, Tcv1Error, BLOCK_LEN};

/// Blocks per batch (per worker: 4).
const BLOCKS_PER_WORKER: usize = 4;
/// Bytes (raw + decoded) a decompression batch may hold before it is coded.
const BATCH_BYTES: u64 = 8 << 20;
/// Buffers that grew beyond this (blocks from other writers) are shrunk
/// after each batch.
const KEEP_CAPACITY: usize = 2 * BLOCK_LEN + 1024;

/// Threads used for coding: the available cores, at most 4.
pub fn worker_count() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

/// Runs `f` on every item, spread over up to `workers` threads (the calling
/// thread takes the first share).
pub(crate) fn parallel<T: Send>(items: &mut [T], workers: usize, f: impl Fn(&mut T) + Sync) {
    if workers <= 1 || items.len() <= 1 {
        items.iter_mut().for_each(&f);
        return;
    }
    let per = items.len().div_ceil(workers);
    thread::scope(|s| {
        let mut chunks = items.chunks_mut(per);
        let first = chunks.next();
        for chunk in chunks {
            let f = &f;
            s.spawn(move || chunk.iter_mut().for_each(f));
        }
        if let Some(c) = first {
            c.iter_mut().for_each(&f);
        }
    });
}

#[derive(Default)]
struct CSlot {
    data: Vec<u8>,
    enc: V1Block,
    result: Option<std::io::Result<()>>,
}

/// Compresses `input` into a tc v1 stream on `output`, calling
/// `progress(bytes_read)` after each batch.
pub fn compress<R: Read, W: Write>(
    mut input: R,
    output: W,
    mut progress: impl FnMut(u64),
) -> Result<RunTotals, Tcv1Error> {
    let workers = worker_count();
    let mut w = Writer::new(output).map_err(Tcv1Error::Write)?;
    let mut slots: Vec<CSlot> = (0..workers * BLOCKS_PER_WORKER)
        .map(|_| CSlot {
            data: vec![0u8; BLOCK_LEN],
            ..CSlot::default()
        })
        .collect();
    let mut eof = false;
    while !eof {
        let mut filled = 0;
        while filled < slots.len() {
            let slot = &mut slots[filled];
            slot.data.resize(BLOCK_LEN, 0);
            let n = read_full(&mut input, &mut slot.data).map_err(Tcv1Error::Read)?;
            slot.data.truncate(n);
            if n > 0 {
                filled += 1;
            }
            if n < BLOCK_LEN {
                eof = true;
                break;
            }
        }
        parallel(&mut slots[..filled], workers, |s| {
            s.result = Some(encode_block(&s.data, &mut s.enc));
        });
        for s in &mut slots[..filled] {
            s.result.take().expect("coded").map_err(Tcv1Error::Write)?;
            w.write_encoded(&s.data, &s.enc).map_err(Tcv1Error::Write)?;
        }
        progress(w.stats().original);
    }
    let (_, stats) = w.finish().map_err(Tcv1Error::Write)?;
    Ok(stats)
}

#[derive(Default)]
struct DSlot {
    hdr: BlockHeader,
    raw: Vec<u8>,
    out: Vec<u8>,
    result: Option<Result<(), Tcv1Error>>,
}

/// Decompresses a tc v1 stream from `input` onto `output`, calling
/// `progress(bytes_of_input_consumed)` after each batch.
pub fn decompress<R: Read, W: Write>(
    input: R,
    mut output: W,
    mut progress: impl FnMut(u64),
) -> Result<RunTotals, Tcv1Error> {
    let workers = worker_count();
    let mut r = Reader::new(input)?;
    let mut slots: Vec<DSlot> = (0..workers * BLOCKS_PER_WORKER)
        .map(|_| DSlot::default())
        .collect();
    let mut stats = RunTotals::default();
    loop {
        // Read a batch; a read error is held back until the blocks before it
        // have been decoded, so errors come out in stream order.
        let mut filled = 0;
        let mut bytes = 0u64;
        let mut held: Option<Tcv1Error> = None;
        let mut end = false;
        while filled < slots.len() && bytes < BATCH_BYTES {
            let slot = &mut slots[filled];
            match r.next_header() {
                Ok(None) => {
                    end = true;
                    break;
                }
                Ok(Some(h)) => {
                    if let Err(e) = r.read_raw(&h, &mut slot.raw) {
                        held = Some(e);
                        break;
                    }
                    bytes += h.compressed + h.uncompressed;
                    slot.hdr = h;
                    filled += 1;
                }
                Err(e) => {
                    held = Some(e);
                    break;
                }
            }
        }
        parallel(&mut slots[..filled], workers, |s| {
            s.result = Some(if s.hdr.kind == BlockType::Stored {
                Ok(()) // written straight from `raw`
            } else {
                decode_raw(&s.hdr, &s.raw, &mut s.out)
            });
        });
        for s in &mut slots[..filled] {
            s.result.take().expect("decoded")?;
            let data = match s.hdr.kind {
                BlockType::Stored => &s.raw,
                BlockType::Huffman => &s.out,
            };
            output.write_all(data).map_err(Tcv1Error::Write)?;
            stats.original += s.hdr.uncompressed;
            match s.hdr.kind {
                BlockType::Huffman => stats.huffman_blocks += 1,
                BlockType::Stored => stats.stored_blocks += 1,
            }
            if s.raw.capacity() > KEEP_CAPACITY {
                s.raw = Vec::new();
            }
            if s.out.capacity() > KEEP_CAPACITY {
                s.out = Vec::new();
            }
        }
        if let Some(e) = held {
            return Err(e);
        }
        progress(r.offset());
        if end {
            break;
        }
    }
    output.flush().map_err(Tcv1Error::Write)?;
    stats.encoded = r.offset();
    Ok(stats)
}
