//! Logical files: one [`LogicalFile`] per inode, shared by all its open
//! handles. A logical file is a v2 container (the blocks as stored) plus the
//! dirty and clean decoded blocks held in the mount's [`BlockCache`], and the
//! logical size. This module owns the data semantics of the filesystem:
//! read/write at any offset, truncate, hole punching, fallocate, SEEK_DATA /
//! SEEK_HOLE, flush/fsync and compaction.
//!
//! Locks, always taken in this order (none is held while waiting for an
//! earlier one):
//! 1. `op` (per inode): shared by read, seek, flush's commit; exclusive for
//!    write, truncate, punch_hole, allocate, compact. This is what makes a
//!    write atomic with respect to other reads and writes of the inode.
//! 2. one block's lock (`Block::state`); write-back holds its upgradable
//!    read lock across encode + put_block.
//! 3. `container` (RwLock): read for lookups and decoding, write for
//!    put_block / set_logical_size / commit. Encoding happens outside it.
//!
//! `blocks` (the resident blocks of this file) and the cache's LRU are leaf
//! mutexes held only for map operations.
//!
//! Invariants: resident block bytes past EOF are zero; the container holds
//! no index entry wholly past EOF once a truncate has returned; a resident
//! block that is not `gone` is newer than or equal to the container's copy.

mod content;
pub mod lock;
pub mod metalock;
mod ops;
mod readahead;
mod reserve;
mod rw;
mod seal;
mod shared;
mod span;
mod table;
mod writeback;

/// The coding vocabulary the frontend hands down (compress= options,
/// compaction triggers), so that fs/ needs nothing from container/.
pub use crate::container::{BlockSize, CompactWhen, Compression, DEFAULT_BLOCK_SIZE};
pub use content::{recompress_copy, stamp, Content, Format, Recompressed, Stamp};
pub use reserve::{reserve_at, tail as reservation_tail};
pub use seal::{SealHook, SealQueue, MAX_TICKETS};
pub use table::{Node, OpenEntry, OpenFiles};

use crate::cache::{Block, BlockCache, BlockOwner, Shared};
use crate::container::{Container, ContainerError};
use parking_lot::{Mutex, RwLock};
use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// A new, empty backing file `name` in `dir`, open for reading and
/// writing (the file tests' `LogicalFile::create` argument).
#[cfg(test)]
fn new_backing(dir: &std::path::Path, name: &str) -> File {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(dir.join(name))
        .unwrap()
}

/// Largest logical file size (2^63 - 1): beyond it writes fail with EFBIG.
pub const MAX_FILE_SIZE: u64 = i64::MAX as u64;

/// The decoded view of one container: see the module documentation. The
/// frontend holds `Arc<LogicalFile>`s; dropping the last one flushes and
/// closes the file at once (background threads only ever hold the inner
/// state, and stop touching it once closed), so the backing file may be
/// reopened right after.
pub struct LogicalFile {
    inner: Arc<FileCore>,
}

/// The state shared with the cache's background threads.
pub(crate) struct FileCore {
    id: u64,
    me: Weak<FileCore>,
    /// Set when the last handle is dropped: no more writes to the container.
    closed: AtomicBool,
    cache: Arc<Shared>,
    /// The mount's seal queue, where close and fsync leave their ticket.
    seals: Arc<seal::Seals>,
    container: RwLock<Container>,
    /// Block size in bytes and its log2.
    bs: usize,
    shift: u32,
    writable: bool,
    /// How blocks are coded when written back ([`Compression::to_index`]),
    /// already limited to what the container can hold.
    compression: AtomicU8,
    size: AtomicU64,
    op: RwLock<()>,
    blocks: Mutex<BTreeMap<u64, Arc<Block>>>,
    /// Number of resident dirty blocks.
    dirty: AtomicUsize,
    /// Blocks were put into the container since the last commit.
    uncommitted: AtomicBool,
    /// The logical size changed since the last commit.
    size_changed: AtomicBool,
    /// errno of a background write-back that failed, reported by the next
    /// flush/fsync.
    wb_error: Mutex<Option<i32>>,
    /// `cache.now_ms()` of the last modification.
    last_write_ms: AtomicU64,
    /// End offset of the last write (sequential writer detection).
    seq_end: AtomicU64,
    /// Backing offset up to which write-out to the disk has been started
    /// (see `FileCore::start_writeout`).
    written_out: AtomicU64,
    /// Sequential reader detection and read-ahead windows.
    streams: Mutex<readahead::Streams>,
    name: RwLock<String>,
    /// Block ranges (first, last) fallocate reserved space for while open
    /// (`reserve.rs`).
    reserved: Mutex<Vec<(u64, u64)>>,
}

/// The `io::Error` of errno `code` (the direction the fs frontend's
/// `attr::errno` reverses when it replies).
pub(crate) fn os_error(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

impl LogicalFile {
    /// Creates a new empty container in `file` (which must be empty). The
    /// file's blocks live in `cache`, its seal tickets go to `seals`.
    pub fn create(
        file: File,
        block_size: u32,
        cache: &Arc<BlockCache>,
        seals: &SealQueue,
    ) -> io::Result<Arc<LogicalFile>> {
        let c = Container::create(file, block_size).map_err(|e| plain_err(e, "create"))?;
        Ok(Self::from_container(c, true, cache, seals))
    }

    /// Opens an existing container (recovering a torn tail if writable).
    pub fn open(
        file: File,
        writable: bool,
        cache: &Arc<BlockCache>,
        seals: &SealQueue,
    ) -> io::Result<Arc<LogicalFile>> {
        let c = Container::open(file, writable).map_err(|e| plain_err(e, "open"))?;
        Ok(Self::from_container(c, writable, cache, seals))
    }

    /// Wraps an already opened container.
    pub fn from_container(
        c: Container,
        writable: bool,
        cache: &Arc<BlockCache>,
        seals: &SealQueue,
    ) -> Arc<LogicalFile> {
        let shared = cache.shared.clone();
        let id = shared.new_file_id();
        let bs = c.block_size() as usize;
        let size = c.logical_size();
        let compression = c.compression_for(Compression::default()).to_index();
        let inner = Arc::new_cyclic(|me: &Weak<FileCore>| FileCore {
            id,
            me: me.clone(),
            closed: AtomicBool::new(false),
            cache: shared.clone(),
            seals: seals.seals.clone(),
            container: RwLock::new(c),
            bs,
            shift: bs.trailing_zeros(),
            writable,
            compression: AtomicU8::new(compression),
            size: AtomicU64::new(size),
            op: RwLock::new(()),
            blocks: Mutex::new(BTreeMap::new()),
            dirty: AtomicUsize::new(0),
            uncommitted: AtomicBool::new(false),
            size_changed: AtomicBool::new(false),
            wb_error: Mutex::new(None),
            last_write_ms: AtomicU64::new(0),
            seq_end: AtomicU64::new(u64::MAX),
            written_out: AtomicU64::new(0),
            streams: Mutex::new(readahead::Streams::default()),
            name: RwLock::new(format!("file#{id}")),
            reserved: Mutex::new(Vec::new()),
        });
        let owner: Weak<dyn BlockOwner> = inner.me.clone();
        shared.register(id, owner);
        Arc::new(LogicalFile { inner })
    }

    /// Names the file in log messages (e.g. its path in the backing
    /// directory). Defaults to `file#<id>`.
    pub fn set_name(&self, name: impl Into<String>) {
        *self.inner.name.write() = name.into();
    }

    /// Runs `f` on the backing file (under the container's read lock: keep
    /// it short; compaction may replace the file otherwise).
    pub fn with_backing<T>(&self, f: impl FnOnce(&std::fs::File) -> T) -> T {
        f(self.inner.container.read().file())
    }

    /// How blocks written from now on are coded (limited to what the
    /// container can hold: `huffman` at most in a version-2 container).
    /// Blocks already stored keep their coding until they are written again.
    pub fn set_compression(&self, wanted: Compression) {
        let c = self.inner.container.read().compression_for(wanted);
        self.inner
            .compression
            .store(c.to_index(), Ordering::Relaxed);
    }

    /// How blocks written from now on are coded.
    pub fn compression(&self) -> Compression {
        self.inner.compression()
    }

    /// The name used in log messages.
    pub fn name(&self) -> String {
        self.inner.name()
    }

    /// Logical size in bytes (st_size).
    pub fn size(&self) -> u64 {
        self.inner.size()
    }

    /// Block size of this file's container.
    pub fn block_size(&self) -> u32 {
        self.inner.bs as u32
    }

    /// Whether the file accepts modifications.
    pub fn is_writable(&self) -> bool {
        self.inner.writable
    }

    /// Bytes this file takes in the backing store (for st_blocks): the
    /// container's length plus, for dirty blocks not yet written, their
    /// decoded size (an upper bound: at most the logical size). 0 for a
    /// new file that has nothing to store yet (its backing file stays
    /// empty), otherwise never 0 (the container has a header).
    pub fn stored_bytes(&self) -> u64 {
        let i = &self.inner;
        let on_disk = {
            let c = i.container.read();
            if c.is_unborn() {
                0
            } else {
                c.file_len()
            }
        };
        let dirty = i.dirty.load(Ordering::Relaxed) as u64 * i.bs as u64;
        on_disk + dirty.min(i.size())
    }

    /// Reads up to `buf.len()` bytes at `offset`; short only at EOF (or
    /// before a corrupt block). A corrupt block is EIO, logged with the
    /// file's name and the block number.
    pub fn read(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(offset, buf)
    }

    /// Writes `data` at `offset` (a gap past EOF becomes a hole). Returns
    /// the bytes written (short only before an unreadable block or at
    /// [`MAX_FILE_SIZE`]); EFBIG at or past [`MAX_FILE_SIZE`].
    pub fn write(&self, offset: u64, data: &[u8]) -> io::Result<usize> {
        self.inner.write(offset, data)
    }

    /// Sets the logical size (shrinking zeroes the tail of the last block,
    /// growing adds a hole).
    pub fn truncate(&self, size: u64) -> io::Result<()> {
        self.inner.truncate(size)
    }

    /// FALLOC_FL_PUNCH_HOLE (with KEEP_SIZE): the range reads as zeros.
    pub fn punch_hole(&self, offset: u64, len: u64) -> io::Result<()> {
        self.inner.punch_hole(offset, len)
    }

    /// fallocate mode 0 (`keep_size` false) or FALLOC_FL_KEEP_SIZE.
    pub fn allocate(&self, offset: u64, len: u64, keep_size: bool) -> io::Result<()> {
        self.inner.allocate(offset, len, keep_size)
    }

    /// SEEK_DATA (ENXIO at/after EOF or when only holes follow).
    pub fn seek_data(&self, offset: u64) -> io::Result<u64> {
        self.inner.seek_data(offset)
    }

    /// SEEK_HOLE (EOF is an implicit hole; ENXIO at/after EOF).
    pub fn seek_hole(&self, offset: u64) -> io::Result<u64> {
        self.inner.seek_hole(offset)
    }

    /// Writes every dirty block and commits: when it returns the data is in
    /// the backing file (call it on close).
    pub fn flush(&self) -> io::Result<()> {
        self.inner.flush()
    }

    /// flush, then fdatasync (`datasync`) or fsync of the backing file,
    /// done outside every lock.
    pub fn fsync(&self, datasync: bool) -> io::Result<()> {
        self.inner.fsync(datasync)
    }

    /// Whether the container has enough dead space to be worth compacting
    /// now (the frontend then calls [`LogicalFile::compact`]).
    pub fn needs_compaction(&self, when: CompactWhen) -> bool {
        self.inner.writable && self.inner.container.read().needs_compaction(when)
    }

    /// Writes every dirty block and a commit, then writes a compacted copy
    /// of the container into `dst` (an empty file in the same directory,
    /// fsynced by the container) and continues on it. The caller renames
    /// `dst` over the old name afterwards.
    pub fn compact(&self, dst: File) -> io::Result<()> {
        let i = &self.inner;
        i.check_writable()?;
        let _op = i.op.write();
        i.write_dirty()?;
        i.commit_locked()?;
        // Before the container's write lock (raw_need reads it).
        let old = i.container.read().sync_handle()?;
        let carry = i.reservation_to_carry(&old)?;
        let m = &i.cache.metrics;
        let _running = m.compaction();
        let mut c = i.container.write();
        let fresh = c.compact_into(dst).map_err(|e| i.cerr(e, None))?;
        crate::metrics::add(&m.compaction_written, fresh.file_len());
        // The new file holds the reservation before it replaces the old
        // one (ENOSPC: no compaction, the old file keeps it).
        reserve::reserve_at(fresh.file(), fresh.file_len(), carry)?;
        *c = fresh;
        crate::metrics::add(&m.compactions_done, 1);
        Ok(())
    }

    /// `-o shared`, close-to-open: when another host committed to the
    /// backing file since this file read its state, reads its newest commit
    /// and drops every resident block (they may hold older versions; none
    /// is dirty, or this host would be the writer and nothing to refresh).
    /// Returns whether it reloaded. Readers of this file wait meanwhile.
    pub fn refresh(&self) -> io::Result<bool> {
        self.inner.refresh()
    }

    /// Container statistics (for reporting and tests).
    pub fn stats(&self) -> crate::container::SpaceReport {
        self.inner.container.read().stats()
    }
}

impl FileCore {
    fn name(&self) -> String {
        self.name.read().clone()
    }

    fn size(&self) -> u64 {
        self.size.load(Ordering::Acquire)
    }

    fn check_writable(&self) -> io::Result<()> {
        if self.writable {
            Ok(())
        } else {
            Err(os_error(libc::EBADF))
        }
    }

    fn block_start(&self, no: u64) -> u64 {
        no << self.shift
    }

    fn mark_modified(&self) {
        self.last_write_ms
            .store(self.cache.now_ms(), Ordering::Relaxed);
    }

    /// A resident block became dirty (`up`) or clean or dropped dirty:
    /// counted for this file and in the mount's dirty bytes.
    fn count_dirty(&self, up: bool) {
        if up {
            self.dirty.fetch_add(1, Ordering::AcqRel);
        } else {
            self.dirty.fetch_sub(1, Ordering::AcqRel);
        }
        self.cache.metrics.dirty(self.bs as u64, up);
    }

    /// The backing file grew from `before` to `after` bytes by our writes.
    fn count_written(&self, before: u64, after: u64) {
        let m = &self.cache.metrics;
        crate::metrics::add(&m.data_written, after.saturating_sub(before));
    }

    fn owner(&self) -> Weak<dyn BlockOwner> {
        self.me.clone()
    }

    /// Converts a container error (`block`: the block worked on), logged
    /// with the file's name ([`ContainerError::into_io_logged`]).
    fn cerr(&self, e: ContainerError, block: Option<u64>) -> io::Error {
        if matches!(e, ContainerError::Corrupt { .. }) {
            crate::metrics::add(&self.cache.metrics.checksum_failures, 1);
        }
        e.into_io_logged(&self.name(), block, Some(self.bs as u32))
    }
}

/// Converts a container error outside of a file (create/open).
fn plain_err(e: ContainerError, what: &str) -> io::Error {
    e.into_io_logged(what, None, None)
}

impl BlockOwner for FileCore {
    fn evict(&self, no: u64) -> bool {
        self.evict_block(no)
    }

    fn write_back(&self, no: u64, block: &Arc<Block>, behind: bool) {
        if self.closed.load(Ordering::Acquire) {
            return;
        }
        if let Err(e) = self.writeback_behind(no, block, behind) {
            self.record_wb_error(&e);
        }
    }

    fn prefetch(&self, no: u64) {
        if !self.closed.load(Ordering::Acquire) {
            self.read_ahead(no);
        }
    }

    fn idle_flush(&self, idle: Duration) {
        let pending = self.dirty.load(Ordering::Relaxed) > 0
            || self.uncommitted.load(Ordering::Relaxed)
            || self.size_changed.load(Ordering::Relaxed);
        if !pending || !self.writable || self.closed.load(Ordering::Acquire) {
            return;
        }
        let last = self.last_write_ms.load(Ordering::Relaxed);
        if self.cache.now_ms().saturating_sub(last) < idle.as_millis() as u64 {
            return;
        }
        if let Err(e) = self.flush() {
            log::error!("{}: idle flush failed: {e}", self.name());
        }
    }

    fn flush_now(&self) -> io::Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Ok(());
        }
        self.flush()
    }
}

impl Drop for LogicalFile {
    fn drop(&mut self) {
        let i = &self.inner;
        let mut failed = false;
        if i.writable {
            match i.flush() {
                Ok(()) => {
                    i.release_reservation();
                    i.queue_seal()
                }
                Err(e) => {
                    log::error!("{}: flush on close failed: {e}", i.name());
                    failed = true;
                }
            }
        }
        i.closed.store(true, Ordering::Release);
        if failed {
            // The file stays as its newest commit says (what open would
            // show); the records written for the data that could not be
            // committed are cut off, so a full disk gets that space back.
            if let Err(e) = i.container.write().discard_uncommitted() {
                log::warn!("{}: uncommitted records not cut off: {e}", i.name());
            }
        }
        i.cache.unregister(i.id);
        // Free the decoded blocks now, even if a background thread still
        // holds the inner state for a moment.
        let resident = std::mem::take(&mut *i.blocks.lock());
        for (no, b) in resident {
            let mut g = b.state.write();
            if std::mem::take(&mut g.dirty) {
                i.count_dirty(false); // not written (the flush failed)
            }
            g.gone = true;
            drop(g);
            i.cache.remove(i.id, no);
        }
    }
}
