//! A minimal passthrough FUSE filesystem: the benchmark's ceiling.
//!
//! Every request goes straight to the same path under BACKING; data is not
//! transformed. It is mounted by the same life-cycle code as scfs
//! (`scfs::cli::mount::run_mount_with`: same fuser 0.18 session, same mount
//! options, same number of event-loop threads, same daemon/lock/umount), so
//! the difference measured against scfs is what scfs itself costs.
//! Files are opened with FOPEN_KEEP_CACHE (nothing changes them behind the
//! mount), the strongest ceiling for warm reads.
//!
//! Usage: `passthrough BACKING MNT [-f] [-o OPTIONS]`; unmount with
//! `scfs umount MNT` (or fusermount3 -u).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Parser;
use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, InitFlags,
    KernelConfig, LockOwner, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData,
    ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow,
    WriteFlags,
};
use parking_lot::RwLock;

const TTL: Duration = Duration::from_secs(1);

#[derive(Parser)]
#[command(about = "Minimal passthrough FUSE filesystem (benchmark ceiling)")]
struct Cli {
    #[command(flatten)]
    mount: scfs::cli::mount::MountArgs,
}

struct Passthrough {
    root: PathBuf,
    /// FUSE inode -> backing path (FUSE inode = backing st_ino; root = 1).
    paths: RwLock<HashMap<u64, PathBuf>>,
    root_ino: u64,
    files: RwLock<HashMap<u64, Arc<File>>>,
    next_fh: AtomicU64,
}

fn err(e: io::Error) -> Errno {
    Errno::from(e)
}

fn kind(ft: fs::FileType) -> FileType {
    FileType::from_std(ft).unwrap_or(FileType::RegularFile)
}

fn time(secs: i64, nsecs: i64) -> SystemTime {
    if secs >= 0 {
        UNIX_EPOCH + Duration::new(secs as u64, nsecs as u32)
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    }
}

impl Passthrough {
    fn new(root: &Path) -> io::Result<Self> {
        let root_ino = fs::metadata(root)?.ino();
        let mut paths = HashMap::new();
        paths.insert(1, root.to_path_buf());
        Ok(Passthrough {
            root: root.to_path_buf(),
            paths: RwLock::new(paths),
            root_ino,
            files: RwLock::new(HashMap::new()),
            next_fh: AtomicU64::new(1),
        })
    }

    fn fuse_ino(&self, st_ino: u64) -> u64 {
        if st_ino == self.root_ino {
            1
        } else {
            st_ino
        }
    }

    fn path(&self, ino: INodeNo) -> Result<PathBuf, Errno> {
        self.paths.read().get(&ino.0).cloned().ok_or(Errno::ESTALE)
    }

    fn child(&self, parent: INodeNo, name: &OsStr) -> Result<PathBuf, Errno> {
        Ok(self.path(parent)?.join(name))
    }

    fn attr(&self, m: &fs::Metadata) -> FileAttr {
        FileAttr {
            ino: INodeNo(self.fuse_ino(m.ino())),
            size: m.size(),
            blocks: m.blocks(),
            atime: time(m.atime(), m.atime_nsec()),
            mtime: time(m.mtime(), m.mtime_nsec()),
            ctime: time(m.ctime(), m.ctime_nsec()),
            crtime: UNIX_EPOCH,
            kind: kind(m.file_type()),
            perm: (m.mode() & 0o7777) as u16,
            nlink: m.nlink() as u32,
            uid: m.uid(),
            gid: m.gid(),
            rdev: m.rdev() as u32,
            blksize: m.blksize() as u32,
            flags: 0,
        }
    }

    /// Stats `path`, remembers it under its inode and returns the entry.
    fn remember(&self, path: PathBuf) -> Result<FileAttr, Errno> {
        let m = fs::symlink_metadata(&path).map_err(err)?;
        let a = self.attr(&m);
        if a.ino.0 != 1 {
            self.paths.write().insert(a.ino.0, path);
        }
        Ok(a)
    }

    fn add_file(&self, f: File) -> u64 {
        let fh = self.next_fh.fetch_add(1, Ordering::Relaxed);
        self.files.write().insert(fh, Arc::new(f));
        fh
    }

    fn file(&self, fh: FileHandle) -> Result<Arc<File>, Errno> {
        self.files.read().get(&fh.0).cloned().ok_or(Errno::EBADF)
    }

    fn chown_to(&self, req: &Request, path: &Path) {
        if nix::unistd::geteuid().is_root() {
            let _ = std::os::unix::fs::lchown(path, Some(req.uid()), Some(req.gid()));
        }
    }
}

fn open_opts(flags: i32) -> OpenOptions {
    let mut o = OpenOptions::new();
    match flags & libc::O_ACCMODE {
        libc::O_WRONLY => o.write(true),
        libc::O_RDWR => o.read(true).write(true),
        _ => o.read(true),
    };
    o.custom_flags(
        flags & !(libc::O_ACCMODE | libc::O_CREAT | libc::O_EXCL | libc::O_TRUNC | libc::O_APPEND),
    );
    o
}

fn ts(t: TimeOrNow) -> nix::sys::time::TimeSpec {
    match t {
        TimeOrNow::Now => nix::sys::time::TimeSpec::UTIME_NOW,
        TimeOrNow::SpecificTime(t) => {
            let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
            nix::sys::time::TimeSpec::new(d.as_secs() as i64, d.subsec_nanos() as i64)
        }
    }
}

impl Filesystem for Passthrough {
    /// The same kernel settings scfs asks for (src/fs/ops.rs), minus the
    /// capabilities this example does not implement (readdirplus, atomic
    /// O_TRUNC, killpriv).
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> io::Result<()> {
        let _ = config.set_max_write(1 << 20);
        let _ = config.set_max_readahead(1 << 20);
        let _ = config.set_max_background(64);
        let want =
            (InitFlags::FUSE_PARALLEL_DIROPS | InitFlags::FUSE_MAX_PAGES) & config.capabilities();
        let _ = config.add_capabilities(want);
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        match self.child(parent, name).and_then(|p| self.remember(p)) {
            Ok(a) => reply.entry(&TTL, &a, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, fh: Option<FileHandle>, reply: ReplyAttr) {
        let m = match fh.map(|fh| self.file(fh)) {
            Some(Ok(f)) => f.metadata().map_err(err),
            _ => self
                .path(ino)
                .and_then(|p| fs::symlink_metadata(p).map_err(err)),
        };
        match m {
            Ok(m) => reply.attr(&TTL, &self.attr(&m)),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
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
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let r = (|| -> Result<FileAttr, Errno> {
            let path = self.path(ino)?;
            if let Some(mode) = mode {
                fs::set_permissions(&path, fs::Permissions::from_mode(mode & 0o7777))
                    .map_err(err)?;
            }
            if uid.is_some() || gid.is_some() {
                std::os::unix::fs::lchown(&path, uid, gid).map_err(err)?;
            }
            if let Some(size) = size {
                match fh.map(|fh| self.file(fh)) {
                    Some(Ok(f)) => f.set_len(size).map_err(err)?,
                    _ => OpenOptions::new()
                        .write(true)
                        .open(&path)
                        .and_then(|f| f.set_len(size))
                        .map_err(err)?,
                }
            }
            if atime.is_some() || mtime.is_some() {
                let omit = nix::sys::time::TimeSpec::UTIME_OMIT;
                nix::sys::stat::utimensat(
                    nix::fcntl::AT_FDCWD,
                    &path,
                    &atime.map(ts).unwrap_or(omit),
                    &mtime.map(ts).unwrap_or(omit),
                    nix::sys::stat::UtimensatFlags::NoFollowSymlink,
                )
                .map_err(|e| Errno::from_i32(e as i32))?;
            }
            let m = fs::symlink_metadata(&path).map_err(err)?;
            Ok(self.attr(&m))
        })();
        match r {
            Ok(a) => reply.attr(&TTL, &a),
            Err(e) => reply.error(e),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        match self.path(ino).and_then(|p| fs::read_link(p).map_err(err)) {
            Ok(t) => reply.data(std::os::unix::ffi::OsStrExt::as_bytes(t.as_os_str())),
            Err(e) => reply.error(e),
        }
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
        let r = self.child(parent, name).and_then(|p| {
            fs::create_dir(&p).map_err(err)?;
            let _ = fs::set_permissions(&p, fs::Permissions::from_mode(mode & !umask & 0o7777));
            self.chown_to(req, &p);
            self.remember(p)
        });
        match r {
            Ok(a) => reply.entry(&TTL, &a, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        match self
            .child(parent, name)
            .and_then(|p| fs::remove_file(p).map_err(err))
        {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        match self
            .child(parent, name)
            .and_then(|p| fs::remove_dir(p).map_err(err))
        {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn symlink(
        &self,
        req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        let r = self.child(parent, link_name).and_then(|p| {
            std::os::unix::fs::symlink(target, &p).map_err(err)?;
            self.chown_to(req, &p);
            self.remember(p)
        });
        match r {
            Ok(a) => reply.entry(&TTL, &a, Generation(0)),
            Err(e) => reply.error(e),
        }
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
        if !flags.is_empty() {
            return reply.error(Errno::EINVAL);
        }
        let r = (|| -> Result<(), Errno> {
            let from = self.child(parent, name)?;
            let to = self.child(newparent, newname)?;
            fs::rename(&from, &to).map_err(err)?;
            let mut paths = self.paths.write();
            for p in paths.values_mut() {
                if let Ok(rest) = p.strip_prefix(&from) {
                    *p = to.join(rest);
                }
            }
            Ok(())
        })();
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn link(
        &self,
        _req: &Request,
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        let r = (|| {
            let from = self.path(ino)?;
            let to = self.child(newparent, newname)?;
            fs::hard_link(&from, &to).map_err(err)?;
            self.remember(to)
        })();
        match r {
            Ok(a) => reply.entry(&TTL, &a, Generation(0)),
            Err(e) => reply.error(e),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let r = self
            .path(ino)
            .and_then(|p| open_opts(flags.0).open(p).map_err(err));
        match r {
            Ok(f) => reply.opened(FileHandle(self.add_file(f)), FopenFlags::FOPEN_KEEP_CACHE),
            Err(e) => reply.error(e),
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
        let f = match self.file(fh) {
            Ok(f) => f,
            Err(e) => return reply.error(e),
        };
        let mut buf = vec![0u8; size as usize];
        let mut n = 0;
        while n < buf.len() {
            match f.read_at(&mut buf[n..], offset + n as u64) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return reply.error(err(e)),
            }
        }
        reply.data(&buf[..n]);
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        match self
            .file(fh)
            .and_then(|f| f.write_all_at(data, offset).map_err(err))
        {
            Ok(()) => reply.written(data.len() as u32),
            Err(e) => reply.error(e),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        reply.ok();
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
        self.files.write().remove(&fh.0);
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        datasync: bool,
        reply: ReplyEmpty,
    ) {
        let r = self.file(fh).and_then(|f| {
            if datasync {
                f.sync_data()
            } else {
                f.sync_all()
            }
            .map_err(err)
        });
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let path = match self.path(ino) {
            Ok(p) => p,
            Err(e) => return reply.error(e),
        };
        let rd = match fs::read_dir(&path) {
            Ok(rd) => rd,
            Err(e) => return reply.error(err(e)),
        };
        let mut entries = vec![
            (ino.0, FileType::Directory, ".".into()),
            (ino.0, FileType::Directory, "..".into()),
        ];
        for e in rd.flatten() {
            let ft = e.file_type().map(kind).unwrap_or(FileType::RegularFile);
            let ino = std::os::unix::fs::DirEntryExt::ino(&e);
            entries.push((self.fuse_ino(ino), ft, e.file_name()));
        }
        for (i, (ino, ft, name)) in entries.into_iter().enumerate().skip(offset as usize) {
            if reply.add(INodeNo(ino), (i + 1) as u64, ft, name) {
                break;
            }
        }
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        match nix::sys::statvfs::statvfs(&self.root) {
            Ok(s) => reply.statfs(
                s.blocks(),
                s.blocks_free(),
                s.blocks_available(),
                s.files(),
                s.files_free(),
                s.block_size() as u32,
                s.name_max() as u32,
                s.fragment_size() as u32,
            ),
            Err(e) => reply.error(Errno::from_i32(e as i32)),
        }
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
        let r = (|| {
            let p = self.child(parent, name)?;
            let mut o = open_opts(flags);
            o.create(true)
                .mode(mode & !umask & 0o7777)
                .truncate(flags & libc::O_TRUNC != 0);
            if flags & libc::O_EXCL != 0 {
                o.create_new(true);
            }
            if flags & libc::O_ACCMODE == libc::O_RDONLY {
                o.write(true); // create needs write access; reads still work
            }
            let f = o.open(&p).map_err(err)?;
            self.chown_to(req, &p);
            let a = self.remember(p)?;
            Ok((a, f))
        })();
        match r {
            Ok((a, f)) => reply.created(
                &TTL,
                &a,
                Generation(0),
                FileHandle(self.add_file(f)),
                FopenFlags::FOPEN_KEEP_CACHE,
            ),
            Err(e) => reply.error(e),
        }
    }

    fn fallocate(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        let r = self.file(fh).and_then(|f| {
            nix::fcntl::fallocate(
                &*f,
                nix::fcntl::FallocateFlags::from_bits_truncate(mode),
                offset as i64,
                length as i64,
            )
            .map_err(|e| Errno::from_i32(e as i32))
        });
        match r {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }
}

fn main() {
    let cli = Cli::parse();
    let code =
        scfs::cli::mount::run_mount_with(cli.mount, |backing, _opts| Passthrough::new(backing))
            .unwrap_or_else(|e| {
                eprintln!("passthrough mount: {e}");
                e.code
            });
    std::process::exit(code);
}
