//! Tests of the code-length table (table.rs): round trips, the run
//! statistics against the items written, hostile tables.
use super::super::{code_lengths, histogram};
use super::*;

fn rt(lengths: &[u8; 256], prev: Option<&[u8; 256]>) -> usize {
    let mut v = vec![0xAB];
    let n = encode_table(lengths, prev, &mut v);
    assert_eq!(n, v.len() - 1);
    v.extend_from_slice(&[1, 2, 3]);
    let (got, _, used) = decode_table(&v[1..], prev).unwrap();
    assert_eq!(&got, lengths);
    assert_eq!(used, n);
    n
}

/// The direct-only encoding decodes to the same lengths, in mode 1 (or
/// mode 0 for one symbol), and is never smaller than the searched one.
#[test]
fn direct_tables_roundtrip() {
    let mut one = [0u8; 256];
    one[63] = 1;
    let text = b"The quick brown fox jumps over the lazy dog; 0123456789 THE END.".repeat(20);
    let mut seq = [0u32; 256];
    for (i, c) in seq.iter_mut().take(64).enumerate() {
        *c = 1 + (500.0 * (-(i as f64) / 6.0).exp()) as u32;
    }
    for l in [
        one,
        code_lengths(&histogram(&text), 11),
        code_lengths(&seq, 9),
    ] {
        let mut v = Vec::new();
        let n = encode_table_direct(&l, &mut v);
        assert_eq!(n, v.len());
        let mode = u32::from(v[0] & 3);
        assert!(mode == MODE_DIRECT || mode == MODE_SINGLE, "mode {mode}");
        v.extend_from_slice(&[1, 2, 3]);
        let (got, _, used) = decode_table(&v, None).unwrap();
        assert_eq!((got, used), (l, n));
        assert!(n >= rt(&l, None));
    }
}

#[test]
fn tables_roundtrip() {
    let mut one = [0u8; 256];
    one[200] = 1;
    assert_eq!(rt(&one, None), 2);
    let flat = [8u8; 256];
    assert!(rt(&flat, None) <= 12);
    let text = b"The quick brown fox jumps over the lazy dog; 0123456789 THE END.".repeat(20);
    let l = code_lengths(&histogram(&text), 11);
    rt(&l, None);
    rt(&l, Some(&flat));
    let mut skew = [0u32; 256];
    for (i, c) in skew.iter_mut().enumerate() {
        *c = 1 + (1000.0 * (-(i as f64) / 20.0).exp()) as u32;
    }
    let l2 = code_lengths(&skew, 11);
    let n_direct = rt(&l2, None);
    assert!(n_direct < 100, "{n_direct}");
    // Nearly the same table: delta from previous is tiny.
    skew[3] += 50;
    let l3 = code_lengths(&skew, 11);
    assert!(rt(&l3, Some(&l2)) < 20);
}

/// `rle_stats` counts exactly the items `rle` makes.
#[test]
fn rle_stats_match_rle() {
    let mut seed = 0x0123_4567_89AB_CDEFu64;
    let mut items = Vec::new();
    for round in 0..500 {
        let mut t = [0u8; 256];
        let mut i = 0;
        while i < 256 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = match round % 4 {
                0 => 1 + (seed % 4) as usize,
                1 => 1 + (seed % 20) as usize,
                2 => 1 + (seed % 300) as usize,
                _ => 1 + (seed % 9) as usize * (seed >> 60) as usize,
            };
            let v = if seed >> 63 == 0 {
                0
            } else {
                (seed >> 32) as u8 % 23
            };
            for x in t[i..(i + len).min(256)].iter_mut() {
                *x = v;
            }
            i += len;
        }
        items.clear();
        rle(&t, |it| items.push(it));
        let mut hist = [0u32; 32];
        let mut extra = 0u64;
        for it in &items {
            hist[it.sym as usize] += 1;
            extra += u64::from(extra_bits(it.sym));
        }
        assert_eq!(
            rle_stats(&t, &Runs::new(&t)),
            (hist, extra),
            "round {round}"
        );
        // The same from the values up to the last nonzero one.
        let u = used(&t);
        assert!(u == 0 || t[u - 1] != 0);
        assert!(t[u..].iter().all(|&x| x == 0), "round {round}");
        assert_eq!(
            rle_stats(&t[..u], &Runs::new(&t[..u])),
            (hist, extra),
            "round {round}"
        );
        let mut trimmed = Vec::new();
        rle(&t[..u], |it| trimmed.push((it.sym, it.extra)));
        let full: Vec<_> = items.iter().map(|it| (it.sym, it.extra)).collect();
        assert_eq!(trimmed, full, "round {round}");
    }
    for t in [[0u8; 256], [7u8; 256]] {
        items.clear();
        rle(&t, |it| items.push(it));
        let n: u32 = rle_stats(&t, &Runs::new(&t)).0.iter().sum();
        assert_eq!(n as usize, items.len());
    }
}

#[test]
fn corrupt_tables_rejected() {
    // Every truncation and every single-byte change must be an error or
    // a valid table, never a panic.
    let mut skew = [0u32; 256];
    for (i, c) in skew.iter_mut().enumerate() {
        *c = 1 + (i as u32 * 37) % 101;
    }
    let l = code_lengths(&skew, 11);
    let mut v = Vec::new();
    encode_table(&l, None, &mut v);
    for cut in 0..v.len() {
        assert!(decode_table(&v[..cut], None).is_err(), "cut {cut}");
    }
    for i in 0..v.len() {
        for x in [1u8, 0x80, 0xFF] {
            let mut w = v.clone();
            w[i] ^= x;
            if let Ok((got, _, _)) = decode_table(&w, None) {
                assert!(validate(&got, 11).is_ok());
            }
        }
    }
    assert!(decode_table(&[], None).is_err());
    assert!(decode_table(&[2 | 0xFC, 0xFF, 0xFF], None).is_err());
}

/// Runs at `decode_table`'s 16-byte store width +-1 (zero runs of 15, 16
/// and 17: one store, one store, a fill), in the middle and at the end of
/// the 256 values, and runs of every length 1..=20 between present
/// symbols: the lengths come back exactly, in every mode the encoder
/// picks and in the direct mode.
#[test]
fn runs_around_the_store_width_roundtrip() {
    let flat = [8u8; 256];
    for gap in 1..=20usize {
        for tail in [0usize, 14, 15, 16, 17, 18] {
            // 64 symbols of length 6 (a complete code) in groups of 8,
            // `gap` zeros between groups, `tail` zeros at the end.
            let mut l = [0u8; 256];
            let (mut i, mut placed) = (0usize, 0);
            while placed < 64 {
                l[i] = 6;
                placed += 1;
                i += if placed % 8 == 0 { gap + 1 } else { 1 };
            }
            let end = 64 + 7 * gap;
            l.copy_within(0..end, 256 - tail - end);
            l[..256 - tail - end].fill(0);
            rt(&l, None);
            rt(&l, Some(&flat));
            let mut v = Vec::new();
            encode_table_direct(&l, &mut v);
            let (got, _, _) = decode_table(&v, None).unwrap();
            assert_eq!(got, l, "gap {gap} tail {tail}");
        }
    }
}
