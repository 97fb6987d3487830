//! Why a v2 LZ block payload (docs/FORMAT.md section 5) was rejected: one
//! variant per rule of 5.3, each with the values that broke it. It reaches
//! callers as `CodecError::Lz` (codec/error.rs).

use std::fmt;

use crate::codec::CodecError;

/// A section-5 payload that is not valid for its decoded length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LzError {
    /// The decoded length is outside 1..=MAX_BLOCK_LEN.
    BlockLength { len: usize },
    /// A field needs `needed` bytes from offset `at`; the payload has `have`.
    Truncated {
        at: usize,
        needed: usize,
        have: usize,
    },
    /// A varint longer than 4 bytes or not in its shortest form.
    BadVarint { at: usize },
    /// A count does not fit the block (`what` names the field).
    Count {
        what: &'static str,
        value: usize,
        max: usize,
    },
    /// Unknown literal mode byte.
    LiteralMode { mode: u8 },
    /// The section-4 literal payload is corrupt.
    Literals(Box<CodecError>),
    /// A sequence table (`which`: LL, ML or OF) is corrupt.
    Table {
        which: &'static str,
        error: Box<CodecError>,
    },
    /// A sequence table (`which`) has a code of `length` bits; the limit
    /// is `max`.
    SeqCodeTooLong {
        which: &'static str,
        length: u32,
        max: u32,
    },
    /// A table codes a symbol past its alphabet.
    SymbolOutOfRange { which: &'static str, symbol: usize },
    /// Sequence `seq` uses literals past the `nlit` given.
    LiteralsOverrun {
        seq: usize,
        needed: usize,
        nlit: usize,
    },
    /// Sequence `seq` would write past the end of the block.
    PastEnd { seq: usize, end: usize, len: usize },
    /// Sequence `seq` refers to `offset` bytes back at position `pos`.
    OffsetBeforeStart {
        seq: usize,
        pos: usize,
        offset: usize,
    },
    /// The sequences and literals do not add up to the block.
    LengthMismatch { produced: usize, len: usize },
    /// The sequence bit stream holds `used_bits` bits in `bytes` bytes
    /// (runs out, or leaves whole bytes unused).
    BitStream { used_bits: u64, bytes: usize },
    /// Sequence stream `which` (LL, ML or OF) of `bytes` bytes has run
    /// out before sequence `seq` (`used_bits` bits read).
    StreamOverrun {
        which: &'static str,
        seq: usize,
        used_bits: u64,
        bytes: usize,
    },
    /// Bytes after the end of the payload.
    Trailing { extra: usize },
}

impl fmt::Display for LzError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use LzError::*;
        match self {
            BlockLength { len } => write!(f, "LZ block length {len} out of range"),
            Truncated { at, needed, have } => write!(
                f,
                "LZ payload truncated: {needed} bytes needed at offset {at}, payload has {have}"
            ),
            BadVarint { at } => write!(f, "LZ payload: bad varint at offset {at}"),
            Count { what, value, max } => {
                write!(f, "LZ payload: {what} {value} exceeds {max}")
            }
            LiteralMode { mode } => write!(f, "LZ payload: unknown literal mode {mode}"),
            Literals(e) => write!(f, "LZ literals: {e}"),
            Table { which, error } => write!(f, "LZ {which} table: {error}"),
            SeqCodeTooLong { which, length, max } => {
                write!(f, "LZ {which} table: code length {length} exceeds {max}")
            }
            SymbolOutOfRange { which, symbol } => {
                write!(f, "LZ {which} table codes symbol {symbol} outside its alphabet")
            }
            LiteralsOverrun { seq, needed, nlit } => write!(
                f,
                "LZ sequence {seq} needs literals up to {needed}, only {nlit} given"
            ),
            PastEnd { seq, end, len } => write!(
                f,
                "LZ sequence {seq} ends at {end}, past the block length {len}"
            ),
            OffsetBeforeStart { seq, pos, offset } => write!(
                f,
                "LZ sequence {seq}: offset {offset} at position {pos} is before the block start"
            ),
            LengthMismatch { produced, len } => write!(
                f,
                "LZ payload describes {produced} bytes (literals included), block has {len}"
            ),
            BitStream { used_bits, bytes } => write!(
                f,
                "LZ sequence stream of {bytes} bytes does not match the {used_bits} bits its codes use"
            ),
            StreamOverrun {
                which,
                seq,
                used_bits,
                bytes,
            } => write!(
                f,
                "LZ {which} stream of {bytes} bytes runs out before sequence {seq} ({used_bits} bits read)"
            ),
            Trailing { extra } => write!(f, "{extra} bytes of garbage after the LZ payload"),
        }
    }
}

impl std::error::Error for LzError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LzError::Literals(e) | LzError::Table { error: e, .. } => Some(e.as_ref()),
            _ => None,
        }
    }
}
