//! Reading blocks: locating a block's record (also in the pending buffer
//! not yet written), checking its header against the index, decoding the
//! payload and checking the CRC of the decoded bytes; and verifying every
//! block.

use std::io;
use std::os::unix::fs::FileExt;

use super::encode::Payload;
use super::format::{PackedHead, RecordHeader, HEADER_LEN, PACKED_HEAD_LEN, RECORD_HEADER_LEN};
use super::index::{Coding, Entry};
use super::{codec, Container, ContainerError, Corruption, Result};

impl Container {
    pub(super) fn corrupt(
        offset: u64,
        block_no: u64,
        reason: impl Into<Corruption>,
    ) -> ContainerError {
        ContainerError::corrupt_block(offset, block_no, reason)
    }

    /// Length of the head of the record at `offset`: the packed head's
    /// when offset 32 holds a packed record (FORMAT.md 3.11), else a
    /// block record header's.
    pub(super) fn head_len(&self, offset: u64) -> u64 {
        if self.packed && offset == HEADER_LEN {
            PACKED_HEAD_LEN
        } else {
            RECORD_HEADER_LEN
        }
    }

    /// Decodes the head of the record at `offset` (a block record header,
    /// or the packed head standing for block 0's record header).
    pub(super) fn decode_head(&self, hb: &[u8], offset: u64) -> Result<RecordHeader> {
        if self.head_len(offset) == PACKED_HEAD_LEN {
            let p = PackedHead::decode(hb, self.salt, self.block_size(), offset)?;
            if !p.has_record() {
                return Err(ContainerError::corrupt(
                    offset,
                    "the packed record holds no block record",
                ));
            }
            return Ok(p.record_header());
        }
        RecordHeader::decode(hb, self.salt, self.block_size(), offset)
    }

    /// Offset up to which the log is in the file (the pending bytes follow).
    pub(super) fn written(&self) -> u64 {
        self.end - self.pending.len() as u64
    }

    pub(super) fn read_exact(&self, buf: &mut [u8], offset: u64, block_no: u64) -> Result<()> {
        let written = self.written();
        let end = offset.saturating_add(buf.len() as u64);
        if end > written && !self.pending.is_empty() {
            // The tail of the request (or all of it) is still pending.
            let split = written.saturating_sub(offset).min(buf.len() as u64) as usize;
            let (head, tail) = buf.split_at_mut(split);
            let from = (offset + split as u64 - written) as usize;
            match self.pending.get(from..from + tail.len()) {
                Some(p) => tail.copy_from_slice(p),
                None => {
                    return Err(Self::corrupt(
                        offset,
                        block_no,
                        Corruption::PastEnd("record"),
                    ))
                }
            }
            if head.is_empty() {
                return Ok(());
            }
            return self.read_exact(head, offset, block_no);
        }
        match self.file.read_exact_at(buf, offset) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(Self::corrupt(
                offset,
                block_no,
                Corruption::PastEnd("record"),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// Decodes block `block_no` into `out[..block_size]`: bytes past the
    /// block's stored length and holes read as zeros. The CRC32C of the
    /// decoded bytes is checked: corruption is `ContainerError::Corrupt`
    /// (naming the block and the record's byte offset), never data.
    pub fn read_block(&self, block_no: u64, out: &mut [u8]) -> Result<()> {
        let bs = self.block_size() as usize;
        if out.len() < bs {
            return Err(ContainerError::InvalidArgument(format!(
                "read buffer of {} bytes is smaller than the block size {bs}",
                out.len()
            )));
        }
        let out = &mut out[..bs];
        let (coding, offset, len) = match self.index.get(block_no) {
            None => {
                out.fill(0);
                return Ok(());
            }
            Some(Entry::Fill { byte, len }) => {
                let n = (len as usize).min(bs);
                out[..n].fill(byte);
                out[n..].fill(0);
                return Ok(());
            }
            Some(Entry::Record {
                coding,
                offset,
                len,
            }) => (coding, offset, len),
        };
        if coding != Coding::Stored {
            // One read for header and payload, into a per-thread buffer
            // (no allocation per read, even for 1 MiB blocks).
            thread_local! {
                static PAYLOAD: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
            }
            PAYLOAD.with(|p| {
                let mut p = p.borrow_mut();
                // Grown, never shrunk: no zeroing of the bytes every read
                // overwrites anyway.
                let head = self.head_len(offset) as usize;
                let need = head + len as usize;
                if p.len() < need {
                    p.resize(need, 0);
                }
                let p = &mut p[..need];
                self.read_exact(p, offset, block_no)?;
                let (hb, payload) = p.split_at(head);
                let payload = match coding {
                    Coding::Huffman => Payload::Huffman(payload),
                    _ => Payload::Lz(payload),
                };
                self.finish_read(block_no, offset, len, hb, payload, out)
            })
        } else {
            let mut hb = [0u8; RECORD_HEADER_LEN as usize];
            let hb = &mut hb[..self.head_len(offset) as usize];
            self.read_exact(hb, offset, block_no)?;
            self.finish_read(block_no, offset, len, hb, Payload::Stored, out)
        }
    }

    /// Checks a record header against the index entry, decodes the payload
    /// (or reads the stored bytes) into `out`, checks its CRC.
    pub(super) fn finish_read(
        &self,
        block_no: u64,
        offset: u64,
        len: u32,
        hb: &[u8],
        payload: Payload<'_>,
        out: &mut [u8],
    ) -> Result<()> {
        let h = self.decode_head(hb, offset).map_err(|e| match e {
            ContainerError::Corrupt { reason, .. } => {
                ContainerError::corrupt_block(offset, block_no, reason)
            }
            other => other,
        })?;
        if h.block_no != block_no || h.kind != payload.coding().kind_byte() || h.payload_len != len
        {
            return Err(Self::corrupt(
                offset,
                block_no,
                Corruption::NotTheIndexed {
                    block: h.block_no,
                    kind: h.kind,
                    len: h.payload_len,
                },
            ));
        }
        let n = h.decoded_len as usize;
        let decoded = match payload {
            Payload::Huffman(p) => {
                codec::decode_block(p, &mut out[..n]).map_err(|e| ("Huffman", e))
            }
            Payload::Lz(p) => codec::decode_lz_block(p, &mut out[..n]).map_err(|e| ("LZ", e)),
            Payload::Stored => {
                self.read_exact(&mut out[..n], offset + hb.len() as u64, block_no)?;
                Ok(())
            }
        };
        if let Err((coding, error)) = decoded {
            out.fill(0);
            return Err(Self::corrupt(
                offset,
                block_no,
                Corruption::Codec { coding, error },
            ));
        }
        let found = crc32c::crc32c(&out[..n]);
        if found != h.data_crc {
            out.fill(0);
            return Err(Self::corrupt(
                offset,
                block_no,
                Corruption::Checksum {
                    what: "decoded data",
                    expected: h.data_crc,
                    found,
                },
            ));
        }
        out[n..].fill(0);
        Ok(())
    }

    /// Reads (decodes and checks) every non-hole block, calling `on_bad`
    /// for each corrupt one with its block number and the error (which
    /// names the byte offset). Returns (blocks checked, corrupt blocks).
    /// I/O errors other than corruption stop the walk.
    pub fn verify_blocks(
        &self,
        mut on_bad: impl FnMut(u64, &ContainerError),
    ) -> Result<(u64, u64)> {
        let mut buf = vec![0u8; self.block_size() as usize];
        let (mut checked, mut bad) = (0, 0);
        for (b, _) in self.index.iter() {
            checked += 1;
            match self.read_block(b, &mut buf) {
                Ok(()) => {}
                Err(e) if e.is_corrupt() => {
                    bad += 1;
                    on_bad(b, &e);
                }
                Err(e) => return Err(e),
            }
        }
        Ok((checked, bad))
    }
}
