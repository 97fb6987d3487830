//! Attributes: backing `stat` -> FUSE `FileAttr` (with the logical size and
//! stored-bytes block count of containers), time conversions, and the
//! io::Error -> errno mapping used by every reply.

use std::io;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{Errno, FileAttr, FileType, INodeNo, TimeOrNow};

/// How long the kernel may cache entries and attributes by default (the
/// `actimeo=` mount option, [`super::FsOptions::attr_timeout`]): a single-host
/// daemon is the only writer of BACKING, so this can be generous; with
/// `-o shared` it is how late another host's directory changes may show.
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

/// A stat time as SystemTime (out-of-range values clamp to the epoch
/// rather than panic).
pub fn time(sec: i64, nsec: i64) -> SystemTime {
    let nsec = nsec.clamp(0, 999_999_999) as u32;
    let t = if sec >= 0 {
        UNIX_EPOCH.checked_add(Duration::new(sec as u64, nsec))
    } else {
        UNIX_EPOCH
            .checked_sub(Duration::new(sec.unsigned_abs(), 0))
            .and_then(|t| t.checked_add(Duration::new(0, nsec)))
    };
    t.unwrap_or(UNIX_EPOCH)
}

/// Attributes of a backing object as seen through the mount. `logical`:
/// for a container, (logical size, bytes stored in BACKING including
/// pending data); `None` serves the object as it is.
pub fn to_attr(ino: u64, st: &libc::stat, logical: Option<(u64, u64)>, blksize: u32) -> FileAttr {
    let (size, blocks) = match logical {
        Some((size, stored)) => {
            // Stored bytes count in the backing filesystem's allocation
            // unit, as they will once written (ext4: 4 KiB).
            let unit = (st.st_blksize as u64).clamp(512, 1 << 16);
            let backing = st.st_blocks as u64;
            let mut blocks = backing.max(stored.div_ceil(unit) * (unit / 512));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_convert_both_ways_and_never_panic() {
        assert_eq!(time(0, 0), UNIX_EPOCH);
        assert_eq!(time(5, 7), UNIX_EPOCH + Duration::new(5, 7));
        assert_eq!(
            time(-2, 500),
            UNIX_EPOCH - Duration::new(2, 0) + Duration::new(0, 500)
        );
        let _ = time(i64::MIN, -1);
        let _ = time(i64::MAX, 2_000_000_000);
        let ts = timespec(Some(TimeOrNow::SpecificTime(time(-2, 500))));
        assert_eq!((ts.tv_sec, ts.tv_nsec), (-2, 500));
        let ts = timespec(Some(TimeOrNow::SpecificTime(time(1_700_000_000, 9))));
        assert_eq!((ts.tv_sec, ts.tv_nsec), (1_700_000_000, 9));
        assert_eq!(timespec(None).tv_nsec, libc::UTIME_OMIT);
        assert_eq!(timespec(Some(TimeOrNow::Now)).tv_nsec, libc::UTIME_NOW);
    }

    #[test]
    fn device_numbers_round_trip() {
        for (maj, min) in [(0, 0), (1, 3), (8, 17), (259, 70000), (4095, 0xfffff)] {
            let dev = libc::makedev(maj, min);
            let enc = super::super::sys::encode_dev(dev);
            assert_eq!(super::super::sys::decode_dev(enc), dev, "{maj}:{min}");
        }
        assert_eq!(super::super::sys::encode_dev(libc::makedev(1, 3)), 0x103);
    }

    #[test]
    fn errors_map_to_errno() {
        assert_eq!(errno(&err(libc::ENOENT)), Errno::ENOENT);
        assert_eq!(errno(&io::Error::other("x")), Errno::EIO);
        assert_eq!(errno(&io::ErrorKind::NotFound.into()), Errno::ENOENT);
    }
}
