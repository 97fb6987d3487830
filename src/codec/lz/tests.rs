//! Round trips of every level and the decoder's answers to hostile
//! payloads (docs/FORMAT.md section 5).

use super::*;
use crate::codec::{decode_block, CodecError};

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
pub(super) fn runs(n: usize, seed: u64) -> Vec<u8> {
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
pub(super) fn mixed(n: usize, seed: u64) -> Vec<u8> {
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

/// At `fast`, a block whose first 16 KiB are clearly compressible goes
/// to the matcher on that prefix's histogram; the whole block is counted
/// (and compared with Huffman exactly) when LZ does not clearly win, so a
/// block whose rest is random still gets the cheaper coding, and random
/// blocks are decided on the whole block as before.
#[test]
fn fast_prefix_rule_keeps_the_cheapest() {
    let only = || PREFIX_ONLY.with(|t| t.get());
    let huffman_len = |d: &[u8]| {
        let mut h = Vec::new();
        match encode_block(d, &mut h) {
            BlockCoding::Huffman => h.len(),
            _ => d.len(),
        }
    };
    let fast_len = |d: &[u8]| {
        let mut o = Vec::new();
        match encode_block_level(d, Level::Fast, &mut o) {
            BlockCoding::Lz | BlockCoding::Huffman => o.len(),
            _ => d.len(),
        }
    };
    // Homogeneous text: decided from the prefix, LZ.
    let t = texty(131072, 3);
    let o0 = only();
    assert_eq!(roundtrip(&t, Level::Fast), BlockCoding::Lz);
    assert_eq!(only() - o0, 1);
    // Random: never from the prefix.
    let o0 = only();
    assert_eq!(roundtrip(&noise(131072, 5), Level::Fast), BlockCoding::Raw);
    assert_eq!(only() - o0, 0);
    // Text, then noise; noise, then text; a 4-letter alphabet without
    // repeats, then noise (its prefix says 2 bits a byte, the block
    // ~7 bits: LZ does not clearly win, the whole block is compared).
    let mut a = texty(20_000, 4);
    a.extend(noise(111_072, 6));
    let mut b = noise(20_000, 7);
    b.extend(texty(111_072, 8));
    let mut c: Vec<u8> = noise(24_000, 9).iter().map(|&x| b'a' + x % 4).collect();
    c.extend(noise(107_072, 10));
    for (name, d) in [("text+noise", &a), ("noise+text", &b), ("abcd+noise", &c)] {
        let o0 = only();
        let coding = roundtrip(d, Level::Fast);
        let (f, h) = (fast_len(d), huffman_len(d));
        assert!(
            f <= h + h / 100,
            "{name}: fast {f} ({coding:?}) vs huffman {h}"
        );
        if name == "abcd+noise" {
            assert_eq!(only() - o0, 0, "{name}");
        }
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

/// Sequences around the sequence loop's straight-line path: literal runs
/// and matches of 3..=40 bytes (both sides of its 32-byte limit) at
/// offsets 8..=40 (both sides of 16 and 32, chunks that overlap the bytes
/// just written), with the block end close to the last one.
#[test]
fn short_sequences_around_the_chunk_sizes_roundtrip() {
    // Literals from 16 letters: cheap enough that LZ pays at every level.
    let fresh: Vec<u8> = noise(200_000, 77).iter().map(|b| b'a' + b % 16).collect();
    let mut f = 0;
    let mut d = Vec::new();
    for len in 3..=40usize {
        for off in (8..=40usize).step_by(3) {
            let ll = (len * 7 + off) % 41 + 1;
            d.extend_from_slice(&fresh[f..f + ll.max(off)]);
            f += ll.max(off);
            let start = d.len() - off;
            for i in 0..len {
                d.push(d[start + i]);
            }
        }
    }
    for cut in [d.len(), d.len() - 1, d.len() - 17, d.len() - 33] {
        for level in LZ_LEVELS {
            assert_eq!(roundtrip(&d[..cut], level), BlockCoding::Lz, "{level:?}");
        }
    }
}

/// Overlapping matches (offsets 1..=20, the pattern-widening and 8-byte
/// paths of the copies) of 3..=90 bytes, after literal runs of 1..=40,
/// with the block end close to the last one.
#[test]
fn overlapping_matches_of_every_short_offset_roundtrip() {
    let fresh: Vec<u8> = noise(400_000, 91).iter().map(|b| b'a' + b % 16).collect();
    let mut f = 0;
    let mut d = Vec::new();
    for off in 1..=20usize {
        for len in (3..=90usize).step_by(7) {
            let ll = (len * 5 + off) % 40 + 1;
            d.extend_from_slice(&fresh[f..f + ll.max(off)]);
            f += ll.max(off);
            let start = d.len() - off;
            for i in 0..len {
                d.push(d[start + i]);
            }
        }
    }
    for cut in [d.len(), d.len() - 1, d.len() - 9, d.len() - 40] {
        for level in LZ_LEVELS {
            assert_eq!(roundtrip(&d[..cut], level), BlockCoding::Lz, "{level:?}");
        }
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

/// The LZ payload of `data` at `level` (asserts LZ was chosen).
pub(super) fn lz_payload(data: &[u8], level: Level) -> Vec<u8> {
    let mut out = Vec::new();
    assert_eq!(encode_block_level(data, level, &mut out), BlockCoding::Lz);
    out
}

/// Bytes of 120 values, evenly: order-0 ~0.86 of the size, "random-looking".
fn near_random(n: usize, seed: u64) -> Vec<u8> {
    noise(n, seed).iter().map(|&b| b % 120).collect()
}

/// A random-looking block of at most TINY_LEN bytes (any block of at most
/// SMALL_LEN) is coded without LZ, not even probed, with exactly the
/// `huffman` level's output; one byte longer, it is probed again.
#[test]
fn tiny_random_looking_blocks_skip_lz() {
    let count = || {
        (
            TRIES.with(|t| t.get()),
            TINY_SKIPPED.with(|t| t.get()),
            GIVEN_UP.with(|t| t.get()),
        )
    };
    for level in LZ_LEVELS {
        // Coded byte for byte as `huffman` codes it, never tried, skipped once.
        let skipped = |d: &[u8]| {
            let n = d.len();
            let (t0, s0, _) = count();
            let mut lz = Vec::new();
            let c = encode_block_level(d, level, &mut lz);
            let mut huff = Vec::new();
            assert_eq!(c, encode_block(d, &mut huff), "{n} at {level:?}");
            assert!(lz == huff, "{n} at {level:?}");
            let (t, s, _) = count();
            assert_eq!((t - t0, s - s0), (0, 1), "{n} bytes at {level:?}");
            c
        };
        for (i, n) in [300usize, 391, 1000, TINY_LEN].into_iter().enumerate() {
            let d = near_random(n, 60 + i as u64);
            let c = skipped(&d);
            assert_eq!(roundtrip(&d, level), c);
        }
        // Blocks of <= SMALL_LEN bytes, even text, are not tried either.
        for (i, n) in [1usize, 64, 200, SMALL_LEN].into_iter().enumerate() {
            skipped(&texty(n, 130 + i as u64));
        }
        let d = near_random(TINY_LEN + 1, 70);
        let (t0, s0, g0) = count();
        roundtrip(&d, level);
        let (t, s, g) = count();
        assert_eq!((t - t0, s - s0, g - g0), (1, 0, 1), "{level:?}");
    }
}

/// Tiny blocks that are not random-looking (text) still get LZ at every
/// level, as do random-looking blocks just above TINY_LEN with a repeat.
#[test]
fn tiny_blocks_with_repeats_still_get_lz() {
    let skipped = || TINY_SKIPPED.with(|t| t.get());
    for level in LZ_LEVELS {
        for (i, n) in [500usize, 1000, 1500, TINY_LEN].into_iter().enumerate() {
            let s0 = skipped();
            let d = texty(n, 80 + i as u64);
            assert_eq!(roundtrip(&d, level), BlockCoding::Lz, "{n} at {level:?}");
            assert_eq!(skipped(), s0, "{n} at {level:?}");
        }
        let mut d = near_random(TINY_LEN / 2 + 100, 90);
        d.extend_from_within(..);
        assert_eq!(roundtrip(&d, level), BlockCoding::Lz, "{level:?}");
    }
}

/// On compressible samples of every size the rule never fires, so their
/// coding (and ratio) is what it was. (`mixed` of <= 2 KiB, half noise,
/// is random-looking: the rule's cost, 0.001% of the corpus.)
#[test]
fn compressible_samples_are_untouched_by_the_tiny_rule() {
    let skipped = || TINY_SKIPPED.with(|t| t.get());
    for level in LZ_LEVELS {
        for (i, n) in [SMALL_LEN + 1, 300, 1024, 2048, 4096, 65536]
            .into_iter()
            .enumerate()
        {
            for d in [texty(n, 100 + i as u64), runs(n, 120 + i as u64)] {
                let s0 = skipped();
                let mut lz = Vec::new();
                let c = encode_block_level(&d, level, &mut lz);
                let mut huff = Vec::new();
                let h = encode_block(&d, &mut huff);
                assert_eq!(skipped(), s0, "{n} at {level:?}");
                if c == BlockCoding::Lz && h == BlockCoding::Huffman {
                    assert!(lz.len() < huff.len(), "{n} at {level:?}");
                }
            }
        }
    }
}

/// Near-random blocks (order-0 estimate >= 0.98 of the size, but more
/// than INCOMPRESSIBLE_BYTES below it) are probed on their lowest-entropy
/// quarter: a zip-like block (noise with a path name repeated in every
/// 2 KiB "member header") and noise with a text stretch in its last
/// quarter are coded with LZ, smaller than `huffman` codes them (until
/// session 13 both cost exactly what `huffman` does: Raw).
#[test]
fn near_random_blocks_with_repeats_get_lz() {
    let mut zip = noise(131072, 150);
    for (k, at) in (0..zip.len() - 100).step_by(2048).enumerate() {
        let name = format!(
            "PK\x03\x04django/contrib/admin/locale/{:02}/LC_MESSAGES/django.po",
            k % 97
        );
        zip[at..at + name.len()].copy_from_slice(name.as_bytes());
    }
    let mut stretch = noise(131072, 151);
    stretch[120_000..122_000].copy_from_slice(&texty(2000, 152));
    for d in [zip, stretch] {
        let g = crate::codec::split::Granules::new(&d);
        let est = g.entropy_bytes_corrected();
        let n = d.len() as f32;
        assert!(
            est >= NEAR_RANDOM * n && est < n - INCOMPRESSIBLE_BYTES,
            "{est}"
        );
        let mut huff = Vec::new();
        let h = match encode_block(&d, &mut huff) {
            BlockCoding::Huffman => huff.len(),
            _ => d.len(),
        };
        for level in [Level::Default, Level::Max] {
            let out = lz_payload(&d, level);
            assert!(out.len() < h, "{} vs {h} at {level:?}", out.len());
            assert_eq!(roundtrip(&d, level), BlockCoding::Lz);
        }
        // `fast` (the write path) leaves near-random blocks to Huffman.
        assert_ne!(roundtrip(&d, Level::Fast), BlockCoding::Lz);
    }
}

/// At `fast`, a block whose corrected order-0 estimate is within
/// `fast_raw_margin` of its size (1/128 of it, at least
/// INCOMPRESSIBLE_BYTES) is stored Raw without a Huffman try; just
/// below that margin it is coded exactly as `huffman` codes it. Noise
/// over k of the 256 byte values straddles the margin (k = 245.1 at
/// 1/128); the other levels are not affected.
#[test]
fn fast_stores_near_random_blocks_raw() {
    let raw = || FAST_RAW.with(|t| t.get());
    for n in [SMALL_LEN + 1, 2048, 3071, 3072, 3073, 65536, 131072] {
        let (mut saw_raw, mut saw_huff) = (false, false);
        for k in 236u32..=256 {
            let d: Vec<u8> = noise(n, u64::from(k) + n as u64)
                .iter()
                .map(|&b| (u32::from(b) % k) as u8)
                .collect();
            let g = crate::codec::split::Granules::new(&d);
            let est = g.entropy_bytes_corrected();
            let want_raw = est >= n as f32 - fast_raw_margin(n);
            let r0 = raw();
            let mut out = Vec::new();
            let c = encode_block_level(&d, Level::Fast, &mut out);
            let mut huff = Vec::new();
            let h = encode_block(&d, &mut huff);
            if want_raw {
                assert_eq!((c, raw() - r0), (BlockCoding::Raw, 1), "{n} k {k}");
                assert!(out.is_empty());
                saw_raw = true;
            } else {
                assert_eq!(raw(), r0, "{n} k {k}");
                assert_eq!(c, h, "{n} k {k}");
                assert!(out == huff, "{n} k {k}");
                saw_huff |= h == BlockCoding::Huffman;
            }
            assert_eq!(roundtrip(&d, Level::Fast), c);
            for level in [Level::Default, Level::Max] {
                let r0 = raw();
                roundtrip(&d, level);
                assert_eq!(raw(), r0, "{n} k {k} {level:?}");
            }
        }
        assert!(saw_raw, "{n}");
        assert!(n < 3072 || saw_huff, "{n}");
    }
    // The margin: 1/128 of the block, at least INCOMPRESSIBLE_BYTES.
    assert_eq!(fast_raw_margin(3071), INCOMPRESSIBLE_BYTES);
    assert_eq!(fast_raw_margin(3072), INCOMPRESSIBLE_BYTES);
    assert_eq!(fast_raw_margin(3200), 25.0);
    assert_eq!(fast_raw_margin(65536), 512.0);
    // One value and all zeros are still Fill / Zero at `fast`.
    assert_eq!(roundtrip(&[5u8; 70000], Level::Fast), BlockCoding::Fill(5));
    assert_eq!(roundtrip(&[0u8; 300], Level::Fast), BlockCoding::Zero);
}
