//! What a new file or directory inherits from the directory it is made
//! in: whether that directory has a default ACL (which then replaces the
//! caller's umask, `names::new_mode`) and its compression policy
//! (`user.scfs.compress`, `policy`). Both live in BACKING as xattrs of the
//! directory; reading them costs two getxattr calls (through /proc) at
//! each create, as many as the create itself. On single-host mounts they
//! are read at the first create in a directory and kept in its inode
//! ([`DirInherit`]) until an xattr of that directory is set or removed
//! through the mount, or it is chmod-ed (nothing else changes them: the
//! mount holds BACKING alone). `-o shared` reads them at each create, as
//! another host may change them.

use std::io;
use std::os::fd::AsFd;

use super::inode::Inode;
use super::Inner;
use crate::file::Compression;

/// A directory's inherited attributes as last read (None: not read since
/// the last change), with the count of changes so that a read that raced
/// with a change is not kept.
#[derive(Default, Debug)]
pub struct DirInherit {
    changes: u64,
    default_acl: Option<bool>,
    policy: Option<Option<Compression>>,
}

impl Inner {
    /// Whether the directory `dir` has a default ACL.
    pub(crate) fn dir_default_acl(&self, dir: &Inode) -> io::Result<bool> {
        self.inherited(
            dir,
            |c| c.default_acl,
            |c, v| c.default_acl = Some(v),
            || self.has_default_acl(dir),
        )
    }

    /// The compression policy of the directory `dir`, if it has one.
    pub(crate) fn dir_policy(&self, dir: &Inode) -> Option<Compression> {
        self.inherited(
            dir,
            |c| c.policy,
            |c, v| c.policy = Some(v),
            || Ok(dir.fd().ok().and_then(|fd| super::policy::read(fd.as_fd()))),
        )
        .unwrap_or(None)
    }

    /// An xattr or the mode of `inode` changed through the mount: a
    /// directory forgets what it had kept.
    pub(crate) fn dir_inherit_changed(&self, inode: &Inode) {
        if inode.is_dir() {
            let mut c = inode.inherit.lock();
            c.changes += 1;
            c.default_acl = None;
            c.policy = None;
        }
    }

    /// The value `get` finds kept in `dir`, else `read` from BACKING (and
    /// kept with `set` unless the mount is shared or `dir` changed
    /// meanwhile).
    fn inherited<T: Copy>(
        &self,
        dir: &Inode,
        get: impl FnOnce(&DirInherit) -> Option<T>,
        set: impl FnOnce(&mut DirInherit, T),
        read: impl FnOnce() -> io::Result<T>,
    ) -> io::Result<T> {
        if self.opts.shared {
            return read();
        }
        let changes = {
            let c = dir.inherit.lock();
            if let Some(v) = get(&c) {
                return Ok(v);
            }
            c.changes
        };
        let v = read()?;
        let mut c = dir.inherit.lock();
        if c.changes == changes {
            set(&mut c, v);
        }
        Ok(v)
    }
}
