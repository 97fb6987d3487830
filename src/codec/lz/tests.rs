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
