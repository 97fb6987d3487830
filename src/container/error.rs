//! The container's error type, its one mapping to `io::Error` (errno),
//! and the one place a container error is logged with the file's name.

use std::fmt;
use std::io;

/// Everything that can go wrong in the container layer.
#[derive(Debug)]
pub enum ContainerError {
    /// The backing file could not be read or written.
    Io(io::Error),
    /// The container's bytes are damaged: `offset` is the byte offset in
    /// the backing file where the damage was found, `block` the block
    /// being read when it was (None for the header and commit records).
    Corrupt {
        offset: u64,
        block: Option<u64>,
        msg: String,
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
                msg,
            } => write!(f, "corrupt container at byte offset {offset}: {msg}"),
            ContainerError::Corrupt {
                offset,
                block: Some(b),
                msg,
            } => write!(
                f,
                "corrupt container at byte offset {offset}: block {b}: {msg}"
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
    pub fn corrupt(offset: u64, msg: impl Into<String>) -> ContainerError {
        ContainerError::Corrupt {
            offset,
            block: None,
            msg: msg.into(),
        }
    }

    /// Damage found at byte `offset` while reading block `block`.
    pub fn corrupt_block(offset: u64, block: u64, msg: impl Into<String>) -> ContainerError {
        ContainerError::Corrupt {
            offset,
            block: Some(block),
            msg: msg.into(),
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
                msg,
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
