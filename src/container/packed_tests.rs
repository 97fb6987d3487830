//! Unit tests of version 5's packed record (FORMAT.md 3.11): what small
//! files cost, later writes chaining onto it, torn at every byte, damaged
//! at every byte, lying lengths, compaction and recompression writing it,
//! and version-4 containers written as before.

use super::format::{
    salted_crc, CommitHeader, DiskEntry, FileHeader, PackedHead, Trailer, ENTRY_LEN, KIND_HUFFMAN,
    KIND_STORED,
};
use super::*;
use crate::codec::Level;
use crate::testrng::noise;

const BS: u32 = 4096;
const HUFF: Compression = Compression::Level(Level::Huffman);
const LZ: Compression = Compression::Level(Level::Default);

fn text(len: usize, seed: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(len + 64);
    let mut i = seed;
    while v.len() < len {
        v.extend_from_slice(format!("line {i}: value {} ok\n", i * 7 % 13).as_bytes());
        i += 1;
    }
    v.truncate(len);
    v
}

fn bytes_of(f: &File) -> Vec<u8> {
    let mut v = vec![0u8; f.metadata().unwrap().len() as usize];
    f.read_exact_at(&mut v, 0).unwrap();
    v
}

fn file_from(b: &[u8]) -> File {
    let f = tempfile::tempfile().unwrap();
    f.write_all_at(b, 0).unwrap();
    f
}

/// The logical contents of a container (also used by recompress.rs's tests).
pub(super) fn contents(c: &Container) -> Vec<u8> {
    let bs = c.block_size() as usize;
    let mut out = vec![0u8; c.logical_size() as usize];
    let mut buf = vec![0u8; bs];
    for (b, _) in c.data_blocks() {
        c.read_block(b, &mut buf).unwrap();
        let s = b as usize * bs;
        if s < out.len() {
            let n = (out.len() - s).min(bs);
            out[s..s + n].copy_from_slice(&buf[..n]);
        }
    }
    out
}

/// A new container (header held back, as the filesystem makes them)
/// holding `data` at `coding`, committed.
fn small(data: &[u8], coding: Compression) -> (File, Container) {
    let f = tempfile::tempfile().unwrap();
    let mut c = Container::create_deferred(f.try_clone().unwrap(), BS).unwrap();
    if !data.is_empty() {
        c.put_block(Container::encode(0, data, coding)).unwrap();
    }
    c.set_logical_size(data.len() as u64);
    c.commit().unwrap();
    (f, c)
}

#[test]
fn a_one_block_file_costs_90_bytes_of_framing() {
    let cases: Vec<(Vec<u8>, Compression, BlockKind)> = vec![
        (noise(1000, 1), Compression::None, BlockKind::Stored),
        (noise(3000, 2), HUFF, BlockKind::Stored),
        (text(3000, 3), HUFF, BlockKind::Huffman),
        (text(4096, 4), LZ, BlockKind::Lz),
        (vec![b'x'; 700], LZ, BlockKind::Fill(b'x')),
        (vec![0; 900], LZ, BlockKind::Hole),
        (b"ab".to_vec(), LZ, BlockKind::Stored),
    ];
    for (data, coding, kind) in cases {
        let (f, c) = small(&data, coding);
        assert_eq!(c.block_kind(0), kind);
        let payload = match kind {
            BlockKind::Stored => data.len() as u64,
            BlockKind::Huffman | BlockKind::Lz => c.stats().huffman_payload + c.stats().lz_payload,
            _ => 0,
        };
        let len = f.metadata().unwrap().len();
        // Header 32 + packed head 26 + trailer 32, for every kind.
        let framing = 90;
        assert_eq!(len, framing + payload, "{kind:?}");
        assert_eq!(&bytes_of(&f)[32..36], b"SPCK");
        assert_eq!((c.live_bytes(), c.dead_bytes()), (len, 0), "{kind:?}");
        let r = Container::open(f, false).unwrap();
        assert_eq!(r.header_version(), 5);
        assert_eq!(r.block_kind(0), kind);
        assert_eq!(contents(&r), data, "{kind:?}");
        assert_eq!((r.live_bytes(), r.dead_bytes()), (len, 0), "{kind:?}");
        assert!(r.damage().is_none());
        let s = read_summary(r.file()).unwrap();
        assert_eq!((s.logical_size, s.clean), (data.len() as u64, true));
    }
    // Container::create (the CLI) and the header written first: the same.
    let f = tempfile::tempfile().unwrap();
    let mut c = Container::create(f.try_clone().unwrap(), BS).unwrap();
    c.put_block(Container::encode(0, b"hello", Compression::None))
        .unwrap();
    c.set_logical_size(5);
    c.commit().unwrap();
    c.seal_now().unwrap();
    assert_eq!(f.metadata().unwrap().len(), 95);
    let r = Container::open(f, false).unwrap();
    assert_eq!((contents(&r), r.sealed_seq()), (b"hello".to_vec(), Some(1)));
}

#[test]
fn larger_files_keep_the_ordinary_form() {
    // Two blocks, or one block past the first, or a size past one block.
    for (blocks, size) in [(vec![0u64, 1], 2 * BS as u64), (vec![1], 2 * BS as u64)] {
        let f = tempfile::tempfile().unwrap();
        let mut c = Container::create_deferred(f.try_clone().unwrap(), BS).unwrap();
        for &b in &blocks {
            c.put_block(Container::encode(b, &text(4096, b), LZ))
                .unwrap();
        }
        c.set_logical_size(size);
        c.commit().unwrap();
        assert_ne!(&bytes_of(&f)[32..36], b"SPCK");
        assert!(!c.packed);
    }
    let (f, _) = small(&[7u8; 10], Compression::None);
    let g = tempfile::tempfile().unwrap();
    let mut c = Container::create_deferred(g.try_clone().unwrap(), BS).unwrap();
    c.put_block(Container::encode(0, &[7u8; 10], Compression::None))
        .unwrap();
    c.set_logical_size(BS as u64 + 1);
    c.commit().unwrap();
    assert_eq!(
        g.metadata().unwrap().len(),
        f.metadata().unwrap().len() + 98,
        "188 against 90 bytes of framing"
    );
}

#[test]
fn later_writes_chain_onto_the_packed_record() {
    let d0 = text(3000, 1);
    let (f, c) = small(&d0, HUFF);
    drop(c);
    let mut model = d0.clone();
    let mut w = Container::open(f.try_clone().unwrap(), true).unwrap();
    // Grow: block 0 stays in the packed record, named by the deltas.
    let d1 = text(4096, 2);
    model.resize(4096, 0);
    model.extend_from_slice(&d1);
    w.put_block(Container::encode(1, &d1, LZ)).unwrap();
    w.set_logical_size(model.len() as u64);
    w.commit().unwrap();
    assert_eq!(w.stats().chain_len, 1);
    for i in 2..6u64 {
        let d = text(4096, 10 + i);
        w.put_block(Container::encode(i, &d, LZ)).unwrap();
        model.extend_from_slice(&d);
        w.set_logical_size(model.len() as u64);
        w.commit().unwrap();
    }
    let r = Container::open(f.try_clone().unwrap(), false).unwrap();
    assert_eq!(contents(&r), model);
    assert_eq!(
        (r.live_bytes(), r.dead_bytes()),
        (w.live_bytes(), w.dead_bytes())
    );
    assert_eq!(r.stats().seq, 6);
    drop(r);
    // Block 0 rewritten: the packed record's block is dead, its trailer
    // still the chain's checkpoint.
    let d0b = text(4096, 99);
    w.put_block(Container::encode(0, &d0b, LZ)).unwrap();
    model[..4096].copy_from_slice(&d0b);
    w.commit().unwrap();
    let r = Container::open(f.try_clone().unwrap(), true).unwrap();
    assert_eq!(contents(&r), model);
    assert_eq!(r.live_bytes(), w.live_bytes());
    // Compaction of the grown file: the ordinary form, no packed record.
    let g = tempfile::tempfile().unwrap();
    let n = r.compact_into(g.try_clone().unwrap()).unwrap();
    assert_eq!(contents(&n), model);
    assert_eq!(n.dead_bytes(), 0);
    assert_ne!(&bytes_of(&g)[32..36], b"SPCK");
    // Shrunk back to one block, compaction writes the packed form.
    let mut r = r;
    r.set_logical_size(100);
    r.commit().unwrap();
    let g = tempfile::tempfile().unwrap();
    let n = r.compact_into(g.try_clone().unwrap()).unwrap();
    assert_eq!(&bytes_of(&g)[32..36], b"SPCK");
    assert_eq!(contents(&n), model[..100].to_vec());
    assert_eq!((n.live_bytes(), n.dead_bytes()), (n.file_len(), 0));
    assert_eq!(n.sealed_seq(), Some(1));
    let n = Container::open(g, false).unwrap();
    assert_eq!(contents(&n), model[..100].to_vec());
}

#[test]
fn compaction_moves_a_packed_block_into_an_ordinary_record() {
    let d0 = text(4000, 5);
    let (f, c) = small(&d0, LZ);
    drop(c);
    let mut w = Container::open(f.try_clone().unwrap(), true).unwrap();
    let d2 = noise(4096, 6);
    w.put_block(Container::encode(2, &d2, LZ)).unwrap();
    w.set_logical_size(3 * 4096);
    w.commit().unwrap();
    let g = tempfile::tempfile().unwrap();
    let n = w.compact_into(g.try_clone().unwrap()).unwrap();
    let n2 = Container::open(g, false).unwrap();
    for c in [&n, &n2] {
        let mut want = d0.clone();
        want.resize(2 * 4096, 0);
        want.extend_from_slice(&d2);
        assert_eq!(contents(c), want);
        assert_eq!(c.record_offset(0), Some(32));
        assert!(!c.packed);
        assert_eq!(c.dead_bytes(), 0);
    }
    // Recompression of a small file writes the packed form too.
    let h = tempfile::tempfile().unwrap();
    let (_, c) = small(&text(2000, 7), HUFF);
    let r = c
        .recompress_into(h.try_clone().unwrap(), LZ, || true)
        .unwrap()
        .unwrap();
    assert_eq!(r.block_kind(0), BlockKind::Lz);
    assert_eq!(&bytes_of(&h)[32..36], b"SPCK");
    assert_eq!(contents(&Container::open(h, false).unwrap()), text(2000, 7));
}

#[test]
fn torn_at_every_byte_of_the_packed_record() {
    let data = text(2500, 8);
    let (f, c) = small(&data, HUFF);
    drop(c);
    let full = bytes_of(&f);
    let rec_end = full.len() - 32;
    for cut in 32..=full.len() {
        let g = file_from(&full[..cut]);
        let c = Container::open(g.try_clone().unwrap(), true)
            .unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        let want: &[u8] = if cut == full.len() {
            &data
        } else if cut >= rec_end {
            // The trailer is torn: block 0 salvaged as a record.
            &data
        } else {
            b""
        };
        assert_eq!(contents(&c), want, "cut at {cut}");
        assert!(
            c.damage().is_none(),
            "cut at {cut}: a torn tail is no damage"
        );
        // Writes go after the torn bytes and open again.
        let mut c = c;
        c.put_block(Container::encode(1, b"more", Compression::None))
            .unwrap();
        c.set_logical_size(4096 + 4);
        c.commit().unwrap();
        drop(c);
        let c = Container::open(g, false).unwrap();
        let mut want = want.to_vec();
        want.resize(4096, 0);
        want.extend_from_slice(b"more");
        assert_eq!(contents(&c), want, "cut at {cut}, then written");
    }
    // Sealed, every cut is corrupt rather than an older state.
    let (f, mut c) = small(&data, HUFF);
    c.seal_now().unwrap();
    let full = bytes_of(&f);
    for cut in 32..full.len() {
        let e = Container::open(file_from(&full[..cut]), false).unwrap_err();
        assert!(e.is_corrupt(), "cut at {cut}: {e}");
    }
}

#[test]
fn damaged_bytes_of_the_packed_record_never_read_as_other_data() {
    let data = text(3000, 9);
    for coding in [HUFF, Compression::None] {
        let (f, c) = small(&data, coding);
        drop(c);
        let full = bytes_of(&f);
        let payload_end = full.len() - 32;
        for at in 32..full.len() {
            for bit in [0x01u8, 0x80] {
                let mut b = full.clone();
                b[at] ^= bit;
                match Container::open(file_from(&b), false) {
                    Err(e) => {
                        assert!(e.is_corrupt(), "byte {at}: {e}");
                        assert!(at < 32 + 26, "byte {at}: only a damaged head fails open");
                    }
                    Ok(c) => {
                        assert!(at >= 32 + 26, "byte {at}: a damaged head was accepted");
                        let mut buf = vec![0u8; BS as usize];
                        match c.read_block(0, &mut buf) {
                            // (A flip the decoder never looks at, say in
                            // a code's unused padding, leaves the data.)
                            Ok(()) => {
                                assert_eq!(contents(&c), data, "byte {at}");
                                if at >= payload_end {
                                    assert!(c.damage().is_some(), "byte {at}: trailer damage");
                                }
                            }
                            Err(e) => assert!(e.is_corrupt(), "{e}"),
                        }
                    }
                }
            }
        }
    }
}

/// A hand-built version-5 container: header, packed record, then `rest`.
fn crafted(salt: u64, p: PackedHead, payload: &[u8], trailer_size: Option<u64>) -> Vec<u8> {
    let mut v = FileHeader::new(12, salt).encode().to_vec();
    v.extend_from_slice(&p.encode(salt));
    v.extend_from_slice(payload);
    let t = Trailer {
        commit_offset: 32,
        logical_size: trailer_size.unwrap_or(u64::from(p.logical_size)),
        seq: 1,
    };
    v.extend_from_slice(&t.encode(salt));
    v
}

/// Appends an ordinary commit with `entries`.
fn push_delta(v: &mut Vec<u8>, salt: u64, h: CommitHeader, entries: &[DiskEntry]) {
    let off = v.len() as u64;
    let mut rec = h.encode(salt).to_vec();
    for e in entries {
        let mut b = [0u8; ENTRY_LEN as usize];
        e.encode(&mut b);
        rec.extend_from_slice(&b);
    }
    let crc = salted_crc(salt, &rec);
    rec.extend_from_slice(&crc.to_le_bytes());
    let t = Trailer {
        commit_offset: off,
        logical_size: h.logical_size,
        seq: h.seq,
    };
    rec.extend_from_slice(&t.encode(salt));
    v.extend_from_slice(&rec);
}

#[test]
fn hand_built_packed_records_and_lying_lengths() {
    let salt = 0x5eed;
    let data = b"stored bytes of block zero".to_vec();
    let p = PackedHead {
        kind: KIND_STORED,
        fill: 0,
        logical_size: data.len() as u32,
        decoded_len: data.len() as u32,
        payload_len: data.len() as u32,
        data_crc: crc32c::crc32c(&data),
    };
    let good = crafted(salt, p, &data, None);
    let c = Container::open(file_from(&good), false).unwrap();
    assert_eq!(contents(&c), data);
    // The same bytes in a version-4 container are no record: corrupt.
    let mut v4 = good.clone();
    v4[4] = 4;
    assert!(Container::open(file_from(&v4), false)
        .unwrap_err()
        .is_corrupt());
    // Lengths that lie, under a valid head CRC: never other bytes.
    for (name, lie) in [
        (
            "payload past the end",
            PackedHead {
                payload_len: 4000,
                decoded_len: 4000,
                ..p
            },
        ),
        (
            "payload short",
            PackedHead {
                payload_len: 10,
                decoded_len: 10,
                ..p
            },
        ),
        (
            "size past the block",
            PackedHead {
                logical_size: 5000,
                ..p
            },
        ),
        (
            "huffman of garbage",
            PackedHead {
                kind: KIND_HUFFMAN,
                ..p
            },
        ),
        ("wrong data crc", PackedHead { data_crc: 1, ..p }),
    ] {
        let b = crafted(salt, lie, &data, None);
        match Container::open(file_from(&b), false) {
            Err(e) => assert!(e.is_corrupt(), "{name}: {e}"),
            Ok(c) => {
                let mut buf = vec![0u8; BS as usize];
                if c.next_data_block(0).is_some() {
                    let e = c.read_block(0, &mut buf).unwrap_err();
                    assert!(e.is_corrupt(), "{name}: {e}");
                } else {
                    assert_eq!(c.logical_size(), 0, "{name}");
                }
            }
        }
    }
    // A trailer whose size differs from the head's: the head wins (its
    // CRC covers the commit), the trailer is reported as damaged.
    let b = crafted(salt, p, &data, Some(9));
    let c = Container::open(file_from(&b), false).unwrap();
    assert_eq!(contents(&c), data);
    assert!(c.damage().is_some());
    // A delta naming the packed record's block as another block, or
    // with a length that does not fit before the delta: corrupt.
    let delta = |entry: DiskEntry| {
        let mut v = good.clone();
        let h = CommitHeader {
            flags: 0,
            seq: 2,
            logical_size: 3 * 4096,
            prev_commit: 32,
            checkpoint: 32,
            entry_count: 1,
            chain_len: 1,
            packed: None,
        };
        push_delta(&mut v, salt, h, &[entry]);
        v
    };
    let as_block_2 = DiskEntry {
        block_no: 2,
        offset: 32,
        len: data.len() as u32,
        kind: KIND_STORED,
        fill: 0,
    };
    let c = Container::open(file_from(&delta(as_block_2)), false).unwrap();
    let mut buf = vec![0u8; BS as usize];
    assert!(c.read_block(2, &mut buf).unwrap_err().is_corrupt());
    assert_eq!(
        contents(&Container::open(file_from(&good), false).unwrap()),
        data
    );
    let too_long = DiskEntry {
        block_no: 0,
        len: data.len() as u32 + 7,
        ..as_block_2
    };
    let e = Container::open(file_from(&delta(too_long)), false).unwrap_err();
    assert!(e.is_corrupt(), "{e}");
    // The packed record's block named correctly by a delta: read.
    let named = DiskEntry {
        block_no: 0,
        ..as_block_2
    };
    let c = Container::open(file_from(&delta(named)), false).unwrap();
    let mut want = data.clone();
    want.resize(3 * 4096, 0);
    assert_eq!(contents(&c), want);
}

#[test]
fn a_damaged_delta_after_the_packed_record_is_rebuilt() {
    let (f, c) = small(&text(3000, 11), HUFF);
    drop(c);
    let mut w = Container::open(f.try_clone().unwrap(), true).unwrap();
    let d1 = text(4096, 12);
    w.put_block(Container::encode(1, &d1, LZ)).unwrap();
    w.set_logical_size(8192);
    w.commit().unwrap();
    let delta = w.last.unwrap().offset;
    let want = contents(&w);
    drop(w);
    // One flipped byte in the delta's only entry.
    let at = delta + 64 + 9;
    let mut b = [0u8];
    f.read_exact_at(&mut b, at).unwrap();
    f.write_all_at(&[b[0] ^ 0x20], at).unwrap();
    let c = Container::open(f, false).unwrap();
    assert!(c.damage().is_some());
    assert_eq!(contents(&c), want);
}

#[test]
fn version_4_containers_are_written_as_before() {
    let f = tempfile::tempfile().unwrap();
    let mut c = Container::create_version(f.try_clone().unwrap(), BS, 4).unwrap();
    c.put_block(Container::encode(0, b"old format", Compression::None))
        .unwrap();
    c.set_logical_size(10);
    c.commit().unwrap();
    assert_eq!(f.metadata().unwrap().len(), 188 + 10);
    c.seal_now().unwrap();
    drop(c);
    let mut w = Container::open(f.try_clone().unwrap(), true).unwrap();
    assert_eq!((w.header_version(), w.sealed_seq()), (4, Some(1)));
    w.put_block(Container::encode(1, &text(4096, 3), LZ))
        .unwrap();
    w.set_logical_size(8192);
    w.commit().unwrap();
    drop(w);
    let r = Container::open(f.try_clone().unwrap(), false).unwrap();
    assert_eq!(r.header_version(), 4);
    let mut want = b"old format".to_vec();
    want.resize(4096, 0);
    want.extend_from_slice(&text(4096, 3));
    assert_eq!(contents(&r), want);
    assert_eq!(&bytes_of(&f)[4..6], &[4, 0]);
    // Compaction makes it version 5.
    let g = tempfile::tempfile().unwrap();
    assert_eq!(r.compact_into(g).unwrap().header_version(), 5);
}
