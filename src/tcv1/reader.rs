//! The tc v1 decoder: header validation and the streaming reader.

use std::io::{self, Read, Seek};

use super::{
    check_table, corrupt, read_full, BlockType, Tcv1Error, BLOCK_HEADER_LEN, FILE_HEADER_LEN,
    MAGIC, TYPE_HUFFMAN, TYPE_STORED, V1_MAX_BLOCK_LEN, VERSION,
};
use crate::codec;

/// A validated block header.
#[derive(Debug, Clone)]
pub struct BlockHeader {
    /// Block number, from 0.
    pub index: u64,
    /// Byte offset of the block header in the stream.
    pub offset: u64,
    /// How the data is coded.
    pub kind: BlockType,
    /// Bytes of original data.
    pub uncompressed: u64,
    /// Bytes of data after the 273-byte header.
    pub compressed: u64,
    /// Code length of each byte value (all zero for stored blocks).
    pub lengths: [u8; 256],
}

impl Default for BlockHeader {
    fn default() -> Self {
        BlockHeader {
            index: 0,
            offset: 0,
            kind: BlockType::Stored,
            uncompressed: 0,
            compressed: 0,
            lengths: [0; 256],
        }
    }
}

/// Streaming tc v1 decoder over any reader. Tracks the byte offset for
/// error messages.
pub struct Reader<R: Read> {
    inner: R,
    offset: u64,
    next_index: u64,
    coded: Vec<u8>,
    /// Header read by `next_header` whose data has not been consumed yet.
    pending: bool,
}

impl<R: Read> Reader<R> {
    /// Reads and checks the 14-byte file header. The 8 reserved bytes are
    /// ignored.
    pub fn new(mut inner: R) -> Result<Self, Tcv1Error> {
        let mut h = [0u8; FILE_HEADER_LEN];
        let n = read_full(&mut inner, &mut h).map_err(Tcv1Error::Read)?;
        if n >= 4 && h[..4] != MAGIC || n < 4 && h[..n] != MAGIC[..n] {
            return Err(corrupt(0, None, "not an scfs/tc file (bad magic number)"));
        }
        if n < FILE_HEADER_LEN {
            return Err(corrupt(
                n as u64,
                None,
                format!("truncated file header ({n} of {FILE_HEADER_LEN} bytes)"),
            ));
        }
        let version = u16::from_le_bytes([h[4], h[5]]);
        if version != VERSION {
            return Err(corrupt(4, None, format!("version {version} is not tc v1")));
        }
        Ok(Reader {
            inner,
            offset: FILE_HEADER_LEN as u64,
            next_index: 0,
            coded: Vec::new(),
            pending: false,
        })
    }

    /// Byte offset of the next unread byte of the stream.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Reads and validates the next block header; `None` at a clean end of
    /// the stream. Must be followed by [`Reader::read_data`] or
    /// [`Reader::skip_data`].
    pub fn next_header(&mut self) -> Result<Option<BlockHeader>, Tcv1Error> {
        if self.pending {
            return Err(Tcv1Error::Read(io::Error::other(
                "tc v1 reader: previous block's data not consumed",
            )));
        }
        let index = self.next_index;
        let offset = self.offset;
        let bad = |at: u64, msg: String| corrupt(offset + at, Some(index), msg);
        let mut h = [0u8; BLOCK_HEADER_LEN];
        let n = read_full(&mut self.inner, &mut h).map_err(Tcv1Error::Read)?;
        self.offset += n as u64;
        if n == 0 {
            return Ok(None);
        }
        if n < BLOCK_HEADER_LEN {
            return Err(bad(
                n as u64,
                format!("truncated block header ({n} of {BLOCK_HEADER_LEN} bytes)"),
            ));
        }
        let uncompressed = u64::from_le_bytes(h[1..9].try_into().expect("8 bytes"));
        let compressed = u64::from_le_bytes(h[9..17].try_into().expect("8 bytes"));
        let mut lengths = [0u8; 256];
        lengths.copy_from_slice(&h[17..]);
        let kind = match h[0] {
            TYPE_HUFFMAN => BlockType::Huffman,
            TYPE_STORED => BlockType::Stored,
            t => return Err(bad(0, format!("unknown block type {t}"))),
        };
        if uncompressed == 0 {
            return Err(bad(1, "uncompressed size 0".into()));
        }
        if uncompressed > V1_MAX_BLOCK_LEN {
            return Err(bad(
                1,
                format!("uncompressed size {uncompressed} exceeds the limit {V1_MAX_BLOCK_LEN}"),
            ));
        }
        match kind {
            BlockType::Stored => {
                if compressed != uncompressed {
                    return Err(bad(
                        9,
                        format!(
                            "stored block: compressed size {compressed} != uncompressed size {uncompressed}"
                        ),
                    ));
                }
                if let Some(i) = lengths.iter().position(|&l| l != 0) {
                    return Err(bad(
                        17 + i as u64,
                        "stored block with a non-zero code-length table".into(),
                    ));
                }
            }
            BlockType::Huffman => {
                check_table(&lengths).map_err(|m| bad(17, m))?;
                let max_len = u64::from(*lengths.iter().max().unwrap_or(&0));
                let limit = (uncompressed * max_len).div_ceil(8);
                if compressed > limit {
                    return Err(bad(
                        9,
                        format!(
                            "compressed size {compressed} exceeds the {limit} bytes {uncompressed} symbols of at most {max_len} bits can take"
                        ),
                    ));
                }
            }
        }
        self.next_index += 1;
        self.pending = true;
        Ok(Some(BlockHeader {
            index,
            offset,
            kind,
            uncompressed,
            compressed,
            lengths,
        }))
    }

    /// Reads the `compressed size` data bytes of block `hdr` (just returned
    /// by `next_header`) into `raw`, undecoded.
    pub fn read_raw(&mut self, hdr: &BlockHeader, raw: &mut Vec<u8>) -> Result<(), Tcv1Error> {
        self.pending = false;
        raw.clear();
        // next_header bounded `compressed` (at most 4 MiB: 1 MiB of 32-bit
        // codes), so this allocation is bounded whatever the header says.
        raw.reserve_exact(hdr.compressed as usize);
        let got = (&mut self.inner)
            .take(hdr.compressed)
            .read_to_end(raw)
            .map_err(Tcv1Error::Read)?;
        self.offset += got as u64;
        if (got as u64) < hdr.compressed {
            return Err(corrupt(
                self.offset,
                Some(hdr.index),
                format!("truncated block data ({got} of {} bytes)", hdr.compressed),
            ));
        }
        Ok(())
    }

    /// Reads and decodes the data of block `hdr` (just returned by
    /// `next_header`) into `out` (resized to the uncompressed size).
    pub fn read_data(&mut self, hdr: &BlockHeader, out: &mut Vec<u8>) -> Result<(), Tcv1Error> {
        if hdr.kind == BlockType::Stored {
            return self.read_raw(hdr, out);
        }
        let mut raw = std::mem::take(&mut self.coded);
        let r = self
            .read_raw(hdr, &mut raw)
            .and_then(|_| decode_raw(hdr, &raw, out));
        self.coded = raw;
        r
    }

    /// Reads the next block whole: header, then data into `out`. `None` at
    /// the end of the stream.
    pub fn next_block(&mut self, out: &mut Vec<u8>) -> Result<Option<BlockHeader>, Tcv1Error> {
        match self.next_header()? {
            None => Ok(None),
            Some(h) => {
                self.read_data(&h, out)?;
                Ok(Some(h))
            }
        }
    }
}

impl<R: Read + Seek> Reader<R> {
    /// Skips the data of the block `hdr` without reading it (for `info`).
    /// A data section running past the end of the input is reported as
    /// truncated.
    pub fn skip_data(&mut self, hdr: &BlockHeader) -> Result<(), Tcv1Error> {
        self.pending = false;
        let end = self
            .inner
            .seek(io::SeekFrom::End(0))
            .map_err(Tcv1Error::Read)?;
        let want = self.offset.saturating_add(hdr.compressed);
        if want > end {
            return Err(corrupt(
                end,
                Some(hdr.index),
                format!(
                    "truncated block data ({} of {} bytes)",
                    end.saturating_sub(self.offset),
                    hdr.compressed
                ),
            ));
        }
        self.inner
            .seek(io::SeekFrom::Start(want))
            .map_err(Tcv1Error::Read)?;
        self.offset = want;
        Ok(())
    }
}

/// Decodes the data `raw` of block `hdr` into `out` (resized to the
/// uncompressed size) and checks that the compressed size is exactly what
/// the code needs.
pub fn decode_raw(hdr: &BlockHeader, raw: &[u8], out: &mut Vec<u8>) -> Result<(), Tcv1Error> {
    let bad = |at: u64, msg: String| corrupt(at, Some(hdr.index), msg);
    if raw.len() as u64 != hdr.compressed {
        return Err(bad(hdr.offset + 9, "block data length mismatch".into()));
    }
    out.clear();
    if hdr.kind == BlockType::Stored {
        out.extend_from_slice(raw);
        return Ok(());
    }
    out.resize(hdr.uncompressed as usize, 0);
    codec::decode_stream(&hdr.lengths, raw, out)
        .map_err(|e| bad(hdr.offset + BLOCK_HEADER_LEN as u64, e.to_string()))?;
    // The compressed size must be what the decoded symbols need, rounded up
    // to a byte (one-symbol codes: 0 bytes, or one bit per symbol as other
    // writers may emit).
    let present = hdr.lengths.iter().filter(|&&l| l != 0).count();
    let ok = if present == 1 {
        hdr.compressed == 0 || hdr.compressed == hdr.uncompressed.div_ceil(8)
    } else {
        let hist = codec::histogram(out);
        let bits: u64 = hist
            .iter()
            .zip(hdr.lengths.iter())
            .map(|(&c, &l)| u64::from(c) * u64::from(l))
            .sum();
        hdr.compressed == bits.div_ceil(8)
    };
    if !ok {
        return Err(bad(
            hdr.offset + 9,
            format!(
                "compressed size {} does not match the decoded data",
                hdr.compressed
            ),
        ));
    }
    Ok(())
}
