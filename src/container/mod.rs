//! The v2 container (docs/FORMAT.md section 3): how each file of the mounted
//! filesystem is stored. An append-only log of block records and commit
//! records behind a 32-byte header; a sparse in-memory index maps block
//! numbers to records. Reads are positional and take `&self`; mutations take
//! `&mut self` and append. Updating one block costs that block's record plus
//! a small delta commit; nothing a commit refers to is ever overwritten.
//!
//! Streaming writers (`scfs compress --format v2`): `create`, then
//! `encode` + `put_block` in block order, `set_logical_size`, one `commit`
//! at the end, then sync. Before the first commit nothing is kept per block
//! except its index entry, so memory stays at the index (about 40 bytes per
//! non-hole block). `scfs verify`: `open` checks every commit in the chain;
//! `verify_blocks` then decodes every block and names each corrupt one with
//! its byte offset. `stat`: `read_summary` reads only header and trailer.
//!
//! Submodules: `format` (byte layouts), `index` (in-memory index),
//! `commit` (writing commit records), `recover` (open, trailer, chain
//! loading, torn-tail scan), `compact` (compaction and stats), `seal`
//! (the header's record of a commit on stable storage), `recompress`
//! (a copy re-encoded at another level).

mod block_size;
mod commit;
mod compact;
mod compression;
mod encode;
mod error;
pub mod format;
mod index;
mod recompress;
mod recover;
mod seal;

use std::collections::BTreeSet;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use crate::codec;

pub use block_size::{BadBlockSize, BlockSize};
pub use compact::{CompactWhen, Stats};
pub use compression::Compression;
pub use error::{ContainerError, Result};
pub use format::{MAX_BLOCK_SHIFT, MAX_LOGICAL_SIZE, MIN_BLOCK_SHIFT};
pub use recover::{read_summary, Summary};
pub use seal::SealTicket;

use encode::Payload;
use format::{FileHeader, RecordHeader, HEADER_LEN, RECORD_HEADER_LEN};
use index::{Coding, Entry, Index};

/// Default block size (64 KiB: [`BlockSize::DEFAULT`]).
pub const DEFAULT_BLOCK_SIZE: u32 = BlockSize::DEFAULT.bytes();

/// How one block is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    /// No record: reads as zeros.
    Hole,
    /// Raw bytes.
    Stored,
    /// A section-4 Huffman payload.
    Huffman,
    /// A section-5 LZ payload.
    Lz,
    /// No record: one byte value repeated (the rest of the block past the
    /// filled length reads as zeros).
    Fill(u8),
}

/// A block compressed by [`Container::encode`], ready for
/// [`Container::put_block`]. Holds the complete record (the header is
/// stamped with the container's salt when it is put).
#[derive(Debug, Clone)]
pub struct EncodedBlock {
    block_no: u64,
    kind: BlockKind,
    decoded_len: u32,
    data_crc: u32,
    /// Record bytes: `RECORD_HEADER_LEN` bytes of header space, then the
    /// payload (empty for holes and fills).
    bytes: Vec<u8>,
}

impl EncodedBlock {
    pub fn block_no(&self) -> u64 {
        self.block_no
    }
    pub fn kind(&self) -> BlockKind {
        self.kind
    }
    /// Length of the data that was encoded.
    pub fn decoded_len(&self) -> u32 {
        self.decoded_len
    }
    /// CRC32C of the data that was encoded.
    pub fn data_crc(&self) -> u32 {
        self.data_crc
    }
    /// Bytes this block will add to the backing file (0 for holes/fills).
    pub fn record_len(&self) -> u64 {
        match self.kind {
            BlockKind::Stored | BlockKind::Huffman | BlockKind::Lz => self.bytes.len() as u64,
            _ => 0,
        }
    }
}

/// State of the newest commit (what the next delta chains onto).
#[derive(Debug, Clone, Copy)]
struct CommitState {
    offset: u64,
    seq: u64,
    checkpoint: u64,
    chain_len: u32,
    /// Entries in the deltas since the checkpoint.
    chain_entries: u64,
    /// Bytes of the checkpoint and deltas of the current chain (live).
    chain_bytes: u64,
}

/// One open v2 container. See the module documentation.
#[derive(Debug)]
pub struct Container {
    file: File,
    writable: bool,
    /// Header version (2, 3 or 4; 3 and 4 have a seal slot, LZ records
    /// need 3 or 4 and are written only once it is 4).
    version: u16,
    /// The seq the header's seal slot names, when valid (FORMAT.md 3.2).
    sealed: Option<u64>,
    /// A commit made with no previous commit to chain onto (the first, or
    /// the first after a salvage) gets seq `seq_floor + 1`: above the
    /// seal and any state open found (FORMAT.md 3.5, step 5).
    seq_floor: u64,
    shift: u8,
    salt: u64,
    index: Index,
    logical_size: u64,
    /// Append position: the backing file length (bytes after the newest
    /// commit that open could not use stay in place and count as dead).
    end: u64,
    last: Option<CommitState>,
    /// Block numbers changed since the last commit (tracked only once a
    /// commit exists: the first commit is always a checkpoint).
    dirty: BTreeSet<u64>,
    /// Anything (blocks or size) changed since the last commit.
    changed: bool,
    /// Bytes appended but not yet written: they belong at
    /// `end - pending.len() .. end` and go out with the next commit (or
    /// when they would exceed [`PENDING_MAX`]), so a small file's header,
    /// block record and commit, or one rewritten block and its commit,
    /// reach the file in a single write. Reads of these offsets are served
    /// from here. Kept after a failed write, so a retry or a read still
    /// finds them.
    pending: Vec<u8>,
    /// A new container ([`Container::create_deferred`]) with no commit yet:
    /// before its first block records reach the file, an empty commit is
    /// put in front of them ([`Container::commit_empty_first`]), so a crash
    /// or a failed write before its first real commit leaves an empty file
    /// rather than a salvage of whichever records made it (FORMAT.md 3.6).
    guard_first: bool,
    /// Bytes at the start of the file this container never cuts back: all
    /// of the file as open found it, then up to the end of each commit it
    /// writes ([`Container::discard_uncommitted`] cuts only after this).
    kept: u64,
    /// Damage that open found and worked around without losing data (a
    /// damaged commit rebuilt from its block records, a damaged commit
    /// trailer): reported by `scfs verify`. A torn tail left by a crash
    /// is not damage.
    damage: Option<String>,
}

/// Most bytes held back in [`Container::pending`] (one default-size block
/// record): the memory this costs is bounded per open container and lasts
/// only until the next commit.
pub const PENDING_MAX: usize = 64 << 10;

/// A fresh salt for a new container. The salt need not be secret, only
/// distinct between containers: a process-wide random key (one getrandom(2)
/// call per process; time and pid when that fails) plus a counter, through
/// a bijective mixer (the splitmix64 finalizer), so no two containers of a
/// process share a salt and a new file costs no syscall for it.
fn random_salt() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static KEY: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let key = *KEY.get_or_init(|| {
        if let Some(k) = crate::sys::random_u64() {
            return k;
        }
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        t ^ (u64::from(std::process::id()) << 32)
    });
    let k = COUNTER.fetch_add(1, Ordering::Relaxed);
    mix64(key.wrapping_add(k.wrapping_mul(0x9E37_79B9_7F4A_7C15)))
}

/// The splitmix64 finalizer: a bijection of u64 that spreads every input
/// bit over the output.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// True if `b` (2 to 31 bytes) is the start of a v2 container header: the
/// magic, then (when present) a v2 header version.
fn is_header_prefix(b: &[u8]) -> bool {
    let n = b.len().min(4);
    if b[..n] != format::FILE_MAGIC[..n] {
        return false;
    }
    match b.len() {
        0..=4 => true,
        5 => format::is_container_version(u16::from(b[4])),
        _ => format::is_container_version(u16::from_le_bytes([b[4], b[5]])),
    }
}

impl Container {
    /// Creates a new container in `file` (which must be empty and opened
    /// read-write). `block_size` is a power of two from 4 KiB to 1 MiB.
    pub fn create(file: File, block_size: u32) -> Result<Container> {
        if file.metadata()?.len() != 0 {
            return Err(ContainerError::InvalidArgument(
                "a new container needs an empty file".into(),
            ));
        }
        let mut c = Self::create_deferred(file, block_size)?;
        c.guard_first = false;
        c.write_pending()?;
        c.kept = HEADER_LEN;
        Ok(c)
    }

    /// Like [`Container::create`], but the header is not written yet: it
    /// goes out together with the first commit that has something to
    /// record (or the first record that does not fit the pending buffer),
    /// so a small new file costs one write in all. A container that never
    /// gets any content or size leaves its file empty ([`Container::is_unborn`]):
    /// an empty file reads as an empty file, and nothing the user did
    /// changes the file's times after its creation. `file` must be new,
    /// empty and opened read-write (not checked: no extra syscall).
    pub fn create_deferred(file: File, block_size: u32) -> Result<Container> {
        Self::check_block_size(block_size)?;
        let header = FileHeader::new(block_size.trailing_zeros() as u8, random_salt());
        let mut pending = Vec::with_capacity(4096);
        pending.extend_from_slice(&header.encode());
        Ok(Container {
            file,
            writable: true,
            version: header.version,
            sealed: header.sealed_seq(),
            seq_floor: 0,
            shift: header.block_shift,
            salt: header.salt,
            index: Index::default(),
            logical_size: 0,
            end: HEADER_LEN,
            last: None,
            dirty: BTreeSet::new(),
            changed: false,
            pending,
            guard_first: true,
            kept: 0,
            damage: None,
        })
    }

    fn check_block_size(block_size: u32) -> Result<()> {
        BlockSize::try_from(block_size)
            .map(|_| ())
            .map_err(|e| ContainerError::InvalidArgument(e.to_string()))
    }

    /// Opens an existing container. A torn or damaged tail is recovered:
    /// the newest intact commit wins (with none, the intact block records
    /// are salvaged). Nothing is truncated or overwritten: a writable
    /// container appends after whatever bytes are there (FORMAT.md 3.5).
    pub fn open(file: File, writable: bool) -> Result<Container> {
        recover::open(file, writable)
    }

    /// True if `file` starts with the v2 magic and version (its first 6
    /// bytes; a file shorter than the 32-byte header that holds them, or
    /// from 2 bytes on a prefix of them, is a truncated container). The
    /// header checksum is not checked here, so a container with a damaged
    /// header is still recognized (and `open` reports it as corrupt)
    /// rather than served as plain bytes.
    pub fn is_container(file: &File) -> io::Result<bool> {
        let mut b = [0u8; HEADER_LEN as usize];
        let mut got = 0;
        while got < b.len() {
            match file.read_at(&mut b[got..], got as u64) {
                // A file cut inside its header still names itself a v2
                // container: corrupt (truncated), not plain bytes. So does
                // a cut inside the magic and version, from 2 bytes on (the
                // filesystem never writes a file of 1 to 31 bytes; a
                // 1-byte file of 0x0C is too plausible as text to claim).
                Ok(0) => return Ok(got >= 2 && is_header_prefix(&b[..got])),
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if b[0..4] == format::FILE_MAGIC
            && format::is_container_version(u16::from_le_bytes([b[4], b[5]]))
        {
            return Ok(true);
        }
        // A damaged header (say, zeroed or overwritten) must not turn a
        // container into "plain bytes" served as file content: the records
        // after it still identify the file (FORMAT.md section 3.2).
        let len = file.metadata()?.len();
        let mut first = [0u8; 4];
        let mut tail = [0u8; format::TRAILER_LEN as usize];
        let first = match file.read_exact_at(&mut first, HEADER_LEN) {
            Ok(()) => Some(first),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => None,
            Err(e) => return Err(e),
        };
        let tail = if len >= HEADER_LEN + format::TRAILER_LEN {
            file.read_exact_at(&mut tail, len - format::TRAILER_LEN)?;
            Some(tail)
        } else {
            None
        };
        Ok(format::looks_like_damaged_container(first, tail.as_ref()))
    }

    pub fn block_size(&self) -> u32 {
        1 << self.shift
    }

    /// log2 of the block size.
    pub fn block_shift(&self) -> u8 {
        self.shift
    }

    pub fn logical_size(&self) -> u64 {
        self.logical_size
    }

    /// Damage found and worked around when the container was opened
    /// (see the `damage` field), if any.
    pub fn damage(&self) -> Option<&str> {
        self.damage.as_deref()
    }

    pub fn is_writable(&self) -> bool {
        self.writable
    }

    /// Largest block number a block of this container may have.
    pub fn max_block_no(&self) -> u64 {
        MAX_LOGICAL_SIZE >> self.shift
    }

    /// How block `block_no` is stored (`Hole` if absent).
    pub fn block_kind(&self, block_no: u64) -> BlockKind {
        self.index
            .get(block_no)
            .map_or(BlockKind::Hole, Self::kind_of)
    }

    fn kind_of(e: Entry) -> BlockKind {
        match e {
            Entry::Record { coding, .. } => match coding {
                Coding::Stored => BlockKind::Stored,
                Coding::Huffman => BlockKind::Huffman,
                Coding::Lz => BlockKind::Lz,
            },
            Entry::Fill { byte, .. } => BlockKind::Fill(byte),
        }
    }

    /// Byte offset of the record of block `block_no`, if it has one.
    pub fn record_offset(&self, block_no: u64) -> Option<u64> {
        self.index.get(block_no)?.record_offset()
    }

    /// Next block >= `from` that is not a hole; `None` if none.
    pub fn next_data_block(&self, from: u64) -> Option<u64> {
        self.index.next_from(from)
    }

    /// Every non-hole block in ascending order (for verify / decompress).
    pub fn data_blocks(&self) -> impl Iterator<Item = (u64, BlockKind)> + '_ {
        self.index.iter().map(|(b, e)| (b, Self::kind_of(e)))
    }

    fn corrupt(offset: u64, block_no: u64, msg: impl std::fmt::Display) -> ContainerError {
        ContainerError::corrupt_block(offset, block_no, msg.to_string())
    }

    /// Offset up to which the log is in the file (the pending bytes follow).
    fn written(&self) -> u64 {
        self.end - self.pending.len() as u64
    }

    fn read_exact(&self, buf: &mut [u8], offset: u64, block_no: u64) -> Result<()> {
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
                        "record extends past the end of the file",
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
                "record extends past the end of the file",
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
                let need = RECORD_HEADER_LEN as usize + len as usize;
                if p.len() < need {
                    p.resize(need, 0);
                }
                let p = &mut p[..need];
                self.read_exact(p, offset, block_no)?;
                let (hb, payload) = p.split_at(RECORD_HEADER_LEN as usize);
                let payload = match coding {
                    Coding::Huffman => Payload::Huffman(payload),
                    _ => Payload::Lz(payload),
                };
                self.finish_read(block_no, offset, len, hb, payload, out)
            })
        } else {
            let mut hb = [0u8; RECORD_HEADER_LEN as usize];
            self.read_exact(&mut hb, offset, block_no)?;
            self.finish_read(block_no, offset, len, &hb, Payload::Stored, out)
        }
    }

    /// Checks a record header against the index entry, decodes the payload
    /// (or reads the stored bytes) into `out`, checks its CRC.
    fn finish_read(
        &self,
        block_no: u64,
        offset: u64,
        len: u32,
        hb: &[u8],
        payload: Payload<'_>,
        out: &mut [u8],
    ) -> Result<()> {
        let h = RecordHeader::decode(hb, self.salt, self.block_size(), offset).map_err(
            |e| match e {
                ContainerError::Corrupt { msg, .. } => {
                    ContainerError::corrupt_block(offset, block_no, msg)
                }
                other => other,
            },
        )?;
        if h.block_no != block_no || h.kind != payload.coding().kind_byte() || h.payload_len != len
        {
            return Err(Self::corrupt(
                offset,
                block_no,
                format!(
                    "record header (block {}, kind {}, length {}) does not match the index",
                    h.block_no, h.kind, h.payload_len
                ),
            ));
        }
        let n = h.decoded_len as usize;
        let decoded = match payload {
            Payload::Huffman(p) => {
                codec::decode_block(p, &mut out[..n]).map_err(|e| ("Huffman", e))
            }
            Payload::Lz(p) => codec::decode_lz_block(p, &mut out[..n]).map_err(|e| ("LZ", e)),
            Payload::Stored => {
                self.read_exact(&mut out[..n], offset + RECORD_HEADER_LEN, block_no)?;
                Ok(())
            }
        };
        if let Err((what, e)) = decoded {
            out.fill(0);
            return Err(Self::corrupt(
                offset,
                block_no,
                format!("bad {what} payload: {e}"),
            ));
        }
        if crc32c::crc32c(&out[..n]) != h.data_crc {
            out.fill(0);
            return Err(Self::corrupt(
                offset,
                block_no,
                "checksum of the decoded data does not match",
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

    fn check_writable(&self) -> Result<()> {
        if self.writable {
            Ok(())
        } else {
            Err(ContainerError::ReadOnly)
        }
    }

    fn mark_dirty(&mut self, block_no: u64) {
        if self.last.is_some() {
            self.dirty.insert(block_no);
        }
        self.changed = true;
    }

    /// Appends `bytes` at the end of the log: held in `pending` while it
    /// fits, else written together with what is pending (one write). On
    /// failure the file is cut back to the written end (best effort: that
    /// only drops this append's own partial bytes, as the written end is
    /// never below the length found at open) and nothing changes.
    fn append(&mut self, bytes: Vec<u8>) -> Result<u64> {
        if self.guard_first && self.last.is_none() && self.pending.len() + bytes.len() > PENDING_MAX
        {
            self.commit_empty_first()?;
        }
        let at = self.end;
        let len = bytes.len() as u64;
        if self.pending.is_empty() && bytes.len() <= PENDING_MAX {
            self.pending = bytes;
        } else if self.pending.len() + bytes.len() <= PENDING_MAX {
            self.pending.extend_from_slice(&bytes);
        } else if self.pending.is_empty() {
            if let Err(e) = self.file.write_all_at(&bytes, at) {
                let _ = self.file.set_len(at);
                return Err(e.into());
            }
        } else {
            let keep = self.pending.len();
            self.pending.extend_from_slice(&bytes);
            self.end += len;
            if let Err(e) = self.write_pending() {
                self.pending.truncate(keep);
                self.end = at;
                return Err(e);
            }
            return Ok(at);
        }
        self.end += len;
        Ok(at)
    }

    /// Puts an empty checkpoint commit (logical size 0) in front of the
    /// pending block records of a new container that has no commit yet, and
    /// writes it with the header: from then on a crash or a failed write
    /// before the first real commit leaves the state "empty file" (the
    /// records after it are uncommitted bytes, FORMAT.md 3.5), never a
    /// salvage of some of the records. Nothing of the container is in the
    /// file before this (the header is deferred), so the pending records
    /// and the index entries pointing at them just move up by the commit's
    /// length. On failure nothing changes.
    fn commit_empty_first(&mut self) -> Result<()> {
        debug_assert!(self.last.is_none() && self.written() == 0);
        if self.written() != 0 || self.pending.len() < HEADER_LEN as usize {
            // Not a deferred new container (never reached): no guard.
            self.guard_first = false;
            return Ok(());
        }
        let records = self.pending.split_off(HEADER_LEN as usize);
        let index = std::mem::take(&mut self.index);
        let size = std::mem::replace(&mut self.logical_size, 0);
        let end = std::mem::replace(&mut self.end, HEADER_LEN);
        let changed = std::mem::replace(&mut self.changed, true);
        let dirty = std::mem::take(&mut self.dirty);
        let res = commit::write_commit(self);
        if let Err(e) = res {
            self.pending.extend_from_slice(&records);
            self.index = index;
            self.logical_size = size;
            self.end = end;
            self.changed = changed;
            self.dirty = dirty;
            return Err(e);
        }
        let by = self.end - HEADER_LEN;
        self.index = index;
        self.index.shift_records(by);
        // Every block is new since that commit (the next one is a checkpoint).
        self.dirty = self.index.iter().map(|(b, _)| b).collect();
        self.dirty.extend(dirty);
        self.end += records.len() as u64;
        self.pending = records;
        self.logical_size = size;
        self.changed = true;
        self.guard_first = false;
        Ok(())
    }

    /// Gives up what was appended since the newest commit this container
    /// wrote (or since open): block records no commit names, which no open
    /// would ever use. The file is cut back to [`Container::kept`] bytes,
    /// so a writer whose last flush failed (the disk is full) frees that
    /// space at once. Nothing committed, and nothing that was in the file
    /// at open, is touched. Afterwards the container is read-only and fit
    /// only to be dropped (its index may name the records cut).
    pub fn discard_uncommitted(&mut self) -> Result<()> {
        let written = self.written();
        self.pending.clear();
        self.writable = false;
        self.end = written;
        // Only when the file ends where this container left it: if anything
        // else appended meanwhile, its bytes are not ours to cut.
        if written > self.kept && self.file.metadata()?.len() == written {
            self.file.set_len(self.kept)?;
            self.end = self.kept;
        }
        Ok(())
    }

    /// Writes the pending bytes (if any) to the file. On failure they stay
    /// pending and the file is cut back to the written end.
    fn write_pending(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let at = self.written();
        if let Err(e) = self.file.write_all_at(&self.pending, at) {
            let _ = self.file.set_len(at);
            return Err(e.into());
        }
        if self.pending.capacity() > 2 * PENDING_MAX {
            self.pending = Vec::new();
        } else {
            self.pending.clear();
        }
        Ok(())
    }

    /// Appends the block's record (if any) at the end of the file and points
    /// the in-memory index at it. Not durable until [`Container::commit`].
    pub fn put_block(&mut self, mut block: EncodedBlock) -> Result<()> {
        self.check_writable()?;
        let b = block.block_no;
        if b > self.max_block_no() {
            return Err(ContainerError::TooLarge(format!(
                "block {b} lies past the maximum file size 2^63-1"
            )));
        }
        if block.decoded_len > self.block_size() {
            return Err(ContainerError::InvalidArgument(format!(
                "block of {} bytes exceeds the block size {}",
                block.decoded_len,
                self.block_size()
            )));
        }
        match block.kind {
            BlockKind::Hole => {
                if self.index.remove(b).is_some() {
                    self.mark_dirty(b);
                }
            }
            BlockKind::Fill(byte) => {
                let e = Entry::Fill {
                    byte,
                    len: block.decoded_len,
                };
                if self.index.insert(b, e) != Some(e) {
                    self.mark_dirty(b);
                }
            }
            BlockKind::Stored | BlockKind::Huffman | BlockKind::Lz => {
                let payload_len = (block.bytes.len() as u64 - RECORD_HEADER_LEN) as u32;
                let coding = match block.kind {
                    BlockKind::Stored => Coding::Stored,
                    BlockKind::Huffman => Coding::Huffman,
                    _ => Coding::Lz,
                };
                if coding == Coding::Lz {
                    self.raise_for_lz()?;
                }
                RecordHeader {
                    kind: coding.kind_byte(),
                    block_no: b,
                    decoded_len: block.decoded_len,
                    payload_len,
                    data_crc: block.data_crc,
                }
                .encode(self.salt, &mut block.bytes);
                let offset = self.append(std::mem::take(&mut block.bytes))?;
                self.index.insert(
                    b,
                    Entry::Record {
                        coding,
                        offset,
                        len: payload_len,
                    },
                );
                self.mark_dirty(b);
            }
        }
        Ok(())
    }

    /// Convenience: `put_block(encode(block_no, data, ..))` at the
    /// default level (`huffman` in a version-2 container).
    pub fn write_block(&mut self, block_no: u64, data: &[u8]) -> Result<()> {
        let c = self.compression_for(Compression::default());
        self.put_block(Self::encode(block_no, data, c))
    }

    /// Sets the logical size (clamped to 2^63-1) and drops the index
    /// entries of blocks wholly past it. Bytes of a partial last block past
    /// the size are the caller's business (the file layer rewrites it).
    pub fn set_logical_size(&mut self, size: u64) {
        let size = size.min(MAX_LOGICAL_SIZE);
        if size == self.logical_size && self.index.next_from(self.blocks_for(size)).is_none() {
            return;
        }
        self.logical_size = size;
        self.changed = true;
        let first_gone = self.blocks_for(size);
        for b in self.index.remove_from(first_gone) {
            self.mark_dirty(b);
        }
    }

    /// Number of blocks covering `size` bytes.
    fn blocks_for(&self, size: u64) -> u64 {
        size.div_ceil(1u64 << self.shift)
    }

    /// Writes a commit record (delta or checkpoint) if anything changed
    /// since the last one. The data is then in the backing file (page
    /// cache); it is durable after a sync of [`Container::sync_handle`].
    pub fn commit(&mut self) -> Result<()> {
        if !self.changed {
            if self.is_unborn() {
                return Ok(());
            }
            // Still writes a deferred header or uncommitted records.
            return self.write_pending();
        }
        self.check_writable()?;
        commit::write_commit(self)
    }

    /// The backing file (for a caller's own access-time bookkeeping; never
    /// write through it).
    pub fn file(&self) -> &File {
        &self.file
    }

    /// A clone of the backing file handle, to fdatasync outside locks
    /// (after a commit, which leaves nothing pending).
    pub fn sync_handle(&self) -> io::Result<File> {
        self.file.try_clone()
    }

    /// True when nothing changed since the last commit.
    pub fn is_clean(&self) -> bool {
        !self.changed
    }

    /// Bytes of the backing file that belong to the container's log.
    pub fn file_len(&self) -> u64 {
        self.end
    }

    /// True for a deferred container ([`Container::create_deferred`])
    /// with nothing to write yet: no header written, no record, no size.
    /// Commit and drop leave its file empty.
    pub fn is_unborn(&self) -> bool {
        !self.changed && self.end == HEADER_LEN && self.pending.len() == HEADER_LEN as usize
    }
}

impl Drop for Container {
    /// A container dropped with records that no commit names writes them
    /// only when it has no commit at all and is not a new one (a container
    /// made by [`Container::create`], or opened with no commit): there,
    /// open salvages records (FORMAT.md 3.5); best effort. Anywhere else
    /// they could never be read (open uses the newest commit), and a late
    /// write by a container whose last flush failed could race with the
    /// next open of the same file; a new container that never committed
    /// leaves its file empty, its state before anything was written.
    fn drop(&mut self) {
        let salvageable = self.last.is_none() && !self.guard_first;
        if self.writable && !self.pending.is_empty() && salvageable {
            if let Err(e) = self.write_pending() {
                log::warn!("container: pending bytes not written at close: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests;
