//! The file layer (`file::LogicalFile` over `cache::BlockCache` over the v2
//! container) without FUSE: a proptest reference model (random operation
//! sequences compared byte for byte with a `Vec<u8>`, 4 KiB blocks and a
//! cache of a few blocks so that evictions happen all the time), and focused
//! tests for edges, concurrency, corruption, durability and memory.

mod common;
use common::model::{fill, FileModel, Fill, Op, Shape};
use common::rng::{noise, xorshift, Rng};

use proptest::prelude::*;
use scfs::cache::{BlockCache, CacheOptions};
use scfs::container::{CompactWhen, Compression, Container};
use scfs::file::{LogicalFile, SealQueue, MAX_FILE_SIZE};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const BS: u32 = 4096;
const BSU: u64 = BS as u64;

fn cache(budget: u64, threads: usize) -> Arc<BlockCache> {
    BlockCache::with_options(CacheOptions {
        budget,
        compress_threads: threads,
        idle_flush: None,
        ..Default::default()
    })
}

fn rw(path: &Path) -> File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap()
}

fn new_file(
    dir: &tempfile::TempDir,
    name: &str,
    cache: &Arc<BlockCache>,
) -> (PathBuf, Arc<LogicalFile>) {
    let path = dir.path().join(name);
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .unwrap();
    let lf = LogicalFile::create(f, BS, cache, &SealQueue::new()).unwrap();
    lf.set_name(name);
    (path, lf)
}

fn reopen(path: &Path, cache: &Arc<BlockCache>) -> Arc<LogicalFile> {
    LogicalFile::open(rw(path), true, cache, &SealQueue::new()).unwrap()
}

fn read_all(f: &LogicalFile) -> Vec<u8> {
    let mut v = vec![0u8; f.size() as usize];
    let n = f.read(0, &mut v).unwrap();
    assert_eq!(n, v.len());
    v
}

fn errno_of(e: &std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(-1)
}

/// Deterministic bytes; seed 0 gives zeros (so zero blocks become holes),
/// small seeds give compressible text-like data, others noise.
fn pattern(seed: u8, len: usize) -> Vec<u8> {
    match seed {
        0 => vec![0; len],
        1..=3 => (0..len)
            .map(|i| b"abcab\ncab"[(i + seed as usize) % 9])
            .collect(),
        4 => vec![0xFF; len],
        _ => noise(len, seed as u64),
    }
}

/// Log lines of this test process (error level), to check what the file
/// layer reports.
fn logged() -> Vec<String> {
    use std::sync::{Mutex, OnceLock};
    struct Capture(Mutex<Vec<String>>);
    impl log::Log for Capture {
        fn enabled(&self, m: &log::Metadata) -> bool {
            m.level() <= log::Level::Error
        }
        fn log(&self, r: &log::Record) {
            if self.enabled(r.metadata()) {
                self.0.lock().unwrap().push(r.args().to_string());
            }
        }
        fn flush(&self) {}
    }
    static LOGGER: OnceLock<&'static Capture> = OnceLock::new();
    let l = LOGGER.get_or_init(|| {
        let l: &'static Capture = Box::leak(Box::new(Capture(Mutex::new(Vec::new()))));
        let _ = log::set_logger(l);
        log::set_max_level(log::LevelFilter::Error);
        l
    });
    l.0.lock().unwrap().clone()
}

// ---------------------------------------------------------------- model test

/// Offsets near block boundaries most of the time, anywhere in 20 blocks
/// otherwise.
fn offset() -> impl Strategy<Value = u64> {
    prop_oneof![
        3 => (0u64..20, prop::sample::select(vec![0i64, 1, -1, 100, 2048])).prop_map(|(b, d)| (b * BSU).saturating_add_signed(d)),
        1 => 0u64..20 * BSU,
    ]
}

fn length() -> impl Strategy<Value = usize> {
    prop_oneof![
        2 => prop::sample::select(vec![1usize, 100, BS as usize - 1, BS as usize, BS as usize + 1, 2 * BS as usize]),
        2 => 1usize..3 * BS as usize,
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (offset(), length(), fill()).prop_map(|(off, len, fill)| Op::Write { off, len, fill }),
        3 => (offset(), length()).prop_map(|(off, len)| Op::Read { off, len }),
        2 => offset().prop_map(Op::Truncate),
        2 => (offset(), length()).prop_map(|(off, len)| Op::Punch { off, len: len as u64 * 2 }),
        1 => (offset(), length(), any::<bool>()).prop_map(|(off, len, keep)| Op::Allocate { off, len: len as u64, keep }),
        1 => offset().prop_map(Op::SeekData),
        1 => offset().prop_map(Op::SeekHole),
        1 => Just(Op::Flush),
        1 => Just(Op::Fsync),
        1 => Just(Op::Reopen),
    ]
}

fn run_model(ops: &[Op], threads: usize) {
    let dir = tempfile::tempdir().unwrap();
    let c = cache(3 * BSU, threads);
    let (path, mut f) = new_file(&dir, "model", &c);
    let mut model = FileModel::default();
    for op in ops {
        match *op {
            Op::Write { off, len, fill } => {
                assert_eq!(f.write(off, &fill.bytes(len)).unwrap(), len);
            }
            Op::Read { off, len } => {
                let mut buf = vec![0xEE; len];
                let n = f.read(off, &mut buf).unwrap();
                let want = model.read(off, len);
                assert_eq!(n, want.len(), "read({off}, {len}) length");
                assert!(buf[..n] == *want, "read({off}, {len}) bytes differ");
            }
            Op::Truncate(s) => f.truncate(s).unwrap(),
            Op::Punch { off, len } => f.punch_hole(off, len).unwrap(),
            Op::Allocate { off, len, keep } => f.allocate(off, len, keep).unwrap(),
            Op::SeekData(o) => model.check_seek_data(o, f.seek_data(o), BSU),
            Op::SeekHole(o) => model.check_seek_hole(o, f.seek_hole(o), BSU),
            Op::Flush => f.flush().unwrap(),
            Op::Fsync => f.fsync(true).unwrap(),
            Op::Reopen => {
                drop(f);
                f = reopen(&path, &c);
            }
            Op::Compact => unreachable!("not generated"),
        }
        model.apply(op);
        assert_eq!(f.size(), model.len(), "size after {op:?}");
    }
    assert!(read_all(&f) == model.0, "final contents differ");
    drop(f);
    let f = reopen(&path, &c);
    assert!(read_all(&f) == model.0, "contents differ after reopen");
}

/// The cases the regressions file kept from before the shared Op
/// vocabulary (seed 0 was zeros, 3 text, 5 noise).
#[test]
fn model_regressions() {
    let w = |off, len, shape, seed| Op::Write {
        off,
        len,
        fill: Fill::new(shape, seed),
    };
    let cases = [
        vec![w(0, 1, Shape::Noise, 5)],
        vec![
            w(18432, 8396, Shape::Zeros, 0),
            Op::SeekData(12287),
            w(8192, 12043, Shape::Text, 3),
            Op::SeekHole(51957),
        ],
    ];
    for ops in cases {
        run_model(&ops, 0);
        run_model(&ops, 2);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn model_inline_compression(ops in prop::collection::vec(op(), 1..40)) {
        run_model(&ops, 0);
    }

    #[test]
    fn model_background_compression(ops in prop::collection::vec(op(), 1..40)) {
        run_model(&ops, 2);
    }
}

// ---------------------------------------------------------------- focused tests

#[test]
fn block_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let c = cache(2 * BSU, 1);
    let (path, f) = new_file(&dir, "b", &c);
    let mut model = vec![0u8; 0];
    for (off, len, seed) in [
        (0, BS as usize, 5),
        (BSU - 1, 2, 6),
        (2 * BSU, 1, 7),
        (3 * BSU - 1, BS as usize + 2, 8),
        (BSU, BS as usize, 9),
    ] {
        let d = pattern(seed, len);
        f.write(off, &d).unwrap();
        let end = off as usize + len;
        if model.len() < end {
            model.resize(end, 0);
        }
        model[off as usize..end].copy_from_slice(&d);
    }
    assert!(read_all(&f) == model);
    // Reads that start and end on every side of a boundary.
    for off in [0, 1, BSU - 1, BSU, BSU + 1, 2 * BSU - 1, 4 * BSU] {
        for len in [1usize, BS as usize - 1, BS as usize, BS as usize + 1] {
            let mut buf = vec![0xEEu8; len];
            let n = f.read(off, &mut buf).unwrap();
            let want = model.len().saturating_sub(off as usize).min(len);
            assert_eq!(n, want);
            assert!(n == 0 || buf[..n] == model[off as usize..off as usize + n]);
        }
    }
    drop(f);
    assert!(read_all(&reopen(&path, &c)) == model);
}

#[test]
fn empty_file() {
    let dir = tempfile::tempdir().unwrap();
    let c = cache(4 * BSU, 1);
    let (path, f) = new_file(&dir, "e", &c);
    assert_eq!(f.size(), 0);
    let mut buf = [0u8; 10];
    assert_eq!(f.read(0, &mut buf).unwrap(), 0);
    assert_eq!(f.read(1 << 40, &mut buf).unwrap(), 0);
    assert_eq!(errno_of(&f.seek_data(0).unwrap_err()), libc::ENXIO);
    assert_eq!(errno_of(&f.seek_hole(0).unwrap_err()), libc::ENXIO);
    assert_eq!(f.write(0, &[]).unwrap(), 0);
    f.truncate(0).unwrap();
    f.fsync(false).unwrap();
    assert!(f.stored_bytes() > 0);
    drop(f);
    let f = reopen(&path, &c);
    assert_eq!(f.size(), 0);
    // Grown by truncate only: all hole.
    f.truncate(3 * BSU + 5).unwrap();
    assert!(read_all(&f) == vec![0u8; 3 * BS as usize + 5]);
    assert_eq!(f.seek_hole(0).unwrap(), 0);
    assert_eq!(errno_of(&f.seek_data(0).unwrap_err()), libc::ENXIO);
}

#[test]
fn huge_sparse_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let c = cache(4 * BSU, 1);
    let (path, f) = new_file(&dir, "huge", &c);
    let tib = 1u64 << 40;
    f.write(tib, b"at one tebibyte").unwrap();
    f.write(1 << 62, b"at 2^62").unwrap();
    assert_eq!(f.size(), (1 << 62) + 7);
    let check = |f: &LogicalFile| {
        let mut buf = [0xEEu8; 15];
        assert_eq!(f.read(tib, &mut buf).unwrap(), 15);
        assert_eq!(&buf, b"at one tebibyte");
        assert_eq!(f.read(tib - 5, &mut buf).unwrap(), 15);
        assert_eq!(&buf, b"\0\0\0\0\0at one teb");
        assert_eq!(f.read(1 << 50, &mut buf).unwrap(), 15);
        assert_eq!(buf, [0u8; 15]);
        let mut end = [0u8; 20];
        assert_eq!(f.read(1 << 62, &mut end).unwrap(), 7);
        assert_eq!(&end[..7], b"at 2^62");
        assert_eq!(f.seek_data(0).unwrap(), tib);
        assert_eq!(f.seek_data(tib + 3).unwrap(), tib + 3);
        assert_eq!(f.seek_hole(tib).unwrap(), tib + BSU);
        assert_eq!(f.seek_data(tib + BSU).unwrap(), 1 << 62);
        assert_eq!(f.seek_hole(1 << 62).unwrap(), (1 << 62) + 7);
        assert_eq!(f.seek_hole(0).unwrap(), 0);
    };
    check(&f);
    f.flush().unwrap();
    assert!(f.stored_bytes() < 64 << 10, "stored {}", f.stored_bytes());
    drop(f);
    let f = reopen(&path, &c);
    check(&f);
    // The format's limit.
    f.write(MAX_FILE_SIZE - 1, b"x").unwrap();
    assert_eq!(f.size(), MAX_FILE_SIZE);
    assert_eq!(
        errno_of(&f.write(MAX_FILE_SIZE, b"x").unwrap_err()),
        libc::EFBIG
    );
    // A write crossing the limit is short, as on Linux.
    assert_eq!(f.write(MAX_FILE_SIZE - 1, b"yz").unwrap(), 1);
    let mut last = [0u8; 2];
    assert_eq!(f.read(MAX_FILE_SIZE - 1, &mut last).unwrap(), 1);
    assert_eq!(last[0], b'y');
    assert_eq!(
        errno_of(&f.truncate(MAX_FILE_SIZE + 1).unwrap_err()),
        libc::EFBIG
    );
    assert_eq!(
        errno_of(&f.allocate(MAX_FILE_SIZE, 1, false).unwrap_err()),
        libc::EFBIG
    );
    // Back down to the first byte range: everything past it is gone.
    f.truncate(tib + 3).unwrap();
    f.truncate(1 << 62).unwrap();
    let mut buf = [0xEEu8; 15];
    assert_eq!(f.read(tib, &mut buf).unwrap(), 15);
    assert_eq!(&buf, b"at \0\0\0\0\0\0\0\0\0\0\0\0");
    assert_eq!(f.seek_data(tib + 3).unwrap(), tib + 3);
    assert_eq!(errno_of(&f.seek_data(tib + BSU).unwrap_err()), libc::ENXIO);
    drop(f);
    let f = reopen(&path, &c);
    assert_eq!(f.size(), 1 << 62);
    assert_eq!(f.read(tib, &mut buf).unwrap(), 15);
    assert_eq!(&buf, b"at \0\0\0\0\0\0\0\0\0\0\0\0");
}

#[test]
fn truncate_within_block_zeroes_tail() {
    let dir = tempfile::tempdir().unwrap();
    let c = cache(8 * BSU, 1);
    let (path, f) = new_file(&dir, "t", &c);
    f.write(0, &vec![0xAA; 2 * BS as usize]).unwrap();
    f.flush().unwrap();
    f.truncate(100).unwrap();
    f.truncate(2 * BSU).unwrap();
    let mut want = vec![0u8; 2 * BS as usize];
    want[..100].fill(0xAA);
    assert!(read_all(&f) == want);
    // Also when the shrink was committed and the file reopened in between.
    f.truncate(50).unwrap();
    drop(f);
    let f = reopen(&path, &c);
    f.write(BSU + 10, b"z").unwrap();
    let mut want = vec![0u8; BS as usize + 11];
    want[..50].fill(0xAA);
    want[BS as usize + 10] = b'z';
    assert!(read_all(&f) == want);
}

#[test]
fn allocate_and_punch() {
    let dir = tempfile::tempdir().unwrap();
    let c = cache(8 * BSU, 1);
    let (path, f) = new_file(&dir, "a", &c);
    let data = pattern(9, 5 * BS as usize);
    f.write(0, &data).unwrap();
    f.allocate(BSU, 10 * BSU, false).unwrap();
    assert_eq!(f.size(), 11 * BSU);
    f.allocate(0, 20 * BSU, true).unwrap();
    assert_eq!(f.size(), 11 * BSU);
    assert_eq!(
        errno_of(&f.allocate(0, 0, false).unwrap_err()),
        libc::EINVAL
    );
    assert_eq!(errno_of(&f.punch_hole(0, 0).unwrap_err()), libc::EINVAL);
    let mut want = data.clone();
    want.resize(11 * BS as usize, 0);
    assert!(read_all(&f) == want);
    // Punch blocks 1..3 wholly and half of block 3 (after a flush, so the
    // container holds them).
    f.flush().unwrap();
    f.punch_hole(BSU, 2 * BSU + BSU / 2).unwrap();
    want[BS as usize..(3 * BS + BS / 2) as usize].fill(0);
    assert!(read_all(&f) == want);
    assert_eq!(f.seek_hole(0).unwrap(), BSU);
    assert_eq!(f.seek_data(BSU).unwrap(), 3 * BSU);
    f.flush().unwrap();
    drop(f);
    let f = reopen(&path, &c);
    assert!(read_all(&f) == want);
    assert_eq!(f.seek_hole(0).unwrap(), BSU);
    assert_eq!(f.seek_data(BSU).unwrap(), 3 * BSU);
    assert_eq!(f.seek_hole(3 * BSU).unwrap(), 5 * BSU);
}

#[test]
fn concurrent_writers_never_tear() {
    let dir = tempfile::tempdir().unwrap();
    let c = cache(4 * BSU, 2);
    let (_path, f) = new_file(&dir, "c", &c);
    // A range over four blocks, neither end aligned.
    let (off, len) = (BSU / 2, 3 * BS as usize);
    f.write(off, &vec![b'0'; len]).unwrap();
    std::thread::scope(|s| {
        for t in 1..=3u8 {
            let f = &f;
            s.spawn(move || {
                let d = vec![b'0' + t; len];
                for _ in 0..150 {
                    assert_eq!(f.write(off, &d).unwrap(), len);
                }
            });
        }
        // Writers of their own regions beside them (different blocks).
        for t in 0..2u64 {
            let f = &f;
            s.spawn(move || {
                let base = (10 + 10 * t) * BSU;
                for i in 0..100u64 {
                    let d = pattern(5 + (i % 50) as u8, BS as usize);
                    f.write(base + (i % 8) * BSU, &d).unwrap();
                }
            });
        }
        let f = &f;
        s.spawn(move || {
            let mut buf = vec![0u8; len];
            for _ in 0..300 {
                assert_eq!(f.read(off, &mut buf).unwrap(), len);
                assert!(buf.iter().all(|&b| b == buf[0]), "torn read");
            }
        });
    });
    let mut buf = vec![0u8; len];
    f.read(off, &mut buf).unwrap();
    assert!(buf.iter().all(|&b| b == buf[0]) && buf[0] != b'0');
    for t in 0..2u64 {
        let base = (10 + 10 * t) * BSU;
        for k in 0..8u64 {
            // The last write to slot k: the largest i < 100 with i % 8 == k.
            let i = if 96 + k < 100 { 96 + k } else { 88 + k };
            let mut got = vec![0u8; BS as usize];
            f.read(base + k * BSU, &mut got).unwrap();
            assert!(
                got == pattern(5 + (i % 50) as u8, BS as usize),
                "thread {t} block {k}"
            );
        }
    }
}

/// Writers, truncates, punches, flushes and readers at once on one file
/// with a cache of three blocks and two compression threads: no deadlock,
/// no panic, and what the file reads at the end is exactly what a reopen
/// finds in the backing file.
#[test]
fn concurrent_mixed_ops_persist_consistently() {
    let dir = tempfile::tempdir().unwrap();
    let c = cache(3 * BSU, 2);
    let (path, f) = new_file(&dir, "mixed", &c);
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let f = &f;
            s.spawn(move || {
                let mut x = 0x1234_5678u64 + t;
                let mut next = move |m: u64| {
                    x = xorshift(x);
                    x % m
                };
                for _ in 0..300 {
                    let off = next(24 * BSU);
                    let len = 1 + next(3 * BSU);
                    match next(10) {
                        0..=4 => {
                            f.write(off, &pattern(next(8) as u8, len as usize)).unwrap();
                        }
                        5 => f.truncate(next(24 * BSU)).unwrap(),
                        6 => f.punch_hole(off, len).unwrap(),
                        7 => f.flush().unwrap(),
                        8 => {
                            let _ = f.seek_data(off);
                            let _ = f.seek_hole(off);
                        }
                        _ => {
                            let mut buf = vec![0u8; len as usize];
                            f.read(off, &mut buf).unwrap();
                        }
                    }
                }
            });
        }
    });
    let seen = read_all(&f);
    drop(f);
    let f = reopen(&path, &c);
    assert!(read_all(&f) == seen, "reopened contents differ");
}

#[test]
fn corrupt_block_is_eio_and_others_read() {
    logged();
    let dir = tempfile::tempdir().unwrap();
    let c = cache(8 * BSU, 1);
    let (path, f) = new_file(&dir, "bad", &c);
    let blocks: Vec<Vec<u8>> = (0..4).map(|i| pattern(10 + i, BS as usize)).collect();
    for (i, b) in blocks.iter().enumerate() {
        f.write(i as u64 * BSU, b).unwrap();
    }
    drop(f);
    // Noise is stored raw: find block 2's bytes and flip one.
    let raw = std::fs::read(&path).unwrap();
    let at = raw
        .windows(64)
        .position(|w| w == &blocks[2][1000..1064])
        .expect("block 2 stored raw");
    let file = rw(&path);
    file.write_all_at(&[raw[at] ^ 0x40], at as u64).unwrap();
    drop(file);
    let f = reopen(&path, &c);
    f.set_name("bad");
    let mut buf = vec![0u8; BS as usize];
    assert_eq!(errno_of(&f.read(2 * BSU, &mut buf).unwrap_err()), libc::EIO);
    // The log names the file and the block.
    assert!(
        logged()
            .iter()
            .any(|l| l.contains("bad") && l.contains("block 2")),
        "no log line naming file and block: {:?}",
        logged()
    );
    assert_eq!(
        errno_of(&f.read(2 * BSU + 5, &mut buf[..10]).unwrap_err()),
        libc::EIO
    );
    for i in [0usize, 1, 3] {
        assert_eq!(f.read(i as u64 * BSU, &mut buf).unwrap(), BS as usize);
        assert!(buf == blocks[i], "block {i}");
    }
    // A read running into the bad block stops before it.
    let mut two = vec![0u8; 2 * BS as usize];
    assert_eq!(f.read(BSU, &mut two).unwrap(), BS as usize);
    // Overwriting the whole bad block repairs it; a partial write cannot.
    assert_eq!(
        errno_of(&f.write(2 * BSU + 1, b"x").unwrap_err()),
        libc::EIO
    );
    f.write(2 * BSU, &blocks[1]).unwrap();
    f.read(2 * BSU, &mut buf).unwrap();
    assert!(buf == blocks[1]);
}

#[test]
fn flush_is_visible_to_a_fresh_open() {
    let dir = tempfile::tempdir().unwrap();
    let c = cache(16 * BSU, 1);
    let (path, f) = new_file(&dir, "v", &c);
    let data = pattern(2, 7 * BS as usize + 123);
    f.write(0, &data).unwrap();
    f.write(20 * BSU, b"tail").unwrap();
    assert!(f.stored_bytes() > 0);
    f.flush().unwrap();
    // st_blocks material: what the backing file holds, less than the
    // logical size for this text-like data.
    assert_eq!(f.stored_bytes(), f.stats().file_len);
    assert_eq!(f.stored_bytes(), std::fs::metadata(&path).unwrap().len());
    assert!(f.stored_bytes() < data.len() as u64);
    // f stays open; a second reader of the backing file sees everything.
    let other = Container::open(File::open(&path).unwrap(), false).unwrap();
    assert_eq!(other.logical_size(), 20 * BSU + 4);
    let mut got = vec![0u8; 21 * BS as usize];
    for (i, chunk) in got.chunks_mut(BS as usize).enumerate() {
        other.read_block(i as u64, chunk).unwrap();
    }
    assert!(got[..data.len()] == data[..]);
    assert!(got[data.len()..20 * BS as usize].iter().all(|&b| b == 0));
    assert_eq!(&got[20 * BS as usize..20 * BS as usize + 4], b"tail");
    // A truncate is visible after the next flush too.
    f.truncate(BSU + 1).unwrap();
    f.flush().unwrap();
    let other = Container::open(File::open(&path).unwrap(), false).unwrap();
    assert_eq!(other.logical_size(), BSU + 1);
    assert_eq!(other.next_data_block(2), None);
    // And the mount-wide flush (unmount) reaches every open file.
    let (path2, g) = new_file(&dir, "w", &c);
    f.write(0, b"one").unwrap();
    g.write(0, b"two").unwrap();
    c.flush_all().unwrap();
    for (p, want) in [(&path, b"one"), (&path2, b"two")] {
        let other = Container::open(File::open(p).unwrap(), false).unwrap();
        let mut blk = vec![0u8; BS as usize];
        other.read_block(0, &mut blk).unwrap();
        assert_eq!(&blk[..3], want);
    }
}

#[test]
fn idle_flush_commits() {
    let dir = tempfile::tempdir().unwrap();
    let c = BlockCache::with_options(CacheOptions {
        budget: 16 * BSU,
        compress_threads: 1,
        idle_flush: Some(Duration::from_millis(100)),
        ..Default::default()
    });
    let (path, f) = new_file(&dir, "idle", &c);
    f.write(0, b"written, never flushed").unwrap();
    let mut seen = 0;
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(50));
        seen = Container::open(File::open(&path).unwrap(), false)
            .unwrap()
            .logical_size();
        if seen == 22 {
            break;
        }
    }
    assert_eq!(seen, 22, "idle flush did not commit");
    drop(f);
}

#[test]
fn sequential_writer_compresses_each_block_once() {
    let dir = tempfile::tempdir().unwrap();
    let c = cache(8 * BSU, 1);
    let (_path, f) = new_file(&dir, "seq", &c);
    // Noise (stored raw, so record sizes are known) in 1000-byte writes.
    let data = pattern(77, 64 * BS as usize);
    for (i, chunk) in data.chunks(1000).enumerate() {
        f.write(i as u64 * 1000, chunk).unwrap();
    }
    f.flush().unwrap();
    let len = f.stats().file_len;
    // 64 records of one block each plus headers and one commit: far less
    // than two copies.
    assert!(len >= data.len() as u64, "{len}");
    assert!(
        len < data.len() as u64 + 64 * 100 + 8192,
        "blocks written more than once: {len}"
    );
    assert_eq!(read_all(&f), data);
}

#[test]
fn memory_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let threads = 1;
    let budget = 16 * BSU;
    let c = cache(budget, threads);
    let (src_path, src) = new_file(&dir, "src", &c);
    let data = pattern(3, 3 << 20);
    for (i, chunk) in data.chunks(128 << 10).enumerate() {
        src.write(i as u64 * (128 << 10), chunk).unwrap();
    }
    // Copy it through the same cache, as cp would.
    let (_dst_path, dst) = new_file(&dir, "dst", &c);
    let mut buf = vec![0u8; 128 << 10];
    let mut off = 0;
    loop {
        let n = src.read(off, &mut buf).unwrap();
        if n == 0 {
            break;
        }
        dst.write(off, &buf[..n]).unwrap();
        off += n as u64;
    }
    dst.flush().unwrap();
    assert!(c.used_bytes() <= budget);
    let peak = c.peak_resident_bytes();
    // Budget plus one block per thread (the caller and the compressor) plus
    // the one being evicted.
    assert!(
        peak <= budget + (threads as u64 + 2) * BSU,
        "peak {peak} over budget {budget}"
    );
    drop(src);
    let src = reopen(&src_path, &c);
    assert!(read_all(&src) == data);
    assert!(read_all(&dst) == data);
}

#[test]
fn compaction_swaps_onto_the_copy() {
    let dir = tempfile::tempdir().unwrap();
    let c = cache(16 * BSU, 1);
    let (path, f) = new_file(&dir, "cmp", &c);
    f.write(5 * BSU, &pattern(40, BS as usize)).unwrap();
    let mut last = Vec::new();
    let mut rounds = 0;
    while !f.needs_compaction(CompactWhen::InUse) {
        rounds += 1;
        assert!(rounds < 1000, "never needs compaction");
        last = pattern(5 + (rounds % 200) as u8, 2 * BS as usize);
        f.write(0, &last).unwrap();
        f.flush().unwrap();
    }
    let before = f.stats().file_len;
    let tmp = dir.path().join(".cmp.tmp");
    let dst = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&tmp)
        .unwrap();
    f.compact(dst).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    assert!(f.stats().file_len < before);
    assert!(!f.needs_compaction(CompactWhen::InUse));
    // Keeps working on the new file.
    f.write(3 * BSU, b"after").unwrap();
    f.flush().unwrap();
    let check = |f: &LogicalFile| {
        let mut want = last.clone();
        want.resize(6 * BS as usize, 0);
        want[3 * BS as usize..3 * BS as usize + 5].copy_from_slice(b"after");
        want[5 * BS as usize..].copy_from_slice(&pattern(40, BS as usize));
        assert!(read_all(f) == want);
    };
    check(&f);
    drop(f);
    check(&reopen(&path, &c));
}

#[test]
fn read_only_file_rejects_changes() {
    let dir = tempfile::tempdir().unwrap();
    let c = cache(16 * BSU, 1);
    let (path, f) = new_file(&dir, "ro", &c);
    f.write(0, b"data").unwrap();
    drop(f);
    let f = LogicalFile::open(File::open(&path).unwrap(), false, &c, &SealQueue::new()).unwrap();
    assert_eq!(read_all(&f), b"data");
    assert_eq!(errno_of(&f.write(0, b"x").unwrap_err()), libc::EBADF);
    assert_eq!(errno_of(&f.truncate(0).unwrap_err()), libc::EBADF);
    f.flush().unwrap();
}

// ---------------------------------------------------------------- numbers

/// Throughput of the file layer alone (no FUSE) on the Silesia corpus with
/// 64 KiB blocks: `cargo test --release --test file_model -- --ignored
/// --nocapture bench`. Prints MB/s; asserts only that data round-trips.
#[test]
#[ignore]
fn bench_file_layer() {
    use std::time::Instant;
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/silesia");
    let mut data = Vec::new();
    for name in [
        "dickens", "mr", "nci", "ooffice", "osdb", "reymont", "x-ray", "xml",
    ] {
        if let Ok(d) = std::fs::read(corpus.join(name)) {
            data.extend_from_slice(&d);
        }
    }
    if data.is_empty() {
        data = pattern(2, 64 << 20);
    }
    let mb = data.len() as f64 / 1e6;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench");
    let c = BlockCache::new(64 << 20);
    let f = LogicalFile::create(
        OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .unwrap(),
        1 << 16,
        &c,
        &SealQueue::new(),
    )
    .unwrap();
    let t = Instant::now();
    for (i, chunk) in data.chunks(128 << 10).enumerate() {
        f.write(i as u64 * (128 << 10), chunk).unwrap();
    }
    f.flush().unwrap();
    let w = t.elapsed().as_secs_f64();
    let stored = f.stored_bytes();
    drop(f);
    let c = BlockCache::new(256 << 20);
    let f = LogicalFile::open(rw(&path), false, &c, &SealQueue::new()).unwrap();
    let mut buf = vec![0u8; 128 << 10];
    let read_pass = |f: &LogicalFile, buf: &mut [u8]| {
        let t = Instant::now();
        let mut off = 0u64;
        loop {
            let n = f.read(off, buf).unwrap();
            if n == 0 {
                break;
            }
            assert!(buf[..n] == data[off as usize..off as usize + n]);
            off += n as u64;
        }
        t.elapsed().as_secs_f64()
    };
    let cold = read_pass(&f, &mut buf);
    let warm = read_pass(&f, &mut buf);
    // 4 KiB random overwrites + flush: bytes appended per op.
    let f = LogicalFile::open(rw(&path), true, &c, &SealQueue::new()).unwrap();
    let before = f.stats().file_len;
    let n_ops = 200u64;
    let t = Instant::now();
    let mut r = Rng::new(12345);
    for _ in 0..n_ops {
        let off = r.below(data.len() as u64 - 4096) & !4095;
        f.write(off, &pattern(9, 4096)).unwrap();
        f.flush().unwrap();
    }
    let rnd = t.elapsed().as_secs_f64();
    let per_op = (f.stats().file_len - before) / n_ops;
    // The same work done directly on the container in one thread, for
    // scale: encode every block, then decode every block.
    let t = Instant::now();
    let encoded: Vec<_> = data
        .chunks(1 << 16)
        .enumerate()
        .map(|(i, b)| Container::encode(i as u64, b, Compression::default()))
        .collect();
    let enc = t.elapsed().as_secs_f64();
    drop(encoded);
    let direct = Container::open(File::open(&path).unwrap(), false).unwrap();
    let mut blk = vec![0u8; 1 << 16];
    let t = Instant::now();
    for i in 0..data.len().div_ceil(1 << 16) {
        direct.read_block(i as u64, &mut blk).unwrap();
    }
    let dec = t.elapsed().as_secs_f64();
    eprintln!(
        "container alone, one thread: encode {:.0} MB/s, read_block {:.0} MB/s",
        mb / enc,
        mb / dec
    );
    eprintln!(
        "file layer, {mb:.0} MB, 64 KiB blocks: write+flush {:.0} MB/s, read (cold cache) {:.0} MB/s, \
         read (warm, all in cache) {:.0} MB/s, stored {:.3} of logical; \
         4 KiB write+flush {:.0} ops/s, {per_op} bytes appended per op",
        mb / w,
        mb / cold,
        mb / warm,
        stored as f64 / data.len() as f64,
        n_ops as f64 / rnd,
    );
}

/// ENOSPC from the backing filesystem (a 256 KiB tmpfs, when we may mount
/// one) reaches the caller through write or flush, nothing panics, and the
/// data written stays readable from the cache.
#[test]
fn enospc_is_reported_and_data_stays_readable() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("small");
    std::fs::create_dir(&mnt).unwrap();
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
        .arg(&mnt)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("skipped: cannot mount a tmpfs (not root?)");
        return;
    }
    struct Umount(PathBuf);
    impl Drop for Umount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Umount(mnt.clone());
    let c = cache(8 * BSU, 1);
    let path = mnt.join("f");
    let f = LogicalFile::create(
        OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .unwrap(),
        BS,
        &c,
        &SealQueue::new(),
    )
    .unwrap();
    // 1 MiB of noise cannot fit in 256 KiB.
    let data = pattern(99, 1 << 20);
    let mut failed = None;
    for (i, chunk) in data.chunks(16 << 10).enumerate() {
        if let Err(e) = f.write(i as u64 * (16 << 10), chunk) {
            failed = Some(e);
            break;
        }
    }
    let err = match failed {
        Some(e) => e,
        None => f.flush().unwrap_err(),
    };
    assert_eq!(errno_of(&err), libc::ENOSPC, "{err}");
    // Whatever was accepted reads back intact (from the cache or backing).
    let size = f.size() as usize;
    assert!(size > 0);
    let mut got = vec![0u8; size];
    assert_eq!(f.read(0, &mut got).unwrap(), size);
    assert!(got == data[..size]);
    // Later flushes keep failing rather than pretending.
    assert!(f.flush().is_err());
    drop(f);
}

#[test]
fn holes_cost_no_cache_and_sequential_reads_are_read_ahead() {
    let dir = tempfile::tempdir().unwrap();
    let c = cache(64 * BSU, 2);
    let (path, f) = new_file(&dir, "ra", &c);
    // A large hole: reading it decodes nothing and caches nothing.
    f.truncate(1 << 30).unwrap();
    let mut buf = vec![0xEEu8; 1 << 20];
    for i in 0..8u64 {
        assert_eq!(f.read(i << 20, &mut buf).unwrap(), 1 << 20);
        assert!(buf.iter().all(|&b| b == 0));
    }
    assert_eq!(c.resident_bytes(), 0);
    // Ten blocks of data, then a fresh open (empty cache) and one small
    // read at the start: the next blocks are decoded in the background.
    f.truncate(0).unwrap();
    f.write(0, &pattern(2, 10 * BS as usize)).unwrap();
    drop(f);
    let f = reopen(&path, &c);
    for _ in 0..200 {
        if c.resident_bytes() == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(c.resident_bytes(), 0);
    // A sequential reader of small pieces within block 0 (the threads may
    // be busy for a moment: read-ahead is best effort, asked again on the
    // next read).
    let mut small = [0u8; 100];
    let mut ahead = 0;
    for k in 0..200 {
        f.read((k * 100) % 4000, &mut small).unwrap();
        ahead = c.resident_bytes();
        if ahead >= 3 * BSU {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(ahead >= 3 * BSU, "no read-ahead: {ahead} bytes resident");
    assert!(read_all(&f) == pattern(2, 10 * BS as usize));
}
