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
    self, crc_append, salted_crc, CommitHeader, DiskEntry, FileHeader, RecordHeader, Seal, Trailer,
    BLOCK_MAGIC, COMMIT_FIXED_LEN, COMMIT_HEADER_LEN, COMMIT_MAGIC, ENTRY_LEN, HEADER_LEN,
    KIND_FILL, KIND_HOLE, MAX_LOGICAL_SIZE, RECORD_HEADER_LEN, TRAILER_LEN, TRAILER_MAGIC,
};
use super::index::{Coding, Entry, Index};
use super::{CommitState, Container, ContainerError, Result};

fn corrupt(offset: u64, msg: impl Into<String>) -> ContainerError {
    ContainerError::Corrupt {
        offset,
        msg: msg.into(),
    }
}

/// Reads exactly `buf.len()` bytes at `offset`; a short file is `Corrupt`.
fn read_exact(file: &File, buf: &mut [u8], offset: u64) -> Result<()> {
    match file.read_exact_at(buf, offset) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
            Err(corrupt(offset, "unexpected end of file"))
        }
        Err(e) => Err(e.into()),
    }
}

fn read_header(file: &File, file_len: u64) -> Result<FileHeader> {
    if file_len < HEADER_LEN {
        let msg = format!("file of {file_len} bytes is shorter than the 32-byte header");
        if Container::is_container(file)? {
            return Err(corrupt(file_len, format!("truncated container: {msg}")));
        }
        return Err(ContainerError::NotContainer(msg));
    }
    let mut b = [0u8; HEADER_LEN as usize];
    read_exact(file, &mut b, 0)?;
    match FileHeader::decode(&b) {
        // The records after it show a container whose header is damaged.
        Err(ContainerError::NotContainer(m)) if Container::is_container(file)? => {
            Err(corrupt(0, format!("damaged file header ({m})")))
        }
        r => r,
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
    let h = read_header(file, file_len)?;
    let block_size = 1u32 << h.block_shift;
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
fn read_trailer(file: &File, h: &FileHeader, file_len: u64) -> Result<Option<Trailer>> {
    if file_len < HEADER_LEN + COMMIT_FIXED_LEN {
        return Ok(None);
    }
    let mut b = [0u8; TRAILER_LEN as usize];
    read_exact(file, &mut b, file_len - TRAILER_LEN)?;
    Ok(Trailer::decode(&b, h.salt).filter(|t| trailer_plausible(t, file_len - TRAILER_LEN)))
}

/// A trailer at `at` must point at a commit that ends with it.
fn trailer_plausible(t: &Trailer, at: u64) -> bool {
    let end = at + TRAILER_LEN;
    t.commit_offset >= HEADER_LEN
        && t.commit_offset <= end - COMMIT_FIXED_LEN
        && (end - COMMIT_FIXED_LEN - t.commit_offset) % ENTRY_LEN == 0
        && t.logical_size <= MAX_LOGICAL_SIZE
}

/// Reads and fully validates the commit record at `offset` (header CRC,
/// entries CRC, trailer), calling `each` for every entry. `limit` is the
/// end of the region the record must lie in; with `exact_end` it must end
/// exactly there.
fn read_commit(
    file: &File,
    h: &FileHeader,
    offset: u64,
    limit: u64,
    exact_end: bool,
    mut each: impl FnMut(&CommitHeader, DiskEntry, &[u8]) -> Result<()>,
) -> Result<(CommitHeader, bool)> {
    if offset.saturating_add(COMMIT_FIXED_LEN) > limit {
        return Err(corrupt(
            offset,
            "commit record extends past the end of the file",
        ));
    }
    // One read covers a small commit (a typical delta) whole.
    const FIRST: usize = 4096;
    let first_len = (limit - offset).min(FIRST as u64) as usize;
    let mut first = [0u8; FIRST];
    read_exact(file, &mut first[..first_len], offset)?;
    let hl = COMMIT_HEADER_LEN as usize;
    let ch = CommitHeader::decode(&first[..hl], h.salt, offset, limit)?;
    let rec_len = ch.record_len();
    if exact_end && offset + rec_len != limit {
        return Err(corrupt(offset, "commit record does not end at the trailer"));
    }
    let mut crc = crc_append(salted_crc(h.salt, &[]), &first[..hl]);
    let entries_len = ch.entry_count * ENTRY_LEN;
    let entries_end = offset + COMMIT_HEADER_LEN + entries_len;
    let mut handle = |bytes: &[u8]| -> Result<()> {
        crc = crc_append(crc, bytes);
        for raw in bytes.chunks_exact(ENTRY_LEN as usize) {
            each(&ch, DiskEntry::decode(raw), raw)?;
        }
        Ok(())
    };
    let mut tail = [0u8; 4 + TRAILER_LEN as usize];
    if rec_len <= first_len as u64 {
        let el = entries_len as usize;
        handle(&first[hl..hl + el])?;
        tail.copy_from_slice(&first[hl + el..rec_len as usize]);
    } else {
        // Stream the entries through a bounded buffer. Entries are handed
        // to `each` as they are read; a CRC mismatch found at the end
        // fails the whole open anyway.
        const CHUNK: u64 = 2730 * ENTRY_LEN; // ~64 KiB
        let mut buf = vec![0u8; CHUNK.min(entries_len) as usize];
        let mut pos = offset + COMMIT_HEADER_LEN;
        while pos < entries_end {
            let n = (entries_end - pos).min(CHUNK) as usize;
            read_exact(file, &mut buf[..n], pos)?;
            handle(&buf[..n])?;
            pos += n as u64;
        }
        read_exact(file, &mut tail, entries_end)?;
    }
    if u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]) != crc {
        return Err(corrupt(offset, "commit entries checksum mismatch"));
    }
    // The header and the entries passed their checksums, so the commit is
    // whole even if its trailer (a copy of header fields, there to find
    // the commit from the end of the file) is damaged: report, not fail.
    let trailer_ok = matches!(
        Trailer::decode(&tail[4..], h.salt),
        Some(t) if t.commit_offset == offset && t.seq == ch.seq && t.logical_size == ch.logical_size
    );
    if !trailer_ok {
        log::warn!("container: trailer of the commit at offset {offset} is damaged; the commit itself is intact");
    }
    Ok((ch, trailer_ok))
}

/// The coding of a record kind byte in a container of header `version`
/// (LZ only in versions 3 and 4, FORMAT.md 3.2); None for anything else.
fn record_coding(kind: u8, version: u16) -> Option<Coding> {
    Coding::from_kind_byte(kind).filter(|&c| c != Coding::Lz || format::allows_lz(version))
}

/// Checks one entry of the commit at `commit_off` and converts it
/// (`None` = removal).
fn check_entry(
    d: &DiskEntry,
    raw: &[u8],
    commit_off: u64,
    checkpoint: bool,
    block_size: u32,
    max_block: u64,
    version: u16,
) -> Result<Option<Entry>> {
    let bad = |msg: &str| {
        Err(corrupt(
            commit_off,
            format!("commit entry for block {}: {msg}", d.block_no),
        ))
    };
    if !DiskEntry::reserved_ok(raw) {
        return bad("reserved bytes set");
    }
    if d.block_no > max_block {
        return bad("block number past the 2^63-1 byte limit");
    }
    match d.kind {
        KIND_HOLE if !checkpoint && d.offset == 0 && d.len == 0 && d.fill == 0 => Ok(None),
        KIND_FILL if d.offset == 0 && d.len >= 1 && d.len <= block_size => Ok(Some(Entry::Fill {
            byte: d.fill,
            len: d.len,
        })),
        kind => {
            let Some(coding) = record_coding(kind, version) else {
                return bad("invalid kind or fields");
            };
            if d.fill != 0 || d.len == 0 || d.len > block_size {
                return bad("invalid payload length");
            }
            let rec_end = d
                .offset
                .saturating_add(RECORD_HEADER_LEN + u64::from(d.len));
            if d.offset < HEADER_LEN || rec_end > commit_off {
                return bad("record offset outside the committed log");
            }
            Ok(Some(Entry::Record {
                coding,
                offset: d.offset,
                len: d.len,
            }))
        }
    }
}

/// The state loaded from a commit chain.
pub(super) struct Loaded {
    /// Offset of a commit in the chain whose trailer is damaged.
    pub damaged_trailer: Option<u64>,
    pub index: Index,
    pub logical_size: u64,
    pub state: CommitState,
}

/// Loads the newest commit at `newest` (which ends at `limit`) and its
/// chain back to the checkpoint. Newest entries win: deltas are applied
/// newest first, then the checkpoint fills in blocks no delta mentioned.
fn load_chain(file: &File, h: &FileHeader, newest: u64, limit: u64) -> Result<Loaded> {
    let block_size = 1u32 << h.block_shift;
    let max_block = MAX_LOGICAL_SIZE >> h.block_shift;
    let mut decided: BTreeMap<u64, Option<Entry>> = BTreeMap::new();
    // Checkpoint entries no delta overrode, in ascending order.
    let mut base: Vec<(u64, Entry)> = Vec::new();
    let mut cur = newest;
    let mut cur_limit = limit;
    let mut first: Option<CommitHeader> = None;
    let mut expect: Option<CommitHeader> = None; // the commit after `cur`
    let mut chain_entries = 0u64;
    let mut chain_bytes = 0u64;
    let mut damaged_trailer = None;
    loop {
        // A record must end before the next commit in the chain begins.
        let is_newest = expect.is_none();
        let mut last_block: Option<u64> = None;
        let mut apply = |ch: &CommitHeader, d: DiskEntry, raw: &[u8]| -> Result<()> {
            if last_block.is_some_and(|l| d.block_no <= l) {
                return Err(corrupt(cur, "commit entries not in ascending block order"));
            }
            last_block = Some(d.block_no);
            let ckpt = ch.is_checkpoint();
            let e = check_entry(&d, raw, cur, ckpt, block_size, max_block, h.version)?;
            if ckpt {
                if let Some(e) = e {
                    if decided.is_empty() || !decided.contains_key(&d.block_no) {
                        base.push((d.block_no, e));
                    }
                }
            } else {
                decided.entry(d.block_no).or_insert(e);
            }
            Ok(())
        };
        let (ch, trailer_ok) = read_commit(file, h, cur, cur_limit, is_newest, &mut apply)?;
        if !trailer_ok && damaged_trailer.is_none() {
            damaged_trailer = Some(cur);
        }
        let ckpt = ch.is_checkpoint();
        if let Some(next) = expect {
            if ch.seq + 1 != next.seq
                || ch.chain_len + 1 != next.chain_len
                || (!ckpt && ch.checkpoint != next.checkpoint)
                || (ckpt && cur != next.checkpoint)
            {
                return Err(corrupt(cur, "delta chain is inconsistent"));
            }
        }
        if first.is_none() {
            first = Some(ch);
        }
        chain_bytes += ch.record_len();
        if ckpt {
            break;
        }
        chain_entries += ch.entry_count;
        expect = Some(ch);
        cur_limit = cur;
        cur = ch.prev_commit;
    }
    // Merge the two ascending sequences (their block numbers are disjoint).
    let mut merged = Vec::with_capacity(base.len() + decided.len());
    let mut deltas = decided
        .into_iter()
        .filter_map(|(b, e)| e.map(|e| (b, e)))
        .peekable();
    for item in base {
        while let Some(d) = deltas.next_if(|d| d.0 < item.0) {
            merged.push(d);
        }
        merged.push(item);
    }
    merged.extend(deltas);
    let index = Index::from_sorted(merged);
    let f = first.expect("loop ran at least once");
    Ok(Loaded {
        damaged_trailer,
        index,
        logical_size: f.logical_size,
        state: CommitState {
            offset: newest,
            seq: f.seq,
            checkpoint: f.checkpoint,
            chain_len: f.chain_len,
            chain_entries,
            chain_bytes,
        },
    })
}

/// What the forward scan found.
struct Scan {
    /// Offset where the scan stopped (first byte not part of a
    /// well-formed record).
    stop: u64,
    /// Offsets of the intact commits found, oldest first.
    commits: Vec<u64>,
    /// The newest intact record of each block after the last intact
    /// commit (entry, decoded length): for salvage when that commit is
    /// followed by a damaged one, or when no commit exists at all.
    records: BTreeMap<u64, (Entry, u32)>,
}

/// Forward scan over the records after the header.
fn scan_forward(file: &File, h: &FileHeader, file_len: u64) -> Result<Scan> {
    let block_size = 1u32 << h.block_shift;
    let max_block = MAX_LOGICAL_SIZE >> h.block_shift;
    let mut pos = HEADER_LEN;
    let mut commits = Vec::new();
    let mut records = BTreeMap::new();
    let mut b = [0u8; COMMIT_HEADER_LEN as usize];
    while pos + 4 <= file_len {
        let n = (file_len - pos).min(b.len() as u64) as usize;
        read_exact(file, &mut b[..n], pos)?;
        if b[0..4] == BLOCK_MAGIC {
            let Ok(rh) = RecordHeader::decode(&b[..n], h.salt, block_size, pos) else {
                break;
            };
            let end = pos + RECORD_HEADER_LEN + u64::from(rh.payload_len);
            if end > file_len {
                break;
            }
            let Some(coding) = record_coding(rh.kind, h.version) else {
                break;
            };
            if rh.block_no <= max_block {
                let e = Entry::Record {
                    coding,
                    offset: pos,
                    len: rh.payload_len,
                };
                records.insert(rh.block_no, (e, rh.decoded_len));
            }
            pos = end;
        } else if b[0..4] == COMMIT_MAGIC {
            match read_commit(file, h, pos, file_len, false, |_, _, _| Ok(())) {
                Ok((ch, _)) => {
                    commits.push(pos);
                    records.clear();
                    pos += ch.record_len();
                }
                Err(ContainerError::Io(e)) => return Err(ContainerError::Io(e)),
                Err(_) => break,
            }
        } else {
            break;
        }
    }
    Ok(Scan {
        stop: pos,
        commits,
        records,
    })
}

/// Searches `[from, to)` backwards for the last intact commit whose
/// trailer lies in that region (a commit after an unreadable record).
fn search_backward(file: &File, h: &FileHeader, from: u64, to: u64) -> Result<Option<(u64, u64)>> {
    const WIN: u64 = 1 << 20;
    // Candidates whose salted trailer CRC holds are, in any file scfs
    // wrote, genuine trailers; a crafted file could hold many that fail
    // later checks, each costing a commit read. Bound the work.
    const MAX_CANDIDATES: u32 = 16;
    let mut candidates = 0;
    let mut hi = to;
    if to < from.saturating_add(TRAILER_LEN) {
        return Ok(None);
    }
    let mut buf = vec![0u8; (WIN + TRAILER_LEN).min(to - from) as usize];
    while hi >= from + TRAILER_LEN {
        let lo = hi.saturating_sub(WIN + TRAILER_LEN).max(from);
        let n = (hi - lo) as usize;
        read_exact(file, &mut buf[..n], lo)?;
        // Candidate trailer starts t with magic at t+24.
        let mut i = n - TRAILER_LEN as usize;
        loop {
            if buf[i + 24..i + 28] == TRAILER_MAGIC {
                let at = lo + i as u64;
                if let Some(t) = Trailer::decode(&buf[i..i + TRAILER_LEN as usize], h.salt) {
                    candidates += 1;
                    if candidates > MAX_CANDIDATES {
                        return Ok(None);
                    }
                    let end = at + TRAILER_LEN;
                    if trailer_plausible(&t, at)
                        && read_commit(file, h, t.commit_offset, end, true, |_, _, _| Ok(()))
                            .is_ok()
                    {
                        return Ok(Some((t.commit_offset, end)));
                    }
                }
            }
            if i == 0 {
                break;
            }
            i -= 1;
        }
        if lo == from {
            break;
        }
        // Overlap so a trailer straddling the window edge is seen.
        hi = lo + TRAILER_LEN - 1;
    }
    Ok(None)
}

pub(super) fn open(file: File, writable: bool) -> Result<Container> {
    let file_len = file.metadata()?.len();
    let h = read_header(&file, file_len)?;
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
    };
    if file_len == HEADER_LEN {
        check_seal(&mut c, &h, 0)?;
        return Ok(c);
    }
    // Fast path: the trailer at the end names the newest commit, whose
    // header says it ends exactly there. From then on any failure is
    // corruption, not a torn tail.
    let fast = match read_trailer(&c.file, &h, file_len)? {
        Some(t) => {
            let mut hb = [0u8; COMMIT_HEADER_LEN as usize];
            read_exact(&c.file, &mut hb, t.commit_offset)?;
            match CommitHeader::decode(&hb, h.salt, t.commit_offset, file_len) {
                Ok(ch) if t.commit_offset + ch.record_len() == file_len => {
                    Some((t.commit_offset, file_len))
                }
                _ => None,
            }
        }
        None => None,
    };
    let mut loaded = None;
    if let Some((off, end)) = fast {
        match load_chain(&c.file, &h, off, end) {
            Ok(l) => loaded = Some((l, end)),
            // The newest commit itself is damaged (say a flipped bit in its
            // entries): recover as from a torn tail, the damaged record is
            // left in place as dead bytes. A commit that is intact but
            // whose chain is broken is reported as corruption.
            Err(e)
                if e.is_corrupt()
                    && read_commit(&c.file, &h, off, end, true, |_, _, _| Ok(())).is_err() =>
            {
                log::warn!("container: newest commit at offset {off} is damaged ({e}); recovering");
            }
            Err(e) => return Err(e),
        }
    }
    if loaded.is_none() {
        // Torn or damaged tail: the last intact commit wins.
        let scan = scan_forward(&c.file, &h, file_len)?;
        let newest = match search_backward(&c.file, &h, scan.stop, file_len)? {
            Some(found) => Some(found),
            None => match scan.commits.last() {
                Some(&off) => {
                    let mut hb = [0u8; COMMIT_HEADER_LEN as usize];
                    read_exact(&c.file, &mut hb, off)?;
                    let ch = CommitHeader::decode(&hb, h.salt, off, file_len)?;
                    Some((off, off + ch.record_len()))
                }
                None => None,
            },
        };
        // A commit written whole but damaged where the scan stopped (not
        // a torn tail): the intact records after the last good commit are
        // the newer versions it referred to.
        let damaged = match newest {
            Some((_, end)) if end > scan.stop => None,
            _ => damaged_commit(&c.file, &h, scan.stop, file_len)?,
        };
        match (newest, damaged) {
            (Some((off, end)), None) => {
                loaded = Some((load_chain(&c.file, &h, off, end)?, end));
            }
            (None, None) => {
                damaged_not_torn(&c.file, &h, scan.stop, file_len)?;
                salvage(&mut c, None, scan.records, None);
                check_seal(&mut c, &h, 0)?;
            }
            (base, Some(d)) => {
                let base = match base {
                    Some((off, end)) => Some(load_chain(&c.file, &h, off, end)?),
                    None => None,
                };
                // The damaged commit follows the last intact one.
                let seq = d
                    .seq
                    .unwrap_or_else(|| base.as_ref().map_or(0, |l| l.state.seq) + 1);
                check_seal(&mut c, &h, seq)?;
                let record_blocks: Vec<u64> = scan.records.keys().copied().collect();
                let dropped = salvage(&mut c, base, scan.records, d.size);
                // The rebuilt state is served only when the damaged
                // commit's own entries confirm it; a hole or fill entry
                // (a change without a record), or any entry that does not
                // match, leaves blocks whose content is unknown: the open
                // fails (EIO for the file) rather than serve old bytes.
                confirm_rebuild(&c, &h, &d, &record_blocks, &dropped)?;
                let msg = format!(
                    "damaged commit record at byte offset {}: rebuilt from the block records after the last intact commit (its entries match them)",
                    scan.stop
                );
                log::warn!("container: {msg}");
                c.damage = Some(msg);
            }
        }
    }
    if let Some((l, end)) = loaded {
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

/// Step 5 of FORMAT.md 3.5: the state found (whose seq is `seq`, 0 for
/// none) must hold the commit the header's seal names; anything older
/// means committed data that reached stable storage is gone (the file was
/// cut short or its newest commits destroyed): corruption, not an older
/// state. Also sets the seq the next commit continues from, and reports a
/// damaged seal slot.
fn check_seal(c: &mut Container, h: &FileHeader, seq: u64) -> Result<()> {
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

/// A commit record written whole and damaged afterwards (see
/// [`damaged_commit`]).
struct Damaged {
    /// Where it starts (where the forward scan stopped).
    at: u64,
    /// Its header, when the header's own CRC still holds.
    header: Option<CommitHeader>,
    /// Its entry count (from the header, else from where it ends).
    entry_count: u64,
    /// The logical size it recorded, when its header or trailer tells it.
    size: Option<u64>,
    /// Its seq, when its header or trailer tells it.
    seq: Option<u64>,
}

/// Whether the commit at `at`, where the forward scan stopped, was written
/// whole and later damaged (as opposed to torn by a crash, which cuts the
/// file inside it): either its header is intact and its full length ends
/// exactly at the end of the file, or an intact trailer at the end of the
/// file names it.
fn damaged_commit(file: &File, h: &FileHeader, at: u64, file_len: u64) -> Result<Option<Damaged>> {
    if at.saturating_add(COMMIT_FIXED_LEN) > file_len {
        return Ok(None);
    }
    let mut hb = [0u8; COMMIT_HEADER_LEN as usize];
    read_exact(file, &mut hb, at)?;
    if let Ok(ch) = CommitHeader::decode(&hb, h.salt, at, file_len) {
        if at + ch.record_len() == file_len {
            return Ok(Some(Damaged {
                at,
                header: Some(ch),
                entry_count: ch.entry_count,
                size: Some(ch.logical_size),
                seq: Some(ch.seq),
            }));
        }
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

/// With no intact commit anywhere, whether the bytes where the scan
/// stopped were damaged rather than torn. A crash leaves a prefix of what
/// it was appending, so a whole record or commit header there always
/// checks; right after the file header (nothing accepted before, so the
/// scan cannot have been misled by an earlier torn record) the bytes must
/// at least start like a record. Anything else is damage hiding content
/// (say a zeroed or overwritten first commit): an error, not an empty or
/// partial file.
fn damaged_not_torn(file: &File, h: &FileHeader, stop: u64, file_len: u64) -> Result<()> {
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
    let damaged = if block && n as u64 >= RECORD_HEADER_LEN {
        // (A valid header whose payload runs past the end is torn.)
        RecordHeader::decode(&b[..n], h.salt, 1u32 << h.block_shift, stop).is_err()
    } else if commit && n as u64 >= COMMIT_HEADER_LEN {
        CommitHeader::decode(&b, h.salt, stop, u64::MAX).is_err()
    } else {
        stop == HEADER_LEN && !block && !commit
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
fn confirm_rebuild(
    c: &Container,
    h: &FileHeader,
    d: &Damaged,
    record_blocks: &[u64],
    dropped: &[u64],
) -> Result<()> {
    let unknown = |why: &str| {
        Err(corrupt(
            d.at,
            format!("damaged commit record ({why}): the blocks it changed cannot be recovered"),
        ))
    };
    let Some(size) = d.size else {
        return unknown("its size is unknown");
    };
    // None: header damaged, checkpoint or delta unknown.
    let delta = d.header.map(|ch| !ch.is_checkpoint());
    let blocks = size.div_ceil(1u64 << h.block_shift);
    let by_offset: std::collections::HashMap<u64, u64> = c
        .index
        .iter()
        .filter_map(|(b, e)| e.record_offset().map(|offset| (offset, b)))
        .collect();
    let mut named = 0u64;
    let mut holes = 0usize;
    let mut last: Option<u64> = None;
    let mut records = record_blocks
        .iter()
        .copied()
        .filter(|&b| b < blocks)
        .peekable();
    const CHUNK: u64 = 2730 * ENTRY_LEN;
    let mut buf = vec![0u8; CHUNK.min(d.entry_count * ENTRY_LEN) as usize];
    let mut pos = d.at + COMMIT_HEADER_LEN;
    let end = pos + d.entry_count * ENTRY_LEN;
    while pos < end {
        let n = (end - pos).min(CHUNK) as usize;
        read_exact(&c.file, &mut buf[..n], pos)?;
        for raw in buf[..n].chunks_exact(ENTRY_LEN as usize) {
            let e = DiskEntry::decode(raw);
            let hole = DiskEntry {
                block_no: e.block_no,
                offset: 0,
                len: 0,
                kind: KIND_HOLE,
                fill: 0,
            };
            if delta == Some(true)
                && e.block_no >= blocks
                && byte_distance(raw, &hole) == 0
                && dropped.binary_search(&e.block_no).is_ok()
            {
                if last.is_some_and(|l| e.block_no <= l) {
                    return unknown("its entries are out of order");
                }
                last = Some(e.block_no);
                holes += 1;
                continue;
            }
            // The record entry this one is: the rebuilt record of the
            // block it names, or of the record it points at, at most one
            // byte away (a single damaged byte). Anything else it could
            // have been (a fill, a hole, an older record of the block)
            // differs from that record entry in at least three bytes
            // (offset, kind, length or fill byte), or is not what the
            // writer's index held.
            let is_record = |b: u64| {
                matches!(
                    c.index.get(b),
                    Some(r @ Entry::Record { .. })
                        if byte_distance(raw, &r.to_disk(b)) <= 1
                )
            };
            let b = if is_record(e.block_no) {
                e.block_no
            } else {
                match by_offset.get(&e.offset) {
                    Some(&b) if is_record(b) => b,
                    _ => return unknown("an entry does not match the block records"),
                }
            };
            if last.is_some_and(|l| b <= l) {
                return unknown("its entries are out of order");
            }
            last = Some(b);
            // Records after the last intact commit must all be named, in
            // order (a record not named was replaced without a record).
            while records.next_if(|&r| r < b).is_some() {
                if delta == Some(true) {
                    return unknown("a block record is not named by it");
                }
            }
            records.next_if_eq(&b);
            named += 1;
        }
        pos += n as u64;
    }
    if records.next().is_some() {
        return unknown("a block record is not named by it");
    }
    if delta == Some(true) && holes != dropped.len() {
        return unknown("the blocks past its size are not the ones it removed");
    }
    if delta != Some(true) && named != c.index.len() {
        return unknown("its entries are not the rebuilt index");
    }
    Ok(())
}

/// Number of bytes in which the 24-byte entry `raw` differs from `e`.
fn byte_distance(raw: &[u8], e: &DiskEntry) -> usize {
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
fn salvage(
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
