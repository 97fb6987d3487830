//! Round trips of every level and the decoder's answers to hostile
//! payloads (docs/FORMAT.md section 5).

use super::*;
use crate::codec::{decode_block, CodecError};
use encode::{Parse, Writer};

/// Encodes at `level` and decodes whatever coding was chosen.
pub(crate) fn roundtrip(data: &[u8], level: Level) -> BlockCoding {
    let mut out = Vec::new();
    let c = encode_block_level(data, level, &mut out);
    let mut back = vec![0xAAu8; data.len()];
    match c {
        BlockCoding::Zero => {
            assert!(out.is_empty());
            assert!(data.iter().all(|&b| b == 0));
        }
        BlockCoding::Fill(b) => {
            assert!(out.is_empty());
            assert!(data.iter().all(|&x| x == b));
        }
        BlockCoding::Raw => assert!(out.is_empty()),
        BlockCoding::Huffman => {
            assert!(out.len() < data.len());
            decode_block(&out, &mut back).unwrap();
            assert!(back == data, "huffman roundtrip at {level:?}");
        }
        BlockCoding::Lz => {
            assert!(out.len() < data.len());
            decode_lz_block(&out, &mut back).unwrap();
            assert!(back == data, "lz roundtrip at {level:?}, n={}", data.len());
        }
    }
    c
}

/// Deterministic pseudo-random bytes.
pub(crate) fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
        | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Text-like data with many repeats.
pub(crate) fn texty(n: usize, seed: u64) -> Vec<u8> {
    let words = [
        "the ",
        "quick ",
        "brown ",
        "fox ",
        "jumps ",
        "over ",
        "lazy ",
        "dog ",
        "and ",
        "a ",
        "compression ",
        "block ",
        "of ",
        "data\n",
        "1234 ",
        "scfs ",
    ];
    let r = noise(n, seed);
    let mut v = Vec::with_capacity(n + 16);
    let mut i = 0;
    while v.len() < n {
        v.extend_from_slice(words[(r[i % n] & 15) as usize].as_bytes());
        i += 1;
    }
    v.truncate(n);
    v
}

#[test]
fn levels_parse_and_name() {
    for l in Level::ALL {
        assert_eq!(l.name().parse::<Level>().unwrap(), l);
    }
    let e = "zstd".parse::<Level>().unwrap_err();
    assert!(e.contains("huffman, fast, default, max"), "{e}");
}

#[test]
fn text_roundtrips_as_lz() {
    for level in [Level::Fast, Level::Default, Level::Max] {
        let d = texty(65536, 1);
        assert_eq!(roundtrip(&d, level), BlockCoding::Lz, "{level:?}");
    }
}

#[test]
fn hostile_short_payloads() {
    let mut out = [0u8; 100];
    for p in [&[][..], &[0], &[0, 0], &[1, 0, 0], &[0, 3, 100], &[0x80, 0]] {
        assert!(decode_lz_block(p, &mut out).is_err(), "{p:?}");
    }
    let _: CodecError = LzError::Trailing { extra: 1 }.into();
}

/// Runs of a few byte values with random lengths.
fn runs(n: usize, seed: u64) -> Vec<u8> {
    let r = noise(n, seed);
    let mut v = Vec::with_capacity(n);
    let mut i = 0;
    while v.len() < n {
        let len = 1 + (r[i % n] as usize % 40);
        v.extend(std::iter::repeat_n(r[(i + 1) % n] & 7, len));
        i += 2;
    }
    v.truncate(n);
    v
}

/// Text, noise and runs mixed in 1000-byte pieces.
fn mixed(n: usize, seed: u64) -> Vec<u8> {
    let (t, z, u) = (texty(n, seed), noise(n, seed + 1), runs(n, seed + 2));
    (0..n)
        .map(|i| match (i / 1000) % 3 {
            0 => t[i],
            1 => z[i],
            _ => u[i],
        })
        .collect()
}

const LZ_LEVELS: [Level; 3] = [Level::Fast, Level::Default, Level::Max];

#[test]
fn small_and_boundary_sizes_roundtrip() {
    let sizes = [
        1usize, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 18, 24, 31, 32, 33, 47, 48, 63, 64, 65, 100, 255,
        256, 257, 1000, 4095, 4096, 4097, 65535, 65536,
    ];
    for &n in &sizes {
        for (k, data) in [
            texty(n, 3),
            noise(n, 4),
            runs(n, 5),
            mixed(n, 6),
            vec![7; n],
        ]
        .iter()
        .enumerate()
        {
            for level in Level::ALL {
                roundtrip(data, level);
            }
            let _ = k;
        }
    }
}

#[test]
fn every_block_size_roundtrips() {
    let mut k = 12;
    while k <= 20 {
        let n = 1usize << k;
        for data in [texty(n, k as u64), mixed(n, 9 + k as u64)] {
            for level in LZ_LEVELS {
                roundtrip(&data, level);
            }
        }
        k += 1;
    }
    // One past the limit is Raw, empty is Zero.
    let big = texty(MAX_BLOCK_LEN + 1, 1);
    assert_eq!(
        encode_block_level(&big, Level::Fast, &mut Vec::new()),
        BlockCoding::Raw
    );
    assert_eq!(
        encode_block_level(&[], Level::Max, &mut Vec::new()),
        BlockCoding::Zero
    );
}

#[test]
fn incompressible_is_raw_and_runs_are_fill() {
    for level in LZ_LEVELS {
        assert_eq!(roundtrip(&noise(65536, 11), level), BlockCoding::Raw);
        assert_eq!(roundtrip(&[9u8; 5000], level), BlockCoding::Fill(9));
        assert_eq!(roundtrip(&[0u8; 5000], level), BlockCoding::Zero);
    }
}

/// Early exit: random blocks never reach the LZ coder (from 2000 bytes on,
/// not even the probe), and
/// random-looking blocks (here 200 of the 256 byte values, which Huffman
/// codes at ~7.6 bits) are given up after the `fast` probe, with exactly
/// the `huffman` level's output.
#[test]
fn random_looking_blocks_are_not_coded_with_lz() {
    let tries = || TRIES.with(|t| t.get());
    let given_up = || GIVEN_UP.with(|t| t.get());
    for level in LZ_LEVELS {
        for (i, n) in [300usize, 700, 2000, 5000, 65536, 131072]
            .into_iter()
            .enumerate()
        {
            let (t0, g0) = (tries(), given_up());
            assert_eq!(roundtrip(&noise(n, 40 + i as u64), level), BlockCoding::Raw);
            // Short blocks may take the probe (their order-0 estimate is
            // too rough), longer ones not even that.
            let (t, g) = (tries() - t0, given_up() - g0);
            assert_eq!(t, g, "random block of {n} bytes coded with LZ at {level:?}");
            assert!(
                n < 2000 || t == 0,
                "random block of {n} bytes probed at {level:?}"
            );
        }
        let d: Vec<u8> = noise(131072, 7).iter().map(|&b| b % 200).collect();
        let (t0, g0) = (tries(), given_up());
        let mut lz = Vec::new();
        let c = encode_block_level(&d, level, &mut lz);
        let mut huff = Vec::new();
        assert_eq!(c, encode_block(&d, &mut huff));
        assert_eq!(c, BlockCoding::Huffman);
        assert!(lz == huff, "{level:?}");
        assert_eq!((tries() - t0, given_up() - g0), (1, 1), "{level:?}");
    }
}

/// A block's coding depends on the block alone, not on the blocks this
/// thread coded before (the `fast` hash table is not cleared between
/// blocks).
#[test]
fn coding_does_not_depend_on_earlier_blocks() {
    let blocks = [
        texty(70_000, 5),
        mixed(40_000, 6),
        texty(3000, 7),
        runs(9000, 8),
    ];
    let first: Vec<Vec<u8>> = blocks.iter().map(|b| lz_payload(b, Level::Fast)).collect();
    for round in 0..3 {
        for (i, b) in blocks.iter().enumerate().rev() {
            // Other history in between: other blocks, other sizes.
            lz_payload(&texty(1000 + 7000 * round + i, 99), Level::Fast);
            assert!(
                lz_payload(b, Level::Fast) == first[i],
                "block {i} round {round}"
            );
        }
    }
}

#[test]
fn long_range_repeats_use_lz() {
    // A block of text-like data repeated at a far offset and a pattern
    // of period 3 (overlapping matches).
    let mut d = texty(300_000, 21);
    let head = d[..200_000].to_vec();
    d.extend_from_slice(&head);
    d.extend(std::iter::repeat_n([1u8, 2, 3], 20_000).flatten());
    d.truncate(MAX_BLOCK_LEN);
    for level in LZ_LEVELS {
        assert_eq!(roundtrip(&d, level), BlockCoding::Lz);
    }
}

/// The Silesia corpus, if present (`/work/shared/corpus/silesia` or
/// `$SCFS_CORPUS`): 64 KiB slices of every file at every level.
#[test]
fn silesia_slices_roundtrip() {
    let dir =
        std::env::var("SCFS_CORPUS").unwrap_or_else(|_| "/work/shared/corpus/silesia".to_string());
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("no corpus at {dir}: skipped");
        return;
    };
    for e in entries.flatten() {
        let Ok(data) = std::fs::read(e.path()) else {
            continue;
        };
        for off in [0, data.len() / 2, data.len().saturating_sub(131_072)] {
            let slice = &data[off.min(data.len())..(off + 131_072).min(data.len())];
            for level in LZ_LEVELS {
                roundtrip(slice, level);
            }
        }
    }
}

/// A valid LZ payload of `data` at `level`.
fn lz_payload(data: &[u8], level: Level) -> Vec<u8> {
    let mut out = Vec::new();
    assert_eq!(encode_block_level(data, level, &mut out), BlockCoding::Lz);
    out
}

#[test]
fn truncations_are_errors_and_bit_flips_never_panic() {
    for (data, level) in [
        (texty(5000, 31), Level::Fast),
        (mixed(20_000, 32), Level::Default),
        (runs(3000, 33), Level::Max),
    ] {
        let p = lz_payload(&data, level);
        let mut out = vec![0u8; data.len()];
        for cut in 0..p.len() {
            assert!(
                decode_lz_block(&p[..cut], &mut out).is_err(),
                "prefix {cut}"
            );
        }
        let mut extra = p.clone();
        extra.push(0);
        assert!(decode_lz_block(&extra, &mut out).is_err(), "trailing byte");
        let mut q = p.clone();
        for i in 0..q.len() * 8 {
            q[i / 8] ^= 1 << (i % 8);
            // Err or some bytes of the right length; never a panic.
            let _ = decode_lz_block(&q, &mut out);
            q[i / 8] ^= 1 << (i % 8);
        }
        // Wrong decoded lengths.
        for n in [data.len() - 1, data.len() + 1] {
            assert!(decode_lz_block(&p, &mut vec![0u8; n]).is_err());
        }
        decode_lz_block(&p, &mut out).unwrap();
        assert!(out == data);
    }
}

/// The payload of a hand-made parse (not necessarily valid).
fn payload_of(seqs: &[encode::Seq], lits: &[u8]) -> Vec<u8> {
    let parse = Parse {
        seqs: seqs.to_vec(),
        lits: lits.to_vec(),
    };
    let mut out = Vec::new();
    Writer::default().write(&parse, &mut out);
    out
}

fn seq(ll: u32, ml: u32, off: u32) -> encode::Seq {
    encode::Seq { ll, ml, off }
}

fn lz_err(p: &[u8], n: usize) -> LzError {
    let mut out = vec![0u8; n];
    match decode_lz_block(p, &mut out).unwrap_err() {
        CodecError::Lz(e) => e,
        e => panic!("not an LZ error: {e}"),
    }
}

#[test]
fn hand_made_parses_decode() {
    // "abcabcabcabc": 3 literals, one overlapping match at offset 3.
    let p = payload_of(&[seq(3, 9, 3)], b"abc");
    let mut out = vec![0u8; 12];
    decode_lz_block(&p, &mut out).unwrap();
    assert_eq!(&out, b"abcabcabcabc");
    // Repeat offsets: offset 4 is R1 at the start, 8 is R2.
    let lits = b"0123456789ABCDEF";
    let p = payload_of(&[seq(8, 4, 4), seq(4, 3, 8), seq(4, 3, 4)], lits);
    let mut out = vec![0u8; 16 + 10];
    decode_lz_block(&p, &mut out).unwrap();
    assert_eq!(&out, b"01234567456789AB456CDEFCDE");
}

#[test]
fn hostile_parses_are_rejected_with_their_data() {
    // Offset past the start.
    let p = payload_of(&[seq(2, 5, 3)], b"ab");
    assert_eq!(
        lz_err(&p, 7),
        LzError::OffsetBeforeStart {
            seq: 0,
            pos: 2,
            offset: 3
        }
    );
    // Match past the end of the block.
    let p = payload_of(&[seq(2, 9, 1)], b"ab");
    assert_eq!(
        lz_err(&p, 8),
        LzError::PastEnd {
            seq: 0,
            end: 11,
            len: 8
        }
    );
    // More literals used than given: ll = 5 with 2 literals.
    let p = payload_of(&[seq(5, 3, 1)], b"ab");
    assert!(matches!(lz_err(&p, 8), LzError::LiteralsOverrun { .. }));
    // Lengths that do not add up (one byte short / long).
    let p = payload_of(&[seq(2, 3, 1)], b"abc");
    assert!(matches!(lz_err(&p, 7), LzError::LengthMismatch { .. }));
    assert!(matches!(lz_err(&p, 5), LzError::LengthMismatch { .. }));
    // Counts too large for the block.
    assert!(matches!(lz_err(&[200, 1, 0, 0], 30), LzError::Count { .. }));
    assert!(matches!(lz_err(&[0, 0, 40], 30), LzError::Count { .. }));
    // Unknown literal mode, non-minimal varint, empty fill.
    assert_eq!(lz_err(&[0, 7, 1, 0], 1), LzError::LiteralMode { mode: 7 });
    assert!(matches!(
        lz_err(&[0x80, 0x00, 0, 1, 9], 1),
        LzError::BadVarint { .. }
    ));
    assert!(matches!(lz_err(&[0, 2, 0, 5], 1), LzError::Count { .. }));
    // nseq = 0: all literals, nothing after them.
    let mut out = [0u8; 3];
    decode_lz_block(&[0, 0, 3, b'x', b'y', b'z'], &mut out).unwrap();
    assert_eq!(&out, b"xyz");
    assert_eq!(
        lz_err(&[0, 0, 3, 1, 2, 3, 4], 3),
        LzError::Trailing { extra: 1 }
    );
    assert!(matches!(
        lz_err(&[0, 0, 2, 1, 2], 3),
        LzError::LengthMismatch { .. }
    ));
}

#[test]
fn hostile_tables_are_rejected() {
    let p = payload_of(&[seq(2, 5, 1), seq(0, 4, 2)], b"ab");
    let mut out = vec![0u8; 11];
    decode_lz_block(&p, &mut out).unwrap();
    // The LL table starts after "nseq lmode nlit literals" = 5 bytes.
    let t = 5;
    // Mode 2 ("previous table") in the LL table.
    let mut q = p.clone();
    q[t] = (q[t] & !3) | 2;
    assert!(matches!(lz_err(&q, 11), LzError::Table { which: "LL", .. }));
    // A one-symbol LL table naming a symbol past the alphabet.
    let mut q = p[..t].to_vec();
    q.extend_from_slice(&[(200 << 2) as u8, (200 >> 6) as u8]);
    q.extend_from_slice(&p[t..]);
    assert!(matches!(
        lz_err(&q, 11),
        LzError::SymbolOutOfRange { which: "LL", .. } | LzError::Table { .. }
    ));
}

mod props {
    use super::*;
    use proptest::prelude::*;

    /// Data with repeats: pieces of a small alphabet, copied from earlier
    /// at random distances.
    fn repetitive() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec((0u8..6, 1usize..40, 0usize..5000, any::<bool>()), 1..200)
            .prop_map(|ops| {
                let mut v: Vec<u8> = Vec::new();
                for (b, len, dist, copy) in ops {
                    if copy && dist < v.len() {
                        let start = v.len() - 1 - dist;
                        for i in 0..len {
                            v.push(v[start + i]);
                        }
                    } else {
                        v.extend(std::iter::repeat_n(b'a' + b, len));
                    }
                }
                v
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn any_bytes_roundtrip(data in proptest::collection::vec(any::<u8>(), 1..3000)) {
            for level in Level::ALL {
                roundtrip(&data, level);
            }
        }

        #[test]
        fn repetitive_data_roundtrips(data in repetitive()) {
            for level in Level::ALL {
                roundtrip(&data, level);
            }
        }
    }
}

/// A varint as the format writes it (tests build payloads by hand).
fn put_var(out: &mut Vec<u8>, mut v: usize) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_var(p: &[u8], pos: &mut usize) -> usize {
    let mut v = 0;
    for i in 0.. {
        let b = p[*pos];
        *pos += 1;
        v |= usize::from(b & 0x7F) << (7 * i);
        if b & 0x80 == 0 {
            break;
        }
    }
    v
}

/// Payloads whose LL, ML or OF stream is cut short (its size field made
/// smaller, its tail removed) or made longer (zero bytes added), over
/// hundreds of sequences so that the decoder meets the cut at a batch
/// boundary as well as inside a batch: always an error, never a panic or
/// an overrun (the sequence loop reads the streams without per-read
/// bounds checks, trusting its per-batch check).
#[test]
fn cut_and_padded_sequence_streams_are_errors() {
    let mut seed = 0x5EED_u64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let lits: Vec<u8> = (0..3000).map(|i| b"abcdefghij"[i % 10]).collect();
    let mut seqs = Vec::new();
    let (mut lp, mut op) = (0usize, 0usize);
    while lp + 20 < lits.len() && seqs.len() < 300 {
        let ll = (rnd() % 12) as u32;
        let ml = 3 + (rnd() % 40) as u32;
        lp += ll as usize;
        op += ll as usize;
        let off = 1 + (rnd() % op.max(1) as u64) as u32;
        seqs.push(seq(ll, ml, off.min(op as u32).max(1)));
        op += ml as usize;
    }
    let n = op + (lits.len() - lp);
    let p = payload_of(&seqs, &lits);
    let mut out = vec![0u8; n];
    decode_lz_block(&p, &mut out).expect("the uncut payload decodes");
    // Walk to the stream sizes: header, literal section, three tables.
    let mut pos = 0;
    assert_eq!(get_var(&p, &mut pos), seqs.len());
    let lmode = p[pos];
    pos += 1;
    let nlit = get_var(&p, &mut pos);
    match lmode {
        spec::LMODE_RAW => pos += nlit,
        spec::LMODE_HUFFMAN => {
            let l = get_var(&p, &mut pos);
            pos += l;
        }
        _ => pos += 1,
    }
    let mut prev = None;
    for _ in 0..3 {
        let (l, _, used) = crate::codec::table::decode_table(&p[pos..], prev.as_ref()).unwrap();
        pos += used;
        prev = Some(l);
    }
    let head = pos;
    let ll = get_var(&p, &mut pos);
    let ml = get_var(&p, &mut pos);
    let body = pos;
    let sizes = [ll, ml, p.len() - body - ll - ml];
    assert!(sizes.iter().all(|&s| s > 8), "{sizes:?}");
    let (mut tried, mut overruns) = (0, 0);
    for k in 0..3 {
        for change in [-1isize, -2, -5, -9, -17, -33, 1, 7, 64] {
            let new = sizes[k] as isize + change;
            if new < 0 {
                continue;
            }
            let mut s2 = sizes;
            s2[k] = new as usize;
            let mut q = p[..head].to_vec();
            put_var(&mut q, s2[0]);
            put_var(&mut q, s2[1]);
            let mut at = body;
            for (j, &sz) in sizes.iter().enumerate() {
                let st = &p[at..at + sz];
                at += sz;
                if j == k && change < 0 {
                    q.extend_from_slice(&st[..s2[j]]);
                } else {
                    q.extend_from_slice(st);
                    q.resize(q.len() + s2[j] - sz, 0);
                }
            }
            let mut out = vec![0u8; n];
            match decode_lz_block(&q, &mut out) {
                Ok(()) => panic!("stream {k} changed by {change} bytes decodes"),
                Err(CodecError::Lz(LzError::StreamOverrun { .. })) => overruns += 1,
                Err(_) => {}
            }
            tried += 1;
        }
    }
    assert!(tried >= 20);
    // Some cuts are caught by the per-batch check itself.
    assert!(overruns > 0);
}
