//! Seals (FORMAT.md 3.2 and 3.6): the header's record of a commit known to
//! be on stable storage, which lets open tell a file that was cut short (or
//! lost its newest commits) from a tail torn by a crash.
//!
//! The seal slot is the only part of a container written in place, and only
//! ever after the commit it names reached stable storage. A [`SealTicket`]
//! takes note of a container's newest commit (and keeps a handle on its
//! file); whoever syncs the file, or its whole file system, afterwards
//! writes the ticket. Tickets are independent of the [`Container`] they
//! came from, so a file can be closed before its seal is written (the
//! filesystem seals closed files at unmount, after one syncfs).

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use super::format::{encode_seal, FileHeader, HEADER_LEN, SEAL_OFFSET, VERSION_4};
use super::{Container, Result};

/// A container's newest commit, to be sealed once it is on stable storage.
#[derive(Debug)]
pub struct SealTicket {
    file: File,
    salt: u64,
    seq: u64,
}

impl SealTicket {
    /// The container's salt (unique per container: tells tickets apart).
    pub fn salt(&self) -> u64 {
        self.salt
    }

    /// The seq of the commit the seal will name.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The backing file (a handle of its own).
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Writes the seal. Call only after the file (or its file system) was
    /// synced after the ticket was taken: the seal claims the commit is on
    /// stable storage. Writes nothing (`Ok(false)`) when the file no longer
    /// holds this container (a new salt: rewritten or compacted meanwhile),
    /// or its seal already names this commit or a newer one. The file's
    /// access and modification times are kept (its ctime moves).
    pub fn write(&self) -> io::Result<bool> {
        let mut b = [0u8; HEADER_LEN as usize];
        match self.file.read_exact_at(&mut b, 0) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
            Err(e) => return Err(e),
        }
        let Ok(h) = FileHeader::decode(&b) else {
            return Ok(false);
        };
        if h.version < VERSION_4 || h.salt != self.salt {
            return Ok(false);
        }
        if h.sealed_seq().is_some_and(|s| s >= self.seq) {
            return Ok(false);
        }
        // The file's times are the user's (the filesystem keeps a file's
        // mtime on its backing file): the seal leaves them as they were.
        let m = self.file.metadata()?;
        self.file
            .write_all_at(&encode_seal(self.salt, self.seq), SEAL_OFFSET)?;
        let times = std::fs::FileTimes::new()
            .set_accessed(m.accessed()?)
            .set_modified(m.modified()?);
        self.file.set_times(times)?;
        Ok(true)
    }
}

impl Container {
    /// A ticket to seal the newest commit, or `None` when there is nothing
    /// to seal: a version-2 container (no slot), no commit yet, or the
    /// seal already names the newest commit.
    pub fn seal_ticket(&self) -> io::Result<Option<SealTicket>> {
        let Some(last) = self.last else {
            return Ok(None);
        };
        if self.version < VERSION_4 || self.sealed.is_some_and(|s| s >= last.seq) {
            return Ok(None);
        }
        Ok(Some(SealTicket {
            file: self.file.try_clone()?,
            salt: self.salt,
            seq: last.seq,
        }))
    }

    /// Seals the newest commit now. The caller vouches that the commit is
    /// there for good: the file was synced since (`compact_into`), or it is
    /// a finished output that must read as corrupt if it is ever cut
    /// short (`scfs compress --format v2`).
    pub fn seal_now(&mut self) -> Result<()> {
        if let Some(t) = self.seal_ticket()? {
            t.write()?;
            self.sealed = Some(t.seq);
        }
        Ok(())
    }

    /// The seq the header's seal names (`None`: version 2, or a damaged
    /// slot), as read at open or written by [`Container::seal_now`].
    pub fn sealed_seq(&self) -> Option<u64> {
        self.sealed
    }

    /// Header version: 2 to 5 (FORMAT.md 3.2).
    pub fn header_version(&self) -> u16 {
        self.version
    }
}

#[cfg(test)]
mod tests {
    use super::super::format::{Seal, VERSION_2};
    use super::super::ContainerError;
    use super::*;

    fn data(seed: u8) -> Vec<u8> {
        (0..4096u32)
            .map(|i| (i as u8 % 7).wrapping_add(seed))
            .collect()
    }

    /// A container with `n` commits, one block written before each.
    fn with_commits(n: u64) -> (File, Container) {
        let f = tempfile::tempfile().unwrap();
        let mut c = Container::create(f.try_clone().unwrap(), 4096).unwrap();
        for i in 0..n {
            c.write_block(i, &data(i as u8)).unwrap();
            c.set_logical_size((i + 1) * 4096);
            c.commit().unwrap();
        }
        (f, c)
    }

    fn is_corrupt(r: Result<Container>) -> bool {
        matches!(r, Err(ContainerError::Corrupt { .. }))
    }

    #[test]
    fn a_sealed_file_cut_short_is_corrupt_an_unsealed_one_reads_older() {
        let (f, mut c) = with_commits(3);
        let second_end = {
            // The end of commit 2 = where commit 3's block record starts.
            let c2 = Container::open(f.try_clone().unwrap(), false).unwrap();
            assert_eq!(c2.sealed_seq(), Some(0));
            c2.last.unwrap().offset
        };
        let full = f.metadata().unwrap().len();
        // Unsealed: a cut at a commit boundary is an older state.
        let cut = tempfile::tempfile().unwrap();
        let mut bytes = vec![0u8; full as usize];
        f.read_exact_at(&mut bytes, 0).unwrap();
        cut.write_all_at(&bytes, 0).unwrap();
        let older = c.last.unwrap().offset;
        cut.set_len(older).unwrap();
        let o = Container::open(cut.try_clone().unwrap(), false).unwrap();
        assert_eq!(o.logical_size(), 2 * 4096);
        assert!(second_end > 0);
        // Sealed: the same cut, and a cut with no commit left, are corrupt.
        c.seal_now().unwrap();
        assert_eq!(c.sealed_seq(), Some(3));
        f.read_exact_at(&mut bytes, 0).unwrap();
        cut.set_len(0).unwrap();
        cut.write_all_at(&bytes, 0).unwrap();
        assert_eq!(
            Container::open(cut.try_clone().unwrap(), false)
                .unwrap()
                .sealed_seq(),
            Some(3)
        );
        for len in [older, older - 1, 200, 33] {
            cut.set_len(len).unwrap();
            assert!(
                is_corrupt(Container::open(cut.try_clone().unwrap(), false)),
                "cut at {len}"
            );
        }
        // The intact file still opens, and keeps growing above the seal.
        let mut w = Container::open(f.try_clone().unwrap(), true).unwrap();
        w.write_block(9, &data(9)).unwrap();
        w.set_logical_size(10 * 4096);
        w.commit().unwrap();
        drop(w);
        let r = Container::open(f, false).unwrap();
        assert_eq!(r.logical_size(), 10 * 4096);
        assert_eq!(r.last.unwrap().seq, 4);
    }

    #[test]
    fn commits_after_a_rebuilt_sealed_commit_continue_above_the_seal() {
        let (f, mut c) = with_commits(3);
        c.seal_now().unwrap();
        let third = c.last.unwrap().offset;
        drop(c);
        // One flipped byte in the newest commit's first entry: the state is
        // rebuilt from the block records (FORMAT.md 3.5) as commit 3.
        let mut b = [0u8; 1];
        let at = third + super::super::format::COMMIT_HEADER_LEN + 8;
        f.read_exact_at(&mut b, at).unwrap();
        f.write_all_at(&[b[0] ^ 0x40], at).unwrap();
        let mut w = Container::open(f.try_clone().unwrap(), true).unwrap();
        assert!(w.damage().is_some());
        assert_eq!(w.logical_size(), 3 * 4096);
        // The next commit is a checkpoint (no chain to extend) numbered
        // above the seal, so the file opens again afterwards.
        w.write_block(5, &data(5)).unwrap();
        w.set_logical_size(6 * 4096);
        w.commit().unwrap();
        assert_eq!(w.last.unwrap().seq, 4);
        drop(w);
        let r = Container::open(f, false).unwrap();
        assert_eq!(r.logical_size(), 6 * 4096);
        let mut out = vec![0u8; 4096];
        r.read_block(2, &mut out).unwrap();
        assert_eq!(out, data(2));
    }

    #[test]
    fn version_2_containers_read_and_are_never_sealed() {
        // Huffman blocks only: a version-2 container holds no LZ record
        // (nor a packed record: made as version 4, then given a version-2
        // header).
        let f = tempfile::tempfile().unwrap();
        let mut c = Container::create_version(f.try_clone().unwrap(), 4096, 4).unwrap();
        for i in 0..2u64 {
            let huffman = crate::container::Compression::Level(crate::codec::Level::Huffman);
            c.put_block(Container::encode(i, &data(i as u8), huffman))
                .unwrap();
            c.set_logical_size((i + 1) * 4096);
            c.commit().unwrap();
        }
        let v2 = FileHeader {
            version: VERSION_2,
            block_shift: 12,
            salt: c.salt,
            seal: Seal::Absent,
        };
        drop(c);
        f.write_all_at(&v2.encode(), 0).unwrap();
        let mut c = Container::open(f.try_clone().unwrap(), true).unwrap();
        assert_eq!((c.header_version(), c.sealed_seq()), (2, None));
        assert!(c.seal_ticket().unwrap().is_none());
        c.seal_now().unwrap();
        c.write_block(7, &data(7)).unwrap();
        c.set_logical_size(8 * 4096);
        c.commit().unwrap();
        drop(c);
        let mut h = [0u8; 32];
        f.read_exact_at(&mut h, 0).unwrap();
        assert_eq!(h, v2.encode(), "a version-2 header is never rewritten");
        let r = Container::open(f, false).unwrap();
        assert_eq!(r.logical_size(), 8 * 4096);
    }

    #[test]
    fn tickets_never_lower_a_seal_nor_touch_another_container() {
        let (f, mut c) = with_commits(2);
        let old = c.seal_ticket().unwrap().unwrap();
        assert_eq!(old.seq(), 2);
        c.write_block(4, &data(4)).unwrap();
        c.set_logical_size(5 * 4096);
        c.commit().unwrap();
        let new = c.seal_ticket().unwrap().unwrap();
        assert!(new.write().unwrap());
        assert!(!old.write().unwrap(), "a seal was lowered");
        assert!(!new.write().unwrap(), "the same seal written twice");
        assert_eq!(
            Container::open(f.try_clone().unwrap(), false)
                .unwrap()
                .sealed_seq(),
            Some(3)
        );
        // The file now holds another container (new salt): nothing written.
        drop(c);
        f.set_len(0).unwrap();
        let mut other = Container::create(f.try_clone().unwrap(), 4096).unwrap();
        other.write_block(0, &data(1)).unwrap();
        other.set_logical_size(4096);
        other.commit().unwrap();
        let mut before = [0u8; 32];
        f.read_exact_at(&mut before, 0).unwrap();
        let stale = SealTicket {
            file: f.try_clone().unwrap(),
            salt: new.salt(),
            seq: 99,
        };
        assert!(!stale.write().unwrap());
        let mut after = [0u8; 32];
        f.read_exact_at(&mut after, 0).unwrap();
        assert_eq!(before, after);
    }
}
