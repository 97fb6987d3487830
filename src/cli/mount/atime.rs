//! Access times as the scfs mount's flags say (relatime by default,
//! strictatime, noatime, nodiratime), also after `mount -o remount,...`.
//!
//! The kernel never updates atimes on a FUSE inode itself (it marks them
//! S_NOATIME and only drops its cached atime after a read): the daemon
//! does, and it stores them in BACKING by reading the backing file with
//! O_NOATIME cleared (setting the atime explicitly would also change the
//! ctime, which a read must not). The backing filesystem then applies the
//! atime rules of the mount the daemon reads through. So that these are
//! the scfs mount's rules and not those of BACKING's filesystem, a root
//! daemon reads through its own detached copy of the BACKING mount
//! (open_tree(2) OPEN_TREE_CLONE, seen by no one else) whose atime flags
//! it sets to the scfs mount's (mount_setattr(2)); without that (a user's
//! daemon) BACKING's own mount options bound what is stored.
//!
//! A thread watches /proc/self/mountinfo (pollable) and follows remounts:
//! the policy of the open path ([`AtimePolicy`]) and the flags of the copy.
//! While the scfs mount is read-only no atime is changed.

use std::ffi::CString;
use std::io;
use std::io::{Read, Seek};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use libc::c_ulong;

use super::flags::{self, Atime};
use super::mountinfo::{self, MountEntry};
use crate::fs::AtimePolicy;

const MOUNT_ATTR_NOATIME: u64 = 0x10;
const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
const MOUNT_ATTR_ATIME_MASK: u64 = 0x70;
const MOUNT_ATTR_NODIRATIME: u64 = 0x80;

/// `struct mount_attr` of mount_setattr(2).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// The daemon's private, detached copy of the BACKING mount.
pub struct BackingView {
    fd: OwnedFd,
}

impl BackingView {
    /// Clones the mount tree at `backing` (root only).
    pub fn open(backing: &Path) -> io::Result<BackingView> {
        let c = CString::new(backing.as_os_str().as_bytes())?;
        let flags = libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC | libc::AT_RECURSIVE as u32;
        // SAFETY: open_tree(2) reads the NUL-terminated path and returns a
        // new descriptor or -1; no memory of ours is written.
        let fd = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, c.as_ptr(), flags) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a fresh descriptor owned by nobody else.
        Ok(BackingView {
            fd: unsafe { OwnedFd::from_raw_fd(fd as i32) },
        })
    }

    /// The path through which the daemon opens BACKING.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.fd.as_raw_fd()))
    }

    /// Sets the copy's atime flags.
    pub fn set(&self, policy: u8, nodiratime: bool) -> io::Result<()> {
        let atime = match policy {
            AtimePolicy::NEVER => MOUNT_ATTR_NOATIME,
            AtimePolicy::STRICT => MOUNT_ATTR_STRICTATIME,
            _ => 0, // relatime
        };
        let attr = MountAttr {
            attr_set: atime | if nodiratime { MOUNT_ATTR_NODIRATIME } else { 0 },
            attr_clr: MOUNT_ATTR_ATIME_MASK | if nodiratime { 0 } else { MOUNT_ATTR_NODIRATIME },
            propagation: 0,
            userns_fd: 0,
        };
        // SAFETY: mount_setattr(2) reads `attr` (a live struct of the size
        // passed) and the empty path; it writes no memory of ours.
        let r = unsafe {
            libc::syscall(
                libc::SYS_mount_setattr,
                self.fd.as_fd().as_raw_fd(),
                c"".as_ptr(),
                libc::AT_EMPTY_PATH | libc::AT_RECURSIVE,
                &attr as *const MountAttr,
                std::mem::size_of::<MountAttr>(),
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// The policy for `flags` (`MS_*` bits of a mount; `MS_RDONLY` included).
pub fn policy_of(flags: c_ulong) -> u8 {
    if flags & libc::MS_RDONLY != 0 {
        return AtimePolicy::NEVER;
    }
    match flags::atime_policy(flags) {
        Atime::Never => AtimePolicy::NEVER,
        Atime::Relative => AtimePolicy::RELATIVE,
        Atime::Strict => AtimePolicy::STRICT,
    }
}

/// The policy and nodiratime of a mountinfo entry.
fn entry_policy(e: &MountEntry) -> (u8, bool) {
    let mut bits = flags::from_mountinfo(&e.mount_opts);
    if e.super_opts.split(',').any(|o| o == "ro") {
        bits |= libc::MS_RDONLY;
    }
    (policy_of(bits), bits & libc::MS_NODIRATIME != 0)
}

/// Prepares the daemon's access to BACKING for `flags` (the new mount's):
/// the path to open it by and the policy; then follows remounts.
pub fn setup(backing: &Path, flags: c_ulong) -> (PathBuf, AtimePolicy) {
    let policy = AtimePolicy::new(policy_of(flags));
    let nodiratime = flags & libc::MS_NODIRATIME != 0;
    let view = if crate::sys::is_root() {
        match BackingView::open(backing).and_then(|v| v.set(policy.get(), nodiratime).map(|_| v)) {
            Ok(v) => Some(v),
            Err(e) => {
                log::info!(
                    "no private mount of BACKING ({e}): access times also follow the \
                     mount options of BACKING's filesystem"
                );
                None
            }
        }
    } else {
        None
    };
    let path = view
        .as_ref()
        .map(BackingView::path)
        .unwrap_or_else(|| backing.to_path_buf());
    let p = policy.clone();
    let backing = backing.to_path_buf();
    let r = std::thread::Builder::new()
        .name("scfs-mountinfo".into())
        .spawn(move || watch(&backing, &p, view.as_ref(), (p.get(), nodiratime)));
    if let Err(e) = r {
        log::error!("cannot start the mountinfo thread (remounts are not followed): {e}");
    }
    (path, policy)
}

/// Follows the scfs mount of `backing` in mountinfo for the daemon's life.
fn watch(backing: &Path, policy: &AtimePolicy, view: Option<&BackingView>, mut last: (u8, bool)) {
    let Ok(mut f) = std::fs::File::open("/proc/self/mountinfo") else {
        log::error!("cannot open /proc/self/mountinfo: remounts are not followed");
        return;
    };
    let mut text = String::new();
    loop {
        text.clear();
        if f.rewind().is_err() || f.read_to_string(&mut text).is_err() {
            return;
        }
        let entries = mountinfo::parse(&text);
        let entry = mountinfo::mounted_at(&entries, backing)
            .and_then(|at| mountinfo::find_mount(&entries, &at));
        if let Some(e) = entry {
            let now = entry_policy(&e);
            if now != last {
                log::info!(
                    "mount options now {}: access times {}{}",
                    e.mount_opts,
                    ["never updated", "relatime", "strictatime"][now.0 as usize],
                    if now.1 { ", not for directories" } else { "" }
                );
                policy.set(now.0);
                if let Some(v) = view {
                    if let Err(e) = v.set(now.0, now.1) {
                        log::warn!("private mount of BACKING: cannot set atime flags: {e}");
                    }
                }
                last = now;
            }
        }
        // The kernel flags a change of the mount table as POLLPRI.
        let mut fds = [nix::poll::PollFd::new(
            f.as_fd(),
            nix::poll::PollFlags::POLLPRI,
        )];
        let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(5000u16));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies() {
        assert_eq!(policy_of(libc::MS_RELATIME), AtimePolicy::RELATIVE);
        assert_eq!(policy_of(0), AtimePolicy::RELATIVE);
        assert_eq!(policy_of(libc::MS_STRICTATIME), AtimePolicy::STRICT);
        assert_eq!(policy_of(libc::MS_NOATIME), AtimePolicy::NEVER);
        assert_eq!(
            policy_of(libc::MS_STRICTATIME | libc::MS_RDONLY),
            AtimePolicy::NEVER
        );
        let e = mountinfo::parse(
            "46 27 0:40 / /m rw,nosuid,nodiratime - fuse.scfs scfs:/b rw,user_id=0\n",
        );
        assert_eq!(entry_policy(&e[0]), (AtimePolicy::STRICT, true));
        let e = mountinfo::parse("46 27 0:40 / /m rw,relatime - fuse.scfs scfs:/b ro\n");
        assert_eq!(entry_policy(&e[0]), (AtimePolicy::NEVER, false));
    }
}
