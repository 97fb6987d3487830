//! How the blocks of a file are coded when they are written: stored raw
//! (`none`) or compressed at one of the codec's levels. Chosen by the
//! filesystem (mount option, directory policy) or the CLI; never stored in
//! the container, whose records each say their own kind (FORMAT.md 3.3).

use std::fmt;
use std::str::FromStr;

use crate::codec::Level;

/// A file's coding when written: see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// Store every block's bytes as they are (all-zero blocks stay holes).
    None,
    /// The cheapest coding of the block at this level.
    Level(Level),
}

impl Compression {
    /// Every choice, `none` first, then the levels from fastest to strongest.
    pub const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Level(Level::Huffman),
        Compression::Level(Level::Fast),
        Compression::Level(Level::Default),
        Compression::Level(Level::Max),
    ];

    /// The name users write: `none`, `huffman`, `fast`, `default`, `max`.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Level(l) => l.name(),
        }
    }

    /// The level a block is coded at when the compression threads are
    /// behind the writer: `huffman` for `fast` (about twice its speed),
    /// the same level otherwise (`default` and `max` are chosen for the
    /// space they save, whatever they cost).
    pub fn under_pressure(self) -> Compression {
        match self {
            Compression::Level(Level::Fast) => Compression::Level(Level::Huffman),
            c => c,
        }
    }

    /// A small number for atomics: the position in [`Compression::ALL`].
    pub fn to_index(self) -> u8 {
        Self::ALL.iter().position(|&c| c == self).unwrap_or(0) as u8
    }

    /// The inverse of [`Compression::to_index`] (out of range: `none`).
    pub fn from_index(i: u8) -> Compression {
        Self::ALL
            .get(usize::from(i))
            .copied()
            .unwrap_or(Compression::None)
    }

    /// The names, for messages: "none, huffman, fast, default, max".
    pub fn names() -> String {
        Self::ALL.map(Compression::name).join(", ")
    }
}

impl Default for Compression {
    fn default() -> Self {
        Compression::Level(Level::Default)
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Compression {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| format!("unknown compression {s:?} (one of {})", Self::names()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_bad_names_say_the_choices() {
        for c in Compression::ALL {
            assert_eq!(c.name().parse::<Compression>(), Ok(c));
            assert_eq!(Compression::from_index(c.to_index()), c);
        }
        let e = "zstd".parse::<Compression>().unwrap_err();
        assert!(
            e.contains("zstd") && e.contains("none, huffman, fast, default, max"),
            "{e}"
        );
        assert_eq!(Compression::from_index(200), Compression::None);
        assert_eq!(Compression::default().name(), "default");
    }
}
