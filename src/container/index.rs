//! The in-memory sparse block index: block number -> where the block lives.
//! Holes are absent. Keeps running totals (live record bytes, counts by
//! kind) so that stats and dead-space accounting are O(1).

use std::collections::BTreeMap;

use super::format::{DiskEntry, KIND_FILL, KIND_HUFFMAN, KIND_LZ, KIND_STORED, RECORD_HEADER_LEN};

/// How a block record's payload is coded (FORMAT.md 3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// The raw bytes.
    Stored,
    /// A section-4 Huffman payload.
    Huffman,
    /// A section-5 LZ payload.
    Lz,
}

impl Coding {
    /// The kind byte of records and entries of this coding.
    pub fn kind_byte(self) -> u8 {
        match self {
            Coding::Stored => KIND_STORED,
            Coding::Huffman => KIND_HUFFMAN,
            Coding::Lz => KIND_LZ,
        }
    }

    /// The coding of a record kind byte; None for kinds without a record.
    pub fn from_kind_byte(kind: u8) -> Option<Coding> {
        match kind {
            KIND_STORED => Some(Coding::Stored),
            KIND_HUFFMAN => Some(Coding::Huffman),
            KIND_LZ => Some(Coding::Lz),
            _ => None,
        }
    }
}

/// Where one non-hole block lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// A block record at `offset` whose payload, coded as `coding`, is
    /// `len` bytes.
    Record {
        coding: Coding,
        offset: u64,
        len: u32,
    },
    /// No record: the first `len` bytes of the block are `byte`, the rest zero.
    Fill { byte: u8, len: u32 },
}

impl Entry {
    /// Bytes the entry's record occupies in the backing file.
    pub fn record_bytes(&self) -> u64 {
        match *self {
            Entry::Record { len, .. } => RECORD_HEADER_LEN + u64::from(len),
            Entry::Fill { .. } => 0,
        }
    }

    /// The record's offset, None for a fill.
    pub fn record_offset(&self) -> Option<u64> {
        match *self {
            Entry::Record { offset, .. } => Some(offset),
            Entry::Fill { .. } => None,
        }
    }

    pub fn to_disk(self, block_no: u64) -> DiskEntry {
        match self {
            Entry::Record {
                coding,
                offset,
                len,
            } => DiskEntry {
                block_no,
                offset,
                len,
                kind: coding.kind_byte(),
                fill: 0,
            },
            Entry::Fill { byte, len } => DiskEntry {
                block_no,
                offset: 0,
                len,
                kind: KIND_FILL,
                fill: byte,
            },
        }
    }
}

/// Counts of index entries by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KindCounts {
    pub stored: u64,
    pub huffman: u64,
    pub lz: u64,
    pub fill: u64,
    pub stored_payload: u64,
    pub huffman_payload: u64,
    pub lz_payload: u64,
}

/// The sparse index with running totals.
#[derive(Debug, Default, Clone)]
pub struct Index {
    map: BTreeMap<u64, Entry>,
    live_record_bytes: u64,
    counts: KindCounts,
}

impl Index {
    fn account(&mut self, e: &Entry, add: bool) {
        let (c, p) = match *e {
            Entry::Record { coding, len, .. } => {
                let (c, p) = match coding {
                    Coding::Stored => (&mut self.counts.stored, &mut self.counts.stored_payload),
                    Coding::Huffman => (&mut self.counts.huffman, &mut self.counts.huffman_payload),
                    Coding::Lz => (&mut self.counts.lz, &mut self.counts.lz_payload),
                };
                (c, Some((p, len)))
            }
            Entry::Fill { .. } => (&mut self.counts.fill, None),
        };
        if add {
            *c += 1;
            if let Some((p, len)) = p {
                *p += u64::from(len);
            }
            self.live_record_bytes += e.record_bytes();
        } else {
            *c -= 1;
            if let Some((p, len)) = p {
                *p -= u64::from(len);
            }
            self.live_record_bytes -= e.record_bytes();
        }
    }

    /// Builds an index from entries in strictly ascending block order
    /// (bulk construction, much faster than inserting one by one).
    pub fn from_sorted(entries: Vec<(u64, Entry)>) -> Index {
        debug_assert!(entries.windows(2).all(|w| w[0].0 < w[1].0));
        let mut ix = Index::default();
        for (_, e) in &entries {
            ix.account(e, true);
        }
        ix.map = entries.into_iter().collect();
        ix
    }

    pub fn get(&self, block_no: u64) -> Option<Entry> {
        self.map.get(&block_no).copied()
    }

    /// Inserts or replaces; returns the old entry.
    pub fn insert(&mut self, block_no: u64, e: Entry) -> Option<Entry> {
        self.account(&e, true);
        let old = self.map.insert(block_no, e);
        if let Some(o) = &old {
            self.account(o, false);
        }
        old
    }

    pub fn remove(&mut self, block_no: u64) -> Option<Entry> {
        let old = self.map.remove(&block_no);
        if let Some(o) = &old {
            self.account(o, false);
        }
        old
    }

    /// Removes every entry with block number >= `from`; returns their numbers.
    pub fn remove_from(&mut self, from: u64) -> Vec<u64> {
        let tail = self.map.split_off(&from);
        let mut removed = Vec::with_capacity(tail.len());
        for (b, e) in tail {
            self.account(&e, false);
            removed.push(b);
        }
        removed
    }

    /// Moves every record entry's offset up by `by` (the records moved in
    /// the file, see `Container::commit_empty_first`).
    pub fn shift_records(&mut self, by: u64) {
        for e in self.map.values_mut() {
            if let Entry::Record { offset, .. } = e {
                *offset += by;
            }
        }
    }

    pub fn len(&self) -> u64 {
        self.map.len() as u64
    }

    pub fn next_from(&self, from: u64) -> Option<u64> {
        self.map.range(from..).next().map(|(&b, _)| b)
    }

    pub fn iter(&self) -> impl Iterator<Item = (u64, Entry)> + '_ {
        self.map.iter().map(|(&b, &e)| (b, e))
    }

    pub fn live_record_bytes(&self) -> u64 {
        self.live_record_bytes
    }

    pub fn counts(&self) -> KindCounts {
        self.counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_follow_inserts_and_removals() {
        let mut ix = Index::default();
        ix.insert(
            1,
            Entry::Record {
                coding: Coding::Stored,
                offset: 32,
                len: 100,
            },
        );
        ix.insert(
            5,
            Entry::Record {
                coding: Coding::Huffman,
                offset: 200,
                len: 10,
            },
        );
        ix.insert(9, Entry::Fill { byte: 7, len: 4096 });
        assert_eq!(ix.live_record_bytes(), 132 + 42);
        ix.insert(
            1,
            Entry::Record {
                coding: Coding::Lz,
                offset: 300,
                len: 20,
            },
        );
        assert_eq!(ix.live_record_bytes(), 52 + 42);
        assert_eq!(ix.counts().stored, 0);
        assert_eq!(ix.counts().huffman, 1);
        assert_eq!(ix.counts().huffman_payload, 10);
        assert_eq!(ix.counts().lz, 1);
        assert_eq!(ix.counts().lz_payload, 20);
        assert_eq!(ix.remove_from(5), vec![5, 9]);
        assert_eq!(ix.live_record_bytes(), 52);
        assert_eq!(ix.counts().fill, 0);
        assert_eq!(ix.next_from(0), Some(1));
        assert_eq!(ix.next_from(2), None);
        assert!(ix.remove(1).is_some());
        assert_eq!(ix.len(), 0);
        assert_eq!(ix.live_record_bytes(), 0);
    }
}
