//! `fuser::Filesystem` for `ScfsFs`: decodes each request, calls the
//! matching `Inner` operation and turns its `io::Result` into the reply
//! (errors become their errno; nothing here panics).

use std::ffi::OsStr;
use std::path::Path;
use std::time::SystemTime;

use fuser::{
    AccessFlags, BsdFileFlags, CopyFileRangeFlags, Errno, FileAttr, FileHandle, Filesystem,
    FopenFlags, Generation, INodeNo, InitFlags, KernelConfig, LockOwner, OpenFlags, RenameFlags,
    ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyDirectoryPlus, ReplyEmpty, ReplyEntry,
    ReplyLseek, ReplyOpen, ReplyStatfs, ReplyWrite, ReplyXattr, Request, TimeOrNow, WriteFlags,
};

use super::attr::errno;
use super::meta::SetAttr;
use super::reply::{caller, creator, negative_attr, open_flags, reply_empty, reply_entry};
use super::xattr::XattrReply;
use super::ScfsFs;

/// Generation of the negative entry and of "." and ".." in a listing.
const GEN: Generation = Generation(0);

impl Filesystem for ScfsFs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        let opts = &self.0.opts;
        let _ = config.set_max_write(1 << 20);
        let _ = config.set_max_readahead(1 << 20);
        let _ = config.set_max_background(64);
        let mut want = InitFlags::FUSE_DO_READDIRPLUS
            | InitFlags::FUSE_READDIRPLUS_AUTO
            | InitFlags::FUSE_PARALLEL_DIROPS
            | InitFlags::FUSE_ATOMIC_O_TRUNC
            | InitFlags::FUSE_HANDLE_KILLPRIV_V2
            | InitFlags::FUSE_MAX_PAGES
            // The caller's umask comes with create/mkdir/mknod and we apply
            // it, only where the parent has no default ACL (as ext4 does).
            | InitFlags::FUSE_DONT_MASK
            // File handles (NFS, open_by_handle_at) outlive the kernel's
            // inodes: lookups of "." and ".." by node id.
            | InitFlags::FUSE_EXPORT_SUPPORT;
        if opts.writeback_cache {
            want |= InitFlags::FUSE_WRITEBACK_CACHE;
        }
        if opts.default_permissions {
            // The kernel checks access against POSIX ACLs (read through
            // getxattr) as well as the mode bits; BACKING keeps them and
            // applies chmod and default ACLs to them (see `xattr`).
            want |= InitFlags::FUSE_POSIX_ACL;
        }
        let want = want & config.capabilities();
        let _ = config.add_capabilities(want);
        self.0.acl_enforced.store(
            want.contains(InitFlags::FUSE_POSIX_ACL),
            std::sync::atomic::Ordering::Relaxed,
        );
        Ok(())
    }

    fn destroy(&mut self) {
        self.stop_background();
        if let Err(e) = self.0.flush_all() {
            log::error!("flush at unmount: {e}");
        }
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        if let Some(r) = self.0.lookup_dots(parent.0, name) {
            return reply_entry(self.0.opts.attr_timeout, r, reply);
        }
        match self.0.lookup(parent.0, name) {
            Ok((inode, attr)) => {
                reply.entry(&self.0.opts.attr_timeout, &attr, Generation(inode.gen))
            }
            // A negative entry the kernel may cache for the attribute timeout (`actimeo`;
            // it drops it when we create; another host's create shows after it).
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                reply.entry(&self.0.opts.attr_timeout, &negative_attr(), GEN)
            }
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.0.inodes.forget(ino.0, nlookup);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.0.getattr(ino.0) {
            Ok(a) => reply.attr(&self.0.opts.attr_timeout, &a),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn setattr(
        &self,
        req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let a = SetAttr {
            mode,
            uid,
            gid,
            size,
            atime,
            mtime,
            fh: fh.map(|f| f.0),
            caller: caller(req),
        };
        match self.0.setattr(ino.0, a) {
            Ok(a) => reply.attr(&self.0.opts.attr_timeout, &a),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        match self.0.readlink(ino.0) {
            Ok(t) => reply.data(std::os::unix::ffi::OsStrExt::as_bytes(t.as_os_str())),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        rdev: u32,
        reply: ReplyEntry,
    ) {
        let who = creator(req, umask);
        reply_entry(
            self.0.opts.attr_timeout,
            self.0.mknod(parent.0, name, mode, rdev, who),
            reply,
        );
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        reply_entry(
            self.0.opts.attr_timeout,
            self.0.mkdir(parent.0, name, mode, creator(req, umask)),
            reply,
        );
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        reply_empty(self.0.unlink(parent.0, name, 0), reply);
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        reply_empty(self.0.unlink(parent.0, name, libc::AT_REMOVEDIR), reply);
    }

    fn symlink(
        &self,
        req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        reply_entry(
            self.0.opts.attr_timeout,
            self.0.symlink(parent.0, link_name, target, caller(req)),
            reply,
        );
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        reply_empty(
            self.0
                .rename(parent.0, name, newparent.0, newname, flags.bits()),
            reply,
        );
    }

    fn link(
        &self,
        _req: &Request,
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        reply_entry(
            self.0.opts.attr_timeout,
            self.0.link(ino.0, newparent.0, newname),
            reply,
        );
    }

    fn open(&self, req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        match self.0.open(ino.0, flags.0, caller(req)) {
            Ok(o) => reply.opened(FileHandle(o.fh), open_flags(&o)),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        thread_local! {
            /// One read buffer per event-loop thread (no fresh, zeroed
            /// megabyte per request).
            static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        BUF.with(|b| {
            let mut b = b.borrow_mut();
            let size = size as usize;
            if b.len() < size {
                b.resize(size, 0);
            }
            match self.0.read(fh.0, offset, &mut b[..size]) {
                Ok(n) => reply.data(&b[..n]),
                Err(e) => reply.error(errno(&e)),
            }
        });
    }

    fn write(
        &self,
        req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        // The kernel sets this for a writer without CAP_FSETID.
        let kill = write_flags
            .contains(WriteFlags::FUSE_WRITE_KILL_SUIDGID)
            .then(|| caller(req));
        match self.0.write(fh.0, offset, data, kill) {
            Ok(n) => reply.written(n as u32),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        reply_empty(self.0.flush(fh.0), reply);
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        reply_empty(self.0.release(fh.0), reply);
    }

    fn fsync(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        datasync: bool,
        reply: ReplyEmpty,
    ) {
        reply_empty(self.0.fsync(fh.0, datasync), reply);
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.0.opendir(ino.0) {
            Ok(fh) => reply.opened(FileHandle(fh), FopenFlags::empty()),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let r = self.0.readdir(fh.0, offset, |e, next| {
            reply.add(INodeNo(e.ino), next, e.kind, &e.name)
        });
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn readdirplus(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectoryPlus,
    ) {
        let dir = match self.0.dir_inode(fh.0) {
            Ok(d) => d,
            Err(e) => return reply.error(errno(&e)),
        };
        let dir_attr = match self.0.getattr(dir.ino) {
            Ok(a) => a,
            Err(e) => return reply.error(errno(&e)),
        };
        let r = self.0.readdir(fh.0, offset, |e, next| {
            if e.name == "." || e.name == ".." {
                // The kernel takes no reference for these nor uses their
                // attributes, but d_ino comes from the attributes' ino:
                // the listing's (for `..`, the parent's).
                let attr = FileAttr {
                    ino: INodeNo(e.ino),
                    ..dir_attr
                };
                let gen = Generation(dir.gen);
                return reply.add(
                    INodeNo(e.ino),
                    next,
                    &e.name,
                    &self.0.opts.attr_timeout,
                    &attr,
                    gen,
                );
            }
            let Ok(cname) = super::names::name_cstr(&e.name) else {
                return false;
            };
            match self.0.lookup_in(&dir, &cname) {
                Ok((inode, attr)) => {
                    let gen = Generation(inode.gen);
                    let full = reply.add(
                        INodeNo(inode.ino),
                        next,
                        &e.name,
                        &self.0.opts.attr_timeout,
                        &attr,
                        gen,
                    );
                    if full {
                        self.0.inodes.forget(inode.ino, 1);
                    }
                    full
                }
                // Vanished since the listing was taken: skip it.
                Err(_) => false,
            }
        });
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        self.0.releasedir(fh.0);
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        reply_empty(self.0.fsyncdir(ino.0), reply);
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        match self.0.statfs() {
            Ok(s) => reply.statfs(
                s.f_blocks,
                s.f_bfree,
                s.f_bavail,
                s.f_files,
                s.f_ffree,
                s.f_bsize as u32,
                s.f_namemax as u32,
                s.f_frsize as u32,
            ),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn setxattr(
        &self,
        req: &Request,
        ino: INodeNo,
        name: &OsStr,
        value: &[u8],
        flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        reply_empty(
            self.0.setxattr(ino.0, name, value, flags, caller(req)),
            reply,
        );
    }

    fn getxattr(&self, req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        match self.0.getxattr(ino.0, name, size, req.uid()) {
            Ok(XattrReply::Size(n)) => reply.size(n),
            Ok(XattrReply::Data(d)) => reply.data(&d),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn listxattr(&self, _req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        match self.0.listxattr(ino.0, size) {
            Ok(XattrReply::Size(n)) => reply.size(n),
            Ok(XattrReply::Data(d)) => reply.data(&d),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn removexattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        reply_empty(self.0.removexattr(ino.0, name), reply);
    }

    fn access(&self, req: &Request, ino: INodeNo, mask: AccessFlags, reply: ReplyEmpty) {
        reply_empty(self.0.access(ino.0, mask, caller(req)), reply);
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        match self
            .0
            .create(parent.0, name, mode, flags, creator(req, umask))
        {
            Ok((attr, o)) => {
                let gen = Generation(self.0.inodes.generation(attr.ino.0));
                reply.created(
                    &self.0.opts.attr_timeout,
                    &attr,
                    gen,
                    FileHandle(o.fh),
                    open_flags(&o),
                )
            }
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn fallocate(
        &self,
        req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        reply_empty(
            self.0.fallocate(fh.0, offset, length, mode, caller(req)),
            reply,
        );
    }

    fn lseek(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: i64,
        whence: i32,
        reply: ReplyLseek,
    ) {
        match self.0.lseek(fh.0, offset, whence) {
            Ok(o) => reply.offset(o),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn copy_file_range(
        &self,
        _req: &Request,
        _ino_in: INodeNo,
        _fh_in: FileHandle,
        _offset_in: u64,
        _ino_out: INodeNo,
        _fh_out: FileHandle,
        _offset_out: u64,
        _len: u64,
        _flags: CopyFileRangeFlags,
        reply: ReplyWrite,
    ) {
        // ENOSYS: the kernel remembers it and copies through read + write.
        reply.error(Errno::ENOSYS);
    }

    /// No ioctl is supported: ENOTTY, the errno of an ioctl a file does not
    /// know (lsattr, xfs_io and fsstress probe FS_IOC_GETFLAGS, XFS_IOC_*),
    /// without fuser's default "[Not Implemented]" warning for each.
    fn ioctl(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _flags: fuser::IoctlFlags,
        _cmd: u32,
        _in_data: &[u8],
        _out_size: u32,
        reply: fuser::ReplyIoctl,
    ) {
        reply.error(Errno::ENOTTY);
    }
}
