//! The torn-tail search: a forward scan over the self-describing records
//! after the header, then a backward search for a later intact commit.

use super::*;

/// What the forward scan found.
pub(super) struct Scan {
    /// Offset where the scan stopped (first byte not part of a
    /// well-formed record).
    pub(super) stop: u64,
    /// Offsets of the intact commits found, oldest first.
    pub(super) commits: Vec<u64>,
    /// The newest intact record of each block after the last intact
    /// commit (entry, decoded length): for salvage when that commit is
    /// followed by a damaged one, or when no commit exists at all.
    pub(super) records: BTreeMap<u64, (Entry, u32)>,
}

/// Forward scan over the records after the header.
pub(super) fn scan_forward(file: &File, h: &FileHeader, file_len: u64) -> Result<Scan> {
    let block_size = h.block_size();
    let max_block = MAX_LOGICAL_SIZE >> h.block_shift;
    let mut pos = HEADER_LEN;
    let mut commits = Vec::new();
    let mut records = BTreeMap::new();
    let mut b = [0u8; COMMIT_HEADER_LEN as usize];
    while pos + 4 <= file_len {
        let n = (file_len - pos).min(b.len() as u64) as usize;
        read_exact(file, &mut b[..n], pos)?;
        if is_packed_at(h, pos, &b[..n]) {
            // FORMAT.md 3.11: whole, an intact commit (its head covers
            // every field); torn inside its trailer, a record of block 0.
            let Ok(p) = PackedHead::decode(&b[..n], h.salt, block_size, pos) else {
                break;
            };
            let rec_end = pos + PACKED_HEAD_LEN + u64::from(p.payload_len);
            if pos + p.record_len() <= file_len {
                commits.push(pos);
                records.clear();
                pos += p.record_len();
            } else if rec_end <= file_len {
                if let (true, Some(coding)) = (p.has_record(), Coding::from_kind_byte(p.kind)) {
                    let e = Entry::Record {
                        coding,
                        offset: pos,
                        len: p.payload_len,
                    };
                    records.insert(0, (e, p.decoded_len));
                }
                pos = rec_end;
            } else {
                break;
            }
        } else if b[0..4] == BLOCK_MAGIC {
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
pub(super) fn search_backward(
    file: &File,
    h: &FileHeader,
    from: u64,
    to: u64,
) -> Result<Option<(u64, u64)>> {
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
                    if trailer_plausible(&t, at, h.version)
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
