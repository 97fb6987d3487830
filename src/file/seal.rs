//! Sealing the containers of closed and fsynced files (FORMAT.md 3.6).
//!
//! A seal may only name a commit that is on stable storage, and syncing
//! every file as it is closed would make every close(2) wait for the disk.
//! So a file's close (and its fsync) leaves a [`SealTicket`] here instead,
//! and [`seal_pending`] syncs each file system the tickets live on once
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
//! file deleted through the mount is dropped at once ([`forget_deleted`],
//! so `rm` frees the space as on a local filesystem), and tickets of files
//! deleted otherwise within a few seconds (a background thread checks
//! their link counts), or their disk space would stay in use until
//! unmount.

use crate::container::SealTicket;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Most containers waiting for their seal.
pub const MAX_TICKETS: usize = 1024;

/// How often tickets of deleted files are looked for.
const PRUNE_EVERY: Duration = Duration::from_secs(2);

/// The background sealing waits for this long without a new ticket.
pub const QUIET: Duration = Duration::from_secs(10);

/// The queued tickets, with their file's device and inode numbers.
static TICKETS: Mutex<VecDeque<(u64, u64, SealTicket)>> = Mutex::new(VecDeque::new());
/// One sealing round at a time: an unmount waits for a background round
/// that already took its tickets.
static ROUND: Mutex<()> = Mutex::new(());
/// Milliseconds since [`epoch`] of the last ticket.
static LAST_TICKET_MS: AtomicU64 = AtomicU64::new(0);

fn epoch() -> Instant {
    static E: OnceLock<Instant> = OnceLock::new();
    *E.get_or_init(Instant::now)
}

fn now_ms() -> u64 {
    epoch().elapsed().as_millis() as u64
}

/// Queues the seal of a container's newest commit, to be written by the
/// next [`seal_pending`].
pub(crate) fn enqueue(t: SealTicket) {
    static PRUNER: OnceLock<()> = OnceLock::new();
    PRUNER.get_or_init(|| {
        let spawned = std::thread::Builder::new()
            .name("scfs-seal".into())
            .spawn(|| loop {
                std::thread::sleep(PRUNE_EVERY);
                background_round();
            });
        if let Err(e) = spawned {
            log::warn!(
                "seal: no pruning thread ({e}); deleted files keep their space until unmount"
            );
        }
    });
    LAST_TICKET_MS.store(now_ms(), Ordering::Relaxed);
    let (dev, ino) = match t.file().metadata() {
        Ok(m) => (m.dev(), m.ino()),
        Err(_) => return,
    };
    let mut q = TICKETS.lock();
    q.retain(|o| o.2.salt() != t.salt());
    if q.len() >= max_tickets() {
        q.pop_front();
    }
    q.push_back((dev, ino, t));
}

/// True when some ticket is waiting (so a caller can skip looking up what
/// it deletes).
pub(crate) fn has_tickets() -> bool {
    !TICKETS.lock().is_empty()
}

/// A file (device `dev`, inode `ino`) lost a name: if it has none left,
/// its ticket is dropped now, closing the descriptor that kept its disk
/// space in use.
pub(crate) fn forget_deleted(dev: u64, ino: u64) {
    let mut q = TICKETS.lock();
    if let Some(i) = q.iter().position(|o| o.0 == dev && o.1 == ino) {
        if q[i].2.file().metadata().is_ok_and(|m| m.nlink() == 0) {
            q.remove(i);
        }
    }
}

/// [`MAX_TICKETS`], or fewer when the process may open few files: each
/// ticket holds a descriptor, and they must not starve the mount's opens.
fn max_tickets() -> usize {
    static MAX: OnceLock<usize> = OnceLock::new();
    *MAX.get_or_init(|| {
        let mut rl = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit(2) writes one rlimit into `rl`, a live local of
        // exactly that type, and keeps no pointer to it.
        let soft = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } == 0 {
            rl.rlim_cur
        } else {
            1024
        };
        usize::try_from(soft / 8)
            .unwrap_or(MAX_TICKETS)
            .clamp(16, MAX_TICKETS)
    })
}

/// What the background thread does every [`PRUNE_EVERY`]: drop the
/// tickets of files that no longer have a name, and seal the rest once
/// no ticket came for [`QUIET`].
fn background_round() {
    {
        let mut q = TICKETS.lock();
        if q.is_empty() {
            return;
        }
        q.retain(|t| t.2.file().metadata().is_ok_and(|m| m.nlink() > 0));
    }
    let quiet = now_ms().saturating_sub(LAST_TICKET_MS.load(Ordering::Relaxed));
    if quiet >= QUIET.as_millis() as u64 {
        if let Err(e) = seal_pending() {
            log::warn!("seal: background sealing: {e}");
        }
    }
}

/// Number of tickets waiting (for tests).
pub fn pending_seals() -> usize {
    TICKETS.lock().len()
}

/// Syncs the file systems of every queued ticket, writes their seals, and
/// syncs again. Returns the number of seals written. Tickets whose file
/// system could not be synced are dropped unsealed (their commits may not
/// be on stable storage).
pub fn seal_pending() -> io::Result<usize> {
    let _round = ROUND.lock();
    let tickets = std::mem::take(&mut *TICKETS.lock());
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
        match t.write() {
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
