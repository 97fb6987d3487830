//! `scfs status MNT [--json]`: the live state of a mount, read from the
//! reserved xattr `scfs.status` of its root (`fs/status.rs` writes it; the
//! README's "Live status" describes the fields), printed as a table or,
//! with `--json`, as the daemon gave it.

use std::ffi::CStr;
use std::io;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::error::CliError;
use super::human::human;
use super::mount::mountinfo;
use super::StatusArgs;
use crate::cli::EXIT_OK;

/// The xattr (as `fs::status::STATUS`).
const STATUS: &CStr = c"scfs.status";

/// The JSON version this table knows.
const VERSION: u64 = 1;

/// Most bytes a status document may take (it is about 1.5 KiB).
const MAX_LEN: usize = 1 << 20;

/// Runs `scfs status`.
pub fn status(a: &StatusArgs) -> Result<i32, CliError> {
    let mnt = mount_root(&a.mountpoint)?;
    let raw = read_status(&mnt)?;
    let text = String::from_utf8(raw)
        .map_err(|_| CliError::io(format!("{}: status is not UTF-8", mnt.display())))?;
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| CliError::io(format!("{}: status is not valid JSON: {e}", mnt.display())))?;
    if a.json {
        println!("{text}");
        return Ok(EXIT_OK);
    }
    match v.get("version").and_then(Value::as_u64) {
        Some(VERSION) => {}
        other => {
            return Err(CliError::io(format!(
                "{}: status version {} is not understood by this scfs ({}, version {VERSION}); \
                 `scfs status --json` shows it as is",
                mnt.display(),
                other.map_or("(none)".into(), |n| n.to_string()),
                env!("CARGO_PKG_VERSION"),
            )))
        }
    }
    print!("{}", table(&v, &mnt));
    Ok(EXIT_OK)
}

/// The root of the scfs mount holding `p`: `p` itself or the mount point
/// above it. Errors when that mount is no scfs mount.
fn mount_root(p: &Path) -> Result<PathBuf, CliError> {
    let abs = mountinfo::absolute_lexical(p)
        .map_err(|e| CliError::io(format!("{}: {e}", p.display())))?;
    // Symlinks resolved where possible (a dead mount cannot be stat'ed).
    let abs = abs.canonicalize().unwrap_or(abs);
    let entries =
        mountinfo::read().map_err(|e| CliError::io(format!("/proc/self/mountinfo: {e}")))?;
    let not_scfs =
        |what: String| CliError::io(format!("{} is not an scfs mount ({what})", p.display()));
    let Some(e) = mountinfo::holding_mount(&entries, &abs) else {
        return Err(not_scfs("no mount holds it".into()));
    };
    if mountinfo::scfs_backing(e).is_none() {
        return Err(not_scfs(format!(
            "it is on {}, a {} mount of {}",
            e.mount_point.display(),
            e.fs_type,
            e.source
        )));
    }
    Ok(e.mount_point.clone())
}

/// Whether the daemon serving the mount at `mnt` runs read-only (`-o ro`:
/// BACKING opened read-only); None when it does not say (an older daemon,
/// no permission, no scfs mount).
pub(crate) fn daemon_read_only(mnt: &Path) -> Option<bool> {
    let raw = read_status(mnt).ok()?;
    let v: Value = serde_json::from_slice(&raw).ok()?;
    v.pointer("/options/read_only")?.as_bool()
}

/// The raw value of `scfs.status` on `mnt`, errors explained.
fn read_status(mnt: &Path) -> Result<Vec<u8>, CliError> {
    let path = crate::sys::cstr(mnt.as_os_str())
        .map_err(|e| CliError::io(format!("{}: {e}", mnt.display())))?;
    let mut size = 4096;
    loop {
        match crate::sys::getxattr(&path, STATUS, size) {
            Ok((n, data)) if n <= size => return Ok(data),
            // Grew between the calls: ask again with room for it.
            Ok((n, _)) if n <= MAX_LEN => size = n + 1024,
            Err(e) if e.raw_os_error() == Some(libc::ERANGE) && size < MAX_LEN => {
                size = (size * 4).min(MAX_LEN)
            }
            Ok((n, _)) => {
                return Err(CliError::io(format!(
                    "{}: status of {n} bytes is implausibly large",
                    mnt.display()
                )))
            }
            Err(e) => return Err(explain(mnt, &e)),
        }
    }
}

/// The message for a failed read of the status xattr.
fn explain(mnt: &Path, e: &io::Error) -> CliError {
    let m = mnt.display();
    let msg = match e.raw_os_error() {
        Some(libc::EACCES) | Some(libc::EPERM) => {
            let owner = mountinfo::read()
                .ok()
                .and_then(|es| mountinfo::find_mount(&es, mnt))
                .and_then(|e| owner_uid(&e.super_opts));
            let who = owner.map_or("the user who mounted it".into(), |u| {
                format!("the user who mounted it (uid {u})")
            });
            format!("{m}: permission denied: only {who} and root may read its status")
        }
        Some(libc::ENODATA) | Some(libc::EOPNOTSUPP) => format!(
            "{m}: the daemon serving it reports no status: it is an older scfs than this one \
             ({}); remount to use `scfs status`",
            env!("CARGO_PKG_VERSION")
        ),
        Some(libc::ENOTCONN) => {
            format!("{m}: the daemon serving it is gone (unmount it with `scfs umount {m}`)")
        }
        _ => format!("{m}: reading its status: {e}"),
    };
    CliError::io(msg)
}

/// `user_id=N` of a FUSE mount's super options.
fn owner_uid(super_opts: &str) -> Option<u32> {
    super_opts
        .split(',')
        .find_map(|o| o.strip_prefix("user_id="))
        .and_then(|v| v.parse().ok())
}

/// A number of the document at `path` (0 when absent).
fn n(v: &Value, path: &str) -> u64 {
    v.pointer(path).and_then(Value::as_u64).unwrap_or(0)
}

/// A field of the document as text (`-` when absent or null).
fn s(v: &Value, path: &str) -> String {
    match v.pointer(path) {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(x)) => x.clone(),
        Some(x) => x.to_string(),
    }
}

/// Seconds as `3d 04:05:06` / `04:05:06`.
fn duration(secs: f64) -> String {
    let t = secs.max(0.0) as u64;
    let (d, h, m, s) = (t / 86400, t / 3600 % 24, t / 60 % 60, t % 60);
    if d > 0 {
        format!("{d}d {h:02}:{m:02}:{s:02}")
    } else {
        format!("{h:02}:{m:02}:{s:02}")
    }
}

/// The readable table of a version 1 document.
fn table(v: &Value, mnt: &Path) -> String {
    let mut rows: Vec<(&str, String)> = Vec::new();
    let uptime = v.pointer("/uptime_secs").and_then(Value::as_f64);
    let at = match v.pointer("/mountpoint") {
        Some(Value::String(m)) => m.clone(),
        _ => mnt.display().to_string(),
    };
    rows.push(("mount", at));
    rows.push(("backing", s(v, "/backing")));
    rows.push((
        "daemon",
        format!(
            "scfs {}, pid {}, up {}",
            s(v, "/scfs_version"),
            s(v, "/pid"),
            uptime.map_or("-".into(), duration)
        ),
    ));
    let o = |k: &str| s(v, &format!("/options/{k}"));
    let recompress = match v.pointer("/options/recompress") {
        Some(Value::String(l)) => format!("{l} after {}s idle", o("recompress_idle_secs")),
        _ => "off".into(),
    };
    rows.push((
        "options",
        format!(
            "compress={} recompress={} block_size={} cache_size={}",
            o("compress"),
            recompress.replace(' ', "_"),
            human(n(v, "/options/block_size")).replace(' ', ""),
            human(n(v, "/options/cache_size")).replace(' ', ""),
        ),
    ));
    let flag = |k: &str, on: &str, off: &str| -> String {
        match v.pointer(&format!("/options/{k}")).and_then(Value::as_bool) {
            Some(true) => on.into(),
            Some(false) => off.into(),
            None => String::new(),
        }
    };
    let flags: Vec<String> = [
        flag("read_only", "ro", "rw"),
        o("atime"),
        flag("allow_other", "allow_other", ""),
        flag("default_permissions", "default_permissions", ""),
        flag("writeback_cache", "writeback_cache", ""),
        format!("threads={}", o("threads")),
    ]
    .into_iter()
    .filter(|f| !f.is_empty())
    .collect();
    rows.push(("", flags.join(" ")));
    rows.push((
        "cache",
        format!(
            "{} of {} in {} blocks (resident {}, peak {})",
            human(n(v, "/cache/used")),
            human(n(v, "/cache/budget")),
            n(v, "/cache/entries"),
            human(n(v, "/cache/resident")),
            human(n(v, "/cache/peak_resident")),
        ),
    ));
    rows.push((
        "blocks read",
        format!(
            "{} decoded, {} cache hits",
            n(v, "/cache/blocks_decoded"),
            n(v, "/cache/hits")
        ),
    ));
    rows.push((
        "write-back",
        format!(
            "{} dirty, {} files waiting to be sealed",
            human(n(v, "/writeback/dirty_bytes")),
            n(v, "/writeback/seals_pending")
        ),
    ));
    rows.push((
        "compaction",
        format!(
            "{} running, {} done, {} written",
            n(v, "/compaction/running"),
            n(v, "/compaction/done"),
            human(n(v, "/compaction/bytes_written")),
        ),
    ));
    rows.push((
        "recompression",
        format!(
            "{} queued, {} running, {} done, {} written",
            n(v, "/recompression/queued"),
            n(v, "/recompression/running"),
            n(v, "/recompression/done"),
            human(n(v, "/recompression/bytes_written")),
        ),
    ));
    rows.push((
        "written",
        format!(
            "{} to BACKING (data {}, compaction {}, recompression {})",
            human(n(v, "/backing_written/total")),
            human(n(v, "/backing_written/data")),
            human(n(v, "/backing_written/compaction")),
            human(n(v, "/backing_written/recompression")),
        ),
    ));
    rows.push(("checksum failures", n(v, "/checksum_failures").to_string()));
    rows.push((
        "open",
        format!(
            "{} files, {} handles, {} inodes known ({} descriptors)",
            n(v, "/open/files"),
            n(v, "/open/handles"),
            n(v, "/open/inodes"),
            n(v, "/open/inode_fds"),
        ),
    ));
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    rows.iter()
        .map(|(k, val)| format!("{k:<width$}  {val}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_text() {
        assert_eq!(duration(0.4), "00:00:00");
        assert_eq!(duration(3725.0), "01:02:05");
        assert_eq!(duration(2.0 * 86400.0 + 61.0), "2d 00:01:01");
    }

    #[test]
    fn owner_from_super_options() {
        assert_eq!(owner_uid("rw,user_id=1000,group_id=1000"), Some(1000));
        assert_eq!(owner_uid("rw"), None);
    }

    #[test]
    fn table_shows_the_figures() {
        let v: Value = serde_json::from_str(
            r#"{"version":1,"scfs_version":"9.9","pid":7,"uptime_secs":61.5,
            "backing":"/b","mountpoint":"/m","options":{"compress":"huffman",
            "recompress":"default","recompress_idle_secs":600,"block_size":65536,
            "cache_size":67108864,"read_only":false,"atime":"relatime","threads":2},
            "cache":{"used":2048,"budget":67108864,"entries":1,"blocks_decoded":5,"hits":9},
            "writeback":{"dirty_bytes":65536,"seals_pending":2},
            "checksum_failures":3}"#,
        )
        .unwrap();
        let t = table(&v, Path::new("/m"));
        for want in [
            "mount              /m\n",
            "scfs 9.9, pid 7, up 00:01:01",
            "compress=huffman recompress=default_after_600s_idle block_size=64.0KiB",
            "rw relatime threads=2",
            "64.0 KiB dirty, 2 files waiting to be sealed",
            "5 decoded, 9 cache hits",
            "checksum failures  3\n",
        ] {
            assert!(t.contains(want), "{want:?} not in\n{t}");
        }
    }
}
