//! The per-file metadata locks and the readers' waiting bytes of `-o
//! shared` (docs/SHARED.md, FORMAT.md 6): OFD byte-range locks on the
//! BACKING's lock file `.scfs.lock`, one byte per backing inode in each of
//! two ranges. A metadata change holds its file's metadata byte for
//! reading and a replacement of the file for writing ([`MetaLocks`]); an
//! offline reader waiting for a file's `LOCK_SH` holds its waiting byte
//! ([`mark_waiting`]), which a writer coming back at once asks about
//! ([`MetaLocks::readers_waiting`]).

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use super::lock::BUSY_ERRNO;

/// First byte of the metadata locks in the lock file `.scfs.lock`
/// (FORMAT.md 6): a shared daemon locks byte `META_BASE + ino % META_SPAN`
/// for backing inode `ino` (two inodes sharing a byte only wait for each
/// other a moment).
pub const META_BASE: i64 = 1 << 40;

/// How many bytes the metadata locks spread over.
pub const META_SPAN: u64 = 1 << 40;

/// The byte of the lock file that stands for backing inode `ino`.
pub fn meta_byte(ino: u64) -> i64 {
    META_BASE + (ino % META_SPAN) as i64
}

/// First byte of the readers' waiting bytes in the lock file (FORMAT.md
/// 6): an offline reader waiting for the `LOCK_SH` of backing inode `ino`
/// holds a read lock on byte `WAIT_BASE + ino % META_SPAN` meanwhile.
pub const WAIT_BASE: i64 = 1 << 41;

/// The waiting byte of backing inode `ino`.
pub fn wait_byte(ino: u64) -> i64 {
    WAIT_BASE + (ino % META_SPAN) as i64
}

/// The per-file metadata locks of `-o shared` (docs/SHARED.md "Metadata
/// changes"): OFD byte-range locks on the lock file, one byte per backing
/// inode ([`meta_byte`]). A metadata change (chmod, chown, times, xattrs)
/// holds its file's byte for reading, a host replacing the file
/// (compaction, recompression, conversion) for writing from its copy of
/// the metadata to its rename, so no change falls between the two. OFD
/// locks of one open file description never conflict with each other, so
/// every holder takes a description of its own (kept in a pool for reuse).
pub struct MetaLocks {
    open: Box<dyn Fn() -> io::Result<File> + Send + Sync>,
    idle: parking_lot::Mutex<Vec<File>>,
}

/// A held metadata lock; released on drop (its description goes back to
/// the pool). Holds nothing where the lock file cannot be locked.
pub struct MetaGuard<'a> {
    locks: &'a MetaLocks,
    held: Option<(File, i64)>,
}

/// How many idle descriptions the pool keeps.
const META_POOL: usize = 8;

impl MetaLocks {
    /// Locks whose descriptions `open` opens (the lock file, read-write).
    pub fn new(open: impl Fn() -> io::Result<File> + Send + Sync + 'static) -> MetaLocks {
        MetaLocks {
            open: Box::new(open),
            idle: parking_lot::Mutex::new(Vec::new()),
        }
    }

    /// A guard that holds nothing (where no lock is needed).
    pub fn unguarded(&self) -> MetaGuard<'_> {
        MetaGuard {
            locks: self,
            held: None,
        }
    }

    /// Locks the byte of backing inode `ino` (for writing when `write`),
    /// waiting at most `wait` (then [`BUSY_ERRNO`]). Where the lock file
    /// cannot be opened for writing or locked (a read-only lock file, a
    /// filesystem without OFD locks) nobody can take these locks: an
    /// empty guard is returned and the change goes on unguarded.
    pub fn lock(&self, ino: u64, write: bool, wait: Duration) -> io::Result<MetaGuard<'_>> {
        let unguarded = self.unguarded();
        let popped = self.idle.lock().pop();
        let file = match popped.map_or_else(|| (self.open)(), Ok) {
            Ok(f) => f,
            Err(e) => {
                log::debug!("no metadata lock (lock file: {e})");
                return Ok(unguarded);
            }
        };
        let at = meta_byte(ino);
        let kind = if write { libc::F_WRLCK } else { libc::F_RDLCK };
        match ofd_within(&file, kind, at, wait) {
            Ok(()) => Ok(MetaGuard {
                locks: self,
                held: Some((file, at)),
            }),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(
                        libc::ENOLCK | libc::EOPNOTSUPP | libc::ENOSYS | libc::EBADF | libc::EINVAL
                    )
                ) =>
            {
                log::debug!("no metadata lock: {e}");
                Ok(unguarded)
            }
            Err(e) => {
                self.put_back(file);
                Err(e)
            }
        }
    }

    /// Whether an offline reader waits for the `LOCK_SH` of backing inode
    /// `ino` (holds its waiting byte, [`wait_byte`]): F_OFD_GETLK, one
    /// question to the lock server. False where it cannot be told.
    pub fn readers_waiting(&self, ino: u64) -> bool {
        let popped = self.idle.lock().pop();
        let Ok(file) = popped.map_or_else(|| (self.open)(), Ok) else {
            return false;
        };
        let mut fl = libc::flock {
            l_type: libc::F_WRLCK as libc::c_short,
            l_whence: libc::SEEK_SET as libc::c_short,
            l_start: wait_byte(ino),
            l_len: 1,
            l_pid: 0,
        };
        // SAFETY: F_OFD_GETLK reads and fills the flock struct we pass
        // (alive and exclusively ours for the call) on a descriptor we own.
        let r = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_GETLK, &mut fl) };
        self.put_back(file);
        r == 0 && fl.l_type != libc::F_UNLCK as libc::c_short
    }

    fn put_back(&self, file: File) {
        let mut idle = self.idle.lock();
        if idle.len() < META_POOL {
            idle.push(file);
        }
    }
}

impl Drop for MetaGuard<'_> {
    fn drop(&mut self) {
        if let Some((file, at)) = self.held.take() {
            // A description whose unlock failed is closed instead, which
            // releases every lock it holds.
            if ofd_set(&file, libc::F_UNLCK, at).is_ok() {
                self.locks.put_back(file);
            }
        }
    }
}

/// F_OFD_SETLK of `kind` on byte `at` of `file`.
fn ofd_set(file: &File, kind: i32, at: i64) -> io::Result<()> {
    let fl = libc::flock {
        l_type: kind as libc::c_short,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: at,
        l_len: 1,
        l_pid: 0,
    };
    // SAFETY: F_OFD_SETLK reads the flock struct we pass (alive for the
    // call) and takes a descriptor we own; nothing else is touched.
    let r = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_OFD_SETLK, &fl) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// [`ofd_set`], retried every millisecond (a metadata lock is held for a
/// few system calls) until `wait` has passed (then [`BUSY_ERRNO`]).
fn ofd_within(file: &File, kind: i32, at: i64, wait: Duration) -> io::Result<()> {
    let start = Instant::now();
    loop {
        match ofd_set(file, kind, at) {
            Ok(()) => return Ok(()),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::EACCES)) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            Err(e) => return Err(e),
        }
        if start.elapsed() >= wait {
            return Err(io::Error::from_raw_os_error(BUSY_ERRNO));
        }
        std::thread::sleep(Duration::from_millis(1).min(wait));
    }
}

/// Marks that a reader waits for the lock of `file` (at `path`): a read
/// lock on its waiting byte ([`wait_byte`]) in the lock file of the
/// BACKING it is in (the first `.scfs.lock` above it), held until the
/// returned description is closed. None where there is none (a file
/// outside any BACKING) or it cannot be locked: the wait goes on unmarked.
pub(super) fn mark_waiting(path: &std::path::Path, file: &File) -> Option<File> {
    use std::os::unix::fs::MetadataExt;
    let ino = file.metadata().ok()?.ino();
    let full = std::fs::canonicalize(path).ok()?;
    let mut dir = full.parent();
    while let Some(d) = dir {
        let cand = d.join(crate::fs::LOCK_NAME);
        if std::fs::symlink_metadata(&cand).is_ok_and(|m| m.is_file()) {
            let lock = File::open(&cand).ok()?;
            return ofd_set(&lock, libc::F_RDLCK, wait_byte(ino))
                .ok()
                .map(|()| lock);
        }
        dir = d.parent();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file::lock::{open_read_locked, WriteLock};
    use std::os::unix::fs::MetadataExt;

    fn open(p: &std::path::Path) -> File {
        File::open(p).unwrap()
    }

    #[test]
    fn a_waiting_reader_is_seen_by_writers() {
        let d = tempfile::tempdir().unwrap();
        let lockfile = d.path().join(crate::fs::LOCK_NAME);
        std::fs::write(&lockfile, b"").unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        let p = d.path().join("sub/f");
        std::fs::write(&p, b"x").unwrap();
        let ino = std::fs::metadata(&p).unwrap().ino();
        let locks = MetaLocks::new(move || File::options().read(true).write(true).open(&lockfile));
        assert!(!locks.readers_waiting(ino));
        let held = WriteLock::take(open(&p), Duration::ZERO).unwrap();
        let p2 = p.clone();
        let reader = std::thread::spawn(move || open_read_locked(&p2, Duration::from_secs(10)));
        let t = Instant::now();
        while !locks.readers_waiting(ino) {
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "the waiting reader is not seen"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(!locks.readers_waiting(ino + 1));
        drop(held);
        let f = reader.join().unwrap().expect("read lock");
        // Granted: no longer waiting (while it still reads).
        assert!(!locks.readers_waiting(ino));
        drop(f);
    }

    #[test]
    fn metadata_locks_share_reads_and_exclude_a_replacement() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join(".scfs.lock");
        std::fs::write(&p, b"").unwrap();
        let opener =
            |p: std::path::PathBuf| move || File::options().read(true).write(true).open(&p);
        // Two daemons (hosts) over one lock file.
        let (a, b) = (
            MetaLocks::new(opener(p.clone())),
            MetaLocks::new(opener(p.clone())),
        );
        let r1 = b.lock(7, false, Duration::ZERO).unwrap();
        let r2 = b.lock(7, false, Duration::ZERO).unwrap();
        let t = Instant::now();
        let e = a.lock(7, true, Duration::from_millis(50)).err().unwrap();
        assert_eq!(e.raw_os_error(), Some(BUSY_ERRNO));
        assert!(t.elapsed() >= Duration::from_millis(50), "did not wait");
        // Another inode's byte is free.
        drop(a.lock(8, true, Duration::ZERO).unwrap());
        drop(r1);
        // One reader left (its own description): still excluded.
        assert!(a.lock(7, true, Duration::ZERO).is_err());
        drop(r2);
        let w = a.lock(7, true, Duration::ZERO).unwrap();
        assert!(b.lock(7, false, Duration::from_millis(20)).is_err());
        drop(w);
        drop(b.lock(7, false, Duration::ZERO).unwrap());
        // No lock file: changes go on unguarded.
        let none = MetaLocks::new(opener(d.path().join("missing")));
        drop(none.lock(7, true, Duration::ZERO).unwrap());
    }
}
