//! The 32-byte file header (versions 2 to 5) and its seal slot
//! (FORMAT.md 3.1, 3.2).

use super::*;

/// What the seal slot of a header says (FORMAT.md 3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seal {
    /// A version-2 header: there is no slot.
    Absent,
    /// A valid slot: a commit with this seq was on stable storage (0: none).
    Sealed(u64),
    /// A slot whose CRC does not match: ignored, reported as damage.
    Damaged,
}

/// The 32-byte file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileHeader {
    /// 2, 3, 4 or 5.
    pub version: u16,
    pub block_shift: u8,
    pub salt: u64,
    pub seal: Seal,
}

/// Offset of the seal slot in the header.
pub const SEAL_OFFSET: u64 = 16;
/// Length of the seal slot.
pub const SEAL_LEN: usize = 12;

/// The seal slot naming commit `seq`.
pub fn encode_seal(salt: u64, seq: u64) -> [u8; SEAL_LEN] {
    let mut b = [0u8; SEAL_LEN];
    b[0..8].copy_from_slice(&seq.to_le_bytes());
    let crc = salted_crc(salt, &b[0..8]);
    b[8..12].copy_from_slice(&crc.to_le_bytes());
    b
}

/// Reads a seal slot (bytes 16..28 of a version-3, -4 or -5 header).
pub fn decode_seal(salt: u64, b: &[u8]) -> Seal {
    if salted_crc(salt, &b[0..8]) == le_u32(b, 8) {
        Seal::Sealed(le_u64(b, 0))
    } else {
        Seal::Damaged
    }
}

impl FileHeader {
    /// The block size the header's block_shift gives.
    pub fn block_size(&self) -> u32 {
        1u32 << self.block_shift
    }

    /// A new header of the current version (5) with an empty seal
    /// (sealed_seq 0).
    pub fn new(block_shift: u8, salt: u64) -> FileHeader {
        FileHeader {
            version: VERSION,
            block_shift,
            salt,
            seal: Seal::Sealed(0),
        }
    }

    pub fn encode(&self) -> [u8; HEADER_LEN as usize] {
        let mut b = [0u8; HEADER_LEN as usize];
        b[0..4].copy_from_slice(&FILE_MAGIC);
        b[4..6].copy_from_slice(&self.version.to_le_bytes());
        b[6] = self.block_shift;
        b[7] = 0; // flags
        b[8..16].copy_from_slice(&self.salt.to_le_bytes());
        let crc = if self.version == VERSION_2 {
            // 16..28 reserved zeros
            crc32c::crc32c(&b[0..28])
        } else {
            let seq = match self.seal {
                Seal::Sealed(s) => s,
                Seal::Absent | Seal::Damaged => 0,
            };
            b[16..28].copy_from_slice(&encode_seal(self.salt, seq));
            v3_header_crc(&b)
        };
        b[28..32].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes a header. A wrong magic or version is `NotContainer`; a
    /// header of version 2 to 5 that fails its checks is `Corrupt`. A
    /// damaged seal slot is not: it reads as [`Seal::Damaged`].
    pub fn decode(b: &[u8]) -> Result<FileHeader> {
        if b.len() < HEADER_LEN as usize || b[0..4] != FILE_MAGIC {
            return Err(ContainerError::NotContainer(
                "no scfs magic 0C 00 0D 0E".into(),
            ));
        }
        let version = le_u16(b, 4);
        if !is_container_version(version) {
            return Err(ContainerError::NotContainer(format!(
                "format version {version}, not a v2 container"
            )));
        }
        let want = if version == VERSION_2 {
            crc32c::crc32c(&b[0..28])
        } else {
            v3_header_crc(b)
        };
        check_crc("file header", b, 28, want, 28)?;
        let block_shift = b[6];
        if !(MIN_BLOCK_SHIFT..=MAX_BLOCK_SHIFT).contains(&block_shift) {
            return Err(corrupt(6, format!("invalid block size 2^{block_shift}")));
        }
        if b[7] != 0 {
            return Err(corrupt(7, format!("unknown header flags {:#04x}", b[7])));
        }
        let salt = le_u64(b, 8);
        let seal = if version == VERSION_2 {
            if b[16..28].iter().any(|&x| x != 0) {
                return Err(corrupt(16, Corruption::Reserved("header")));
            }
            Seal::Absent
        } else {
            decode_seal(salt, &b[16..28])
        };
        Ok(FileHeader {
            version,
            block_shift,
            salt,
            seal,
        })
    }

    /// The sealed seq, when the slot is valid.
    pub fn sealed_seq(&self) -> Option<u64> {
        match self.seal {
            Seal::Sealed(s) => Some(s),
            Seal::Absent | Seal::Damaged => None,
        }
    }
}
