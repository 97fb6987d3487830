//! The daemon guard on a BACKING: the daemon's locks and the probes of
//! `scfs mount` and `scfs umount` (FORMAT.md 6 specifies the protocol).
//!
//! A single-host daemon holds `flock(LOCK_EX|LOCK_NB)` on the BACKING
//! directory (seen by local waiters and named in /proc/locks) and on the
//! regular file `BACKING/.scfs.lock` (`LOCK_NAME`); a shared daemon
//! (`-o shared`, one per host) holds `LOCK_SH` on both, so shared daemons
//! coexist and any mix with a single-host one is refused, in either order.
//! On a shared filesystem such as CephFS through ceph-fuse a lock on a
//! directory is kept by the local kernel only, while one on a regular file
//! is enforced across every host, so the file lock is what keeps another
//! host's daemon out. Every daemon also holds an OFD read lock on byte 1 of
//! the lock file (`OFFLINE_BYTE`), which offline tools (`scfs convert`)
//! take for writing: a tool excludes daemons of both kinds on every host.
//! The file is created empty, mode 0600, when missing and never removed;
//! where it cannot be created (a read-only BACKING) the directory lock
//! guards alone. The daemon releases the file lock before the directory
//! lock, so a local waiter that got the directory lock finds the file free
//! unless another host's daemon took it.
//!
//! The daemon also holds `LOCK_EX` on its mount point's own directory (the
//! one the mount covers; `MntLock`), which `scfs umount` waits for after
//! unmounting: with several shared daemons on one host the BACKING locks
//! stay held by the others, so they cannot tell when this one is done.

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

/// The byte of the lock file offline tools lock for writing (OFD lock)
/// and every daemon for reading.
pub const OFFLINE_BYTE: i64 = 1;

/// The daemon's hold on its BACKING, released on drop: the lock file first
/// (fields drop in order), then the directory.
pub struct BackingLock {
    _file: Option<Flock<File>>,
    _dir: Flock<File>,
}

/// The two kinds of daemon: `Exclusive` (single-host, the default) and
/// `Shared` (`-o shared`).
fn arg(shared: bool) -> FlockArg {
    if shared {
        FlockArg::LockSharedNonblock
    } else {
        FlockArg::LockExclusiveNonblock
    }
}

/// Takes the locks without waiting (the daemon, once forked).
pub fn take(backing: &Path, shared: bool) -> Result<BackingLock, String> {
    let dir = File::open(backing).map_err(|e| format!("BACKING {}: {e}", backing.display()))?;
    let meta = dir.metadata().map_err(|e| e.to_string())?;
    let dir = match Flock::lock(dir, arg(shared)) {
        Ok(l) => l,
        Err((_, Errno::EWOULDBLOCK)) => {
            let who = mountinfo::flock_holder(meta.dev(), meta.ino())
                .map(|p| format!(" (by process {p})"))
                .unwrap_or_default();
            let kind = if shared {
                "a single-host scfs mount (-o shared needs every daemon of it shared)"
            } else {
                "another scfs mount"
            };
            return Err(format!(
                "BACKING {} is already in use by {kind}{who}",
                backing.display()
            ));
        }
        Err((_, e)) => return Err(format!("cannot lock BACKING {}: {e}", backing.display())),
    };
    let file = lock_file(backing, shared, true)?;
    Ok(BackingLock {
        _file: file,
        _dir: dir,
    })
}

/// Checks, while the caller holds the directory lock, that no daemon
/// elsewhere holds the lock file in a way a daemon of this kind (`shared`)
/// conflicts with (taken and released at once).
pub fn probe(backing: &Path, shared: bool) -> Result<(), String> {
    lock_file(backing, shared, false).map(drop)
}

/// An OFD byte-range lock on byte `byte` of `f` (F_OFD_SETLK: owned by the
/// open file description, released when it is closed; CephFS enforces it
/// across clients), for writing (`exclusive`, needs `f` open for writing)
/// or reading. Ok(false) when a conflicting lock is held.
pub fn ofd_lock(f: &File, byte: i64, exclusive: bool) -> std::io::Result<bool> {
    let fl = libc::flock {
        l_type: if exclusive {
            libc::F_WRLCK
        } else {
            libc::F_RDLCK
        } as libc::c_short,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: byte,
        l_len: 1,
        l_pid: 0,
    };
    match nix::fcntl::fcntl(f, nix::fcntl::FcntlArg::F_OFD_SETLK(&fl)) {
        Ok(_) => Ok(true),
        Err(Errno::EAGAIN) | Err(Errno::EACCES) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The daemon's hold on the directory its mount covers (see the module
/// documentation); None where it cannot be locked.
pub struct MntLock(Option<Flock<File>>);

impl MntLock {
    /// Locks `mnt` (before the mount covers it).
    pub fn take(mnt: &Path) -> MntLock {
        let l = File::open(mnt)
            .ok()
            .and_then(|f| Flock::lock(f, FlockArg::LockExclusiveNonblock).ok());
        MntLock(l)
    }

    /// Whether `mnt` (unmounted now) is free of a daemon's lock; None when
    /// it cannot be told (not openable, flock unsupported).
    pub fn free(mnt: &Path) -> Option<bool> {
        let f = File::open(mnt).ok()?;
        match Flock::lock(f, FlockArg::LockExclusiveNonblock) {
            Ok(_) => Some(true),
            Err((_, Errno::EWOULDBLOCK)) => Some(false),
            Err(_) => None,
        }
    }

    /// Whether a lock is held.
    pub fn held(&self) -> bool {
        self.0.is_some()
    }
}

/// The path of BACKING's lock file.
pub fn path(backing: &Path) -> PathBuf {
    backing.join(LOCK_NAME)
}

/// Opens (creating it if missing) and locks BACKING's lock file (with
/// `offline`, also its byte 1 for reading: the daemon); None when it
/// cannot be made (read-only BACKING, no permission): the directory lock
/// then guards alone.
fn lock_file(backing: &Path, shared: bool, offline: bool) -> Result<Option<Flock<File>>, String> {
    let p = path(backing);
    let Some(f) = open(backing, &p)? else {
        return Ok(None);
    };
    let l = match Flock::lock(f, arg(shared)) {
        Ok(l) => l,
        Err((_, Errno::EWOULDBLOCK)) => {
            let what = if shared {
                "a single-host scfs daemon (perhaps on another host; -o shared needs \
                 every daemon of a BACKING shared)"
            } else {
                "another scfs daemon (perhaps on another host)"
            };
            return Err(format!(
                "BACKING {} is in use by {what}: its lock file {} is locked",
                backing.display(),
                p.display()
            ));
        }
        Err((_, e)) => return Err(format!("cannot lock {}: {e}", p.display())),
    };
    if offline {
        match ofd_lock(&l, OFFLINE_BYTE, false) {
            Ok(true) => {}
            Ok(false) => {
                return Err(format!(
                    "BACKING {} is being worked on by an offline tool (scfs convert, perhaps \
                     on another host): byte {OFFLINE_BYTE} of its lock file {} is locked",
                    backing.display(),
                    p.display()
                ))
            }
            Err(e) => debug!("{}: no OFD lock ({e}): flock guards alone", p.display()),
        }
    }
    Ok(Some(l))
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
