//! Integration tests of the v2 container (src/container/): round trips
//! against an in-memory model with reopen after every step, torn tails at
//! every byte offset, bit flips, hostile metadata, huge sparse files,
//! compaction and the O(block) cost of an update.

mod common;
use common::model::{fill, Fill, Op, Shape};

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;

use proptest::prelude::*;
use scfs::container::format::{
    salted_crc, CommitHeader, DiskEntry, FileHeader, Trailer, COMMIT_CHECKPOINT, COMMIT_HEADER_LEN,
    ENTRY_LEN, HEADER_LEN, KIND_STORED,
};
use scfs::container::{BlockKind, CompactWhen, Compression, Container, ContainerError};

const BS: usize = 4096;

fn tmp() -> File {
    tempfile::tempfile().unwrap()
}

fn file_bytes(f: &File) -> Vec<u8> {
    let mut f = f.try_clone().unwrap();
    let mut v = Vec::new();
    f.seek(SeekFrom::Start(0)).unwrap();
    f.read_to_end(&mut v).unwrap();
    v
}

fn file_from(bytes: &[u8]) -> File {
    let mut f = tmp();
    f.write_all(bytes).unwrap();
    f
}

/// Deterministic test data: `common::model`'s fill of shape number
/// `shape` (2 noise, 3 a skewed alphabet).
fn data(seed: u64, len: usize, shape: u8) -> Vec<u8> {
    Fill::new(Shape::ALL[shape as usize % Shape::ALL.len()], seed).bytes(len)
}

fn read(c: &Container, b: u64) -> Vec<u8> {
    let mut out = vec![0xAAu8; BS];
    c.read_block(b, &mut out).unwrap();
    out
}

/// The model: block contents (padded to BS) and logical size.
#[derive(Clone, Debug, Default, PartialEq)]
struct Model {
    blocks: BTreeMap<u64, Vec<u8>>,
    size: u64,
}

impl Model {
    fn write(&mut self, b: u64, d: &[u8]) {
        let mut v = d.to_vec();
        v.resize(BS, 0);
        if v.iter().all(|&x| x == 0) {
            self.blocks.remove(&b);
        } else {
            self.blocks.insert(b, v);
        }
    }
    fn truncate(&mut self, size: u64) {
        self.size = size;
        let first = size.div_ceil(BS as u64);
        self.blocks.retain(|&b, _| b < first);
    }
}

/// A new container and its model holding blocks 0..n (`data(b + seed,
/// BS, 3)`), size n blocks, committed once.
fn committed(n: u64, seed: u64) -> (File, Container, Model) {
    let f = tmp();
    let mut c = Container::create(f.try_clone().unwrap(), BS as u32).unwrap();
    let mut m = Model::default();
    for b in 0..n {
        let d = data(b + seed, BS, 3);
        c.write_block(b, &d).unwrap();
        m.write(b, &d);
    }
    c.set_logical_size(n * BS as u64);
    m.truncate(n * BS as u64);
    c.commit().unwrap();
    (f, c, m)
}

fn check(c: &Container, m: &Model, probe: &[u64]) {
    assert_eq!(c.logical_size(), m.size);
    for (&b, want) in &m.blocks {
        assert_eq!(&read(c, b), want, "block {b}");
        assert_ne!(c.block_kind(b), BlockKind::Hole);
    }
    for &b in probe {
        if !m.blocks.contains_key(&b) {
            assert!(read(c, b).iter().all(|&x| x == 0), "hole {b}");
        }
    }
    let data: Vec<u64> = c.data_blocks().map(|(b, _)| b).collect();
    let want: Vec<u64> = m.blocks.keys().copied().collect();
    assert_eq!(data, want);
    let s = c.stats();
    assert_eq!(s.live_bytes + s.dead_bytes, s.file_len);
}

/// The container's operations: whole-block writes (`off` a block start,
/// `len` at most a block), truncate, commit (`Fsync`), reopen, compact.
fn op() -> impl Strategy<Value = Op> {
    let write = |(b, len, fill): (u64, usize, Fill)| Op::Write {
        off: b * BS as u64,
        len,
        fill,
    };
    prop_oneof![
        6 => (0u64..24, 0usize..=BS, fill()).prop_map(write),
        1 => (1u64 << 40..(1u64 << 40) + 3, 1usize..=BS, fill()).prop_map(write),
        1 => (0u64..30 * BS as u64).prop_map(Op::Truncate),
        3 => Just(Op::Fsync),
        2 => Just(Op::Reopen),
        1 => Just(Op::Compact),
    ]
}

/// Random writes, overwrites, truncates, commits, reopens and
/// compactions against the model. A reopen loses exactly the
/// uncommitted changes.
fn round_trip(ops: Vec<Op>) {
    let mut f = tmp();
    let mut c = Container::create(f.try_clone().unwrap(), BS as u32).unwrap();
    let mut m = Model::default();
    let mut committed = Model::default();
    // Until the file's first commit, a reopen salvages the block
    // records: the newest record of each block, the size ending at
    // the highest one's data.
    let mut ever_committed = false;
    let mut records: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    let probe = [0u64, 1, 5, 23, 24, 1 << 40, (1 << 40) + 2];
    for op in ops {
        match op {
            Op::Write { off, len, fill } => {
                let b = off / BS as u64;
                let d = fill.bytes(len);
                c.write_block(b, &d).unwrap();
                if matches!(
                    c.block_kind(b),
                    BlockKind::Stored | BlockKind::Huffman | BlockKind::Lz
                ) {
                    records.insert(b, d.clone());
                }
                m.write(b, &d);
                let end = b * BS as u64 + len as u64;
                if end > m.size {
                    c.set_logical_size(end);
                    m.size = end;
                }
            }
            Op::Truncate(s) => {
                c.set_logical_size(s);
                m.truncate(s);
            }
            Op::Fsync => {
                ever_committed |= !c.is_clean();
                c.commit().unwrap();
                committed = m.clone();
            }
            Op::Reopen => {
                drop(c);
                c = Container::open(f.try_clone().unwrap(), true).unwrap();
                m = committed.clone();
                if !ever_committed {
                    m = Model::default();
                    for (&b, d) in &records {
                        m.write(b, d);
                        m.size = b * BS as u64 + d.len() as u64;
                    }
                }
            }
            Op::Compact => {
                let dst = tmp();
                let n = c.compact_into(dst.try_clone().unwrap()).unwrap();
                check(&n, &m, &probe);
                assert_eq!(n.dead_bytes(), 0);
                c = n;
                f = dst;
                committed = m.clone();
                ever_committed = true;
            }
            _ => unreachable!("{op:?} is not generated"),
        }
        check(&c, &m, &probe);
    }
    c.commit().unwrap();
    drop(c);
    let c = Container::open(f, false).unwrap();
    check(&c, &m, &probe);
}

/// The case the regressions file kept from before the shared Op
/// vocabulary (`Write { b: 0, len: 2, shape: 2, seed: 1 }, Reopen`).
#[test]
fn model_round_trip_regressions() {
    let fill = Fill::new(Shape::Noise, 1);
    round_trip(vec![
        Op::Write {
            off: 0,
            len: 2,
            fill,
        },
        Op::Reopen,
    ]);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn model_round_trip(ops in proptest::collection::vec(op(), 1..60)) {
        round_trip(ops);
    }

    /// Arbitrary bytes after a valid header: open and reads never panic.
    #[test]
    fn garbage_after_header_never_panics(tail in proptest::collection::vec(any::<u8>(), 0..600)) {
        let f = tmp();
        drop(Container::create(f.try_clone().unwrap(), BS as u32).unwrap());
        f.write_all_at(&tail, HEADER_LEN).unwrap();
        if let Ok(c) = Container::open(f, false) {
            let mut out = vec![0u8; BS];
            for b in c.data_blocks().map(|(b, _)| b).collect::<Vec<_>>() {
                let _ = c.read_block(b, &mut out);
            }
        }
    }
}

/// Builds a container with a few committed states; returns the file bytes
/// after each commit and the model of each state.
fn history() -> (Vec<Vec<u8>>, Vec<Model>) {
    let f = tmp();
    let mut c = Container::create(f.try_clone().unwrap(), BS as u32).unwrap();
    let mut m = Model::default();
    let mut snaps = vec![file_bytes(&f)];
    let mut models = vec![m.clone()];
    for step in 0..4u64 {
        for b in 0..3 {
            let d = data(step * 10 + b, BS - (b as usize) * 100, 2 + (b as u8 % 2));
            c.write_block(step + b, &d).unwrap();
            m.write(step + b, &d);
        }
        let size = (step + 3) * BS as u64;
        c.set_logical_size(size);
        m.truncate(size);
        c.commit().unwrap();
        snaps.push(file_bytes(&f));
        models.push(m.clone());
    }
    (snaps, models)
}

fn state_of(c: &Container, models: &[Model]) -> Option<usize> {
    models.iter().position(|m| {
        c.logical_size() == m.size
            && c.data_blocks().map(|(b, _)| b).eq(m.blocks.keys().copied())
            && m.blocks.iter().all(|(&b, d)| {
                let mut out = vec![0u8; BS];
                c.read_block(b, &mut out).is_ok() && &out == d
            })
    })
}

/// Truncating the file at every byte offset inside the last commit (and
/// many inside its block records) opens at the previous state (or the newest when whole);
/// a writable open cuts the torn tail and can commit again.
#[test]
fn torn_tail_at_every_offset() {
    let (snaps, models) = history();
    let n = snaps.len();
    let prev = &snaps[n - 2];
    let last = &snaps[n - 1];
    let t = &last[last.len() - 32..];
    let commit_off = u64::from_le_bytes(t[0..8].try_into().unwrap()) as usize;
    // Every offset of the commit record and its neighbourhood, every 5th
    // inside the block records before it (all record headers included).
    let cuts = (prev.len()..commit_off.saturating_sub(64))
        .filter(|c| c % 5 == 0 || (c - prev.len()) % 4096 < 64)
        .chain(commit_off.saturating_sub(64).max(prev.len())..=last.len());
    let f = tmp();
    for cut in cuts {
        f.set_len(0).unwrap();
        f.write_all_at(&last[..cut], 0).unwrap();
        let c = Container::open(f.try_clone().unwrap(), false).unwrap();
        assert_eq!(
            f.metadata().unwrap().len(),
            cut as u64,
            "read-only open wrote"
        );
        let want = if cut == last.len() { n - 1 } else { n - 2 };
        assert_eq!(state_of(&c, &models), Some(want), "cut at {cut}");
        if cut % 97 == 0 || cut + 1 >= last.len() {
            let mut w = Container::open(f.try_clone().unwrap(), true).unwrap();
            // Nothing is truncated: the torn bytes stay, the new commit
            // goes after them and chains onto the state open found.
            assert_eq!(f.metadata().unwrap().len(), cut as u64);
            w.write_block(0, b"new").unwrap();
            w.commit().unwrap();
            drop(w);
            let r = Container::open(f.try_clone().unwrap(), false).unwrap();
            assert_eq!(&read(&r, 0)[..3], b"new");
            let mut m = models[want].clone();
            m.write(0, b"new");
            assert_eq!(
                state_of(&r, std::slice::from_ref(&m)),
                Some(0),
                "cut at {cut}"
            );
            assert_eq!(&file_bytes(&f)[..cut], &last[..cut], "cut at {cut}");
        }
    }
    // A tail that the file system zero-filled (size kept, data lost)
    // from any offset inside the last append: the previous state, unless
    // all the block records and the commit's header survived; then the
    // commit is rebuilt from them (and reported as damage).
    // (Zeros inside the commit's entries leave no way to confirm the
    // rebuild: a corruption error then, never a guessed state.)
    for z in (prev.len()..last.len()).step_by(7) {
        let mut v = last.clone();
        v[z..].fill(0);
        let header_whole = z >= commit_off + COMMIT_HEADER_LEN as usize;
        match Container::open(file_from(&v), false) {
            Ok(c) => {
                let rebuilt = c.damage().is_some();
                assert!(!rebuilt || header_whole, "zeros from {z}");
                let want = if rebuilt { n - 1 } else { n - 2 };
                assert_eq!(state_of(&c, &models), Some(want), "zeros from {z}");
            }
            Err(e) => assert!(e.is_corrupt() && header_whole, "zeros from {z}: {e}"),
        }
    }
    // Zeros from the entries' CRC on: the entries confirm the rebuild.
    let mut v = last.clone();
    let crc_at = last.len() - 36;
    v[crc_at..].fill(0);
    let c = Container::open(file_from(&v), false).unwrap();
    assert_eq!(state_of(&c, &models), Some(n - 1));
    assert!(c.damage().is_some());
    // Cuts into older commits land on the state before them (the first
    // commit: no commit is left, its block records are salvaged).
    for (i, s) in snaps.iter().enumerate().skip(2) {
        let c = Container::open(file_from(&s[..s.len() - 1]), false).unwrap();
        assert_eq!(state_of(&c, &models), Some(i - 1));
    }
    let s = &snaps[1];
    let c = Container::open(file_from(&s[..s.len() - 1]), false).unwrap();
    let mut m = models[1].clone();
    m.size = 3 * BS as u64 - 200; // ends with block 2's decoded data
    assert_eq!(state_of(&c, std::slice::from_ref(&m)), Some(0));
}

/// Garbage appended after the newest commit (a torn append that wrote
/// junk) is ignored; zeros too.
#[test]
fn junk_tail_is_ignored() {
    let (snaps, models) = history();
    let last = snaps.last().unwrap();
    for junk in [
        vec![0u8; 5000],
        data(7, 3000, 2),
        b"SBLK".repeat(20),
        b"SCMT".repeat(30),
    ] {
        let mut v = last.clone();
        v.extend_from_slice(&junk);
        let f = file_from(&v);
        let mut c = Container::open(f.try_clone().unwrap(), true).unwrap();
        assert_eq!(state_of(&c, &models), Some(models.len() - 1));
        // The junk is kept (dead bytes), new commits go after it.
        assert_eq!(f.metadata().unwrap().len(), v.len() as u64);
        assert!(c.dead_bytes() >= junk.len() as u64);
        c.write_block(1, b"after junk").unwrap();
        c.commit().unwrap();
        drop(c);
        let c = Container::open(f.try_clone().unwrap(), false).unwrap();
        let mut m = models.last().unwrap().clone();
        m.write(1, b"after junk");
        assert_eq!(state_of(&c, std::slice::from_ref(&m)), Some(0));
        assert_eq!(&file_bytes(&f)[..v.len()], &v[..]);
    }
}

/// A tail of many well-salted fake trailers (a crafted file) is searched
/// with bounded work and ignored.
#[test]
fn many_fake_trailers_are_bounded() {
    let (snaps, models) = history_cached();
    let last = snaps.last().unwrap();
    let salt = u64::from_le_bytes(last[8..16].try_into().unwrap());
    let mut v = last.clone();
    for _ in 0..20_000 {
        let at = v.len() as u64;
        v.extend_from_slice(
            &Trailer {
                commit_offset: at + 32 - 100,
                logical_size: 0,
                seq: 1,
            }
            .encode(salt),
        );
    }
    let t = std::time::Instant::now();
    let c = Container::open(file_from(&v), false).unwrap();
    assert!(t.elapsed().as_secs() < 5);
    assert_eq!(state_of(&c, models), Some(models.len() - 1));
}

/// A flipped bit in a block record makes that block (only) Corrupt, with
/// the record's offset; the other blocks still read.
#[test]
fn flipped_bits_in_a_record_corrupt_that_block_only() {
    let f = tmp();
    let mut c = Container::create(f.try_clone().unwrap(), BS as u32).unwrap();
    let blocks: Vec<Vec<u8>> = (0..4).map(|i| data(i, BS, 2 + i as u8 % 2)).collect();
    for (i, d) in blocks.iter().enumerate() {
        c.write_block(i as u64, d).unwrap();
    }
    c.set_logical_size(4 * BS as u64);
    c.commit().unwrap();
    // Block 1 compresses (Huffman once the codec does), block 2 is stored.
    let victims: Vec<(u64, u64, u64)> = [1u64, 2]
        .iter()
        .map(|&v| {
            (
                v,
                c.record_offset(v).unwrap(),
                c.record_offset(v + 1).unwrap(),
            )
        })
        .collect();
    drop(c);
    let orig = file_bytes(&f);
    for (victim, off, next) in victims {
        // Every byte of the record header, a sample of payload bytes.
        let positions: Vec<u64> = (off..off + 32)
            .chain((off + 32..next).step_by(61))
            .collect();
        for pos in positions {
            for bit in [0u8, 3, 7] {
                let mut v = orig.clone();
                v[pos as usize] ^= 1 << bit;
                let c = Container::open(file_from(&v), false).unwrap();
                let mut out = vec![0u8; BS];
                match c.read_block(victim, &mut out) {
                    Err(ContainerError::Corrupt {
                        offset,
                        block,
                        reason,
                    }) => {
                        assert_eq!(offset, off, "{reason}");
                        assert_eq!(block, Some(victim), "{reason}");
                    }
                    other => panic!("block {victim} flip at {pos} bit {bit}: {other:?}"),
                }
                for (i, d) in blocks.iter().enumerate() {
                    if i as u64 != victim {
                        assert_eq!(&read(&c, i as u64), d);
                    }
                }
            }
        }
    }
}

/// Flipping any bit of the newest commit record either yields an error
/// (Corrupt) or opens the newest state: never garbage, never an older
/// state served as the current one.
#[test]
fn flipped_bits_in_a_commit_never_give_garbage() {
    let (snaps, models) = history();
    let n = snaps.len();
    let (prev, last) = (&snaps[n - 2], &snaps[n - 1]);
    // The last commit record: find its offset from the trailer.
    let t = &last[last.len() - 32..];
    let commit_off = u64::from_le_bytes(t[0..8].try_into().unwrap()) as usize;
    assert!(commit_off >= prev.len());
    for pos in commit_off..last.len() {
        let mut v = last.clone();
        v[pos] ^= 0x20;
        match Container::open(file_from(&v), false) {
            Ok(c) => {
                let s = state_of(&c, &models);
                assert_eq!(s, Some(n - 1), "flip at {pos}");
            }
            Err(e) => assert!(e.is_corrupt(), "flip at {pos}: {e}"),
        }
    }
}

fn craft(salt: u64, body: impl FnOnce(&mut Vec<u8>)) -> File {
    let mut v = FileHeader::new(12, salt).encode().to_vec();
    body(&mut v);
    file_from(&v)
}

fn push_commit(v: &mut Vec<u8>, salt: u64, h: CommitHeader, entries: &[DiskEntry]) {
    let off = v.len() as u64;
    let hb = h.encode(salt);
    let mut crc_in = hb.to_vec();
    let mut eb = [0u8; ENTRY_LEN as usize];
    for e in entries {
        e.encode(&mut eb);
        crc_in.extend_from_slice(&eb);
    }
    v.extend_from_slice(&crc_in);
    v.extend_from_slice(&salted_crc(salt, &crc_in).to_le_bytes());
    v.extend_from_slice(
        &Trailer {
            commit_offset: off,
            logical_size: h.logical_size,
            seq: h.seq,
        }
        .encode(salt),
    );
}

fn ckpt(off: u64, n: u64, size: u64) -> CommitHeader {
    CommitHeader {
        flags: COMMIT_CHECKPOINT,
        seq: 1,
        logical_size: size,
        prev_commit: 0,
        checkpoint: off,
        entry_count: n,
        chain_len: 0,
        packed: None,
    }
}

/// A flipped byte in the newest commit (entries, their CRC, its trailer):
/// nothing is lost or the open fails. A damaged trailer alone leaves an
/// intact commit; a damaged entry list is rebuilt from the block records
/// written after the previous commit when the entries still confirm it. Open reports the damage, cuts nothing, and a new write
/// commits after the damaged record; compaction drops the damage.
#[test]
fn damaged_newest_commit_is_rebuilt_and_written_after() {
    let (snaps, models) = history_cached();
    let n = snaps.len();
    let last = &snaps[n - 1];
    let t = &last[last.len() - 32..];
    let commit_off = u64::from_le_bytes(t[0..8].try_into().unwrap()) as usize;
    let entries = commit_off + COMMIT_HEADER_LEN as usize; // first entry
    for pos in [
        commit_off + 20, // header: the trailer still names the commit
        entries,
        entries + 9,
        last.len() - 40,
        last.len() - 36,
        last.len() - 10,
    ] {
        let mut v = last.clone();
        v[pos] ^= 0x10;
        let f = file_from(&v);
        let mut c = match Container::open(f.try_clone().unwrap(), true) {
            Ok(c) => c,
            // A damaged header or entry leaves the rebuild unconfirmed.
            Err(e) if pos < last.len() - 36 => {
                assert!(e.is_corrupt(), "flip at {pos}: {e}");
                continue;
            }
            Err(e) => panic!("flip at {pos}: {e}"),
        };
        assert_eq!(state_of(&c, models), Some(n - 1), "flip at {pos}");
        assert!(c.damage().is_some(), "flip at {pos}");
        assert_eq!(f.metadata().unwrap().len(), v.len() as u64);
        let nb = data(99, BS, 2);
        c.write_block(7, &nb).unwrap();
        c.set_logical_size(8 * BS as u64);
        c.commit().unwrap();
        drop(c);
        let mut want = models[n - 1].clone();
        want.write(7, &nb);
        want.size = 8 * BS as u64;
        let c = Container::open(f.try_clone().unwrap(), true).unwrap();
        assert_eq!(state_of(&c, std::slice::from_ref(&want)), Some(0));
        // The damaged bytes are still there, byte for byte.
        assert_eq!(&file_bytes(&f)[..v.len()], &v[..]);
        // Compaction keeps the state and drops them.
        let dst = tmp();
        let k = c.compact_into(dst.try_clone().unwrap()).unwrap();
        assert_eq!(k.dead_bytes(), 0);
        drop(k);
        let k = Container::open(dst, false).unwrap();
        assert_eq!(state_of(&k, std::slice::from_ref(&want)), Some(0));
        assert!(k.damage().is_none());
    }
}

/// A damaged commit that shrank the file and rewrote a block: the rebuilt
/// state takes the size from the commit's header (or trailer) and drops
/// the blocks past it, so nothing beyond the new end comes back.
#[test]
fn damaged_shrinking_commit_keeps_its_size() {
    let (f, mut c, mut m) = committed(10, 40);
    let d = data(77, BS, 2);
    c.write_block(1, &d).unwrap();
    m.write(1, &d);
    // A delta: block 1's new record, holes for blocks 8 and 9.
    let size = 8 * BS as u64 - 10;
    c.set_logical_size(size);
    m.truncate(size);
    c.commit().unwrap();
    drop(c);
    let good = file_bytes(&f);
    let t = &good[good.len() - 32..];
    let commit_off = u64::from_le_bytes(t[0..8].try_into().unwrap()) as usize;
    // A damaged header (the trailer names the commit: a delta or a
    // checkpoint?) or hole entry: the rebuild cannot be confirmed, an
    // error. Damaged entries' CRC or one byte of the record entry: the
    // entries (one record, holes for the blocks past the new size)
    // confirm it.
    let entries = commit_off + COMMIT_HEADER_LEN as usize;
    for pos in [commit_off + 3, entries + 24 + 9] {
        let mut v = good.clone();
        v[pos] ^= 0x01;
        let e = Container::open(file_from(&v), false).unwrap_err();
        assert!(e.is_corrupt(), "flip at {pos}: {e}");
    }
    for pos in [good.len() - 36, good.len() - 33, entries + 6] {
        let mut v = good.clone();
        v[pos] ^= 0x01;
        let c = Container::open(file_from(&v), false).unwrap();
        assert!(c.damage().is_some(), "flip at {pos}");
        assert_eq!(
            state_of(&c, std::slice::from_ref(&m)),
            Some(0),
            "flip at {pos}"
        );
    }
}

/// Regression (crash/corruption torture): a damaged newest commit that
/// changed a block without a record (a fill, a hole inside the file) used
/// to be "rebuilt" with that block's old content (or zeros), served as
/// good data. Now the rebuild is used only when the damaged commit's own
/// entries confirm it; otherwise the open is a corruption error (EIO).
#[test]
fn damaged_commit_with_unconfirmable_entries_is_an_error() {
    for first in [true, false] {
        let f = tmp();
        let mut c = Container::create(f.try_clone().unwrap(), BS as u32).unwrap();
        if !first {
            for b in 0..4 {
                c.write_block(b, &data(b + 1, BS, 3)).unwrap();
            }
            c.set_logical_size(4 * BS as u64);
            c.commit().unwrap();
        }
        c.write_block(1, &data(50, BS, 2)).unwrap();
        c.write_block(2, &[7u8; BS]).unwrap(); // a fill: no record
        c.set_logical_size(4 * BS as u64);
        c.commit().unwrap();
        drop(c);
        let good = file_bytes(&f);
        let t = &good[good.len() - 32..];
        let commit_off = u64::from_le_bytes(t[0..8].try_into().unwrap()) as usize;
        for pos in [commit_off + 5, commit_off + 70, good.len() - 36] {
            let mut v = good.clone();
            v[pos] ^= 0x04;
            match Container::open(file_from(&v), false) {
                Err(e) => assert!(e.is_corrupt(), "first {first}, flip at {pos}: {e}"),
                Ok(c) => panic!(
                    "first {first}, flip at {pos}: opened (block 2 reads {:?})",
                    &read(&c, 2)[..4]
                ),
            }
        }
    }
    // The same commit without the fill: the entries name exactly the
    // records written after the last intact commit, so the rebuild holds.
    let (f, mut c, mut m) = committed(4, 1);
    for b in [1, 3] {
        let d = data(60 + b, BS, 2);
        c.write_block(b, &d).unwrap();
        m.write(b, &d);
    }
    c.commit().unwrap();
    drop(c);
    let good = file_bytes(&f);
    let t = &good[good.len() - 32..];
    let commit_off = u64::from_le_bytes(t[0..8].try_into().unwrap()) as usize;
    let mut v = good.clone();
    v[good.len() - 35] ^= 0x80; // the entries' CRC
    let c = Container::open(file_from(&v), false).unwrap();
    assert_eq!(state_of(&c, std::slice::from_ref(&m)), Some(0));
    assert!(c.damage().is_some());
    // One damaged byte in an entry (block number, offset, kind): the entry
    // is still recognised as its record's (the alternatives differ in at
    // least three bytes); two damaged bytes are not.
    for (at, bytes) in [(0, 1), (9, 1), (20, 1), (0, 2)] {
        let mut v = good.clone();
        for k in 0..bytes {
            v[commit_off + COMMIT_HEADER_LEN as usize + at + 8 * k] ^= 0x02;
        }
        match Container::open(file_from(&v), false) {
            Ok(c) => {
                assert_eq!(bytes, 1, "entry byte {at}");
                assert_eq!(state_of(&c, std::slice::from_ref(&m)), Some(0));
            }
            Err(e) => assert!(bytes == 2 && e.is_corrupt(), "entry byte {at}: {e}"),
        }
    }
}

/// Regression (corruption torture): a container cut inside its 32-byte
/// header used to count as "not a container" and be served as plain bytes
/// (its first bytes shown as the file's content). It is a corrupt
/// container; a short file without the magic and version is still plain.
/// (Since 51de6b7 also a cut inside the magic and version, from 2 bytes.)
#[test]
fn container_cut_inside_its_header_is_corrupt() {
    let f = tmp();
    let mut c = Container::create(f.try_clone().unwrap(), BS as u32).unwrap();
    c.write_block(0, b"hello").unwrap();
    c.commit().unwrap();
    drop(c);
    let good = file_bytes(&f);
    // From 2 bytes on (a prefix of the magic and version) it is a cut
    // container; 0 bytes is an empty file, 1 byte (0x0C) plain text.
    for cut in 2..32 {
        let f = file_from(&good[..cut]);
        assert!(Container::is_container(&f).unwrap(), "cut at {cut}");
        let e = Container::open(f, false).unwrap_err();
        assert!(e.is_corrupt(), "cut at {cut}: {e}");
    }
    for cut in 0..2 {
        assert!(!Container::is_container(&file_from(&good[..cut])).unwrap());
    }
    let mut other = good[..20].to_vec();
    other[4] = 1; // a v1 stream header: not a v2 container
    assert!(!Container::is_container(&file_from(&other)).unwrap());
}

/// Regression (corruption torture): a file whose only commit (all fill
/// blocks, no record) was zeroed or overwritten opened as an empty file.
/// With no intact commit, damage where the log stops (a whole header that
/// fails its checks, or bytes right after the file header that do not
/// start a record) is an error; a torn tail (a prefix) still salvages.
#[test]
fn damaged_only_commit_without_records_is_an_error() {
    let f = tmp();
    let mut c = Container::create(f.try_clone().unwrap(), BS as u32).unwrap();
    for b in 0..3 {
        c.write_block(b, &[7u8; BS]).unwrap();
    }
    c.set_logical_size(3 * BS as u64);
    c.commit().unwrap();
    drop(c);
    let good = file_bytes(&f);
    for from in [32, 33, 36, 40, 70, 95] {
        let mut v = good.clone();
        v[from..].fill(0);
        let e = Container::open(file_from(&v), false).unwrap_err();
        assert!(e.is_corrupt(), "zeros from {from}: {e}");
    }
    // A torn first append (a prefix of it): nothing committed, empty.
    for cut in [33, 36, 60, 95, 96, 120] {
        let c = Container::open(file_from(&good[..cut]), false).unwrap();
        assert_eq!(c.logical_size(), 0, "cut at {cut}");
    }
}

/// Block records whose only commit was destroyed: open salvages them (the
/// newest record of each block wins), read-only and writable alike, and a
/// writable container commits them with its next write.
#[test]
fn records_without_a_commit_are_salvaged() {
    let f = tmp();
    let mut c = Container::create(f.try_clone().unwrap(), BS as u32).unwrap();
    let b0 = data(1, BS, 2);
    let b0_new = data(2, BS, 3);
    let b3 = data(3, 1000, 2);
    c.write_block(0, &b0).unwrap();
    c.write_block(3, &b3).unwrap();
    c.write_block(0, &b0_new).unwrap();
    c.write_block(2, &[5u8; 100]).unwrap(); // a fill: no record, not salvageable
    c.set_logical_size(3 * BS as u64 + 1000);
    c.commit().unwrap();
    drop(c);
    let mut v = file_bytes(&f);
    let t = &v[v.len() - 32..];
    let commit_off = u64::from_le_bytes(t[0..8].try_into().unwrap()) as usize;
    // A commit destroyed in place (its trailer still names it) said
    // something no record shows (block 2's fill): the open fails rather
    // than serve block 2 as a hole.
    let mut d = v.clone();
    for x in &mut d[commit_off..commit_off + 40] {
        *x = 0xEE;
    }
    let e = Container::open(file_from(&d), false).unwrap_err();
    assert!(e.is_corrupt(), "{e}");
    // A commit torn by a crash: the records are salvaged.
    v.truncate(commit_off + 40);
    let mut want = Model::default();
    want.write(0, &b0_new);
    want.write(3, &b3);
    want.size = 3 * BS as u64 + 1000;
    let r = Container::open(file_from(&v), false).unwrap();
    assert_eq!(state_of(&r, std::slice::from_ref(&want)), Some(0));
    let f = file_from(&v);
    let mut w = Container::open(f.try_clone().unwrap(), true).unwrap();
    assert_eq!(state_of(&w, std::slice::from_ref(&want)), Some(0));
    w.write_block(1, b"one").unwrap();
    want.write(1, b"one");
    w.commit().unwrap();
    drop(w);
    let r = Container::open(f.try_clone().unwrap(), false).unwrap();
    assert_eq!(state_of(&r, std::slice::from_ref(&want)), Some(0));
    assert_eq!(&file_bytes(&f)[..v.len()], &v[..]);
    // Garbage only (no intact record, no commit): not a torn append (a
    // crash leaves a prefix of records), so damage: an error, nothing cut.
    let mut g = vec![0u8; 32];
    g.copy_from_slice(&v[..32]);
    g.extend_from_slice(&[0x5Au8; 3000]);
    let f = file_from(&g);
    let e = Container::open(f.try_clone().unwrap(), true).unwrap_err();
    assert!(e.is_corrupt(), "{e}");
    assert_eq!(f.metadata().unwrap().len(), g.len() as u64);
}

/// Crash cycles: a torn append, a writable open that writes and commits,
/// another torn append: every open lands on the newest complete state and
/// the bytes before each tear are never changed.
#[test]
fn repeated_torn_appends_keep_every_commit() {
    let f = tmp();
    let mut c = Container::create(f.try_clone().unwrap(), BS as u32).unwrap();
    let mut m = Model::default();
    for round in 0..6u64 {
        let d = data(round, BS, 2 + (round % 2) as u8);
        c.write_block(round % 3, &d).unwrap();
        m.write(round % 3, &d);
        m.truncate(3 * BS as u64);
        c.set_logical_size(3 * BS as u64);
        c.commit().unwrap();
        // A torn append: a record and half a commit, then the "crash".
        c.write_block(round % 3, &data(100 + round, BS, 2)).unwrap();
        c.set_logical_size(2 * BS as u64);
        c.commit().unwrap();
        drop(c);
        let len = f.metadata().unwrap().len();
        f.set_len(len - 50).unwrap();
        let before = file_bytes(&f);
        c = Container::open(f.try_clone().unwrap(), true).unwrap();
        assert_eq!(
            state_of(&c, std::slice::from_ref(&m)),
            Some(0),
            "round {round}"
        );
        assert_eq!(file_bytes(&f), before, "round {round}");
    }
}

/// Well-checksummed but hostile metadata: every case is an error or a
/// harmless state, never a panic, hang or huge allocation.
#[test]
fn hostile_metadata_is_rejected() {
    let salt = 0xDEAD_BEEF;
    // An entry pointing outside the file.
    let e_out = DiskEntry {
        block_no: 0,
        offset: 1 << 50,
        len: 100,
        kind: KIND_STORED,
        fill: 0,
    };
    let f = craft(salt, |v| push_commit(v, salt, ckpt(32, 1, 4096), &[e_out]));
    assert!(Container::open(f, false).unwrap_err().is_corrupt());
    // Length near u32::MAX, offset near u64::MAX.
    for (offset, len) in [(32, u32::MAX), (u64::MAX - 10, 10), (u64::MAX, u32::MAX)] {
        let e = DiskEntry {
            block_no: 0,
            offset,
            len,
            kind: KIND_STORED,
            fill: 0,
        };
        let f = craft(salt, |v| push_commit(v, salt, ckpt(32, 1, 4096), &[e]));
        assert!(Container::open(f, false).unwrap_err().is_corrupt());
    }
    // Block number past 2^63-1 bytes.
    let e = DiskEntry {
        block_no: u64::MAX,
        offset: 0,
        len: 5,
        kind: 3,
        fill: 1,
    };
    let f = craft(salt, |v| push_commit(v, salt, ckpt(32, 1, 4096), &[e]));
    assert!(Container::open(f, false).unwrap_err().is_corrupt());
    // Entry count near u64::MAX with a valid header CRC: the trailer path
    // rejects it, the scan stops, the container opens empty.
    let f = craft(salt, |v| {
        push_commit(v, salt, ckpt(32, 0, 0), &[]);
        let at = v.len() - 32 - 4 - 64;
        let h = ckpt(at as u64, u64::MAX / 2, 0);
        v[at..at + 64].copy_from_slice(&h.encode(salt));
    });
    match Container::open(f, false) {
        Ok(c) => assert_eq!(c.logical_size(), 0),
        Err(e) => assert!(e.is_corrupt(), "{e}"),
    }
    // Logical size above 2^63-1.
    // (A whole commit header that fails its checks with nothing intact
    // before it is damage, not a torn tail: an error.)
    let f = craft(salt, |v| push_commit(v, salt, ckpt(32, 0, u64::MAX), &[]));
    assert!(Container::open(f, false).unwrap_err().is_corrupt());
    // A delta whose chain points forward / at itself.
    let f = craft(salt, |v| {
        push_commit(v, salt, ckpt(32, 0, 0), &[]);
        let off = v.len() as u64;
        let mut d = ckpt(off, 0, 0);
        d.flags = 0;
        d.seq = 2;
        d.chain_len = 1;
        d.prev_commit = off;
        d.checkpoint = 32;
        push_commit(v, salt, d, &[]);
    });
    let c = Container::open(f, false);
    assert!(c.map(|c| c.logical_size() == 0).unwrap_or(true));
    // A delta whose prev is not the commit with seq - 1.
    let f = craft(salt, |v| {
        push_commit(v, salt, ckpt(32, 0, 0), &[]);
        let off = v.len() as u64;
        let mut d = ckpt(off, 0, 10);
        d.flags = 0;
        d.seq = 7;
        d.chain_len = 1;
        d.prev_commit = 32;
        d.checkpoint = 32;
        push_commit(v, salt, d, &[]);
    });
    assert!(Container::open(f, false).unwrap_err().is_corrupt());
    // Entries out of order.
    let fill = |b| DiskEntry {
        block_no: b,
        offset: 0,
        len: 10,
        kind: 3,
        fill: 1,
    };
    let f = craft(salt, |v| {
        push_commit(v, salt, ckpt(32, 2, 8192), &[fill(1), fill(0)])
    });
    assert!(Container::open(f, false).unwrap_err().is_corrupt());
    // ...and in order it works.
    let f = craft(salt, |v| {
        push_commit(v, salt, ckpt(32, 2, 8192), &[fill(0), fill(1)])
    });
    assert_eq!(
        Container::open(f, false).unwrap().block_kind(1),
        BlockKind::Fill(1)
    );
    // Bad headers.
    assert!(matches!(
        Container::open(file_from(b"\x0c\x00\x0d\x0e\x01\x00"), false),
        Err(ContainerError::NotContainer(_))
    ));
    assert!(Container::open(file_from(b""), false).is_err());
    let mut h = FileHeader::new(30, salt).encode();
    assert!(Container::open(file_from(&h), false)
        .unwrap_err()
        .is_corrupt());
    h[31] ^= 1;
    assert!(Container::open(file_from(&h), false).is_err());
}

/// Block 2^40 of a 4 KiB container (a 4 PiB sparse file) costs one record.
#[test]
fn huge_sparse_file() {
    let f = tmp();
    let mut c = Container::create(f.try_clone().unwrap(), BS as u32).unwrap();
    let far = 1u64 << 40;
    c.write_block(0, b"start").unwrap();
    c.write_block(far, b"far away").unwrap();
    c.set_logical_size((far + 1) * BS as u64);
    c.commit().unwrap();
    assert!(f.metadata().unwrap().len() < 1000);
    let c = Container::open(f.try_clone().unwrap(), true).unwrap();
    assert_eq!(&read(&c, far)[..8], b"far away");
    assert_eq!(c.next_data_block(1), Some(far));
    assert_eq!(c.next_data_block(far + 1), None);
    assert_eq!(c.stats().holes, far - 1);
    // Maximum size.
    let mut c = c;
    c.set_logical_size(u64::MAX);
    assert_eq!(c.logical_size(), i64::MAX as u64);
    let max = c.max_block_no();
    c.write_block(max, b"last").unwrap();
    c.commit().unwrap();
    let s = scfs::container::read_summary(&f).unwrap();
    assert_eq!(s.logical_size, i64::MAX as u64);
    assert!(s.clean);
    let c = Container::open(f, false).unwrap();
    assert_eq!(&read(&c, max)[..4], b"last");
}

/// Overwrites make dead space; compaction keeps the contents and shrinks
/// the file.
#[test]
fn compaction_preserves_contents_and_shrinks() {
    let f = tmp();
    let mut c = Container::create(f.try_clone().unwrap(), BS as u32).unwrap();
    let mut m = Model::default();
    for round in 0..20u64 {
        for b in 0..40u64 {
            let d = data(round * 100 + b, BS, 2);
            c.write_block(b, &d).unwrap();
            m.write(b, &d);
        }
        c.commit().unwrap();
    }
    c.set_logical_size(40 * BS as u64);
    m.truncate(40 * BS as u64);
    c.commit().unwrap();
    let before = c.stats();
    assert!(c.needs_compaction(CompactWhen::AtRest), "{before:?}");
    assert!(before.dead_bytes > 15 * before.live_bytes);
    let dst = tmp();
    let n = c.compact_into(dst.try_clone().unwrap()).unwrap();
    let after = n.stats();
    assert_eq!(after.dead_bytes, 0);
    assert!(!n.needs_compaction(CompactWhen::AtRest));
    assert!(!n.needs_compaction(CompactWhen::InUse));
    assert!(after.file_len < before.file_len / 10, "{after:?}");
    assert_eq!(after.file_len, dst.metadata().unwrap().len());
    check(&n, &m, &[0, 39, 40]);
    drop(n);
    let r = Container::open(dst, false).unwrap();
    check(&r, &m, &[0, 39, 40]);
    assert_eq!(r.stats().live_bytes, after.live_bytes);
}

/// A one-block update of a 1000-block container grows the file by the
/// block record plus a small delta, also amortized over many commits.
#[test]
fn one_block_update_costs_o_block() {
    let f = tmp();
    let mut c = Container::create(f.try_clone().unwrap(), BS as u32).unwrap();
    for b in 0..1000u64 {
        c.write_block(b, &data(b, BS, 2)).unwrap();
    }
    c.set_logical_size(1000 * BS as u64);
    c.commit().unwrap();
    let base = f.metadata().unwrap().len();
    assert!(base > 1000 * BS as u64);
    let e = Container::encode(500, &data(9999, BS, 2), Compression::default());
    let rec = e.record_len();
    c.put_block(e).unwrap();
    c.commit().unwrap();
    let grown = f.metadata().unwrap().len() - base;
    assert_eq!(grown, rec + 124, "one record plus a one-entry delta");
    // Many single-block commits: checkpoints amortized.
    let start = f.metadata().unwrap().len();
    let mut recs = 0;
    let n = 3000u64;
    for i in 0..n {
        let e = Container::encode(i * 7 % 1000, &data(i, BS, 2), Compression::default());
        recs += e.record_len();
        c.put_block(e).unwrap();
        c.commit().unwrap();
    }
    let overhead = (f.metadata().unwrap().len() - start - recs) / n;
    assert!(overhead < 300, "metadata bytes per commit {overhead}");
    assert!(c.stats().chain_len <= 1024);
    let r = Container::open(f, false).unwrap();
    assert_eq!(read(&r, (n - 1) * 7 % 1000), data(n - 1, BS, 2));
}

/// read_summary: header and trailer give the size; a torn tail falls back.
#[test]
fn summary_reads_size() {
    let (snaps, models) = history();
    let last = snaps.last().unwrap();
    let s = scfs::container::read_summary(&file_from(last)).unwrap();
    assert_eq!(s.logical_size, models.last().unwrap().size);
    assert_eq!(s.block_size, BS as u32);
    assert!(s.clean);
    let s = scfs::container::read_summary(&file_from(&last[..last.len() - 3])).unwrap();
    assert_eq!(s.logical_size, models[models.len() - 2].size);
    assert!(!s.clean);
    let s = scfs::container::read_summary(&file_from(&snaps[0])).unwrap();
    assert_eq!(s.logical_size, 0);
}

/// Numbers for the report: `cargo test --release --test container -- --ignored --nocapture`.
#[test]
#[ignore]
fn measure_open_and_commit_costs() {
    let f = tmp();
    let bs = 1 << 16;
    let mut c = Container::create(f.try_clone().unwrap(), bs).unwrap();
    let blocks = 16384u64; // 1 GiB logical
    let d = data(1, bs as usize, 3);
    let t = std::time::Instant::now();
    for b in 0..blocks {
        let mut v = d.clone();
        v[0] = b as u8;
        c.write_block(b, &v).unwrap();
    }
    c.set_logical_size(blocks * bs as u64);
    c.commit().unwrap();
    println!(
        "write {blocks} blocks: {:?}, file {} bytes",
        t.elapsed(),
        c.file_len()
    );
    let base = c.file_len();
    let e = Container::encode(77, &data(2, 4096, 3), Compression::default());
    let rec = e.record_len();
    c.put_block(e).unwrap();
    c.commit().unwrap();
    println!(
        "one-block update: record {rec} + commit {} bytes",
        c.file_len() - base - rec
    );
    let start = c.file_len();
    let mut recs = 0;
    for i in 0..5000u64 {
        let e = Container::encode(i * 13 % blocks, &data(i, 4096, 3), Compression::default());
        recs += e.record_len();
        c.put_block(e).unwrap();
        c.commit().unwrap();
    }
    println!(
        "5000 single-block commits: metadata {} bytes/commit amortized, chain {}",
        (c.file_len() - start - recs) / 5000,
        c.stats().chain_len
    );
    for _ in 0..3 {
        let t = std::time::Instant::now();
        let r = Container::open(f.try_clone().unwrap(), false).unwrap();
        println!(
            "open ({} entries, chain {}): {:?}",
            r.stats().huffman + r.stats().stored,
            r.stats().chain_len,
            t.elapsed()
        );
    }
    let t = std::time::Instant::now();
    let s = scfs::container::read_summary(&f).unwrap();
    println!("read_summary: {:?} ({} bytes)", t.elapsed(), s.logical_size);
    // A big index: 1M fill entries (no records) in one checkpoint.
    let g = tmp();
    let mut big = Container::create(g.try_clone().unwrap(), 4096).unwrap();
    let fill = vec![1u8; 4096];
    for b in 0..1_000_000u64 {
        big.write_block(b * 2, &fill).unwrap();
    }
    big.set_logical_size(2_000_000 * 4096);
    big.commit().unwrap();
    for _ in 0..2 {
        let t = std::time::Instant::now();
        let r = Container::open(g.try_clone().unwrap(), false).unwrap();
        println!(
            "open of a 1M-entry checkpoint ({} bytes): {:?}",
            r.file_len(),
            t.elapsed()
        );
    }
    // Torn tail: scan.
    f.set_len(c.file_len() - 1).unwrap();
    let t = std::time::Instant::now();
    let r = Container::open(f.try_clone().unwrap(), false).unwrap();
    println!(
        "open with torn tail (scan): {:?}, seq {}",
        t.elapsed(),
        r.stats().seq
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Random damage (byte flips anywhere, a cut) to a container with a
    /// history: open and reads never panic, and every block that reads
    /// successfully holds a version some committed state gave it.
    #[test]
    fn random_damage_never_gives_garbage(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 0..4),
        cut in proptest::option::of(any::<prop::sample::Index>()),
    ) {
        let (snaps, models) = history_cached();
        let mut v = snaps.last().unwrap().clone();
        for (i, x) in flips {
            let at = i.index(v.len());
            v[at] ^= x;
        }
        if let Some(c) = cut {
            v.truncate(c.index(v.len() + 1));
        }
        if let Ok(c) = Container::open(file_from(&v), false) {
            let mut out = vec![0u8; BS];
            for b in c.data_blocks().map(|(b, _)| b).collect::<Vec<_>>() {
                match c.read_block(b, &mut out) {
                    Ok(()) => prop_assert!(
                        models.iter().any(|m| m.blocks.get(&b) == Some(&out)),
                        "block {} reads as data no state had", b
                    ),
                    Err(e) => prop_assert!(e.is_corrupt(), "{}", e),
                }
            }
        }
    }
}

fn history_cached() -> &'static (Vec<Vec<u8>>, Vec<Model>) {
    static H: std::sync::OnceLock<(Vec<Vec<u8>>, Vec<Model>)> = std::sync::OnceLock::new();
    H.get_or_init(history)
}

fn wild_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..300,
        Just(u64::MAX),
        Just(u64::MAX - 31),
        Just(i64::MAX as u64),
        Just(1u64 << 40),
        any::<u64>(),
    ]
}

fn wild_u32() -> impl Strategy<Value = u32> {
    prop_oneof![
        0u32..5,
        Just(4096),
        Just(4097),
        Just(u32::MAX),
        any::<u32>()
    ]
}

fn wild_entry() -> impl Strategy<Value = DiskEntry> {
    (wild_u64(), wild_u64(), wild_u32(), 0u8..6, any::<u8>()).prop_map(
        |(block_no, offset, len, kind, fill)| DiskEntry {
            block_no,
            offset,
            len,
            kind,
            fill,
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Commits with valid checksums but arbitrary fields (what a fuzzer
    /// cannot forge past the salted CRCs): open and reads never panic or
    /// hang, and whatever opens reads only within the file.
    #[test]
    fn checksummed_hostile_commits_never_panic(
        real_block in proptest::bool::ANY,
        flags in 0u8..3,
        seq in wild_u64(),
        size in wild_u64(),
        prev in wild_u64(),
        ckpt_off in wild_u64(),
        chain_len in wild_u32(),
        entries in proptest::collection::vec(wild_entry(), 0..6),
        second in proptest::bool::ANY,
    ) {
        let salt = 77;
        let f = craft(salt, |v| {
            if real_block {
                // A genuine stored record for block 0 at offset 32.
                let mut rec = vec![0u8; 32];
                let payload = b"hello world".to_vec();
                scfs::container::format::RecordHeader {
                    kind: KIND_STORED,
                    block_no: 0,
                    decoded_len: payload.len() as u32,
                    payload_len: payload.len() as u32,
                    data_crc: crc32c::crc32c(&payload),
                }
                .encode(salt, &mut rec);
                v.extend_from_slice(&rec);
                v.extend_from_slice(&payload);
            }
            let off = v.len() as u64;
            let h = CommitHeader {
                flags,
                seq,
                logical_size: size,
                prev_commit: prev,
                checkpoint: if ckpt_off % 2 == 0 { off } else { ckpt_off },
                entry_count: entries.len() as u64,
                chain_len,
                packed: None,
            };
            push_commit(v, salt, h, &entries);
            if second {
                let off2 = v.len() as u64;
                let mut h2 = h;
                h2.flags = 0;
                h2.seq = seq.wrapping_add(1);
                h2.prev_commit = off;
                h2.chain_len = chain_len.wrapping_add(1);
                if h2.checkpoint == off2 {
                    h2.checkpoint = off;
                }
                push_commit(v, salt, h2, &entries);
            }
        });
        let len = f.metadata().unwrap().len();
        if let Ok(c) = Container::open(f, false) {
            let mut out = vec![0u8; 4096];
            for b in c.data_blocks().map(|(b, _)| b).collect::<Vec<_>>() {
                if let Some(o) = c.record_offset(b) {
                    prop_assert!(o < len);
                }
                let _ = c.read_block(b, &mut out);
            }
            let _ = c.stats();
        }
    }
}
