//! Small files through a real mount (FORMAT.md 3.11): a file of one block
//! is stored as a version-5 container whose first commit is a packed
//! record, 90 bytes of framing; files that grow afterwards chain ordinary
//! records and deltas onto it; everything reads back the same after a
//! remount; version-4 files made as scfs wrote them before still read and
//! take writes, staying version 4.

mod common;

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;

use common::inproc::*;
use common::rng::noise;
use scfs::container::{Compression, Container};
use scfs::fs::FsOptions;

fn text(len: usize, seed: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(len + 64);
    let mut i = seed;
    while v.len() < len {
        v.extend_from_slice(format!("{i}: the quick brown fox {}\n", i % 17).as_bytes());
        i += 1;
    }
    v.truncate(len);
    v
}

fn opts() -> FsOptions {
    FsOptions {
        compression: Compression::default(),
        recompress: None,
        ..FsOptions::default()
    }
}

/// Header version, whether offset 32 is a packed record, and the bytes
/// of framing (file length less the payload bytes of its records).
fn backing_form(m: &Mounted, name: &str) -> (u16, bool, u64) {
    let raw = fs::read(m.b(name)).unwrap();
    let c = Container::open(File::open(m.b(name)).unwrap(), false).unwrap();
    let st = c.stats();
    let payload = st.stored_payload + st.huffman_payload + st.lz_payload;
    (
        u16::from_le_bytes([raw[4], raw[5]]),
        raw.len() >= 36 && &raw[32..36] == b"SPCK",
        raw.len() as u64 - payload,
    )
}

#[test]
fn small_and_growing_files_through_the_mount() {
    let Some(mut m) = Mounted::with(opts(), |_| {}) else {
        return;
    };
    let bs = FsOptions::default().block_size as usize;
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("one", b"1".to_vec()),
        ("small.txt", text(300, 1)),
        ("page.txt", text(4000, 2)),
        ("icon.png", noise(1500, 3)),
        ("zeros", vec![0u8; 5000]),
        ("fill", vec![b'-'; 2000]),
        ("block.txt", text(bs, 4)),
        ("two.txt", text(bs + 1, 5)),
    ];
    for (name, d) in &files {
        fs::write(m.p(name), d).unwrap();
    }
    m.remount(opts());
    for (name, d) in &files {
        assert!(fs::read(m.p(name)).unwrap() == *d, "{name}");
        let len = fs::metadata(m.b(name)).unwrap().len();
        if d.is_empty() {
            assert_eq!(len, 0, "an empty file stays empty");
            continue;
        }
        let (version, packed, framing) = backing_form(&m, name);
        assert_eq!(version, 5, "{name}");
        let one_block = d.len() <= bs;
        assert_eq!(packed, one_block, "{name}");
        if one_block {
            assert_eq!(framing, 90, "{name}: framing of a one-block file");
        } else {
            assert!(framing >= 188, "{name}: {framing}");
        }
    }
    // Growing: appends after the packed record, a rewrite of its block,
    // and a shrink, each through a remount.
    let mut want = text(1000, 6);
    fs::write(m.p("grow.log"), &want).unwrap();
    m.remount(opts());
    assert!(backing_form(&m, "grow.log").1);
    for round in 0..3u64 {
        let more = text(30_000, 10 + round);
        let mut f = OpenOptions::new()
            .append(true)
            .open(m.p("grow.log"))
            .unwrap();
        f.write_all(&more).unwrap();
        drop(f);
        want.extend_from_slice(&more);
        m.remount(opts());
        assert!(fs::read(m.p("grow.log")).unwrap() == want, "round {round}");
    }
    let f = OpenOptions::new()
        .write(true)
        .open(m.p("grow.log"))
        .unwrap();
    f.write_all_at(b"REWRITTEN", 10).unwrap();
    want[10..19].copy_from_slice(b"REWRITTEN");
    f.set_len(50_000).unwrap();
    want.truncate(50_000);
    drop(f);
    m.remount(opts());
    assert!(fs::read(m.p("grow.log")).unwrap() == want);
    let c = Container::open(File::open(m.b("grow.log")).unwrap(), false).unwrap();
    assert!(c.damage().is_none());
    assert_eq!(c.logical_size(), 50_000);
    // `scfs compress` of a small file gives the same 90 bytes of framing.
    let (_, _, framing) = backing_form(&m, "page.txt");
    assert_eq!(framing, 90);
}

#[test]
fn version_4_files_still_read_and_take_writes() {
    let old = text(3000, 20);
    let big = text(200_000, 21);
    let Some(mut m) = Mounted::with(opts(), |b| {
        // Files as scfs wrote them before version 5 (sessions 8-15).
        for (name, d) in [("old.txt", &old), ("oldbig.txt", &big)] {
            let f = OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(b.join(name))
                .unwrap();
            let mut c = Container::create_version(f, 65536, 4).unwrap();
            let coding = c.compression_for(Compression::default());
            for (i, chunk) in d.chunks(65536).enumerate() {
                c.put_block(Container::encode(i as u64, chunk, coding))
                    .unwrap();
            }
            c.set_logical_size(d.len() as u64);
            c.commit().unwrap();
            c.seal_now().unwrap();
        }
    }) else {
        return;
    };
    assert_eq!(backing_form(&m, "old.txt"), (4, false, 188));
    assert!(fs::read(m.p("old.txt")).unwrap() == old);
    assert!(fs::read(m.p("oldbig.txt")).unwrap() == big);
    let mut f = OpenOptions::new()
        .append(true)
        .open(m.p("old.txt"))
        .unwrap();
    f.write_all(b"appended\n").unwrap();
    drop(f);
    let f = OpenOptions::new()
        .write(true)
        .open(m.p("oldbig.txt"))
        .unwrap();
    f.write_all_at(b"patched", 70_000).unwrap();
    drop(f);
    m.remount(opts());
    let mut want = old.clone();
    want.extend_from_slice(b"appended\n");
    assert!(fs::read(m.p("old.txt")).unwrap() == want);
    let mut want_big = big.clone();
    want_big[70_000..70_007].copy_from_slice(b"patched");
    assert!(fs::read(m.p("oldbig.txt")).unwrap() == want_big);
    for name in ["old.txt", "oldbig.txt"] {
        let (version, packed, _) = backing_form(&m, name);
        assert_eq!((version, packed), (4, false), "{name} stays version 4");
    }
}
