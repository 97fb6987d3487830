//! The block size of a container (FORMAT.md section 3: `block_shift` 12 to
//! 20): the one place that says which sizes are allowed ("a power of two
//! from 4K to 1M") and which is the default.

use super::format::{MAX_BLOCK_SHIFT, MIN_BLOCK_SHIFT};
use std::fmt;

/// A block size a container may have: a power of two from 4 KiB to 1 MiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockSize(u32);

/// A size that is not a [`BlockSize`], with the size asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadBlockSize(pub u64);

impl fmt::Display for BadBlockSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "block size {} is not a power of two from 4K to 1M",
            self.0
        )
    }
}

impl std::error::Error for BadBlockSize {}

impl BlockSize {
    /// The smallest (4 KiB).
    pub const MIN: BlockSize = BlockSize(1 << MIN_BLOCK_SHIFT);
    /// The largest (1 MiB).
    pub const MAX: BlockSize = BlockSize(1 << MAX_BLOCK_SHIFT);
    /// The block size of new files unless told otherwise (64 KiB).
    pub const DEFAULT: BlockSize = BlockSize(64 << 10);

    /// `n` as a block size, if it is one.
    pub fn new(n: u64) -> Result<BlockSize, BadBlockSize> {
        if n.is_power_of_two() && (Self::MIN.bytes() as u64..=Self::MAX.bytes() as u64).contains(&n)
        {
            Ok(BlockSize(n as u32))
        } else {
            Err(BadBlockSize(n))
        }
    }

    /// Parses a block size written as a size (`64K`, `1M`, `65536`: see
    /// [`crate::size::parse_size`]) and checks it.
    pub fn parse(s: &str) -> Result<BlockSize, String> {
        let n = crate::size::parse_size(s)?;
        BlockSize::new(n).map_err(|e| e.to_string())
    }

    /// In bytes.
    pub const fn bytes(self) -> u32 {
        self.0
    }

    /// log2 of the size (`block_shift`).
    pub const fn shift(self) -> u32 {
        self.0.trailing_zeros()
    }
}

impl Default for BlockSize {
    fn default() -> Self {
        BlockSize::DEFAULT
    }
}

impl fmt::Display for BlockSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl TryFrom<u32> for BlockSize {
    type Error = BadBlockSize;
    fn try_from(n: u32) -> Result<Self, BadBlockSize> {
        BlockSize::new(n.into())
    }
}

impl From<BlockSize> for u32 {
    fn from(b: BlockSize) -> u32 {
        b.0
    }
}

#[cfg(test)]
mod tests {
    use super::BlockSize;

    #[test]
    fn the_rule() {
        for n in [4096u64, 8192, 65536, 1 << 20] {
            assert_eq!(BlockSize::new(n).unwrap().bytes() as u64, n);
        }
        for n in [0u64, 1, 2048, 4095, 65000, 2 << 20, 1 << 40] {
            assert!(BlockSize::new(n).is_err(), "{n}");
        }
        assert_eq!(BlockSize::default().bytes(), 65536);
        assert_eq!(BlockSize::DEFAULT.shift(), 16);
        assert_eq!(BlockSize::parse("128KiB").unwrap().bytes(), 128 << 10);
        assert!(BlockSize::parse("2K").is_err());
        assert!(BlockSize::parse("x").is_err());
    }
}
