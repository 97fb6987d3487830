//! The state an inode keeps for its regular file, under its state lock:
//! the open-file table's entry (`file::OpenEntry`: content, open count,
//! format, cached size) and the frontend's own per-file facts (timestamps
//! not yet on the backing file, the directory to fsync for a new name,
//! the capability probe's answer).

use std::sync::Weak;

use super::Inode;
use crate::file::OpenEntry;

/// Per-inode state of a regular file.
#[derive(Default)]
pub struct FileState {
    /// The open-file table's part (`file::OpenFiles`).
    pub open: OpenEntry,
    /// Parent directory to fsync at the next fsync (new names). Weak: a
    /// file that is never fsynced (most are) must not keep its directory
    /// busy, or no directory with a new file in it could give up its
    /// descriptor (`InodeTable::evict_some` skips inodes held elsewhere).
    /// Gone when the kernel forgot the directory (the file was renamed
    /// out of it: its entry there no longer matters).
    pub new_name_parent: Option<Weak<Inode>>,
    /// Known to carry no `security.capability` xattr (a file we created,
    /// or one the kernel already probed), so the kernel's probe before a
    /// write or chown is answered without a syscall. Cleared when that
    /// xattr is set through the mount.
    pub caps_absent: bool,
    /// When the data last changed through the mount (write, truncate,
    /// fallocate) while the backing file may not show it yet: its mtime
    /// moves only when dirty blocks are written. getattr reports the later
    /// of the two; the last close stamps it onto the backing file.
    pub touched: Option<libc::timespec>,
    /// The user ctime of an open container (`fs/ctime.rs`).
    pub uctime: Option<crate::fs::ctime::OpenCtime>,
    /// The ctime record of a closed container as read when the backing
    /// ctime was the first value (valid while it is).
    pub ctime_rec: Option<(crate::fs::ctime::Key, Option<crate::fs::ctime::Key>)>,
    /// The backing file was created by this daemon and has been open ever
    /// since (single-host mounts only): it has no ctime record, so none is
    /// read or removed (`fs/ctime.rs`). Cleared at the last close, which
    /// may write one.
    pub no_ctime_rec: bool,
}

/// The current time as a `timespec` (for data-change timestamps).
pub fn now_timespec() -> libc::timespec {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    libc::timespec {
        tv_sec: d.as_secs() as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    }
}
