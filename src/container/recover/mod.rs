//! Opening a container: header check, the trailer fast path, loading a
//! checkpoint plus its delta chain, and recovery of a torn tail (forward
//! scan over self-describing records, then a backward search for a later
//! intact commit; with no intact commit at all, salvage of the intact block
//! records). Open never truncates or overwrites anything. Every length, offset and count read from disk is checked
//! against the file length and the format's limits before it is used.

use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use super::format::{
    self, crc_append, salted_crc, CommitHeader, DiskEntry, FileHeader, PackedHead, RecordHeader,
    Seal, Trailer, BLOCK_MAGIC, COMMIT_FIXED_LEN, COMMIT_HEADER_LEN, COMMIT_MAGIC, ENTRY_LEN,
    HEADER_LEN, KIND_FILL, KIND_HOLE, MAX_LOGICAL_SIZE, PACKED_FIXED_LEN, PACKED_HEAD_LEN,
    PACKED_MAGIC, RECORD_HEADER_LEN, TRAILER_LEN, TRAILER_MAGIC,
};
use super::index::{Coding, Entry, Index};
use super::{CommitState, Container, ContainerError, Corruption, Result};

mod chain;
mod damaged;
mod scan;

use chain::*;
use damaged::*;
use scan::*;

pub(super) fn corrupt(offset: u64, msg: impl Into<Corruption>) -> ContainerError {
    ContainerError::corrupt(offset, msg)
}

/// Reads exactly `buf.len()` bytes at `offset`; a short file is `Corrupt`.
pub(super) fn read_exact(file: &File, buf: &mut [u8], offset: u64) -> Result<()> {
    match file.read_exact_at(buf, offset) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
            Err(corrupt(offset, "unexpected end of file"))
        }
        Err(e) => Err(e.into()),
    }
}

/// Reads and checks the header; also tells (from the same read) whether
/// offset 32 holds a packed record (FORMAT.md 3.11: version 5, "SPCK").
fn read_header(file: &File, file_len: u64) -> Result<(FileHeader, bool)> {
    if file_len < HEADER_LEN {
        let msg = format!("file of {file_len} bytes is shorter than the 32-byte header");
        if Container::is_container(file)? {
            return Err(corrupt(file_len, format!("truncated container: {msg}")));
        }
        return Err(ContainerError::NotContainer(msg));
    }
    let mut b = [0u8; HEADER_LEN as usize + 4];
    let n = file_len.min(b.len() as u64) as usize;
    read_exact(file, &mut b[..n], 0)?;
    match FileHeader::decode(&b[..HEADER_LEN as usize]) {
        // The records after it show a container whose header is damaged.
        Err(ContainerError::NotContainer(m)) if Container::is_container(file)? => {
            Err(corrupt(0, format!("damaged file header ({m})")))
        }
        Err(e) => Err(e),
        Ok(h) => {
            let packed = is_packed_at(&h, HEADER_LEN, &b[HEADER_LEN as usize..n]);
            Ok((h, packed))
        }
    }
}

/// What `stat` needs, read from the header and the trailer only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub block_size: u32,
    pub logical_size: u64,
    /// Length of the backing file.
    pub file_len: u64,
    /// False when the trailer was torn and the size came from a full open.
    pub clean: bool,
}

/// Cheap open for `stat`: header plus trailer (two small reads). When the
/// tail is torn it falls back to a read-only recovery open.
pub fn read_summary(file: &File) -> Result<Summary> {
    let file_len = file.metadata()?.len();
    let (h, _) = read_header(file, file_len)?;
    let block_size = h.block_size();
    if file_len == HEADER_LEN {
        return Ok(Summary {
            block_size,
            logical_size: 0,
            file_len,
            clean: true,
        });
    }
    // (A trailer older than the seal: the file was cut at an older
    // commit; the full open below reports it.)
    if let Some(t) =
        read_trailer(file, &h, file_len)?.filter(|t| h.sealed_seq().is_none_or(|s| s <= t.seq))
    {
        return Ok(Summary {
            block_size,
            logical_size: t.logical_size,
            file_len,
            clean: true,
        });
    }
    let c = Container::open(file.try_clone()?, false)?;
    Ok(Summary {
        block_size,
        logical_size: c.logical_size(),
        file_len,
        clean: false,
    })
}

/// The trailer in the last 32 bytes, if it is intact and plausible.
pub(super) fn read_trailer(file: &File, h: &FileHeader, file_len: u64) -> Result<Option<Trailer>> {
    if file_len < HEADER_LEN + PACKED_FIXED_LEN.min(COMMIT_FIXED_LEN) {
        return Ok(None);
    }
    let mut b = [0u8; TRAILER_LEN as usize];
    read_exact(file, &mut b, file_len - TRAILER_LEN)?;
    Ok(Trailer::decode(&b, h.salt)
        .filter(|t| trailer_plausible(t, file_len - TRAILER_LEN, h.version)))
}

/// A trailer at `at` must point at a commit that ends with it (none fits
/// when the trailer ends before a whole commit could): an ordinary commit
/// of a whole number of entries, or (version 5) a packed record at offset
/// 32 (FORMAT.md 3.11).
pub(super) fn trailer_plausible(t: &Trailer, at: u64, version: u16) -> bool {
    if t.logical_size > MAX_LOGICAL_SIZE {
        return false;
    }
    let end = at + TRAILER_LEN;
    if format::allows_packed(version)
        && t.commit_offset == HEADER_LEN
        && end >= HEADER_LEN + PACKED_FIXED_LEN
    {
        return true;
    }
    let Some(last) = end.checked_sub(COMMIT_FIXED_LEN) else {
        return false;
    };
    t.commit_offset >= HEADER_LEN
        && t.commit_offset <= last
        && (last - t.commit_offset) % ENTRY_LEN == 0
}
pub(super) fn open(file: File, writable: bool) -> Result<Container> {
    let file_len = file.metadata()?.len();
    let (h, packed) = read_header(&file, file_len)?;
    let found = find_state(&file, &h, packed, file_len)?;
    let mut c = Container {
        file,
        writable,
        version: h.version,
        sealed: h.sealed_seq(),
        seq_floor: 0,
        shift: h.block_shift,
        salt: h.salt,
        index: Index::default(),
        logical_size: 0,
        end: HEADER_LEN,
        last: None,
        dirty: Default::default(),
        changed: false,
        pending: Vec::new(),
        guard_first: false,
        kept: file_len,
        damage: None,
        packed,
    };
    match found {
        Recovered::Empty => check_seal(&mut c, &h, 0)?,
        Recovered::Loaded { loaded: l, end } => {
            check_seal(&mut c, &h, l.state.seq)?;
            if let Some(off) = l.damaged_trailer {
                c.damage = Some(format!(
                    "damaged trailer of the commit record at byte offset {off} (the commit itself is intact)"
                ));
            }
            c.index = l.index;
            c.logical_size = l.logical_size;
            c.last = Some(l.state);
            c.end = end;
        }
        Recovered::Salvaged(scan) => {
            salvage(&mut c, None, scan.records, None);
            check_seal(&mut c, &h, 0)?;
        }
        Recovered::Rebuilt {
            base,
            damaged: d,
            scan,
        } => {
            // The damaged commit follows the last intact one.
            let seq = d
                .seq
                .unwrap_or_else(|| base.as_ref().map_or(0, |l| l.state.seq) + 1);
            check_seal(&mut c, &h, seq)?;
            let record_blocks: Vec<u64> = scan.records.keys().copied().collect();
            let dropped = salvage(&mut c, base, scan.records, d.size);
            // The rebuilt state is served only when the damaged commit's
            // own entries confirm it; a hole or fill entry (a change
            // without a record), or any entry that does not match, leaves
            // blocks whose content is unknown: the open fails (EIO for the
            // file) rather than serve old bytes.
            confirm_rebuild(&c, &h, &d, &record_blocks, &dropped)?;
            let msg = format!(
                "damaged commit record at byte offset {}: rebuilt from the block records after the last intact commit (its entries match them)",
                scan.stop
            );
            log::warn!("container: {msg}");
            c.damage = Some(msg);
        }
    }
    // Nothing is ever truncated or overwritten: bytes after the newest
    // commit (a torn append, uncommitted records, damage) stay in place as
    // dead bytes and a writable container appends after them. Compaction
    // reclaims them.
    if c.end < file_len {
        log::warn!(
            "container: {} bytes after offset {} are not part of the newest commit; left in place",
            file_len - c.end,
            c.end
        );
        c.end = file_len;
    }
    Ok(c)
}

/// What opening found: the state a container is served from.
enum Recovered {
    /// Only the header: no commit yet.
    Empty,
    /// A commit and its chain (the newest through the trailer, else the
    /// last intact one before a torn tail), ending at `end`.
    Loaded { loaded: Loaded, end: u64 },
    /// No intact commit at all: the intact block records are salvaged.
    Salvaged(Scan),
    /// A commit written whole but damaged after the last intact one
    /// (`base`, if any): rebuilt from the block records between them.
    Rebuilt {
        base: Option<Loaded>,
        damaged: Damaged,
        scan: Scan,
    },
}

/// Finds the state to serve (FORMAT.md 3.5): the trailer's commit when
/// it is intact, else the torn-tail search.
fn find_state(file: &File, h: &FileHeader, packed: bool, file_len: u64) -> Result<Recovered> {
    if file_len == HEADER_LEN {
        return Ok(Recovered::Empty);
    }
    if let Some((off, end)) = trailer_commit(file, h, file_len)? {
        match load_chain(file, h, packed, off, end) {
            Ok(loaded) => return Ok(Recovered::Loaded { loaded, end }),
            // The newest commit itself is damaged (say a flipped bit in its
            // entries): recover as from a torn tail, the damaged record is
            // left in place as dead bytes. A commit that is intact but
            // whose chain is broken is reported as corruption.
            Err(e)
                if e.is_corrupt()
                    && read_commit(file, h, off, end, true, |_, _, _| Ok(())).is_err() =>
            {
                log::warn!("container: newest commit at offset {off} is damaged ({e}); recovering");
            }
            Err(e) => return Err(e),
        }
    }
    // Torn or damaged tail: the last intact commit wins.
    let scan = scan_forward(file, h, file_len)?;
    let newest = match search_backward(file, h, scan.stop, file_len)? {
        Some(found) => Some(found),
        None => match scan.commits.last() {
            Some(&off) => Some((
                off,
                off + commit_header(file, h, off, file_len)?.record_len(),
            )),
            None => None,
        },
    };
    // A commit written whole but damaged where the scan stopped (not a
    // torn tail): the intact records after the last good commit are the
    // newer versions it referred to.
    let damaged = match newest {
        Some((_, end)) if end > scan.stop => None,
        _ => damaged_commit(file, h, scan.stop, file_len)?,
    };
    Ok(match (newest, damaged) {
        (Some((off, end)), None) => Recovered::Loaded {
            loaded: load_chain(file, h, packed, off, end)?,
            end,
        },
        (None, None) => {
            damaged_not_torn(file, h, scan.stop, file_len)?;
            Recovered::Salvaged(scan)
        }
        (base, Some(damaged)) => Recovered::Rebuilt {
            base: match base {
                Some((off, end)) => Some(load_chain(file, h, packed, off, end)?),
                None => None,
            },
            damaged,
            scan,
        },
    })
}

/// The header of the commit record at `off` (in a version-5 file the one
/// at offset 32 may be a packed record, FORMAT.md 3.11); its length is
/// checked to lie within `file_len`.
pub(super) fn commit_header(
    file: &File,
    h: &FileHeader,
    off: u64,
    file_len: u64,
) -> Result<CommitHeader> {
    let mut hb = [0u8; COMMIT_HEADER_LEN as usize];
    let n = file_len.saturating_sub(off).min(COMMIT_HEADER_LEN) as usize;
    read_exact(file, &mut hb[..n], off)?;
    if is_packed_at(h, off, &hb[..n]) {
        let p = PackedHead::decode(&hb[..n], h.salt, h.block_size(), off)?;
        if off + p.record_len() > file_len {
            return Err(corrupt(off, Corruption::PastEnd("packed record")));
        }
        return Ok(p.commit_header());
    }
    CommitHeader::decode(&hb[..n], h.salt, off, file_len)
}

/// Whether the bytes `b` read at `off` are to be read as a packed record:
/// offset 32 of a version-5 container starting with "SPCK" (FORMAT.md 3.11).
pub(super) fn is_packed_at(h: &FileHeader, off: u64, b: &[u8]) -> bool {
    off == HEADER_LEN && format::allows_packed(h.version) && b.len() >= 4 && b[0..4] == PACKED_MAGIC
}

/// The fast path: the trailer at the end names the newest commit, whose
/// header says it ends exactly there. Its (offset, end), or None when the
/// trailer or that header does not hold.
fn trailer_commit(file: &File, h: &FileHeader, file_len: u64) -> Result<Option<(u64, u64)>> {
    let Some(t) = read_trailer(file, h, file_len)? else {
        return Ok(None);
    };
    Ok(match commit_header(file, h, t.commit_offset, file_len) {
        Ok(ch) if t.commit_offset + ch.record_len() == file_len => {
            Some((t.commit_offset, file_len))
        }
        Err(ContainerError::Io(e)) => return Err(ContainerError::Io(e)),
        _ => None,
    })
}

/// Step 5 of FORMAT.md 3.5: the state found (whose seq is `seq`, 0 for
/// none) must hold the commit the header's seal names; anything older
/// means committed data that reached stable storage is gone (the file was
/// cut short or its newest commits destroyed): corruption, not an older
/// state. Also sets the seq the next commit continues from, and reports a
/// damaged seal slot.
pub(super) fn check_seal(c: &mut Container, h: &FileHeader, seq: u64) -> Result<()> {
    let sealed = h.sealed_seq().unwrap_or(0);
    if sealed > seq {
        let found = if seq == 0 {
            "no commit is left".to_owned()
        } else {
            format!("the newest commit left is {seq}")
        };
        return Err(corrupt(
            0,
            format!(
                "the header seals commit {sealed} (it was on stable storage) but {found}: the file was cut short or its newest commits destroyed"
            ),
        ));
    }
    c.seq_floor = seq.max(sealed);
    if h.seal == Seal::Damaged && c.damage.is_none() {
        log::warn!("container: damaged seal slot in the header (ignored)");
        c.damage = Some("damaged seal slot in the file header (ignored: a cut-short file would not be detected)".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the container_read fuzz target: a trailer found near the
    /// start of the file (before a whole commit fits) made `end -
    /// COMMIT_FIXED_LEN` wrap (a panic with overflow checks; without them
    /// this trailer, whose offset matches the wrapped value modulo
    /// ENTRY_LEN, was taken as plausible).
    #[test]
    fn trailer_before_a_whole_commit_is_not_plausible() {
        let t = Trailer {
            commit_offset: 44,
            logical_size: 0,
            seq: 1,
        };
        for at in 0..COMMIT_FIXED_LEN - TRAILER_LEN {
            assert!(!trailer_plausible(&t, at, 4), "at {at}");
        }
        // The first place a commit at HEADER_LEN can end with its trailer.
        let t = Trailer {
            commit_offset: HEADER_LEN,
            ..t
        };
        assert!(trailer_plausible(
            &t,
            HEADER_LEN + COMMIT_FIXED_LEN - TRAILER_LEN,
            4
        ));
        // Version 5: a packed record at 32 ends anywhere from 32 + 58 on.
        for at in HEADER_LEN + PACKED_FIXED_LEN - TRAILER_LEN..HEADER_LEN + 200 {
            assert!(trailer_plausible(&t, at, 5), "at {at}");
        }
        for at in 0..HEADER_LEN + PACKED_FIXED_LEN - TRAILER_LEN {
            assert!(!trailer_plausible(&t, at, 5), "at {at}");
        }
    }
}
