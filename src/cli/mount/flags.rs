//! The generic VFS mount flags of `-o` (nodev, noexec, relatime,
//! strictatime, lazytime, ...): their names, their `MS_*` bits, how a list
//! of them combines (later wins, as in mount(8)), how the kernel turns them
//! into an atime policy, and the options that mount(8), mount.fuse3 and
//! systemd put in an option string which mean nothing to the filesystem
//! (`defaults`, `noauto`, `nofail`, `x-systemd.*`, ...).

use libc::c_ulong;

/// One generic flag: its name, its bit, and whether the name sets the bit.
struct Flag {
    name: &'static str,
    bit: c_ulong,
    set: bool,
}

const fn f(name: &'static str, bit: c_ulong, set: bool) -> Flag {
    Flag { name, bit, set }
}

/// Every generic flag `-o` accepts (mount(8)'s FILESYSTEM-INDEPENDENT
/// MOUNT OPTIONS that apply to a FUSE mount).
const FLAGS: &[Flag] = &[
    f("nodev", libc::MS_NODEV, true),
    f("dev", libc::MS_NODEV, false),
    f("nosuid", libc::MS_NOSUID, true),
    f("suid", libc::MS_NOSUID, false),
    f("noexec", libc::MS_NOEXEC, true),
    f("exec", libc::MS_NOEXEC, false),
    f("sync", libc::MS_SYNCHRONOUS, true),
    f("async", libc::MS_SYNCHRONOUS, false),
    f("dirsync", libc::MS_DIRSYNC, true),
    f("noatime", libc::MS_NOATIME, true),
    f("atime", libc::MS_NOATIME, false),
    f("nodiratime", libc::MS_NODIRATIME, true),
    f("diratime", libc::MS_NODIRATIME, false),
    f("relatime", libc::MS_RELATIME, true),
    f("norelatime", libc::MS_RELATIME, false),
    f("strictatime", libc::MS_STRICTATIME, true),
    f("nostrictatime", libc::MS_STRICTATIME, false),
    f("lazytime", libc::MS_LAZYTIME, true),
    f("nolazytime", libc::MS_LAZYTIME, false),
    f("nosymfollow", libc::MS_NOSYMFOLLOW, true),
    f("symfollow", libc::MS_NOSYMFOLLOW, false),
    f("silent", libc::MS_SILENT, true),
    f("loud", libc::MS_SILENT, false),
];

/// The names of the generic flags, in the order of their table.
pub fn flag_names() -> impl Iterator<Item = &'static str> {
    FLAGS.iter().map(|fl| fl.name)
}

/// The generic options accepted and ignored by name (see
/// [`is_generic_noop`], which also takes `x-*` and `comment=`).
pub const NOOP_NAMES: &[&str] = &[
    "defaults",
    "auto",
    "noauto",
    "user",
    "nouser",
    "users",
    "owner",
    "group",
    "nofail",
    "_netdev",
    "nomand",
    "noiversion",
];

/// Options that say how or when to mount, not what the filesystem does:
/// mount(8)'s `defaults`, `auto`, `user`, ..., systemd's `nofail`,
/// `_netdev`, `x-systemd.*`, any `x-*` and `comment=`. Accepted and
/// ignored (mount(8), mount.fuse3 or systemd act on them before scfs runs).
pub fn is_generic_noop(opt: &str) -> bool {
    NOOP_NAMES.contains(&opt)
        || opt.starts_with("x-")
        || opt.starts_with("comment=")
        || opt.starts_with("X-")
}

/// Flags set and cleared by an option list; later options win.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VfsFlags {
    /// Bits named on.
    pub set: c_ulong,
    /// Bits named off.
    pub clear: c_ulong,
}

impl VfsFlags {
    /// Applies the flag called `name`; false when it is not a flag.
    pub fn apply(&mut self, name: &str) -> bool {
        let Some(fl) = FLAGS.iter().find(|fl| fl.name == name) else {
            return false;
        };
        if fl.set {
            self.set |= fl.bit;
            self.clear &= !fl.bit;
        } else {
            self.clear |= fl.bit;
            self.set &= !fl.bit;
        }
        true
    }

    /// Whether `bit` was named on (Some(true)), off, or not at all.
    pub fn get(&self, bit: c_ulong) -> Option<bool> {
        if self.set & bit != 0 {
            Some(true)
        } else if self.clear & bit != 0 {
            Some(false)
        } else {
            None
        }
    }

    /// The flags of a new mount: the named ones over the defaults (nodev
    /// and nosuid unless `dev`/`suid` are given, as for every FUSE mount).
    pub fn for_new_mount(&self) -> c_ulong {
        ((libc::MS_NODEV | libc::MS_NOSUID) & !self.clear) | self.set
    }

    /// The flags of a remount: the current ones (from mountinfo) with the
    /// named changes. The kernel keeps the atime policy of a remount that
    /// names no atime flag, and otherwise derives it from the flags given
    /// alone, so the policy is always passed in full. `dev` and `suid` are
    /// ignored here: mount.fuse3 appends them to every call it makes, so
    /// they cannot tell a wish to widen the mount.
    pub fn for_remount(&self, current: c_ulong) -> c_ulong {
        use libc::{MS_NOATIME, MS_RELATIME, MS_STRICTATIME};
        let mut cur = current;
        if self.set & MS_NOATIME != 0 {
            cur &= !(MS_RELATIME | MS_STRICTATIME);
        }
        if self.set & MS_RELATIME != 0 {
            cur &= !(MS_NOATIME | MS_STRICTATIME);
        }
        if self.set & MS_STRICTATIME != 0 {
            cur &= !(MS_NOATIME | MS_RELATIME);
        }
        let keep = libc::MS_NODEV | libc::MS_NOSUID;
        let mut out = (cur & !(self.clear & !keep)) | self.set;
        if out & (MS_NOATIME | MS_RELATIME | MS_STRICTATIME) == 0 {
            // `atime`, `norelatime`, `nostrictatime`: the kernel default.
            out |= MS_RELATIME;
        }
        out
    }

    /// The option names of these flags (for fusermount3), set ones first.
    pub fn names(&self) -> Vec<&'static str> {
        FLAGS
            .iter()
            .filter(|fl| {
                let on = if fl.set { self.set } else { self.clear };
                on & fl.bit != 0
            })
            .map(|fl| fl.name)
            .collect()
    }
}

/// The bit and polarity of a flag name (`relatime` -> (MS_RELATIME, true)).
pub fn flag_bit(name: &str) -> Option<(c_ulong, bool)> {
    FLAGS
        .iter()
        .find(|fl| fl.name == name)
        .map(|fl| (fl.bit, fl.set))
}

/// Per-mount flags as /proc/self/mountinfo shows them (its sixth field,
/// e.g. `rw,nosuid,nodev,relatime`), as `MS_*` bits. Without `relatime`
/// or `noatime` the mount is strictatime.
pub fn from_mountinfo(opts: &str) -> c_ulong {
    let mut bits = 0;
    let mut atime_named = false;
    for o in opts.split(',') {
        match o {
            "ro" => bits |= libc::MS_RDONLY,
            "relatime" | "noatime" => {
                atime_named = true;
                bits |= flag_bit(o).map_or(0, |b| b.0);
            }
            _ => {
                if let Some((bit, true)) = flag_bit(o) {
                    bits |= bit;
                }
            }
        }
    }
    if !atime_named {
        bits |= libc::MS_STRICTATIME;
    }
    bits
}

/// How reads update access times on a mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Atime {
    /// `noatime`: never.
    Never,
    /// `relatime` (the default): when the atime is not newer than the
    /// mtime or ctime, or is a day old.
    Relative,
    /// `strictatime`: on every access.
    Strict,
}

/// The kernel's rule (fs/namespace.c, do_mount): strictatime wins, then
/// noatime; everything else is relatime.
pub fn atime_policy(flags: c_ulong) -> Atime {
    if flags & libc::MS_STRICTATIME != 0 {
        Atime::Strict
    } else if flags & libc::MS_NOATIME != 0 {
        Atime::Never
    } else {
        Atime::Relative
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_options_win() {
        let mut v = VfsFlags::default();
        for o in [
            "noatime",
            "strictatime",
            "atime",
            "dev",
            "nodev",
            "nodiratime",
        ] {
            assert!(v.apply(o), "{o}");
        }
        assert!(!v.apply("bogus"));
        assert_eq!(v.get(libc::MS_NOATIME), Some(false));
        assert_eq!(v.get(libc::MS_NODEV), Some(true));
        assert_eq!(v.get(libc::MS_LAZYTIME), None);
        let fl = v.for_new_mount();
        assert_eq!(atime_policy(fl), Atime::Strict);
        assert_ne!(fl & libc::MS_NODIRATIME, 0);
        assert_ne!(fl & libc::MS_NOSUID, 0);
        assert_eq!(
            v.names(),
            vec!["nodev", "atime", "nodiratime", "strictatime"]
        );
    }

    #[test]
    fn defaults_and_remounts() {
        let v = VfsFlags::default();
        assert_eq!(v.for_new_mount(), libc::MS_NODEV | libc::MS_NOSUID);
        assert_eq!(atime_policy(v.for_new_mount()), Atime::Relative);
        let mut d = VfsFlags::default();
        d.apply("dev");
        d.apply("suid");
        assert_eq!(d.for_new_mount(), 0);
        // A remount keeps what it does not name, and never drops nodev/nosuid.
        let cur = from_mountinfo("rw,nosuid,nodev,noexec,relatime");
        assert_eq!(
            cur,
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC | libc::MS_RELATIME
        );
        let mut r = VfsFlags::default();
        r.apply("strictatime");
        r.apply("dev");
        r.apply("suid");
        let new = r.for_remount(cur);
        assert_eq!(atime_policy(new), Atime::Strict);
        assert_ne!(new & libc::MS_NODEV, 0);
        assert_ne!(new & libc::MS_NOEXEC, 0);
        assert_eq!(atime_policy(from_mountinfo("rw,nosuid")), Atime::Strict);
        assert_eq!(atime_policy(from_mountinfo("ro,noatime")), Atime::Never);
        let remount = |cur: &str, opts: &[&str]| {
            let mut v = VfsFlags::default();
            for o in opts {
                v.apply(o);
            }
            atime_policy(v.for_remount(from_mountinfo(cur)))
        };
        assert_eq!(remount("rw,relatime", &["strictatime"]), Atime::Strict);
        assert_eq!(remount("rw", &["relatime"]), Atime::Relative);
        assert_eq!(remount("rw", &["nodiratime"]), Atime::Strict);
        assert_eq!(remount("rw,noatime", &["atime"]), Atime::Relative);
        assert_eq!(remount("rw,relatime", &["noatime"]), Atime::Never);
        assert_eq!(remount("rw,noatime", &["ro"]), Atime::Never);
    }

    #[test]
    fn generic_options() {
        for o in [
            "defaults",
            "noauto",
            "nofail",
            "_netdev",
            "x-systemd.automount",
            "x-systemd.requires=a.service",
            "comment=systemd.automount",
            "users",
        ] {
            assert!(is_generic_noop(o), "{o}");
        }
        assert!(!is_generic_noop("cache_sise=1M"));
    }
}
