//! `scfs convert` (issue 15, item 5): plain files in BACKING become
//! containers in place, offline or through a live mount, with contents,
//! owner, mode, times, xattrs and hard links kept; refused offline while a
//! daemon serves the BACKING; a concurrent reader never sees a missing or
//! different file; a file open through the mount stays plain and is
//! reported (exit 2).

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::{data, run, scfs, Mount};

fn is_container(p: &Path) -> bool {
    let b = fs::read(p).unwrap();
    b.len() >= 6 && b[..4] == [0x0C, 0x00, 0x0D, 0x0E] && b[4] >= 2
}

/// A tree of plain files: text, binary, a sparse file, an empty file, a
/// hard-linked pair, a file with an xattr, odd mode and old times.
fn plant(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut want = BTreeMap::new();
    fs::create_dir_all(root.join("d/e")).unwrap();
    for (i, (name, len, text)) in [
        ("a.txt", 300_000usize, true),
        ("d/b.bin", 70_000, false),
        ("d/e/c.log", 1_000_000, true),
        ("d/one", 1, true),
        ("exact", 65536, true),
    ]
    .into_iter()
    .enumerate()
    {
        let v = data(len, i as u64 + 1, text);
        fs::write(root.join(name), &v).unwrap();
        want.insert(PathBuf::from(name), v);
    }
    // sparse: a hole, then data, then a trailing hole
    let f = fs::File::create(root.join("sparse")).unwrap();
    f.set_len(5 << 20).unwrap();
    let mid = data(10_000, 9, true);
    std::os::unix::fs::FileExt::write_at(&f, &mid, 1 << 20).unwrap();
    let mut s = vec![0u8; 5 << 20];
    s[1 << 20..(1 << 20) + 10_000].copy_from_slice(&mid);
    want.insert(PathBuf::from("sparse"), s);
    fs::write(root.join("empty"), b"").unwrap();
    want.insert(PathBuf::from("empty"), Vec::new());
    fs::hard_link(root.join("a.txt"), root.join("d/a-link")).unwrap();
    want.insert(PathBuf::from("d/a-link"), want[Path::new("a.txt")].clone());
    fs::set_permissions(root.join("d/b.bin"), fs::Permissions::from_mode(0o640)).unwrap();
    xattr_set(&root.join("d/e/c.log"), "user.color", b"blue");
    let old = std::process::Command::new("touch")
        .args(["-m", "-d", "2020-02-03 04:05:06"])
        .arg(root.join("d/e/c.log"))
        .status()
        .unwrap();
    assert!(old.success());
    want
}

fn xattr_set(p: &Path, name: &str, v: &[u8]) {
    let out = run(std::process::Command::new("python3").args([
        "-c",
        "import os,sys; os.setxattr(sys.argv[1], sys.argv[2], sys.argv[3].encode())",
        p.to_str().unwrap(),
        name,
        std::str::from_utf8(v).unwrap(),
    ]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn xattr_get(p: &Path, name: &str) -> Option<Vec<u8>> {
    let out = run(std::process::Command::new("python3").args([
        "-c",
        "import os,sys; sys.stdout.write(os.getxattr(sys.argv[1], sys.argv[2]).decode())",
        p.to_str().unwrap(),
        name,
    ]));
    out.status.success().then_some(out.stdout)
}

fn check_tree(root: &Path, want: &BTreeMap<PathBuf, Vec<u8>>) {
    for (rel, v) in want {
        let got = fs::read(root.join(rel)).unwrap_or_else(|e| panic!("{}: {e}", rel.display()));
        assert!(got == *v, "{}: contents differ", rel.display());
    }
}

fn convert(args: &[&Path]) -> std::process::Output {
    run(scfs().arg("convert").args(args))
}

#[test]
fn offline_keeps_everything_and_is_idempotent() {
    let Some(mut m) = Mount::unmounted(&[]) else {
        return;
    };
    let want = plant(&m.backing);
    let before = fs::metadata(m.b("d/e/c.log")).unwrap();
    let out = convert(&[&m.backing]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("converted 6 files"), "{text}");
    assert!(text.contains("1 empty"), "{text}");
    for f in [
        "a.txt",
        "d/b.bin",
        "d/e/c.log",
        "d/one",
        "exact",
        "sparse",
        "d/a-link",
    ] {
        assert!(is_container(&m.b(f)), "{f} not converted");
    }
    // links, mode, times, xattrs
    let a = fs::metadata(m.b("a.txt")).unwrap();
    let l = fs::metadata(m.b("d/a-link")).unwrap();
    assert_eq!((a.ino(), a.nlink()), (l.ino(), 2));
    assert_eq!(fs::metadata(m.b("d/b.bin")).unwrap().mode() & 0o7777, 0o640);
    let after = fs::metadata(m.b("d/e/c.log")).unwrap();
    assert_eq!(
        (after.mtime(), after.mtime_nsec()),
        (before.mtime(), before.mtime_nsec())
    );
    assert_eq!(
        xattr_get(&m.b("d/e/c.log"), "user.color").as_deref(),
        Some(&b"blue"[..])
    );
    assert!(fs::metadata(m.b("sparse")).unwrap().len() < 100_000);
    // no temporary file left
    let leftovers = run(std::process::Command::new("sh").arg("-c").arg(format!(
        "find '{}' -name '.scfs-compact.*'",
        m.backing.display()
    )));
    assert!(leftovers.stdout.is_empty());
    // a second run finds nothing to do
    let again = convert(&[&m.backing]);
    let t2 = String::from_utf8_lossy(&again.stdout);
    assert!(
        again.status.success() && t2.contains("converted 0 files"),
        "{t2}"
    );
    assert!(t2.contains("6 already containers"), "{t2}");
    // the mount serves the same bytes
    m.mount();
    check_tree(&m.mnt, &want);
    m.umount();
}

#[test]
fn offline_refuses_a_served_backing_and_outside_links() {
    let Some(mut m) = Mount::unmounted(&[]) else {
        return;
    };
    fs::create_dir(m.b("sub")).unwrap();
    fs::write(m.b("sub/f"), data(50_000, 3, true)).unwrap();
    fs::hard_link(m.b("sub/f"), m.b("g")).unwrap();
    m.mount();
    let out = convert(&[&m.b("sub")]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("served by a running scfs daemon"), "{err}");
    assert!(err.contains("convert through the mount"), "{err}");
    assert!(!is_container(&m.b("sub/f")));
    m.umount();
    // a link outside the given paths: left plain, exit 2
    let out = convert(&[&m.b("sub")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("outside the given paths"));
    assert!(!is_container(&m.b("sub/f")));
    // bad input: a missing path
    let out = convert(&[&m.b("nope")]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn through_a_mount_with_a_concurrent_reader() {
    let Some(mut m) = Mount::unmounted(&[]) else {
        return;
    };
    let want = plant(&m.backing);
    m.mount();
    // A file held open stays plain and is reported.
    let held = fs::File::open(m.p("d/one")).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (stop, mnt, want) = (stop.clone(), m.mnt.clone(), want.clone());
        std::thread::spawn(move || {
            let mut rounds = 0;
            while !stop.load(Ordering::Relaxed) || rounds == 0 {
                check_tree(&mnt, &want);
                rounds += 1;
            }
            rounds
        })
    };
    let out = convert(&[&m.mnt]);
    stop.store(true, Ordering::Relaxed);
    let rounds = reader
        .join()
        .expect("reader saw a missing or different file");
    assert!(rounds >= 1);
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{text} {err}");
    assert!(err.contains("d/one: left plain"), "{err}");
    // hard-linked names stay plain through a mount (offline handles them)
    assert!(err.contains("a.txt: left plain: 2 hard links"), "{err}");
    assert!(err.contains("d/one: left plain: kept open"), "{err}");
    for f in ["d/b.bin", "d/e/c.log", "exact", "sparse"] {
        assert!(is_container(&m.b(f)), "{f} not converted");
    }
    assert!(!is_container(&m.b("d/one")));
    drop(held);
    let out = convert(&[&m.p("d/one")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(is_container(&m.b("d/one")));
    check_tree(&m.mnt, &want);
    assert_eq!(
        xattr_get(&m.p("d/e/c.log"), "user.color").as_deref(),
        Some(&b"blue"[..])
    );
    m.umount();
    m.mount();
    check_tree(&m.mnt, &want);
    m.umount();
}
