//! Randomized reference-model test through a real daemon-mode mount:
//! random sequences of write/read/truncate/fallocate/rename/fsync/remount
//! on a few files, compared with an in-memory model after every read,
//! after every remount and at the end of each case.

mod common;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use common::Mount;

const FILES: u8 = 3;
const MAX_OFF: u64 = 400_000;

#[derive(Debug, Clone)]
enum Op {
    Write {
        f: u8,
        off: u64,
        len: usize,
        seed: u64,
        text: bool,
    },
    Read {
        f: u8,
        off: u64,
        len: usize,
    },
    Truncate {
        f: u8,
        size: u64,
    },
    Fallocate {
        f: u8,
        mode: i32,
        off: u64,
        len: u64,
    },
    Rename {
        from: u8,
        to: u8,
    },
    Fsync {
        f: u8,
    },
    Remount,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..FILES, 0..MAX_OFF, 1usize..140_000, any::<u64>(), any::<bool>())
            .prop_map(|(f, off, len, seed, text)| Op::Write { f, off, len, seed, text }),
        3 => (0..FILES, 0..MAX_OFF + 100_000, 1usize..200_000)
            .prop_map(|(f, off, len)| Op::Read { f, off, len }),
        2 => (0..FILES, 0..MAX_OFF + 100_000).prop_map(|(f, size)| Op::Truncate { f, size }),
        2 => (0..FILES, prop_oneof![Just(0), Just(1), Just(3)], 0..MAX_OFF, 1..200_000u64)
            .prop_map(|(f, mode, off, len)| Op::Fallocate { f, mode, off, len }),
        1 => (0..FILES, 0..FILES).prop_map(|(from, to)| Op::Rename { from, to }),
        1 => (0..FILES).prop_map(|f| Op::Fsync { f }),
        1 => Just(Op::Remount),
    ]
}

fn name(f: u8) -> String {
    format!("f{f}")
}

fn check_all(m: &Mount, model: &BTreeMap<String, Vec<u8>>, when: &str) {
    let mut names: Vec<String> = std::fs::read_dir(&m.mnt)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let want: Vec<String> = model.keys().cloned().collect();
    assert_eq!(names, want, "{when}: directory listing");
    for (n, d) in model {
        let got = std::fs::read(m.p(n)).unwrap();
        assert_eq!(got.len(), d.len(), "{when}: size of {n}");
        assert!(got == *d, "{when}: content of {n}");
    }
}

fn apply(m: &mut Mount, model: &mut BTreeMap<String, Vec<u8>>, op: &Op) {
    match *op {
        Op::Write {
            f,
            off,
            len,
            seed,
            text,
        } => {
            let data = common::data(len, seed, text);
            let file = OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(false)
                .open(m.p(&name(f)))
                .unwrap();
            file.write_all_at(&data, off).unwrap();
            let v = model.entry(name(f)).or_default();
            let end = off as usize + len;
            if v.len() < end {
                v.resize(end, 0);
            }
            v[off as usize..end].copy_from_slice(&data);
        }
        Op::Read { f, off, len } => match model.get(&name(f)) {
            None => {
                let e = File::open(m.p(&name(f))).unwrap_err();
                assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
            }
            Some(v) => {
                let file = File::open(m.p(&name(f))).unwrap();
                let mut buf = vec![0u8; len];
                let mut got = 0;
                loop {
                    let n = file.read_at(&mut buf[got..], off + got as u64).unwrap();
                    if n == 0 || got + n == len {
                        got += n;
                        break;
                    }
                    got += n;
                }
                let lo = (off as usize).min(v.len());
                let hi = (off as usize + len).min(v.len());
                assert_eq!(got, hi - lo, "read length");
                assert!(buf[..got] == v[lo..hi], "read {f} at {off}+{len}");
            }
        },
        Op::Truncate { f, size } => {
            let file = OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(false)
                .open(m.p(&name(f)))
                .unwrap();
            file.set_len(size).unwrap();
            model.entry(name(f)).or_default().resize(size as usize, 0);
        }
        Op::Fallocate { f, mode, off, len } => {
            let file = OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(false)
                .open(m.p(&name(f)))
                .unwrap();
            // SAFETY: fallocate(2) on an fd we own; no memory is passed.
            let r = unsafe { libc::fallocate(file.as_raw_fd(), mode, off as i64, len as i64) };
            assert_eq!(
                r,
                0,
                "fallocate mode {mode}: {}",
                std::io::Error::last_os_error()
            );
            let v = model.entry(name(f)).or_default();
            match mode {
                0 => {
                    let end = (off + len) as usize;
                    if v.len() < end {
                        v.resize(end, 0);
                    }
                }
                3 => {
                    let hi = ((off + len) as usize).min(v.len());
                    let lo = (off as usize).min(hi);
                    v[lo..hi].fill(0);
                }
                _ => {}
            }
        }
        Op::Rename { from, to } => {
            let r = std::fs::rename(m.p(&name(from)), m.p(&name(to)));
            match model.remove(&name(from)) {
                None => assert_eq!(r.unwrap_err().kind(), std::io::ErrorKind::NotFound),
                Some(v) => {
                    r.unwrap();
                    model.insert(name(to), v);
                }
            }
        }
        Op::Fsync { f } => {
            if model.contains_key(&name(f)) {
                OpenOptions::new()
                    .write(true)
                    .open(m.p(&name(f)))
                    .unwrap()
                    .sync_all()
                    .unwrap();
            }
        }
        Op::Remount => {
            m.remount();
            check_all(m, model, "after remount");
        }
    }
}

#[test]
fn random_operations_match_the_model() {
    let Some(m) = Mount::new() else { return };
    let m = RefCell::new(m);
    let cases = std::env::var("SCFS_MODEL_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(24);
    let mut runner = TestRunner::new(Config {
        cases,
        max_shrink_iters: 40,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&proptest::collection::vec(op(), 1..24), |ops| {
        let mut m = m.borrow_mut();
        for f in 0..FILES {
            let _ = std::fs::remove_file(m.p(&name(f)));
        }
        let mut model = BTreeMap::new();
        for op in &ops {
            apply(&mut m, &mut model, op);
        }
        check_all(&m, &model, "end of case");
        m.remount();
        check_all(&m, &model, "final remount");
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
