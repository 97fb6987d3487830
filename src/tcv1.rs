//! tc v1: the legacy block stream spoken by `scfs compress` / `scfs decompress`
//! (docs/FORMAT.md section 2, /work/shared/tc-v1-format.md).
//!
//! Both directions stream over `Read` / `Write`: the writer holds one
//! 64000-byte block and its coded form, the reader one block of at most
//! [`MAX_BLOCK_LEN`] bytes and its coded form, so memory stays bounded
//! whatever the input size. Every field read from a file is validated
//! before it sizes anything; a bad file is a [`Tcv1Error::Corrupt`] naming
//! the byte offset, never a panic.

use std::fmt;
use std::io::{self, Read, Seek, Write};

use crate::codec;

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
pub const MAX_BLOCK_LEN: u64 = 1 << 20;
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

/// Totals of a compression or decompression run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
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
            } => write!(f, "corrupt tc v1 data in block {b} at byte offset {offset}: {msg}"),
            Tcv1Error::Corrupt {
                offset,
                block: None,
                msg,
            } => write!(f, "corrupt tc v1 data at byte offset {offset}: {msg}"),
        }
    }
}

impl std::error::Error for Tcv1Error {}

fn corrupt(offset: u64, block: Option<u64>, msg: impl Into<String>) -> Tcv1Error {
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
fn check_table(lengths: &[u8; 256]) -> Result<(), String> {
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

/// Streaming tc v1 encoder: writes the file header on creation, then one
/// block per [`Writer::write_block`] call.
pub struct Writer<W: Write> {
    inner: W,
    coded: Vec<u8>,
    stats: Stats,
}

impl<W: Write> Writer<W> {
    /// Writes the file header to `inner`.
    pub fn new(mut inner: W) -> io::Result<Self> {
        inner.write_all(&file_header())?;
        Ok(Writer {
            inner,
            coded: Vec::with_capacity(BLOCK_LEN + 64),
            stats: Stats {
                encoded: FILE_HEADER_LEN as u64,
                ..Stats::default()
            },
        })
    }

    /// Encodes one block (1..=[`MAX_BLOCK_LEN`] bytes; our streams use
    /// [`BLOCK_LEN`]): Huffman if that is smaller than the data, else stored.
    pub fn write_block(&mut self, data: &[u8]) -> io::Result<BlockType> {
        if data.is_empty() || data.len() as u64 > MAX_BLOCK_LEN {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("tc v1 block of {} bytes", data.len()),
            ));
        }
        let (kind, lengths) = encode_block(data, &mut self.coded)?;
        let payload: &[u8] = match kind {
            BlockType::Huffman => &self.coded,
            BlockType::Stored => data,
        };
        let mut hdr = [0u8; BLOCK_HEADER_LEN];
        hdr[0] = match kind {
            BlockType::Huffman => TYPE_HUFFMAN,
            BlockType::Stored => TYPE_STORED,
        };
        hdr[1..9].copy_from_slice(&(data.len() as u64).to_le_bytes());
        hdr[9..17].copy_from_slice(&(payload.len() as u64).to_le_bytes());
        hdr[17..].copy_from_slice(&lengths);
        self.inner.write_all(&hdr)?;
        self.inner.write_all(payload)?;
        self.stats.original += data.len() as u64;
        self.stats.encoded += (BLOCK_HEADER_LEN + payload.len()) as u64;
        match kind {
            BlockType::Huffman => self.stats.huffman_blocks += 1,
            BlockType::Stored => self.stats.stored_blocks += 1,
        }
        Ok(kind)
    }

    /// Flushes and returns the sink with the totals.
    pub fn finish(mut self) -> io::Result<(W, Stats)> {
        self.inner.flush()?;
        Ok((self.inner, self.stats))
    }
}

/// Chooses the coding of one block. For Huffman, `coded` receives the bit
/// stream and the code lengths are returned; for stored, the table is all
/// zeros and `coded` is left empty.
pub fn encode_block(data: &[u8], coded: &mut Vec<u8>) -> io::Result<(BlockType, [u8; 256])> {
    coded.clear();
    let hist = codec::histogram(data);
    let lengths = codec::code_lengths(&hist, codec::MAX_CODE_LEN);
    let bytes = codec::coded_bits(&hist, &lengths).div_ceil(8);
    if bytes >= data.len() as u64 {
        return Ok((BlockType::Stored, [0u8; 256]));
    }
    codec::encode_stream(data, &lengths, coded);
    if coded.len() as u64 != bytes {
        return Err(io::Error::other(format!(
            "internal error: codec wrote {} bytes, predicted {bytes}",
            coded.len()
        )));
    }
    Ok((BlockType::Huffman, lengths))
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
            return Err(corrupt(
                4,
                None,
                format!("version {version} is not tc v1"),
            ));
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
        if uncompressed > MAX_BLOCK_LEN {
            return Err(bad(
                1,
                format!("uncompressed size {uncompressed} exceeds the limit {MAX_BLOCK_LEN}"),
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

    /// Reads and decodes the data of the block `hdr` (just returned by
    /// `next_header`) into `out` (resized to the uncompressed size), and
    /// checks that the compressed size is exactly what the code needs.
    pub fn read_data(&mut self, hdr: &BlockHeader, out: &mut Vec<u8>) -> Result<(), Tcv1Error> {
        self.pending = false;
        let data_off = hdr.offset + BLOCK_HEADER_LEN as u64;
        let bad = |at: u64, msg: String| corrupt(at, Some(hdr.index), msg);
        let buf = match hdr.kind {
            BlockType::Stored => &mut *out,
            BlockType::Huffman => &mut self.coded,
        };
        buf.clear();
        // Grows with the data actually present: a lying size on a short file
        // allocates no more than the file holds (and never above the limits
        // checked in next_header).
        let got = (&mut self.inner)
            .take(hdr.compressed)
            .read_to_end(buf)
            .map_err(Tcv1Error::Read)?;
        self.offset += got as u64;
        if (got as u64) < hdr.compressed {
            return Err(bad(
                self.offset,
                format!(
                    "truncated block data ({got} of {} bytes)",
                    hdr.compressed
                ),
            ));
        }
        if hdr.kind == BlockType::Stored {
            return Ok(());
        }
        out.clear();
        out.resize(hdr.uncompressed as usize, 0);
        codec::decode_stream(&hdr.lengths, &self.coded, out)
            .map_err(|e| bad(data_off, e.to_string()))?;
        // The compressed size must be what the decoded symbols need, rounded
        // up to a byte (one-symbol codes: 0 bytes, or one bit per symbol as
        // other writers may emit).
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
        let end = self.inner.seek(io::SeekFrom::End(0)).map_err(Tcv1Error::Read)?;
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

/// Compresses `input` into a tc v1 stream on `output`, calling
/// `progress(bytes_read)` after each block.
pub fn compress<R: Read, W: Write>(
    mut input: R,
    output: W,
    mut progress: impl FnMut(u64),
) -> Result<Stats, Tcv1Error> {
    let mut w = Writer::new(output).map_err(Tcv1Error::Write)?;
    let mut buf = vec![0u8; BLOCK_LEN];
    loop {
        let n = read_full(&mut input, &mut buf).map_err(Tcv1Error::Read)?;
        if n == 0 {
            break;
        }
        w.write_block(&buf[..n]).map_err(Tcv1Error::Write)?;
        progress(w.stats.original);
        if n < BLOCK_LEN {
            break;
        }
    }
    let (_, stats) = w.finish().map_err(Tcv1Error::Write)?;
    Ok(stats)
}

/// Decompresses a tc v1 stream from `input` onto `output`, calling
/// `progress(bytes_written)` after each block.
pub fn decompress<R: Read, W: Write>(
    input: R,
    mut output: W,
    mut progress: impl FnMut(u64),
) -> Result<Stats, Tcv1Error> {
    let mut r = Reader::new(input)?;
    let mut out = Vec::with_capacity(BLOCK_LEN);
    let mut stats = Stats::default();
    while let Some(h) = r.next_block(&mut out)? {
        output.write_all(&out).map_err(Tcv1Error::Write)?;
        stats.original += h.uncompressed;
        match h.kind {
            BlockType::Huffman => stats.huffman_blocks += 1,
            BlockType::Stored => stats.stored_blocks += 1,
        }
        progress(stats.original);
    }
    output.flush().map_err(Tcv1Error::Write)?;
    stats.encoded = r.offset();
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(data: &[u8]) -> Vec<u8> {
        let mut enc = Vec::new();
        compress(data, &mut enc, |_| {}).unwrap();
        let mut dec = Vec::new();
        decompress(&enc[..], &mut dec, |_| {}).unwrap();
        assert_eq!(dec, data);
        enc
    }

    #[test]
    fn empty_is_header_only() {
        assert_eq!(roundtrip(&[]), file_header().to_vec());
    }

    #[test]
    fn table_checks() {
        let mut t = [0u8; 256];
        assert!(check_table(&t).is_err());
        t[7] = 1;
        assert!(check_table(&t).is_ok());
        t[7] = 2;
        assert!(check_table(&t).is_err());
        t[7] = 1;
        t[8] = 1;
        assert!(check_table(&t).is_ok());
        t[9] = 1;
        assert!(check_table(&t).is_err());
        let mut t = [8u8; 256];
        assert!(check_table(&t).is_ok());
        t[0] = 33;
        assert!(check_table(&t).is_err());
        let mut t = [0u8; 256];
        t[0] = 32;
        t[1] = 32;
        assert!(check_table(&t).is_err()); // incomplete
    }

    #[test]
    fn block_boundaries() {
        for n in [1usize, 63_999, 64_000, 64_001, 128_000] {
            let data: Vec<u8> = (0..n).map(|i| (i % 7) as u8).collect();
            let enc = roundtrip(&data);
            let blocks = n.div_ceil(BLOCK_LEN);
            assert!(enc.len() >= FILE_HEADER_LEN + blocks * BLOCK_HEADER_LEN);
        }
    }

    #[test]
    fn incompressible_is_stored() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let data: Vec<u8> = (0..100_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let enc = roundtrip(&data);
        assert_eq!(enc.len(), FILE_HEADER_LEN + 2 * BLOCK_HEADER_LEN + data.len());
        assert_eq!(enc[FILE_HEADER_LEN], TYPE_STORED);
    }
}
