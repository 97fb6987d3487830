//! The packed head (FORMAT.md 3.11): the 26-byte head of a version-5
//! container's packed record, which is a small file's block record,
//! one-entry checkpoint and trailer in one. Pure encode/decode; the
//! decoder checks magic, CRC and every limit before a field is used.

use super::*;

/// Packed record magic "SPCK".
pub const PACKED_MAGIC: [u8; 4] = *b"SPCK";
/// Size of the packed head (the payload and the trailer follow).
pub const PACKED_HEAD_LEN: u64 = 26;
/// Size of a packed record without payload: head and trailer.
pub const PACKED_FIXED_LEN: u64 = PACKED_HEAD_LEN + TRAILER_LEN;

/// The head of a packed record (always at offset 32, always seq 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackedHead {
    /// KIND_HOLE (no block), KIND_STORED, KIND_HUFFMAN, KIND_FILL or KIND_LZ.
    pub kind: u8,
    /// The fill byte (KIND_FILL), else 0.
    pub fill: u8,
    /// The file's logical size, at most the block size.
    pub logical_size: u32,
    /// Record kinds: decoded length; fill: filled length; none: 0.
    pub decoded_len: u32,
    /// Record kinds: payload length; fill and none: 0.
    pub payload_len: u32,
    /// Record kinds: CRC32C (unsalted) of the decoded bytes; else 0.
    pub data_crc: u32,
}

impl PackedHead {
    pub fn encode(&self, salt: u64) -> [u8; PACKED_HEAD_LEN as usize] {
        let mut b = [0u8; PACKED_HEAD_LEN as usize];
        b[0..4].copy_from_slice(&PACKED_MAGIC);
        b[4] = self.kind;
        b[5] = self.fill;
        b[6..10].copy_from_slice(&self.logical_size.to_le_bytes());
        b[10..14].copy_from_slice(&self.decoded_len.to_le_bytes());
        b[14..18].copy_from_slice(&self.payload_len.to_le_bytes());
        b[18..22].copy_from_slice(&self.data_crc.to_le_bytes());
        let crc = salted_crc(salt, &b[0..22]);
        b[22..26].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes and validates a packed head found at `offset` (which the
    /// caller has checked is 32 in a version-5 container).
    pub fn decode(b: &[u8], salt: u64, block_size: u32, offset: u64) -> Result<PackedHead> {
        if b.len() < PACKED_HEAD_LEN as usize || b[0..4] != PACKED_MAGIC {
            return Err(corrupt(offset, Corruption::NoMagic("packed record")));
        }
        check_crc(
            "packed record head",
            b,
            22,
            salted_crc(salt, &b[0..22]),
            offset,
        )?;
        let p = PackedHead {
            kind: b[4],
            fill: b[5],
            logical_size: le_u32(b, 6),
            decoded_len: le_u32(b, 10),
            payload_len: le_u32(b, 14),
            data_crc: le_u32(b, 18),
        };
        let bad = |field: &'static str, value: u32| {
            Err(corrupt(
                offset,
                Corruption::BadField {
                    field,
                    value: value.into(),
                },
            ))
        };
        if p.logical_size > block_size {
            return bad("packed record logical size", p.logical_size);
        }
        if p.kind != KIND_FILL && p.fill != 0 {
            return Err(corrupt(offset, Corruption::Reserved("packed record")));
        }
        let decoded_ok = p.decoded_len >= 1 && p.decoded_len <= block_size;
        match p.kind {
            KIND_HOLE => {
                if p.decoded_len != 0 || p.payload_len != 0 || p.data_crc != 0 {
                    return bad("packed record of no block: length", p.decoded_len);
                }
            }
            KIND_FILL => {
                if !decoded_ok || p.payload_len != 0 || p.data_crc != 0 {
                    return bad("packed fill length", p.decoded_len);
                }
            }
            KIND_STORED | KIND_HUFFMAN | KIND_LZ => {
                if !decoded_ok {
                    return bad("packed record decoded length", p.decoded_len);
                }
                let len_ok = match p.kind {
                    KIND_STORED => p.payload_len == p.decoded_len,
                    _ => p.payload_len >= 1 && p.payload_len <= block_size,
                };
                if !len_ok {
                    return bad("packed record payload length", p.payload_len);
                }
            }
            k => return Err(corrupt(offset, format!("unknown packed record kind {k}"))),
        }
        Ok(p)
    }

    /// True for the kinds whose block is a record (stored, Huffman, LZ).
    pub fn has_record(&self) -> bool {
        matches!(self.kind, KIND_STORED | KIND_HUFFMAN | KIND_LZ)
    }

    /// Length of the whole packed record: head, payload, trailer.
    pub fn record_len(&self) -> u64 {
        PACKED_FIXED_LEN + u64::from(self.payload_len)
    }

    /// Bytes of the record that belong to block 0 (head and payload) when
    /// it has a record, else 0 (FORMAT.md 3.11, live bytes).
    pub fn block_bytes(&self) -> u64 {
        if self.has_record() {
            PACKED_HEAD_LEN + u64::from(self.payload_len)
        } else {
            0
        }
    }

    /// The commit the packed record is: a checkpoint at offset 32, seq 1.
    pub fn commit_header(&self) -> CommitHeader {
        CommitHeader {
            flags: COMMIT_CHECKPOINT,
            seq: 1,
            logical_size: u64::from(self.logical_size),
            prev_commit: 0,
            checkpoint: HEADER_LEN,
            entry_count: u64::from(self.kind != KIND_HOLE),
            chain_len: 0,
            packed: Some(*self),
        }
    }

    /// The checkpoint's one entry, if any (block 0).
    pub fn entry(&self) -> Option<DiskEntry> {
        match self.kind {
            KIND_HOLE => None,
            KIND_FILL => Some(DiskEntry {
                block_no: 0,
                offset: 0,
                len: self.decoded_len,
                kind: KIND_FILL,
                fill: self.fill,
            }),
            kind => Some(DiskEntry {
                block_no: 0,
                offset: HEADER_LEN,
                len: self.payload_len,
                kind,
                fill: 0,
            }),
        }
    }

    /// The block record header the head stands for (block 0).
    pub fn record_header(&self) -> RecordHeader {
        RecordHeader {
            kind: self.kind,
            block_no: 0,
            decoded_len: self.decoded_len,
            payload_len: self.payload_len,
            data_crc: self.data_crc,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head() -> PackedHead {
        PackedHead {
            kind: KIND_HUFFMAN,
            fill: 0,
            logical_size: 4000,
            decoded_len: 3900,
            payload_len: 900,
            data_crc: 0xdead_beef,
        }
    }

    #[test]
    fn round_trip_and_every_byte_checked() {
        let h = head();
        let b = h.encode(7);
        assert_eq!(PackedHead::decode(&b, 7, 8192, 32).unwrap(), h);
        assert!(PackedHead::decode(&b, 8, 8192, 32).is_err(), "wrong salt");
        assert!(PackedHead::decode(&b[..25], 7, 8192, 32).is_err(), "short");
        for i in 0..b.len() {
            let mut c = b;
            c[i] ^= 0x04;
            assert!(
                PackedHead::decode(&c, 7, 8192, 32).is_err(),
                "flip in byte {i} accepted"
            );
        }
        assert_eq!(h.record_len(), 26 + 900 + 32);
        assert_eq!(h.block_bytes(), 926);
        let ch = h.commit_header();
        assert_eq!((ch.seq, ch.checkpoint, ch.entry_count), (1, 32, 1));
        assert_eq!(ch.record_len(), 958);
        assert_eq!(ch.commit_bytes(), 32);
    }

    #[test]
    fn limits_with_a_valid_crc_are_still_checked() {
        let ok = |p: PackedHead, bs: u32| PackedHead::decode(&p.encode(1), 1, bs, 32).is_ok();
        let h = head();
        assert!(ok(h, 4096));
        assert!(!ok(h, 2048), "sizes over the block size");
        assert!(!ok(
            PackedHead {
                logical_size: 4097,
                ..h
            },
            4096
        ));
        assert!(!ok(
            PackedHead {
                payload_len: 0,
                ..h
            },
            4096
        ));
        assert!(!ok(
            PackedHead {
                payload_len: u32::MAX,
                ..h
            },
            4096
        ));
        assert!(!ok(
            PackedHead {
                kind: KIND_STORED,
                ..h
            },
            4096
        ));
        assert!(
            !ok(PackedHead { fill: 1, ..h }, 4096),
            "fill byte of a record"
        );
        assert!(!ok(PackedHead { kind: 9, ..h }, 4096));
        let none = PackedHead {
            kind: KIND_HOLE,
            fill: 0,
            logical_size: 100,
            decoded_len: 0,
            payload_len: 0,
            data_crc: 0,
        };
        assert!(ok(none, 4096));
        assert_eq!(none.commit_header().entry_count, 0);
        assert_eq!(none.entry(), None);
        assert_eq!(none.commit_header().commit_bytes(), PACKED_FIXED_LEN);
        assert!(!ok(
            PackedHead {
                decoded_len: 1,
                ..none
            },
            4096
        ));
        let fill = PackedHead {
            kind: KIND_FILL,
            fill: b'x',
            decoded_len: 100,
            ..none
        };
        assert!(ok(fill, 4096));
        assert_eq!(fill.entry().unwrap().len, 100);
        assert!(!ok(
            PackedHead {
                decoded_len: 0,
                ..fill
            },
            4096
        ));
        assert!(!ok(
            PackedHead {
                payload_len: 3,
                ..fill
            },
            4096
        ));
    }
}
