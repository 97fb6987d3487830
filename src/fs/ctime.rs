//! The user-visible ctime of containers (issue 17, item 2): it moves only
//! when the user changes the file (write, truncate, chmod, chown, utimens,
//! xattr set or removal, link count change, rename), never because the
//! daemon writes the backing file itself (write-back, the mtime stamp at
//! close, seal, compaction, recompression).
//!
//! The user ctime is kept beside the container, in the backing file's
//! xattr `user.scfs.ctime` (FORMAT.md 3.10), hidden from users. A file
//! without it reports its backing file's ctime, as before. Rules:
//!
//! - Open container: the user ctime is taken at the open (`opened`) and
//!   held in memory (`FileState::uctime`); writes raise it to their time
//!   (`touched`), metadata changes to theirs (`user_changed`). At the last
//!   close, if anything moved the backing ctime meanwhile, it is written
//!   to the xattr (`closing`), before any seal of that file can move the
//!   backing ctime again.
//! - Closed container: the xattr when present, else the backing ctime
//!   (`reported`), cached per backing ctime (any xattr change moves it).
//! - A metadata change through the mount removes the xattr (the backing
//!   ctime, just moved by that change, is the truth again).
//! - A recompression carries the user ctime to the new file
//!   (`carry_to`); compaction copies the xattr with the others and runs
//!   while the file is open (the close writes it).

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};

use super::inode::FileState;
use super::inode::Inode;
use super::sys;
use super::Inner;

/// The xattr holding the user ctime.
pub const CTIME: &CStr = c"user.scfs.ctime";

/// Length of the xattr's value.
const LEN: usize = 12;

/// (seconds, nanoseconds) of a time, comparable.
pub type Key = (i64, i64);

// c_long is not i64 on every target.
#[allow(clippy::unnecessary_cast)]
fn key(t: &libc::timespec) -> Key {
    (t.tv_sec, t.tv_nsec as i64)
}

/// The backing ctime of `st`.
pub fn backing(st: &libc::stat) -> Key {
    (st.st_ctime, st.st_ctime_nsec)
}

/// The xattr's value for `t`: seconds i64 LE, nanoseconds u32 LE.
pub fn encode(t: Key) -> [u8; LEN] {
    let mut v = [0u8; LEN];
    v[..8].copy_from_slice(&t.0.to_le_bytes());
    v[8..].copy_from_slice(&(t.1.clamp(0, 999_999_999) as u32).to_le_bytes());
    v
}

/// The time in an xattr value; None for anything but 12 bytes with
/// nanoseconds below 10^9 (set behind the mount's back: ignored).
pub fn decode(v: &[u8]) -> Option<Key> {
    let v: &[u8; LEN] = v.try_into().ok()?;
    let sec = i64::from_le_bytes(v[..8].try_into().ok()?);
    let nsec = u32::from_le_bytes(v[8..].try_into().ok()?);
    (nsec < 1_000_000_000).then_some((sec, nsec as i64))
}

/// The user ctime recorded on the backing object `fd`, if any.
pub fn read(fd: RawFd) -> Option<Key> {
    let (n, v) = sys::getxattr(&sys::proc_path(fd), CTIME, LEN + 1).ok()?;
    if n != LEN {
        return None;
    }
    decode(&v)
}

/// Records `t` as the user ctime of the backing object `fd`.
pub fn write(fd: RawFd, t: Key) -> io::Result<()> {
    sys::setxattr(&sys::proc_path(fd), CTIME, &encode(t), 0)
}

/// Records `t` as the user ctime of the open backing `file` unless it
/// has a record (best effort: without xattrs the backing ctime stays the
/// reported one).
fn record_if_absent(file: &std::fs::File, t: Key) {
    if let Err(e) = sys::fsetxattr(file.as_fd(), CTIME, &encode(t), libc::XATTR_CREATE) {
        if e.raw_os_error() != Some(libc::EEXIST) {
            log::debug!("cannot record the ctime before a seal: {e}");
        }
    }
}

/// Removes the record of `fd` (absent, or xattrs unsupported: nothing).
pub fn remove(fd: RawFd) {
    if let Err(e) = sys::removexattr(&sys::proc_path(fd), CTIME) {
        if !matches!(
            e.raw_os_error(),
            Some(libc::ENODATA) | Some(libc::EOPNOTSUPP)
        ) {
            log::debug!("cannot remove the ctime record: {e}");
        }
    }
}

/// Carries the user ctime of the old backing file `old` (stat `st`) to
/// its replacement `new` (recompression), best effort.
pub fn carry_to(old: RawFd, st: &libc::stat, new: &std::fs::File) {
    let t = read(old).unwrap_or_else(|| backing(st));
    if let Err(e) = write(new.as_raw_fd(), t) {
        log::debug!("cannot carry the ctime record: {e}");
    }
}

/// The user ctime of an open container, with the backing ctime at the
/// time it was taken (to tell at the close whether anything moved it).
#[derive(Clone, Copy, Debug, Default)]
pub struct OpenCtime {
    pub user: Key,
    pub backing_at_open: Key,
}

impl Inner {
    /// The ctime to report for the container `inode` with backing stat
    /// `st`, its state locked as `s`: while open the held one (raised by
    /// pending data changes), else the record or the backing ctime.
    pub(crate) fn reported_ctime(&self, inode: &Inode, s: &mut FileState, st: &libc::stat) -> Key {
        if let Some(o) = s.uctime {
            let t = s.touched.map(|t| key(&t)).unwrap_or_default();
            return o.user.max(t);
        }
        let b = backing(st);
        if let Some((at, rec)) = s.ctime_rec {
            if at == b {
                return rec.unwrap_or(b);
            }
        }
        let rec = inode.fd().ok().and_then(|fd| read(fd.raw()));
        s.ctime_rec = Some((b, rec));
        rec.unwrap_or(b)
    }

    /// At an open of the container `inode` (state `s`): takes its user
    /// ctime unless already held.
    pub(crate) fn ctime_opened(&self, inode: &Inode, s: &mut FileState) {
        if s.uctime.is_some() {
            return;
        }
        let Ok(st) = inode.fd().and_then(|fd| sys::fstat(fd.as_fd())) else {
            return;
        };
        let user = self.reported_ctime(inode, s, &st);
        log::debug!("ino {}: opened, user ctime {user:?}", inode.ino);
        s.uctime = Some(OpenCtime {
            user,
            backing_at_open: backing(&st),
        });
    }

    /// At the last close of `inode` (state `s`, backing stat `st` after
    /// the close's own writes, `touched`: the data change it stamped):
    /// records the user ctime when the daemon moved the backing ctime.
    /// Returns whether it did (the backing ctime moved again).
    pub(crate) fn ctime_closing(
        &self,
        inode: &Inode,
        s: &mut FileState,
        st: &libc::stat,
        touched: Option<libc::timespec>,
    ) -> bool {
        let known_absent = std::mem::take(&mut s.no_ctime_rec);
        let Some(o) = s.uctime.take() else {
            return false;
        };
        log::debug!(
            "ino {}: closing {o:?}, backing {:?}",
            inode.ino,
            backing(st)
        );
        let user = o.user.max(touched.map(|t| key(&t)).unwrap_or_default());
        // An empty file is plain on disk (a container that never took a
        // byte writes no header), reported by its backing ctime: no record.
        // Nor is one needed when the backing ctime is the user's: the last
        // thing that moved it was a change through the mount (which removed
        // any record), as when `cp -a` sets the times and the ACL after
        // the data; a seal that moves it later records it first (`sealing`).
        if self.opts.read_only
            || backing(st) == o.backing_at_open
            || st.st_size == 0
            || backing(st) == user
        {
            if known_absent || backing(st) == user {
                s.ctime_rec = Some((backing(st), None));
            }
            return false;
        }
        let Ok(fd) = inode.fd() else { return false };
        match write(fd.raw(), user) {
            Ok(()) => {
                if let Ok(after) = sys::fstat(fd.as_fd()) {
                    s.ctime_rec = Some((backing(&after), Some(user)));
                }
                true
            }
            Err(e) => {
                log::debug!("ino {}: ctime not recorded: {e}", inode.ino);
                false
            }
        }
    }

    /// Runs `seal`, the write of a closed container's seal into its
    /// backing `file` (which moves the backing ctime): a file without a
    /// ctime record first gets one holding the backing ctime, its user
    /// ctime. An open container is left alone (its last close records
    /// the ctime, as the backing ctime moved since the open). Runs under
    /// the inode's state lock when the kernel holds one, so no change
    /// through the mount (which removes the record) comes in between.
    pub(crate) fn sealing(
        &self,
        file: &std::fs::File,
        seal: &mut dyn FnMut() -> io::Result<bool>,
    ) -> io::Result<bool> {
        let Ok(st) = sys::fstat(file.as_fd()) else {
            return seal();
        };
        let inode = self.inodes.find(file.as_fd(), &st);
        let s = inode.as_ref().map(|i| i.state.lock());
        if !self.opts.read_only && s.as_ref().is_none_or(|s| s.uctime.is_none()) {
            record_if_absent(file, backing(&st));
        }
        seal()
    }

    /// After the user changed the metadata of `inode` through the mount
    /// (the backing ctime moved): the record goes (no syscall for a file
    /// known to have none), an open file's held ctime becomes now. (The
    /// close still records it whenever the backing ctime moved since the
    /// open: the seal at the unmount moves it again.)
    pub(crate) fn user_changed(&self, inode: &Inode) {
        if !inode.is_reg() || self.opts.read_only {
            return;
        }
        let mut s = inode.state.lock();
        let Ok(fd) = inode.fd() else { return };
        log::debug!("ino {}: changed by the user", inode.ino);
        if !s.no_ctime_rec {
            remove(fd.raw());
        }
        s.ctime_rec = None;
        if let Some(o) = s.uctime.as_mut() {
            if let Ok(st) = sys::fstat(fd.as_fd()) {
                o.user = o.user.max(backing(&st));
            }
        }
    }

    /// `user_changed` for the regular file `fd` names (after a rename or
    /// an unlink of one of its names), whether or not the kernel holds an
    /// inode of it.
    pub(crate) fn user_changed_fd(&self, fd: std::os::fd::BorrowedFd<'_>) {
        let Ok(st) = sys::fstat(fd) else { return };
        if st.st_mode & libc::S_IFMT != libc::S_IFREG || st.st_nlink == 0 {
            return;
        }
        match self.inodes.find(fd, &st) {
            Some(inode) => self.user_changed(&inode),
            None if !self.opts.read_only => remove(fd.as_raw_fd()),
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_bad_ones_are_ignored() {
        for t in [(0, 0), (1_700_000_000, 999_999_999), (-5, 3)] {
            assert_eq!(decode(&encode(t)), Some(t));
        }
        assert_eq!(decode(&[0; 11]), None);
        assert_eq!(decode(&[0; 13]), None);
        let mut v = encode((1, 0));
        v[8..].copy_from_slice(&1_000_000_000u32.to_le_bytes());
        assert_eq!(decode(&v), None);
    }
}
