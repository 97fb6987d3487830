//! Extended attributes, kept on the backing object (through
//! /proc/self/fd/N, since xattr calls do not accept O_PATH descriptors).
//! Symlinks carry none (Linux allows no user.* xattrs on them).
//!
//! POSIX ACLs are the xattrs `system.posix_acl_access` and
//! `system.posix_acl_default`, kept on the backing object too: BACKING's
//! filesystem keeps the mode bits and the access ACL in step (a chmod
//! changes the ACL's mask, setting an ACL changes the mode) and gives new
//! objects the default ACL of their directory. The kernel enforces them
//! (FUSE_POSIX_ACL, see `ops::init`); where it does not, they are refused
//! (EOPNOTSUPP) rather than stored unenforced.

use std::ffi::OsStr;
use std::io;
use std::os::fd::AsFd;
use std::sync::atomic::Ordering;

use super::attr::err;
use super::ctime;
use super::inode::Inode;
use super::names::Caller;
use super::policy;
use super::status;
use super::sys;
use super::Inner;

/// The xattr holding file capabilities.
pub const CAPS: &std::ffi::CStr = c"security.capability";

/// The xattr holding the access ACL.
pub const ACL_ACCESS: &std::ffi::CStr = c"system.posix_acl_access";

/// The xattr holding a directory's default ACL.
pub const ACL_DEFAULT: &std::ffi::CStr = c"system.posix_acl_default";

/// Answer to a get/list request: the size (for a size probe) or the data.
pub enum XattrReply {
    Size(u32),
    Data(Vec<u8>),
}

fn answer(total: usize, data: Vec<u8>, size: u32) -> io::Result<XattrReply> {
    if size == 0 {
        let n = u32::try_from(total).map_err(|_| err(libc::E2BIG))?;
        Ok(XattrReply::Size(n))
    } else if total > size as usize {
        Err(err(libc::ERANGE))
    } else {
        Ok(XattrReply::Data(data))
    }
}

impl Inner {
    /// Runs `f` on the /proc path of `ino`'s backing object while holding
    /// its descriptor (so compaction cannot swap it meanwhile); None for
    /// symlinks.
    fn with_xattr_path<T>(
        &self,
        ino: u64,
        f: impl FnOnce(Option<&std::ffi::CStr>) -> io::Result<T>,
    ) -> io::Result<T> {
        let inode = self.inodes.get(ino)?;
        if inode.is_symlink() {
            return f(None);
        }
        let fd = inode.fd()?;
        let path = sys::proc_path(fd.raw());
        f(Some(&path))
    }

    pub(crate) fn getxattr(
        &self,
        ino: u64,
        name: &OsStr,
        size: u32,
        uid: u32,
    ) -> io::Result<XattrReply> {
        let name = sys::cstr(name)?;
        if name.as_c_str() == status::STATUS {
            let data = self.status_xattr(ino, uid)?;
            return answer(data.len(), data, size);
        }
        if name.as_c_str() == CAPS {
            return self.get_caps(ino, size);
        }
        if name.as_c_str() == ctime::CTIME {
            return Err(err(libc::ENODATA)); // ours, hidden
        }
        self.with_xattr_path(ino, |path| {
            let Some(path) = path else {
                return Err(err(libc::ENODATA));
            };
            let (total, data) = match sys::getxattr(path, &name, size as usize) {
                // A BACKING without ACLs (ceph-fuse, some NFS mounts): no
                // ACL, the mode bits alone apply. The kernel, which asks for
                // the ACL at every permission check of another user, takes
                // only ENODATA for that; EOPNOTSUPP would fail the check.
                Err(e)
                    if e.raw_os_error() == Some(libc::EOPNOTSUPP)
                        && (name.as_c_str() == ACL_ACCESS || name.as_c_str() == ACL_DEFAULT) =>
                {
                    return Err(err(libc::ENODATA));
                }
                r => r?,
            };
            answer(total, data, size)
        })
    }

    /// getxattr of `security.capability`, which the kernel asks for before
    /// the first write after every attribute change and before every chown
    /// (two requests per file `tar x` extracts): answered from the inode's
    /// `caps_absent` when known, else from BACKING (and remembered).
    fn get_caps(&self, ino: u64, size: u32) -> io::Result<XattrReply> {
        let inode = self.inodes.get(ino)?;
        if !inode.is_reg() {
            return self.with_xattr_path(ino, |path| match path {
                None => Err(err(libc::ENODATA)),
                Some(path) => {
                    let (total, data) = sys::getxattr(path, CAPS, size as usize)?;
                    answer(total, data, size)
                }
            });
        }
        let mut s = inode.state.lock();
        if s.caps_absent {
            return Err(err(libc::ENODATA));
        }
        let fd = inode.fd()?;
        match sys::getxattr(&sys::proc_path(fd.raw()), CAPS, size as usize) {
            Ok((total, data)) => answer(total, data, size),
            Err(e) => {
                s.caps_absent = e.raw_os_error() == Some(libc::ENODATA);
                Err(e)
            }
        }
    }

    /// Runs a set or remove of `name` on `ino`; for `security.capability`
    /// on a regular file under its state lock (so no probe can slip in
    /// between), keeping `caps_absent` right.
    fn changing<T>(
        &self,
        ino: u64,
        name: &std::ffi::CStr,
        op: impl FnOnce(Option<&std::ffi::CStr>) -> io::Result<T>,
    ) -> io::Result<T> {
        let inode = self.inodes.get(ino)?;
        // Shared mode: not between another host's copy of the xattrs to
        // a replacement of the file and its rename (fs/meta.rs).
        self.meta_change(&inode, || {
            if name != CAPS || !inode.is_reg() {
                return self.with_xattr_path(ino, op);
            }
            let mut s = inode.state.lock();
            s.caps_absent = false;
            let fd = inode.fd()?;
            op(Some(&sys::proc_path(fd.raw())))
        })
    }

    pub(crate) fn listxattr(&self, ino: u64, size: u32) -> io::Result<XattrReply> {
        self.with_xattr_path(ino, |path| {
            let Some(path) = path else {
                return answer(0, Vec::new(), size);
            };
            // The whole list, to leave out our own record.
            let (n, _) = sys::listxattr(path, 0)?;
            let (_, data) = if n == 0 {
                (0, Vec::new())
            } else {
                sys::listxattr(path, n + 256)?
            };
            let hidden = ctime::CTIME.to_bytes_with_nul();
            let data: Vec<u8> = data
                .split_inclusive(|&b| b == 0)
                .filter(|x| *x != hidden)
                .flatten()
                .copied()
                .collect();
            answer(data.len(), data, size)
        })
    }

    /// Sets `name`; for an access ACL also drops S_ISGID when `caller` is
    /// neither root nor in the file's group, as ext4 does (BACKING's
    /// filesystem, asked by us, would not: the kernel leaves this to the
    /// daemon, with a flag fuser does not pass on).
    pub(crate) fn setxattr(
        &self,
        ino: u64,
        name: &OsStr,
        value: &[u8],
        flags: i32,
        caller: Caller,
    ) -> io::Result<()> {
        self.check_rw()?;
        let name = sys::cstr(name)?;
        if name.as_c_str() == ctime::CTIME || name.as_c_str() == status::STATUS {
            return Err(err(libc::EPERM)); // ours, hidden / read-only
        }
        let acl = name.as_c_str() == ACL_ACCESS || name.as_c_str() == ACL_DEFAULT;
        if acl && !self.acl_enforced.load(Ordering::Relaxed) {
            return Err(err(libc::EOPNOTSUPP));
        }
        let policy = if name.as_c_str() == policy::POLICY {
            Some(policy::parse(value)?)
        } else {
            None
        };
        self.changing(ino, &name, |path| match path {
            Some(path) => sys::setxattr(path, &name, value, flags),
            None => Err(err(libc::EPERM)),
        })?;
        if name.as_c_str() == ACL_ACCESS && caller.uid != 0 {
            let inode = self.inodes.get(ino)?;
            let fd = inode.fd()?;
            let st = sys::fstat(fd.as_fd())?;
            if st.st_mode & libc::S_ISGID != 0 && !caller.in_group(st.st_gid) {
                sys::fchmod_fd(fd.as_fd(), st.st_mode & 0o7777 & !libc::S_ISGID)?;
            }
        }
        if policy.is_some() {
            self.policy_changed(ino, policy);
        }
        let inode = self.inodes.get(ino)?;
        self.dir_inherit_changed(&inode);
        self.user_changed(&inode);
        Ok(())
    }

    /// Whether the directory `dir` has a default ACL (false where BACKING
    /// has no ACLs).
    pub(crate) fn has_default_acl(&self, dir: &Inode) -> io::Result<bool> {
        let fd = dir.fd()?;
        match sys::getxattr(&sys::proc_path(fd.raw()), ACL_DEFAULT, 0) {
            Ok((n, _)) => Ok(n > 0),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ENODATA) | Some(libc::EOPNOTSUPP)
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    pub(crate) fn removexattr(&self, ino: u64, name: &OsStr) -> io::Result<()> {
        self.check_rw()?;
        let name = sys::cstr(name)?;
        if name.as_c_str() == status::STATUS {
            return Err(err(libc::EPERM)); // ours, read-only
        }
        if name.as_c_str() == ctime::CTIME {
            return Err(err(libc::ENODATA)); // ours, hidden
        }
        self.changing(ino, &name, |path| match path {
            Some(path) => sys::removexattr(path, &name),
            None => Err(err(libc::ENODATA)),
        })?;
        if name.as_c_str() == policy::POLICY {
            self.policy_changed(ino, None);
        }
        let inode = self.inodes.get(ino)?;
        self.dir_inherit_changed(&inode);
        self.user_changed(&inode);
        Ok(())
    }
}
