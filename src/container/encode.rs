//! Coding blocks for the container: the pure block encoder (the cheapest
//! of hole, fill, stored, Huffman and LZ at a [`Compression`]), which
//! codings a container may hold (LZ needs header version 3 or 4), raising a
//! version-3 header to 4 before its first LZ record (FORMAT.md 3.2), and
//! the payload a record read back carries.

use std::os::unix::fs::FileExt;

use super::format::{self, MAX_BLOCK_SHIFT, RECORD_HEADER_LEN};
use super::index::Coding;
use super::{BlockKind, Compression, Container, ContainerError, EncodedBlock, Result};
use crate::codec::{self, BlockCoding, Level};

/// A block record's payload as read, by coding (stored bytes are read
/// straight into the output instead).
pub(super) enum Payload<'a> {
    Stored,
    Huffman(&'a [u8]),
    Lz(&'a [u8]),
}

impl Payload<'_> {
    pub(super) fn coding(&self) -> Coding {
        match self {
            Payload::Stored => Coding::Stored,
            Payload::Huffman(_) => Coding::Huffman,
            Payload::Lz(_) => Coding::Lz,
        }
    }
}

impl Container {
    /// True when blocks may be stored as LZ records here: every container
    /// but a version-2 one, which keeps kinds 1-3 until compaction
    /// rewrites it (FORMAT.md 3.2).
    pub fn lz_allowed(&self) -> bool {
        format::allows_lz(self.version)
    }

    /// The coding blocks of this container get when `wanted` is asked
    /// for: `wanted`, or at most `huffman` in a version-2 container.
    pub fn compression_for(&self, wanted: Compression) -> Compression {
        match wanted {
            Compression::Level(_) if !self.lz_allowed() => Compression::Level(Level::Huffman),
            c => c,
        }
    }

    /// Pure: compresses one block (no I/O, no lock needed): at a level,
    /// the cheapest of hole, fill, stored, Huffman and LZ; with
    /// `Compression::None`, stored (a hole if all zero).
    /// `data.len()` must be at most the block size (checked by
    /// `put_block`); LZ blocks go only into containers that allow them
    /// (see [`Container::compression_for`]).
    pub fn encode(block_no: u64, data: &[u8], compression: Compression) -> EncodedBlock {
        let decoded_len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        let data_crc = crc32c::crc32c(data);
        let mut bytes = vec![0u8; RECORD_HEADER_LEN as usize];
        let coding = if data.is_empty() {
            BlockCoding::Zero
        } else if data.len() > 1 << MAX_BLOCK_SHIFT {
            // Beyond any block size: put_block rejects it; keep the codec
            // within its documented input range.
            BlockCoding::Raw
        } else {
            match compression {
                Compression::Level(level) => codec::encode_block_level(data, level, &mut bytes),
                Compression::None if data.iter().all(|&b| b == 0) => BlockCoding::Zero,
                Compression::None => BlockCoding::Raw,
            }
        };
        // Trust but verify what the codec chose; anything doubtful is stored.
        let kind = match coding {
            BlockCoding::Zero if data.iter().all(|&b| b == 0) => BlockKind::Hole,
            BlockCoding::Fill(0) if data.iter().all(|&b| b == 0) => BlockKind::Hole,
            BlockCoding::Fill(b) if data.iter().all(|&x| x == b) => BlockKind::Fill(b),
            c @ (BlockCoding::Huffman | BlockCoding::Lz)
                if bytes.len() > RECORD_HEADER_LEN as usize
                    && bytes.len() - (RECORD_HEADER_LEN as usize) < data.len() =>
            {
                if c == BlockCoding::Lz {
                    BlockKind::Lz
                } else {
                    BlockKind::Huffman
                }
            }
            _ => BlockKind::Stored,
        };
        match kind {
            BlockKind::Stored => {
                bytes.truncate(RECORD_HEADER_LEN as usize);
                bytes.extend_from_slice(data);
            }
            BlockKind::Huffman | BlockKind::Lz => {}
            BlockKind::Hole | BlockKind::Fill(_) => bytes = Vec::new(),
        }
        EncodedBlock {
            block_no,
            kind,
            decoded_len,
            data_crc,
            bytes,
        }
    }

    /// Makes the header say version 4 before the first LZ record goes
    /// into a version-3 container: one 2-byte write at offset 4 (FORMAT.md
    /// 3.2; the header CRC stays valid). A version-2 container takes no LZ
    /// record.
    pub(super) fn raise_for_lz(&mut self) -> Result<()> {
        match self.version {
            format::VERSION | format::VERSION_4 => Ok(()),
            format::VERSION_3 => {
                // A version-3 header comes only from open, so it is in the
                // file (only new containers hold their header back).
                self.file
                    .write_all_at(&format::VERSION_4.to_le_bytes(), format::VERSION_OFFSET)?;
                self.version = format::VERSION_4;
                Ok(())
            }
            v => Err(ContainerError::InvalidArgument(format!(
                "a version-{v} container cannot hold LZ blocks"
            ))),
        }
    }
}
