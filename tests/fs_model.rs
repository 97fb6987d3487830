//! Randomized reference model through a real mount: random sequences of
//! write / read / truncate / fallocate / punch / rename / fsync / remount
//! on a few files, compared byte for byte with an in-memory model. 4 KiB
//! blocks and a small cache so that block boundaries, evictions and
//! compaction are all exercised.

mod common;

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;

use common::inproc::Mounted;
use proptest::prelude::*;
use scfs::fs::FsOptions;

const NAMES: [&str; 3] = ["a", "b", "sub/c"];
const MAXLEN: u64 = 200_000;

#[derive(Debug, Clone)]
enum Op {
    Write {
        f: usize,
        off: u64,
        len: usize,
        seed: u8,
    },
    Read {
        f: usize,
        off: u64,
        len: usize,
    },
    Truncate {
        f: usize,
        size: u64,
    },
    Allocate {
        f: usize,
        off: u64,
        len: u64,
        keep: bool,
    },
    Punch {
        f: usize,
        off: u64,
        len: u64,
    },
    Rename {
        from: usize,
        to: usize,
    },
    Fsync {
        f: usize,
    },
    Remount,
}

fn op() -> impl Strategy<Value = Op> {
    let f = 0..NAMES.len();
    prop_oneof![
        6 => (f.clone(), 0..MAXLEN, 1..20_000usize, any::<u8>())
            .prop_map(|(f, off, len, seed)| Op::Write { f, off, len, seed }),
        3 => (f.clone(), 0..MAXLEN, 1..30_000usize).prop_map(|(f, off, len)| Op::Read { f, off, len }),
        2 => (f.clone(), 0..MAXLEN).prop_map(|(f, size)| Op::Truncate { f, size }),
        1 => (f.clone(), 0..MAXLEN, 1..50_000u64, any::<bool>())
            .prop_map(|(f, off, len, keep)| Op::Allocate { f, off, len, keep }),
        1 => (f.clone(), 0..MAXLEN, 1..50_000u64).prop_map(|(f, off, len)| Op::Punch { f, off, len }),
        1 => (f.clone(), f.clone()).prop_map(|(from, to)| Op::Rename { from, to }),
        1 => f.prop_map(|f| Op::Fsync { f }),
        1 => Just(Op::Remount),
    ]
}

fn bytes(len: usize, seed: u8) -> Vec<u8> {
    // Compressible but not constant.
    (0..len)
        .map(|i| b"abcdefgh"[(i / 7 + seed as usize) % 8] ^ (seed & 3))
        .collect()
}

fn opts(writeback_cache: bool) -> FsOptions {
    FsOptions {
        block_size: 4096,
        cache_size: 64 << 10,
        writeback_cache,
        ..Default::default()
    }
}

fn rw(m: &Mounted, name: &str) -> File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(m.p(name))
        .unwrap()
}

fn fallocate(f: &File, mode: i32, off: u64, len: u64) {
    // SAFETY: plain integer arguments on an open descriptor.
    let r = unsafe { libc::fallocate(f.as_raw_fd(), mode, off as i64, len as i64) };
    assert_eq!(r, 0, "fallocate: {}", std::io::Error::last_os_error());
}

fn run(ops: &[Op], wb: bool) {
    let Some(mut m) = Mounted::with(opts(wb), |b| fs::create_dir(b.join("sub")).unwrap()) else {
        return;
    };
    let mut model: BTreeMap<usize, Vec<u8>> = BTreeMap::new();
    for op in ops {
        match *op {
            Op::Write { f, off, len, seed } => {
                let data = bytes(len, seed);
                rw(&m, NAMES[f]).write_all_at(&data, off).unwrap();
                let v = model.entry(f).or_default();
                let end = off as usize + len;
                if v.len() < end {
                    v.resize(end, 0);
                }
                v[off as usize..end].copy_from_slice(&data);
            }
            Op::Read { f, off, len } => {
                let Some(v) = model.get(&f) else { continue };
                let mut buf = vec![0u8; len];
                let n = File::open(m.p(NAMES[f]))
                    .unwrap()
                    .read_at(&mut buf, off)
                    .unwrap();
                let want = v
                    .get(off as usize..)
                    .map_or(&[][..], |s| &s[..s.len().min(len)]);
                assert_eq!(n, want.len(), "{op:?}");
                assert!(&buf[..n] == want, "{op:?}");
            }
            Op::Truncate { f, size } => {
                rw(&m, NAMES[f]).set_len(size).unwrap();
                model.entry(f).or_default().resize(size as usize, 0);
            }
            Op::Allocate { f, off, len, keep } => {
                let file = rw(&m, NAMES[f]);
                let mode = if keep { libc::FALLOC_FL_KEEP_SIZE } else { 0 };
                fallocate(&file, mode, off, len);
                let v = model.entry(f).or_default();
                if !keep && v.len() < (off + len) as usize {
                    v.resize((off + len) as usize, 0);
                }
            }
            Op::Punch { f, off, len } => {
                let file = rw(&m, NAMES[f]);
                fallocate(
                    &file,
                    libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                    off,
                    len,
                );
                let v = model.entry(f).or_default();
                let end = ((off + len) as usize).min(v.len());
                if (off as usize) < end {
                    v[off as usize..end].fill(0);
                }
            }
            Op::Rename { from, to } => {
                if from == to || !model.contains_key(&from) {
                    continue;
                }
                fs::rename(m.p(NAMES[from]), m.p(NAMES[to])).unwrap();
                let v = model.remove(&from).unwrap_or_default();
                model.insert(to, v);
            }
            Op::Fsync { f } => {
                if model.contains_key(&f) {
                    rw(&m, NAMES[f]).sync_all().unwrap();
                }
            }
            Op::Remount => m.remount(opts(wb)),
        }
    }
    // Everything, through the mount and after an unmount in BACKING.
    for (f, v) in &model {
        let got = fs::read(m.p(NAMES[*f])).unwrap();
        assert!(got == *v, "final content of {}", NAMES[*f]);
    }
    for (i, n) in NAMES.iter().enumerate() {
        assert_eq!(m.p(n).exists(), model.contains_key(&i), "{n}");
    }
    m.unmount();
    for (f, v) in &model {
        let file = File::open(m.b(NAMES[*f])).unwrap();
        if file.metadata().unwrap().len() == 0 {
            // Never had content: an empty file (FORMAT.md 3.6).
            assert!(v.is_empty(), "{} lost its content", NAMES[*f]);
            continue;
        }
        let c = scfs::container::Container::open(file, false).unwrap();
        assert_eq!(c.logical_size(), v.len() as u64);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]
    #[test]
    fn random_operations_match_the_model(ops in proptest::collection::vec(op(), 1..40)) {
        run(&ops, false);
    }

    #[test]
    fn random_operations_match_the_model_writeback(ops in proptest::collection::vec(op(), 1..40)) {
        run(&ops, true);
    }
}
