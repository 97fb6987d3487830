//! The tc v1 encoder: block coding choice (Huffman or stored) and the
//! streaming writer.

use std::io::{self, Write};

use super::{
    file_header, BlockType, RunTotals, BLOCK_HEADER_LEN, BLOCK_LEN, FILE_HEADER_LEN, TYPE_HUFFMAN,
    TYPE_STORED, V1_MAX_BLOCK_LEN,
};
use crate::codec;

/// One block coded and ready to write.
#[derive(Debug, Clone)]
pub struct V1Block {
    /// Huffman or stored.
    pub kind: BlockType,
    /// Code lengths (all zero for stored).
    pub lengths: [u8; 256],
    /// The Huffman bit stream (empty for stored: the data is written raw).
    pub coded: Vec<u8>,
}

impl Default for V1Block {
    fn default() -> Self {
        V1Block {
            kind: BlockType::Stored,
            lengths: [0; 256],
            coded: Vec::new(),
        }
    }
}

/// Chooses the coding of one block into `enc` (its buffer is reused):
/// Huffman if the bit stream, rounded up to a byte, is strictly smaller than
/// the data; stored otherwise.
pub fn encode_block(data: &[u8], enc: &mut V1Block) -> io::Result<()> {
    enc.coded.clear();
    let hist = codec::histogram(data);
    let lengths = codec::code_lengths(&hist, codec::MAX_CODE_LEN);
    let bytes = codec::coded_bits(&hist, &lengths).div_ceil(8);
    if bytes >= data.len() as u64 {
        enc.kind = BlockType::Stored;
        enc.lengths = [0; 256];
        return Ok(());
    }
    codec::encode_stream(data, &lengths, &mut enc.coded);
    if enc.coded.len() as u64 != bytes {
        return Err(io::Error::other(format!(
            "internal error: codec wrote {} bytes, predicted {bytes}",
            enc.coded.len()
        )));
    }
    enc.kind = BlockType::Huffman;
    enc.lengths = lengths;
    Ok(())
}

/// Streaming tc v1 encoder: writes the file header on creation, then one
/// block per [`Writer::write_block`] (or [`Writer::write_encoded`]) call.
pub struct Writer<W: Write> {
    inner: W,
    scratch: V1Block,
    stats: RunTotals,
}

impl<W: Write> Writer<W> {
    /// Writes the file header to `inner`.
    pub fn new(mut inner: W) -> io::Result<Self> {
        inner.write_all(&file_header())?;
        Ok(Writer {
            inner,
            scratch: V1Block {
                coded: Vec::with_capacity(BLOCK_LEN + 64),
                ..V1Block::default()
            },
            stats: RunTotals {
                encoded: FILE_HEADER_LEN as u64,
                ..RunTotals::default()
            },
        })
    }

    /// Totals so far.
    pub fn stats(&self) -> RunTotals {
        self.stats
    }

    /// Encodes and writes one block (1..=[`V1_MAX_BLOCK_LEN`] bytes; our
    /// streams use [`BLOCK_LEN`]).
    pub fn write_block(&mut self, data: &[u8]) -> io::Result<BlockType> {
        check_len(data)?;
        let mut enc = std::mem::take(&mut self.scratch);
        let r = encode_block(data, &mut enc).and_then(|_| self.write_encoded(data, &enc));
        let kind = enc.kind;
        self.scratch = enc;
        r.map(|_| kind)
    }

    /// Writes one block already coded by [`encode_block`] from `data`.
    pub fn write_encoded(&mut self, data: &[u8], enc: &V1Block) -> io::Result<()> {
        check_len(data)?;
        let payload: &[u8] = match enc.kind {
            BlockType::Huffman => &enc.coded,
            BlockType::Stored => data,
        };
        let mut hdr = [0u8; BLOCK_HEADER_LEN];
        hdr[0] = match enc.kind {
            BlockType::Huffman => TYPE_HUFFMAN,
            BlockType::Stored => TYPE_STORED,
        };
        hdr[1..9].copy_from_slice(&(data.len() as u64).to_le_bytes());
        hdr[9..17].copy_from_slice(&(payload.len() as u64).to_le_bytes());
        hdr[17..].copy_from_slice(&enc.lengths);
        self.inner.write_all(&hdr)?;
        self.inner.write_all(payload)?;
        self.stats.original += data.len() as u64;
        self.stats.encoded += (BLOCK_HEADER_LEN + payload.len()) as u64;
        match enc.kind {
            BlockType::Huffman => self.stats.huffman_blocks += 1,
            BlockType::Stored => self.stats.stored_blocks += 1,
        }
        Ok(())
    }

    /// Flushes and returns the sink with the totals.
    pub fn finish(mut self) -> io::Result<(W, RunTotals)> {
        self.inner.flush()?;
        Ok((self.inner, self.stats))
    }
}

fn check_len(data: &[u8]) -> io::Result<()> {
    if data.is_empty() || data.len() as u64 > V1_MAX_BLOCK_LEN {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("tc v1 block of {} bytes", data.len()),
        ));
    }
    Ok(())
}
