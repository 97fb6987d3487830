//! Read-ahead and background write-back of the file layer
//! (`scfs::file::LogicalFile` over a `BlockCache` with threads): deep
//! read-ahead never serves stale data after a write or truncate through
//! another handle, concurrent sequential readers all see the right bytes,
//! and the cache budget holds while reading ahead.

use scfs::cache::{BlockCache, CacheOptions};
use scfs::file::{LogicalFile, SealQueue};
use std::fs::OpenOptions;
use std::sync::Arc;
use std::time::{Duration, Instant};

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

/// Compressible bytes, different for every (seed, offset).
fn data(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| b"the quick brown fox "[(i / 7 + seed as usize) % 20] ^ (seed & 0x40))
        .collect()
}

/// A file of `len` bytes of `data(1, ..)`, closed and reopened in `c`, so
/// that nothing of it is resident.
fn file(dir: &tempfile::TempDir, name: &str, len: usize, c: &Arc<BlockCache>) -> Arc<LogicalFile> {
    let path = dir.path().join(name);
    let open = |create: bool| {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(create)
            .open(&path)
            .unwrap()
    };
    // Written through a cache of its own (so `c` counts only the reads).
    let f = LogicalFile::create(open(true), BS, &cache(64 * BSU, 0), &SealQueue::new()).unwrap();
    f.write(0, &data(1, len)).unwrap();
    drop(f);
    LogicalFile::open(open(false), true, c, &SealQueue::new()).unwrap()
}

fn read_at(f: &LogicalFile, off: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    let n = f.read(off, &mut v).unwrap();
    v.truncate(n);
    v
}

#[test]
fn read_ahead_never_serves_stale_data() {
    let dir = tempfile::tempdir().unwrap();
    let c = cache(256 * BSU, 2);
    let blocks = 128usize;
    for round in 0..12u8 {
        let f = file(&dir, &format!("f{round}"), blocks * BS as usize, &c);
        let mut model = data(1, blocks * BS as usize);
        // A sequential reader gets a deep window decoded ahead...
        let head = 8 + round as usize;
        for b in 0..head {
            assert_eq!(
                read_at(&f, b as u64 * BSU, BS as usize),
                model[b * BS as usize..][..BS as usize]
            );
        }
        // ...while another handle changes blocks inside that window (the
        // background threads may be decoding them right now).
        let f2 = f.clone();
        let at = (head + 1 + round as usize % 5) * BS as usize + 100;
        let new = data(100 + round, 3 * BS as usize);
        let writer = std::thread::spawn(move || {
            f2.write(at as u64, &new).unwrap();
            new
        });
        let new = writer.join().unwrap();
        model[at..at + new.len()].copy_from_slice(&new);
        if round % 3 == 1 {
            // Shrink into the window, then grow again: a hole.
            let cut = (head + 3) * BS as usize + 5;
            f.truncate(cut as u64).unwrap();
            f.truncate(model.len() as u64).unwrap();
            model[cut..].fill(0);
        }
        // The rest reads as written, block by block and in one go.
        for b in head..blocks {
            let got = read_at(&f, b as u64 * BSU, BS as usize);
            assert!(
                got == model[b * BS as usize..][..BS as usize],
                "round {round} block {b}"
            );
        }
        assert!(read_at(&f, 0, model.len()) == model, "round {round}");
        f.flush().unwrap();
    }
}

#[test]
fn concurrent_sequential_readers() {
    let dir = tempfile::tempdir().unwrap();
    // A small budget: the readers' windows compete and get evicted.
    let c = cache(48 * BSU, 2);
    let len = 600 * BS as usize + 123;
    let f = file(&dir, "shared", len, &c);
    let want = Arc::new(data(1, len));
    let readers: Vec<_> = (0..4usize)
        .map(|r| {
            let (f, want) = (f.clone(), want.clone());
            std::thread::spawn(move || {
                let chunk = [BS as usize, 3 * BS as usize + 17, 8 * BS as usize, 5000][r];
                let mut off = r * 40 * BS as usize;
                for _ in 0..2 {
                    while off < len {
                        let got = read_at(&f, off as u64, chunk);
                        let end = (off + chunk).min(len);
                        assert!(got == want[off..end], "reader {r} at {off}");
                        off = end;
                    }
                    off = 0;
                }
            })
        })
        .collect();
    for r in readers {
        r.join().unwrap();
    }
    assert!(c.used_bytes() <= 48 * BSU);
}

#[test]
fn deep_read_ahead_stays_within_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let budget = 64 * BSU;
    let threads = 2;
    let c = cache(budget, threads);
    let len = 2000 * BS as usize;
    let f = file(&dir, "big", len, &c);
    // A few sequential reads: the window is then decoded in the background.
    for b in 0..4 {
        read_at(&f, b * BSU, BS as usize);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while c.used_bytes() < 8 * BSU {
        assert!(Instant::now() < deadline, "nothing was read ahead");
        std::thread::sleep(Duration::from_millis(2));
    }
    // The whole file, in 64 KiB reads, against the budget.
    let want = data(1, len);
    let mut off = 0;
    while off < len {
        let got = read_at(&f, off as u64, 64 << 10);
        assert!(got == want[off..off + got.len()], "at {off}");
        off += got.len();
    }
    assert!(c.used_bytes() <= budget);
    let peak = c.peak_resident_bytes();
    // The budget plus one block per background thread, the reader's and
    // the one being evicted.
    assert!(
        peak <= budget + (threads as u64 + 2) * BSU,
        "peak {peak} over budget {budget}"
    );
}
