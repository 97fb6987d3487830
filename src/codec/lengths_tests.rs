//! Tests of lengths.rs: histograms, optimal and limited code lengths.

use super::super::canonical::{validate, TableKind};
use super::*;

fn kraft_ok(lens: &[u8; 256], cap: u32) -> bool {
    validate(lens, cap).is_ok()
}

/// Reference: exhaustive optimal cost via plain Huffman (no limit).
fn huffman_cost(hist: &[u32; 256]) -> u64 {
    let mut v: Vec<u64> = hist.iter().filter(|&&c| c > 0).map(|&c| c as u64).collect();
    if v.len() < 2 {
        return 0;
    }
    let mut cost = 0;
    while v.len() > 1 {
        v.sort_unstable_by(|a, b| b.cmp(a));
        let a = v.pop().unwrap();
        let b = v.pop().unwrap();
        cost += a + b;
        v.push(a + b);
    }
    cost
}

#[test]
fn histogram_counts() {
    let data: Vec<u8> = (0..1000u32).map(|i| (i % 7) as u8).collect();
    let h = histogram(&data);
    assert_eq!(h[0], 143);
    assert_eq!(h[6], 142);
    assert_eq!(h.iter().map(|&c| c as usize).sum::<usize>(), 1000);
}

#[test]
fn empty_and_single() {
    let h = [0u32; 256];
    assert_eq!(code_lengths(&h, 11), [0u8; 256]);
    let mut h = [0u32; 256];
    h[42] = 5;
    let l = code_lengths(&h, 11);
    assert_eq!(l[42], 1);
    assert_eq!(l.iter().filter(|&&x| x > 0).count(), 1);
    assert_eq!(coded_bits(&h, &l), 0);
    assert_eq!(validate(&l, 11), Ok(TableKind::Single(42)));
}

#[test]
fn unlimited_matches_huffman() {
    let mut h = [0u32; 256];
    for (i, c) in h.iter_mut().enumerate() {
        *c = ((i * 7919) % 1000) as u32 + 1;
    }
    let l = code_lengths(&h, 32);
    assert!(kraft_ok(&l, 32));
    assert_eq!(coded_bits(&h, &l), huffman_cost(&h));
}

#[test]
fn fibonacci_forces_limit() {
    let mut h = [0u32; 256];
    let (mut a, mut b) = (1u32, 1u32);
    for c in h.iter_mut().take(40) {
        *c = a;
        let t = a.saturating_add(b);
        a = b;
        b = t;
    }
    for cap in [8u32, 11, 12, 15, 32] {
        let l = code_lengths(&h, cap);
        assert!(kraft_ok(&l, cap), "cap {cap}");
        assert!(l.iter().all(|&x| u32::from(x) <= cap));
    }
    // Unlimited: the Fibonacci shape gives a very deep code.
    h[30..].fill(0);
    let l = code_lengths(&h, 32);
    assert!(*l.iter().max().unwrap() > 20);
    assert_eq!(coded_bits(&h, &l), huffman_cost(&h));
}

#[test]
fn limit_too_small_is_raised() {
    let h = [1u32; 256];
    let l = code_lengths(&h, 3);
    assert!(l.iter().all(|&x| x == 8));
}

#[test]
fn package_merge_is_optimal_small() {
    // Brute force over all length assignments for 5 symbols, cap 3.
    let w = [1u64, 1, 2, 3, 20];
    let mut d = [0u8; 5];
    package_merge(&w, 3, &mut d);
    let cost: u64 = w.iter().zip(d.iter()).map(|(&a, &b)| a * b as u64).sum();
    let mut best = u64::MAX;
    for code in 0..3u32.pow(5) {
        let mut ls = [0u32; 5];
        let mut c = code;
        for l in ls.iter_mut() {
            *l = c % 3 + 1;
            c /= 3;
        }
        let k: u32 = ls.iter().map(|&l| 8 >> l).sum();
        if k <= 8 {
            best = best.min(w.iter().zip(ls.iter()).map(|(&a, &b)| a * b as u64).sum());
        }
    }
    assert_eq!(cost, best);
}

/// Reference package-merge without truncation or fixed arrays: the
/// depths (ascending weights), leaves first on ties.
fn package_merge_ref(w: &[u64], limit: u8) -> Vec<u8> {
    let n = w.len();
    let mut lists: Vec<Vec<(u64, bool)>> = vec![w.iter().map(|&x| (x, true)).collect()];
    for _ in 1..limit {
        let prev = lists.last().unwrap();
        let mut m: Vec<(u64, bool)> = w.iter().map(|&x| (x, true)).collect();
        m.extend(prev.chunks_exact(2).map(|p| (p[0].0 + p[1].0, false)));
        m.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        lists.push(m);
    }
    let mut depth = vec![0u8; n];
    let mut take = 2 * n - 2;
    for list in lists.iter().rev() {
        let chosen = &list[..take.min(list.len())];
        let leaves = chosen.iter().filter(|x| x.1).count();
        for d in depth[..leaves].iter_mut() {
            *d += 1;
        }
        take = 2 * (chosen.len() - leaves);
    }
    depth
}

#[test]
fn package_merge_matches_reference() {
    let mut seed = 0x1234_5678_9abc_def1u64;
    for round in 0..400 {
        let n: usize = 2 + round % 255;
        let mut w: Vec<u64> = (0..n)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                match round % 4 {
                    // Small counts with many ties (the rank table).
                    0 => 1 + seed % 7,
                    1 => 1 + (seed % 1000) * (1 + (seed >> 40) % 3000) % 100_000,
                    // Beyond the rank table.
                    2 => 1 + seed % 1_000_000,
                    _ => 1 + (seed % 60) * (seed >> 50),
                }
            })
            .collect();
        w.sort_unstable();
        let min = (usize::BITS - (n - 1).leading_zeros()) as u8;
        for limit in [min, min + 1, 9, 11, 15] {
            let limit = limit.max(min);
            let mut d = vec![0u8; n];
            package_merge(&w, limit, &mut d);
            let k: u64 = d.iter().map(|&l| 1u64 << (32 - l)).sum();
            assert_eq!(k, 1u64 << 32);
            assert!(d.iter().all(|&l| l >= 1 && l <= limit));
            assert_eq!(d, package_merge_ref(&w, limit), "n {n} limit {limit}");
        }
    }
}

/// Optimal-or-equal: code_lengths never costs more than the reference
/// package-merge (the optimum) on random histograms, and is a valid
/// complete code within the limit; the order of equal counts is by
/// symbol, so the lower symbol never gets the shorter code.
#[test]
fn code_lengths_optimal_on_random_histograms() {
    let mut seed = 0xDEAD_BEEF_1234_5678u64;
    for round in 0..300 {
        let mut h = [0u32; 256];
        for c in h.iter_mut() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            *c = match round % 3 {
                0 => (seed % 5) as u32,
                1 => ((seed % 100) * (seed >> 44) % 70_000) as u32,
                _ => (1u64 << (seed % 20)) as u32 * u32::from(seed >> 63 == 0),
            };
        }
        let mut w: Vec<u64> = h.iter().filter(|&&c| c > 0).map(|&c| c as u64).collect();
        if w.len() < 2 {
            continue;
        }
        w.sort_unstable();
        let opt: u64 = w
            .iter()
            .zip(package_merge_ref(&w, 11))
            .map(|(&a, b)| a * u64::from(b))
            .sum();
        let l = code_lengths(&h, 11);
        assert!(kraft_ok(&l, 11));
        assert_eq!(coded_bits(&h, &l), opt, "round {round}");
        // Equal counts: the lower symbol never gets the shorter code.
        for a in 0..256 {
            for b in a + 1..256 {
                if h[a] > 0 && h[a] == h[b] {
                    assert!(l[a] >= l[b], "round {round} symbols {a} {b}");
                }
            }
        }
    }
}
