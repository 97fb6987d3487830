//! Recompression: a fresh container holding the same logical contents as
//! this one, every block decoded (its CRC checked) and encoded again at a
//! given coding, written to a new file, fsynced and sealed (FORMAT.md 3.9).
//! The mount's idle recompression (`fs::recompress`) renames it over the
//! old file, as compaction does.

use std::fs::File;

use super::{Container, Result};
use crate::container::Compression;

impl Container {
    /// Writes the contents of `self` re-encoded at `compression` into `dst`
    /// (an empty file opened read-write, in the same directory): a new
    /// container (new salt, the current header version, the same block
    /// size and logical size), its blocks in block order, one checkpoint;
    /// then fsyncs and seals it and returns it. Uncommitted changes of
    /// `self` are included.
    ///
    /// `keep_going` is asked before each block; when it says no, the copy
    /// stops and `Ok(None)` is returned (the caller discards `dst`). A
    /// block whose CRC does not match fails the whole copy (`Corrupt`,
    /// naming it): damage is never re-encoded into a valid-looking block.
    pub fn recompress_into(
        &self,
        dst: File,
        compression: Compression,
        mut keep_going: impl FnMut() -> bool,
    ) -> Result<Option<Container>> {
        let mut out = Container::create(dst, self.block_size())?;
        let compression = out.compression_for(compression);
        let bs = u64::from(self.block_size());
        let mut buf = vec![0u8; bs as usize];
        for (b, _) in self.data_blocks() {
            if !keep_going() {
                return Ok(None);
            }
            let start = b << self.shift;
            if start >= self.logical_size {
                continue;
            }
            self.read_block(b, &mut buf)?;
            let len = (self.logical_size - start).min(bs) as usize;
            out.put_block(Container::encode(b, &buf[..len], compression))?;
        }
        out.set_logical_size(self.logical_size);
        out.commit()?;
        out.file.sync_all()?;
        out.seal_now()?;
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Level;
    use crate::container::packed_tests::contents;
    use crate::container::{BlockKind, ContainerError};
    use std::os::unix::fs::FileExt;

    fn text(len: usize) -> Vec<u8> {
        let mut v = Vec::with_capacity(len + 64);
        let mut i = 0u64;
        while v.len() < len {
            v.extend_from_slice(format!("line {i} of the log, value {}\n", i * 7 % 13).as_bytes());
            i += 1;
        }
        v.truncate(len);
        v
    }

    #[test]
    fn same_contents_at_the_new_level_holes_and_fills_kept() {
        let dir = tempfile::tempdir().unwrap();
        let bs = 4096usize;
        let mut data = text(10 * bs + 123);
        data[2 * bs..3 * bs].fill(0); // a hole
        data[5 * bs..6 * bs].fill(b'x'); // a fill
        let f = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(dir.path().join("a"))
            .unwrap();
        let mut c = Container::create(f, bs as u32).unwrap();
        let huff = Compression::Level(Level::Huffman);
        for (i, chunk) in data.chunks(bs).enumerate() {
            c.put_block(Container::encode(i as u64, chunk, huff))
                .unwrap();
        }
        c.set_logical_size(data.len() as u64);
        c.commit().unwrap();
        let dst = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(dir.path().join("b"))
            .unwrap();
        let max = Compression::Level(Level::Max);
        let r = c.recompress_into(dst, max, || true).unwrap().unwrap();
        assert_eq!(r.logical_size(), data.len() as u64);
        assert_eq!(contents(&r), data);
        assert_eq!(r.block_kind(2), BlockKind::Hole);
        assert_eq!(r.block_kind(5), BlockKind::Fill(b'x'));
        assert_eq!(r.block_kind(0), BlockKind::Lz);
        assert!(r.file_len() < c.file_len(), "LZ beats Huffman on text");
        // What was written is what a fresh open finds.
        let again = Container::open(File::open(dir.path().join("b")).unwrap(), false).unwrap();
        assert_eq!(contents(&again), data);
        assert!(again.damage().is_none());

        // Stopping early returns None.
        let dst = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(dir.path().join("c"))
            .unwrap();
        let mut n = 0;
        let stopped = c
            .recompress_into(dst, max, || {
                n += 1;
                n < 3
            })
            .unwrap();
        assert!(stopped.is_none());
    }

    #[test]
    fn a_corrupt_block_fails_the_copy() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a");
        let f = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        let mut c = Container::create(f, 4096).unwrap();
        let data = text(3 * 4096);
        for (i, chunk) in data.chunks(4096).enumerate() {
            c.put_block(Container::encode(i as u64, chunk, Compression::None))
                .unwrap();
        }
        c.set_logical_size(data.len() as u64);
        c.commit().unwrap();
        let off = c.record_offset(1).unwrap() + 100;
        c.file().write_all_at(b"XYZ", off).unwrap();
        let dst = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(dir.path().join("b"))
            .unwrap();
        let e = c
            .recompress_into(dst, Compression::Level(Level::Fast), || true)
            .unwrap_err();
        assert!(matches!(e, ContainerError::Corrupt { .. }), "{e}");
    }
}
