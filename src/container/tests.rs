//! Unit tests of the container (the integration tests are tests/container.rs).

use super::*;
use crate::testrng::Rng;

fn tmp() -> File {
    tempfile::tempfile().unwrap()
}

#[test]
fn create_put_commit_reopen() {
    let f = tmp();
    let mut c = Container::create(f.try_clone().unwrap(), 4096).unwrap();
    let data: Vec<u8> = (0..4096u32).map(|i| (i * 7 % 251) as u8).collect();
    c.write_block(0, &data).unwrap();
    c.write_block(3, &[5u8; 100]).unwrap();
    c.set_logical_size(3 * 4096 + 100);
    c.commit().unwrap();
    let c2 = Container::open(f, false).unwrap();
    assert_eq!(c2.logical_size(), 3 * 4096 + 100);
    let mut out = vec![0u8; 4096];
    c2.read_block(0, &mut out).unwrap();
    assert_eq!(out, data);
    c2.read_block(3, &mut out).unwrap();
    assert!(out[..100].iter().all(|&b| b == 5) && out[100..].iter().all(|&b| b == 0));
    assert_eq!(c2.block_kind(3), BlockKind::Fill(5));
    assert_eq!(c2.block_kind(1), BlockKind::Hole);
    c2.read_block(1, &mut out).unwrap();
    assert!(out.iter().all(|&b| b == 0));
}

fn block(seed: u64, len: usize) -> Vec<u8> {
    // Deterministic, mildly compressible data.
    Rng::new(seed).bytes(len, |x| {
        b"abcdefgh"[(x % 8) as usize] ^ ((x >> 40) as u8 & 1)
    })
}

fn read_all(c: &Container, block_no: u64) -> Vec<u8> {
    let mut out = vec![0u8; c.block_size() as usize];
    c.read_block(block_no, &mut out).unwrap();
    out
}

#[test]
fn deltas_chain_and_reopen_sees_newest() {
    let f = tmp();
    let mut c = Container::create(f.try_clone().unwrap(), 4096).unwrap();
    for b in 0..20 {
        c.write_block(b, &block(b, 4096)).unwrap();
    }
    c.set_logical_size(20 * 4096);
    c.commit().unwrap();
    assert_eq!(c.stats().chain_len, 0);
    for round in 0..5u64 {
        c.write_block(round, &block(100 + round, 4096)).unwrap();
        c.commit().unwrap();
        assert_eq!(c.stats().chain_len as u64, round + 1);
    }
    // Nothing changed: nothing written.
    let len = f.metadata().unwrap().len();
    c.commit().unwrap();
    assert_eq!(f.metadata().unwrap().len(), len);
    let c2 = Container::open(f.try_clone().unwrap(), true).unwrap();
    for b in 0..20 {
        let want = if b < 5 {
            block(100 + b, 4096)
        } else {
            block(b, 4096)
        };
        assert_eq!(read_all(&c2, b), want, "block {b}");
    }
    assert_eq!(c2.stats().chain_len, 5);
    assert_eq!(c2.live_bytes(), c.live_bytes());
    assert_eq!(c2.dead_bytes(), c.dead_bytes());
}

#[test]
fn read_only_rejects_mutation() {
    let f = tmp();
    let mut c = Container::create(f.try_clone().unwrap(), 4096).unwrap();
    c.write_block(0, b"hello").unwrap();
    c.commit().unwrap();
    let mut r = Container::open(f, false).unwrap();
    assert!(matches!(
        r.write_block(1, b"x"),
        Err(ContainerError::ReadOnly)
    ));
}

#[test]
fn oversize_block_and_block_number_rejected() {
    let mut c = Container::create(tmp(), 4096).unwrap();
    assert!(matches!(
        c.write_block(0, &[1u8; 4097]),
        Err(ContainerError::InvalidArgument(_))
    ));
    let max = c.max_block_no();
    assert!(matches!(
        c.write_block(max + 1, b"x"),
        Err(ContainerError::TooLarge(_))
    ));
    c.write_block(max, b"x").unwrap();
    assert!(Container::create(tmp(), 3000).is_err());
    assert!(Container::create(tmp(), 1 << 21).is_err());
}

#[test]
fn create_needs_empty_file() {
    let f = tmp();
    Container::create(f.try_clone().unwrap(), 4096).unwrap();
    assert!(Container::create(f, 4096).is_err());
}

#[test]
fn uncommitted_tail_is_ignored_and_kept() {
    let f = tmp();
    let mut c = Container::create(f.try_clone().unwrap(), 4096).unwrap();
    c.write_block(0, &block(1, 4096)).unwrap();
    c.set_logical_size(4096);
    c.commit().unwrap();
    let committed = f.metadata().unwrap().len();
    // More records than the pending buffer holds: some reach the file
    // (what is still pending at drop is not written: no commit names it).
    for b in 0..100 {
        c.write_block(b, &block(2 + b, 4096)).unwrap();
    }
    drop(c);
    let len = f.metadata().unwrap().len();
    assert!(len > committed);
    let c = Container::open(f.try_clone().unwrap(), true).unwrap();
    assert_eq!(read_all(&c, 0), block(1, 4096));
    // Nothing is truncated: the uncommitted record stays as dead bytes.
    assert_eq!(f.metadata().unwrap().len(), len);
    assert_eq!(c.file_len(), len);
    assert_eq!(c.dead_bytes(), len - committed);
}

#[test]
fn empty_container_without_commit_opens_empty() {
    let f = tmp();
    drop(Container::create(f.try_clone().unwrap(), 65536).unwrap());
    let c = Container::open(f.try_clone().unwrap(), true).unwrap();
    assert_eq!(c.logical_size(), 0);
    assert_eq!(c.block_size(), 65536);
    assert!(Container::is_container(&f).unwrap());
    assert!(!Container::is_container(&tmp()).unwrap());
}

#[test]
fn verify_blocks_reports_each_corrupt_block() {
    let f = tmp();
    let mut c = Container::create(f.try_clone().unwrap(), 4096).unwrap();
    for b in 0..6 {
        c.write_block(b, &block(b, 4096)).unwrap();
    }
    c.write_block(6, &[3u8; 10]).unwrap();
    c.commit().unwrap();
    let bad_offs = [c.record_offset(1).unwrap(), c.record_offset(4).unwrap()];
    for off in bad_offs {
        let mut x = [0u8; 1];
        f.read_exact_at(&mut x, off + 100).unwrap();
        f.write_all_at(&[x[0] ^ 1], off + 100).unwrap();
    }
    let c = Container::open(f, false).unwrap();
    let mut seen = Vec::new();
    let (checked, bad) = c
        .verify_blocks(|b, e| match e {
            ContainerError::Corrupt { offset, .. } => seen.push((b, *offset)),
            _ => panic!("{e}"),
        })
        .unwrap();
    assert_eq!((checked, bad), (7, 2));
    assert_eq!(seen, vec![(1, bad_offs[0]), (4, bad_offs[1])]);
}

/// A damaged block record says what is wrong with it, with the values.
#[test]
fn corrupt_blocks_carry_a_typed_reason() {
    let f = tmp();
    let mut c = Container::create(f.try_clone().unwrap(), 4096).unwrap();
    let noise = Rng::new(9).bytes(4096, |x| x as u8);
    c.write_block(0, &noise).unwrap();
    c.write_block(1, &noise).unwrap();
    c.commit().unwrap();
    assert_eq!(c.block_kind(0), BlockKind::Stored);
    let (r0, r1) = (c.record_offset(0).unwrap(), c.record_offset(1).unwrap());
    drop(c);
    let flip = |at: u64| {
        let mut x = [0u8; 1];
        f.read_exact_at(&mut x, at).unwrap();
        f.write_all_at(&[x[0] ^ 0x10], at).unwrap();
    };
    flip(r0 + RECORD_HEADER_LEN + 7);
    flip(r1);
    let c = Container::open(f.try_clone().unwrap(), false).unwrap();
    let mut out = vec![0u8; 4096];
    let reason = |e: ContainerError, want_off: u64, want_block: u64| match e {
        ContainerError::Corrupt {
            offset,
            block,
            reason,
        } => {
            assert_eq!((offset, block), (want_off, Some(want_block)));
            reason
        }
        e => panic!("{e}"),
    };
    let e = c.read_block(0, &mut out).unwrap_err();
    let shown = e.to_string();
    match reason(e, r0, 0) {
        Corruption::Checksum {
            what: "decoded data",
            expected,
            found,
        } => {
            assert_eq!(expected, crc32c::crc32c(&noise));
            let mut bad = noise.clone();
            bad[7] ^= 0x10;
            assert_eq!(found, crc32c::crc32c(&bad));
            assert!(shown.contains(&format!("{expected:#010x}")), "{shown}");
        }
        r => panic!("{r}"),
    }
    let e = c.read_block(1, &mut out).unwrap_err();
    assert_eq!(reason(e, r1, 1), Corruption::NoMagic("block record"));
}

#[test]
fn dead_space_accounting_is_exact() {
    let f = tmp();
    let mut c = Container::create(f.try_clone().unwrap(), 4096).unwrap();
    c.write_block(0, &block(1, 4096)).unwrap();
    let live0 = c.live_bytes();
    assert_eq!(c.dead_bytes(), 0);
    // Superseded before any commit: the first record is dead.
    let e = Container::encode(0, &block(2, 4096), Compression::default());
    let rec = e.record_len();
    c.put_block(e).unwrap();
    assert_eq!(c.dead_bytes(), live0 - HEADER_LEN);
    assert_eq!(c.live_bytes(), HEADER_LEN + rec);
    c.commit().unwrap();
    // A checkpoint commit is live.
    assert_eq!(c.live_bytes() + c.dead_bytes(), f.metadata().unwrap().len());
    let ck = c.live_bytes() - HEADER_LEN - rec;
    assert_eq!(ck, 100 + 24);
    // Holes cost nothing; a delta adds to the chain.
    c.write_block(1, &[0u8; 4096]).unwrap();
    assert!(c.is_clean(), "writing a hole over a hole changes nothing");
    c.write_block(0, &[0u8; 4096]).unwrap();
    c.commit().unwrap();
    assert_eq!(c.live_bytes() + c.dead_bytes(), f.metadata().unwrap().len());
    let r = Container::open(f, false).unwrap();
    assert_eq!(r.live_bytes(), c.live_bytes());
    assert_eq!(r.block_kind(0), BlockKind::Hole);
}

#[test]
fn damaged_header_is_still_a_container_but_corrupt() {
    let f = tmp();
    let mut c = Container::create(f.try_clone().unwrap(), 4096).unwrap();
    c.write_block(0, b"x").unwrap();
    c.commit().unwrap();
    // Flips every bit of the byte at `at` (writing a fixed value would be
    // no change when the random salt already holds it).
    let flip = |f: &std::fs::File, at: u64| {
        let mut b = [0u8];
        f.read_exact_at(&mut b, at).unwrap();
        f.write_all_at(&[!b[0]], at).unwrap();
    };
    // A flip in the seal slot (bytes 16..28) costs only the seal.
    flip(&f, 20);
    let o = Container::open(f.try_clone().unwrap(), false).unwrap();
    assert!(o.damage().is_some_and(|d| d.contains("seal")));
    assert_eq!(o.sealed_seq(), None);
    // A flip in the salt (covered by the header CRC) costs the file.
    flip(&f, 10);
    assert!(Container::is_container(&f).unwrap());
    assert!(Container::open(f, false).unwrap_err().is_corrupt());
    let v1 = tmp();
    v1.write_all_at(&[0x0C, 0, 0x0D, 0x0E, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0], 0)
        .unwrap();
    assert!(!Container::is_container(&v1).unwrap());
    // A container cut inside its magic or version, from 2 bytes on.
    let full = [0x0C, 0, 0x0D, 0x0E, 3, 0, 16, 0];
    for n in 1..=full.len() {
        let f = tmp();
        f.write_all_at(&full[..n], 0).unwrap();
        assert_eq!(Container::is_container(&f).unwrap(), n >= 2, "{n} bytes");
        if n >= 2 {
            assert!(Container::open(f, false).unwrap_err().is_corrupt());
        }
    }
    for other in [
        &[0x0C, 1][..],
        &[0x0C, 0, 0x0D, 0x0E, 1],
        &[0x0C, 0, 0x0D, 0x0E, 6],
    ] {
        let f = tmp();
        f.write_all_at(other, 0).unwrap();
        assert!(!Container::is_container(&f).unwrap(), "{other:?}");
    }
}

#[test]
fn oversized_input_to_encode_is_rejected_by_put() {
    let big = vec![7u8; (1 << MAX_BLOCK_SHIFT) + 1];
    let e = Container::encode(0, &big, Compression::default());
    assert_eq!(e.kind(), BlockKind::Stored);
    let mut c = Container::create(tmp(), 1 << MAX_BLOCK_SHIFT).unwrap();
    assert!(c.put_block(e).is_err());
}

#[test]
fn concurrent_reads_through_a_shared_reference() {
    let f = tmp();
    let mut c = Container::create(f, 4096).unwrap();
    let blocks: Vec<Vec<u8>> = (0..32).map(|b| block(b, 4096 - b as usize * 3)).collect();
    for (b, d) in blocks.iter().enumerate() {
        c.write_block(b as u64, d).unwrap();
    }
    c.commit().unwrap();
    let c = &c;
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let blocks = &blocks;
            s.spawn(move || {
                let mut out = vec![0u8; 4096];
                for i in 0..200u64 {
                    let b = (i * 7 + t) % 32;
                    c.read_block(b, &mut out).unwrap();
                    let d = &blocks[b as usize];
                    assert_eq!(&out[..d.len()], &d[..]);
                    assert!(out[d.len()..].iter().all(|&x| x == 0));
                }
            });
        }
    });
}

fn file_bytes(f: &File) -> Vec<u8> {
    let n = f.metadata().unwrap().len() as usize;
    let mut v = vec![0u8; n];
    f.read_exact_at(&mut v, 0).unwrap();
    v
}

/// The same operations on a container made by `create` and on one made by
/// `create_deferred` with the same salt: the deferred one writes nothing
/// before its first commit, and then exactly the same bytes.
#[test]
fn deferred_creation_writes_the_same_bytes_in_one_go() {
    let ops = |c: &mut Container, f: &File, deferred: bool| {
        c.write_block(0, &block(1, 4096)).unwrap();
        c.write_block(1, &block(2, 1000)).unwrap();
        if deferred {
            // Nothing written yet, but the pending records read back.
            assert_eq!(f.metadata().unwrap().len(), 0);
            assert_eq!(read_all(c, 0), block(1, 4096));
            assert_eq!(&read_all(c, 1)[..1000], &block(2, 1000)[..]);
        }
        c.set_logical_size(4096 + 1000);
        c.commit().unwrap();
        // A rewritten block and its delta commit.
        c.write_block(0, &block(3, 4096)).unwrap();
        c.commit().unwrap();
        assert!(c.pending.is_empty());
        assert_eq!(f.metadata().unwrap().len(), c.file_len());
    };
    let f1 = tmp();
    let mut c1 = Container::create(f1.try_clone().unwrap(), 4096).unwrap();
    ops(&mut c1, &f1, false);
    let f2 = tmp();
    let mut c2 = Container::create_deferred(f2.try_clone().unwrap(), 4096).unwrap();
    c2.salt = c1.salt;
    c2.pending.clear();
    c2.pending
        .extend_from_slice(&file_bytes(&f1)[..HEADER_LEN as usize]);
    ops(&mut c2, &f2, true);
    drop((c1, c2));
    assert_eq!(file_bytes(&f1), file_bytes(&f2));
    let c = Container::open(f2, false).unwrap();
    assert_eq!(read_all(&c, 0), block(3, 4096));
    assert_eq!(&read_all(&c, 1)[..1000], &block(2, 1000)[..]);
}

#[test]
fn deferred_header_goes_out_with_the_first_content_or_at_drop() {
    // Unborn: commits and drop leave the file empty.
    let f = tmp();
    let mut c = Container::create_deferred(f.try_clone().unwrap(), 4096).unwrap();
    assert!(c.is_unborn());
    c.commit().unwrap();
    c.set_logical_size(0);
    c.commit().unwrap();
    drop(c);
    assert_eq!(f.metadata().unwrap().len(), 0);
    // A size alone is content: header and commit go out.
    let f = tmp();
    let mut c = Container::create_deferred(f.try_clone().unwrap(), 4096).unwrap();
    c.set_logical_size(10);
    assert!(!c.is_unborn());
    c.commit().unwrap();
    assert!(f.metadata().unwrap().len() > HEADER_LEN);
    assert!(Container::is_container(&f).unwrap());
    drop(c);
    assert_eq!(Container::open(f, false).unwrap().logical_size(), 10);
    // A size set back to zero before the commit still commits (the
    // container changed), so the file is a container of size 0.
    let f = tmp();
    let mut c = Container::create_deferred(f.try_clone().unwrap(), 4096).unwrap();
    c.set_logical_size(10);
    c.set_logical_size(0);
    c.commit().unwrap();
    drop(c);
    assert_eq!(Container::open(f, false).unwrap().logical_size(), 0);
    // A record but never a commit: the file stays empty (the new file's
    // state before anything was written), not a salvage of the record.
    let f = tmp();
    let mut c = Container::create_deferred(f.try_clone().unwrap(), 4096).unwrap();
    c.write_block(0, &block(9, 300)).unwrap();
    drop(c);
    assert_eq!(f.metadata().unwrap().len(), 0);
}

/// A new container whose records outgrow the pending buffer before its
/// first commit puts an empty commit in front of them: cut anywhere before
/// the real commit is whole, it opens as an empty file, never as some of
/// its records (a hole where a record is missing, a size off by its
/// trimmed zeros); once committed, every block reads back.
#[test]
fn a_new_container_never_shows_records_before_its_first_commit() {
    let f = tmp();
    let mut c = Container::create_deferred(f.try_clone().unwrap(), 4096).unwrap();
    let blocks: Vec<Vec<u8>> = (0..40).map(|b| block(b + 100, 4096)).collect();
    for (b, d) in blocks.iter().enumerate() {
        c.write_block(b as u64, d).unwrap();
    }
    let before = f.metadata().unwrap().len();
    assert!(
        before > HEADER_LEN,
        "the records outgrew the pending buffer"
    );
    // Every block reads back before the commit (pending or written).
    for (b, d) in blocks.iter().enumerate() {
        assert_eq!(&read_all(&c, b as u64), d);
    }
    // What is in the file now opens as the empty commit.
    let now = Container::open(f.try_clone().unwrap(), false).unwrap();
    assert_eq!(now.logical_size(), 0);
    let st = now.stats();
    assert_eq!(st.stored + st.huffman + st.fill, 0);
    c.set_logical_size(40 * 4096);
    c.commit().unwrap();
    drop(c);
    let mut full = vec![0u8; f.metadata().unwrap().len() as usize];
    f.read_exact_at(&mut full, 0).unwrap();
    let c = Container::open(f.try_clone().unwrap(), false).unwrap();
    assert_eq!(c.logical_size(), 40 * 4096);
    for (b, d) in blocks.iter().enumerate() {
        assert_eq!(&read_all(&c, b as u64), d);
    }
    // Every cut before the end: empty, never part of the records.
    for cut in (0..full.len() as u64)
        .step_by(997)
        .chain([full.len() as u64 - 1])
    {
        let g = tmp();
        g.write_all_at(&full[..cut as usize], 0).unwrap();
        match Container::open(g, false) {
            Ok(c) => {
                let st = c.stats();
                assert_eq!(
                    (c.logical_size(), st.stored + st.huffman + st.fill),
                    (0, 0),
                    "cut at {cut}"
                );
            }
            Err(e) => assert!(cut < HEADER_LEN, "cut at {cut}: {e}"),
        }
    }
}

/// A failed first write (the file cannot be written) changes nothing: the
/// records stay readable and pending, the error is reported.
#[test]
fn a_failed_first_write_of_a_new_container_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("c");
    std::fs::write(&p, b"").unwrap();
    let ro = std::fs::File::open(&p).unwrap();
    let mut c = Container::create_deferred(ro, 4096).unwrap();
    let blocks: Vec<Vec<u8>> = (0..40).map(|b| block(b + 7, 4096)).collect();
    let mut failed = None;
    for (b, d) in blocks.iter().enumerate() {
        if c.write_block(b as u64, d).is_err() {
            failed = Some(b);
            break;
        }
    }
    let failed = failed.expect("a write to a read-only descriptor fails");
    for (b, d) in blocks[..failed].iter().enumerate() {
        assert_eq!(&read_all(&c, b as u64), d);
    }
    assert_eq!(std::fs::metadata(&p).unwrap().len(), 0);
    drop(c);
    assert_eq!(std::fs::metadata(&p).unwrap().len(), 0);
}

/// Records bigger than the pending buffer go out at once; pending and
/// written records read back alike, before and after the commit.
#[test]
fn large_and_small_records_mix_with_pending_bytes() {
    let f = tmp();
    let mut c = Container::create_deferred(f.try_clone().unwrap(), 1 << 20).unwrap();
    let big = block(5, 1 << 20);
    let small = block(6, 2000);
    c.write_block(0, &small).unwrap();
    c.write_block(1, &big).unwrap();
    c.write_block(2, &small).unwrap();
    assert!(!c.pending.is_empty());
    assert_eq!(&read_all(&c, 0)[..2000], &small[..]);
    assert_eq!(read_all(&c, 1), big);
    assert_eq!(&read_all(&c, 2)[..2000], &small[..]);
    c.set_logical_size(2 * (1 << 20) + 2000);
    c.commit().unwrap();
    assert!(c.pending.is_empty());
    assert_eq!(f.metadata().unwrap().len(), c.file_len());
    drop(c);
    let c = Container::open(f, false).unwrap();
    assert_eq!(read_all(&c, 1), big);
    assert_eq!(&read_all(&c, 2)[..2000], &small[..]);
}

/// Salts are distinct between the containers of a process (and spread
/// over all bits), without a syscall each.
#[test]
fn salts_are_distinct() {
    let salts: std::collections::HashSet<u64> = (0..20_000).map(|_| super::random_salt()).collect();
    assert_eq!(salts.len(), 20_000);
    let or = salts.iter().fold(0u64, |a, s| a | s);
    let and = salts.iter().fold(u64::MAX, |a, s| a & s);
    assert_eq!((or, and), (u64::MAX, 0));
}

#[test]
fn another_writers_commit_is_seen_and_reloaded() {
    // Two hosts: `a` writes, `b` had the container open before.
    let f = tmp();
    let mut a = Container::create(f.try_clone().unwrap(), 4096).unwrap();
    a.write_block(0, &[1u8; 4096]).unwrap();
    a.set_logical_size(4096);
    a.commit().unwrap();
    let mut b = Container::open(f.try_clone().unwrap(), false).unwrap();
    assert!(!b.changed_elsewhere().unwrap());
    a.write_block(0, &block(7, 4096)).unwrap();
    a.write_block(1, &block(8, 4096)).unwrap();
    a.set_logical_size(8192);
    a.commit().unwrap();
    assert!(!a.changed_elsewhere().unwrap(), "the writer's own commit");
    assert!(b.changed_elsewhere().unwrap());
    b.reload().unwrap();
    assert!(!b.changed_elsewhere().unwrap());
    assert_eq!(b.logical_size(), 8192);
    let mut out = vec![0u8; 4096];
    b.read_block(1, &mut out).unwrap();
    assert_eq!(out, block(8, 4096));
    // A container with changes of its own refuses to reload.
    a.write_block(2, &[3u8; 10]).unwrap();
    assert!(a.reload().is_err());
}
