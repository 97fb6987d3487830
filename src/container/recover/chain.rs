//! Reading commit records and loading a commit chain (the newest commit
//! back to its checkpoint) into an index; every entry checked.

use super::*;

/// Reads and fully validates the commit record at `offset` (header CRC,
/// entries CRC, trailer), calling `each` for every entry. `limit` is the
/// end of the region the record must lie in; with `exact_end` it must end
/// exactly there.
pub(super) fn read_commit(
    file: &File,
    h: &FileHeader,
    offset: u64,
    limit: u64,
    exact_end: bool,
    mut each: impl FnMut(&CommitHeader, DiskEntry, &[u8]) -> Result<()>,
) -> Result<(CommitHeader, bool)> {
    if offset.saturating_add(PACKED_FIXED_LEN.min(COMMIT_FIXED_LEN)) > limit {
        return Err(corrupt(offset, Corruption::PastEnd("commit record")));
    }
    // One read covers a small commit (a typical delta) whole.
    const FIRST: usize = 4096;
    let first_len = (limit - offset).min(FIRST as u64) as usize;
    let mut first = [0u8; FIRST];
    read_exact(file, &mut first[..first_len], offset)?;
    if is_packed_at(h, offset, &first[..first_len]) {
        return read_packed(file, h, offset, limit, exact_end, &first[..first_len], each);
    }
    if offset + COMMIT_FIXED_LEN > limit {
        return Err(corrupt(offset, Corruption::PastEnd("commit record")));
    }
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
    let expected = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]);
    if expected != crc {
        return Err(corrupt(
            offset,
            Corruption::Checksum {
                what: "commit entries",
                expected,
                found: crc,
            },
        ));
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

/// [`read_commit`] of the packed record at offset 32 of a version-5 file
/// (FORMAT.md 3.11), `first` being the bytes read at its start. Its head
/// CRC covers every field of the commit; the trailer is a copy, whose
/// damage is reported (the returned flag) but does not fail the record.
fn read_packed(
    file: &File,
    h: &FileHeader,
    offset: u64,
    limit: u64,
    exact_end: bool,
    first: &[u8],
    mut each: impl FnMut(&CommitHeader, DiskEntry, &[u8]) -> Result<()>,
) -> Result<(CommitHeader, bool)> {
    let p = PackedHead::decode(first, h.salt, h.block_size(), offset)?;
    let len = p.record_len();
    if offset + len > limit {
        return Err(corrupt(offset, Corruption::PastEnd("packed record")));
    }
    if exact_end && offset + len != limit {
        return Err(corrupt(offset, "packed record does not end at the trailer"));
    }
    let ch = p.commit_header();
    if let Some(d) = p.entry() {
        let mut raw = [0u8; ENTRY_LEN as usize];
        d.encode(&mut raw);
        each(&ch, d, &raw)?;
    }
    let mut t = [0u8; TRAILER_LEN as usize];
    read_exact(file, &mut t, offset + len - TRAILER_LEN)?;
    let trailer_ok = matches!(
        Trailer::decode(&t, h.salt),
        Some(t) if t.commit_offset == offset && t.seq == ch.seq && t.logical_size == ch.logical_size
    );
    if !trailer_ok {
        log::warn!("container: trailer of the packed record at offset {offset} is damaged; the record itself is intact");
    }
    Ok((ch, trailer_ok))
}

/// The coding of a record kind byte in a container of header `version`
/// (LZ only in versions 3 and 4, FORMAT.md 3.2); None for anything else.
pub(super) fn record_coding(kind: u8, version: u16) -> Option<Coding> {
    Coding::from_kind_byte(kind).filter(|&c| c != Coding::Lz || format::allows_lz(version))
}

/// Checks one entry of the commit at `commit_off` and converts it
/// (`None` = removal). `packed`: offset 32 holds a packed record, whose
/// length (not a record header's) an entry naming it must fit before
/// `commit_off` (for the packed record's own entry, `commit_off` is its
/// end).
#[allow(clippy::too_many_arguments)]
pub(super) fn check_entry(
    d: &DiskEntry,
    raw: &[u8],
    commit_off: u64,
    checkpoint: bool,
    block_size: u32,
    max_block: u64,
    version: u16,
    packed: bool,
) -> Result<Option<Entry>> {
    let bad = |why: &'static str| {
        Err(corrupt(
            commit_off,
            Corruption::BadEntry {
                block: d.block_no,
                why,
            },
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
            let framing = if packed && d.offset == HEADER_LEN {
                PACKED_FIXED_LEN
            } else {
                RECORD_HEADER_LEN
            };
            let rec_end = d.offset.saturating_add(framing + u64::from(d.len));
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
/// `packed`: offset 32 holds a packed record (read with the header).
pub(super) fn load_chain(
    file: &File,
    h: &FileHeader,
    packed: bool,
    newest: u64,
    limit: u64,
) -> Result<Loaded> {
    let block_size = h.block_size();
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
            let limit = if ch.packed.is_some() {
                cur + ch.record_len()
            } else {
                cur
            };
            let e = check_entry(
                &d, raw, limit, ckpt, block_size, max_block, h.version, packed,
            )?;
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
        chain_bytes += ch.commit_bytes();
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
