//! Canonical Huffman codec over bytes (docs/FORMAT.md sections 1 and 4).
//!
//! - `lengths`: histograms, optimal length-limited code lengths (Huffman,
//!   falling back to package-merge), exact coded sizes.
//! - `canonical`: table validation and canonical code assignment.
//! - `bits`: LSB-first bit writer/reader with 64-bit buffers.
//! - `stream`: the single bit stream of v1 (`encode_stream` /
//!   `decode_stream`, codes up to 32 bits) and the lookup tables.
//! - `huff_encode`: the four-stream encoder of v2 segments.
//! - `seg_table`: the lookup tables of one v2 segment and the choice of
//!   its decoding kernel.
//! - `huff_decode`: the four-stream decoding kernels of v2 segments.
//! - `interleave`: the quarters of a segment; two-symbol lookups of v1.
//! - `table`: the compact code-length table of v2 blocks.
//! - `block`: the v2 Huffman block payload (segments, each with its own
//!   table and four interleaved streams) and the block coding choice.
//! - `split`: choosing where a block switches tables.
//! - `lz`: LZ77 + Huffman block payloads (section 5) and the levels.
//! - `error`: `CodecError`, why an input was rejected (with its values).

mod bits;
mod block;
mod canonical;
mod error;
mod huff_decode;
mod huff_encode;
mod interleave;
mod lengths;
mod limit;
pub mod lz;
mod seg_table;
mod split;
mod stream;
mod table;

use std::fmt;

pub use block::{decode_block, encode_block, encode_block_huffman, MAX_BLOCK_LEN};
pub use error::CodecError;
pub use lengths::{code_lengths, coded_bits, histogram};
pub use lz::{decode_lz_block, encode_block_level, LzError};
pub use stream::{decode_stream, encode_stream};

/// Longest code our encoders produce (and the longest a v2 block may use).
pub const MAX_CODE_LEN: u32 = 11;

/// Longest code a v1 decoder accepts (files written by other tc encoders).
pub const MAX_DECODE_LEN: u32 = 32;

/// How the v2 container should store one block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockCoding {
    /// Every byte is zero (also the empty block): no record.
    Zero,
    /// Every byte equals this value: no record.
    Fill(u8),
    /// Store the bytes as they are: Huffman would not be smaller.
    Raw,
    /// The section-4 payload was appended to `out`.
    Huffman,
    /// The section-5 (LZ) payload was appended to `out`.
    Lz,
}

/// Compression level of `encode_block_level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Level {
    /// Huffman only (section 4): `encode_block`.
    Huffman,
    /// LZ with a single-probe hash matcher (lz4 / zstd -1 class).
    Fast,
    /// LZ with hash chains and lazy matching.
    Default,
    /// LZ with deep hash chains and two-step lazy matching: slow to
    /// write, as fast to read as the others.
    Max,
}

impl Level {
    /// Every level, fastest first.
    pub const ALL: [Level; 4] = [Level::Huffman, Level::Fast, Level::Default, Level::Max];

    /// The level's name as `FromStr` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Level::Huffman => "huffman",
            Level::Fast => "fast",
            Level::Default => "default",
            Level::Max => "max",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Level {
    type Err = String;

    fn from_str(s: &str) -> Result<Level, String> {
        Level::ALL
            .into_iter()
            .find(|l| l.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                let names: Vec<&str> = Level::ALL.iter().map(|l| l.name()).collect();
                format!(
                    "unknown compression level {s:?}: expected one of {}",
                    names.join(", ")
                )
            })
    }
}

#[cfg(test)]
mod tests;
