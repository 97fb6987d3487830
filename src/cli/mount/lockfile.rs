//! The one-daemon guard on a BACKING: the daemon's two locks and the probes
//! of `scfs mount` and `scfs umount`.
//!
//! The daemon holds `flock(LOCK_EX|LOCK_NB)` on the BACKING directory (seen
//! by local waiters and named in /proc/locks) and on the regular file
//! `BACKING/.scfs.lock` (`LOCK_NAME`, FORMAT.md 5): on a shared filesystem
//! such as CephFS through ceph-fuse a lock on a directory is kept by the
//! local kernel only, while one on a regular file is enforced across every
//! host, so the file lock keeps a second host's daemon out. The file is
//! created empty, mode 0600, when missing and never removed; where it
//! cannot be created (a read-only BACKING) the directory lock guards alone.
//! The daemon releases the file lock before the directory lock, so a local
//! waiter that got the directory lock finds the file free unless another
//! host's daemon took it.

use std::fs::File;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use log::debug;
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg, OFlag};
use nix::sys::stat::Mode;

use super::mountinfo;
pub use crate::fs::LOCK_NAME;

/// The daemon's hold on its BACKING, released on drop: the lock file first
/// (fields drop in order), then the directory.
pub struct BackingLock {
    _file: Option<Flock<File>>,
    _dir: Flock<File>,
}

/// Takes both locks without waiting (the daemon, once forked).
pub fn take(backing: &Path) -> Result<BackingLock, String> {
    let dir = File::open(backing).map_err(|e| format!("BACKING {}: {e}", backing.display()))?;
    let meta = dir.metadata().map_err(|e| e.to_string())?;
    let dir = match Flock::lock(dir, FlockArg::LockExclusiveNonblock) {
        Ok(l) => l,
        Err((_, Errno::EWOULDBLOCK)) => {
            let who = mountinfo::flock_holder(meta.dev(), meta.ino())
                .map(|p| format!(" (by process {p})"))
                .unwrap_or_default();
            return Err(format!(
                "BACKING {} is already in use by another scfs mount{who}",
                backing.display()
            ));
        }
        Err((_, e)) => return Err(format!("cannot lock BACKING {}: {e}", backing.display())),
    };
    let file = lock_file(backing)?;
    Ok(BackingLock {
        _file: file,
        _dir: dir,
    })
}

/// Checks, while the caller holds the directory lock, that no daemon
/// elsewhere holds the lock file (taken and released at once).
pub fn probe(backing: &Path) -> Result<(), String> {
    lock_file(backing).map(drop)
}

/// The path of BACKING's lock file.
pub fn path(backing: &Path) -> PathBuf {
    backing.join(LOCK_NAME)
}

/// Opens (creating it if missing) and locks BACKING's lock file; None when
/// it cannot be made (read-only BACKING, no permission): the directory lock
/// then guards alone.
fn lock_file(backing: &Path) -> Result<Option<Flock<File>>, String> {
    let p = path(backing);
    let Some(f) = open(backing, &p)? else {
        return Ok(None);
    };
    match Flock::lock(f, FlockArg::LockExclusiveNonblock) {
        Ok(l) => Ok(Some(l)),
        Err((_, Errno::EWOULDBLOCK)) => Err(format!(
            "BACKING {} is in use by another scfs daemon (perhaps on another host): \
             its lock file {} is locked",
            backing.display(),
            p.display()
        )),
        Err((_, e)) => Err(format!("cannot lock {}: {e}", p.display())),
    }
}

/// Opens the lock file read-only (flock needs no write access), creating
/// it empty with mode 0600 (owned by BACKING's owner when root made it).
fn open(backing: &Path, p: &Path) -> Result<Option<File>, String> {
    // O_NONBLOCK: a FIFO under the name must not hang the open.
    let base = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK;
    let made = nix::fcntl::open(
        p,
        base | OFlag::O_CREAT | OFlag::O_EXCL,
        Mode::S_IRUSR | Mode::S_IWUSR,
    );
    let (fd, created) = match made {
        Ok(fd) => (fd, true),
        Err(Errno::EEXIST) => match nix::fcntl::open(p, base, Mode::empty()) {
            Ok(fd) => (fd, false),
            Err(Errno::EACCES) | Err(Errno::EPERM) => return Ok(unusable(p, Errno::EACCES)),
            Err(Errno::ELOOP) => return Err(not_ours(p, "a symbolic link")),
            Err(e) => return Err(format!("cannot open {}: {}", p.display(), e.desc())),
        },
        Err(e @ (Errno::EROFS | Errno::EACCES | Errno::EPERM)) => return Ok(unusable(p, e)),
        Err(e) => return Err(format!("cannot create {}: {}", p.display(), e.desc())),
    };
    let f = File::from(fd);
    let m = f.metadata().map_err(|e| format!("{}: {e}", p.display()))?;
    if !m.is_file() {
        return Err(not_ours(p, "not a regular file"));
    }
    if m.len() != 0 {
        return Err(not_ours(p, "not empty"));
    }
    if created && crate::sys::is_root() {
        // A root mount of a user's BACKING leaves a lock file that user's
        // later mounts can still open.
        if let Ok(d) = std::fs::metadata(backing) {
            let _ = nix::unistd::fchown(f.as_fd(), Some(d.uid().into()), Some(d.gid().into()));
        }
    }
    Ok(Some(f))
}

fn unusable(p: &Path, e: Errno) -> Option<File> {
    debug!(
        "lock file {} unusable ({}): guarded by the BACKING directory lock alone",
        p.display(),
        e.desc()
    );
    None
}

fn not_ours(p: &Path, what: &str) -> String {
    format!(
        "{} is reserved for scfs's lock file but is {what}; move it out of BACKING",
        p.display()
    )
}
