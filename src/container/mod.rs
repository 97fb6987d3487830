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
mod read;
mod recompress;
mod recover;
mod seal;
mod write;

use std::collections::BTreeSet;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use crate::codec;

pub use block_size::{BadBlockSize, BlockSize};
pub use compact::{CompactWhen, SpaceReport};
pub use compression::Compression;
pub use error::{ContainerError, Corruption, Result};
pub use format::{MAX_BLOCK_SHIFT, MAX_LOGICAL_SIZE, MIN_BLOCK_SHIFT};
pub use recover::{read_summary, Summary};
pub use seal::SealTicket;

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
    /// Offset 32 holds a packed record (FORMAT.md 3.11): an index entry
    /// naming offset 32 is read through its 26-byte packed head.
    packed: bool,
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
            packed: false,
        })
    }

    /// Like [`Container::create`], with a header of `version` (2 to 5)
    /// instead of the current one: containers as older versions of scfs
    /// wrote them, for tests of what they still read and write (a
    /// version-2 one takes no LZ record, only version 5 gets a packed
    /// record).
    pub fn create_version(file: File, block_size: u32, version: u16) -> Result<Container> {
        if !format::is_container_version(version) {
            return Err(ContainerError::InvalidArgument(format!(
                "no container header version {version}"
            )));
        }
        if file.metadata()?.len() != 0 {
            return Err(ContainerError::InvalidArgument(
                "a new container needs an empty file".into(),
            ));
        }
        let mut c = Self::create_deferred(file, block_size)?;
        let mut h = FileHeader::new(c.shift, c.salt);
        h.version = version;
        if version == format::VERSION_2 {
            h.seal = format::Seal::Absent;
        }
        c.pending.clear();
        c.pending.extend_from_slice(&h.encode());
        c.version = version;
        c.sealed = h.sealed_seq();
        c.guard_first = false;
        c.write_pending()?;
        c.kept = HEADER_LEN;
        Ok(c)
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

    /// `-o shared`, close-to-open: whether someone else (another host's
    /// daemon) appended to the backing file since this container read or
    /// wrote its state. Containers only grow by appends within one inode
    /// (a compaction makes a new inode), so a length other than the end of
    /// our log is the sign; false while this container has bytes of its
    /// own still pending (it is the writer then).
    pub fn changed_elsewhere(&self) -> io::Result<bool> {
        if !self.pending.is_empty() {
            return Ok(false);
        }
        Ok(self.file.metadata()?.len() != self.end)
    }

    /// Reads the state again from the backing file (FORMAT.md 3.5: the
    /// newest commit, whoever wrote it). Refused while this container has
    /// changes no commit holds.
    pub fn reload(&mut self) -> Result<()> {
        if self.changed || !self.pending.is_empty() {
            return Err(ContainerError::InvalidArgument(
                "reload with uncommitted changes".into(),
            ));
        }
        *self = recover::open(self.file.try_clone()?, self.writable)?;
        Ok(())
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
mod packed_tests;
#[cfg(test)]
mod tests;
