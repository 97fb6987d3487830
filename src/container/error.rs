//! The container's error type, its one mapping to `io::Error` (errno),
//! and the one place a container error is logged with the file's name.

use std::fmt;
use std::io;

use crate::codec::CodecError;

/// Everything that can go wrong in the container layer.
#[derive(Debug)]
pub enum ContainerError {
    /// The backing file could not be read or written.
    Io(io::Error),
    /// The container's bytes are damaged: `offset` is the byte offset in
    /// the backing file where the damage was found, `block` the block
    /// being read when it was (None for the header and commit records),
    /// `reason` what is wrong there.
    Corrupt {
        offset: u64,
        block: Option<u64>,
        reason: Corruption,
    },
    /// The file is not a v2 container (wrong magic or version).
    NotContainer(String),
    /// A caller error (block too large, bad block size, non-empty file...).
    InvalidArgument(String),
    /// A block number or size beyond the format's 2^63-1 byte limit.
    TooLarge(String),
    /// A mutation of a container opened read-only.
    ReadOnly,
}

/// Result alias of the container layer.
pub type Result<T> = std::result::Result<T, ContainerError>;

impl fmt::Display for ContainerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContainerError::Io(e) => write!(f, "I/O error: {e}"),
            ContainerError::Corrupt {
                offset,
                block: None,
                reason,
            } => write!(f, "corrupt container at byte offset {offset}: {reason}"),
            ContainerError::Corrupt {
                offset,
                block: Some(b),
                reason,
            } => write!(
                f,
                "corrupt container at byte offset {offset}: block {b}: {reason}"
            ),
            ContainerError::NotContainer(m) => write!(f, "not a v2 container: {m}"),
            ContainerError::InvalidArgument(m) => write!(f, "invalid argument: {m}"),
            ContainerError::TooLarge(m) => write!(f, "too large: {m}"),
            ContainerError::ReadOnly => write!(f, "container is opened read-only"),
        }
    }
}

impl std::error::Error for ContainerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ContainerError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for ContainerError {
    fn from(e: io::Error) -> Self {
        ContainerError::Io(e)
    }
}

impl ContainerError {
    /// Damage found at byte `offset`, outside any block record.
    pub fn corrupt(offset: u64, reason: impl Into<Corruption>) -> ContainerError {
        ContainerError::Corrupt {
            offset,
            block: None,
            reason: reason.into(),
        }
    }

    /// Damage found at byte `offset` while reading block `block`.
    pub fn corrupt_block(offset: u64, block: u64, reason: impl Into<Corruption>) -> ContainerError {
        ContainerError::Corrupt {
            offset,
            block: Some(block),
            reason: reason.into(),
        }
    }

    /// The `io::Error` a filesystem replies with, after logging what went
    /// wrong with the file's `name` (its path, or `file#N`) unless it is a
    /// plain I/O error (passed through unchanged, for the caller to
    /// report). Corruption names the block, its logical offset (blocks of
    /// `block_size` bytes, when known) and the backing byte offset; `block`
    /// is the block the caller was working on when the error does not say.
    pub fn into_io_logged(
        self,
        name: &str,
        block: Option<u64>,
        block_size: Option<u32>,
    ) -> io::Error {
        match self {
            ContainerError::Io(e) => e,
            ContainerError::Corrupt {
                offset,
                block: b,
                reason: msg,
            } => {
                match (b.or(block), block_size) {
                    (Some(no), Some(bs)) => log::error!(
                        "{name}: block {no} (logical offset {}): corrupt at backing offset {offset}: {msg}",
                        no.saturating_mul(u64::from(bs))
                    ),
                    (Some(no), None) => log::error!(
                        "{name}: block {no}: corrupt at backing offset {offset}: {msg}"
                    ),
                    (None, _) => log::error!("{name}: corrupt at backing offset {offset}: {msg}"),
                }
                io::Error::from_raw_os_error(libc::EIO)
            }
            other => {
                log::error!("{name}: {other}");
                io::Error::from_raw_os_error(other.errno())
            }
        }
    }

    /// The errno a filesystem should reply with.
    pub fn errno(&self) -> i32 {
        match self {
            ContainerError::Io(e) => e.raw_os_error().unwrap_or(libc::EIO),
            ContainerError::Corrupt { .. } => libc::EIO,
            ContainerError::NotContainer(_) => libc::EINVAL,
            ContainerError::InvalidArgument(_) => libc::EINVAL,
            ContainerError::TooLarge(_) => libc::EFBIG,
            ContainerError::ReadOnly => libc::EROFS,
        }
    }

    /// True for `Corrupt`.
    pub fn is_corrupt(&self) -> bool {
        matches!(self, ContainerError::Corrupt { .. })
    }
}

/// Converts to an `io::Error` whose `raw_os_error` is the errno to reply
/// with (an original `io::Error` is passed through unchanged).
impl From<ContainerError> for io::Error {
    fn from(e: ContainerError) -> io::Error {
        match e {
            ContainerError::Io(e) => e,
            // The errno is what a filesystem needs; callers that want the
            // message (the CLI) use the ContainerError's Display first.
            other => io::Error::from_raw_os_error(other.errno()),
        }
    }
}

/// What is wrong with a container's bytes (the `reason` of
/// [`ContainerError::Corrupt`]), with the values found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Corruption {
    /// A checksum over `what` does not match: `expected` is the one
    /// stored in the file, `found` the one computed over the bytes.
    Checksum {
        what: &'static str,
        expected: u32,
        found: u32,
    },
    /// The magic number a `what` record starts with is missing.
    NoMagic(&'static str),
    /// A `what` record extends past the end of the file.
    PastEnd(&'static str),
    /// Reserved bytes of a `what` are not zero.
    Reserved(&'static str),
    /// A block record's field `field` holds the invalid value `value`.
    BadField { field: &'static str, value: u64 },
    /// The `coding` decoder rejected a block record's payload.
    Codec {
        coding: &'static str,
        error: CodecError,
    },
    /// The record header at the offset the index gives names another
    /// block, kind or payload length than the index does.
    NotTheIndexed { block: u64, kind: u8, len: u32 },
    /// A commit record's entry for `block` is invalid (`why`).
    BadEntry { block: u64, why: &'static str },
    /// Anything else, in words (the structure checks of commit records,
    /// recovery's findings).
    Other(String),
}

impl fmt::Display for Corruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Corruption::Checksum {
                what,
                expected,
                found,
            } => write!(
                f,
                "{what} checksum mismatch (stored {expected:#010x}, computed {found:#010x})"
            ),
            Corruption::NoMagic(what) => write!(f, "no {what} magic"),
            Corruption::PastEnd(what) => write!(f, "{what} extends past the end of the file"),
            Corruption::Reserved(what) => write!(f, "reserved {what} bytes are not zero"),
            Corruption::BadField { field, value } => write!(f, "{field} {value} invalid"),
            Corruption::Codec { coding, error } => write!(f, "bad {coding} payload: {error}"),
            Corruption::NotTheIndexed { block, kind, len } => write!(
                f,
                "record header (block {block}, kind {kind}, length {len}) does not match the index"
            ),
            Corruption::BadEntry { block, why } => {
                write!(f, "commit entry for block {block}: {why}")
            }
            Corruption::Other(m) => f.write_str(m),
        }
    }
}

impl From<String> for Corruption {
    fn from(m: String) -> Corruption {
        Corruption::Other(m)
    }
}

impl From<&str> for Corruption {
    fn from(m: &str) -> Corruption {
        Corruption::Other(m.to_owned())
    }
}
