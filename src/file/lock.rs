//! The per-file write lock of `-o shared` (docs/SHARED.md): while a host
//! has a file open for writing it holds `flock(LOCK_EX)` on the backing
//! file, which a shared filesystem with cluster-wide locks (CephFS, NFSv4,
//! GlusterFS) enforces across hosts and a local filesystem between two
//! daemons. Another host's open for writing waits for it up to a bound and
//! then fails with [`BUSY_ERRNO`]; reads through a mount take no lock. The
//! offline readers (`scfs verify`, `info`, `stats`) take `LOCK_SH` on each
//! file they read ([`open_read_locked`]), so they see a finished commit.
//!
//! A lock on an inode guards the file only while a name still points at
//! it: another host's compaction or recompression renames a new inode over
//! the name. After the lock is granted the descriptor is checked with
//! fstat: a link count of 0 means the inode was replaced (or removed) while
//! we waited, and [`ESTALE`](libc::ESTALE) is returned so the caller looks
//! the name up again (the kernel retries an open that failed with ESTALE
//! with a fresh lookup). Where the caller knows the parent and the name,
//! [`WriteLock::take_at`] compares the locked inode with the one the name
//! holds now (the classic lock-file-by-inode loop) and retries on its own.

use std::ffi::CStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::{Duration, Instant};

/// The errno of an open for writing that waited `lock_wait` for another
/// host's write lock in vain: EWOULDBLOCK (= EAGAIN on Linux), "Resource
/// temporarily unavailable", what flock(LOCK_NB) itself reports and what a
/// program retrying later expects; ETXTBSY would suggest an executable.
pub const BUSY_ERRNO: i32 = libc::EWOULDBLOCK;

/// How often a waiting open retries the lock (flock with LOCK_NB: a
/// blocking flock could not be bounded in time without a signal).
const POLL: Duration = Duration::from_millis(10);

/// An exclusive flock held on a backing file; released on drop (closing the
/// descriptor, which releases the lock on every host at once).
#[derive(Debug)]
pub struct WriteLock {
    file: File,
}

impl WriteLock {
    /// Locks `file` (a descriptor of the backing file, any access mode),
    /// waiting at most `wait`. Errors: [`BUSY_ERRNO`] when another holder
    /// kept it for the whole wait, ESTALE when the inode lost its last name
    /// meanwhile, or the flock/fstat error.
    pub fn take(file: File, wait: Duration) -> io::Result<WriteLock> {
        Self::take_unless_unlinked(file, wait, false)
    }

    /// [`WriteLock::take`] of a file that may have no name left because
    /// the caller removed it (`unlinked_here`: no ESTALE then).
    pub fn take_unless_unlinked(
        file: File,
        wait: Duration,
        unlinked_here: bool,
    ) -> io::Result<WriteLock> {
        let file = lock_within(file, wait)?;
        let st = crate::sys::fstat(file.as_fd())?;
        if st.st_nlink == 0 && !unlinked_here {
            return Err(io::Error::from_raw_os_error(libc::ESTALE));
        }
        Ok(WriteLock { file })
    }

    /// Takes the lock only if it is free now (idle work: a file another
    /// host is writing is skipped). None when it is held elsewhere.
    pub fn try_take(file: File) -> io::Result<Option<WriteLock>> {
        match Self::take(file, Duration::ZERO) {
            Ok(l) => Ok(Some(l)),
            Err(e) if e.raw_os_error() == Some(BUSY_ERRNO) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Locks the file `name` in the directory `dir`: opens it read-only
    /// (O_NOFOLLOW), locks it within `wait` and, when the name now holds
    /// another inode (renamed over while we waited), starts again on it.
    /// Returns the lock and the locked file's stat.
    pub fn take_at(
        dir: BorrowedFd<'_>,
        name: &CStr,
        wait: Duration,
    ) -> io::Result<(WriteLock, libc::stat)> {
        let deadline = Instant::now() + wait;
        loop {
            let f = crate::sys::openat(
                dir,
                name,
                libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK,
                0,
            )?;
            let left = deadline.saturating_duration_since(Instant::now());
            let file = lock_within(File::from(f), left)?;
            let mine = crate::sys::fstat(file.as_fd())?;
            match crate::sys::fstatat(dir, name, libc::AT_SYMLINK_NOFOLLOW) {
                Ok(now) if (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino) => {
                    return Ok((WriteLock { file }, mine));
                }
                Ok(_) => {}
                Err(e) => return Err(e),
            }
            if Instant::now() >= deadline {
                return Err(io::Error::from_raw_os_error(BUSY_ERRNO));
            }
        }
    }

    /// The locked descriptor.
    pub fn file(&self) -> &File {
        &self.file
    }
}

/// Opens the file at `path` for reading with `flock(LOCK_SH)` held on it,
/// for the offline readers (`scfs verify`, `info`, `stats`) of a BACKING
/// that daemons may serve in `-o shared` mode: a writer holds `LOCK_EX`
/// while it has the file open (and until its last commit is written), so
/// the reader sees the last commit of a finished writer, never an append
/// in progress. Waits at most `wait` (then [`BUSY_ERRNO`]); when the name
/// holds another inode once the lock is granted (a compaction renamed a new
/// copy over it meanwhile), starts again on the new one. A filesystem
/// without flock (ENOLCK, EOPNOTSUPP, ENOSYS) has nobody to wait for: the
/// file is returned unlocked. The lock goes with the returned descriptor.
pub fn open_read_locked(path: &std::path::Path, wait: Duration) -> io::Result<File> {
    let deadline = Instant::now() + wait;
    loop {
        let file = File::open(path)?;
        let left = deadline.saturating_duration_since(Instant::now());
        let file = match flock_within(file, libc::LOCK_SH, Duration::ZERO) {
            Err((f, e)) if e.raw_os_error() == Some(BUSY_ERRNO) && !left.is_zero() => {
                // Held for writing: wait in turn, and say so to a writer
                // that lets go and comes back at once (`file/shared.rs`).
                let _waiting = super::metalock::mark_waiting(path, &f);
                flock_queued(f, libc::LOCK_SH, left)
            }
            r => r,
        };
        let file = match file {
            Ok(f) => f,
            Err((f, e))
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ENOLCK | libc::EOPNOTSUPP | libc::ENOSYS)
                ) =>
            {
                return Ok(f);
            }
            Err((_, e)) => return Err(e),
        };
        let mine = crate::sys::fstat(file.as_fd())?;
        if mine.st_mode & libc::S_IFMT != libc::S_IFREG {
            return Ok(file);
        }
        let now = std::fs::metadata(path)?;
        use std::os::unix::fs::MetadataExt;
        if (now.dev(), now.ino()) == (mine.st_dev, mine.st_ino) {
            return Ok(file);
        }
        if Instant::now() >= deadline {
            return Err(io::Error::from_raw_os_error(BUSY_ERRNO));
        }
    }
}

/// flock(`how`) on `file` as a queued request, served in turn (the caller
/// has just found it held): a blocking flock in a helper thread on a
/// duplicate of the descriptor (one open file description, so the lock it
/// gets is `file`'s), waited for at most `wait` (then [`BUSY_ERRNO`]). The
/// local kernel grants it at the holder's release, where a poll can keep
/// missing the moment a writer that reopens back to back leaves the file
/// free; CephFS's MDS may serve the writer's next request first, which the
/// waiting byte the caller holds meanwhile prevents (`metalock`). After a
/// timeout the thread may stay blocked: its
/// duplicate alone then keeps the description open, so a lock granted
/// late is released as soon as the thread closes it, and the process exits
/// without waiting for it (threads are not joined at exit).
fn flock_queued(file: File, how: i32, wait: Duration) -> Result<File, (File, io::Error)> {
    let dup = match file.try_clone() {
        Ok(d) => d,
        Err(e) => return Err((file, e)),
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("flock-wait".into())
        .spawn(move || {
            let r = flock(&dup, how);
            // The waiter may be gone (timed out): then `dup` closes here.
            let _ = tx.send(r);
        });
    if let Err(e) = spawned {
        return Err((file, e));
    }
    match rx.recv_timeout(wait) {
        Ok(Ok(())) => Ok(file),
        Ok(Err(e)) => Err((file, e)),
        Err(_) => Err((file, io::Error::from_raw_os_error(BUSY_ERRNO))),
    }
}

/// flock(LOCK_EX|LOCK_NB) on `file`, retried every [`POLL`] until `wait`
/// has passed; EINTR is retried.
fn lock_within(file: File, wait: Duration) -> io::Result<File> {
    flock_within(file, libc::LOCK_EX, wait).map_err(|(_, e)| e)
}

/// flock(`how`|LOCK_NB) on `file`, retried every [`POLL`] until `wait`
/// has passed (then [`BUSY_ERRNO`]); EINTR is retried. An error gives the
/// file back with it.
fn flock_within(file: File, how: i32, wait: Duration) -> Result<File, (File, io::Error)> {
    let start = Instant::now();
    loop {
        match flock(&file, how | libc::LOCK_NB) {
            Ok(()) => return Ok(file),
            Err(e) if e.raw_os_error() == Some(libc::EWOULDBLOCK) => {}
            Err(e) => return Err((file, e)),
        }
        let spent = start.elapsed();
        if spent >= wait {
            return Err((file, io::Error::from_raw_os_error(BUSY_ERRNO)));
        }
        std::thread::sleep(POLL.min(wait - spent));
    }
}

/// flock(`how`) on `file`, retried on EINTR.
fn flock(file: &File, how: i32) -> io::Result<()> {
    loop {
        // SAFETY: flock takes a descriptor we own (alive for the call) and
        // has no memory effects.
        if unsafe { libc::flock(file.as_raw_fd(), how) } == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn open(p: &std::path::Path) -> File {
        File::open(p).unwrap()
    }

    #[test]
    fn second_holder_waits_then_gets_ewouldblock() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        std::fs::write(&p, b"x").unwrap();
        let held = WriteLock::take(open(&p), Duration::ZERO).unwrap();
        let t = Instant::now();
        let e = WriteLock::take(open(&p), Duration::from_millis(150)).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(BUSY_ERRNO));
        assert!(t.elapsed() >= Duration::from_millis(150), "did not wait");
        assert!(WriteLock::try_take(open(&p)).unwrap().is_none());
        drop(held);
        assert!(WriteLock::try_take(open(&p)).unwrap().is_some());
    }

    #[test]
    fn waiter_gets_the_lock_when_the_holder_lets_go() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        std::fs::write(&p, b"x").unwrap();
        let held = WriteLock::take(open(&p), Duration::ZERO).unwrap();
        let p2 = p.clone();
        let waiter =
            std::thread::spawn(move || WriteLock::take(open(&p2), Duration::from_secs(10)));
        std::thread::sleep(Duration::from_millis(50));
        drop(held);
        waiter
            .join()
            .unwrap()
            .expect("lock after the holder closed");
    }

    #[test]
    fn read_lock_waits_for_the_writer_and_follows_a_rename() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        std::fs::write(&p, b"old").unwrap();
        let held = WriteLock::take(open(&p), Duration::ZERO).unwrap();
        let t = Instant::now();
        let e = open_read_locked(&p, Duration::from_millis(100)).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(BUSY_ERRNO));
        assert!(t.elapsed() >= Duration::from_millis(100), "did not wait");
        // The writer compacts (a new inode renamed over the name) and lets
        // go while the reader waits: the reader ends on the new inode.
        let p2 = p.clone();
        let reader = std::thread::spawn(move || open_read_locked(&p2, Duration::from_secs(10)));
        std::thread::sleep(Duration::from_millis(50));
        let tmp = d.path().join(".scfs-compact.x");
        std::fs::write(&tmp, b"new").unwrap();
        std::fs::rename(&tmp, &p).unwrap();
        drop(held);
        let f = reader
            .join()
            .unwrap()
            .expect("read lock after the writer's close");
        assert_eq!(
            f.metadata().unwrap().ino(),
            std::fs::metadata(&p).unwrap().ino()
        );
        // Readers share: a second one gets in; a writer does not.
        let g = open_read_locked(&p, Duration::ZERO).unwrap();
        assert!(WriteLock::try_take(open(&p)).unwrap().is_none());
        drop((f, g));
        assert!(WriteLock::try_take(open(&p)).unwrap().is_some());
    }

    /// A reader waiting for a writer that takes the lock again 2 ms after
    /// each release (a writer reopening back to back) is served at the
    /// first release. With the old poll every 10 ms it mostly missed that
    /// moment and waited for a later one, or for good.
    #[test]
    fn read_lock_is_served_at_the_writers_release() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        std::fs::write(&p, b"x").unwrap();
        let mut served_first = 0;
        for _ in 0..5 {
            let held = WriteLock::take(open(&p), Duration::ZERO).unwrap();
            let p2 = p.clone();
            let reader = std::thread::spawn(move || {
                let f = open_read_locked(&p2, Duration::from_secs(10));
                (f, Instant::now())
            });
            // Halfway between two of an old-style poll's tries.
            std::thread::sleep(Duration::from_millis(65));
            drop(held);
            let released = Instant::now();
            std::thread::sleep(Duration::from_millis(2));
            // The writer again, for 300 ms if it gets in.
            let again = WriteLock::try_take(open(&p)).unwrap();
            std::thread::sleep(Duration::from_millis(300));
            drop(again);
            let (f, at) = reader.join().unwrap();
            drop(f.expect("read lock"));
            if at.duration_since(released) < Duration::from_millis(150) {
                served_first += 1;
            }
        }
        assert!(
            served_first >= 3,
            "served at the first release {served_first} of 5 times"
        );
    }

    /// A reader waiting for the lock says so on its waiting byte of the
    /// BACKING's lock file, which a writer coming back asks about.
    #[test]
    fn replaced_inode_is_estale_and_take_at_follows_the_name() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        std::fs::write(&p, b"old").unwrap();
        let old = open(&p);
        // Another host compacts: a new inode renamed over the name.
        let tmp = d.path().join(".scfs-compact.x");
        std::fs::write(&tmp, b"new").unwrap();
        std::fs::rename(&tmp, &p).unwrap();
        let e = WriteLock::take(old, Duration::ZERO).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ESTALE));
        let dir = File::open(d.path()).unwrap();
        let (l, st) = WriteLock::take_at(dir.as_fd(), c"f", Duration::ZERO).unwrap();
        assert_eq!(st.st_ino, std::fs::metadata(&p).unwrap().ino());
        assert_eq!(l.file().metadata().unwrap().ino(), st.st_ino);
        // Held: a second take_at waits and gives up.
        let e = WriteLock::take_at(dir.as_fd(), c"f", Duration::from_millis(30)).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(BUSY_ERRNO));
        // A missing name is ENOENT, not a wait.
        let e = WriteLock::take_at(dir.as_fd(), c"gone", Duration::from_secs(5)).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
    }
}
