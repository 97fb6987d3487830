//! The space a rewritten file takes in BACKING is bounded (issue 12.3):
//! after a rollback-journal sqlite workload the closed database's
//! container is at most 1.2x a fresh `scfs compress` of the same bytes at
//! the same level, and during random overwrites of an open file (with no
//! close in between) the container never exceeds 2x. A deleted file, or
//! one a rename replaced, gives its space back at once: the daemon keeps
//! no descriptor of it (idle recompression used to pin it for 10 minutes).

mod common;
use common::rng::xorshift;

use std::fs;
use std::os::unix::fs::FileExt;
use std::path::Path;

use common::{have, run, scfs, sh, Mount};

/// Bytes a fresh `scfs compress --format v2` of `plain` at the default level
/// takes (64 KiB blocks, as the mount's new files).
fn fresh_size(plain: &Path, scratch: &Path) -> u64 {
    let out = scratch.join("fresh.scfs");
    let o = run(scfs()
        .args(["compress", "--format", "v2", "--block-size", "64K"])
        .arg(plain)
        .arg(&out));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    fs::metadata(&out).unwrap().len()
}

#[test]
fn a_rollback_journal_database_stays_within_1_2x_of_a_fresh_copy() {
    if !have("sqlite3") {
        return;
    }
    // The level `fresh_size` compresses at.
    let Some(m) = Mount::with_opts(&["compress=default"]) else {
        return;
    };
    let s = m.scratch().to_path_buf();
    sh(
        &s,
        "sqlite3 mnt/db.sqlite \"
           pragma journal_mode=delete;
           create table t(id integer primary key, name text, n integer);
           begin;
           with recursive c(x) as (select 1 union all select x + 1 from c where x < 40000)
             insert into t(name, n) select 'user ' || (x % 500) || ' item ' || x, x % 977 from c;
           commit;\"
         i=0
         while [ $i -lt 150 ]; do
           echo \"update t set n = n + $i, name = name || 'x' where id % 97 = $i % 97;\"
           i=$((i + 1))
         done | sqlite3 mnt/db.sqlite",
    );
    // The database is closed: its container is at rest.
    let stored = fs::metadata(m.b("db.sqlite")).unwrap().len();
    let plain = s.join("db.plain");
    fs::copy(m.p("db.sqlite"), &plain).unwrap();
    let fresh = fresh_size(&plain, &s);
    assert!(
        stored as f64 <= 1.2 * fresh as f64,
        "container {stored} bytes vs fresh {fresh}"
    );
    let check = sh(&s, "sqlite3 mnt/db.sqlite 'pragma integrity_check'");
    assert_eq!(check.trim(), "ok");
}

#[test]
fn random_overwrites_of_an_open_file_never_take_twice_a_fresh_copy() {
    let Some(m) = Mount::with_opts(&["compress=default"]) else {
        return;
    };
    let s = m.scratch().to_path_buf();
    // 16 MiB of text-like data, then random 4 KiB overwrites in place.
    let line = |i: u64| {
        let h = (i ^ 0x9E37_79B9).wrapping_mul(0x2545_F491_4F6C_DD1D);
        format!("{i:08} {h:016x} status={} user{}\n", h % 7, h % 1000)
    };
    let mut data = Vec::new();
    let mut i = 0;
    while data.len() < 16 << 20 {
        data.extend_from_slice(line(i).as_bytes());
        i += 1;
    }
    data.truncate(16 << 20);
    let p = m.p("big.txt");
    fs::write(&p, &data).unwrap();
    let f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&p)
        .unwrap();
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut worst = 0f64;
    for round in 0..6 {
        for _ in 0..400 {
            x = xorshift(x);
            let off = (x % ((16 << 20) / 4096)) * 4096;
            let chunk: Vec<u8> = (0..4096u64)
                .map(|k| b"abcdefghij klmnop\n"[((k + x) % 18) as usize])
                .collect();
            f.write_all_at(&chunk, off).unwrap();
            data[off as usize..off as usize + 4096].copy_from_slice(&chunk);
        }
        f.sync_all().unwrap();
        let stored = fs::metadata(m.b("big.txt")).unwrap().len();
        let plain = s.join("big.plain");
        fs::write(&plain, &data).unwrap();
        let fresh = fresh_size(&plain, &s);
        let ratio = stored as f64 / fresh as f64;
        worst = worst.max(ratio);
        assert!(ratio <= 2.0, "round {round}: {stored} vs fresh {fresh}");
    }
    drop(f);
    assert!(fs::read(&p).unwrap() == data);
    eprintln!("worst container / fresh ratio during overwrites: {worst:.2}");
}

/// Backing files the daemon `pid` still holds open although deleted.
fn deleted_held(pid: u32) -> Vec<String> {
    let mut out = Vec::new();
    for e in fs::read_dir(format!("/proc/{pid}/fd")).unwrap().flatten() {
        if let Ok(t) = fs::read_link(e.path()) {
            let t = t.to_string_lossy().into_owned();
            if t.ends_with(" (deleted)") && !t.contains("memfd:") {
                out.push(t);
            }
        }
    }
    out
}

#[test]
fn deleted_and_replaced_files_are_not_held_open() {
    let Some(m) = Mount::new() else {
        return;
    };
    let pid = m.daemon_pid().expect("daemon pid");
    let data = common::data(3 << 20, 5, true);
    fs::write(m.p("gone"), &data).unwrap();
    fs::write(m.p("old"), &data).unwrap();
    fs::write(m.p("new"), b"small").unwrap();
    assert_eq!(fs::read(m.p("gone")).unwrap(), data);
    fs::remove_file(m.p("gone")).unwrap();
    fs::rename(m.p("new"), m.p("old")).unwrap();
    // The kernel's forget reaches the daemon a moment after unlink returns.
    let mut held = Vec::new();
    for _ in 0..100 {
        held = deleted_held(pid);
        if held.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(held.is_empty(), "the daemon still holds {held:?}");
    assert_eq!(fs::read(m.p("old")).unwrap(), b"small");
}
