//! Real programs on a real mount: cp, cat, dd, sh, tar, sqlite3, du. Each
//! test skips (with a message) when /dev/fuse or the program is missing.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::inproc::Mounted;

fn have(prog: &str) -> bool {
    let ok = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {prog}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("skipping: {prog} is not installed");
    }
    ok
}

fn sh(dir: &Path, script: &str) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .output()
        .expect("run sh");
    assert!(
        out.status.success(),
        "script failed: {script}\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn sample_tree(root: &Path) {
    fs::create_dir_all(root.join("a/b/c")).unwrap();
    for i in 0..50 {
        let text = format!("file {i}\n").repeat(i * 37 + 1);
        fs::write(root.join(format!("a/b/f{i}.txt")), text).unwrap();
    }
    fs::write(root.join("a/b/c/deep"), vec![0u8; 300_000]).unwrap();
    std::os::unix::fs::symlink("b/f1.txt", root.join("a/link")).unwrap();
}

#[test]
fn cp_cat_dd_and_shell_redirections() {
    if !have("dd") {
        return;
    }
    let Some(m) = Mounted::new() else { return };
    let src = tempfile::tempdir().unwrap();
    sample_tree(src.path());
    let mnt = m.mnt.to_str().unwrap();
    let s = src.path().to_str().unwrap();
    sh(
        &m.mnt,
        &format!("cp -a {s}/a {mnt}/copy && diff -r {s}/a {mnt}/copy"),
    );
    sh(
        &m.mnt,
        "cat copy/b/f3.txt copy/b/f4.txt > cat.out && cat copy/b/f3.txt >> cat.out",
    );
    let want = [
        fs::read(src.path().join("a/b/f3.txt")).unwrap(),
        fs::read(src.path().join("a/b/f4.txt")).unwrap(),
        fs::read(src.path().join("a/b/f3.txt")).unwrap(),
    ]
    .concat();
    assert!(fs::read(m.p("cat.out")).unwrap() == want);
    // dd: a sparse 64 MiB file with data in the middle, then conv=notrunc.
    sh(
        &m.mnt,
        "dd if=/dev/urandom of=dd.bin bs=1M seek=32 count=2 status=none",
    );
    sh(
        &m.mnt,
        "dd if=/dev/zero of=dd.bin bs=4k seek=10 count=1 conv=notrunc status=none",
    );
    assert_eq!(fs::metadata(m.p("dd.bin")).unwrap().len(), 34 << 20);
    sh(&m.mnt, "cmp -n 1048576 dd.bin /dev/zero");
    let du = sh(&m.mnt, "du -k dd.bin | cut -f1");
    let kib: u64 = du.trim().parse().unwrap();
    assert!((2048..4096).contains(&kib), "du says {kib} KiB");
    // Copy through the mount and back out.
    sh(&m.mnt, "cp dd.bin dd2.bin && cmp dd.bin dd2.bin");
    sh(
        &m.mnt,
        &format!("cp dd2.bin {s}/out.bin && cmp dd.bin {s}/out.bin"),
    );
    sh(
        &m.mnt,
        "rm -r copy && mkdir -p x/y && echo hi > x/y/z && mv x/y x/w && cat x/w/z",
    );
}

#[test]
fn tar_create_and_extract() {
    if !have("tar") {
        return;
    }
    let Some(m) = Mounted::new() else { return };
    let src = tempfile::tempdir().unwrap();
    sample_tree(src.path());
    let s = src.path().to_str().unwrap();
    let mnt = m.mnt.to_str().unwrap();
    sh(
        src.path(),
        &format!("tar cf {s}/../scfs-test-in.tar -C {s} a"),
    );
    sh(&m.mnt, &format!("tar xpf {s}/../scfs-test-in.tar -C {mnt}"));
    sh(&m.mnt, &format!("diff -r {s}/a {mnt}/a"));
    // mtimes survive extraction (tar keeps whole seconds).
    use std::os::unix::fs::MetadataExt;
    for f in ["a/b/f7.txt", "a/b/c/deep", "a/b"] {
        let a = fs::metadata(src.path().join(f)).unwrap();
        let b = fs::metadata(m.p(f)).unwrap();
        assert_eq!(a.mtime(), b.mtime(), "{f}");
        assert_eq!(a.mode(), b.mode(), "{f}");
    }
    // And a tarball made from the mount has the same listing.
    sh(&m.mnt, &format!("tar cf {s}/../scfs-test-out.tar a"));
    let l1 = sh(&m.mnt, &format!("tar tf {s}/../scfs-test-in.tar | sort"));
    let l2 = sh(&m.mnt, &format!("tar tf {s}/../scfs-test-out.tar | sort"));
    assert_eq!(l1, l2);
    let _ = fs::remove_file(src.path().join("../scfs-test-in.tar"));
    let _ = fs::remove_file(src.path().join("../scfs-test-out.tar"));
}

#[test]
fn sqlite_database() {
    if !have("sqlite3") {
        return;
    }
    let Some(mut m) = Mounted::new() else { return };
    sh(
        &m.mnt,
        "sqlite3 db.sqlite 'create table t(k integer primary key, v text);' \
         'begin;' \
         \"with recursive n(i) as (select 1 union all select i+1 from n where i<5000) \
           insert into t select i, printf('value-%d-%s', i, hex(randomblob(20))) from n;\" \
         'commit;' \
         'update t set v = v || \"!\" where k % 7 = 0;' \
         'delete from t where k % 11 = 0;'",
    );
    let q = "sqlite3 db.sqlite 'pragma integrity_check;' 'select count(*), sum(length(v)) from t;'";
    let before = sh(&m.mnt, q);
    assert!(before.starts_with("ok\n"), "{before}");
    m.remount(Default::default());
    assert_eq!(sh(&m.mnt, q), before);
    // WAL mode too.
    sh(
        &m.mnt,
        "sqlite3 db.sqlite 'pragma journal_mode=wal;' 'insert into t(v) values (\"w\");'",
    );
    let after = sh(&m.mnt, q);
    assert!(after.starts_with("ok\n"), "{after}");
}
