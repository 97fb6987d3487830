//! tc v1: the legacy block stream spoken by `scfs compress` / `scfs decompress`
//! (docs/FORMAT.md section 2, /work/shared/tc-v1-format.md).
//!
//! Both directions stream over `Read` / `Write`: the writer holds one
//! 64000-byte block and its coded form, the reader one block of at most
//! [`V1_MAX_BLOCK_LEN`] bytes and its coded form, so memory stays bounded
//! whatever the input size. Every field read from a file is validated
//! before it sizes anything; a bad file is a [`Tcv1Error::Corrupt`] naming
//! the byte offset, never a panic.

use std::fmt;
use std::io::{self, Read};

mod pipeline;
mod reader;
mod writer;

pub(crate) use pipeline::parallel;
pub use pipeline::{compress, decompress, worker_count};
pub use reader::{decode_raw, BlockHeader, Reader};
pub use writer::{encode_block, V1Block, Writer};

/// The four magic bytes every scfs format starts with.
pub const MAGIC: [u8; 4] = [0x0C, 0x00, 0x0D, 0x0E];
/// The version field of tc v1.
pub const VERSION: u16 = 1;
/// Length of the file header (magic, version, 8 reserved bytes).
pub const FILE_HEADER_LEN: usize = 14;
/// Length of a block header (type, two sizes, 256-byte table).
pub const BLOCK_HEADER_LEN: usize = 273;
/// Input bytes per block written by our encoder.
pub const BLOCK_LEN: usize = 64_000;
/// Largest uncompressed block size the reader accepts (other tc writers may
/// use other block sizes; this bounds the reader's memory).
pub const V1_MAX_BLOCK_LEN: u64 = 1 << 20;
/// Longest code length the reader accepts in a table.
pub const MAX_READ_CODE_LEN: u8 = 32;

/// Block type byte of a Huffman-coded block.
pub const TYPE_HUFFMAN: u8 = 0;
/// Block type byte of a stored (raw) block.
pub const TYPE_STORED: u8 = 1;

/// How a block is coded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockType {
    /// Canonical Huffman bit stream.
    Huffman,
    /// Raw bytes.
    Stored,
}

/// Totals of a compression or decompression run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunTotals {
    /// Bytes of original data.
    pub original: u64,
    /// Bytes of the tc v1 stream (headers included).
    pub encoded: u64,
    /// Huffman blocks.
    pub huffman_blocks: u64,
    /// Stored blocks.
    pub stored_blocks: u64,
}

/// Why a tc v1 operation failed.
#[derive(Debug)]
pub enum Tcv1Error {
    /// Reading the input failed.
    Read(io::Error),
    /// Writing the output failed.
    Write(io::Error),
    /// The input is not a valid tc v1 stream.
    Corrupt {
        /// Byte offset in the input where the problem is.
        offset: u64,
        /// Block number, if the problem is inside a block.
        block: Option<u64>,
        /// What is wrong.
        msg: String,
    },
}

impl fmt::Display for Tcv1Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tcv1Error::Read(e) => write!(f, "read error: {e}"),
            Tcv1Error::Write(e) => write!(f, "write error: {e}"),
            Tcv1Error::Corrupt {
                offset,
                block: Some(b),
                msg,
            } => write!(
                f,
                "corrupt tc v1 data in block {b} at byte offset {offset}: {msg}"
            ),
            Tcv1Error::Corrupt {
                offset,
                block: None,
                msg,
            } => write!(f, "corrupt tc v1 data at byte offset {offset}: {msg}"),
        }
    }
}

impl std::error::Error for Tcv1Error {}

pub(crate) fn corrupt(offset: u64, block: Option<u64>, msg: impl Into<String>) -> Tcv1Error {
    Tcv1Error::Corrupt {
        offset,
        block,
        msg: msg.into(),
    }
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
pub(crate) fn read_full<R: Read + ?Sized>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The 14-byte file header our writer emits.
pub fn file_header() -> [u8; FILE_HEADER_LEN] {
    let mut h = [0u8; FILE_HEADER_LEN];
    h[..4].copy_from_slice(&MAGIC);
    h[4..6].copy_from_slice(&VERSION.to_le_bytes());
    h
}

/// Checks a code-length table of a Huffman block: lengths at most 32, and
/// either exactly one symbol of length 1 or a complete prefix code.
pub(crate) fn check_table(lengths: &[u8; 256]) -> Result<(), String> {
    let mut kraft: u64 = 0; // sum of 2^(32 - len): complete code == 2^32
    let mut present = 0;
    for (sym, &len) in lengths.iter().enumerate() {
        if len == 0 {
            continue;
        }
        if len > MAX_READ_CODE_LEN {
            return Err(format!(
                "code length {len} of byte value {sym} exceeds {MAX_READ_CODE_LEN}"
            ));
        }
        present += 1;
        kraft += 1u64 << (32 - u32::from(len));
    }
    match present {
        0 => Err("Huffman block with an empty code-length table".into()),
        1 if kraft == 1u64 << 31 => Ok(()),
        1 => Err("a one-symbol code must have length 1".into()),
        _ if kraft == 1u64 << 32 => Ok(()),
        _ if kraft > 1u64 << 32 => {
            Err("code lengths do not form a prefix code (oversubscribed)".into())
        }
        _ => Err("code lengths do not form a complete prefix code".into()),
    }
}

#[cfg(test)]
mod tests;
