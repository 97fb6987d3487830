//! Idle recompression through the real daemon (`-o compress=fast,
//! recompress=max,recompress_idle=1`): files written at `fast` are
//! rewritten at `max` once closed and idle (within 2% of `scfs compress
//! --level max` of the same bytes), with the same contents, owner, mode,
//! xattrs and times; a file opened for writing while it is being rewritten
//! keeps every byte written (the rewrite is cancelled and its temporary
//! file removed); files with their own policy or several names are left
//! alone; a file the kernel forgot while it waited is still rewritten;
//! bad option values are refused.

mod common;
use common::rng::xorshift;

use std::ffi::CString;
use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use common::{run, scfs, wait_until, Mount};

const OPTS: &str = "compress=fast,recompress=max,recompress_idle=1";

/// Seconds to wait for a rewrite: it runs at nice 19, so on a machine
/// busy with other work it may take far longer than its CPU time.
const WAIT: u64 = 300;

/// Log-like text on which `max` beats `fast` by well over 2%.
fn logs(len: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 200);
    let mut x = seed | 1;
    let mut i = 0u64;
    while out.len() < len {
        x = xorshift(x);
        out.extend_from_slice(
            format!(
                "2026-12-07 00:{:02}:{:02} INFO [worker-{}] GET /api/v1/items/{} 200 {}ms user={} session={:x}\n",
                (i / 60) % 60,
                i % 60,
                x % 8,
                x % 50000,
                x % 300,
                x % 400,
                x % 65536
            )
            .as_bytes(),
        );
        i += 1;
    }
    out.truncate(len);
    out
}

fn set_xattr(p: &Path, name: &str, v: &str) {
    let path = CString::new(p.as_os_str().as_bytes()).unwrap();
    let name = CString::new(name).unwrap();
    // SAFETY: valid C strings and a value buffer of its length.
    let r = unsafe { libc::setxattr(path.as_ptr(), name.as_ptr(), v.as_ptr().cast(), v.len(), 0) };
    assert_eq!(r, 0, "setxattr: {}", std::io::Error::last_os_error());
}

fn get_xattr(p: &Path, name: &str) -> Option<Vec<u8>> {
    let path = CString::new(p.as_os_str().as_bytes()).unwrap();
    let name = CString::new(name).unwrap();
    let mut buf = [0u8; 256];
    // SAFETY: `buf` is writable for its length; valid C strings.
    let n = unsafe {
        libc::getxattr(
            path.as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    (n >= 0).then(|| buf[..n as usize].to_vec())
}

/// Size of `scfs compress --format v2 --level max` of `data`.
fn max_size(m: &Mount, data: &[u8]) -> u64 {
    let input = m.scratch().join("ref.in");
    let out = m.scratch().join("ref.scfs");
    fs::write(&input, data).unwrap();
    let _ = fs::remove_file(&out);
    let r = run(scfs()
        .args(["compress", "--format", "v2", "--level", "max"])
        .arg(&input)
        .arg(&out));
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    fs::metadata(&out).unwrap().len()
}

fn temps(m: &Mount) -> Vec<String> {
    fs::read_dir(&m.backing)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".scfs-compact."))
        .collect()
}

fn verify(p: &Path) {
    let out = run(scfs().arg("verify").arg(p));
    assert!(
        out.status.success(),
        "scfs verify {}: {}{}",
        p.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn files_written_fast_end_within_2_percent_of_max_after_the_idle_time() {
    let Some(mut m) = Mount::with_opts(&[OPTS]) else {
        return;
    };
    let a = logs(3 << 20, 1);
    let b = logs((1 << 20) + 12345, 2);
    let t0 = Instant::now();
    fs::write(m.p("a.log"), &a).unwrap();
    fs::create_dir(m.p("sub")).unwrap();
    fs::write(m.p("sub/b.log"), &b).unwrap();
    let early = t0.elapsed() < Duration::from_millis(900);
    // Metadata the rewrite must keep.
    fs::set_permissions(m.p("a.log"), fs::Permissions::from_mode(0o640)).unwrap();
    set_xattr(&m.p("a.log"), "user.note", "kept");
    let before_a = fs::metadata(m.b("a.log")).unwrap();
    let before_b = fs::metadata(m.b("sub/b.log")).unwrap();
    let (ref_a, ref_b) = (max_size(&m, &a), max_size(&m, &b));
    assert!(
        before_a.len() * 100 > ref_a * 102 && before_b.len() * 100 > ref_b * 102,
        "fast must be more than 2% above max here: {} vs {ref_a}, {} vs {ref_b}",
        before_a.len(),
        before_b.len()
    );
    if early {
        // Not before the idle time (1 s after the close).
        assert_eq!(fs::metadata(m.b("a.log")).unwrap().ino(), before_a.ino());
    }
    wait_until(WAIT, "both files to be rewritten", || {
        let ia = fs::metadata(m.b("a.log")).map(|s| s.ino());
        let ib = fs::metadata(m.b("sub/b.log")).map(|s| s.ino());
        ia.is_ok_and(|i| i != before_a.ino()) && ib.is_ok_and(|i| i != before_b.ino())
    });
    let after_a = fs::metadata(m.b("a.log")).unwrap();
    let after_b = fs::metadata(m.b("sub/b.log")).unwrap();
    for (after, reference) in [(after_a.len(), ref_a), (after_b.len(), ref_b)] {
        assert!(
            after * 100 <= reference * 102,
            "{after} bytes is more than 2% above max's {reference}"
        );
    }
    // Same contents, owner, mode, xattrs, times; nothing left behind.
    assert!(fs::read(m.p("a.log")).unwrap() == a, "a.log differs");
    assert!(fs::read(m.p("sub/b.log")).unwrap() == b, "b.log differs");
    assert_eq!(after_a.mode(), before_a.mode());
    assert_eq!(
        (after_a.uid(), after_a.gid()),
        (before_a.uid(), before_a.gid())
    );
    assert_eq!(after_a.mtime(), before_a.mtime());
    assert_eq!(after_a.mtime_nsec(), before_a.mtime_nsec());
    assert_eq!(
        get_xattr(&m.p("a.log"), "user.note").as_deref(),
        Some(&b"kept"[..])
    );
    let st = fs::metadata(m.p("a.log")).unwrap();
    assert_eq!(st.len(), a.len() as u64);
    assert_eq!(st.ino(), fs::metadata(m.p("a.log")).unwrap().ino());
    assert!(temps(&m).is_empty(), "{:?}", temps(&m));
    // Written again later: rewritten again.
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(m.p("sub/b.log"))
        .unwrap();
    f.write_all(b"one more line\n").unwrap();
    drop(f);
    let mid = fs::metadata(m.b("sub/b.log")).unwrap().ino();
    wait_until(WAIT, "b.log to be rewritten again", || {
        fs::metadata(m.b("sub/b.log")).is_ok_and(|s| s.ino() != mid)
    });
    let mut b2 = b.clone();
    b2.extend_from_slice(b"one more line\n");
    assert!(fs::read(m.p("sub/b.log")).unwrap() == b2, "b.log differs");
    m.umount();
    verify(&m.b("a.log"));
    verify(&m.b("sub/b.log"));
    assert!(m.decompress("a.log") == a);
}

#[test]
fn a_file_opened_for_writing_during_its_rewrite_keeps_every_byte() {
    let Some(mut m) = Mount::with_opts(&[OPTS]) else {
        return;
    };
    // Large enough that a rewrite at max takes a while.
    let mut data = logs(8 << 20, 3);
    fs::write(m.p("big.log"), &data).unwrap();
    let ino0 = fs::metadata(m.b("big.log")).unwrap().ino();
    // Wait for the rewrite to start (its temporary file appears).
    let t0 = Instant::now();
    while temps(&m).is_empty() {
        assert!(
            fs::metadata(m.b("big.log")).unwrap().ino() == ino0,
            "the rewrite finished before it was seen: make the file bigger"
        );
        assert!(
            t0.elapsed() < Duration::from_secs(WAIT),
            "no rewrite started"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut f = fs::OpenOptions::new()
        .write(true)
        .open(m.p("big.log"))
        .unwrap();
    // The open cancelled the rewrite: its temporary file goes away and the
    // old file stays.
    wait_until(WAIT, "the cancelled rewrite's temporary file to go", || {
        temps(&m).is_empty()
    });
    assert_eq!(fs::metadata(m.b("big.log")).unwrap().ino(), ino0);
    for (off, bytes) in [
        (0u64, &b"HEAD"[..]),
        (5 << 20, b"middle"),
        (8 << 20, b"tail\n"),
    ] {
        f.seek(SeekFrom::Start(off)).unwrap();
        f.write_all(bytes).unwrap();
        let o = off as usize;
        if data.len() < o + bytes.len() {
            data.resize(o + bytes.len(), 0);
        }
        data[o..o + bytes.len()].copy_from_slice(bytes);
    }
    drop(f);
    assert!(
        fs::read(m.p("big.log")).unwrap() == data,
        "a write was lost"
    );
    // Closed again: rewritten after another idle time, with every byte.
    wait_until(WAIT, "the file to be rewritten after all", || {
        fs::metadata(m.b("big.log")).is_ok_and(|s| s.ino() != ino0)
    });
    assert!(fs::read(m.p("big.log")).unwrap() == data, "data differs");
    m.umount();
    verify(&m.b("big.log"));
    assert!(temps(&m).is_empty(), "{:?}", temps(&m));
}

#[test]
fn files_with_their_own_policy_or_two_names_are_left_alone() {
    let Some(m) = Mount::with_opts(&[OPTS]) else {
        return;
    };
    let data = logs(256 << 10, 4);
    fs::create_dir(m.p("raw")).unwrap();
    set_xattr(&m.p("raw"), "user.scfs.compress", "none");
    fs::write(m.p("raw/stored.log"), &data).unwrap();
    fs::write(m.p("own.log"), b"").unwrap();
    set_xattr(&m.p("own.log"), "user.scfs.compress", "fast");
    fs::write(m.p("own.log"), &data).unwrap();
    fs::write(m.p("linked.log"), &data).unwrap();
    fs::hard_link(m.p("linked.log"), m.p("link2.log")).unwrap();
    let ino = |rel: &str| fs::metadata(m.b(rel)).unwrap().ino();
    let before = [ino("raw/stored.log"), ino("own.log"), ino("linked.log")];
    // Written last, so its timer runs out last: once it is rewritten the
    // others have had their turn.
    fs::write(m.p("control.log"), &data).unwrap();
    let control = ino("control.log");
    wait_until(WAIT, "the control file to be rewritten", || {
        ino("control.log") != control
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        [ino("raw/stored.log"), ino("own.log"), ino("linked.log")],
        before
    );
    assert!(fs::metadata(m.b("raw/stored.log")).unwrap().len() > data.len() as u64);
    for rel in [
        "raw/stored.log",
        "own.log",
        "linked.log",
        "link2.log",
        "control.log",
    ] {
        assert!(fs::read(m.p(rel)).unwrap() == data, "{rel} differs");
    }
}

#[test]
fn bad_recompress_options_are_refused() {
    for bad in [
        "recompress=zstd",
        "recompress",
        "recompress_idle=0",
        "recompress_idle=5x",
        "recompress_idle=10d",
    ] {
        let Some(m) = Mount::unmounted(&[bad]) else {
            return;
        };
        let out = run(&mut m.mount_cmd());
        assert!(!out.status.success(), "{bad} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        let key = bad.split('=').next().unwrap();
        assert!(err.contains(key), "{bad}: {err}");
        assert!(!common::is_mounted(&m.mnt), "{bad}: mounted anyway");
    }
}

#[test]
fn a_file_the_kernel_forgot_while_it_waited_is_still_rewritten() {
    // Root only: drop_caches makes the kernel forget the closed file's
    // inode (a FUSE forget) before its idle time is over.
    // SAFETY: geteuid cannot fail and touches no memory.
    if unsafe { libc::geteuid() } != 0 {
        return;
    }
    let Some(m) = Mount::with_opts(&["compress=fast,recompress=max,recompress_idle=3"]) else {
        return;
    };
    let data = logs(1 << 20, 5);
    fs::write(m.p("f.log"), &data).unwrap();
    let ino0 = fs::metadata(m.b("f.log")).unwrap().ino();
    // Dentries and inodes only (2): cheap, and no page cache is dropped.
    fs::write("/proc/sys/vm/drop_caches", "2").unwrap();
    wait_until(WAIT, "the forgotten file to be rewritten", || {
        fs::metadata(m.b("f.log")).is_ok_and(|s| s.ino() != ino0)
    });
    assert!(fs::read(m.p("f.log")).unwrap() == data);
}
