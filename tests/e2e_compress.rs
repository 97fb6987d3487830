//! Compression levels and policies through the real daemon: the default
//! level stores text as LZ blocks; `-o compress=` picks the coding; the
//! xattr `user.scfs.compress` on a directory is inherited by what is made
//! under it and overrides the mount's option; a bad value is EINVAL; an
//! old version-3 container written through the mount takes LZ blocks; a
//! writer that outruns the compression threads at `fast` loses nothing.
//! `scfs stats --json` shows each file's policy and block kinds.

mod common;
use common::rng::xorshift;

use std::ffi::CString;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use common::{run, scfs, Mount};

/// Log-like text that LZ compresses far better than order-0 Huffman.
fn logs(len: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 200);
    let mut x = seed | 1;
    let mut i = 0u64;
    while out.len() < len {
        x = xorshift(x);
        out.extend_from_slice(
            format!(
                "2026-12-06 23:{:02}:{:02} INFO [worker-{}] GET /api/v1/items/{} 200 {}ms user={}\n",
                (i / 60) % 60,
                i % 60,
                x % 8,
                x % 5000,
                x % 300,
                x % 40
            )
            .as_bytes(),
        );
        i += 1;
    }
    out.truncate(len);
    out
}

fn cpath(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).unwrap()
}

fn set_policy(p: &Path, v: &str) -> std::io::Result<()> {
    let name = c"user.scfs.compress";
    // SAFETY: valid C strings and a value buffer of its length.
    let r = unsafe {
        libc::setxattr(
            cpath(p).as_ptr(),
            name.as_ptr(),
            v.as_ptr().cast(),
            v.len(),
            0,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn get_policy(p: &Path) -> Option<String> {
    let mut buf = [0u8; 64];
    // SAFETY: `buf` is writable for its length; valid C strings.
    let n = unsafe {
        libc::getxattr(
            cpath(p).as_ptr(),
            c"user.scfs.compress".as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    (n >= 0).then(|| String::from_utf8_lossy(&buf[..n as usize]).into_owned())
}

/// (policy, lz, huffman, stored) of one file from `scfs stats --json`.
fn kinds(p: &Path) -> (String, u64, u64, u64) {
    let out = run(scfs().arg("stats").arg("--json").arg(p));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j = String::from_utf8(out.stdout).unwrap();
    let blocks = &j[j
        .find("\"blocks\": {")
        .unwrap_or_else(|| panic!("blocks in {j}"))..];
    let field = |name: &str| -> u64 {
        let at = blocks
            .find(&format!("\"{name}\": "))
            .unwrap_or_else(|| panic!("{name} in {j}"));
        blocks[at + name.len() + 4..]
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let policy = j
        .split("\"policy\": ")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .trim_matches('"')
        .to_string();
    (policy, field("lz"), field("huffman"), field("stored"))
}

fn stored_size(p: &Path) -> u64 {
    fs::metadata(p).unwrap().len()
}

/// A writer that outruns the compression threads at `fast` (a 1 MiB cache:
/// the backlog is full after four blocks) loses nothing: every byte reads
/// back, before and after the unmount, and every block is an LZ or a
/// Huffman record (`fast` gives way to `huffman` while the threads are
/// behind; how many blocks do is up to the machine's speed).
#[test]
fn a_writer_ahead_of_the_compression_threads_loses_nothing() {
    let data = logs(24 << 20, 5);
    let Some(mut m) = Mount::with_opts(&["compress=fast,cache_size=1M,recompress=off"]) else {
        return;
    };
    let mut f = fs::File::create(m.p("fast.log")).unwrap();
    for c in data.chunks(1 << 20) {
        f.write_all(c).unwrap();
    }
    f.sync_all().unwrap();
    drop(f);
    assert!(fs::read(m.p("fast.log")).unwrap() == data);
    m.umount();
    let (_, lz, huffman, stored) = kinds(&m.b("fast.log"));
    eprintln!("blocks: lz {lz}, huffman {huffman}");
    assert_eq!(
        (lz + huffman, stored),
        (384, 0),
        "lz {lz} huffman {huffman}"
    );
    m.mount();
    assert!(fs::read(m.p("fast.log")).unwrap() == data);
}

#[test]
fn the_mount_option_chooses_the_coding_and_stronger_levels_store_less() {
    let data = logs(1 << 20, 1);
    let mut sizes = Vec::new();
    for level in ["none", "huffman", "fast", "default", "max"] {
        let opt = format!("compress={level}");
        let Some(mut m) = Mount::with_opts(&[&opt]) else {
            return;
        };
        fs::write(m.p("app.log"), &data).unwrap();
        m.umount();
        let (policy, lz, huffman, stored) = kinds(&m.b("app.log"));
        assert_eq!(policy, "null", "no policy xattr on the file");
        match level {
            "none" => assert_eq!((lz, huffman, stored), (0, 0, 16), "{level}"),
            "huffman" => assert_eq!((lz, huffman, stored), (0, 16, 0), "{level}"),
            _ => assert_eq!((lz, huffman, stored), (16, 0, 0), "{level}"),
        }
        sizes.push(stored_size(&m.b("app.log")));
        m.mount();
        assert!(
            fs::read(m.p("app.log")).unwrap() == data,
            "{level}: data differs"
        );
    }
    // none > huffman > fast >= default >= max, and LZ far below Huffman.
    assert!(sizes[0] > sizes[1] && sizes[1] > 2 * sizes[2], "{sizes:?}");
    assert!(sizes[2] >= sizes[3] && sizes[3] >= sizes[4], "{sizes:?}");
}

#[test]
fn a_directory_policy_is_inherited_and_overrides_the_mount() {
    let Some(mut m) = Mount::with_opts(&["compress=default"]) else {
        return;
    };
    let d = m.p("raw");
    fs::create_dir(&d).unwrap();
    assert_eq!(get_policy(&d), None);
    let e = set_policy(&d, "zstd").unwrap_err();
    assert_eq!(
        e.raw_os_error(),
        Some(libc::EINVAL),
        "a bad level is refused"
    );
    set_policy(&d, "none").unwrap();
    assert_eq!(get_policy(&d).as_deref(), Some("none"));
    let data = logs(300_000, 2);
    fs::write(d.join("f.log"), &data).unwrap();
    fs::create_dir(d.join("sub")).unwrap();
    assert_eq!(get_policy(&d.join("sub")).as_deref(), Some("none"));
    fs::write(d.join("sub/g.log"), &data).unwrap();
    assert_eq!(get_policy(&d.join("f.log")).as_deref(), Some("none"));
    // Outside the directory: the mount's default.
    fs::write(m.p("h.log"), &data).unwrap();
    // A file's own policy applies to its writes: set on an empty file,
    // then written through the same open.
    let mut f = fs::File::create(m.p("huff.log")).unwrap();
    set_policy(&m.p("huff.log"), "huffman\n").unwrap();
    f.write_all(&data).unwrap();
    drop(f);
    // Removing it restores the mount's choice for the next writes.
    fs::write(m.p("back.log"), b"").unwrap();
    set_policy(&m.p("back.log"), "none").unwrap();
    // SAFETY: valid C strings.
    let r = unsafe {
        libc::removexattr(
            cpath(&m.p("back.log")).as_ptr(),
            c"user.scfs.compress".as_ptr(),
        )
    };
    assert_eq!(r, 0);
    fs::write(m.p("back.log"), &data).unwrap();
    m.umount();
    let k = kinds(&m.b("raw/f.log"));
    assert_eq!(k, ("none".into(), 0, 0, 5), "raw/f.log");
    assert_eq!(kinds(&m.b("raw/sub/g.log")), ("none".into(), 0, 0, 5));
    let (p, lz, h, s) = kinds(&m.b("h.log"));
    assert_eq!((p.as_str(), h, s), ("null", 0, 0));
    assert_eq!(lz, 5);
    assert_eq!(kinds(&m.b("huff.log")), ("huffman".into(), 0, 5, 0));
    assert_eq!(kinds(&m.b("back.log")), ("null".into(), 5, 0, 0));
    m.mount();
    for f in [
        "raw/f.log",
        "raw/sub/g.log",
        "h.log",
        "huff.log",
        "back.log",
    ] {
        assert!(fs::read(m.p(f)).unwrap() == data, "{f}");
    }
}

#[test]
fn an_old_version_3_container_takes_lz_blocks_when_written_through_the_mount() {
    let Some(mut m) = Mount::unmounted(&["compress=default"]) else {
        return;
    };
    let data = logs(200_000, 3);
    let plain = m.scratch().join("plain");
    fs::write(&plain, &data).unwrap();
    let out = run(scfs()
        .args(["compress", "--format", "v2", "--level", "huffman"])
        .arg(&plain)
        .arg(m.b("old.log")));
    assert!(out.status.success());
    // The header as a session-7 scfs wrote it: version 3, same CRC.
    let mut bytes = fs::read(m.b("old.log")).unwrap();
    bytes[4] = 3;
    fs::write(m.b("old.log"), &bytes).unwrap();
    m.mount();
    assert!(fs::read(m.p("old.log")).unwrap() == data);
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(m.p("old.log"))
        .unwrap();
    f.write_all(&logs(100_000, 4)).unwrap();
    drop(f);
    m.umount();
    let bytes = fs::read(m.b("old.log")).unwrap();
    assert_eq!(bytes[4..6], [4, 0], "raised to version 4");
    let (_, lz, huffman, _) = kinds(&m.b("old.log"));
    assert!(lz >= 1 && huffman >= 1, "lz {lz} huffman {huffman}");
    m.mount();
    let mut want = data.clone();
    want.extend(logs(100_000, 4));
    assert!(fs::read(m.p("old.log")).unwrap() == want);
    let out = run(scfs().arg("verify").arg(m.b("old.log")));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
