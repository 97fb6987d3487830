//! Idle recompression (`-o recompress=LEVEL,recompress_idle=DURATION`):
//! a file written through the mount and then closed and left alone for the
//! idle time is rewritten at LEVEL in the background, so writes can run at
//! a fast level and data at rest ends at a strong one.
//!
//! One thread per mount (started with the filesystem, stopped and joined
//! at unmount or drop), at nice 19 and idle I/O priority, one file at a
//! time. It owns a queue of files by FUSE inode number: a data change
//! (`written`, from `touch_data`) puts a file in (with a lookup of its
//! own, so a forget by the kernel cannot lose it) and holds it there
//! while it is open; its last close (`closed`, from `Inner::closed` in
//! `open.rs`, the open-file table's close hook) starts its
//! idle timer with its backing (st_dev, st_ino); a writable open
//! (`opening_for_write`) stops the timer again and cancels a rewrite in
//! progress. When a file's time comes and it is not open, the thread
//! (`Inner::recompress_one`):
//!
//! 1. checks that the inode is still that backing file, has one name, no
//!    `user.scfs.compress` policy of its own (a file's policy always wins)
//!    and is a container; notes its (size, mtime);
//! 2. without any lock, decodes every block from a read-only descriptor
//!    and encodes it at LEVEL into a temporary file beside it (the
//!    compaction prefix, `compact::TEMP_PREFIX`), fsynced and sealed
//!    (`Container::recompress_into`), asking between blocks whether it was
//!    cancelled; reads of the file go on meanwhile on the old file;
//! 3. keeps it only if it is smaller, then under the inode's state lock,
//!    `ns` and the descriptor lock (held for a few syscalls), and only if
//!    the file is still not open, unchanged (same identity, size, mtime)
//!    and without a policy: copies owner, mode, xattrs and times onto it
//!    and renames it over the name, as compaction does; then fsyncs the
//!    directory. Anything else discards the temporary file.
//!
//! A crash leaves either file complete (the new one is fsynced before the
//! rename) and at most a temporary file, removed like compaction's. Files
//! still waiting at unmount are not rewritten (`scfs compress --level`
//! does it offline).

use std::collections::{BTreeSet, HashMap};
use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::compact::{copy_metadata, set_times, temp_name};
use super::inode::Inode;
use super::{policy, sys, Inner};
use crate::file::{recompress_copy, stamp, Compression, Recompressed};

/// Default `recompress_idle`: ten minutes.
pub const DEFAULT_IDLE: Duration = Duration::from_secs(600);

/// Most files waiting at once; past it, newly written files are not
/// queued (about 100 bytes each).
const MAX_QUEUED: usize = 1 << 20;

/// Parses `recompress=`: a level name (as `compress=`) or `off`.
pub fn parse_target(s: &str) -> Result<Option<Compression>, String> {
    if s == "off" {
        return Ok(None);
    }
    s.parse()
        .map(Some)
        .map_err(|e| format!("option recompress: {e} or off"))
}

/// Parses `recompress_idle=`: whole seconds, or a number with an `s`, `m`
/// or `h` suffix; at least 1 second, at most 30 days.
pub fn parse_idle(s: &str) -> Result<Duration, String> {
    let bad = || {
        format!("recompress_idle={s}: expected seconds, or a number with s, m or h (e.g. 90, 10m, 2h), from 1s to 30 days")
    };
    let (num, unit) = match s.char_indices().last() {
        Some((i, c @ ('s' | 'm' | 'h'))) => (&s[..i], c),
        _ => (s, 's'),
    };
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: u64 = num.parse().map_err(|_| bad())?;
    let secs = match unit {
        'h' => n.checked_mul(3600),
        'm' => n.checked_mul(60),
        _ => Some(n),
    }
    .filter(|s| (1..=30 * 86400).contains(s))
    .ok_or_else(bad)?;
    Ok(Duration::from_secs(secs))
}

/// One queued file.
struct Entry {
    /// Backing (st_dev, st_ino) at the last close; None while open.
    key: Option<(u64, u64)>,
    /// When the timer started (the last close).
    since: Instant,
    /// Bumped on every change, so the thread can tell whether an entry
    /// changed while it worked on it.
    gen: u64,
    /// Holds a lookup of the inode (`Inner::pin`), so a forget by the
    /// kernel cannot drop the inode while its file waits.
    pinned: bool,
}

#[derive(Default)]
struct State {
    entries: HashMap<u64, Entry>,
    /// (since, ino) of every entry whose timer runs, oldest first.
    due: BTreeSet<(Instant, u64)>,
    gen: u64,
    stop: bool,
    /// The file being rewritten and its cancel flag.
    running: Option<(u64, Arc<AtomicBool>)>,
    /// Name of the temporary file being written.
    temp: Option<CString>,
}

impl State {
    fn bump(&mut self) -> u64 {
        self.gen += 1;
        self.gen
    }

    /// Stops the timer of `ino` (if it runs).
    fn unqueue(&mut self, ino: u64) {
        if let Some(e) = self.entries.get(&ino) {
            if e.key.is_some() {
                self.due.remove(&(e.since, ino));
            }
        }
    }

    /// (Re)starts the timer of `ino` with `key`, creating the entry when
    /// `create` (and the queue has room).
    fn arm(&mut self, ino: u64, key: (u64, u64), create: bool) {
        self.unqueue(ino);
        let gen = self.bump();
        let now = Instant::now();
        if !self.entries.contains_key(&ino) && (!create || self.entries.len() >= MAX_QUEUED) {
            return;
        }
        let e = self.entries.entry(ino).or_insert(Entry {
            key: None,
            since: now,
            gen,
            pinned: false,
        });
        (e.key, e.since, e.gen) = (Some(key), now, gen);
        self.due.insert((now, ino));
    }
}

struct Shared {
    target: Compression,
    idle: Duration,
    state: Mutex<State>,
    cv: Condvar,
}

/// The mount's recompression queue and thread (inactive when off).
pub(crate) struct Recompressor {
    shared: Option<Arc<Shared>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// What became of one file.
enum Outcome {
    /// Rewritten, or nothing to do for it: it leaves the queue.
    Done,
    /// Open, or opened meanwhile: tried again after another idle time.
    Busy,
}

impl Recompressor {
    /// A queue for `target` after `idle` (None: recompression is off).
    pub(crate) fn new(target: Option<Compression>, idle: Duration) -> Recompressor {
        Recompressor {
            shared: target.map(|target| {
                Arc::new(Shared {
                    target,
                    idle,
                    state: Mutex::new(State::default()),
                    cv: Condvar::new(),
                })
            }),
            thread: Mutex::new(None),
        }
    }

    /// Starts the thread (when on) working for the filesystem `fs`.
    pub(crate) fn start(&self, fs: Weak<Inner>) {
        let Some(shared) = self.shared.clone() else {
            return;
        };
        let t = std::thread::Builder::new()
            .name("scfs-recompress".into())
            .spawn(move || worker(&shared, &fs));
        match t {
            Ok(t) => *self.thread.lock() = Some(t),
            Err(e) => log::warn!("cannot start the recompression thread: {e}"),
        }
    }

    /// Stops the thread (a rewrite in progress is abandoned at its next
    /// block, its temporary file removed) and waits for it.
    pub(crate) fn stop(&self) {
        let Some(shared) = &self.shared else { return };
        shared.state.lock().stop = true;
        shared.cv.notify_all();
        let t = self.thread.lock().take();
        if let Some(t) = t {
            // The thread itself may drop the last reference to the
            // filesystem (then it is ending anyway): never join oneself.
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
    }

    /// For `scfs status`: files queued (written, open or waiting out
    /// their idle time) and whether one is being rewritten; None when off.
    pub(crate) fn queue_status(&self) -> Option<(usize, bool)> {
        let st = self.shared.as_ref()?.state.lock();
        Some((st.entries.len(), st.running.is_some()))
    }

    /// The data of `ino` changed: it is queued, its timer waiting for
    /// the last close. True when it was not queued before.
    fn written(&self, ino: u64) -> bool {
        let Some(sh) = &self.shared else {
            return false;
        };
        let mut st = sh.state.lock();
        st.unqueue(ino);
        let gen = st.bump();
        if let Some(e) = st.entries.get_mut(&ino) {
            (e.key, e.gen) = (None, gen);
            return false;
        }
        if st.entries.len() >= MAX_QUEUED {
            return false;
        }
        st.entries.insert(
            ino,
            Entry {
                key: None,
                since: Instant::now(),
                gen,
                pinned: false,
            },
        );
        true
    }

    /// Records that the queued `ino` holds a lookup; false if it left the
    /// queue meanwhile (the caller drops the lookup again).
    fn mark_pinned(&self, ino: u64) -> bool {
        let Some(sh) = &self.shared else {
            return false;
        };
        let mut st = sh.state.lock();
        st.entries.get_mut(&ino).map(|e| e.pinned = true).is_some()
    }

    /// `ino` is being opened for writing: its timer stops and a rewrite
    /// of it in progress is cancelled.
    pub(crate) fn opening_for_write(&self, ino: u64) {
        let Some(sh) = &self.shared else { return };
        let mut st = sh.state.lock();
        if let Some((r, cancel)) = &st.running {
            if *r == ino {
                cancel.store(true, Ordering::Relaxed);
            }
        }
        if st.entries.contains_key(&ino) {
            st.unqueue(ino);
            let gen = st.bump();
            if let Some(e) = st.entries.get_mut(&ino) {
                e.key = None;
                e.gen = gen;
            }
        }
    }

    /// The last open of `ino` (backing stat `st`) was closed: a queued
    /// file's idle timer starts now.
    pub(crate) fn closed(&self, ino: u64, st: &libc::stat) {
        let Some(sh) = &self.shared else { return };
        let mut s = sh.state.lock();
        if s.entries.contains_key(&ino) {
            s.arm(ino, (st.st_dev, st.st_ino), false);
        }
    }

    /// The last name of the backing file `key` (inode `ino`) is gone
    /// (unlink, rename over it): its entry leaves the queue (a rewrite in progress is
    /// cancelled). Returns the inode number when the entry held a pin,
    /// which the caller drops, so the daemon does not keep a deleted file
    /// (and its space) open until the idle time is over.
    pub(crate) fn removed(&self, ino: u64, key: (u64, u64)) -> Option<u64> {
        let sh = self.shared.as_ref()?;
        let mut st = sh.state.lock();
        if st.entries.get(&ino)?.key != Some(key) {
            return None;
        }
        if let Some((r, cancel)) = &st.running {
            if *r == ino {
                // The thread finds the entry gone and leaves it at that.
                cancel.store(true, Ordering::Relaxed);
            }
        }
        st.unqueue(ino);
        st.entries.remove(&ino).filter(|e| e.pinned).map(|_| ino)
    }

    /// Whether `name` is the temporary file of the rewrite in progress.
    pub(crate) fn is_in_flight(&self, name: &OsStr) -> bool {
        let Some(sh) = &self.shared else { return false };
        let st = sh.state.lock();
        st.temp
            .as_ref()
            .is_some_and(|t| t.as_bytes() == name.as_bytes())
    }
}

impl Drop for Recompressor {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The thread: waits for the oldest timer, rewrites that file, repeats.
fn worker(sh: &Shared, fs: &Weak<Inner>) {
    crate::sys::lower_thread_priority("recompression");
    loop {
        let (ino, key, gen, cancel) = {
            let mut st = sh.state.lock();
            let ino = loop {
                if st.stop {
                    return;
                }
                match st.due.first().copied() {
                    Some((since, ino)) if since + sh.idle <= Instant::now() => {
                        st.due.remove(&(since, ino));
                        break ino;
                    }
                    Some((since, _)) => {
                        sh.cv.wait_until(&mut st, since + sh.idle);
                    }
                    // Timers only ever start later than the ones running,
                    // so a new one is found within one idle time.
                    None => {
                        sh.cv.wait_for(&mut st, sh.idle);
                    }
                }
            };
            let Some(&Entry {
                key: Some(key),
                gen,
                ..
            }) = st.entries.get(&ino)
            else {
                continue;
            };
            let cancel = Arc::new(AtomicBool::new(false));
            st.running = Some((ino, cancel.clone()));
            (ino, key, gen, cancel)
        };
        let Some(inner) = fs.upgrade() else { return };
        let go_on = || !cancel.load(Ordering::Relaxed) && !sh.state.lock().stop;
        let outcome = inner.recompress_one(ino, key, sh, &go_on);
        let mut st = sh.state.lock();
        st.running = None;
        let unchanged = st.entries.get(&ino).is_some_and(|e| e.gen == gen);
        let done = match outcome {
            _ if st.stop => return,
            // Changed meanwhile (written, opened, closed): its new state rules.
            _ if !unchanged => false,
            Ok(Outcome::Busy) => {
                st.arm(ino, key, false);
                false
            }
            Ok(Outcome::Done) => true,
            Err(e) => {
                log::warn!("ino {ino}: recompression failed: {e}");
                true
            }
        };
        let unpin = done && st.entries.remove(&ino).is_some_and(|e| e.pinned);
        drop(st);
        if unpin {
            inner.inodes.forget(ino, 1);
        }
    }
}

/// The temporary file of a rewrite: removed on drop unless renamed; the
/// queue names it meanwhile (`is_in_flight`).
struct Temp<'a> {
    sh: &'a Shared,
    dir: OwnedFd,
    name: CString,
    file: File,
    keep: bool,
}

impl<'a> Temp<'a> {
    fn create(sh: &'a Shared, dir: OwnedFd, ino: u64) -> io::Result<Temp<'a>> {
        let name = temp_name(ino);
        sh.state.lock().temp = Some(name.clone());
        let flags = libc::O_CREAT | libc::O_EXCL | libc::O_RDWR | libc::O_NOFOLLOW;
        match sys::openat(dir.as_fd(), &name, flags, 0o600) {
            Ok(fd) => Ok(Temp {
                sh,
                dir,
                name,
                file: File::from(fd),
                keep: false,
            }),
            Err(e) => {
                sh.state.lock().temp = None;
                Err(e)
            }
        }
    }
}

impl Drop for Temp<'_> {
    fn drop(&mut self) {
        if !self.keep {
            if let Err(e) = sys::unlinkat(self.dir.as_fd(), &self.name, 0) {
                log::warn!("cannot remove temporary file {:?}: {e}", self.name);
            }
        }
        self.sh.state.lock().temp = None;
    }
}

/// What must not change while a file is rewritten: its backing identity,
/// size and mtime (metadata changes are copied at the rename instead).
fn data_stamp(st: &libc::stat) -> (u64, u64, i64, i64, i64) {
    (
        st.st_dev,
        st.st_ino,
        st.st_size,
        st.st_mtime,
        st.st_mtime_nsec,
    )
}

impl Inner {
    /// Records a data change of `inode` for idle recompression (from
    /// `touch_data`). A file newly queued gets a lookup of its own, so
    /// the kernel forgetting it (memory pressure, drop_caches) cannot take
    /// it out of the table while it waits: its number keeps naming it and
    /// a later lookup finds this very inode (the one whose state lock
    /// keeps opens and the rewrite apart). The thread drops that lookup
    /// when the file leaves the queue.
    /// The last name of the backing file `victim` went: drop its queue
    /// entry and the lookup it held (`Recompressor::removed`).
    pub(crate) fn recompress_removed(&self, victim: Option<(u64, u64)>) {
        let Some(key) = victim else { return };
        // By the inode table's key index: no scan of the queue per unlink.
        let Some(ino) = self.inodes.ino_of(key) else {
            return;
        };
        if let Some(ino) = self.recompress.removed(ino, key) {
            self.inodes.forget(ino, 1);
        }
    }

    pub(crate) fn recompress_written(&self, inode: &Inode) {
        if !self.recompress.written(inode.ino) {
            return;
        }
        let pinned = (|| {
            let fd = inode.fd().ok()?;
            let st = sys::fstat(fd.as_fd()).ok()?;
            let dup = fd.as_fd().try_clone_to_owned().ok()?;
            drop(fd);
            let got = self.inodes.lookup(dup, &st);
            if got.ino != inode.ino {
                // Not this inode's key (replaced meanwhile): no pin.
                self.inodes.forget(got.ino, 1);
                return None;
            }
            Some(())
        })();
        if pinned.is_some() && !self.recompress.mark_pinned(inode.ino) {
            self.inodes.forget(inode.ino, 1);
        }
    }

    /// Rewrites the closed file `ino` (backing `key` at its last close) at
    /// the queue's level, as the module documentation says; `go_on` is
    /// asked between blocks.
    fn recompress_one(
        &self,
        ino: u64,
        key: (u64, u64),
        sh: &Shared,
        go_on: &dyn Fn() -> bool,
    ) -> io::Result<Outcome> {
        let Ok(inode) = self.inodes.get(ino) else {
            return Ok(Outcome::Done); // forgotten by the kernel
        };
        if !inode.is_reg() {
            return Ok(Outcome::Done);
        }
        if inode.state.lock().open.in_use() {
            return Ok(Outcome::Busy);
        }
        // 1. Still the file closed, one name, no policy of its own.
        let (before, dirfd, name) = {
            let fd = inode.fd()?;
            let st = sys::fstat(fd.as_fd())?;
            if (st.st_dev, st.st_ino) != key
                || st.st_nlink != 1
                || policy::read(fd.as_fd()).is_some()
            {
                return Ok(Outcome::Done);
            }
            let Some((dirfd, name)) = self.parent_of(fd.as_fd())? else {
                return Ok(Outcome::Done);
            };
            (st, dirfd, name)
        };
        let src = self.reopen(&inode, libc::O_RDONLY)?;
        // 2. The new file, written without any lock (the file layer's
        // `recompress_copy`; a reservation past the old end goes along).
        let mut tmp = Temp::create(sh, dirfd, ino)?;
        let started = Instant::now();
        let new_len = match recompress_copy(src, &tmp.file, sh.target, go_on)? {
            Recompressed::NotContainer => return Ok(Outcome::Done),
            Recompressed::Cancelled => {
                log::debug!("ino {ino}: recompression cancelled");
                return Ok(Outcome::Busy);
            }
            Recompressed::Done(n) => n,
        };
        let old_len = before.st_size as u64;
        crate::metrics::add(&self.metrics().recompression_written, new_len);
        if new_len >= old_len {
            log::debug!("ino {ino}: recompression gains nothing ({old_len} -> {new_len} bytes)");
            return Ok(Outcome::Done);
        }
        // 3. The rename, if nothing changed meanwhile. Shared mode: under
        // the file's write lock, taken only if free (another host writing
        // it: tried again later), so no append of another host is lost
        // between the check below and the rename.
        let Some(_locked) = self.idle_write_lock(&inode)? else {
            return Ok(Outcome::Busy);
        };
        // Before the state lock (an xattr change takes them in this order).
        let Some(_meta) = self.replace_meta_lock(before.st_ino)? else {
            return Ok(Outcome::Busy);
        };
        let mut s = inode.state.lock();
        if s.open.in_use() || !go_on() {
            return Ok(Outcome::Busy);
        }
        let _ns = self.ns.write();
        let mut fd = inode.fd_mut()?;
        let st = sys::fstat(fd.as_fd())?;
        if data_stamp(&st) != data_stamp(&before)
            || st.st_nlink != 1
            || policy::read(fd.as_fd()).is_some()
        {
            return Ok(Outcome::Done);
        }
        // Renamed meanwhile: tried again later under its new name.
        let cur = sys::fstatat(tmp.dir.as_fd(), &name, libc::AT_SYMLINK_NOFOLLOW);
        if cur.map_or(true, |c| (c.st_dev, c.st_ino) != (st.st_dev, st.st_ino)) {
            return Ok(Outcome::Busy);
        }
        copy_metadata(fd.as_fd(), &tmp.file, &st)?;
        super::ctime::carry_to(std::os::fd::AsRawFd::as_raw_fd(&fd.as_fd()), &st, &tmp.file);
        set_times(&tmp.file, &st)?;
        self.rename_over(&inode, &mut fd, tmp.dir.as_fd(), &tmp.name, &name)?;
        tmp.keep = true;
        crate::metrics::add(&self.metrics().recompressions_done, 1);
        // Same contents: the cached logical size and the kernel's page
        // cache stay valid for the new file.
        if let Ok(new) = sys::fstat(fd.as_fd()) {
            s.open.restamp(stamp(&st), stamp(&new));
        }
        drop((fd, _ns, s, _meta));
        let d = sys::openat(tmp.dir.as_fd(), c".", libc::O_RDONLY | libc::O_DIRECTORY, 0)?;
        File::from(d).sync_all()?;
        log::debug!(
            "ino {ino}: recompressed at {} ({old_len} -> {new_len} bytes, {:?})",
            sh.target,
            started.elapsed()
        );
        Ok(Outcome::Done)
    }
}
