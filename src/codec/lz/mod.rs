//! LZ77 + canonical Huffman block payloads (docs/FORMAT.md section 5) and
//! the per-level choice of a block's coding.
//!
//! - `spec`: constants and the length / offset symbol alphabets.
//! - `error`: `LzError`, why a payload was rejected.
//! - `decode`: the payload decoder (`decode_lz_block`).
//! - `sequences`: its sequence tables, bit streams and sequence loop.
//! - `exec`: the loop's copies (one batch of sequences carried out).
//! - `encode`: the payload writer (parse -> bytes).
//! - `util`: loads, hashes, match extension for the match finders.
//! - `fast`: the `fast` level's single-probe hash matcher.
//! - `chain`: the `default` and `max` levels' hash chains with lazy matching.

mod chain;
mod decode;
mod encode;
mod error;
mod exec;
mod fast;
mod sequences;
mod spec;
mod util;

#[cfg(test)]
mod hostile_tests;
#[cfg(test)]
mod tests;

pub use decode::decode_lz_block;
pub use error::LzError;

use super::block::{encode_block, encode_block_huffman, encode_block_with, MAX_BLOCK_LEN};
use super::split::Granules;
use super::{BlockCoding, Level};
use encode::{Parse, Writer};

/// Bytes the order-0 entropy estimate (corrected for the block's length)
/// must fall below the block's size for LZ to be tried: a block closer to
/// its size than this is incompressible (it costs what `encode_block`
/// costs). Uniform random bytes give a corrected estimate within ~2 bytes
/// of the size at any length (chi-square with 255 degrees of freedom:
/// standard deviation 22.6 / (16 ln 2) bytes), so this is 12 of their
/// standard deviations; a zip archive's local headers and names among its
/// deflated members fall 25-120 bytes short of 128 KiB and LZ saves 1-2%
/// there, where zstd -1 finds nothing (BENCHMARKS.md, session 13). (Until
/// session 13 this was 2% of the block, 2.6 KiB at 128K: 12 MB of the
/// corpus `compressed` class were never tried.)
const INCOMPRESSIBLE_BYTES: f32 = 24.0;

/// Share above which a block is "random-looking": LZ is tried only after
/// the `fast` matcher, run as a probe, finds matches worth at least
/// 1/2^PROBE_MIN_SHIFT of the block (else the block costs `encode_block`
/// plus the probe, which skips fast over data without matches).
const RANDOM_LOOKING: f32 = 0.80;
/// The probe's matches must save this share of the block (1/64).
const PROBE_MIN_SHIFT: u32 = 6;

/// Share above which a random-looking block is "near-random" (deflated
/// or otherwise compressed data, where only stretches such as an
/// archive's headers and names repeat): the probe runs over one of
/// NEAR_PARTS parts of it only (whole granules: 16 KiB of a 128 KiB
/// block), the one with the lowest order-0 estimate per byte (where a
/// stored or text stretch shows), and LZ is tried when the matches found
/// there save at least 1/2^NEAR_MIN_SHIFT of that part and at least
/// NEAR_MIN_BYTES (a few chance matches in a short block are not worth
/// the level's parse). (Until session 13 such blocks were not tried at
/// all; a whole-block probe cost `default` +3.6% instructions over
/// `huffman` on the `compressed` class's blocks LZ does not take, a
/// quarter +2.3%, an eighth +2.05% for 0.002% of the class's ratio.)
const NEAR_RANDOM: f32 = 0.98;
const NEAR_PARTS: usize = 8;
const NEAR_MIN_SHIFT: u32 = 10;
const NEAR_MIN_BYTES: usize = 16;

/// How a block is probed before the level's own parse.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Probe {
    /// Not probed: the level's parse runs at once.
    No,
    /// Random-looking: the whole block (PROBE_MIN_SHIFT).
    Whole,
    /// Near-random: its lowest-entropy part (NEAR_PARTS, NEAR_MIN_SHIFT);
    /// `default` and `max` only.
    Part,
}

/// Random-looking blocks up to this size are not tried with LZ at all:
/// the Huffman coder's fixed cost on them is ~80 K instructions, so even
/// the probe (~13 K with its table clear) was +18% on the corpus
/// `compressed` class's 3013 blocks of <= 1 KiB, while LZ saved 344 bytes
/// of that class at `fast`, 72 at `default` (0.001%; nothing elsewhere).
/// See BENCHMARKS.md, session 11.
pub(crate) const TINY_LEN: usize = 2048;

/// Blocks up to this size are never tried with LZ (nor estimated): LZ
/// saved 0-7 bytes on the corpus's few such blocks that it took (103
/// bytes in all at `fast`, in `source`), while the chain finder's table
/// setup cost `default` +29% over `huffman` on them (BENCHMARKS.md,
/// session 11).
pub(crate) const SMALL_LEN: usize = 256;

/// At `fast`, the histogram of a block's first granules covering at
/// least this many bytes decides first: when their corrected order-0
/// estimate is below PREFIX_CLEAR of their size (and they are not one
/// byte value), the block goes to the matcher without the rest of the
/// histogram, which is counted only if the block ends up compared with
/// or coded by Huffman. Random and random-looking blocks count the
/// whole block as before (the prefix's granules are part of it).
const PREFIX_LEN: usize = 4 << 10;
/// Below RANDOM_LOOKING, with a margin for blocks whose prefix is more
/// compressible than the rest.
const PREFIX_CLEAR: f32 = 0.75;

/// At `fast` (the write path), a block whose corrected order-0 estimate
/// is within 1/2^FAST_RAW_SHIFT of its size (and at least
/// INCOMPRESSIBLE_BYTES) is stored Raw at once: no Huffman try, whose
/// table and streams cost more than zstd -1's whole handling of such
/// blocks (it stores literals raw below a similar gain).
const FAST_RAW_SHIFT: u32 = 7;

/// Bytes below its size a block's estimate must reach for `fast` to
/// code it (see FAST_RAW_SHIFT).
fn fast_raw_margin(n: usize) -> f32 {
    ((n >> FAST_RAW_SHIFT) as f32).max(INCOMPRESSIBLE_BYTES)
}

/// Per-thread encoder scratch, kept between blocks.
#[derive(Default)]
struct EncScratch {
    parse: Parse,
    writer: Writer,
    fast_table: fast::FastTable,
    chains: chain::Chains,
    huff: Vec<u8>,
}

#[cfg(test)]
thread_local! {
    /// Blocks given to `encode_lz` on this thread (tests of the early exit).
    pub(crate) static TRIES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    /// Blocks `fast` stored Raw from their estimate alone.
    pub(crate) static FAST_RAW: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    /// Blocks for which the probe gave LZ up.
    pub(crate) static GIVEN_UP: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    /// Blocks coded at `fast` from the prefix's histogram alone.
    pub(crate) static PREFIX_ONLY: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    /// Blocks of at most SMALL_LEN bytes, and random-looking ones of at
    /// most TINY_LEN, never tried.
    pub(crate) static TINY_SKIPPED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

thread_local! {
    static ENC: std::cell::RefCell<EncScratch> = std::cell::RefCell::new(EncScratch::default());
}

/// Cheapest coding of `data` (1..=MAX_BLOCK_LEN bytes) at `level`; appends
/// the payload (section 4 for Huffman, section 5 for Lz) to `out`.
/// `Level::Huffman` is `encode_block_huffman`. Empty data gives Zero, data
/// longer than MAX_BLOCK_LEN gives Raw.
pub fn encode_block_level(data: &[u8], level: Level, out: &mut Vec<u8>) -> BlockCoding {
    if level == Level::Huffman {
        return encode_block_huffman(data, out);
    }
    let n = data.len();
    if n == 0 {
        return BlockCoding::Zero;
    }
    if n > MAX_BLOCK_LEN {
        return BlockCoding::Raw;
    }
    if n <= SMALL_LEN {
        #[cfg(test)]
        TINY_SKIPPED.with(|t| t.set(t.get() + 1));
        return encode_block(data, out);
    }
    // At `fast`, the first PREFIX_LEN bytes decide first: a prefix that is
    // clearly compressible goes to LZ without the rest of the histogram.
    let mut g = if level == Level::Fast {
        Granules::prefix(data, PREFIX_LEN)
    } else {
        Granules::new(data)
    };
    if !g.is_complete() {
        let covered = g.covered();
        let est = g.entropy_bytes_corrected();
        if est < PREFIX_CLEAR * covered as f32 && g.total().iter().all(|&c| c as usize != covered) {
            return encode_lz_scratch(data, level, &mut g, Probe::No, 0.0, out);
        }
        g.complete(data);
    }
    let est = g.entropy_bytes_corrected();
    let one_value = g.total().iter().any(|&c| c as usize == n);
    if level == Level::Fast && !one_value && est >= n as f32 - fast_raw_margin(n) {
        // Near-random at `fast`: Huffman would save under 1/2^FAST_RAW_SHIFT.
        #[cfg(test)]
        FAST_RAW.with(|t| t.set(t.get() + 1));
        return BlockCoding::Raw;
    }
    if est >= n as f32 - INCOMPRESSIBLE_BYTES || one_value {
        // Zero / Fill / incompressible: exactly the Huffman coder's answer.
        return encode_block_with(data, Some(&g), out);
    }
    let probe = if est >= NEAR_RANDOM * n as f32 {
        if level == Level::Fast {
            // `fast` (the write path) leaves near-random blocks to Huffman.
            return encode_block_with(data, Some(&g), out);
        }
        Probe::Part
    } else if est >= RANDOM_LOOKING * n as f32 {
        Probe::Whole
    } else {
        Probe::No
    };
    if probe != Probe::No && n <= TINY_LEN {
        #[cfg(test)]
        TINY_SKIPPED.with(|t| t.set(t.get() + 1));
        return encode_block_with(data, Some(&g), out);
    }
    encode_lz_scratch(data, level, &mut g, probe, est, out)
}

/// [`encode_lz`] with this thread's encoder scratch.
fn encode_lz_scratch(
    data: &[u8],
    level: Level,
    g: &mut Granules,
    probe: Probe,
    est: f32,
    out: &mut Vec<u8>,
) -> BlockCoding {
    ENC.with(|cell| match cell.try_borrow_mut() {
        Ok(mut sc) => encode_lz(data, level, g, probe, est, out, &mut sc),
        // Not reached (no re-entry), but fresh scratch is always correct.
        Err(_) => encode_lz(data, level, g, probe, est, out, &mut EncScratch::default()),
    })
}

/// LZ coding of `data` at `level` if it is the cheapest; `probe`: whether
/// the block looks random or near-random (order-0 estimate `est` bytes),
/// so the `fast` matcher runs first, over the whole block or one part,
/// and LZ is given up when its matches would save too little (`Probe`). `g` may hold only a prefix of the block's
/// histograms (at `fast`, see `PREFIX_LEN`): it is completed before any
/// Huffman coding of the block or exact comparison with it.
#[allow(clippy::too_many_arguments)]
fn encode_lz(
    data: &[u8],
    level: Level,
    g: &mut Granules,
    probe: Probe,
    est: f32,
    out: &mut Vec<u8>,
    sc: &mut EncScratch,
) -> BlockCoding {
    let n = data.len();
    let EncScratch {
        parse,
        writer,
        fast_table,
        chains,
        huff,
    } = sc;
    #[cfg(test)]
    TRIES.with(|t| t.set(t.get() + 1));
    let per_byte = est / n as f32;
    let given_up = match probe {
        Probe::Part => {
            g.complete(data);
            let part = &data[g.lowest_part(NEAR_PARTS)];
            fast::probe(part, parse, fast_table);
            parse.saved(part.len(), per_byte) < (part.len() >> NEAR_MIN_SHIFT).max(NEAR_MIN_BYTES)
        }
        Probe::Whole if level != Level::Fast => {
            fast::probe(data, parse, fast_table);
            parse.saved(n, per_byte) < n >> PROBE_MIN_SHIFT
        }
        _ if level == Level::Fast => {
            fast::parse(data, parse, fast_table);
            probe == Probe::Whole && parse.saved(n, per_byte) < n >> PROBE_MIN_SHIFT
        }
        _ => false,
    };
    if given_up {
        #[cfg(test)]
        GIVEN_UP.with(|t| t.set(t.get() + 1));
        return huffman(data, g, out);
    }
    match level {
        // (`fast` parsed the block above: it never gets `Probe::Part`.)
        Level::Fast => {}
        Level::Max => chain::parse(data, parse, chains, &chain::MAX),
        _ => chain::parse(data, parse, chains, &chain::DEFAULT),
    }
    if parse.seqs.is_empty() {
        return huffman(data, g, out);
    }
    let start = out.len();
    writer.one_segment = level == Level::Fast;
    writer.write(parse, out);
    let lz = out.len() - start;
    // The whole-block Huffman payload rarely beats its order-0 estimate
    // by much; cost it exactly only when LZ is not clearly smaller (at
    // `fast`: not smaller than the estimate itself; from a prefix, the
    // prefix's estimate per byte, then again from the whole block).
    let clear = if level == Level::Fast { 1.0 } else { 0.8 };
    if !g.is_complete() {
        let whole = g.entropy_bytes() * (n as f32 / g.covered() as f32);
        if (lz as f32) < clear * whole && lz < n {
            #[cfg(test)]
            PREFIX_ONLY.with(|t| t.set(t.get() + 1));
            return BlockCoding::Lz;
        }
        g.complete(data);
        // The rest made the block random-looking (where the probe would
        // have given LZ up): compare with Huffman exactly.
        let exact = g.entropy_bytes_corrected() >= RANDOM_LOOKING * n as f32;
        if !exact && (lz as f32) < clear * g.entropy_bytes() && lz < n {
            return BlockCoding::Lz;
        }
    } else if (lz as f32) < clear * g.entropy_bytes() && lz < n {
        return BlockCoding::Lz;
    }
    huff.clear();
    match encode_block_with(data, Some(g), huff) {
        BlockCoding::Huffman if huff.len() < lz => {
            out.truncate(start);
            out.extend_from_slice(huff);
            BlockCoding::Huffman
        }
        _ if lz < n => BlockCoding::Lz,
        c => {
            out.truncate(start);
            c
        }
    }
}

/// `encode_block` of `data`, with `g` (completed first if a prefix).
fn huffman(data: &[u8], g: &mut Granules, out: &mut Vec<u8>) -> BlockCoding {
    g.complete(data);
    encode_block_with(data, Some(g), out)
}
