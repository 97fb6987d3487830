//! Attributes: backing `stat` -> FUSE `FileAttr` (with the logical size and
//! stored-bytes block count of containers), time conversions, and the
//! io::Error -> errno mapping used by every reply.

use std::io;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{Errno, FileAttr, FileType, INodeNo, TimeOrNow};

/// How long the kernel may cache entries and attributes. We are the only
/// writer of BACKING while mounted, so this can be generous.
pub const TTL: Duration = Duration::from_secs(1);

/// Converts an io::Error to the errno to reply with (EIO if it has none).
pub fn errno(e: &io::Error) -> Errno {
    match e.raw_os_error() {
        Some(n) if n > 0 => Errno::from_i32(n),
        _ => match e.kind() {
            io::ErrorKind::NotFound => Errno::ENOENT,
            io::ErrorKind::PermissionDenied => Errno::EACCES,
            io::ErrorKind::AlreadyExists => Errno::EEXIST,
            io::ErrorKind::InvalidInput => Errno::EINVAL,
            io::ErrorKind::Unsupported => Errno::from_i32(libc::EOPNOTSUPP),
            io::ErrorKind::OutOfMemory => Errno::ENOMEM,
            _ => Errno::EIO,
        },
    }
}

/// Builds an io::Error from an errno value.
pub fn err(n: i32) -> io::Error {
    io::Error::from_raw_os_error(n)
}

/// File type of a `st_mode`.
pub fn kind_of(mode: u32) -> FileType {
    match mode & libc::S_IFMT {
        libc::S_IFDIR => FileType::Directory,
        libc::S_IFLNK => FileType::Symlink,
        libc::S_IFIFO => FileType::NamedPipe,
        libc::S_IFCHR => FileType::CharDevice,
        libc::S_IFBLK => FileType::BlockDevice,
        libc::S_IFSOCK => FileType::Socket,
        _ => FileType::RegularFile,
    }
}

fn time(sec: i64, nsec: i64) -> SystemTime {
    let nsec = nsec.clamp(0, 999_999_999) as u32;
    if sec >= 0 {
        UNIX_EPOCH + Duration::new(sec as u64, nsec)
    } else {
        UNIX_EPOCH - Duration::new(sec.unsigned_abs(), 0) + Duration::new(0, nsec)
    }
}

/// Attributes of a backing object as seen through the mount. `logical`:
/// for a container, (logical size, bytes stored in BACKING including
/// pending data); `None` serves the object as it is.
pub fn to_attr(ino: u64, st: &libc::stat, logical: Option<(u64, u64)>, blksize: u32) -> FileAttr {
    let (size, blocks) = match logical {
        Some((size, stored)) => {
            let backing = st.st_blocks as u64;
            let mut blocks = backing.max(stored.div_ceil(512));
            if size > 0 && blocks == 0 {
                blocks = 1;
            }
            (size, blocks)
        }
        None => (st.st_size as u64, st.st_blocks as u64),
    };
    FileAttr {
        ino: INodeNo(ino),
        size,
        blocks,
        atime: time(st.st_atime, st.st_atime_nsec),
        mtime: time(st.st_mtime, st.st_mtime_nsec),
        ctime: time(st.st_ctime, st.st_ctime_nsec),
        crtime: UNIX_EPOCH,
        kind: kind_of(st.st_mode),
        perm: (st.st_mode & 0o7777) as u16,
        nlink: st.st_nlink as u32,
        uid: st.st_uid,
        gid: st.st_gid,
        rdev: super::sys::encode_dev(st.st_rdev),
        blksize,
        flags: 0,
    }
}

/// A `timespec` for utimensat from an optional setattr time.
pub fn timespec(t: Option<TimeOrNow>) -> libc::timespec {
    match t {
        None => libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_OMIT,
        },
        Some(TimeOrNow::Now) => libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_NOW,
        },
        Some(TimeOrNow::SpecificTime(t)) => match t.duration_since(UNIX_EPOCH) {
            Ok(d) => libc::timespec {
                tv_sec: d.as_secs() as libc::time_t,
                tv_nsec: d.subsec_nanos() as libc::c_long,
            },
            Err(e) => {
                let d = e.duration();
                let mut sec = -(d.as_secs() as i64);
                let mut nsec = d.subsec_nanos() as i64;
                if nsec > 0 {
                    sec -= 1;
                    nsec = 1_000_000_000 - nsec;
                }
                libc::timespec {
                    tv_sec: sec as libc::time_t,
                    tv_nsec: nsec as libc::c_long,
                }
            }
        },
    }
}
