//! Reading /proc/self/mountinfo (to find the BACKING of an scfs mount point)
//! and /proc/locks (to name the process holding a BACKING lock), plus
//! lexical path helpers that never touch a possibly dead mount point.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Component, Path, PathBuf};

/// One line of mountinfo, the fields we use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    pub mount_point: PathBuf,
    pub fs_type: String,
    pub source: String,
    /// Per-mount options (`rw,nosuid,nodev,relatime`).
    pub mount_opts: String,
    /// Superblock options (`rw,user_id=0,...`, with `lazytime`, `sync`).
    pub super_opts: String,
}

/// Undoes the kernel's octal escapes (`\040` for space, `\134` for backslash...).
fn unescape(field: &str) -> Vec<u8> {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// Parses mountinfo text; malformed lines are skipped.
pub fn parse(text: &str) -> Vec<MountEntry> {
    let mut v = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(sep) = fields.iter().position(|f| *f == "-") else {
            continue;
        };
        if sep < 6 || fields.len() < sep + 3 {
            continue;
        }
        v.push(MountEntry {
            mount_point: PathBuf::from(OsString::from_vec(unescape(fields[4]))),
            fs_type: fields[sep + 1].to_owned(),
            source: String::from_utf8_lossy(&unescape(fields[sep + 2])).into_owned(),
            mount_opts: fields[5].to_owned(),
            super_opts: fields.get(sep + 3).copied().unwrap_or("").to_owned(),
        });
    }
    v
}

/// The current mounts of this process's namespace.
pub fn read() -> std::io::Result<Vec<MountEntry>> {
    Ok(parse(&std::fs::read_to_string("/proc/self/mountinfo")?))
}

/// The topmost mount at exactly `mnt` (an absolute, normalized path).
pub fn find_mount(entries: &[MountEntry], mnt: &Path) -> Option<MountEntry> {
    entries.iter().rev().find(|e| e.mount_point == mnt).cloned()
}

/// The BACKING directory of an scfs mount entry (its `scfs:` source), if it is one.
pub fn scfs_backing(e: &MountEntry) -> Option<PathBuf> {
    if !e.fs_type.starts_with("fuse") {
        return None;
    }
    e.source.strip_prefix("scfs:").map(PathBuf::from)
}

/// Where `backing` is currently mounted by scfs, if anywhere.
pub fn mounted_at(entries: &[MountEntry], backing: &Path) -> Option<PathBuf> {
    entries
        .iter()
        .rev()
        .find(|e| scfs_backing(e).as_deref() == Some(backing))
        .map(|e| e.mount_point.clone())
}

/// The innermost mount holding `abs` (an absolute, canonical path).
pub fn holding_mount<'a>(entries: &'a [MountEntry], abs: &Path) -> Option<&'a MountEntry> {
    let mut inner: Option<&MountEntry> = None;
    for e in entries.iter().filter(|e| abs.starts_with(&e.mount_point)) {
        // Later lines are mounted on top of earlier ones at the same place.
        if inner.is_none_or(|i| {
            e.mount_point.components().count() >= i.mount_point.components().count()
        }) {
            inner = Some(e);
        }
    }
    inner
}

/// Where the file at `abs` (an absolute, canonical path) lives in BACKING,
/// if the innermost mount holding it is an scfs mount: BACKING joined with
/// the path below the mount point (BACKING mirrors the mount's names).
pub fn backing_path(entries: &[MountEntry], abs: &Path) -> Option<PathBuf> {
    let e = holding_mount(entries, abs)?;
    let backing = scfs_backing(e)?;
    let rel = abs.strip_prefix(&e.mount_point).ok()?;
    Some(if rel.as_os_str().is_empty() {
        backing
    } else {
        backing.join(rel)
    })
}

/// Makes `p` absolute and removes `.`/`..` lexically, without stat'ing it
/// (a dead FUSE mount point fails every stat with ENOTCONN). Symlinks in
/// the parent are resolved when the parent can be canonicalized.
pub fn absolute_lexical(p: &Path) -> std::io::Result<PathBuf> {
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()?.join(p)
    };
    let mut out = PathBuf::from("/");
    for c in abs.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            _ => {}
        }
    }
    if let (Some(parent), Some(name)) = (out.parent(), out.file_name()) {
        if let Ok(cp) = parent.canonicalize() {
            return Ok(cp.join(name));
        }
    }
    Ok(out)
}

/// The pid holding an flock on the inode (dev, ino), from /proc/locks.
pub fn flock_holder(dev: u64, ino: u64) -> Option<u32> {
    let text = std::fs::read_to_string("/proc/locks").ok()?;
    let (major, minor) = (nix::sys::stat::major(dev), nix::sys::stat::minor(dev));
    for line in text.lines() {
        // "1: FLOCK  ADVISORY  WRITE 1234 fd:00:5678 0 EOF" ("->" marks waiters)
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 6 || f[1] != "FLOCK" || f.contains(&"->") {
            continue;
        }
        let mut id = f[5].split(':');
        let (Some(ma), Some(mi), Some(i)) = (id.next(), id.next(), id.next()) else {
            continue;
        };
        let ok = u64::from_str_radix(ma, 16).ok() == Some(major)
            && u64::from_str_radix(mi, 16).ok() == Some(minor)
            && i.parse::<u64>().ok() == Some(ino);
        if ok {
            return f[4].parse().ok();
        }
    }
    None
}

/// Whether `inner` is `outer` or lies below it (both canonical).
pub fn is_within(inner: &Path, outer: &Path) -> bool {
    inner.starts_with(outer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mountinfo() {
        let text = "22 1 0:21 / /proc rw,nosuid - proc proc rw\n\
            40 22 0:50 / /tmp/my\\040mnt rw,nosuid,nodev,relatime shared:1 - fuse scfs:/tmp/b\\040x rw,user_id=0\n\
            garbage line\n";
        let e = parse(text);
        assert_eq!(e.len(), 2);
        assert_eq!(e[1].mount_point, PathBuf::from("/tmp/my mnt"));
        assert_eq!(e[1].fs_type, "fuse");
        assert_eq!(e[1].mount_opts, "rw,nosuid,nodev,relatime");
        assert_eq!(e[1].super_opts, "rw,user_id=0");
        assert_eq!(scfs_backing(&e[1]), Some(PathBuf::from("/tmp/b x")));
        assert_eq!(scfs_backing(&e[0]), None);
        assert_eq!(
            mounted_at(&e, Path::new("/tmp/b x")),
            Some(PathBuf::from("/tmp/my mnt"))
        );
        assert!(find_mount(&e, Path::new("/tmp/my mnt")).is_some());
        assert!(find_mount(&e, Path::new("/tmp")).is_none());
    }

    #[test]
    fn lexical_paths() {
        let p = absolute_lexical(Path::new("/nonexistent-x/a/../b/./c")).unwrap();
        assert_eq!(p, PathBuf::from("/nonexistent-x/b/c"));
        assert!(is_within(Path::new("/a/b"), Path::new("/a")));
        assert!(is_within(Path::new("/a"), Path::new("/a")));
        assert!(!is_within(Path::new("/ab"), Path::new("/a")));
    }

    #[test]
    fn backing_path_of_files_in_a_mount() {
        let text = "1 0 8:1 / / rw - ext4 /dev/sda1 rw\n\
            40 1 0:50 / /mnt/data rw - fuse scfs:/srv/b\\040x rw\n\
            41 40 0:51 / /mnt/data/inner rw - tmpfs tmpfs rw\n\
            42 1 0:52 / /mnt/other rw - fuse sshfs:host rw\n";
        let e = parse(text);
        let bp = |p: &str| backing_path(&e, Path::new(p));
        assert_eq!(bp("/mnt/data"), Some(PathBuf::from("/srv/b x")));
        assert_eq!(
            bp("/mnt/data/a/b.txt"),
            Some(PathBuf::from("/srv/b x/a/b.txt"))
        );
        // Not below an scfs mount, or below another mount inside it.
        assert_eq!(bp("/mnt/database"), None);
        assert_eq!(bp("/mnt/data/inner/f"), None);
        assert_eq!(bp("/mnt/other/f"), None);
        assert_eq!(bp("/etc/passwd"), None);
    }
}
