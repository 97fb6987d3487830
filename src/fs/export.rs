//! FUSE export support: the kernel's file handles of scfs objects (NFS
//! re-export, `open_by_handle_at` on the mount) name a node id and its
//! generation. Once the kernel has forgotten the inode it asks the daemon
//! for the node by id (a lookup of "." in it) and for a directory's parent
//! (".."); the inode table finds a forgotten node again by the backing
//! file handle it remembered at the forget.

use std::ffi::OsStr;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;

use fuser::FileAttr;

use super::inode::{Inode, ROOT};
use super::{sys, Inner};

impl Inner {
    /// Lookups of "." and ".." (sent only to resolve file handles): None
    /// for any other name.
    pub(crate) fn lookup_dots(
        &self,
        ino: u64,
        name: &OsStr,
    ) -> Option<io::Result<(Arc<Inode>, FileAttr)>> {
        match name.as_bytes() {
            b"." => Some(self.lookup_node(ino)),
            b".." => Some(self.lookup_parent(ino)),
            _ => None,
        }
    }

    /// Node `ino` itself, known or forgotten (ESTALE once its object is
    /// gone: the kernel asks only when it holds no inode of it, so one
    /// without a name is nobody's open file either).
    fn lookup_node(&self, ino: u64) -> io::Result<(Arc<Inode>, FileAttr)> {
        let inode = self.inodes.lookup_id(ino)?;
        let attr = inode
            .fd()
            .and_then(|fd| sys::fstat(fd.as_fd()))
            .and_then(|st| match st.st_nlink {
                0 => Err(io::Error::from_raw_os_error(libc::ESTALE)),
                _ => self.attr_of(&inode, &st),
            });
        match attr {
            Ok(a) => Ok((inode, a)),
            Err(e) => {
                self.inodes.forget(inode.ino, 1);
                Err(e)
            }
        }
    }

    /// The parent of directory `ino` (the root is its own parent: nothing
    /// above BACKING is served).
    fn lookup_parent(&self, ino: u64) -> io::Result<(Arc<Inode>, FileAttr)> {
        if ino == ROOT {
            return self.lookup_node(ROOT);
        }
        let dir = self.inodes.get(ino)?;
        if !dir.is_dir() {
            return Err(io::Error::from_raw_os_error(libc::ENOTDIR));
        }
        self.lookup_in(&dir, c"..")
    }
}
