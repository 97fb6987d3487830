//! The open-file table of a mount (the model is gocryptfs'
//! `internal/openfiletable`): at most one open [`Content`] per node, shared
//! by every handle, counted by `acquire` and `release`; the last release
//! flushes it, compacts it when worthwhile and closes it. The table owns
//! what opening needs (the mount's block cache and seal queue, the block
//! size of new files) and the per-node entry (`OpenEntry`: the format
//! found, the content, the open count, the logical size of a closed
//! container for a backing stamp).
//!
//! A node is the frontend's file (an inode of `fs/`): [`Node`] gives the
//! table its entry (under the node's state lock), fresh descriptors of the
//! backing file, and the frontend's parts of the life cycle (timestamps at
//! open and close, the rename of a compacted copy over the name).
//!
//! Invariant: at most one `Content` exists per node at any time. The last
//! one is closed under the state lock, and a compaction counts as an open
//! while it runs, so a concurrent open shares the same content instead of
//! opening the backing file a second time (two `LogicalFile`s on one
//! backing file would corrupt it).

use std::fs::File;
use std::io;
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::MutexGuard;

use super::content::{self, stamp, Content, ContentCtx, Format, Stamp};
use super::os_error;
use crate::cache::BlockCache;
use crate::container::{CompactWhen, Compression};
use crate::file::SealQueue;

/// The table's part of a node's state.
#[derive(Default)]
pub struct OpenEntry {
    pub format: Format,
    /// The shared content while at least one handle is open.
    pub content: Option<Arc<Content>>,
    /// Open handles (and compactions running).
    pub opens: u32,
    /// The content closed last, while something still holds it (an
    /// operation that took it before the last close): the next open shares
    /// it rather than opening the backing file a second time beside it.
    pub closing: Weak<Content>,
    /// Logical size of a closed container, valid while the backing stamp
    /// is unchanged (saves decoding the trailer on every getattr).
    pub size_cache: Option<(Stamp, u64)>,
    /// Backing stamp when the kernel's page cache was last known to match
    /// the content (set at release); an open with the same stamp keeps it.
    pub cached_stamp: Option<Stamp>,
    /// `-o shared` (`file/shared.rs`): this host's handles that may write,
    /// the write lock they hold, and the gate that takes and drops it;
    /// when this host last let the lock go (a writer back at once yields
    /// to readers waiting for it).
    pub writers: u32,
    pub write_lock: Option<super::lock::WriteLock>,
    pub shared_gate: Arc<parking_lot::Mutex<()>>,
    pub lock_released: Option<std::time::Instant>,
}

impl OpenEntry {
    /// Whether the file is open (or held by an operation that opened it).
    pub fn in_use(&self) -> bool {
        self.opens > 0 || self.content.is_some() || self.closing.strong_count() > 0
    }

    /// Counts the open of a file just created with `content` (the caller
    /// made it and holds the state lock): it is a container, and the
    /// content already there (a racing open found the name first) wins.
    pub fn adopt_created(&mut self, content: &mut Option<Arc<Content>>) {
        self.format = Format::Container;
        if self.content.is_none() {
            self.content = content.take();
        }
        self.opens += 1;
    }

    /// After the backing file was rewritten with the same contents
    /// (recompression) and its stamp moved from `old` to `new`: the cached
    /// logical size and the kernel's page cache stay valid.
    pub fn restamp(&mut self, old: Stamp, new: Stamp) {
        if let Some((at, size)) = self.size_cache {
            self.size_cache = (at == old).then_some((new, size));
        }
        if self.cached_stamp == Some(old) {
            self.cached_stamp = Some(new);
        }
    }
}

/// What the table needs from the frontend's file.
pub trait Node {
    /// The frontend's per-file state, holding an `OpenEntry`.
    type State;
    /// Locks the node's state (the lock the whole life cycle runs under).
    fn lock(&self) -> MutexGuard<'_, Self::State>;
    /// The table's entry in the state.
    fn entry(s: &mut Self::State) -> &mut OpenEntry;
    /// Names the node in log messages.
    fn id(&self) -> u64;
    /// A fresh descriptor of the backing file opened with `flags`;
    /// `as_owner`: the owner's way around its mode bits may be taken.
    fn reopen(&self, flags: i32, as_owner: bool) -> io::Result<File>;
    /// stat of the backing file.
    fn fstat(&self) -> io::Result<libc::stat>;
    /// The file's name for log messages about its container.
    fn log_name(&self) -> Option<String>;
    /// How a writable container's blocks are to be coded.
    fn compression(&self) -> Option<Compression>;
    /// A container was opened (a first open).
    fn opened(&self, s: &mut Self::State);
    /// The last open went; `st` is the backing file's stat now. Returns
    /// it as it is after the frontend's own changes (timestamps).
    fn closed(&self, s: &mut Self::State, st: Option<libc::stat>) -> Option<libc::stat>;
    /// Writes a compacted copy of `content` and puts it in the backing
    /// file's place (`Content::compact` into a new file renamed over the
    /// name); Ok(false) when that cannot be done now.
    fn compact(&self, content: &Content) -> io::Result<bool>;
    /// `-o shared`: whether this host removed the file's last name (a
    /// link count of 0 is then no sign of another host's replacement).
    fn unlinked_here(&self) -> bool {
        false
    }
    /// `-o shared`: whether an offline reader (`scfs verify`, `info`,
    /// `stats`, on any host) waits for this file's lock
    /// (`lock::readers_waiting`).
    fn readers_waiting(&self) -> bool {
        false
    }
}

/// The open-file table of one mount.
pub struct OpenFiles {
    ctx: ContentCtx,
    block_size: u32,
    pub(super) read_only: bool,
    /// `-o shared`: how long an open for writing waits for another host's
    /// write lock (`file/shared.rs`); None on a single-host mount.
    pub(super) lock_wait: Option<Duration>,
}

impl OpenFiles {
    /// A table whose files use `cache` and `seals`, whose new containers
    /// have `block_size` blocks; `read_only`: nothing is opened writable
    /// and nothing compacted.
    pub fn new(
        cache: Arc<BlockCache>,
        seals: Arc<SealQueue>,
        block_size: u32,
        read_only: bool,
    ) -> OpenFiles {
        OpenFiles {
            ctx: ContentCtx { cache, seals },
            block_size,
            read_only,
            lock_wait: None,
        }
    }

    /// With `lock_wait`, the table of a shared mount (`-o shared`) whose
    /// opens for writing wait that long for another host's write lock.
    pub fn shared(self, lock_wait: Option<Duration>) -> OpenFiles {
        OpenFiles { lock_wait, ..self }
    }

    /// The mount's seal queue.
    pub fn seals(&self) -> &Arc<SealQueue> {
        &self.ctx.seals
    }

    /// The mount's block cache.
    pub fn cache(&self) -> &Arc<BlockCache> {
        &self.ctx.cache
    }

    /// Makes `file` (new and empty) a container now (header written).
    pub fn create(&self, file: File) -> io::Result<Content> {
        Content::create(file, self.block_size, &self.ctx)
    }

    /// Makes `file` (new and empty) a container whose header is written
    /// with its first commit (`Content::create_deferred`).
    pub fn create_deferred(&self, file: File) -> io::Result<Content> {
        Content::create_deferred(file, self.block_size, &self.ctx)
    }

    /// Whether the regular file `node` is a container (cached in `e`).
    /// Returns the descriptor opened to find out, if any, for reuse.
    pub fn format_locked<N: Node>(&self, node: &N, e: &mut OpenEntry) -> (Format, Option<File>) {
        if self.lock_wait.is_some() && e.format == Format::Plain && e.content.is_none() {
            // Another host may have made an empty plain file a container
            // (its first write): looked at again while closed.
            e.format = Format::Unknown;
        }
        if e.format != Format::Unknown {
            return (e.format, None);
        }
        match node.reopen(libc::O_RDONLY, true) {
            Ok(f) => match content::is_container(&f) {
                Ok(true) => {
                    e.format = Format::Container;
                    (Format::Container, Some(f))
                }
                Ok(false) => {
                    e.format = Format::Plain;
                    (Format::Plain, None)
                }
                Err(err) => {
                    log::warn!("ino {}: cannot read header: {err}", node.id());
                    (Format::Plain, None)
                }
            },
            // Unreadable by us: we can only serve it as it is.
            Err(_) => (Format::Plain, None),
        }
    }

    /// (logical size, stored bytes) of the regular file `node` whose
    /// backing stat is `st`, when it is a container; None for plain files.
    pub fn logical<N: Node>(&self, node: &N, st: &libc::stat) -> io::Result<Option<(u64, u64)>> {
        let mut s = node.lock();
        let e = N::entry(&mut s);
        if let Some(c) = &e.content {
            if !c.is_container() {
                return Ok(None);
            }
            let stored = c.stored_bytes().unwrap_or(0);
            return Ok(Some((c.size()?, stored)));
        }
        let (format, file) = self.format_locked(node, e);
        if format != Format::Container {
            return Ok(None);
        }
        let stamp = stamp(st);
        let stored = st.st_size as u64;
        if let Some((st2, size)) = e.size_cache {
            if st2 == stamp {
                return Ok(Some((size, stored)));
            }
        }
        let file = match file {
            Some(f) => f,
            None => node.reopen(libc::O_RDONLY, true)?,
        };
        match Content::container_size(&file) {
            Ok(size) => {
                e.size_cache = Some((stamp, size));
                Ok(Some((size, stored)))
            }
            Err(err) => {
                // Still listed (so it can be removed); opening it reports
                // the error.
                log::warn!("ino {}: unreadable container: {err}", node.id());
                Ok(None)
            }
        }
    }

    /// The shared content of `node`, opened if needed; counts one open.
    pub fn acquire<N: Node>(&self, node: &N, writable: bool) -> io::Result<Arc<Content>> {
        let mut s = node.lock();
        let e = N::entry(&mut s);
        if let Some(c) = &e.content {
            if writable && !c.is_writable() {
                return Err(os_error(libc::EACCES));
            }
            let c = c.clone();
            e.opens += 1;
            return Ok(c);
        }
        if let Some(c) = e.closing.upgrade() {
            if !writable || c.is_writable() {
                e.closing = Weak::new();
                e.content = Some(c.clone());
                e.opens += 1;
                if c.is_container() {
                    node.opened(&mut s);
                }
                return Ok(c);
            }
        }
        let c = Arc::new(self.open_content(node, N::entry(&mut s), writable)?);
        if c.is_container() && c.is_writable() {
            if let Some(comp) = node.compression() {
                c.set_compression(comp);
            }
        }
        if c.is_container() {
            if let Some(name) = node.log_name() {
                c.set_name(&name);
            }
        }
        let e = N::entry(&mut s);
        e.content = Some(c.clone());
        e.opens += 1;
        if c.is_container() {
            node.opened(&mut s);
        }
        Ok(c)
    }

    /// Opens the content of `node` (no content open): as a container when
    /// it is one; an empty file (a new one that never got content, or one
    /// that was in BACKING) as an empty plain file, or, opened writable, as
    /// a new container that writes nothing unless it gets content
    /// (FORMAT.md 3.6).
    fn open_content<N: Node>(
        &self,
        node: &N,
        e: &mut OpenEntry,
        writable: bool,
    ) -> io::Result<Content> {
        let (format, _) = self.format_locked(node, e);
        let (file, w) = if self.read_only {
            (node.reopen(libc::O_RDONLY, true)?, false)
        } else {
            // Writable when the mode allows it (for a reader the owner's
            // way around the mode bits is only taken to read).
            match node.reopen(libc::O_RDWR, writable) {
                Ok(f) => (f, true),
                Err(err) if writable => return Err(err),
                Err(_) => (node.reopen(libc::O_RDONLY, true)?, false),
            }
        };
        let empty = |file: &File| file.metadata().is_ok_and(|m| m.len() == 0);
        let file = if format == Format::Container {
            let err = match Content::open(file, w, format, &self.ctx) {
                Ok(c) => return Ok(c),
                Err(err) => err,
            };
            // Known as a container, but empty now (nothing was ever
            // written to it): an empty plain file, as below.
            let flags = if w { libc::O_RDWR } else { libc::O_RDONLY };
            let file = node.reopen(flags, true)?;
            if !empty(&file) {
                return Err(err);
            }
            e.format = Format::Plain;
            file
        } else {
            file
        };
        if w && empty(&file) {
            e.format = Format::Container;
            self.create_deferred(file)
        } else {
            Content::open(file, w, Format::Plain, &self.ctx)
        }
    }

    /// Drops one open of `node`'s content; the last one flushes it,
    /// compacts it if worthwhile, and closes it. Returns the flush result.
    pub fn release<N: Node>(&self, node: &N) -> io::Result<()> {
        let c = {
            let mut s = node.lock();
            let e = N::entry(&mut s);
            e.opens = e.opens.saturating_sub(1);
            if e.opens > 0 {
                return Ok(());
            }
            let Some(c) = e.content.clone() else {
                return Ok(());
            };
            // Flushed under the state lock: a new open waits, and then
            // finds everything in the backing file.
            let flushed = c.flush();
            if flushed.is_err() || self.read_only || !c.needs_compaction(CompactWhen::AtRest) {
                drop(c);
                self.close_locked(node, &mut s, flushed.is_ok());
                return flushed;
            }
            e.opens = 1; // held by the compaction below
            c
        };
        self.compact_now(node, &c);
        drop(c);
        self.release_without_compaction(node)
    }

    /// `release` without compacting (after a compaction).
    pub fn release_without_compaction<N: Node>(&self, node: &N) -> io::Result<()> {
        let mut s = node.lock();
        let e = N::entry(&mut s);
        e.opens = e.opens.saturating_sub(1);
        if e.opens > 0 {
            return Ok(());
        }
        let flushed = match &e.content {
            Some(c) => c.flush(),
            None => Ok(()),
        };
        self.close_locked(node, &mut s, flushed.is_ok());
        flushed
    }

    /// Closes the content (the last reference goes here, under the lock)
    /// and records the backing file's stamp for FOPEN_KEEP_CACHE; after a
    /// successful flush (`flushed`: BACKING holds everything) also the
    /// logical size for that stamp, so the getattr or chmod that usually
    /// follows a close does not reopen the container to read it.
    fn close_locked<N: Node>(&self, node: &N, s: &mut N::State, flushed: bool) {
        let e = N::entry(s);
        let closed = e.content.take();
        let size = match &closed {
            Some(c) if flushed && c.is_container() => c.size().ok(),
            _ => None,
        };
        // Usually the last reference, dropped here under the lock; if an
        // operation still holds it, the next open shares it (`acquire`).
        e.closing = match closed {
            Some(c) if Arc::strong_count(&c) > 1 => Arc::downgrade(&c),
            _ => Weak::new(),
        };
        e.size_cache = None;
        let st = node.fstat().ok();
        if st.as_ref().is_some_and(|st| st.st_size == 0) {
            // A new or empty file that got no content stays a plain empty
            // file (see `acquire`).
            e.format = Format::Plain;
        }
        let st = node.closed(s, st);
        let e = N::entry(s);
        e.cached_stamp = st.map(|st| stamp(&st));
        if let (Some(stamp), Some(size)) = (e.cached_stamp, size) {
            e.size_cache = Some((stamp, size));
        }
    }

    /// Compacts `content` (the open content of `node`) if it needs it
    /// (`when`); the compaction counts as an open meanwhile. Failures are
    /// logged and leave the file as it was.
    pub fn maybe_compact<N: Node>(&self, node: &N, content: &Arc<Content>, when: CompactWhen) {
        if self.read_only || !content.needs_compaction(when) {
            return;
        }
        {
            let mut s = node.lock();
            let e = N::entry(&mut s);
            match &e.content {
                Some(c) if Arc::ptr_eq(c, content) => e.opens += 1,
                _ => return,
            }
        }
        self.compact_now(node, content);
        if let Err(err) = self.release_without_compaction(node) {
            log::warn!("ino {}: flush after compaction failed: {err}", node.id());
        }
    }

    /// Compacts now (the caller holds an open of `content`).
    fn compact_now<N: Node>(&self, node: &N, content: &Content) {
        match node.compact(content) {
            Ok(true) => log::debug!("ino {}: compacted", node.id()),
            Ok(false) => {}
            Err(err) => log::warn!("ino {}: compaction failed: {err}", node.id()),
        }
    }

    /// Runs `convert` (which rewrites the backing file of `node` as a
    /// container) when `node` is a closed plain file, and notes the new
    /// format; failures are logged and leave it plain. On a shared mount
    /// only while this host holds the file's write lock; `convert` runs
    /// under `node`'s state lock and must not take it.
    pub fn convert_if_closed_plain<N: Node>(
        &self,
        node: &N,
        convert: impl FnOnce() -> io::Result<bool>,
    ) {
        // Held throughout: no open can start on the old file meanwhile.
        let mut s = node.lock();
        let e = N::entry(&mut s);
        if e.opens > 0 || e.content.is_some() {
            return;
        }
        // Shared mode: only the host holding the write lock may replace the
        // file. Checked here, under the state lock held throughout: `convert`
        // must not take it again (`holds_write_lock` would deadlock).
        if self.lock_wait.is_some() && e.write_lock.is_none() {
            return;
        }
        if self.format_locked(node, e).0 != Format::Plain {
            return;
        }
        match convert() {
            Ok(true) => {
                e.format = Format::Container;
                e.size_cache = None;
                e.cached_stamp = None;
            }
            Ok(false) => {}
            Err(err) => log::warn!("ino {}: not converted to a container: {err}", node.id()),
        }
    }

    /// The logical size of the closed container `node` when the cached
    /// one is still valid (its stamp is the backing file's current one),
    /// to carry across a metadata change (`carry_size`).
    pub fn valid_cached_size<N: Node>(&self, node: &N) -> Option<(Stamp, u64)> {
        let mut s = node.lock();
        let e = N::entry(&mut s);
        if e.content.is_some() {
            return None;
        }
        let (cached, size) = e.size_cache?;
        let st = node.fstat().ok()?;
        (stamp(&st) == cached).then_some((cached, size))
    }

    /// After a chmod/chown/utimens (the data unchanged): the size
    /// `valid_cached_size` returned before it holds for the new stamp `st`,
    /// unless anything else touched the cache meanwhile (an open and close
    /// in between records its own stamp, so the entry differs).
    pub fn carry_size<N: Node>(&self, node: &N, before: Option<(Stamp, u64)>, st: &libc::stat) {
        let Some((old, size)) = before else { return };
        let mut s = node.lock();
        let e = N::entry(&mut s);
        if e.content.is_none() && e.size_cache == Some((old, size)) {
            e.size_cache = Some((stamp(st), size));
        }
    }
}

#[cfg(test)]
mod tests;
