//! Cross-module tests of the codec: block round trips on structured and
//! random data (proptest), code-length validity for random and extreme
//! histograms, and corrupt payloads.

use super::*;
use proptest::prelude::*;

/// The tests' pseudo-random generator (xorshift64).
pub(super) fn xorshift(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

/// Skewed bytes over `alphabet` symbols (geometric-ish), for the decoder
/// and table tests.
pub(super) fn skewed_over(n: usize, alphabet: u64, seed: &mut u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            let r = xorshift(seed);
            ((r & 0xFFFF).trailing_zeros() as u64 * 7 + (r >> 40) % alphabet) as u8
        })
        .collect()
}

/// Skewed bytes: geometric-ish distribution over a shifting alphabet.
fn skewed(n: usize, seed: u64) -> Vec<u8> {
    let mut s = seed | 1;
    (0..n)
        .map(|i| {
            let r = xorshift(&mut s);
            let z = (r & 0xFFFF).trailing_zeros() as usize; // geometric
            let base = if i < n / 2 { 97 } else { 30 };
            (base + z * 3 + ((r >> 20) & 1) as usize) as u8
        })
        .collect()
}

fn roundtrip_block(data: &[u8]) -> BlockCoding {
    let mut out = vec![0xEE; 3];
    let c = encode_block(data, &mut out);
    let payload = &out[3..];
    match c {
        BlockCoding::Zero => {
            assert!(data.iter().all(|&b| b == 0));
            assert!(payload.is_empty());
        }
        BlockCoding::Fill(b) => {
            assert!(!data.is_empty() && data.iter().all(|&x| x == b));
            assert!(payload.is_empty());
        }
        BlockCoding::Raw => assert!(payload.is_empty()),
        BlockCoding::Huffman => {
            assert!(payload.len() < data.len());
            let mut dec = vec![0u8; data.len()];
            decode_block(payload, &mut dec).unwrap();
            assert!(dec == data, "block round trip mismatch");
        }
        BlockCoding::Lz => panic!("encode_block never gives Lz"),
    }
    c
}

#[test]
fn block_edge_cases() {
    assert_eq!(roundtrip_block(&[]), BlockCoding::Zero);
    assert_eq!(roundtrip_block(&[0; 1000]), BlockCoding::Zero);
    assert_eq!(roundtrip_block(&[9; 1000]), BlockCoding::Fill(9));
    assert_eq!(roundtrip_block(&[1]), BlockCoding::Fill(1));
    assert_eq!(roundtrip_block(&[1, 2]), BlockCoding::Raw);
    let mut seed = 12345;
    let random: Vec<u8> = (0..65536).map(|_| xorshift(&mut seed) as u8).collect();
    assert_eq!(roundtrip_block(&random), BlockCoding::Raw);
    assert_eq!(roundtrip_block(&skewed(65536, 7)), BlockCoding::Huffman);
    let all: Vec<u8> = (0..=255u8).cycle().take(70000).collect();
    assert_eq!(roundtrip_block(&all), BlockCoding::Raw);
    // Two values: 1 bit each.
    let two: Vec<u8> = (0..4096).map(|i| if i % 3 == 0 { 5 } else { 6 }).collect();
    assert_eq!(roundtrip_block(&two), BlockCoding::Huffman);
}

#[test]
fn block_max_size() {
    let mut data = skewed(MAX_BLOCK_LEN, 99);
    data[..100_000].fill(0);
    data[500_000..600_000].fill(b'x');
    assert_eq!(roundtrip_block(&data), BlockCoding::Huffman);
    let mut out = Vec::new();
    assert_eq!(
        encode_block(&vec![1u8; MAX_BLOCK_LEN + 1], &mut out),
        BlockCoding::Raw
    );
}

#[test]
fn block_halves_differ() {
    // Text then binary: table switching must pay.
    let mut data = b"the rain in spain stays mainly in the plain. ".repeat(800);
    data.extend(skewed(36000, 3).iter().map(|b| b.wrapping_mul(7)));
    assert_eq!(roundtrip_block(&data), BlockCoding::Huffman);
}

#[test]
fn corrupt_payloads_are_errors() {
    let data = skewed(20000, 5);
    let mut p = Vec::new();
    assert_eq!(encode_block(&data, &mut p), BlockCoding::Huffman);
    let mut out = vec![0u8; data.len()];
    for cut in 0..p.len().min(300) {
        assert!(decode_block(&p[..cut], &mut out).is_err(), "cut {cut}");
    }
    assert!(decode_block(&p[..p.len() - 1], &mut out).is_err());
    let mut longer = p.clone();
    longer.push(0);
    assert!(decode_block(&longer, &mut out).is_err());
    // Wrong lengths: usually an error (not always: the payload does not
    // store the length; the container's CRC catches the rest), never a panic.
    let _ = decode_block(&p, &mut vec![0u8; data.len() + 1]);
    let _ = decode_block(&p, &mut vec![0u8; data.len() - 1]);
    assert!(decode_block(&p, &mut vec![0u8; data.len() * 2]).is_err());
    assert!(decode_block(&p, &mut []).is_err());
    // Bit flips anywhere: error or some output, never a panic.
    let mut seed = 77;
    for _ in 0..2000 {
        let mut q = p.clone();
        let i = (xorshift(&mut seed) as usize) % q.len();
        q[i] ^= 1 << (xorshift(&mut seed) % 8);
        let _ = decode_block(&q, &mut out);
    }
    for len in [0usize, 1, 2, 5, 17, 100] {
        for _ in 0..200 {
            let q: Vec<u8> = (0..len).map(|_| xorshift(&mut seed) as u8).collect();
            let _ = decode_block(&q, &mut out);
        }
    }
}

#[test]
fn stream_v1_long_tables() {
    // A valid 32-bit-deep code (one symbol per length 1..=31, two of 32)
    // decodes; a table claiming 33 bits does not.
    let mut lens = [0u8; 256];
    for (l, x) in lens.iter_mut().enumerate().take(32) {
        *x = l as u8 + 1;
    }
    lens[32] = 32;
    let data: Vec<u8> = (0..200u32).map(|i| (i % 33) as u8).collect();
    let mut enc = Vec::new();
    encode_stream(&data, &lens, &mut enc);
    let mut dec = vec![0u8; data.len()];
    decode_stream(&lens, &enc, &mut dec).unwrap();
    assert_eq!(dec, data);
    lens[32] = 33;
    assert!(decode_stream(&lens, &enc, &mut dec).is_err());
}

/// The `huffman` level's payload must save more than `min_gain(n)` bytes:
/// on one-segment blocks (under 8 KiB) it is `encode_block`'s payload when
/// that saves more, else Raw. Blocks of 1..=64 bytes and at the 4 KiB and
/// 8 KiB marks, over alphabets from 2 to 256 symbols, hit gains at the
/// threshold and one either side.
#[test]
fn huffman_level_needs_its_minimum_gain() {
    use super::block::min_gain;
    let mut seed = 0x1234_5678u64;
    let mut at = [0usize; 3]; // gains of min_gain - 1, min_gain, min_gain + 1
    let (mut kept, mut dropped) = (0, 0);
    for n in (1..=64usize).chain([255, 256, 1000, 4095, 4096, 4097, 8191]) {
        for alphabet in [2u64, 16, 180, 200, 220, 230, 236, 240, 250, 256] {
            let d: Vec<u8> = (0..n)
                .map(|_| (xorshift(&mut seed) % alphabet) as u8)
                .collect();
            let (mut p, mut q) = (Vec::new(), Vec::new());
            let c = encode_block(&d, &mut p);
            let h = encode_block_huffman(&d, &mut q);
            if c != BlockCoding::Huffman {
                assert_eq!(h, c, "{n} bytes over {alphabet}");
                continue;
            }
            let gain = n - p.len();
            if let Some(i) = (gain + 1).checked_sub(min_gain(n)).filter(|&i| i < 3) {
                at[i] += 1;
            }
            if gain > min_gain(n) {
                assert_eq!(h, BlockCoding::Huffman, "{n} bytes, gain {gain}");
                assert!(p == q, "{n} bytes: another payload");
                let mut back = vec![0u8; n];
                decode_block(&q, &mut back).unwrap();
                assert!(back == d);
                kept += 1;
            } else {
                assert_eq!(h, BlockCoding::Raw, "{n} bytes, gain {gain}");
                assert!(q.is_empty());
                dropped += 1;
            }
        }
    }
    assert!(at.iter().all(|&c| c > 0), "gains at the threshold: {at:?}");
    assert!(kept > 50 && dropped > 10, "{kept} kept, {dropped} dropped");
}

/// The `huffman` level splits a block only where a segment saves more than
/// what it charges one: two unrelated halves are split as before; a block
/// whose halves differ a little is split by `encode_block` but left whole,
/// never in more segments; every payload decodes back.
#[test]
fn huffman_level_pays_for_segments() {
    let segments = |p: &[u8]| usize::from(p[0]);
    let mut seed = 0x5EED_u64;
    let mut fewer = 0;
    for shift in 0..8u32 {
        // The second half moves 1/2^(8 - shift) of its bytes to 8 other
        // symbols (shift 7: half of them).
        let mut d: Vec<u8> = (0..32768)
            .map(|_| (xorshift(&mut seed) % 32) as u8)
            .collect();
        d.extend((0..32768).map(|_| {
            let r = xorshift(&mut seed);
            if (r >> 32) % (1 << (8 - shift)) == 0 {
                32 + (r % 8) as u8
            } else {
                (r % 32) as u8
            }
        }));
        let (mut p, mut q) = (Vec::new(), Vec::new());
        assert_eq!(encode_block(&d, &mut p), BlockCoding::Huffman);
        assert_eq!(encode_block_huffman(&d, &mut q), BlockCoding::Huffman);
        assert!(segments(&q) <= segments(&p), "shift {shift}");
        fewer += usize::from(segments(&q) < segments(&p));
        let mut back = vec![0u8; d.len()];
        decode_block(&q, &mut back).unwrap();
        assert!(back == d, "shift {shift}");
    }
    assert!(fewer > 0, "no block split by encode_block only");
    let mut two: Vec<u8> = (0..32768)
        .map(|_| (xorshift(&mut seed) % 16) as u8)
        .collect();
    two.extend((0..32768).map(|_| 128 + (xorshift(&mut seed) % 16) as u8));
    let mut q = Vec::new();
    assert_eq!(encode_block_huffman(&two, &mut q), BlockCoding::Huffman);
    assert!(segments(&q) >= 2);
}

fn kraft_exact(lens: &[u8; 256], cap: u32) -> bool {
    let present: Vec<u32> = lens.iter().filter(|&&l| l > 0).map(|&l| l as u32).collect();
    if present.len() == 1 {
        return present[0] == 1;
    }
    present.iter().all(|&l| l <= cap)
        && present.iter().map(|&l| 1u64 << (32 - l)).sum::<u64>() == 1u64 << 32
}

fn data_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..3000),
        proptest::collection::vec(0u8..4, 0..3000),
        (1usize..20000, any::<u64>()).prop_map(|(n, s)| skewed(n, s)),
        // Runs of random values with random lengths.
        proptest::collection::vec((any::<u8>(), 1usize..500), 1..60).prop_map(|v| v
            .into_iter()
            .flat_map(|(b, n)| std::iter::repeat_n(b, n))
            .collect()),
        // Concatenated regions with different statistics.
        (1usize..9000, 1usize..9000, any::<u64>()).prop_map(|(a, b, s)| {
            let mut d = skewed(a, s);
            d.extend(skewed(b, s ^ 0xABCD).iter().map(|x| x ^ 0x55));
            d
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn prop_block_roundtrip(data in data_strategy()) {
        roundtrip_block(&data);
    }

    #[test]
    fn prop_stream_roundtrip(data in data_strategy(), cap in 8u32..=15) {
        let hist = histogram(&data);
        let lens = code_lengths(&hist, cap);
        let mut enc = Vec::new();
        encode_stream(&data, &lens, &mut enc);
        prop_assert_eq!(enc.len() as u64, coded_bits(&hist, &lens).div_ceil(8));
        if !data.is_empty() {
            let mut dec = vec![0u8; data.len()];
            decode_stream(&lens, &enc, &mut dec).unwrap();
            prop_assert_eq!(dec, data);
        }
    }

    #[test]
    fn prop_code_lengths_valid(
        counts in proptest::collection::vec(
            prop_oneof![Just(0u32), 1u32..10, any::<u32>().prop_map(|x| x >> 8), any::<u32>()],
            256),
        cap in 1u32..=16,
    ) {
        let mut hist = [0u32; 256];
        hist.copy_from_slice(&counts);
        let lens = code_lengths(&hist, cap);
        let present = hist.iter().filter(|&&c| c > 0).count();
        prop_assert_eq!(lens.iter().filter(|&&l| l > 0).count(), present);
        if present > 0 {
            let need = usize::BITS - (present - 1).leading_zeros();
            prop_assert!(kraft_exact(&lens, cap.max(need)));
        }
        // Never worse than the same cap's all-equal code, and optimal when
        // the cap does not bind (equal to the unlimited cost).
        let free = code_lengths(&hist, 32);
        prop_assert!(coded_bits(&hist, &free) <= coded_bits(&hist, &lens));
    }

    #[test]
    fn prop_fibonacci_counts(k in 2usize..=60, cap in 6u32..=12, scale in 1u32..4) {
        let mut hist = [0u32; 256];
        let (mut a, mut b) = (1u32, 1u32);
        for c in hist.iter_mut().take(k) {
            *c = a.saturating_mul(scale);
            let t = a.saturating_add(b);
            a = b;
            b = t;
        }
        let lens = code_lengths(&hist, cap);
        let need = usize::BITS - (k - 1).leading_zeros();
        prop_assert!(kraft_exact(&lens, cap.max(need)));
    }
}
