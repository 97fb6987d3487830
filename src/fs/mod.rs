//! FUSE frontend: `ScfsFs` implements `fuser::Filesystem` over a BACKING
//! directory. Regular files that are v2 containers are served decoded,
//! everything else exactly as it is.
//!
//! Submodules: `attr` (stat -> FileAttr, errno),
//! `inode` (O_PATH inode table and per-inode state), `open` (inodes as
//! nodes of the file layer's open-file table, `file::OpenFiles`, which
//! owns the content life cycle), `names` (lookup and namespace
//! operations), `meta` (getattr, setattr, statfs, access), `handles` (open
//! files and directories, I/O), `xattr`, `compact` (the rename part of
//! compaction and plain-to-container conversion), `recompress` (idle
//! recompression's queue and rename), `session` (the fuser
//! configuration), `status` (the `scfs.status` xattr: live figures), `ops` (the `fuser::Filesystem` glue) with `reply`
//! (request and reply conversions).
//!
//! Invariants:
//! - One FUSE inode per backing (st_dev, st_ino); its number is the backing
//!   st_ino when free (so hard links and `ls -i` agree), else synthetic.
//! - At most one open `Content` (one `LogicalFile`) per inode: all handles
//!   share it, the last release closes it under the inode's state lock, a
//!   compaction counts as an open, new containers are complete before their
//!   name appears, and a compacted file's key maps to its inode before the
//!   rename. Two `LogicalFile`s on one backing file would corrupt it.
//!
//! Lock order (never taken the other way round): inode state -> `ns`
//! (namespace changes vs compaction) -> an inode's descriptor lock -> the
//! file layer's locks; the inode table and handle map are leaves.

mod attr;
mod compact;
mod ctime;
mod export;
mod handles;
mod inherit;
mod inode;
mod meta;
mod names;
mod open;
mod ops;
mod policy;
mod recompress;
mod reply;
mod session;
mod status;
mod xattr;

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;

use crate::file::{Compression, OpenFiles};
use crate::sys;

use handles::Handle;
use inode::InodeTable;
use recompress::Recompressor;

/// For `scfs convert`: the daemon's way of carrying a file's metadata to
/// its rewritten copy, its temporary names, and the policy xattr.
pub(crate) use compact::{copy_metadata, set_times, TEMP_PREFIX};
pub use names::LOCK_NAME;
pub(crate) use policy::POLICY;
pub use recompress::{parse_idle as parse_recompress_idle, parse_target as parse_recompress};
pub use session::{fs_name, fuse_config};

/// The level files are written at by default (`compress=`): `fast`, the
/// strongest level whose sequential write through the mount stays at 0.8x
/// the passthrough on a 2-core machine, because it gives way to `huffman`
/// for the blocks of a writer that outruns the compression threads
/// (docs/BENCHMARKS.md, session 12: 0.80x, as fast as `huffman`; `default`
/// 0.15x). A tree of logs, JSON and source copied in saves 80% at `fast`
/// against 28% at `huffman`.
pub const DEFAULT_COMPRESSION: Compression = Compression::Level(crate::codec::Level::Fast);

/// The level files at rest are rewritten at by default (`recompress=`):
/// `default`, which stores a third of what `huffman` does on text, logs
/// and JSON (at ~100 MB/s of one core, in the background, after
/// `recompress_idle`).
pub const DEFAULT_RECOMPRESS: Option<Compression> =
    Some(Compression::Level(crate::codec::Level::Default));

/// How long an open for writing waits for another host's write lock
/// (`lock_wait=`, shared mode).
pub const DEFAULT_LOCK_WAIT: Duration = Duration::from_secs(10);

/// Options of one mount.
#[derive(Clone, Debug)]
pub struct FsOptions {
    /// Byte budget of decoded blocks kept in memory.
    pub cache_size: u64,
    /// Block size of files created through the mount (power of two,
    /// 4 KiB ..= 1 MiB).
    pub block_size: u32,
    /// Mount read-only.
    pub read_only: bool,
    /// Let other users than the mounting one use the mount.
    pub allow_other: bool,
    /// Let the kernel check permissions from the mode bits.
    pub default_permissions: bool,
    /// FUSE event-loop threads.
    pub n_threads: usize,
    /// Kernel writeback cache (faster small writes; the kernel then owns
    /// mtime and size updates while files are open).
    pub writeback_cache: bool,
    /// Opens for reading mark the file accessed (relatime rules: when the
    /// atime is not newer than mtime/ctime or is a day old); false with
    /// the `noatime` mount option.
    pub atime: bool,
    /// When set, the mount's live access-time policy (it follows
    /// `mount -o remount,...`), overriding `atime`.
    pub atime_policy: Option<AtimePolicy>,
    /// Inode descriptors kept open before idle ones are swapped for file
    /// handles (0: half of RLIMIT_NOFILE; see `inode`).
    pub inode_fds: usize,
    /// How files without a `user.scfs.compress` policy are coded (`policy`).
    pub compression: Compression,
    /// Idle recompression: files written through the mount that stay
    /// closed and untouched for `recompress_idle` are rewritten at this
    /// level (None: off; see `recompress`).
    pub recompress: Option<Compression>,
    pub recompress_idle: Duration,
    /// Files not written for this long are flushed (their partial blocks
    /// written back); the cache's default, 3 s. No mount option sets it
    /// (tests do, to watch a write-back in progress).
    pub idle_flush: Duration,
    /// `-o shared`: one daemon per host over one BACKING on a shared
    /// filesystem (docs/SHARED.md): per-file write locks, close-to-open.
    pub shared: bool,
    /// `lock_wait=`: how long an open for writing waits for another host's
    /// write lock before failing with EWOULDBLOCK (shared mode).
    pub lock_wait: Duration,
    /// `actimeo=`: how long the kernel caches entries and attributes.
    pub attr_timeout: Duration,
}

/// An access-time policy shared with the mount's owner, who may change it
/// while mounted: [`AtimePolicy::NEVER`], `RELATIVE` or `STRICT`.
#[derive(Clone, Debug, Default)]
pub struct AtimePolicy(Arc<std::sync::atomic::AtomicU8>);

impl AtimePolicy {
    /// noatime (also while the mount is read-only).
    pub const NEVER: u8 = 0;
    /// relatime: when the atime is not after the mtime/ctime, or a day old.
    pub const RELATIVE: u8 = 1;
    /// strictatime: every open for reading.
    pub const STRICT: u8 = 2;

    /// A policy starting as `v`.
    pub fn new(v: u8) -> Self {
        AtimePolicy(Arc::new(std::sync::atomic::AtomicU8::new(v)))
    }
    /// Changes it.
    pub fn set(&self, v: u8) {
        self.0.store(v, std::sync::atomic::Ordering::Relaxed);
    }
    /// The policy now.
    pub fn get(&self) -> u8 {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl FsOptions {
    /// The access-time policy in force now.
    pub fn atime_now(&self) -> u8 {
        match &self.atime_policy {
            Some(p) => p.get(),
            None if self.atime => AtimePolicy::RELATIVE,
            None => AtimePolicy::NEVER,
        }
    }
}

impl Default for FsOptions {
    fn default() -> Self {
        FsOptions {
            cache_size: crate::cache::DEFAULT_CACHE_SIZE,
            block_size: crate::file::DEFAULT_BLOCK_SIZE,
            read_only: false,
            allow_other: false,
            default_permissions: true,
            n_threads: 2,
            writeback_cache: false,
            atime: true,
            atime_policy: None,
            inode_fds: 0,
            compression: DEFAULT_COMPRESSION,
            recompress: DEFAULT_RECOMPRESS,
            recompress_idle: recompress::DEFAULT_IDLE,
            idle_flush: crate::cache::DEFAULT_IDLE_FLUSH,
            shared: false,
            lock_wait: DEFAULT_LOCK_WAIT,
            attr_timeout: attr::TTL,
        }
    }
}

/// The filesystem. Cheap to clone: clones share one state, so the mount
/// life cycle can keep a clone to call [`ScfsFs::flush_all`] while the
/// session owns another.
#[derive(Clone)]
pub struct ScfsFs(Arc<Inner>);

pub(crate) struct Inner {
    opts: FsOptions,
    backing: PathBuf,
    inodes: InodeTable,
    handles: RwLock<HashMap<u64, Arc<Handle>>>,
    next_fh: AtomicU64,
    /// The daemon's umask (undone after creating objects when it would
    /// strip bits; the caller's comes with each request, see `names`).
    umask: u32,
    /// Whether we run as root (then new objects are chowned to the caller).
    is_root: bool,
    /// Whether the kernel enforces POSIX ACLs on this mount (it granted
    /// FUSE_POSIX_ACL at init); ACLs are only stored when it does.
    acl_enforced: std::sync::atomic::AtomicBool,
    /// The session's notifier, to invalidate attributes the kernel caches
    /// when we change them unasked (set once mounted).
    notifier: std::sync::OnceLock<fuser::Notifier>,
    /// The open-file table (content life cycle, block cache, seal queue).
    files: OpenFiles,
    /// Namespace changes (read) against compaction's rename (write).
    ns: RwLock<()>,
    /// `-o shared`: metadata changes against another host's replacement
    /// of the file (`file::MetaLocks`; fs/compact.rs, fs/meta.rs).
    meta: crate::file::metalock::MetaLocks,
    /// Idle recompression's queue and thread.
    recompress: Recompressor,
    /// The user who mounted (the daemon's euid): with root, the only one
    /// `scfs.status` answers.
    owner_uid: u32,
    /// BACKING as the user named it (`backing` may be a /proc/self/fd
    /// path) and where the mount is: set once mounted, shown by `scfs status`.
    shown_paths: std::sync::OnceLock<(PathBuf, PathBuf)>,
}

impl ScfsFs {
    /// Prepares a filesystem serving `backing` (which must be a directory).
    pub fn new(backing: &Path, opts: FsOptions) -> io::Result<ScfsFs> {
        let shared = opts.shared;
        if let Err(e) = crate::file::BlockSize::try_from(opts.block_size) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, e));
        }
        sys::raise_nofile_limit();
        // A cache smaller than a few blocks cannot hold a block being
        // written beside one being read: keep at least four.
        let opts_cache_size = opts.cache_size.max(4 * u64::from(opts.block_size));
        let idle_flush = opts.idle_flush;
        let path = sys::cstr(backing.as_os_str())?;
        let fd = sys::open_path(&path, libc::O_PATH | libc::O_DIRECTORY)?;
        let st = sys::fstat(std::os::fd::AsFd::as_fd(&fd))?;
        let lock_dir = fd.try_clone()?;
        let lock_name = std::ffi::CString::new(LOCK_NAME).expect("no NUL in the name");
        let meta = crate::file::metalock::MetaLocks::new(move || {
            let flags = libc::O_RDWR | libc::O_CLOEXEC | libc::O_NOFOLLOW;
            sys::openat(std::os::fd::AsFd::as_fd(&lock_dir), &lock_name, flags, 0)
                .map(std::fs::File::from)
        });
        let inodes = InodeTable::new(fd, &st, opts.inode_fds);
        let is_root = sys::is_root();
        // Recompressing to the level files are written at gains nothing.
        let recompress = opts
            .recompress
            .filter(|&r| !opts.read_only && r != opts.compression);
        let recompress = Recompressor::new(recompress, opts.recompress_idle);
        let (block_size, read_only) = (opts.block_size, opts.read_only);
        let lock_wait = opts.lock_wait;
        let inner = Arc::new(Inner {
            opts,
            backing: backing.to_path_buf(),
            inodes,
            handles: RwLock::new(HashMap::new()),
            next_fh: AtomicU64::new(1),
            umask: sys::process_umask(),
            is_root,
            acl_enforced: std::sync::atomic::AtomicBool::new(false),
            notifier: std::sync::OnceLock::new(),
            files: OpenFiles::new(
                crate::cache::BlockCache::with_options(crate::cache::CacheOptions {
                    budget: opts_cache_size,
                    idle_flush: Some(idle_flush),
                    metrics: Arc::default(),
                    ..Default::default()
                }),
                if shared {
                    crate::file::SealQueue::off()
                } else {
                    crate::file::SealQueue::new()
                },
                block_size,
                read_only,
            )
            .shared(shared.then_some(lock_wait)),
            ns: RwLock::new(()),
            meta,
            recompress,
            owner_uid: crate::sys::euid(),
            shown_paths: std::sync::OnceLock::new(),
        });
        inner.recompress.start(Arc::downgrade(&inner));
        // A seal keeps the user ctime of the file it moves (fs/ctime.rs);
        // weak: the queue lives in `inner`.
        let me = Arc::downgrade(&inner);
        inner
            .files
            .seals()
            .set_hook(Box::new(move |file, seal| match me.upgrade() {
                Some(inner) => inner.sealing(file, seal),
                None => seal(),
            }));
        Ok(ScfsFs(inner))
    }

    /// Writes and commits every dirty block of every open file, then syncs
    /// them to stable storage. Called at unmount and on signals.
    pub fn flush_all(&self) -> io::Result<()> {
        self.0.flush_all()
    }

    /// Stops idle recompression (unmount): a rewrite in progress is
    /// abandoned and its temporary file removed.
    pub fn stop_background(&self) {
        self.0.recompress.stop();
    }

    /// The fuser `Config` of this mount (`session::fuse_config`, the same
    /// function the daemon uses, without generic mount(8) flags).
    pub fn config(&self) -> fuser::Config {
        session::fuse_config(&self.0.backing, &self.0.opts, Vec::new())
    }

    /// Hands over the notifier of the session serving this filesystem
    /// (`fuser::Session::notifier`), through which it tells the kernel of
    /// attribute changes the kernel did not ask for (set-ID bits dropped
    /// by a write). Without it such changes show after the attribute TTL.
    /// Only the first call counts.
    pub fn set_notifier(&self, n: fuser::Notifier) {
        let _ = self.0.notifier.set(n);
    }

    /// Tells the filesystem which BACKING the user named and where it is
    /// mounted (`scfs status` shows them). Only the first call counts.
    pub fn set_shown_paths(&self, backing: &Path, mnt: &Path) {
        let _ = self
            .0
            .shown_paths
            .set((backing.to_path_buf(), mnt.to_path_buf()));
    }

    /// Mounts this filesystem on `mnt` with [`ScfsFs::config`] in a
    /// background session, its notifier handed over.
    pub fn spawn_mount(&self, mnt: &Path) -> io::Result<fuser::BackgroundSession> {
        self.set_shown_paths(&self.0.backing, mnt);
        let session = fuser::Session::new(self.clone(), mnt, &self.config())?;
        self.set_notifier(session.notifier());
        session.spawn()
    }

    /// Inode descriptors open now (tests: bounded by `inode_fds`).
    pub fn inode_fds(&self) -> usize {
        self.0.inodes.open_fds()
    }

    /// Scans for idle inode descriptors to swap for handles so far
    /// (tests: they follow the descriptors opened, not the requests).
    pub fn inode_evict_scans(&self) -> u64 {
        self.0.inodes.evict_scans()
    }

    /// Number of inodes currently known (for tests and logs).
    pub fn inode_count(&self) -> usize {
        self.0.inodes.len()
    }
}
