//! The kernel side of a mount made by root: open /dev/fuse and call
//! mount(2) ourselves, with type `fuse.scfs` (fuser's own mount(2) always
//! says `fuse`, so `findmnt -t fuse.scfs`, `df -t fuse.scfs` and
//! `umount -a -t fuse.scfs` would not find root's mounts) and with every
//! generic flag (relatime, strictatime, lazytime, nodiratime, ... which
//! fuser cannot express). Users' mounts go through fuser and fusermount3,
//! which already mount as `fuse.scfs`. Also `remount` (mount(2) with
//! MS_REMOUNT) and the unmount of a mount made here.

use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use fuser::{Config, Filesystem, MountOption, Session, SessionACL, SessionUnmounter};
use libc::c_ulong;
use nix::mount::MsFlags;

use super::flags::VfsFlags;

/// How the mount of a running session is undone.
pub enum Unmounter {
    /// fuser mounted (through fusermount3): its unmounter.
    Fuser(SessionUnmounter),
    /// We mounted with mount(2): umount(2) of this path.
    Own(PathBuf),
}

impl Unmounter {
    /// Unmounts (not lazily: a busy mount is an error).
    pub fn unmount(&mut self) -> io::Result<()> {
        match self {
            Unmounter::Fuser(u) => u.unmount(),
            Unmounter::Own(mnt) => nix::mount::umount(mnt.as_path()).map_err(io::Error::from),
        }
    }
}

/// The `MS_*` flags, fs type, source and data string of `cfg`'s options.
fn kernel_args(cfg: &Config, fuse_fd: i32, root_mode: u32) -> (c_ulong, String, String, String) {
    let mut vfs = VfsFlags::default();
    let mut ro = false;
    let mut source = "scfs".to_string();
    let mut fstype = "fuse".to_string();
    let mut data = format!(
        "fd={fuse_fd},rootmode={:o},user_id={},group_id={}",
        root_mode & libc::S_IFMT,
        nix::unistd::getuid(),
        nix::unistd::getgid()
    );
    for o in &cfg.mount_options {
        let name = match o {
            MountOption::FSName(n) => {
                source = n.clone();
                continue;
            }
            MountOption::Subtype(t) => {
                fstype = format!("fuse.{t}");
                continue;
            }
            MountOption::RO => {
                ro = true;
                continue;
            }
            MountOption::RW => {
                ro = false;
                continue;
            }
            MountOption::DefaultPermissions => "default_permissions",
            MountOption::AutoUnmount => continue,
            MountOption::Dev => "dev",
            MountOption::NoDev => "nodev",
            MountOption::Suid => "suid",
            MountOption::NoSuid => "nosuid",
            MountOption::Exec => "exec",
            MountOption::NoExec => "noexec",
            MountOption::Atime => "atime",
            MountOption::NoAtime => "noatime",
            MountOption::DirSync => "dirsync",
            MountOption::Sync => "sync",
            MountOption::Async => "async",
            MountOption::CUSTOM(c) => c.as_str(),
        };
        if !vfs.apply(name) {
            // A filesystem option for the kernel (default_permissions, ...).
            data.push(',');
            data.push_str(name);
        }
    }
    if cfg.acl != SessionACL::Owner {
        data.push_str(",allow_other");
    }
    let mut bits = vfs.for_new_mount();
    if ro {
        bits |= libc::MS_RDONLY;
    }
    (bits, fstype, source, data)
}

/// Mounts `cfg` at `mnt` with mount(2) when we may (root), returning the
/// /dev/fuse descriptor; None when mount(2) is not allowed (EPERM), for
/// fusermount3 to do it instead.
fn mount_fuse(mnt: &Path, cfg: &Config) -> io::Result<Option<OwnedFd>> {
    if !crate::sys::is_root() {
        return Ok(None);
    }
    let root_mode = std::fs::metadata(mnt)?.mode();
    let dev = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open("/dev/fuse")
        .map_err(|e| io::Error::new(e.kind(), format!("/dev/fuse: {e}")))?;
    let fd = OwnedFd::from(dev);
    let (bits, fstype, source, data) = kernel_args(cfg, fd.as_raw_fd(), root_mode);
    match nix::mount::mount(
        Some(source.as_str()),
        mnt,
        Some(fstype.as_str()),
        MsFlags::from_bits_retain(bits),
        Some(data.as_str()),
    ) {
        Ok(()) => Ok(Some(fd)),
        Err(nix::errno::Errno::EPERM) => Ok(None),
        Err(e) => Err(io::Error::from(e)),
    }
}

/// Mounts `fs` at `mnt` and starts its session (the FUSE handshake done).
pub fn mount<F: Filesystem>(
    fs: F,
    mnt: &Path,
    cfg: &Config,
) -> io::Result<(Session<F>, Unmounter)> {
    match mount_fuse(mnt, cfg)? {
        Some(fd) => match Session::from_fd(fs, fd, cfg.acl, cfg.clone()) {
            Ok(s) => Ok((s, Unmounter::Own(mnt.to_path_buf()))),
            Err(e) => {
                let _ = nix::mount::umount2(mnt, nix::mount::MntFlags::MNT_DETACH);
                Err(e)
            }
        },
        None => {
            let mut s = Session::new(fs, mnt, cfg)?;
            let u = s.unmount_callable();
            Ok((s, Unmounter::Fuser(u)))
        }
    }
}

/// Changes the flags of the mount at `mnt` (mount(2) with MS_REMOUNT):
/// `current` are its flags from mountinfo, `vfs` and `ro` the changes.
pub fn remount(mnt: &Path, current: c_ulong, vfs: &VfsFlags, ro: Option<bool>) -> io::Result<()> {
    let mut bits = vfs.for_remount(current & !libc::MS_RDONLY);
    if ro.unwrap_or(current & libc::MS_RDONLY != 0) {
        bits |= libc::MS_RDONLY;
    }
    nix::mount::mount(
        None::<&str>,
        mnt,
        None::<&str>,
        MsFlags::from_bits_retain(bits | libc::MS_REMOUNT),
        None::<&str>,
    )
    .map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_arguments() {
        let mut cfg = Config::default();
        cfg.mount_options = vec![
            MountOption::FSName("scfs:/b".into()),
            MountOption::Subtype("scfs".into()),
            MountOption::DefaultPermissions,
            MountOption::RO,
            MountOption::NoExec,
            MountOption::CUSTOM("strictatime".into()),
            MountOption::CUSTOM("nodiratime".into()),
            MountOption::Dev,
        ];
        cfg.acl = SessionACL::All;
        let (bits, fstype, source, data) = kernel_args(&cfg, 7, libc::S_IFDIR | 0o755);
        assert_eq!(fstype, "fuse.scfs");
        assert_eq!(source, "scfs:/b");
        assert!(data.starts_with("fd=7,rootmode=40000,"), "{data}");
        assert!(data.ends_with(",default_permissions,allow_other"), "{data}");
        assert_eq!(
            bits,
            libc::MS_RDONLY
                | libc::MS_NOEXEC
                | libc::MS_STRICTATIME
                | libc::MS_NODIRATIME
                | libc::MS_NOSUID
        );
    }
}
