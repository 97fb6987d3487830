//! What `scfs mount` refuses or waits for before it forks, and `remount`:
//! MNT already an scfs mount, a non-empty MNT (without `-o nonempty`), a
//! BACKING inside an scfs mount or overlapping another mount's BACKING, a
//! user without access to /dev/fuse, and the BACKING lock still held by
//! the previous daemon finishing its write-back after an unmount.

use std::fs::File;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use super::mountinfo::{self, MountEntry};
use super::options::parse_options;
use super::MountArgs;

/// Refuses a mount that would hide another mount or files, or let two
/// daemons (or one twice) handle the same containers.
pub fn check_placement(
    entries: &[MountEntry],
    backing: &Path,
    mnt: &Path,
    nonempty: bool,
) -> Result<(), String> {
    if let Some(e) = mountinfo::find_mount(entries, mnt) {
        if let Some(other) = mountinfo::scfs_backing(&e) {
            return Err(format!(
                "MNT {} is already an scfs mount (of BACKING {}); unmount it first: scfs umount {}",
                mnt.display(),
                other.display(),
                mnt.display()
            ));
        }
    }
    if let Some(e) = mountinfo::holding_mount(entries, backing) {
        if mountinfo::scfs_backing(e).is_some() {
            return Err(format!(
                "BACKING {} is inside the scfs mount at {}: its containers would be \
                 compressed again by that mount; use a directory outside every scfs mount",
                backing.display(),
                e.mount_point.display()
            ));
        }
    }
    for e in entries {
        let Some(other) = mountinfo::scfs_backing(e) else {
            continue;
        };
        if other != backing && (backing.starts_with(&other) || other.starts_with(backing)) {
            return Err(format!(
                "BACKING {} overlaps BACKING {} of the scfs mount at {}: two daemons \
                 would write the same files",
                backing.display(),
                other.display(),
                e.mount_point.display()
            ));
        }
    }
    let mut listing = std::fs::read_dir(mnt).map_err(|e| format!("MNT {}: {e}", mnt.display()))?;
    if !nonempty && listing.next().is_some() {
        return Err(format!(
            "MNT {} is not empty: the mount would hide its files (empty it, or pass \
             -o nonempty to mount over them)",
            mnt.display()
        ));
    }
    Ok(())
}

/// A user needs read and write access to `dev` (/dev/fuse) to mount;
/// says which and what to do when it is missing.
pub fn check_dev_fuse_access(dev: &Path) -> Result<(), String> {
    use nix::unistd::{access, AccessFlags};
    if crate::sys::is_root() {
        return Ok(());
    }
    match access(dev, AccessFlags::R_OK | AccessFlags::W_OK) {
        Ok(()) => Ok(()),
        Err(e @ (Errno::EACCES | Errno::EPERM)) => {
            let (mode, group) = std::fs::metadata(dev)
                .map(|m| {
                    let g = nix::unistd::Group::from_gid(m.gid().into())
                        .ok()
                        .flatten()
                        .map(|g| g.name)
                        .unwrap_or_else(|| m.gid().to_string());
                    (m.permissions().mode() & 0o7777, g)
                })
                .unwrap_or((0, "?".into()));
            Err(format!(
                "cannot use {}: {} (mode {mode:04o}, group {group}): a user's mount needs \
                 read and write access to it; ask root to run `chmod 0666 {}` (its usual \
                 mode) or to add you to group {group} with `chmod g+rw {}`",
                dev.display(),
                e.desc(),
                dev.display(),
                dev.display()
            ))
        }
        Err(e) => Err(format!("{}: {}", dev.display(), e.desc())),
    }
}

/// Waits (at most `limit`, saying so after a second) while another
/// process holds the BACKING lock: BACKING is mounted nowhere (checked
/// before), so that is the daemon of an unmounted mount still writing its
/// last blocks, as right after `umount MNT` or `fusermount3 -u MNT`.
/// A shared daemon (`shared`) waits only for a single-host one: other
/// shared daemons hold the locks shared, as it will.
pub fn wait_for_lock(backing: &Path, limit: Duration, shared: bool) -> Result<(), String> {
    let arg = if shared {
        FlockArg::LockSharedNonblock
    } else {
        FlockArg::LockExclusiveNonblock
    };
    let mut dir = File::open(backing).map_err(|e| format!("BACKING {}: {e}", backing.display()))?;
    let meta = dir.metadata().map_err(|e| e.to_string())?;
    let start = Instant::now();
    let mut told = false;
    loop {
        match Flock::lock(dir, arg) {
            Ok(_unlocked_on_drop) => {
                // Checked while the directory lock is held: a daemon on
                // another host holds only the lock file.
                super::lockfile::probe(backing, shared)?;
                if told {
                    eprintln!("scfs mount: the previous daemon is done");
                }
                return Ok(());
            }
            Err((d, Errno::EWOULDBLOCK)) => dir = d,
            Err((_, e)) => return Err(format!("cannot lock BACKING {}: {e}", backing.display())),
        }
        let holder = mountinfo::flock_holder(meta.dev(), meta.ino());
        let who = holder
            .map(|p| format!(" (process {p})"))
            .unwrap_or_default();
        if limit.is_zero() {
            return Err(format!(
                "BACKING {} is in use by a single-host scfs daemon{who} (-o shared needs \
                 every daemon of a BACKING shared)",
                backing.display()
            ));
        }
        if start.elapsed() > limit {
            return Err(format!(
                "BACKING {} is still in use by another scfs daemon{who} after {} s \
                 (mounted in another mount namespace, or still writing?)",
                backing.display(),
                limit.as_secs()
            ));
        }
        if !told && start.elapsed() > Duration::from_secs(1) {
            eprintln!(
                "scfs mount: waiting for the previous daemon of {}{who} to finish writing \
                 (at most {} s)...",
                backing.display(),
                limit.as_secs()
            );
            told = true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `scfs mount BACKING MNT -o remount,...` (what `mount -o remount,ro MNT`
/// runs through mount.fuse3): changes the flags of the scfs mount at MNT.
/// BACKING is not used (mount(8) passes the mount's source).
pub fn remount(args: &MountArgs) -> Result<(), String> {
    let opts = parse_options(&args.options)?;
    let mnt = mountinfo::absolute_lexical(&args.mountpoint)
        .map_err(|e| format!("{}: {e}", args.mountpoint.display()))?;
    let entries = mountinfo::read().map_err(|e| format!("/proc/self/mountinfo: {e}"))?;
    let entry = mountinfo::find_mount(&entries, &mnt)
        .filter(|e| mountinfo::scfs_backing(e).is_some())
        .ok_or_else(|| format!("cannot remount {}: not an scfs mount", mnt.display()))?;
    if !crate::sys::is_root() {
        return Err(format!("cannot remount {}: only root can", mnt.display()));
    }
    let sb_bits = libc::MS_SYNCHRONOUS | libc::MS_DIRSYNC | libc::MS_LAZYTIME;
    let current = super::flags::from_mountinfo(&entry.mount_opts)
        | (super::flags::from_mountinfo(&entry.super_opts) & sb_bits);
    let ro = opts.ro_named.then_some(opts.read_only);
    // A daemon started with `-o ro` opened BACKING read-only and runs
    // without write-back, compaction or recompression; the kernel would
    // let the mount go rw, but every change would still fail with EROFS.
    if ro == Some(false) && crate::cli::status::daemon_read_only(&mnt) == Some(true) {
        return Err(format!(
            "cannot remount {} read-write: it was mounted with -o ro, so its daemon \
             serves BACKING read-only; unmount it and mount it again without ro",
            mnt.display()
        ));
    }
    super::kmount::remount(&mnt, current, &opts.vfs, ro).map_err(|e| {
        if e.raw_os_error() == Some(libc::EBUSY) {
            format!(
                "cannot remount {} read-only: a file is open for writing in it",
                mnt.display()
            )
        } else {
            format!("cannot remount {}: {e}", mnt.display())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placement() {
        let text = "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n\
            40 1 0:50 / /m1 rw,nosuid - fuse.scfs scfs:/srv/b1 rw\n";
        let e = mountinfo::parse(text);
        let dir = tempfile::tempdir().unwrap();
        let mnt = dir.path();
        let ok = |b: &str, m: &Path| check_placement(&e, Path::new(b), m, false);
        ok("/srv/b2", mnt).unwrap();
        assert!(ok("/srv/b2", Path::new("/m1"))
            .unwrap_err()
            .contains("already an scfs mount"));
        assert!(ok("/m1/x", mnt)
            .unwrap_err()
            .contains("inside the scfs mount at /m1"));
        assert!(ok("/srv/b1/sub", mnt).unwrap_err().contains("overlaps"));
        assert!(ok("/srv", mnt).unwrap_err().contains("overlaps"));
        std::fs::write(mnt.join("f"), b"x").unwrap();
        assert!(ok("/srv/b2", mnt).unwrap_err().contains("not empty"));
        check_placement(&e, Path::new("/srv/b2"), mnt, true).unwrap();
    }
}
