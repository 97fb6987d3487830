//! `-o shared` in the open-file table (docs/SHARED.md): the per-file write
//! lock a host holds while it has a file open for writing, and the checks
//! of close-to-open consistency at every open. A table of a single-host
//! mount (no `lock_wait`) skips all of it (one test per open and close).
//!
//! Per node (`OpenEntry`): `writers` counts this host's open handles that
//! may write; the first one takes [`WriteLock`] on the backing file
//! (waiting up to `lock_wait`, then EWOULDBLOCK), the last one commits
//! everything the host holds and lets it go. `shared_gate` serializes the
//! two so two local opens never race for the lock against each other.
//! Compaction, sealing and recompression run only under the lock
//! (`holds_write_lock`).

use std::io;
use std::time::{Duration, Instant};

use super::content::{self, stamp};
use super::lock::WriteLock;
use super::table::{Node, OpenFiles};

impl OpenFiles {
    /// Whether this daemon may change `node`'s backing file behind the
    /// user's writes (compact, seal, recompress): always on a single-host
    /// mount, only while it holds the file's write lock on a shared one.
    pub fn holds_write_lock<N: Node>(&self, node: &N) -> bool {
        self.lock_wait.is_none() || N::entry(&mut node.lock()).write_lock.is_some()
    }

    /// Before an open that may write `node`: takes its write lock unless
    /// this host holds it already, and counts one writer. Then brings an
    /// already open content up to the newest commit (readers of this host
    /// may have opened it before another host's last commit). Errors:
    /// EWOULDBLOCK after `lock_wait`, ESTALE when another host replaced the
    /// inode (the kernel then looks the name up again and retries).
    pub fn writer_begin<N: Node>(&self, node: &N) -> io::Result<()> {
        let Some(wait) = self.lock_wait.filter(|_| !self.read_only) else {
            return Ok(());
        };
        let gate = N::entry(&mut node.lock()).shared_gate.clone();
        let _one_at_a_time = gate.lock();
        {
            let mut s = node.lock();
            let e = N::entry(&mut s);
            if e.writers > 0 {
                e.writers += 1;
                return Ok(());
            }
        }
        let released = N::entry(&mut node.lock()).lock_released;
        if released.is_some_and(|t| t.elapsed() < YIELD_WINDOW) {
            yield_to_readers(node, wait);
        }
        let file = node.reopen(libc::O_RDONLY, true)?;
        let lock = WriteLock::take_unless_unlinked(file, wait, node.unlinked_here())?;
        let open = {
            let mut s = node.lock();
            let e = N::entry(&mut s);
            e.write_lock = Some(lock);
            e.writers = 1;
            e.content.clone().or_else(|| e.closing.upgrade())
        };
        if let Some(c) = open {
            let refreshed = if c.is_container() {
                c.refresh()
            } else {
                // Open here as a plain (empty) file while another host
                // made it a container: writing it as plain bytes would
                // damage the container. Close it on this host first.
                match content::is_container(&node.reopen(libc::O_RDONLY, true)?) {
                    Ok(true) => Err(io::Error::from_raw_os_error(libc::EBUSY)),
                    _ => Ok(false),
                }
            };
            if let Err(err) = refreshed {
                let mut s = node.lock();
                let e = N::entry(&mut s);
                e.writers = 0;
                e.write_lock = None;
                return Err(err);
            }
        }
        Ok(())
    }

    /// After a writer's handle is released (or its open failed): counts one
    /// writer less; the last one commits what this host holds of the file
    /// and then lets the lock go, so the next host's open finds it all.
    pub fn writer_end<N: Node>(&self, node: &N) {
        if self.lock_wait.is_none() || self.read_only {
            return;
        }
        let gate = N::entry(&mut node.lock()).shared_gate.clone();
        let _one_at_a_time = gate.lock();
        let (lock, open) = {
            let mut s = node.lock();
            let e = N::entry(&mut s);
            e.writers = e.writers.saturating_sub(1);
            if e.writers > 0 {
                return;
            }
            (e.write_lock.take(), e.content.clone())
        };
        if let Some(c) = open {
            if let Err(err) = c.flush() {
                log::error!(
                    "ino {}: commit before the write lock goes: {err}",
                    node.id()
                );
            }
        }
        let held = lock.is_some();
        drop(lock);
        if held {
            N::entry(&mut node.lock()).lock_released = Some(Instant::now());
        }
    }

    /// At every open on a shared mount: an inode that lost its last name
    /// (another host renamed a compacted or recompressed copy over it) is
    /// ESTALE, so the kernel looks the name up again; an open content is
    /// brought up to another host's newest commit unless this host is the
    /// writer. Returns whether the attributes the kernel cached are stale
    /// (the backing file changed since: the size another host wrote); the
    /// cached logical size is dropped then.
    pub fn open_check<N: Node>(&self, node: &N) -> io::Result<bool> {
        if self.lock_wait.is_none() {
            return Ok(false);
        }
        let st = node.fstat()?;
        let (open, writer, cached) = {
            let mut s = node.lock();
            let e = N::entry(&mut s);
            (
                e.content.clone().or_else(|| e.closing.upgrade()),
                e.write_lock.is_some(),
                e.cached_stamp,
            )
        };
        if st.st_nlink == 0 && !node.unlinked_here() {
            // Handles open before keep reading the old inode; a new open
            // goes to whatever the name holds now. (A file this host
            // unlinked while open is served on: a reopen through
            // /proc/PID/fd, as on a single-host mount.)
            return Err(io::Error::from_raw_os_error(libc::ESTALE));
        }
        if writer {
            return Ok(false);
        }
        let refreshed = match &open {
            Some(c) => c.refresh()?,
            None => false,
        };
        if refreshed || cached != Some(stamp(&st)) {
            N::entry(&mut node.lock()).size_cache = None;
            return Ok(true);
        }
        Ok(false)
    }
}

/// How soon after letting a file's write lock go a host that takes it
/// again first lets waiting offline readers in: a lock server need not
/// serve a waiting `LOCK_SH` before a new `LOCK_EX` request (CephFS's MDS
/// does not), so a writer reopening back to back would starve them.
const YIELD_WINDOW: Duration = Duration::from_secs(1);

/// Waits (every 10 ms, up to `wait`) while an offline reader is waiting
/// for `node`'s lock (it holds its waiting byte until its `LOCK_SH` is
/// granted: then the open goes on and waits for the reader's lock).
fn yield_to_readers<N: Node>(node: &N, wait: Duration) {
    let start = Instant::now();
    while node.readers_waiting() && start.elapsed() < wait {
        std::thread::sleep(Duration::from_millis(10));
    }
}
