//! Sealing the containers of closed and fsynced files (FORMAT.md 3.6).
//!
//! A seal may only name a commit that is on stable storage, and syncing
//! every file as it is closed would make every close(2) wait for the disk.
//! So a file's close (and its fsync) leaves a [`SealTicket`] in the mount's
//! [`SealQueue`] instead, and [`SealQueue::seal_pending`] syncs each file system the tickets live on once
//! (syncfs), then writes the seals, then syncs again so the seals
//! themselves last. It runs at unmount (after every dirty block was
//! written) and, in the background, once no file was closed or fsynced for
//! [`QUIET`]: a mount that lives long, or a daemon killed later, leaves its
//! quiet files sealed too, while a busy workload is not slowed by syncs.
//!
//! Bounds: at most [`MAX_TICKETS`] tickets (an eighth of RLIMIT_NOFILE
//! when that is lower), one per container (a newer ticket of the same
//! container replaces the older one); beyond that the oldest is dropped
//! and its file stays unsealed, which is allowed (a seal only ever tells a
//! reader more). A ticket holds a handle on its file, so the ticket of a
//! file deleted through the mount is dropped at once
//! ([`SealQueue::forget_deleted`],
//! so `rm` frees the space as on a local filesystem), and tickets of files
//! deleted otherwise within a few seconds (a background thread checks
//! their link counts), or their disk space would stay in use until
//! unmount.
//!
//! The queue belongs to one mount (two mounts in one process never share
//! tickets); dropping the [`SealQueue`] stops and joins its thread.

use crate::container::SealTicket;
use parking_lot::{Condvar, Mutex};
use std::collections::VecDeque;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Most containers waiting for their seal.
pub const MAX_TICKETS: usize = 1024;

/// How often tickets of deleted files are looked for.
const PRUNE_EVERY: Duration = Duration::from_secs(2);

/// The background sealing waits for this long without a new ticket.
pub const QUIET: Duration = Duration::from_secs(10);

/// One mount's seal queue. Its background thread starts with the first
/// ticket; dropping the queue stops and joins it. Files still open then
/// keep the queue's state (see [`Seals`]), and their tickets are only
/// sealed by an explicit [`SealQueue::seal_pending`].
pub struct SealQueue {
    pub(crate) seals: Arc<Seals>,
}

/// What the mount runs around each seal write: given the backing file
/// and the write (the ticket's, returning whether it wrote), it keeps
/// what the seal must not change (the user ctime, `fs/ctime.rs`) and
/// returns the write's result.
pub type SealHook =
    dyn Fn(&std::fs::File, &mut dyn FnMut() -> io::Result<bool>) -> io::Result<bool> + Send + Sync;

/// The state shared by the queue, the files that leave tickets in it and
/// the background thread.
pub(crate) struct Seals {
    /// Set once by the mount (`SealQueue::set_hook`); without it a seal
    /// is the ticket's write alone.
    hook: std::sync::OnceLock<Box<SealHook>>,
    /// The queued tickets, with their file's device and inode numbers.
    tickets: Mutex<VecDeque<(u64, u64, SealTicket)>>,
    /// One sealing round at a time: an unmount waits for a background
    /// round that already took its tickets.
    round: Mutex<()>,
    /// Milliseconds since `epoch` of the last ticket.
    last_ticket_ms: AtomicU64,
    epoch: Instant,
    /// [`MAX_TICKETS`], or fewer when the process may open few files: each
    /// ticket holds a descriptor, and they must not starve the mount's
    /// opens.
    max: usize,
    /// The background thread's life (`ctl_cv` wakes it to stop).
    ctl: Mutex<Ctl>,
    ctl_cv: Condvar,
}

/// Whether the background thread runs and whether it is to stop.
#[derive(Default)]
struct Ctl {
    thread: Option<JoinHandle<()>>,
    /// Set once the [`SealQueue`] is dropped: no thread starts after.
    stop: bool,
}

impl SealQueue {
    /// An empty queue.
    pub fn new() -> Arc<SealQueue> {
        Self::with_max((crate::sys::nofile_limit() / 8).clamp(16, MAX_TICKETS))
    }

    /// A queue that takes no ticket: no seal is ever written (`-o shared`,
    /// where the write lock is gone by the time a seal would be written and
    /// another host may be appending).
    pub fn off() -> Arc<SealQueue> {
        Self::with_max(0)
    }

    fn with_max(max: usize) -> Arc<SealQueue> {
        Arc::new(SealQueue {
            seals: Arc::new(Seals {
                hook: std::sync::OnceLock::new(),
                tickets: Mutex::new(VecDeque::new()),
                round: Mutex::new(()),
                last_ticket_ms: AtomicU64::new(0),
                epoch: Instant::now(),
                max,
                ctl: Mutex::new(Ctl::default()),
                ctl_cv: Condvar::new(),
            }),
        })
    }

    /// True when some ticket is waiting (so a caller can skip looking up
    /// what it deletes).
    pub fn has_tickets(&self) -> bool {
        !self.seals.tickets.lock().is_empty()
    }

    /// A file (device `dev`, inode `ino`) lost a name: if it has none
    /// left, its ticket is dropped now, closing the descriptor that kept
    /// its disk space in use.
    pub fn forget_deleted(&self, dev: u64, ino: u64) {
        let mut q = self.seals.tickets.lock();
        if let Some(i) = q.iter().position(|o| o.0 == dev && o.1 == ino) {
            if q[i].2.file().metadata().is_ok_and(|m| m.nlink() == 0) {
                q.remove(i);
            }
        }
    }

    /// Has `hook` run around every seal this queue writes from now on
    /// (once; a second hook is ignored).
    pub fn set_hook(&self, hook: Box<SealHook>) {
        let _ = self.seals.hook.set(hook);
    }

    /// Number of tickets waiting (for tests).
    pub fn pending_seals(&self) -> usize {
        self.seals.tickets.lock().len()
    }

    /// Syncs the file systems of every queued ticket, writes their seals,
    /// and syncs again. Returns the number of seals written. Tickets whose
    /// file system could not be synced are dropped unsealed (their commits
    /// may not be on stable storage).
    pub fn seal_pending(&self) -> io::Result<usize> {
        self.seals.seal_pending()
    }
}

impl Drop for SealQueue {
    fn drop(&mut self) {
        let thread = {
            let mut ctl = self.seals.ctl.lock();
            ctl.stop = true;
            ctl.thread.take()
        };
        self.seals.ctl_cv.notify_all();
        if let Some(t) = thread {
            let _ = t.join();
        }
    }
}

impl Seals {
    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Queues the seal of a container's newest commit, to be written by
    /// the next [`Seals::seal_pending`].
    pub(crate) fn enqueue(self: &Arc<Self>, t: SealTicket) {
        if self.max == 0 {
            return;
        }
        self.start_thread();
        self.last_ticket_ms.store(self.now_ms(), Ordering::Relaxed);
        let (dev, ino) = match t.file().metadata() {
            Ok(m) => (m.dev(), m.ino()),
            Err(_) => return,
        };
        let mut q = self.tickets.lock();
        q.retain(|o| o.2.salt() != t.salt());
        if q.len() >= self.max {
            q.pop_front();
        }
        q.push_back((dev, ino, t));
    }

    /// Starts the background thread unless it runs or the queue is gone.
    fn start_thread(self: &Arc<Self>) {
        let mut ctl = self.ctl.lock();
        if ctl.thread.is_some() || ctl.stop {
            return;
        }
        let s = self.clone();
        let spawned = std::thread::Builder::new()
            .name("scfs-seal".into())
            .spawn(move || s.run());
        match spawned {
            Ok(t) => ctl.thread = Some(t),
            Err(e) => {
                // Not tried again: one warning is enough.
                ctl.stop = true;
                log::warn!(
                    "seal: no pruning thread ({e}); deleted files keep their space until unmount"
                );
            }
        }
    }

    /// The background thread: a round every [`PRUNE_EVERY`] until the
    /// queue is dropped.
    fn run(&self) {
        loop {
            {
                let mut ctl = self.ctl.lock();
                if !ctl.stop {
                    self.ctl_cv.wait_for(&mut ctl, PRUNE_EVERY);
                }
                if ctl.stop {
                    return;
                }
            }
            self.background_round();
        }
    }

    /// What the background thread does every [`PRUNE_EVERY`]: drop the
    /// tickets of files that no longer have a name, and seal the rest once
    /// no ticket came for [`QUIET`].
    fn background_round(&self) {
        {
            let mut q = self.tickets.lock();
            if q.is_empty() {
                return;
            }
            q.retain(|t| t.2.file().metadata().is_ok_and(|m| m.nlink() > 0));
        }
        let quiet = self
            .now_ms()
            .saturating_sub(self.last_ticket_ms.load(Ordering::Relaxed));
        if quiet >= QUIET.as_millis() as u64 {
            if let Err(e) = self.seal_pending() {
                log::warn!("seal: background sealing: {e}");
            }
        }
    }

    fn seal_pending(&self) -> io::Result<usize> {
        let _round = self.round.lock();
        let tickets = std::mem::take(&mut *self.tickets.lock());
        let mut live = Vec::with_capacity(tickets.len());
        let mut devs: Vec<(u64, usize)> = Vec::new();
        for (_, _, t) in tickets {
            let Ok(m) = t.file().metadata() else { continue };
            if m.nlink() == 0 {
                continue;
            }
            if !devs.iter().any(|&(d, _)| d == m.dev()) {
                devs.push((m.dev(), live.len()));
            }
            live.push((m.dev(), t));
        }
        let mut first_err = None;
        let mut synced = Vec::new();
        for &(dev, i) in &devs {
            match nix::unistd::syncfs(live[i].1.file()) {
                Ok(()) => synced.push(dev),
                Err(e) => {
                    log::error!("seal: syncfs failed ({e}); those files stay unsealed");
                    first_err.get_or_insert(io::Error::from(e));
                }
            }
        }
        let mut written = 0;
        for (dev, t) in &live {
            if !synced.contains(dev) {
                continue;
            }
            let r = match self.hook.get() {
                Some(hook) => hook(t.file(), &mut || t.write()),
                None => t.write(),
            };
            match r {
                Ok(true) => written += 1,
                Ok(false) => {}
                Err(e) => {
                    log::error!("seal: cannot write a seal: {e}");
                    first_err.get_or_insert(e);
                }
            }
        }
        if written > 0 {
            for &(dev, i) in &devs {
                if synced.contains(&dev) {
                    if let Err(e) = nix::unistd::syncfs(live[i].1.file()) {
                        first_err.get_or_insert(io::Error::from(e));
                    }
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(written),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SealQueue;
    use crate::cache::BlockCache;
    use crate::file::LogicalFile;
    use std::sync::Arc;

    /// Two queues never share tickets, and dropping one stops and joins
    /// its thread (which held the only other reference to its state).
    #[test]
    fn queues_are_separate_and_drop_joins_the_thread() {
        let dir = tempfile::tempdir().unwrap();
        let cache = BlockCache::new(4 << 20);
        let (a, b) = (SealQueue::new(), SealQueue::new());
        let file = crate::file::new_backing(dir.path(), "f");
        let f = LogicalFile::create(file, 65536, &cache, &a).unwrap();
        f.write(0, b"data").unwrap();
        f.fsync(false).unwrap();
        assert_eq!((a.pending_seals(), b.pending_seals()), (1, 0));
        assert_eq!(b.seal_pending().unwrap(), 0);
        assert_eq!(a.pending_seals(), 1);
        let state = a.seals.clone();
        // The queue, its thread and this clone; the file holds one more.
        assert_eq!(Arc::strong_count(&state), 4);
        drop(a);
        assert_eq!(Arc::strong_count(&state), 2);
        drop(f);
        // Closing after the queue is gone queues the ticket but starts no
        // thread.
        assert_eq!(Arc::strong_count(&state), 1);
        assert!(state.ctl.lock().thread.is_none());
    }
}
