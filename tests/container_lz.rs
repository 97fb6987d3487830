//! The LZ block kind in the v2 container (FORMAT.md 3.2-3.4, section 5):
//! new containers (version 5) and version-4 ones take LZ records; a version-3 container
//! is raised to 4 in place by its first LZ record; LZ records a crash left
//! in a version-3 file still read; a version-2 container takes none and an
//! LZ record in one is corruption. Every coding round-trips at every block
//! size, and compaction keeps LZ records.

mod common;
use common::rng::{noise, xorshift};

use std::fs::File;
use std::os::unix::fs::FileExt;

use scfs::codec::Level;
use scfs::container::format::{FileHeader, Seal};
use scfs::container::{BlockKind, Compression, Container, ContainerError};

const LZ: Compression = Compression::Level(Level::Default);
const HUFFMAN: Compression = Compression::Level(Level::Huffman);

/// Log-like text: repeats that LZ finds and order-0 Huffman does not.
fn logs(len: usize, seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 100);
    let mut x = seed | 1;
    let mut i = 0u64;
    while out.len() < len {
        x = xorshift(x);
        let line = format!(
            "2026-12-06T23:{:02}:{:02}Z host{} sshd[{}]: Accepted publickey for user{} from 10.0.{}.{} port {}\n",
            (i / 60) % 60,
            i % 60,
            x % 4,
            1000 + x % 50,
            x % 9,
            x % 3,
            x % 200,
            40000 + x % 1000
        );
        out.extend_from_slice(line.as_bytes());
        i += 1;
    }
    out.truncate(len);
    out
}

fn read(c: &Container, no: u64) -> Vec<u8> {
    let mut out = vec![0u8; c.block_size() as usize];
    c.read_block(no, &mut out).unwrap();
    out
}

fn padded(d: &[u8], bs: usize) -> Vec<u8> {
    let mut v = d.to_vec();
    v.resize(bs, 0);
    v
}

fn header(f: &File) -> [u8; 32] {
    let mut h = [0u8; 32];
    f.read_exact_at(&mut h, 0).unwrap();
    h
}

/// A committed version-4 container (as sessions 8 to 15 wrote them: no
/// packed record) with block 0 coded as `c`.
fn one_block(c: Compression, data: &[u8]) -> (File, Container) {
    let f = tempfile::tempfile().unwrap();
    let mut k = Container::create_version(f.try_clone().unwrap(), 4096, 4).unwrap();
    k.put_block(Container::encode(0, data, c)).unwrap();
    k.set_logical_size(data.len() as u64);
    k.commit().unwrap();
    (f, k)
}

#[test]
fn new_containers_are_version_5_and_hold_lz_blocks() {
    let d = logs(4096, 1);
    let f = tempfile::tempfile().unwrap();
    let mut c = Container::create(f.try_clone().unwrap(), 4096).unwrap();
    c.put_block(Container::encode(0, &d, LZ)).unwrap();
    c.set_logical_size(d.len() as u64);
    c.commit().unwrap();
    assert_eq!(c.block_kind(0), BlockKind::Lz);
    drop(c);
    assert_eq!(&header(&f)[4..6], &[5, 0]);
    let c = Container::open(f, false).unwrap();
    assert_eq!(c.header_version(), 5);
    assert_eq!(c.block_kind(0), BlockKind::Lz);
    assert_eq!(read(&c, 0), d);
    let st = c.stats();
    assert_eq!((st.lz, st.huffman, st.stored), (1, 0, 0));
    assert!(st.lz_payload > 0 && st.lz_payload < 4096 / 3, "{st:?}");
}

#[test]
fn a_version_3_container_is_raised_in_place_by_its_first_lz_block() {
    let a = logs(4096, 2);
    let (f, c) = one_block(HUFFMAN, &a);
    assert_eq!(c.block_kind(0), BlockKind::Huffman);
    drop(c);
    // Make it a version-3 file: the header CRC covers the version-3 form,
    // so only the version bytes change.
    f.write_all_at(&[3, 0], 4).unwrap();
    let before = header(&f);
    let mut c = Container::open(f.try_clone().unwrap(), true).unwrap();
    assert_eq!(c.header_version(), 3);
    assert_eq!(c.compression_for(LZ), LZ, "version 3 takes LZ blocks");
    // Huffman blocks do not raise it.
    c.put_block(Container::encode(1, &a, HUFFMAN)).unwrap();
    c.commit().unwrap();
    assert_eq!(header(&f), before);
    let b = logs(4096, 3);
    c.put_block(Container::encode(2, &b, LZ)).unwrap();
    c.set_logical_size(3 * 4096);
    c.commit().unwrap();
    let after = header(&f);
    assert_eq!(&after[4..6], &[4, 0]);
    assert_eq!(after[..4], before[..4]);
    assert_eq!(after[6..], before[6..], "only the version changed");
    drop(c);
    let c = Container::open(f, false).unwrap();
    assert_eq!(c.header_version(), 4);
    assert_eq!(c.block_kind(2), BlockKind::Lz);
    assert_eq!(read(&c, 0), a);
    assert_eq!(read(&c, 2), b);
}

#[test]
fn lz_records_left_in_a_version_3_file_by_a_crash_still_read() {
    let d = logs(4096, 4);
    let (f, c) = one_block(LZ, &d);
    drop(c);
    // The raise never reached the disk; the records and commit did.
    f.write_all_at(&[3, 0], 4).unwrap();
    let c = Container::open(f, false).unwrap();
    assert_eq!(c.header_version(), 3);
    assert_eq!(c.block_kind(0), BlockKind::Lz);
    assert_eq!(read(&c, 0), d);
}

/// Rewrites the header of the container in `f` as version 2 (same salt).
fn make_version_2(f: &File) {
    let h = FileHeader::decode(&header(f)).unwrap();
    let v2 = FileHeader {
        version: 2,
        seal: Seal::Absent,
        ..h
    };
    f.write_all_at(&v2.encode(), 0).unwrap();
}

#[test]
fn a_version_2_container_takes_no_lz_block_and_one_in_it_is_corrupt() {
    let d = logs(4096, 5);
    let (f, c) = one_block(HUFFMAN, &d);
    drop(c);
    make_version_2(&f);
    let mut c = Container::open(f.try_clone().unwrap(), true).unwrap();
    assert_eq!(c.header_version(), 2);
    assert_eq!(c.compression_for(LZ), HUFFMAN);
    assert_eq!(c.compression_for(Compression::None), Compression::None);
    let e = c.put_block(Container::encode(1, &d, LZ)).unwrap_err();
    assert!(
        matches!(e, ContainerError::InvalidArgument(ref m) if m.contains("version-2")),
        "{e}"
    );
    c.write_block(1, &d).unwrap();
    assert_eq!(c.block_kind(1), BlockKind::Huffman);
    c.set_logical_size(2 * 4096);
    c.commit().unwrap();
    drop(c);
    let c = Container::open(f, false).unwrap();
    assert_eq!((c.header_version(), read(&c, 1)), (2, d.clone()));

    // An LZ record and entry in a version-2 file: corrupt, not read.
    let (g, c) = one_block(LZ, &d);
    drop(c);
    make_version_2(&g);
    match Container::open(g, false) {
        Err(e) => assert!(e.is_corrupt(), "{e}"),
        Ok(c) => assert!(c.read_block(0, &mut [0u8; 4096]).is_err()),
    }
}

#[test]
fn every_compression_round_trips_at_every_block_size() {
    for bs in [4096usize, 65536, 1 << 20] {
        let shapes: Vec<(&str, Vec<u8>)> = vec![
            ("logs", logs(bs, 6)),
            ("noise", noise(bs, 7)),
            ("zeros", vec![0u8; bs]),
            ("fill", vec![b'x'; bs]),
            ("short", logs(100, 8)),
            ("one", vec![7u8]),
            ("half-noise", [logs(bs / 2, 9), noise(bs / 2, 10)].concat()),
        ];
        for c in Compression::ALL {
            let f = tempfile::tempfile().unwrap();
            let mut k = Container::create(f.try_clone().unwrap(), bs as u32).unwrap();
            for (no, (name, d)) in shapes.iter().enumerate() {
                let e = Container::encode(no as u64, d, c);
                let kind = e.kind();
                match (c, *name) {
                    (_, "zeros") => assert_eq!(kind, BlockKind::Hole),
                    (Compression::None, _) => assert_eq!(kind, BlockKind::Stored, "{name}"),
                    (_, "fill") => assert_eq!(kind, BlockKind::Fill(b'x')),
                    (_, "noise") => assert_eq!(kind, BlockKind::Stored, "{c} {name}"),
                    (Compression::Level(Level::Huffman), "logs") => {
                        assert_eq!(kind, BlockKind::Huffman)
                    }
                    (_, "logs") => assert_eq!(kind, BlockKind::Lz, "{c} {bs}"),
                    _ => {}
                }
                k.put_block(e).unwrap();
            }
            k.set_logical_size((shapes.len() * bs) as u64);
            k.commit().unwrap();
            drop(k);
            let k = Container::open(f, false).unwrap();
            for (no, (name, d)) in shapes.iter().enumerate() {
                assert_eq!(read(&k, no as u64), padded(d, bs), "{c} {name} at {bs}");
            }
        }
    }
}

#[test]
fn stronger_levels_store_logs_in_less_space() {
    let d = logs(65536, 11);
    let size = |c: Compression| {
        let e = Container::encode(0, &d, c);
        e.record_len()
    };
    let (none, huff, fast, def, max) = (
        size(Compression::None),
        size(HUFFMAN),
        size(Compression::Level(Level::Fast)),
        size(LZ),
        size(Compression::Level(Level::Max)),
    );
    assert!(huff < none && fast < huff / 2, "{none} {huff} {fast}");
    assert!(def <= fast && max <= def, "{fast} {def} {max}");
}

#[test]
fn compaction_keeps_lz_records() {
    let f = tempfile::tempfile().unwrap();
    let mut c = Container::create(f.try_clone().unwrap(), 4096).unwrap();
    for round in 0..3u64 {
        for no in 0..8u64 {
            c.write_block(no, &logs(4096, round * 8 + no)).unwrap();
        }
        c.set_logical_size(8 * 4096);
        c.commit().unwrap();
    }
    let dst = tempfile::tempfile().unwrap();
    let n = c.compact_into(dst).unwrap();
    for no in 0..8u64 {
        assert_eq!(n.block_kind(no), BlockKind::Lz);
        assert_eq!(read(&n, no), logs(4096, 16 + no));
    }
    assert_eq!(n.header_version(), 5);
    assert!(n.stats().dead_bytes == 0);
}
