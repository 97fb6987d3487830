//! A commit record written whole and damaged afterwards: finding it,
//! telling it from a torn tail, salvaging the block records after the last
//! intact commit and confirming the rebuilt index against the damaged
//! commit's own entries.

use super::*;

/// A commit record written whole and damaged afterwards (see
/// [`damaged_commit`]).
pub(super) struct Damaged {
    /// Where it starts (where the forward scan stopped).
    pub(super) at: u64,
    /// Its header, when the header's own CRC still holds.
    pub(super) header: Option<CommitHeader>,
    /// Its entry count (from the header, else from where it ends).
    pub(super) entry_count: u64,
    /// The logical size it recorded, when its header or trailer tells it.
    pub(super) size: Option<u64>,
    /// Its seq, when its header or trailer tells it.
    pub(super) seq: Option<u64>,
}

/// Whether the commit at `at`, where the forward scan stopped, was written
/// whole and later damaged (as opposed to torn by a crash, which cuts the
/// file inside it): either its header is intact and its full length ends
/// exactly at the end of the file, or an intact trailer at the end of the
/// file names it.
pub(super) fn damaged_commit(
    file: &File,
    h: &FileHeader,
    at: u64,
    file_len: u64,
) -> Result<Option<Damaged>> {
    if at == HEADER_LEN && format::allows_packed(h.version) {
        return damaged_first_v5(file, h, file_len);
    }
    if at.saturating_add(COMMIT_FIXED_LEN) > file_len {
        return Ok(None);
    }
    let mut hb = [0u8; COMMIT_HEADER_LEN as usize];
    read_exact(file, &mut hb, at)?;
    if let Some(d) = written_whole(&hb, h, at, file_len) {
        return Ok(Some(d));
    }
    match read_trailer(file, h, file_len)? {
        // The trailer is plausible: the commit ends at the end of the
        // file after a whole number of entries.
        Some(t) if t.commit_offset == at => Ok(Some(Damaged {
            at,
            header: None,
            entry_count: (file_len - at - COMMIT_FIXED_LEN) / ENTRY_LEN,
            size: Some(t.logical_size),
            seq: Some(t.seq),
        })),
        _ => Ok(None),
    }
}

/// The commit at `at` when its header `hb` is intact and its full length
/// ends exactly at the end of the file: it was written whole.
fn written_whole(hb: &[u8], h: &FileHeader, at: u64, file_len: u64) -> Option<Damaged> {
    let ch = CommitHeader::decode(hb, h.salt, at, file_len).ok()?;
    (at + ch.record_len() == file_len).then_some(Damaged {
        at,
        header: Some(ch),
        entry_count: ch.entry_count,
        size: Some(ch.logical_size),
        seq: Some(ch.seq),
    })
}

/// [`damaged_commit`] at offset 32 of a version-5 file (FORMAT.md 3.11):
/// a packed head that fails its checks, or a commit there named by the
/// trailer whose header is damaged, is the file's first commit written
/// whole and damaged, with no record before it to rebuild from (and a
/// damaged packed record cannot be told from a damaged ordinary commit):
/// a corruption error. An ordinary commit there whose header is intact
/// and ends at the end of the file is the ordinary case.
fn damaged_first_v5(file: &File, h: &FileHeader, file_len: u64) -> Result<Option<Damaged>> {
    let at = HEADER_LEN;
    let mut hb = [0u8; COMMIT_HEADER_LEN as usize];
    let n = file_len.saturating_sub(at).min(COMMIT_HEADER_LEN) as usize;
    read_exact(file, &mut hb[..n], at)?;
    let lost = || {
        Err(corrupt(
            at,
            "the first commit (at offset 32) was written whole and is damaged: its blocks cannot be recovered",
        ))
    };
    let named = matches!(read_trailer(file, h, file_len)?, Some(t) if t.commit_offset == at);
    if is_packed_at(h, at, &hb[..n]) {
        if n as u64 >= PACKED_HEAD_LEN
            && PackedHead::decode(&hb[..n], h.salt, h.block_size(), at).is_err()
        {
            return lost();
        }
        // A valid head the scan did not take: torn inside the record,
        // unless a whole trailer at the end names it (its length lies).
        return if named { lost() } else { Ok(None) };
    }
    if let Some(d) = written_whole(&hb[..n], h, at, file_len) {
        return Ok(Some(d));
    }
    if named {
        return lost();
    }
    Ok(None)
}

/// With no intact commit anywhere, whether the bytes where the scan
/// stopped were damaged rather than torn. A crash leaves a prefix of what
/// it was appending, so a whole record or commit header there always
/// checks; right after the file header (nothing accepted before, so the
/// scan cannot have been misled by an earlier torn record) the bytes must
/// at least start like a record. Anything else is damage hiding content
/// (say a zeroed or overwritten first commit): an error, not an empty or
/// partial file.
pub(super) fn damaged_not_torn(
    file: &File,
    h: &FileHeader,
    stop: u64,
    file_len: u64,
) -> Result<()> {
    let left = file_len - stop;
    if left == 0 {
        return Ok(());
    }
    let mut b = [0u8; COMMIT_HEADER_LEN as usize];
    let n = left.min(COMMIT_HEADER_LEN) as usize;
    read_exact(file, &mut b[..n], stop)?;
    let magic_len = n.min(4);
    let block = b[..magic_len] == BLOCK_MAGIC[..magic_len];
    let commit = b[..magic_len] == COMMIT_MAGIC[..magic_len];
    let packed = stop == HEADER_LEN
        && format::allows_packed(h.version)
        && b[..magic_len] == PACKED_MAGIC[..magic_len];
    let damaged = if packed && n >= 4 && !block && !commit {
        // (A valid head whose record runs past the end is torn.)
        n as u64 >= PACKED_HEAD_LEN
            && PackedHead::decode(&b[..n], h.salt, h.block_size(), stop).is_err()
    } else if block && n as u64 >= RECORD_HEADER_LEN {
        // (A valid header whose payload runs past the end is torn.)
        RecordHeader::decode(&b[..n], h.salt, h.block_size(), stop).is_err()
    } else if commit && n as u64 >= COMMIT_HEADER_LEN {
        CommitHeader::decode(&b, h.salt, stop, u64::MAX).is_err()
    } else {
        stop == HEADER_LEN && !block && !commit && !packed
    };
    if damaged {
        return Err(corrupt(
            stop,
            "no intact commit, and the record where the log stops is damaged (not torn by a crash)",
        ));
    }
    Ok(())
}

/// Checks the state rebuilt after a damaged commit (`c.index`, from the
/// last intact commit plus the block records written after it) against
/// what the damaged commit itself says. Its entries failed their CRC, so
/// none can be trusted alone, but an entry naming a stored or Huffman
/// record can be checked: it must be the rebuilt entry of its block (the
/// record's offset, kind and length), or differ from it in one byte (the
/// damage itself; every other entry the writer could have written there
/// differs in at least three). The rebuild is confirmed
/// when every entry is such a matching record entry: a delta naming every
/// record written after the last intact commit (within the size), a
/// checkpoint naming every block of the rebuilt index. When the header is
/// damaged (the trailer named the commit and gave the size) it is not
/// known which of the two the commit was, so its entries must name every
/// block of the rebuilt index (both readings then agree). A
/// delta that shrank the file names the blocks past its size as holes:
/// those must be exactly the blocks the rebuild dropped (`dropped`). Any
/// other hole or fill entry (a change without a record) cannot be checked:
/// a flipped byte in it would serve a block's old content as its new one.
/// Anything
/// unconfirmed fails with a corruption error, so the file reads as EIO,
/// never as wrong bytes (FORMAT.md 3.5).
pub(super) fn confirm_rebuild(
    c: &Container,
    h: &FileHeader,
    d: &Damaged,
    record_blocks: &[u64],
    dropped: &[u64],
) -> Result<()> {
    let unknown = |why: &str| {
        corrupt(
            d.at,
            format!("damaged commit record ({why}): the blocks it changed cannot be recovered"),
        )
    };
    let Some(size) = d.size else {
        return Err(unknown("its size is unknown"));
    };
    let blocks = size.div_ceil(1u64 << h.block_shift);
    let m = EntryMatcher {
        c,
        // None: header damaged, checkpoint or delta unknown.
        delta: d.header.map(|ch| !ch.is_checkpoint()),
        blocks,
        dropped,
        by_offset: c
            .index
            .iter()
            .filter_map(|(b, e)| e.record_offset().map(|offset| (offset, b)))
            .collect(),
    };
    let delta = m.delta == Some(true);
    let mut named = 0u64;
    let mut holes = 0usize;
    let mut last: Option<u64> = None;
    let mut records = record_blocks
        .iter()
        .copied()
        .filter(|&b| b < blocks)
        .peekable();
    for_each_entry(&c.file, d.at, d.entry_count, |raw| {
        let (b, hole) = match m.classify(raw) {
            Matched::DroppedHole(b) => (b, true),
            Matched::Record(b) => (b, false),
            Matched::Unknown => return Err(unknown("an entry does not match the block records")),
        };
        if last.is_some_and(|l| b <= l) {
            return Err(unknown("its entries are out of order"));
        }
        last = Some(b);
        if hole {
            holes += 1;
            return Ok(());
        }
        // Records after the last intact commit must all be named, in
        // order (a record not named was replaced without a record).
        while records.next_if(|&r| r < b).is_some() {
            if delta {
                return Err(unknown("a block record is not named by it"));
            }
        }
        records.next_if_eq(&b);
        named += 1;
        Ok(())
    })?;
    if records.next().is_some() {
        return Err(unknown("a block record is not named by it"));
    }
    if delta && holes != dropped.len() {
        return Err(unknown(
            "the blocks past its size are not the ones it removed",
        ));
    }
    if !delta && named != c.index.len() {
        return Err(unknown("its entries are not the rebuilt index"));
    }
    Ok(())
}

/// Calls `f` with each of the `count` raw 24-byte entries of the commit
/// record at `at`, read in chunks.
fn for_each_entry(
    file: &File,
    at: u64,
    count: u64,
    mut f: impl FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    const CHUNK: u64 = 2730 * ENTRY_LEN;
    let mut buf = vec![0u8; CHUNK.min(count * ENTRY_LEN) as usize];
    let mut pos = at + COMMIT_HEADER_LEN;
    let end = pos + count * ENTRY_LEN;
    while pos < end {
        let n = (end - pos).min(CHUNK) as usize;
        read_exact(file, &mut buf[..n], pos)?;
        for raw in buf[..n].chunks_exact(ENTRY_LEN as usize) {
            f(raw)?;
        }
        pos += n as u64;
    }
    Ok(())
}

/// What one entry of a damaged commit is, as far as the rebuilt index
/// can tell.
enum Matched {
    /// The hole entry of a delta for a block the rebuild dropped past the
    /// size.
    DroppedHole(u64),
    /// The record entry of this block in the rebuilt index.
    Record(u64),
    /// Anything else: cannot be checked.
    Unknown,
}

/// Matches the entries of a damaged commit against the rebuilt index.
struct EntryMatcher<'a> {
    c: &'a Container,
    /// Whether the commit is a delta (None: its header is damaged).
    delta: Option<bool>,
    /// Blocks within the commit's size.
    blocks: u64,
    /// Blocks the rebuild dropped past the size, ascending.
    dropped: &'a [u64],
    /// Rebuilt record offset -> block.
    by_offset: std::collections::HashMap<u64, u64>,
}

impl EntryMatcher<'_> {
    fn classify(&self, raw: &[u8]) -> Matched {
        let e = DiskEntry::decode(raw);
        let hole = DiskEntry {
            block_no: e.block_no,
            offset: 0,
            len: 0,
            kind: KIND_HOLE,
            fill: 0,
        };
        if self.delta == Some(true)
            && e.block_no >= self.blocks
            && byte_distance(raw, &hole) == 0
            && self.dropped.binary_search(&e.block_no).is_ok()
        {
            return Matched::DroppedHole(e.block_no);
        }
        // The record entry this one is: the rebuilt record of the block it
        // names, or of the record it points at, at most one byte away (a
        // single damaged byte). Anything else it could have been (a fill, a
        // hole, an older record of the block) differs from that record
        // entry in at least three bytes (offset, kind, length or fill
        // byte), or is not what the writer's index held.
        let is_record = |b: u64| {
            matches!(
                self.c.index.get(b),
                Some(r @ Entry::Record { .. })
                    if byte_distance(raw, &r.to_disk(b)) <= 1
            )
        };
        if is_record(e.block_no) {
            return Matched::Record(e.block_no);
        }
        match self.by_offset.get(&e.offset) {
            Some(&b) if is_record(b) => Matched::Record(b),
            _ => Matched::Unknown,
        }
    }
}

/// Number of bytes in which the 24-byte entry `raw` differs from `e`.
pub(super) fn byte_distance(raw: &[u8], e: &DiskEntry) -> usize {
    let mut want = [0u8; ENTRY_LEN as usize];
    e.encode(&mut want);
    raw.iter().zip(want).filter(|(a, b)| **a != *b).count()
}

/// Rebuilds the index from intact block records: those written after the
/// last intact commit (`base`, whose index they update: the newest record
/// of each block wins) when the commit that followed them is damaged, or
/// all of them when no commit is intact. The logical size is the one the
/// damaged commit recorded when known, otherwise the larger of the base's
/// size and the end of the highest salvaged block. The data CRC of each
/// record still guards every read. The next commit is a checkpoint (there
/// is no intact commit that holds this state to chain onto). Returns the
/// blocks dropped past the size, in ascending order.
pub(super) fn salvage(
    c: &mut Container,
    base: Option<Loaded>,
    records: BTreeMap<u64, (Entry, u32)>,
    size: Option<u64>,
) -> Vec<u64> {
    let (mut index, base_size) = match base {
        Some(l) => (l.index, l.logical_size),
        None => (Index::default(), 0),
    };
    if base_size == 0 && records.is_empty() && size.is_none() {
        return Vec::new();
    }
    let extent = records
        .iter()
        .next_back()
        .map(|(&b, &(_, len))| (b << c.shift).saturating_add(u64::from(len)))
        .unwrap_or(0);
    log::warn!(
        "container: salvaged {} block records{}",
        records.len(),
        if index.len() > 0 {
            " over the last intact commit"
        } else {
            ""
        }
    );
    for (b, (e, _)) in records {
        index.insert(b, e);
    }
    let size = size.unwrap_or(base_size.max(extent)).min(MAX_LOGICAL_SIZE);
    let blocks = size.div_ceil(1u64 << c.shift);
    let dropped = index.remove_from(blocks);
    c.logical_size = size;
    c.index = index;
    dropped
}
