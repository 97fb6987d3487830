//! The small translations `ops.rs` makes between fuser's types and ours:
//! who is calling (`Caller`), the open flags of a reply, and the replies
//! of the operations that return nothing or an entry.

use fuser::{FopenFlags, Generation, INodeNo, ReplyEmpty, ReplyEntry, Request};

use super::attr::errno;
use super::handles::Opened;
use super::names::Caller;

pub(super) fn caller(req: &Request) -> Caller {
    Caller {
        uid: req.uid(),
        gid: req.gid(),
        pid: req.pid(),
        umask: 0,
    }
}

/// The caller of a create, mkdir or mknod, with its umask (which we apply:
/// FUSE_DONT_MASK, see `init`).
pub(super) fn creator(req: &Request, umask: u32) -> Caller {
    Caller {
        umask,
        ..caller(req)
    }
}

pub(super) fn open_flags(o: &Opened) -> FopenFlags {
    if o.keep_cache {
        FopenFlags::FOPEN_KEEP_CACHE
    } else {
        FopenFlags::empty()
    }
}

/// Attributes of a negative lookup (node id 0).
pub(super) fn negative_attr() -> fuser::FileAttr {
    fuser::FileAttr {
        ino: INodeNo(0),
        size: 0,
        blocks: 0,
        atime: std::time::UNIX_EPOCH,
        mtime: std::time::UNIX_EPOCH,
        ctime: std::time::UNIX_EPOCH,
        crtime: std::time::UNIX_EPOCH,
        kind: fuser::FileType::RegularFile,
        perm: 0,
        nlink: 0,
        uid: 0,
        gid: 0,
        rdev: 0,
        blksize: 4096,
        flags: 0,
    }
}

pub(super) fn reply_empty(r: std::io::Result<()>, reply: ReplyEmpty) {
    match r {
        Ok(()) => reply.ok(),
        Err(e) => reply.error(errno(&e)),
    }
}

pub(super) fn reply_entry(
    ttl: std::time::Duration,
    r: std::io::Result<(std::sync::Arc<super::inode::Inode>, fuser::FileAttr)>,
    reply: ReplyEntry,
) {
    match r {
        Ok((inode, attr)) => reply.entry(&ttl, &attr, Generation(inode.gen)),
        Err(e) => reply.error(errno(&e)),
    }
}
