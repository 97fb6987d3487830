//! Namespace operations: lookup, mkdir, mknod, symlink, link, unlink,
//! rmdir, rename, readlink. Each acts on the backing directory through the
//! parent's O_PATH descriptor and names the result through `lookup`.

use std::ffi::{CStr, OsStr};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;

use fuser::FileAttr;

use super::attr::err;
use super::inode::FileState;
use super::inode::{FdGuard, Inode};
use super::sys;
use super::Inner;
use crate::file::SealQueue;
use crate::file::{Content, Format};

/// Who asks: the caller's uid and gid (the kernel's fsuid/fsgid), and its
/// thread id, through which its supplementary groups can be read; for
/// create, mkdir and mknod also its umask (0 elsewhere).
#[derive(Clone, Copy, Debug, Default)]
pub struct Caller {
    pub uid: u32,
    pub gid: u32,
    pub pid: u32,
    pub umask: u32,
}

impl Caller {
    /// Whether `gid` is the caller's group or one of its supplementary
    /// groups (read from /proc/<pid>/status; false when that is gone).
    pub fn in_group(&self, gid: u32) -> bool {
        self.gid == gid || sys::proc_groups(self.pid).is_some_and(|g| g.contains(&gid))
    }
}

/// The daemon's lock file in BACKING's root (FORMAT.md 5), held by
/// `scfs mount` against daemons on other hosts: hidden at the mount's root.
pub const LOCK_NAME: &str = ".scfs.lock";

/// Whether `name` in directory `parent` is the reserved lock file.
pub fn is_reserved(parent: u64, name: &OsStr) -> bool {
    parent == super::inode::ROOT && name.as_encoded_bytes() == LOCK_NAME.as_bytes()
}

/// `name_cstr` for a name to be made or replaced in `parent`: EPERM for the
/// reserved lock file.
pub fn new_name_cstr(parent: u64, name: &OsStr) -> io::Result<std::ffi::CString> {
    if is_reserved(parent, name) {
        return Err(err(libc::EPERM));
    }
    name_cstr(name)
}

/// Rejects names that would leave the directory.
pub fn name_cstr(name: &OsStr) -> io::Result<std::ffi::CString> {
    let b = std::os::unix::ffi::OsStrExt::as_bytes(name);
    if b.is_empty() || b == b"." || b == b".." || b.contains(&b'/') {
        return Err(err(libc::EINVAL));
    }
    if b.len() > 255 {
        return Err(err(libc::ENAMETOOLONG));
    }
    sys::cstr(name)
}

impl Inner {
    pub(crate) fn check_rw(&self) -> io::Result<()> {
        if self.opts.read_only {
            Err(err(libc::EROFS))
        } else {
            Ok(())
        }
    }

    /// Looks `name` up in `parent`: one more kernel reference to the result.
    pub(crate) fn lookup_in(
        &self,
        parent: &Inode,
        name: &CStr,
    ) -> io::Result<(Arc<Inode>, FileAttr)> {
        self.lookup_prepared(parent, name, |_, _| {})
    }

    /// `lookup_in`, with `prep` run on the inode's file state before its
    /// attributes are taken (new files: what they are is already known).
    pub(crate) fn lookup_prepared(
        &self,
        parent: &Inode,
        name: &CStr,
        prep: impl FnOnce(&mut FileState, &libc::stat),
    ) -> io::Result<(Arc<Inode>, FileAttr)> {
        let fd = {
            let pfd = parent.fd()?;
            sys::openat(pfd.as_fd(), name, libc::O_PATH | libc::O_NOFOLLOW, 0)?
        };
        let st = sys::fstat(fd.as_fd())?;
        let inode = self.inodes.lookup(fd, &st);
        if inode.is_reg() {
            prep(&mut inode.state.lock(), &st);
        }
        match self.attr_of(&inode, &st) {
            Ok(a) => Ok((inode, a)),
            Err(e) => {
                self.inodes.forget(inode.ino, 1);
                Err(e)
            }
        }
    }

    pub(crate) fn lookup(&self, parent: u64, name: &OsStr) -> io::Result<(Arc<Inode>, FileAttr)> {
        if is_reserved(parent, name) {
            return Err(err(libc::ENOENT));
        }
        let parent = self.inodes.get(parent)?;
        let name = name_cstr(name).map_err(|e| {
            if e.raw_os_error() == Some(libc::EINVAL) {
                err(libc::ENOENT)
            } else {
                e
            }
        })?;
        self.lookup_in(&parent, &name)
    }

    /// The permission bits a new object in `parent` is made with: `mode`
    /// less the caller's umask, unless `parent` has a default ACL (then
    /// BACKING derives the mode, and the access ACL, from that ACL and
    /// `mode` when it makes the object; the umask does not apply), as
    /// ext4 does.
    pub(crate) fn new_mode(
        &self,
        parent: &Inode,
        mode: u32,
        caller: Caller,
    ) -> io::Result<NewMode> {
        let perm = mode & 0o7777;
        let inherits = parent.is_dir() && self.dir_default_acl(parent)?;
        Ok(NewMode {
            perm: if inherits {
                perm
            } else {
                perm & !(caller.umask & 0o777)
            },
            inherits,
        })
    }

    /// Whether a new object made with `nm` needs a chmod after creation:
    /// our own umask stripped bits (never where a default ACL applies: it
    /// replaces the umask), or set-ID/sticky bits (which the creation or a
    /// chown may strip).
    fn needs_chmod(&self, nm: NewMode) -> bool {
        (!nm.inherits && nm.perm & self.umask != 0) || nm.perm & 0o7000 != 0
    }

    /// The mode to chmod a new object to (after its chown) whose mode is
    /// now `cur`: `nm.perm`, or where a default ACL made the permission
    /// bits, those bits with the special ones asked for (a chmod to
    /// `nm.perm` would overwrite what the ACL gave, and its mask). A new
    /// directory keeps the S_ISGID it inherited. None: nothing to change.
    fn chmod_to(&self, nm: NewMode, cur: u32) -> Option<u32> {
        if !self.needs_chmod(nm) {
            return None;
        }
        let mut want = if nm.inherits {
            (cur & 0o777) | (nm.perm & 0o7000)
        } else {
            nm.perm
        };
        if cur & libc::S_IFMT == libc::S_IFDIR {
            want |= cur & libc::S_ISGID;
        }
        (want != cur & 0o7777).then_some(want)
    }

    /// Gives a new object the caller's ownership (when we run as root) and
    /// the mode `nm` asks for (undoing our own umask, keeping special bits
    /// that a chown clears).
    fn settle_new(
        &self,
        dir: BorrowedFd<'_>,
        parent: &Inode,
        name: &CStr,
        nm: NewMode,
        caller: Caller,
        symlink: bool,
    ) -> io::Result<()> {
        if self.is_root && (caller.uid != 0 || caller.gid != 0) {
            let pst = sys::fstat(parent.fd()?.as_fd())?;
            let gid = if pst.st_mode & libc::S_ISGID != 0 {
                u32::MAX
            } else {
                caller.gid
            };
            sys::fchownat(dir, name, caller.uid, gid)?;
        }
        if !symlink && self.needs_chmod(nm) {
            let cur = sys::fstatat(dir, name, libc::AT_SYMLINK_NOFOLLOW)?.st_mode;
            if let Some(m) = self.chmod_to(nm, cur) {
                sys::fchmodat(dir, name, m)?;
            }
        }
        Ok(())
    }

    /// Removes a just-created object after a later step failed.
    fn undo_create(dir: BorrowedFd<'_>, name: &CStr, is_dir: bool) {
        let _ = sys::unlinkat(dir, name, if is_dir { libc::AT_REMOVEDIR } else { 0 });
    }

    /// Finishes an object just made as `name` in `parent` (whose descriptor
    /// `pfd` the caller still holds): settles its owner and mode, removing
    /// it again if that fails, then looks it up.
    fn finish_new(
        &self,
        parent: &Arc<Inode>,
        pfd: FdGuard<'_>,
        name: &CStr,
        nm: NewMode,
        caller: Caller,
        kind: NewKind,
    ) -> io::Result<(Arc<Inode>, FileAttr)> {
        let symlink = kind == NewKind::Symlink;
        if let Err(e) = self.settle_new(pfd.as_fd(), parent, name, nm, caller, symlink) {
            Self::undo_create(pfd.as_fd(), name, kind == NewKind::Dir);
            return Err(e);
        }
        drop(pfd);
        self.lookup_in(parent, name)
    }

    pub(crate) fn mkdir(
        &self,
        parent: u64,
        name: &OsStr,
        mode: u32,
        caller: Caller,
    ) -> io::Result<(Arc<Inode>, FileAttr)> {
        self.check_rw()?;
        let name = new_name_cstr(parent, name)?;
        let parent = self.inodes.get(parent)?;
        let nm = self.new_mode(&parent, mode, caller)?;
        let pfd = parent.fd()?;
        sys::mkdirat(pfd.as_fd(), &name, nm.perm)?;
        let made = self.finish_new(&parent, pfd, &name, nm, caller, NewKind::Dir)?;
        self.adopt_policy_dir(&parent, &made.0);
        Ok(made)
    }

    /// Creates `name` as a new, empty container file (opened read-write).
    /// Owner and mode are right when the name appears: when the create
    /// itself gives them (the usual case) the file is made in place with
    /// O_CREAT|O_EXCL; otherwise it is made as an O_TMPFILE, given its
    /// owner and mode, and linked in (or, where O_TMPFILE is unsupported,
    /// made under a hidden temporary name and renamed with
    /// RENAME_NOREPLACE, or linked and unlinked where the filesystem lacks
    /// that flag), so a crash never leaves a file with the wrong
    /// owner or mode. The
    /// container header is deferred to the first commit (one write for a
    /// small file, see `Content::create_deferred`): the caller marks the
    /// inode a container before anyone can look the name up (the kernel
    /// holds the parent directory locked across CREATE and MKNOD, and
    /// `mknod` flushes at once). A crash before that first commit leaves
    /// an empty file, served as an empty plain file. EEXIST if `name`
    /// exists.
    pub(crate) fn create_file(
        &self,
        parent: &Arc<Inode>,
        name: &CStr,
        mode: u32,
        caller: Caller,
    ) -> io::Result<Content> {
        let content = self.create_file_bare(parent, name, mode, caller)?;
        self.adopt_policy_file(parent, &content);
        Ok(content)
    }

    /// `create_file` before the new file takes its directory's compression
    /// policy.
    fn create_file_bare(
        &self,
        parent: &Arc<Inode>,
        name: &CStr,
        mode: u32,
        caller: Caller,
    ) -> io::Result<Content> {
        let nm = self.new_mode(parent, mode, caller)?;
        if !self.new_file_needs_fixup(nm, caller) {
            return self.create_file_direct(parent, name, nm.perm);
        }
        let tmp = {
            let pfd = parent.fd()?;
            sys::openat(pfd.as_fd(), c".", libc::O_TMPFILE | libc::O_RDWR, nm.perm)
        };
        match tmp {
            Ok(fd) => {
                // The content keeps this descriptor open: link it by number.
                let proc = sys::proc_path(std::os::fd::AsRawFd::as_raw_fd(&fd));
                let content = self.prepare_new_file(File::from(fd), parent, nm, caller)?;
                let pfd = parent.fd()?;
                sys::linkat_follow(&proc, pfd.as_fd(), name)?;
                Ok(content)
            }
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EOPNOTSUPP) | Some(libc::EISDIR) | Some(libc::EINVAL)
                ) =>
            {
                self.create_file_renaming(parent, name, nm, caller)
            }
            Err(e) => Err(e),
        }
    }

    /// Whether a file created by us with `nm` would come out with
    /// another owner or mode than the caller's (so `create_file` must set
    /// them before the name appears): a root daemon creating for another
    /// user, or a chmod needed (`needs_chmod`).
    fn new_file_needs_fixup(&self, nm: NewMode, caller: Caller) -> bool {
        (self.is_root && (caller.uid != 0 || caller.gid != 0)) || self.needs_chmod(nm)
    }

    /// `create_file` when the create itself gives the right owner and
    /// mode: one O_CREAT|O_EXCL open, no temporary file and no link.
    fn create_file_direct(&self, parent: &Inode, name: &CStr, perm: u32) -> io::Result<Content> {
        let pfd = parent.fd()?;
        let fd = sys::openat(
            pfd.as_fd(),
            name,
            libc::O_CREAT | libc::O_EXCL | libc::O_RDWR | libc::O_NOFOLLOW,
            perm,
        )?;
        self.files.create_deferred(File::from(fd)).inspect_err(|_| {
            Self::undo_create(pfd.as_fd(), name, false);
        })
    }

    /// `create_file` without O_TMPFILE.
    fn create_file_renaming(
        &self,
        parent: &Arc<Inode>,
        name: &CStr,
        nm: NewMode,
        caller: Caller,
    ) -> io::Result<Content> {
        // Keeps stale-temporary cleanup away from our temporary name.
        let _ns = self.ns.read();
        let pfd = parent.fd()?;
        let tmpname = super::compact::temp_name(parent.ino);
        let fd = sys::openat(
            pfd.as_fd(),
            &tmpname,
            libc::O_CREAT | libc::O_EXCL | libc::O_RDWR | libc::O_NOFOLLOW,
            nm.perm,
        )?;
        let file = File::from(fd);
        let made = self
            .prepare_new_file(file, parent, nm, caller)
            .and_then(|c| {
                sys::rename_noreplace(pfd.as_fd(), &tmpname, name)?;
                Ok(c)
            });
        if made.is_err() {
            Self::undo_create(pfd.as_fd(), &tmpname, false);
        }
        made
    }

    /// Owner, mode and the container header of a new, still unnamed file.
    fn prepare_new_file(
        &self,
        file: File,
        parent: &Inode,
        nm: NewMode,
        caller: Caller,
    ) -> io::Result<Content> {
        if self.is_root && (caller.uid != 0 || caller.gid != 0) {
            let pst = sys::fstat(parent.fd()?.as_fd())?;
            let gid = if pst.st_mode & libc::S_ISGID != 0 {
                u32::MAX
            } else {
                caller.gid
            };
            sys::fchown(file.as_fd(), caller.uid, gid)?;
        }
        if self.needs_chmod(nm) {
            let cur = sys::fstat(file.as_fd())?.st_mode;
            if let Some(m) = self.chmod_to(nm, cur) {
                sys::fchmod_fd(file.as_fd(), m)?;
            }
        }
        self.files.create_deferred(file)
    }

    pub(crate) fn mknod(
        &self,
        parent: u64,
        name: &OsStr,
        mode: u32,
        rdev: u32,
        caller: Caller,
    ) -> io::Result<(Arc<Inode>, FileAttr)> {
        self.check_rw()?;
        let name = new_name_cstr(parent, name)?;
        let parent = self.inodes.get(parent)?;
        if mode & libc::S_IFMT == libc::S_IFREG || mode & libc::S_IFMT == 0 {
            let content = self.create_file(&parent, &name, mode, caller)?;
            content.flush()?;
            drop(content);
            // Nothing written: an empty file (FORMAT.md 3.6).
            return self.lookup_prepared(&parent, &name, |s, _| {
                s.open.format = Format::Plain;
                s.new_name_parent = Some(Arc::downgrade(&parent));
            });
        }
        let nm = self.new_mode(&parent, mode, caller)?;
        let pfd = parent.fd()?;
        let kind = mode & libc::S_IFMT;
        sys::mknodat(pfd.as_fd(), &name, kind | nm.perm, sys::decode_dev(rdev))?;
        self.finish_new(&parent, pfd, &name, nm, caller, NewKind::Node)
    }

    pub(crate) fn symlink(
        &self,
        parent: u64,
        name: &OsStr,
        target: &std::path::Path,
        caller: Caller,
    ) -> io::Result<(Arc<Inode>, FileAttr)> {
        self.check_rw()?;
        let name = new_name_cstr(parent, name)?;
        let parent = self.inodes.get(parent)?;
        let target = sys::cstr(target.as_os_str())?;
        let pfd = parent.fd()?;
        sys::symlinkat(&target, pfd.as_fd(), &name)?;
        let nm = NewMode {
            perm: 0o777,
            inherits: false,
        };
        self.finish_new(&parent, pfd, &name, nm, caller, NewKind::Symlink)
    }

    pub(crate) fn link(
        &self,
        ino: u64,
        newparent: u64,
        newname: &OsStr,
    ) -> io::Result<(Arc<Inode>, FileAttr)> {
        self.check_rw()?;
        let inode = self.inodes.get(ino)?;
        let name = new_name_cstr(newparent, newname)?;
        let parent = self.inodes.get(newparent)?;
        {
            // Not held across the lookup below (lock order: state, ns).
            let _ns = self.ns.read();
            let fd = inode.fd()?;
            let pfd = parent.fd()?;
            sys::link_fd(fd.as_fd(), pfd.as_fd(), &name)?;
        }
        self.user_changed(&inode);
        self.lookup_in(&parent, &name)
    }

    pub(crate) fn unlink(&self, parent: u64, name: &OsStr, flags: i32) -> io::Result<()> {
        self.check_rw()?;
        let target = {
            let _ns = self.ns.read();
            let name = new_name_cstr(parent, name)?;
            let parent = self.inodes.get(parent)?;
            let pfd = parent.fd()?;
            let victim = last_name_of(self.files.seals(), pfd.as_fd(), &name);
            // A file keeping other names gets a new ctime (fs/ctime.rs).
            let target = if victim.is_none() && flags & libc::AT_REMOVEDIR == 0 {
                sys::openat(pfd.as_fd(), &name, libc::O_PATH | libc::O_NOFOLLOW, 0).ok()
            } else {
                None
            };
            let last = self.last_name_fd(pfd.as_fd(), &name);
            sys::unlinkat(pfd.as_fd(), &name, flags)?;
            self.mark_unlinked(last);
            forget_seal(self.files.seals(), victim);
            self.recompress_removed(victim);
            target
        };
        if let Some(fd) = target {
            self.user_changed_fd(fd.as_fd());
        }
        Ok(())
    }

    pub(crate) fn rename(
        &self,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        flags: u32,
    ) -> io::Result<()> {
        self.check_rw()?;
        let _ns = self.ns.read();
        let p = self.inodes.get(parent)?;
        let np = self.inodes.get(newparent)?;
        let name = new_name_cstr(parent, name)?;
        let newname = new_name_cstr(newparent, newname)?;
        let pfd = p.fd()?;
        let npfd = np.fd()?;
        let victim = if flags & libc::RENAME_EXCHANGE != 0 {
            None
        } else {
            last_name_of(self.files.seals(), npfd.as_fd(), &newname)
        };
        let last = if flags & libc::RENAME_EXCHANGE != 0 {
            None
        } else {
            self.last_name_fd(npfd.as_fd(), &newname)
        };
        sys::renameat2(pfd.as_fd(), &name, npfd.as_fd(), &newname, flags)?;
        self.mark_unlinked(last);
        forget_seal(self.files.seals(), victim);
        self.recompress_removed(victim);
        // The renamed file gets a new ctime (fs/ctime.rs); with
        // RENAME_EXCHANGE both do.
        let moved = |dir: BorrowedFd<'_>, n: &CStr| {
            sys::openat(dir, n, libc::O_PATH | libc::O_NOFOLLOW, 0).ok()
        };
        let a = moved(npfd.as_fd(), &newname);
        let b = if flags & libc::RENAME_EXCHANGE != 0 {
            moved(pfd.as_fd(), &name)
        } else {
            None
        };
        drop((pfd, npfd, _ns));
        for fd in [a, b].into_iter().flatten() {
            self.user_changed_fd(fd.as_fd());
        }
        Ok(())
    }

    pub(crate) fn readlink(&self, ino: u64) -> io::Result<std::ffi::OsString> {
        let inode = self.inodes.get(ino)?;
        if !inode.is_symlink() {
            return Err(err(libc::EINVAL));
        }
        let fd = inode.fd()?;
        sys::readlink_fd(fd.as_fd())
    }
}

/// The device and inode of `name` in `dir` when it is a regular file whose
/// only name this is and a seal ticket may hold it open (see
/// [`forget_seal`]); None otherwise (one cheap check when no ticket waits).
fn last_name_of(seals: &SealQueue, dir: BorrowedFd<'_>, name: &CStr) -> Option<(u64, u64)> {
    if !seals.has_tickets() {
        return None;
    }
    let st = sys::fstatat(dir, name, libc::AT_SYMLINK_NOFOLLOW).ok()?;
    (st.st_mode & libc::S_IFMT == libc::S_IFREG && st.st_nlink == 1)
        .then_some((st.st_dev, st.st_ino))
}

/// After the last name of a file is gone: its seal ticket (a descriptor of
/// the backing file) is dropped now, so its disk space is freed at once.
fn forget_seal(seals: &SealQueue, victim: Option<(u64, u64)>) {
    if let Some((dev, ino)) = victim {
        seals.forget_deleted(dev, ino);
    }
}

/// The mode of a new object (see `Inner::new_mode`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct NewMode {
    /// The permission and special bits it is made with.
    pub perm: u32,
    /// Its parent has a default ACL, from which BACKING derives its mode.
    pub inherits: bool,
}

/// What kind of object `finish_new` settles.
#[derive(Clone, Copy, PartialEq, Eq)]
enum NewKind {
    Dir,
    Node,
    Symlink,
}
