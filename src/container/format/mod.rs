//! Byte layouts of the v2 container (docs/FORMAT.md section 3): the file
//! header (versions 2 to 5, with its seal slot), block record headers,
//! commit headers, index entries, the trailer and (version 5) the packed
//! head of a small file's first record (in `packed`). Pure encode/decode
//! functions with no I/O; every decoder checks magic, checksum and the
//! format's limits and never trusts a field further. The file header and
//! its seal slot are in `header`.

use super::{ContainerError, Corruption, Result};

mod header;
mod packed;

pub use header::{decode_seal, encode_seal, FileHeader, Seal, SEAL_LEN, SEAL_OFFSET};
pub use packed::{PackedHead, PACKED_FIXED_LEN, PACKED_HEAD_LEN, PACKED_MAGIC};

/// Magic bytes that begin every scfs file (v1 and v2).
pub const FILE_MAGIC: [u8; 4] = [0x0C, 0x00, 0x0D, 0x0E];
/// Header version of the containers we write (FORMAT.md 3.2): 5, the
/// layout of version 4 that may begin with a packed record (3.11).
pub const VERSION: u16 = 5;
/// The layout of version 3 that may hold LZ records; still read and
/// written (never given a packed record).
pub const VERSION_4: u16 = 4;
/// The version with the seal slot but (as far as older readers know) no
/// LZ records; still read, and raised to 4 in place before a first LZ record.
pub const VERSION_3: u16 = 3;
/// The first header version (no seal slot), still read.
pub const VERSION_2: u16 = 2;
/// Offset of the version field, the one header field raised in place.
pub const VERSION_OFFSET: u64 = 4;

/// True for the header versions of a v2 container (2 to 5).
pub fn is_container_version(v: u16) -> bool {
    (VERSION_2..=VERSION).contains(&v)
}

/// True when a container of header version `v` may hold LZ records
/// (FORMAT.md 3.2: versions 3 and 4; a crash may leave them in a
/// version-3 file whose raise to 4 was not yet on disk).
pub fn allows_lz(v: u16) -> bool {
    v >= VERSION_3
}

/// True when offset 32 of a container of header version `v` may hold a
/// packed record (FORMAT.md 3.11: version 5).
pub fn allows_packed(v: u16) -> bool {
    v >= VERSION
}

/// CRC of a version-3, -4 or -5 header: bytes 0..16 as they read in
/// version 3.
fn v3_header_crc(b: &[u8]) -> u32 {
    let mut h = [0u8; 16];
    h.copy_from_slice(&b[0..16]);
    h[4..6].copy_from_slice(&VERSION_3.to_le_bytes());
    crc32c::crc32c(&h)
}
/// Size of the file header.
pub const HEADER_LEN: u64 = 32;
/// Smallest and largest allowed log2 of the block size.
pub const MIN_BLOCK_SHIFT: u8 = 12;
pub const MAX_BLOCK_SHIFT: u8 = 20;
/// Largest logical file size (2^63 - 1).
pub const MAX_LOGICAL_SIZE: u64 = i64::MAX as u64;

/// Block record magic "SBLK".
pub const BLOCK_MAGIC: [u8; 4] = *b"SBLK";
/// Commit record magic "SCMT".
pub const COMMIT_MAGIC: [u8; 4] = *b"SCMT";
/// Trailer magic "STRL".
pub const TRAILER_MAGIC: [u8; 4] = *b"STRL";

/// Size of a block record header (the payload follows).
pub const RECORD_HEADER_LEN: u64 = 32;
/// Size of a commit header.
pub const COMMIT_HEADER_LEN: u64 = 64;
/// Size of one index entry in a commit.
pub const ENTRY_LEN: u64 = 24;
/// Size of the entries checksum after the entries.
pub const ENTRIES_CRC_LEN: u64 = 4;
/// Size of the trailer that ends every commit record.
pub const TRAILER_LEN: u64 = 32;
/// Size of a commit record without entries.
pub const COMMIT_FIXED_LEN: u64 = COMMIT_HEADER_LEN + ENTRIES_CRC_LEN + TRAILER_LEN;

/// Commit flag: this commit is a checkpoint (full index).
pub const COMMIT_CHECKPOINT: u8 = 1;

/// Record kinds as stored on disk (block records and index entries).
pub const KIND_HOLE: u8 = 0;
pub const KIND_STORED: u8 = 1;
pub const KIND_HUFFMAN: u8 = 2;
pub const KIND_FILL: u8 = 3;
pub const KIND_LZ: u8 = 4;

fn le_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn le_u32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}
fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// CRC32C seeded with the container's salt: used for every checksum that
/// protects container metadata (record headers, commits, trailers), so that
/// records copied from another container never validate in this one.
pub fn salted_crc(salt: u64, data: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&salt.to_le_bytes()), data)
}

/// Continues a salted CRC over more bytes.
pub fn crc_append(crc: u32, data: &[u8]) -> u32 {
    crc32c::crc32c_append(crc, data)
}

fn corrupt(offset: u64, msg: impl Into<Corruption>) -> ContainerError {
    ContainerError::corrupt(offset, msg)
}

/// Checks the CRC of `what` stored little-endian at `b[at..at + 4]`
/// against `found`, the one computed; a mismatch is `Corrupt` at `offset`.
fn check_crc(what: &'static str, b: &[u8], at: usize, found: u32, offset: u64) -> Result<()> {
    let expected = le_u32(b, at);
    if expected == found {
        return Ok(());
    }
    Err(corrupt(
        offset,
        Corruption::Checksum {
            what,
            expected,
            found,
        },
    ))
}

/// The 32-byte header of a block record; `payload_len` bytes follow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    /// KIND_STORED, KIND_HUFFMAN or KIND_LZ.
    pub kind: u8,
    pub block_no: u64,
    pub decoded_len: u32,
    pub payload_len: u32,
    /// CRC32C (unsalted) of the decoded bytes.
    pub data_crc: u32,
}

impl RecordHeader {
    pub fn encode(&self, salt: u64, out: &mut [u8]) {
        let b = &mut out[..RECORD_HEADER_LEN as usize];
        b[0..4].copy_from_slice(&BLOCK_MAGIC);
        b[4] = self.kind;
        b[5..8].fill(0);
        b[8..16].copy_from_slice(&self.block_no.to_le_bytes());
        b[16..20].copy_from_slice(&self.decoded_len.to_le_bytes());
        b[20..24].copy_from_slice(&self.payload_len.to_le_bytes());
        b[24..28].copy_from_slice(&self.data_crc.to_le_bytes());
        let crc = salted_crc(salt, &b[0..28]);
        b[28..32].copy_from_slice(&crc.to_le_bytes());
    }

    /// Decodes and validates a record header found at `offset`.
    pub fn decode(b: &[u8], salt: u64, block_size: u32, offset: u64) -> Result<RecordHeader> {
        if b.len() < RECORD_HEADER_LEN as usize || b[0..4] != BLOCK_MAGIC {
            return Err(corrupt(offset, Corruption::NoMagic("block record")));
        }
        check_crc(
            "block record header",
            b,
            28,
            salted_crc(salt, &b[0..28]),
            offset,
        )?;
        let h = RecordHeader {
            kind: b[4],
            block_no: le_u64(b, 8),
            decoded_len: le_u32(b, 16),
            payload_len: le_u32(b, 20),
            data_crc: le_u32(b, 24),
        };
        if b[5..8] != [0, 0, 0] {
            return Err(corrupt(offset, Corruption::Reserved("block record")));
        }
        if h.decoded_len == 0 || h.decoded_len > block_size {
            return Err(corrupt(
                offset,
                Corruption::BadField {
                    field: "block record decoded length",
                    value: h.decoded_len.into(),
                },
            ));
        }
        match h.kind {
            KIND_STORED if h.payload_len == h.decoded_len => {}
            KIND_HUFFMAN | KIND_LZ if h.payload_len >= 1 && h.payload_len <= block_size => {}
            KIND_STORED | KIND_HUFFMAN | KIND_LZ => {
                return Err(corrupt(
                    offset,
                    Corruption::BadField {
                        field: "block record payload length",
                        value: h.payload_len.into(),
                    },
                ))
            }
            k => return Err(corrupt(offset, format!("unknown block record kind {k}"))),
        }
        Ok(h)
    }
}

/// One index entry as stored in a commit record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskEntry {
    pub block_no: u64,
    /// Record offset (stored/Huffman), 0 otherwise.
    pub offset: u64,
    /// Payload length (stored/Huffman), filled length (fill), 0 (removal).
    pub len: u32,
    pub kind: u8,
    pub fill: u8,
}

impl DiskEntry {
    pub fn encode(&self, out: &mut [u8]) {
        let b = &mut out[..ENTRY_LEN as usize];
        b[0..8].copy_from_slice(&self.block_no.to_le_bytes());
        b[8..16].copy_from_slice(&self.offset.to_le_bytes());
        b[16..20].copy_from_slice(&self.len.to_le_bytes());
        b[20] = self.kind;
        b[21] = self.fill;
        b[22..24].fill(0);
    }

    /// Decodes an entry; structural checks only (the caller checks offsets
    /// against the commit's position).
    pub fn decode(b: &[u8]) -> DiskEntry {
        DiskEntry {
            block_no: le_u64(b, 0),
            offset: le_u64(b, 8),
            len: le_u32(b, 16),
            kind: b[20],
            fill: b[21],
        }
    }

    pub fn reserved_ok(b: &[u8]) -> bool {
        b[22] == 0 && b[23] == 0
    }
}

/// The fixed 64-byte header of a commit record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommitHeader {
    pub flags: u8,
    pub seq: u64,
    pub logical_size: u64,
    /// Offset of the previous commit record, 0 if none.
    pub prev_commit: u64,
    /// Offset of the checkpoint this commit's delta chain starts from (its
    /// own offset for a checkpoint).
    pub checkpoint: u64,
    pub entry_count: u64,
    /// Number of deltas since the checkpoint (0 for a checkpoint).
    pub chain_len: u32,
    /// The packed head, when this commit is a packed record (FORMAT.md
    /// 3.11; the fields above are then the ones it implies).
    pub packed: Option<PackedHead>,
}

impl CommitHeader {
    pub fn is_checkpoint(&self) -> bool {
        self.flags & COMMIT_CHECKPOINT != 0
    }

    /// Total record length including entries, entry CRC and trailer
    /// (for a packed record: head, payload and trailer).
    pub fn record_len(&self) -> u64 {
        match self.packed {
            Some(p) => p.record_len(),
            None => COMMIT_FIXED_LEN + self.entry_count * ENTRY_LEN,
        }
    }

    /// The bytes of the record that count as commit bytes of its chain
    /// (FORMAT.md 3.7, 3.11): all of an ordinary commit; a packed record
    /// less its block part.
    pub fn commit_bytes(&self) -> u64 {
        match self.packed {
            Some(p) => p.record_len() - p.block_bytes(),
            None => self.record_len(),
        }
    }

    pub fn encode(&self, salt: u64) -> [u8; COMMIT_HEADER_LEN as usize] {
        let mut b = [0u8; COMMIT_HEADER_LEN as usize];
        b[0..4].copy_from_slice(&COMMIT_MAGIC);
        b[4] = self.flags;
        b[8..16].copy_from_slice(&self.seq.to_le_bytes());
        b[16..24].copy_from_slice(&self.logical_size.to_le_bytes());
        b[24..32].copy_from_slice(&self.prev_commit.to_le_bytes());
        b[32..40].copy_from_slice(&self.checkpoint.to_le_bytes());
        b[40..48].copy_from_slice(&self.entry_count.to_le_bytes());
        b[48..52].copy_from_slice(&self.chain_len.to_le_bytes());
        let crc = salted_crc(salt, &b[0..60]);
        b[60..64].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes a commit header at `offset` of a file of `file_len` bytes;
    /// checks everything that does not need the entries.
    pub fn decode(b: &[u8], salt: u64, offset: u64, file_len: u64) -> Result<CommitHeader> {
        if b.len() < COMMIT_HEADER_LEN as usize || b[0..4] != COMMIT_MAGIC {
            return Err(corrupt(offset, Corruption::NoMagic("commit record")));
        }
        check_crc("commit header", b, 60, salted_crc(salt, &b[0..60]), offset)?;
        let h = CommitHeader {
            flags: b[4],
            seq: le_u64(b, 8),
            logical_size: le_u64(b, 16),
            prev_commit: le_u64(b, 24),
            checkpoint: le_u64(b, 32),
            entry_count: le_u64(b, 40),
            chain_len: le_u32(b, 48),
            packed: None,
        };
        if h.flags & !COMMIT_CHECKPOINT != 0 || b[5..8] != [0, 0, 0] || b[52..60] != [0; 8] {
            return Err(corrupt(
                offset,
                "unknown commit flags or reserved bytes set",
            ));
        }
        if h.logical_size > MAX_LOGICAL_SIZE {
            return Err(corrupt(offset, "commit logical size exceeds 2^63-1"));
        }
        let room = file_len.saturating_sub(offset);
        if room < COMMIT_FIXED_LEN || h.entry_count > (room - COMMIT_FIXED_LEN) / ENTRY_LEN {
            return Err(corrupt(
                offset,
                format!("commit entry count {} exceeds the file", h.entry_count),
            ));
        }
        if h.seq == 0 {
            return Err(corrupt(offset, "commit sequence number 0"));
        }
        if h.is_checkpoint() {
            if h.checkpoint != offset || h.chain_len != 0 {
                return Err(corrupt(offset, "checkpoint with a delta chain"));
            }
            if h.prev_commit >= offset {
                return Err(corrupt(offset, "previous commit not before this one"));
            }
        } else if h.chain_len == 0
            || h.prev_commit < HEADER_LEN
            || h.prev_commit >= offset
            || h.checkpoint < HEADER_LEN
            || h.checkpoint > h.prev_commit
        {
            return Err(corrupt(offset, "delta commit with an invalid chain"));
        }
        Ok(h)
    }
}

/// Whether a file whose header is not a v2 header is still recognisably a
/// v2 container with a damaged header: its first record (at offset 32)
/// starts with the block or commit magic, or it ends with a trailer magic.
/// `first`: bytes 32..36 if present; `tail`: the last 32 bytes if the file
/// has at least 64. Each test is a 4-byte magic at a fixed offset, which
/// plain data matches by chance with probability about 2^-32.
pub fn looks_like_damaged_container(first: Option<[u8; 4]>, tail: Option<&[u8; 32]>) -> bool {
    let record = first.is_some_and(|m| m == BLOCK_MAGIC || m == COMMIT_MAGIC || m == PACKED_MAGIC);
    let trailer = tail.is_some_and(|t| t[24..28] == TRAILER_MAGIC);
    record || trailer
}

/// The 32-byte trailer that ends each commit record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trailer {
    pub commit_offset: u64,
    pub logical_size: u64,
    pub seq: u64,
}

impl Trailer {
    pub fn encode(&self, salt: u64) -> [u8; TRAILER_LEN as usize] {
        let mut b = [0u8; TRAILER_LEN as usize];
        b[0..8].copy_from_slice(&self.commit_offset.to_le_bytes());
        b[8..16].copy_from_slice(&self.logical_size.to_le_bytes());
        b[16..24].copy_from_slice(&self.seq.to_le_bytes());
        b[24..28].copy_from_slice(&TRAILER_MAGIC);
        let crc = salted_crc(salt, &b[0..28]);
        b[28..32].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes a trailer; `None` if its magic or checksum is wrong.
    pub fn decode(b: &[u8], salt: u64) -> Option<Trailer> {
        if b.len() < TRAILER_LEN as usize
            || b[24..28] != TRAILER_MAGIC
            || salted_crc(salt, &b[0..28]) != le_u32(b, 28)
        {
            return None;
        }
        Some(Trailer {
            commit_offset: le_u64(b, 0),
            logical_size: le_u64(b, 8),
            seq: le_u64(b, 16),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_checks() {
        let h = FileHeader::new(16, 0x1234_5678_9abc_def0);
        let b = h.encode();
        assert_eq!(&b[0..4], &FILE_MAGIC);
        assert_eq!(&b[4..6], &[5, 0]);
        assert_eq!(FileHeader::decode(&b).unwrap(), h);
        // A version-3 header raised in place (2 bytes at offset 4) is a
        // valid version-4 header: both CRCs cover the version-3 form.
        let v3 = FileHeader {
            version: VERSION_3,
            ..h
        };
        let mut raised = v3.encode();
        assert_eq!(&raised[4..6], &[3, 0]);
        assert_eq!(
            raised[28..32],
            b[28..32],
            "same CRC as the version-4 header"
        );
        assert_eq!(FileHeader::decode(&raised).unwrap(), v3);
        raised[4..6].copy_from_slice(&VERSION_4.to_le_bytes());
        assert_eq!(
            FileHeader::decode(&raised).unwrap(),
            FileHeader {
                version: VERSION_4,
                ..h
            }
        );
        raised[4..6].copy_from_slice(&VERSION.to_le_bytes());
        assert_eq!(raised, b);
        assert_eq!(FileHeader::decode(&raised).unwrap(), h);
        let mut v6 = b;
        v6[4] = 6;
        assert!(matches!(
            FileHeader::decode(&v6),
            Err(ContainerError::NotContainer(_))
        ));
        for i in 0..32 {
            let mut c = b;
            c[i] ^= 0x10;
            match FileHeader::decode(&c) {
                // A flip in the seal slot costs the seal, not the file.
                Ok(d) if (16..28).contains(&i) => assert_eq!(d.seal, Seal::Damaged),
                r => assert!(r.is_err(), "flip in byte {i} accepted"),
            }
        }
        let mut v1 = b;
        v1[4] = 1;
        assert!(matches!(
            FileHeader::decode(&v1),
            Err(ContainerError::NotContainer(_))
        ));
    }

    #[test]
    fn seal_slot_round_trip_and_version_2_headers() {
        let mut h = FileHeader::new(12, 77);
        h.seal = Seal::Sealed(41);
        let mut b = h.encode();
        assert_eq!(FileHeader::decode(&b).unwrap().sealed_seq(), Some(41));
        // Rewriting the slot alone (as sealing does) keeps the header valid.
        b[16..28].copy_from_slice(&encode_seal(77, 42));
        assert_eq!(FileHeader::decode(&b).unwrap().sealed_seq(), Some(42));
        // A slot from another container (other salt) is not a seal.
        b[16..28].copy_from_slice(&encode_seal(78, 43));
        assert_eq!(FileHeader::decode(&b).unwrap().seal, Seal::Damaged);
        // Version 2: CRC over 0..28, reserved zeros, no seal.
        let v2 = FileHeader {
            version: VERSION_2,
            block_shift: 16,
            salt: 5,
            seal: Seal::Absent,
        };
        let b2 = v2.encode();
        assert_eq!(&b2[16..28], &[0u8; 12]);
        assert_eq!(FileHeader::decode(&b2).unwrap(), v2);
        for i in 0..32 {
            let mut c = b2;
            c[i] ^= 0x01;
            assert!(
                FileHeader::decode(&c).is_err(),
                "v2: flip in byte {i} accepted"
            );
        }
    }

    #[test]
    fn record_header_round_trip_and_limits() {
        let h = RecordHeader {
            kind: KIND_HUFFMAN,
            block_no: 7,
            decoded_len: 4096,
            payload_len: 100,
            data_crc: 42,
        };
        let mut b = [0u8; 32];
        h.encode(9, &mut b);
        assert_eq!(RecordHeader::decode(&b, 9, 4096, 0).unwrap(), h);
        assert!(RecordHeader::decode(&b, 10, 4096, 0).is_err(), "wrong salt");
        assert!(
            RecordHeader::decode(&b, 9, 2048, 0).is_err(),
            "decoded length over block size"
        );
        let mut big = h;
        big.payload_len = u32::MAX;
        big.encode(9, &mut b);
        assert!(RecordHeader::decode(&b, 9, 4096, 0).is_err());
    }

    #[test]
    fn commit_header_limits() {
        let h = CommitHeader {
            flags: 0,
            seq: 3,
            logical_size: 10,
            prev_commit: 100,
            checkpoint: 50,
            entry_count: 2,
            chain_len: 2,
            packed: None,
        };
        let b = h.encode(1);
        let len = 200 + h.record_len();
        assert_eq!(CommitHeader::decode(&b, 1, 200, len).unwrap(), h);
        assert!(CommitHeader::decode(&b, 1, 200, len - 1).is_err());
        let mut huge = h;
        huge.entry_count = u64::MAX;
        let b = huge.encode(1);
        assert!(CommitHeader::decode(&b, 1, 200, u64::MAX).is_err());
        let mut bad = h;
        bad.prev_commit = 300;
        assert!(CommitHeader::decode(&bad.encode(1), 1, 200, len).is_err());
    }

    #[test]
    fn trailer_round_trip() {
        let t = Trailer {
            commit_offset: 77,
            logical_size: 1 << 40,
            seq: 5,
        };
        let b = t.encode(3);
        assert_eq!(Trailer::decode(&b, 3), Some(t));
        assert_eq!(Trailer::decode(&b, 4), None);
    }
}
