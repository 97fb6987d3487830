//! Why the codec rejected its input: `CodecError`, one variant per rule of
//! docs/FORMAT.md sections 1 and 4 (Huffman payloads, their segments and
//! streams, the code-length tables of 4.3) with the values that broke it,
//! and `Lz` for the rules of section 5 (`lz::LzError`). The container
//! layer turns a `CodecError` into its own error, adding the block number
//! and the backing offset (container/read.rs); nothing else converts it.

use std::fmt;

use super::lz::LzError;

/// A payload, stream or code-length table that is not valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodecError {
    /// The decoded length is outside 1..=`max`.
    BlockLength { len: usize, max: usize },
    /// The length field at byte `at` runs past the payload or is longer
    /// than a field may be.
    BadVarint { at: usize },
    /// The segment count is 0 or above `max` (the format's limit, or the
    /// block length).
    SegmentCount { count: usize, max: usize },
    /// Segment `segment` says `len` bytes, but 1..`room` are possible (the
    /// last segment takes the rest of the block).
    SegmentLength {
        segment: usize,
        len: usize,
        room: usize,
    },
    /// A field of `needed` bytes at byte `at` runs past the payload of
    /// `have` bytes (`what` names the field).
    Truncated {
        what: &'static str,
        at: usize,
        needed: usize,
        have: usize,
    },
    /// The stream sizes of segment `segment` add up to `given` bytes; the
    /// payload has `available` left.
    StreamSizes {
        segment: usize,
        given: usize,
        available: usize,
    },
    /// `error` was found in segment `segment` (its table or streams).
    Segment {
        segment: usize,
        error: Box<CodecError>,
    },
    /// Stream `stream` of a segment runs out: its codes need `used_bits`
    /// bits, it has `bytes` bytes.
    StreamEndsEarly {
        stream: usize,
        used_bits: u64,
        bytes: usize,
    },
    /// Stream `stream` has `bytes` bytes but its symbols end in byte
    /// `used` (whole bytes left over).
    StreamLength {
        stream: usize,
        bytes: usize,
        used: u64,
    },
    /// A v1 stream: symbol number `symbol` has no code (the bits match
    /// none of the table's codes).
    InvalidCode { symbol: usize },
    /// A v1 stream: `bytes` bytes hold fewer bits than `symbols` symbols
    /// need.
    StreamTooShort { bytes: usize, symbols: usize },
    /// `extra` bytes follow the end of the payload.
    Trailing { extra: usize },
    /// A code-length table sends `count` CL code lengths; there are `max`
    /// CL symbols.
    ClLengths { count: usize, max: usize },
    /// The CL code of a code-length table is invalid.
    ClCode(Box<CodecError>),
    /// A code-length table refers to the previous segment's table in the
    /// first segment.
    NoPreviousTable,
    /// A code-length table's bits run past the `bytes` bytes given.
    TableTruncated { bytes: usize },
    /// A code-length table starts with a repeat of the previous value.
    RepeatAtStart,
    /// A run of `run` values at symbol `at` goes past symbol 255.
    RunPastEnd { at: usize, run: usize },
    /// A code-length table gives `symbol` the length `length`, outside
    /// 0..=`max`.
    LengthOutOfRange {
        symbol: usize,
        length: i32,
        max: u32,
    },
    /// Symbol `symbol` has a code of `length` bits; the limit is `max`.
    CodeTooLong {
        symbol: usize,
        length: u32,
        max: u32,
    },
    /// No symbol has a code.
    NoSymbols,
    /// The one symbol of a table has length `length` (it must be 1).
    SingleLength { symbol: usize, length: u32 },
    /// The lengths are not a complete prefix code: their Kraft sum is
    /// `kraft` / 2^32 (above 1: oversubscribed, below: incomplete).
    NotPrefixCode { kraft: u64 },
    /// An LZ payload (section 5) breaks one of the rules of 5.3.
    Lz(LzError),
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use CodecError::*;
        match self {
            BlockLength { len, max } => write!(f, "block length {len} outside 1..={max}"),
            BadVarint { at } => write!(f, "bad length field at payload byte {at}"),
            SegmentCount { count, max } => {
                write!(f, "bad segment count {count} (must be 1..={max})")
            }
            SegmentLength { segment, len, room } => write!(
                f,
                "segment {segment} length {len} does not fit the block (must be 1..{room})"
            ),
            Truncated {
                what,
                at,
                needed,
                have,
            } => write!(
                f,
                "payload truncated in {what}: {needed} bytes needed at byte {at}, payload has {have}"
            ),
            StreamSizes {
                segment,
                given,
                available,
            } => write!(
                f,
                "segment {segment}: stream sizes add up to {given} bytes, the payload has {available}"
            ),
            Segment { segment, error } => write!(f, "segment {segment}: {error}"),
            StreamEndsEarly {
                stream,
                used_bits,
                bytes,
            } => write!(
                f,
                "stream {stream} ends early: its codes need {used_bits} bits, it has {bytes} bytes"
            ),
            StreamLength {
                stream,
                bytes,
                used,
            } => write!(
                f,
                "stream {stream} has {bytes} bytes but its symbols use {used}"
            ),
            InvalidCode { symbol } => write!(f, "invalid code in bit stream at symbol {symbol}"),
            StreamTooShort { bytes, symbols } => write!(
                f,
                "Huffman stream ends early: {bytes} bytes hold fewer bits than {symbols} symbols need"
            ),
            Trailing { extra } => write!(f, "{extra} bytes of garbage after the payload"),
            ClLengths { count, max } => write!(
                f,
                "code-length table: {count} CL lengths, there are {max} CL symbols"
            ),
            ClCode(e) => write!(f, "code-length table: CL code: {e}"),
            NoPreviousTable => f.write_str(
                "code-length table refers to a previous table in the first segment",
            ),
            TableTruncated { bytes } => {
                write!(f, "code-length table is truncated (runs past {bytes} bytes)")
            }
            RepeatAtStart => f.write_str("code-length table repeats at its start"),
            RunPastEnd { at, run } => write!(
                f,
                "code-length table: a run of {run} at symbol {at} runs past 256 symbols"
            ),
            LengthOutOfRange {
                symbol,
                length,
                max,
            } => write!(
                f,
                "code-length table gives symbol {symbol} length {length} (must be 0..={max})"
            ),
            CodeTooLong {
                symbol,
                length,
                max,
            } => write!(
                f,
                "code length {length} of symbol {symbol} exceeds the limit of {max} bits"
            ),
            NoSymbols => f.write_str("code-length table has no symbols"),
            SingleLength { symbol, length } => write!(
                f,
                "one-symbol code-length table must give its symbol length 1 (symbol {symbol} has {length})"
            ),
            NotPrefixCode { kraft } if *kraft > 1 << 32 => write!(
                f,
                "code lengths do not form a prefix code (oversubscribed: Kraft sum {kraft}/2^32)"
            ),
            NotPrefixCode { kraft } => write!(
                f,
                "code lengths do not form a complete prefix code (incomplete: Kraft sum {kraft}/2^32)"
            ),
            Lz(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for CodecError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CodecError::Segment { error, .. } => Some(error.as_ref()),
            CodecError::ClCode(e) => Some(e.as_ref()),
            CodecError::Lz(e) => Some(e),
            _ => None,
        }
    }
}

impl From<LzError> for CodecError {
    fn from(e: LzError) -> CodecError {
        CodecError::Lz(e)
    }
}
