//! `-o` option parsing for `scfs mount`: turns `cache_size=128M,ro,...` into
//! [`MountOptions`] and those into the fuser session [`fuser::Config`].
//! Unknown options are an error, never ignored; the generic options of
//! mount(8), mount.fuse3 and systemd are accepted (see `flags`).

use crate::container::Compression;
use crate::sys::is_root;
use fuser::{Config, MountOption};

use super::flags::{self, VfsFlags};

pub use crate::cache::DEFAULT_CACHE_SIZE;
pub use crate::container::DEFAULT_BLOCK_SIZE;
pub use crate::size::parse_size;
/// Smallest accepted cache budget (one largest block plus change).
pub const MIN_CACHE_SIZE: u64 = 1 << 20;

/// Everything `-o` can say, parsed and validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions {
    /// Bytes of decoded blocks kept in memory (`cache_size=`).
    pub cache_size: u64,
    /// Block size of files created through the mount (`block_size=`).
    pub block_size: u32,
    /// `ro`: the mount refuses every change (EROFS).
    pub read_only: bool,
    /// `allow_other`: users other than the mounting one may use the mount.
    /// On by default when root mounts (the kernel still checks every
    /// access against the mode bits: `default_permissions`), as for a
    /// disk filesystem; `no_allow_other` turns it off.
    pub allow_other: bool,
    /// `default_permissions` (default on): the kernel checks mode bits.
    /// `no_default_permissions` turns it off.
    pub default_permissions: bool,
    /// FUSE event-loop threads (`threads=`).
    pub threads: usize,
    /// `writeback_cache` / `no_writeback_cache`: the kernel's writeback
    /// cache; None = the filesystem's default.
    pub writeback_cache: Option<bool>,
    /// `ro` or `rw` was given (a remount keeps the current state otherwise).
    pub ro_named: bool,
    /// Generic kernel mount flags (nodev, noexec, relatime, strictatime, ...).
    pub vfs: VfsFlags,
    /// `nonempty`: mount over a directory that has entries (hiding them).
    pub nonempty: bool,
    /// `remount`: change the flags of the scfs mount at MNT (mount(8)'s
    /// `mount -o remount,...` runs `scfs BACKING MNT -o remount,...`).
    pub remount: bool,
    /// `inode_fds=N`: inode descriptors held before idle ones are swapped
    /// for file handles (0: half of the open-file limit).
    pub inode_fds: usize,
    /// `compress=LEVEL`: how files without a `user.scfs.compress` policy
    /// are coded when written.
    pub compression: Compression,
    /// `recompress=LEVEL|off` and `recompress_idle=DURATION`: idle
    /// recompression (see `fs::FsOptions::recompress`; default default, 10m).
    pub recompress: Option<Compression>,
    pub recompress_idle: std::time::Duration,
    /// `shared`: one daemon per host over one BACKING on a shared
    /// filesystem (docs/SHARED.md).
    pub shared: bool,
    /// `lock_wait=DURATION`: how long an open for writing waits for
    /// another host's write lock (shared mode; default 10s).
    pub lock_wait: std::time::Duration,
    /// `actimeo=DURATION`: how long the kernel caches entries and
    /// attributes (default 1s).
    pub actimeo: std::time::Duration,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            cache_size: DEFAULT_CACHE_SIZE,
            block_size: DEFAULT_BLOCK_SIZE,
            read_only: false,
            allow_other: is_root(),
            default_permissions: true,
            threads: default_threads(),
            writeback_cache: None,
            ro_named: false,
            vfs: VfsFlags::default(),
            nonempty: false,
            remount: false,
            inode_fds: 0,
            compression: crate::fs::DEFAULT_COMPRESSION,
            recompress: crate::fs::DEFAULT_RECOMPRESS,
            recompress_idle: crate::fs::FsOptions::default().recompress_idle,
            shared: false,
            lock_wait: crate::fs::DEFAULT_LOCK_WAIT,
            actimeo: crate::fs::FsOptions::default().attr_timeout,
        }
    }
}

/// Event loops: one per core, at least 4 (handlers block on disk I/O and
/// compression, so a few more loops than cores keep the kernel queue busy).
pub fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(4, 16)
}

/// Parses the `-o` arguments (each a comma-separated list; may repeat).
pub fn parse_options<S: AsRef<str>>(lists: &[S]) -> Result<MountOptions, String> {
    let mut o = MountOptions::default();
    let mut explicit_allow_other = false;
    // Options the kernel shows in mountinfo, which mount(8) passes back on
    // `mount -o remount`: accepted (and ignored) only there.
    let mut kernel_echo: Option<String> = None;
    for list in lists {
        for opt in list
            .as_ref()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            let (key, value) = match opt.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (opt, None),
            };
            let need = |v: Option<&str>| -> Result<String, String> {
                v.map(str::to_owned)
                    .ok_or_else(|| format!("option '{key}' needs a value ({key}=...)"))
            };
            let none = |v: Option<&str>| -> Result<(), String> {
                match v {
                    Some(_) => Err(format!("option '{key}' takes no value")),
                    None => Ok(()),
                }
            };
            match key {
                "cache_size" => {
                    let n = parse_size(&need(value)?).map_err(|e| format!("option {key}: {e}"))?;
                    if n < MIN_CACHE_SIZE {
                        return Err(format!("cache_size={n} is below the minimum of 1M"));
                    }
                    o.cache_size = n;
                }
                "block_size" => {
                    let n = parse_size(&need(value)?).map_err(|e| format!("option {key}: {e}"))?;
                    o.block_size = crate::container::BlockSize::new(n)
                        .map_err(|e| format!("block_size={n}: {e}"))?
                        .bytes();
                }
                "threads" => {
                    let v = need(value)?;
                    let n: usize = v
                        .parse()
                        .ok()
                        .filter(|n| (1..=64).contains(n))
                        .ok_or_else(|| format!("threads={v}: must be a number from 1 to 64"))?;
                    o.threads = n;
                }
                "compress" => {
                    let v = need(value)?;
                    o.compression = v.parse().map_err(|e| format!("option compress: {e}"))?;
                }
                "recompress" => o.recompress = crate::fs::parse_recompress(&need(value)?)?,
                "recompress_idle" => {
                    o.recompress_idle = crate::fs::parse_recompress_idle(&need(value)?)?;
                }
                "inode_fds" => {
                    let v = need(value)?;
                    let n: usize =
                        v.parse()
                            .ok()
                            .filter(|&n| n == 0 || n >= 16)
                            .ok_or_else(|| {
                                format!("inode_fds={v}: must be 0 or a number from 16 on")
                            })?;
                    o.inode_fds = n;
                }
                "shared" => {
                    none(value)?;
                    o.shared = true;
                }
                "lock_wait" => o.lock_wait = parse_duration(key, &need(value)?, 3600)?,
                "actimeo" => o.actimeo = parse_duration(key, &need(value)?, 3600)?,
                "ro" => {
                    none(value)?;
                    o.read_only = true;
                    o.ro_named = true;
                }
                "rw" => {
                    none(value)?;
                    o.read_only = false;
                    o.ro_named = true;
                }
                "nonempty" => {
                    none(value)?;
                    o.nonempty = true;
                }
                "remount" => {
                    none(value)?;
                    o.remount = true;
                }
                "allow_other" => {
                    none(value)?;
                    o.allow_other = true;
                    explicit_allow_other = true;
                }
                "no_allow_other" => {
                    none(value)?;
                    o.allow_other = false;
                }
                "default_permissions" => {
                    none(value)?;
                    o.default_permissions = true;
                }
                "no_default_permissions" => {
                    none(value)?;
                    o.default_permissions = false;
                }
                "writeback_cache" => {
                    none(value)?;
                    o.writeback_cache = Some(true);
                }
                "no_writeback_cache" => {
                    none(value)?;
                    o.writeback_cache = Some(false);
                }
                "user_id" | "group_id" | "rootmode" | "max_read" | "blksize" | "fd"
                    if value.is_some() =>
                {
                    kernel_echo.get_or_insert_with(|| opt.to_owned());
                }
                _ if value.is_none() && o.vfs.apply(key) => {}
                _ if flags::is_generic_noop(opt) => {}
                _ => return Err(format!("unknown mount option '{opt}'")),
            }
        }
    }
    if !is_root() {
        // fusermount3 (3.14) sets only ro, nosuid, nodev, noexec, sync,
        // dirsync and noatime: what it cannot do for a user is refused
        // rather than silently not done (defaults like relatime are fine).
        for (bit, name) in [
            (libc::MS_STRICTATIME, "strictatime"),
            (libc::MS_NODIRATIME, "nodiratime"),
            (libc::MS_NOSYMFOLLOW, "nosymfollow"),
        ] {
            if o.vfs.get(bit) == Some(true) {
                return Err(format!(
                    "{name}: a user's mount cannot have it (fusermount3 does not set it); \
                     only root's mounts can"
                ));
            }
        }
    }
    if let (Some(opt), false) = (&kernel_echo, o.remount) {
        return Err(format!(
            "unknown mount option '{opt}' (the kernel sets it; scfs takes it only with remount)"
        ));
    }
    if o.allow_other && !o.default_permissions {
        // The daemon acts on BACKING with its own rights and checks only
        // access(2) itself: other users would get the daemon's rights. So
        // no_default_permissions leaves the mount to its owner (allow_other
        // is only on by default for root), and asking for both is an error.
        if !explicit_allow_other {
            o.allow_other = false;
            return Ok(o);
        }
        return Err(
            "allow_other needs default_permissions (scfs does not check \
                    permissions itself: with no_default_permissions every user \
                    could change every file)"
                .into(),
        );
    }
    Ok(o)
}

/// Parses `KEY=DURATION`: a number of seconds, or a number with `ms`, `s`,
/// `m` or `h` (`500ms`, `10s`, `2m`); 0 is allowed, at most `max_secs`.
pub fn parse_duration(key: &str, s: &str, max_secs: u64) -> Result<std::time::Duration, String> {
    use std::time::Duration;
    let bad = || {
        format!(
            "{key}={s}: expected seconds, or a number with ms, s, m or h (e.g. 500ms, 10s, 2m), \
             at most {max_secs}s"
        )
    };
    let (num, ms_per) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1000)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60_000)
    } else if let Some(n) = s.strip_suffix('h') {
        (n, 3_600_000)
    } else {
        (s, 1000)
    };
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let ms = num
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(ms_per))
        .filter(|&ms| ms <= max_secs * 1000)
        .ok_or_else(bad)?;
    Ok(Duration::from_millis(ms))
}

pub use crate::fs::fs_name;

/// The fuser session configuration for these options
/// ([`crate::fs::fuse_config`], the one builder, plus the generic flags).
pub fn fuse_config(o: &MountOptions, backing: &std::path::Path) -> Config {
    crate::fs::fuse_config(backing, &super::fs_options(o), vfs_mount_options(&o.vfs))
}

/// The generic flags as fuser options: its own variants where it has one,
/// `CUSTOM(name)` for the others (relatime, lazytime, ...), which our
/// mount(2) turns into `MS_*` flags. A user's mount goes through
/// fusermount3, which knows only fuser's: `dev` and `suid` (which it
/// ignores for users) and the others are left out; those that would
/// change something were refused by `parse_options`, the rest are the
/// kernel's defaults anyway or mean nothing on FUSE (`lazytime`, `silent`).
fn vfs_mount_options(v: &VfsFlags) -> Vec<MountOption> {
    let root = is_root();
    v.names()
        .into_iter()
        .filter_map(|n| {
            Some(match n {
                "dev" | "suid" if !root => return None,
                "dev" => MountOption::Dev,
                "nodev" => MountOption::NoDev,
                "suid" => MountOption::Suid,
                "nosuid" => MountOption::NoSuid,
                "exec" => MountOption::Exec,
                "noexec" => MountOption::NoExec,
                "atime" => MountOption::Atime,
                "noatime" => MountOption::NoAtime,
                "sync" => MountOption::Sync,
                "async" => MountOption::Async,
                "dirsync" => MountOption::DirSync,
                _ if !root => return None,
                other => MountOption::CUSTOM(other.into()),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use fuser::SessionACL;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("64K").unwrap(), 65536);
        assert_eq!(parse_size("64k").unwrap(), 65536);
        assert_eq!(parse_size("2M").unwrap(), 2 << 20);
        assert_eq!(parse_size("1GiB").unwrap(), 1 << 30);
        assert!(parse_size("").is_err());
        assert!(parse_size("M").is_err());
        assert!(parse_size("12X").is_err());
        assert!(parse_size("-5").is_err());
        assert!(parse_size("99999999999999999999").is_err());
        assert!(parse_size("17179869184G").is_err());
    }

    #[test]
    fn defaults() {
        let o = parse_options::<&str>(&[]).unwrap();
        assert_eq!(o.cache_size, 64 << 20);
        assert_eq!(o.block_size, 64 << 10);
        assert!(o.default_permissions && !o.read_only);
        assert_eq!(o.allow_other, is_root());
        assert!(!parse_options(&["no_allow_other"]).unwrap().allow_other);
    }

    #[test]
    fn parses_lists() {
        let o =
            parse_options(&["cache_size=128M,block_size=1M", "ro,allow_other,threads=3"]).unwrap();
        assert_eq!(o.cache_size, 128 << 20);
        assert_eq!(o.block_size, 1 << 20);
        assert!(o.read_only && o.allow_other);
        assert_eq!(o.threads, 3);
        assert_eq!(parse_options(&["inode_fds=64"]).unwrap().inode_fds, 64);
        assert_eq!(
            parse_options(&["compress=max"]).unwrap().compression,
            "max".parse().unwrap()
        );
        assert_eq!(
            parse_options(&["ro"]).unwrap().compression,
            crate::fs::DEFAULT_COMPRESSION
        );
        let e = parse_options(&["compress=zstd"]).unwrap_err();
        assert!(e.contains("compress") && e.contains("huffman"), "{e}");
        assert_eq!(parse_options(&["ro"]).unwrap().inode_fds, 0);
        let o = parse_options(&["no_default_permissions,noatime,atime,nodev"]).unwrap();
        assert!(!o.default_permissions && !o.allow_other);
        assert_eq!(
            vfs_mount_options(&o.vfs),
            vec![MountOption::NoDev, MountOption::Atime]
        );
        // What mount(8) and mount.fuse3 pass from an fstab line.
        if !is_root() {
            assert!(parse_options(&["strictatime"]).is_err());
            return;
        }
        let o = parse_options(&[
            "rw,relatime,nodiratime,lazytime,noexec,nosuid,nodev,cache_size=256M,dev,suid",
            "defaults,noauto,nofail,_netdev,x-systemd.automount,users,strictatime",
        ])
        .unwrap();
        assert_eq!(o.cache_size, 256 << 20);
        assert_eq!(
            flags::atime_policy(o.vfs.for_new_mount()),
            flags::Atime::Strict
        );
        assert!(!o.remount && !o.nonempty);
        let o = parse_options(&[
            "ro,nosuid,nodev,nodiratime,relatime,remount,user_id=0,group_id=0,\
             default_permissions,allow_other",
        ])
        .unwrap();
        assert!(o.remount && o.read_only);
        assert!(parse_options(&["user_id=0"]).is_err());
        let o = parse_options(&["ro,remount,nonempty"]).unwrap();
        assert!(o.remount && o.nonempty && o.read_only && o.ro_named);
        // Other users must not get the daemon's rights.
        let e = parse_options(&["allow_other,no_default_permissions"]).unwrap_err();
        assert!(e.contains("default_permissions"), "{e}");
        let e = parse_options(&["no_default_permissions", "allow_other"]).unwrap_err();
        assert!(e.contains("default_permissions"), "{e}");
        let o = parse_options(&["no_default_permissions,allow_other,default_permissions"]).unwrap();
        assert!(o.allow_other && o.default_permissions);
    }

    #[test]
    fn rejects_bad_options() {
        for bad in [
            "bogus",
            "cache_size",
            "cache_size=12Q",
            "cache_size=1K",
            "block_size=3000",
            "block_size=2K",
            "block_size=2M",
            "ro=1",
            "threads=0",
            "threads=x",
            "inode_fds=8",
            "inode_fds=x",
            "inode_fds",
            "fsname=x",
            "relatime=1",
            "cache_sise=1M",
            "nonempty=1",
            "mand",
            "recompress",
            "recompress=zstd",
            "recompress_idle=",
            "recompress_idle=0",
            "recompress_idle=5x",
            "recompress_idle=-1",
            "recompress_idle=31d",
            "recompress_idle=99999999999999999999h",
        ] {
            let e = parse_options(&[bad]).unwrap_err();
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn recompress_options() {
        use std::time::Duration;
        let d = parse_options::<&str>(&[]).unwrap();
        assert_eq!(
            (d.recompress, d.recompress_idle),
            (Some("default".parse().unwrap()), Duration::from_secs(600))
        );
        assert_eq!(d.compression, "fast".parse().unwrap());
        assert_eq!(parse_options(&["recompress=off"]).unwrap().recompress, None);
        let o = parse_options(&["recompress=max,recompress_idle=90"]).unwrap();
        assert_eq!(o.recompress, Some("max".parse().unwrap()));
        assert_eq!(o.recompress_idle, Duration::from_secs(90));
        for (v, secs) in [
            ("1", 1),
            ("45s", 45),
            ("10m", 600),
            ("2h", 7200),
            ("720h", 2592000),
        ] {
            let o = parse_options(&[format!("recompress_idle={v}")]).unwrap();
            assert_eq!(o.recompress_idle, Duration::from_secs(secs), "{v}");
        }
        assert_eq!(
            parse_options(&["recompress=max,recompress=off"])
                .unwrap()
                .recompress,
            None
        );
        let e = parse_options(&["recompress=zstd"]).unwrap_err();
        assert!(e.contains("recompress") && e.contains("off"), "{e}");
        let e = parse_options(&["recompress_idle=5x"]).unwrap_err();
        assert!(e.contains("recompress_idle=5x"), "{e}");
    }

    #[test]
    fn shared_options() {
        use std::time::Duration;
        let d = parse_options::<&str>(&[]).unwrap();
        assert!(!d.shared);
        assert_eq!(d.lock_wait, Duration::from_secs(10));
        assert_eq!(d.actimeo, Duration::from_secs(1));
        let o = parse_options(&["shared,lock_wait=500ms,actimeo=0"]).unwrap();
        assert!(o.shared);
        assert_eq!(o.lock_wait, Duration::from_millis(500));
        assert_eq!(o.actimeo, Duration::ZERO);
        for (v, ms) in [
            ("3", 3000),
            ("2s", 2000),
            ("2m", 120_000),
            ("1h", 3_600_000),
        ] {
            let o = parse_options(&[format!("lock_wait={v}")]).unwrap();
            assert_eq!(o.lock_wait, Duration::from_millis(ms), "{v}");
        }
        for bad in [
            "shared=1",
            "lock_wait",
            "lock_wait=",
            "lock_wait=x",
            "lock_wait=-1",
            "lock_wait=2h",
            "actimeo=1.5",
            "actimeo=99999999999999999999h",
        ] {
            let e = parse_options(&[bad]).unwrap_err();
            assert!(!e.contains('\n'), "{e}");
        }
        let f = super::super::fs_options(&o);
        assert!(f.shared);
        assert_eq!((f.lock_wait, f.attr_timeout), (o.lock_wait, o.actimeo));
    }

    #[test]
    fn config_reflects_options() {
        let o = parse_options(&["ro,allow_other,threads=2"]).unwrap();
        let c = fuse_config(&o, std::path::Path::new("/b"));
        assert!(c.mount_options.contains(&MountOption::RO));
        assert!(c.mount_options.contains(&MountOption::DefaultPermissions));
        assert!(c
            .mount_options
            .contains(&MountOption::FSName("scfs:/b".into())));
        assert_eq!(c.acl, SessionACL::All);
        assert_eq!(c.n_threads, Some(2));
    }
}
