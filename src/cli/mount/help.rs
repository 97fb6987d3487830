//! The `-o` options as users read them: one table with every option that
//! `options::parse_options` takes, from which `scfs mount --help` and the
//! man page print their list (a unit test checks the table against the
//! parser both ways, so neither can gain an option the other lacks).

use super::flags;

/// scfs's own options: the name as typed (`name=VALUE` for those with a
/// value) and what it does.
pub const OPTIONS: &[(&str, &str)] = &[
    ("cache_size=SIZE", "memory for decoded blocks (K/M/G suffixes, at least 1M; default 64M)"),
    ("block_size=SIZE", "block size of new files: a power of two from 4K to 1M (default 64K)"),
    ("compress=LEVEL", "how new data is coded: none, huffman, fast (default), default or max"),
    ("recompress=LEVEL|off", "rewrite files at LEVEL once closed and idle for recompress_idle (default: default)"),
    ("recompress_idle=DURATION", "idle time before a recompression: seconds, or with s/m/h (default 10m)"),
    ("threads=N", "FUSE request threads, 1 to 64 (default: one per core, at least 4)"),
    ("inode_fds=N", "inode descriptors kept open before idle ones are swapped for file handles: 0 (half the open-file limit, the default) or 16 and more"),
    ("shared", "one daemon per host over one BACKING on a shared filesystem (CephFS, NFSv4, GlusterFS): per-file write locks, close-to-open consistency (docs/SHARED.md)"),
    ("lock_wait=DURATION", "shared: how long an open for writing waits for another host's write lock before failing with EWOULDBLOCK: seconds, or with ms/s/m/h (default 10s)"),
    ("actimeo=DURATION", "how long the kernel caches names and attributes; with shared, how late another host's changes may show (default 1s)"),
    ("ro", "read-only mount: every change fails with EROFS"),
    ("rw", "read-write mount (the default)"),
    ("allow_other", "let other users use the mount (the default for root); needs default_permissions"),
    ("no_allow_other", "only the mounting user may use the mount"),
    ("default_permissions", "the kernel checks mode bits and ACLs (the default)"),
    ("no_default_permissions", "no permission checks by the kernel (the mount's owner only)"),
    ("writeback_cache", "the kernel's writeback cache on"),
    ("no_writeback_cache", "the kernel's writeback cache off"),
    ("nonempty", "mount over a directory that has entries (hiding them)"),
    ("remount", "change the flags (ro/rw and the generic flags) of the scfs mount at MNT"),
];

/// Options the kernel shows in /proc/self/mountinfo, which mount(8) passes
/// back on `-o remount`: accepted with remount only.
pub const KERNEL_ECHO: &[&str] = &[
    "user_id", "group_id", "rootmode", "max_read", "blksize", "fd",
];

/// The text of the option list, for `scfs mount --help` and the man page.
pub fn options_help() -> String {
    let width = OPTIONS.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    let mut s =
        String::from("Mount options (-o, comma-separated; an unknown option is an error):\n");
    for (name, what) in OPTIONS {
        s.push_str(&format!("  {name:width$}  {what}\n"));
    }
    s.push_str(&format!(
        "\nGeneric flags, as in mount(8): {} (default: nodev, nosuid, relatime).\n",
        flags::flag_names().collect::<Vec<_>>().join(", ")
    ));
    s.push_str(&format!(
        "\nAccepted and ignored (mount(8), mount.fuse3 and systemd act on them): {}, \
         x-* (x-systemd.*, ...), comment=...; with remount only: {}.\n",
        flags::NOOP_NAMES.join(", "),
        KERNEL_ECHO
            .iter()
            .map(|k| format!("{k}="))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    s.push_str(
        "\nExamples:\n  scfs mount /srv/backing /mnt/data -o cache_size=256M,compress=fast\n  \
         mount -t fuse.scfs /srv/backing /mnt/data -o noatime\n  \
         /etc/fstab: /srv/backing /mnt/data fuse.scfs defaults,cache_size=256M 0 0\n",
    );
    s
}

#[cfg(test)]
mod tests {
    use super::super::options::parse_options;
    use super::*;

    /// An example value for each placeholder of the table.
    fn example(name: &str) -> String {
        let (key, value) = match name.split_once('=') {
            None => return name.to_owned(),
            Some(kv) => kv,
        };
        let v = match value {
            "SIZE" if key == "cache_size" => "128M",
            "SIZE" => "64K",
            "LEVEL" | "LEVEL|off" => "fast",
            "DURATION" => "30s",
            "N" => "16",
            other => panic!("no example for {other}"),
        };
        format!("{key}={v}")
    }

    #[test]
    fn every_listed_option_parses() {
        for (name, _) in OPTIONS {
            let o = example(name);
            let r = if o == "remount" || o == "no_default_permissions" {
                parse_options(&[format!("{o},no_allow_other")])
            } else {
                parse_options(std::slice::from_ref(&o))
            };
            assert!(r.is_ok(), "{o}: {r:?}");
        }
        for n in flags::NOOP_NAMES {
            assert!(parse_options(&[n]).is_ok(), "{n}");
        }
        for k in KERNEL_ECHO {
            assert!(parse_options(&[format!("remount,{k}=1")]).is_ok(), "{k}");
            assert!(parse_options(&[format!("{k}=1")]).is_err(), "{k}");
        }
    }

    /// Every name the parser matches on is in the table: the option
    /// parser's source is read for its match arms (`"name" =>` and
    /// `"a" | "b"`), so an option added there without a line here fails.
    #[test]
    fn every_parsed_option_is_listed() {
        let src = include_str!("options.rs");
        let body = &src[src.find("pub fn parse_options").unwrap()..];
        let body = &body[..body.find("\n}\n").unwrap()];
        let listed: Vec<&str> = OPTIONS
            .iter()
            .map(|(n, _)| n.split('=').next().unwrap())
            .chain(KERNEL_ECHO.iter().copied())
            .collect();
        let mut found = 0;
        for line in body.lines().map(str::trim) {
            if !line.starts_with('"') || !(line.contains("\" =>") || line.contains("\" |")) {
                continue;
            }
            for part in line.split('|') {
                let part = part.trim();
                if let Some(rest) = part.strip_prefix('"') {
                    let name = &rest[..rest.find('"').unwrap()];
                    found += 1;
                    assert!(
                        listed.contains(&name),
                        "option {name} is parsed but not in help::OPTIONS"
                    );
                }
            }
        }
        assert!(found >= OPTIONS.len(), "found only {found} match arms");
        let help = options_help();
        for n in &listed {
            assert!(help.contains(n), "{n}");
        }
        for n in flags::flag_names() {
            assert!(
                parse_options(&[n]).is_ok()
                    || n == "strictatime"
                    || n == "nodiratime"
                    || n == "nosymfollow",
                "{n}"
            );
        }
    }
}
