//! `scfs status` and the reserved xattr `scfs.status` behind it, through
//! real in-process mounts: the figures move with writes, reads, write-back,
//! recompression, compaction and a corrupt block; the JSON parses; the
//! name is hidden, read-only and answered only on the root and only to
//! the mount's owner and root; `scfs status` explains what it cannot show.

mod common;

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::time::Duration;

use common::inproc::*;
use common::rng::noise;
use common::{scfs, wait_until};
use scfs::fs::FsOptions;
use serde_json::Value;

/// The status document of the mount at `mnt`.
fn status(mnt: &Path) -> Value {
    let (n, _) = xattr_get(mnt, "scfs.status", 0).expect("size of scfs.status");
    let (m, data) = xattr_get(mnt, "scfs.status", n + 4096).expect("scfs.status");
    assert_eq!(m, data.len());
    serde_json::from_slice(&data).expect("scfs.status is JSON")
}

/// `scfs status --json AT`: it succeeds and prints the document.
fn cli_status_json(at: &Path) -> Value {
    let out = scfs().arg("status").arg("--json").arg(at).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("--json prints JSON")
}

/// A number of the document.
fn num(v: &Value, path: &str) -> u64 {
    v.pointer(path)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("{path} missing in {v}"))
}

fn opts_recompress_fast() -> FsOptions {
    FsOptions {
        recompress_idle: Duration::from_secs(1),
        // The partial block stays dirty until the writer closes the file,
        // however slow the machine.
        idle_flush: Duration::from_secs(120),
        ..FsOptions::default()
    }
}

#[test]
fn figures_move_with_writes_reads_and_recompression() {
    let Some(m) = Mounted::with(opts_recompress_fast(), |_| {}) else {
        return;
    };
    let v = status(&m.mnt);
    assert_eq!(num(&v, "/version"), 1);
    assert_eq!(num(&v, "/writeback/dirty_bytes"), 0);
    assert_eq!(num(&v, "/backing_written/total"), 0);
    assert_eq!(num(&v, "/open/files"), 0);
    assert_eq!(v["backing"], m.backing.to_str().unwrap());
    assert_eq!(v["mountpoint"], m.mnt.to_str().unwrap());
    assert_eq!(v["options"]["compress"], "fast");
    assert_eq!(v["options"]["recompress"], "default");

    // A write-back in progress: a partial block waits in the cache while
    // a writer keeps the file open. The writer is another process, as in
    // real use, and closes no descriptor of the file: every close (also of
    // a copy, by the shell's redirections or by a child of this process at
    // exec) sends a FLUSH, which writes the file back.
    let mut writer = std::process::Command::new("sh")
        .arg("-c")
        .arg(r#"exec >"$1"; printf "%10000s" x; exec sleep 60"#)
        .arg("sh")
        .arg(m.p("f"))
        .spawn()
        .unwrap();
    wait_until(10, "the writer's data", || {
        num(&status(&m.mnt), "/writeback/dirty_bytes") > 0
    });
    let v = status(&m.mnt);
    assert!(num(&v, "/writeback/dirty_bytes") >= 10_000, "{v}");
    assert_eq!(num(&v, "/open/files"), 1);
    assert!(num(&v, "/open/handles") >= 1);
    let out = scfs().arg("status").arg(&m.mnt).output().unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(table.contains("64.0 KiB dirty"), "{table}");
    writer.kill().unwrap();
    writer.wait().unwrap();
    let text: Vec<u8> = (0..300_000u32)
        .map(|i| b"status figures "[(i % 15) as usize])
        .collect();
    fs::write(m.p("f"), &text).unwrap();

    // Closed: everything written, bytes counted.
    wait_until(10, "dirty bytes to be written", || {
        num(&status(&m.mnt), "/writeback/dirty_bytes") == 0
    });
    let v = status(&m.mnt);
    let data = num(&v, "/backing_written/data");
    assert!(
        data > 0 && data <= fs::metadata(m.b("f")).unwrap().len(),
        "{v}"
    );
    let decoded = num(&v, "/cache/blocks_decoded");

    // Reading decodes the stored blocks; reading again while open hits
    // the cache. O_DIRECT: past the kernel's page cache (which the writes
    // filled), to the daemon.
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(m.p("f"))
        .unwrap();
    let mut buf = vec![0u8; text.len()];
    f.read_exact_at(&mut buf, 0).unwrap();
    assert!(buf == text);
    let v = status(&m.mnt);
    assert!(num(&v, "/cache/blocks_decoded") >= decoded + 5, "{v}");
    assert!(num(&v, "/cache/entries") >= 1, "{v}");
    assert!(num(&v, "/cache/used") > 0, "{v}");
    let hits = num(&v, "/cache/hits");
    let mut one = vec![0u8; 65536];
    f.read_exact_at(&mut one, 0).unwrap();
    assert!(num(&status(&m.mnt), "/cache/hits") > hits);
    drop(f);

    // Idle recompression rewrites it a second after the last close.
    wait_until(20, "the recompression", || {
        num(&status(&m.mnt), "/recompression/done") == 1
    });
    let v = status(&m.mnt);
    let rewritten = num(&v, "/backing_written/recompression");
    assert!(rewritten > 0, "{v}");
    assert_eq!(
        num(&v, "/backing_written/total"),
        num(&v, "/backing_written/data") + rewritten + num(&v, "/backing_written/compaction")
    );
    assert_eq!(fs::read(m.p("f")).unwrap(), text);
}

#[test]
fn compaction_is_counted() {
    let Some(m) = Mounted::new() else { return };
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(m.p("c"))
        .unwrap();
    for i in 0..40 {
        f.write_all_at(&noise(65536, 100 + i), 0).unwrap();
        f.sync_data().unwrap();
    }
    drop(f);
    wait_until(10, "the compaction at close", || {
        num(&status(&m.mnt), "/compaction/done") >= 1
    });
    let v = status(&m.mnt);
    assert_eq!(num(&v, "/compaction/running"), 0);
    assert!(num(&v, "/compaction/bytes_written") >= 65536, "{v}");
    assert!(num(&v, "/backing_written/compaction") >= 65536, "{v}");
}

#[test]
fn a_corrupt_block_raises_the_checksum_counter() {
    let Some(mut m) = Mounted::new() else { return };
    let data = noise(4 * 65536, 9);
    fs::write(m.p("bad"), &data).unwrap();
    m.unmount();
    let c = scfs::container::Container::open(File::open(m.b("bad")).unwrap(), false).unwrap();
    let pos = c.record_offset(1).unwrap() as usize + 65536 / 2;
    drop(c);
    let mut raw = fs::read(m.b("bad")).unwrap();
    raw[pos] ^= 0x55;
    fs::write(m.b("bad"), &raw).unwrap();
    m.remount(FsOptions::default());
    assert_eq!(num(&status(&m.mnt), "/checksum_failures"), 0);
    assert_eq!(errno_of(fs::read(m.p("bad"))), libc::EIO);
    let v = status(&m.mnt);
    assert!(num(&v, "/checksum_failures") >= 1, "{v}");
    let out = scfs().arg("status").arg(&m.mnt).output().unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    let line = table
        .lines()
        .find(|l| l.starts_with("checksum failures"))
        .unwrap_or_else(|| panic!("no checksum line in {table}"));
    assert_ne!(line.split_whitespace().last(), Some("0"), "{table}");
}

#[test]
fn json_output_parses_and_names_the_mount() {
    let Some(m) = Mounted::new() else { return };
    fs::create_dir(m.p("sub")).unwrap();
    for at in [m.mnt.clone(), m.p("sub")] {
        let v = cli_status_json(&at);
        assert_eq!(num(&v, "/version"), 1);
        assert_eq!(v["mountpoint"], m.mnt.to_str().unwrap());
        assert_eq!(v["scfs_version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(num(&v, "/options/block_size"), 65536);
        assert_eq!(num(&v, "/pid"), u64::from(std::process::id()));
    }
    let out = scfs().arg("status").arg(&m.mnt).output().unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    for row in [
        "mount",
        "backing",
        "options",
        "cache",
        "write-back",
        "recompression",
    ] {
        assert!(table.lines().any(|l| l.starts_with(row)), "{row}: {table}");
    }
}

#[test]
fn the_name_is_hidden_read_only_and_only_on_the_root() {
    let Some(m) = Mounted::new() else { return };
    fs::write(m.p("f"), b"x").unwrap();
    fs::create_dir(m.p("d")).unwrap();
    let (n, list) = xattr_list(&m.mnt, 4096).unwrap();
    assert!(
        !list[..n].split(|&b| b == 0).any(|x| x == b"scfs.status"),
        "listed: {list:?}"
    );
    assert_eq!(
        errno_of(xattr_set(&m.mnt, "scfs.status", b"{}", 0)),
        libc::EPERM
    );
    let (p, name) = (cstr(&m.mnt), cstr("scfs.status"));
    // SAFETY: valid NUL-terminated strings.
    let r = unsafe { libc::removexattr(p.as_ptr(), name.as_ptr()) };
    assert_eq!(r, -1);
    assert_eq!(
        std::io::Error::last_os_error().raw_os_error(),
        Some(libc::EPERM)
    );
    for other in [m.p("f"), m.p("d")] {
        assert_eq!(errno_of(xattr_get(&other, "scfs.status", 0)), libc::ENODATA);
    }
    // A buffer too small for the value: ERANGE, as for any xattr.
    let (len, _) = xattr_get(&m.mnt, "scfs.status", 0).unwrap();
    assert!(len > 100);
    assert_eq!(errno_of(xattr_get(&m.mnt, "scfs.status", 10)), libc::ERANGE);
}

#[test]
fn other_users_get_eacces() {
    let Some(m) = Mounted::with(
        FsOptions {
            allow_other: true,
            ..FsOptions::default()
        },
        |b| fs::set_permissions(b, fs::Permissions::from_mode(0o755)).unwrap(),
    ) else {
        return;
    };
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipping: needs root to run a command as another user");
        return;
    }
    fs::write(m.p("f"), b"x").unwrap();
    let as_nobody = |args: &[&str]| {
        let mut c = if args[0] == "scfs" {
            scfs()
        } else {
            std::process::Command::new(args[0])
        };
        c.args(&args[1..]).arg(&m.mnt).uid(65534).gid(65534);
        c.output().unwrap()
    };
    // The mount is open to nobody (allow_other, mode 755)...
    let ls = as_nobody(&["ls"]);
    assert!(
        ls.status.success(),
        "{}",
        String::from_utf8_lossy(&ls.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&ls.stdout).trim(), "f");
    // ...but its status is not.
    let out = as_nobody(&["scfs", "status"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("permission denied"), "{err}");
    assert!(err.contains("and root may read its status"), "{err}");
    // The owner (root here) still reads it.
    assert_eq!(num(&status(&m.mnt), "/version"), 1);
}

#[test]
fn status_of_a_directory_that_is_no_scfs_mount_fails() {
    let dir = tempfile::tempdir().unwrap();
    let out = scfs().arg("status").arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not an scfs mount"), "{err}");
    let out = scfs()
        .arg("status")
        .arg(dir.path().join("missing"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_daemon_reports_the_paths_and_options_it_was_given() {
    let Some(m) = common::Mount::with_opts(&["cache_size=32M", "compress=fast", "recompress=off"])
    else {
        return;
    };
    let v = cli_status_json(&m.mnt);
    // The paths the user named, not the daemon's /proc/self/fd view.
    let canon = |p: &Path| p.canonicalize().unwrap().to_str().unwrap().to_owned();
    assert_eq!(v["backing"], canon(&m.backing));
    assert_eq!(v["mountpoint"], canon(&m.mnt));
    assert_eq!(num(&v, "/options/cache_size"), 32 << 20);
    assert_eq!(v["options"]["compress"], "fast");
    assert_eq!(v["options"]["recompress"], Value::Null);
    assert_eq!(num(&v, "/pid"), u64::from(m.daemon_pid().unwrap()));
}

#[test]
fn a_read_only_daemon_refuses_a_read_write_remount() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipping: remounts need root");
        return;
    }
    let Some(m) = common::Mount::with_opts(&["ro"]) else {
        return;
    };
    let remount = |opts: &str| {
        scfs()
            .arg("mount")
            .arg(&m.backing)
            .arg(&m.mnt)
            .arg("-o")
            .arg(format!("remount,{opts}"))
            .output()
            .unwrap()
    };
    let out = remount("rw");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("it was mounted with -o ro"), "{err}");
    // Still read-only, for the kernel too (no silent EROFS on every write).
    assert_eq!(errno_of(fs::write(m.p("f"), b"x")), libc::EROFS);
    // Other flags still change.
    let out = remount("ro,strictatime");
    assert!(out.status.success(), "{out:?}");
}
