//! Choosing the segments of a v2 block: where the block switches code
//! tables, and each segment's code lengths.
//!
//! The block is cut into at most 16 granules (4 KiB each for a 64 KiB
//! block; one histogram pass gives all of them, as prefix sums). A dynamic
//! program over every other granule boundary picks the segmentation with
//! the smallest estimated size, a segment's estimate being its order-0
//! entropy plus an estimate of its table and header bytes; each chosen cut
//! then moves by one granule where that lowers the estimate. The DP runs
//! only when some single cut beats the whole block by the estimate (most
//! blocks of homogeneous files stop there, after 15 estimates instead of
//! 36). When the estimated gain over one segment is small (< 1%), the
//! segmentation is costed exactly (code lengths, exact table bytes) and
//! kept only if it beats the single segment. Code lengths come from
//! `code_lengths_fast` (near-optimal, see `limit`).

use super::lengths::{code_lengths_fast, code_lengths_loose, coded_bits, Counter};
use super::table::{encode_table, encode_table_direct};
use super::MAX_CODE_LEN;

/// One segment of a block, ready to code.
pub(crate) struct Segment {
    pub(crate) len: usize,
    pub(crate) hist: [u32; 256],
    pub(crate) lengths: [u8; 256],
    /// The encoded table (section 4.3), given the previous segment's.
    pub(crate) table: Vec<u8>,
}

/// Histograms of a block's granules, as prefix sums.
pub(crate) struct Granules {
    gran: usize,
    n: usize,
    /// prefix[i] = histogram of granules 0..i; the last is the block's.
    prefix: Vec<[u32; 256]>,
    /// Tables in the direct mode only and code lengths from the loose
    /// limiter (`whole`: the `fast` level's literals, where the
    /// previous-symbol mode won on 17 of 1380 tables of the corpus sample,
    /// by 140 bytes in all).
    direct: bool,
    /// Extra bits charged per segment (`with_segment_bits`).
    seg_bits: f32,
}

impl Granules {
    /// One pass over `data`.
    #[inline(always)]
    pub(crate) fn new(data: &[u8]) -> Granules {
        Granules::prefix(data, data.len())
    }

    /// The histograms of the first granules of `data`, as many as cover
    /// at least `min` bytes (all of them when `min >= data.len()`); the
    /// rest are added by `complete`. Until then only `total`, `covered`,
    /// `entropy_bytes` and `entropy_bytes_corrected` may be used, and they
    /// describe the prefix.
    #[inline(always)]
    pub(crate) fn prefix(data: &[u8], min: usize) -> Granules {
        let n = data.len();
        let gran = if n < MIN_SPLIT_LEN {
            n.max(1)
        } else {
            n.div_ceil(MAX_GRANULES).max(MIN_GRANULE)
        };
        let mut prefix = Vec::with_capacity(n.div_ceil(gran) + 1);
        prefix.push([0u32; 256]);
        let mut g = Granules {
            gran,
            n,
            prefix,
            direct: false,
            seg_bits: 0.0,
        };
        g.extend(data, min);
        g
    }

    /// The block as one granule: `plan_segments` then gives one segment
    /// (no search for cuts), its table in the direct mode only (no plan
    /// of the previous-symbol mode).
    pub(crate) fn whole(data: &[u8]) -> Granules {
        let n = data.len();
        let mut prefix = Vec::with_capacity(2);
        prefix.push([0u32; 256]);
        let mut g = Granules {
            gran: n.max(1),
            n,
            prefix,
            direct: true,
            seg_bits: 0.0,
        };
        g.extend(data, n);
        g
    }

    /// Charges `bits` more for every segment when planning them (the
    /// `huffman` level's price of a segment's decoding).
    pub(crate) fn with_segment_bits(mut self, bits: u32) -> Granules {
        self.seg_bits = bits as f32;
        self
    }

    /// Adds granules until they cover at least `min` bytes of `data`.
    #[inline(always)]
    fn extend(&mut self, data: &[u8], min: usize) {
        let mut start = self.covered();
        if start >= min || start >= data.len() {
            return;
        }
        // Counting goes on from the granules counted so far.
        let mut counter = Counter::from_total(self.total());
        while start < min && start < data.len() {
            let end = (start + self.gran).min(data.len());
            counter.add(&data[start..end]);
            self.prefix.push(counter.total());
            start = end;
        }
    }

    /// Adds the granules `prefix` left out (`data` is the same block).
    pub(crate) fn complete(&mut self, data: &[u8]) {
        self.extend(data, data.len());
    }

    /// Whether every granule of the block is counted.
    pub(crate) fn is_complete(&self) -> bool {
        self.covered() == self.n
    }

    /// Bytes the granules counted so far cover.
    pub(crate) fn covered(&self) -> usize {
        self.end(self.count())
    }

    /// The whole block's histogram.
    pub(crate) fn total(&self) -> &[u32; 256] {
        self.prefix.last().unwrap_or(&self.prefix[0])
    }

    /// Order-0 entropy of the whole block, in bytes (no table).
    pub(crate) fn entropy_bytes(&self) -> f32 {
        entropy(self, 0, self.count()).0 / 8.0
    }

    /// `entropy_bytes` plus the Miller-Madow correction (present - 1) /
    /// (2 ln 2) bits: the order-0 entropy a short block of random bytes
    /// shows is below 8 bits a byte by about that much.
    pub(crate) fn entropy_bytes_corrected(&self) -> f32 {
        let (bits, present) = entropy(self, 0, self.count());
        (bits + present.saturating_sub(1) as f32 / (2.0 * std::f32::consts::LN_2)) / 8.0
    }

    /// The bytes of the part of the block (one of `parts` runs of whole
    /// granules, as even as they fall) with the smallest corrected order-0
    /// estimate per byte: where a stored or text stretch of a compressed
    /// block shows. The whole block when it has fewer than `parts`
    /// granules. Needs every granule (`is_complete`).
    pub(crate) fn lowest_part(&self, parts: usize) -> std::ops::Range<usize> {
        let count = self.count();
        if count < parts.max(1) {
            return 0..self.n;
        }
        let mut best = (f32::INFINITY, 0..self.n);
        for q in 0..parts {
            let (i, j) = (q * count / parts, (q + 1) * count / parts);
            let (bits, present) = entropy(self, i, j);
            let len = (self.end(j) - self.end(i)) as f32;
            let per =
                (bits + present.saturating_sub(1) as f32 / (2.0 * std::f32::consts::LN_2)) / len;
            if per < best.0 {
                best = (per, self.end(i)..self.end(j));
            }
        }
        best.1
    }

    fn count(&self) -> usize {
        self.prefix.len() - 1
    }

    fn end(&self, i: usize) -> usize {
        (i * self.gran).min(self.n)
    }

    fn hist(&self, i: usize, j: usize) -> [u32; 256] {
        let mut h = [0u32; 256];
        for (s, x) in h.iter_mut().enumerate() {
            *x = self.prefix[j][s] - self.prefix[i][s];
        }
        h
    }
}

/// Most granules per block (the DP is quadratic in this).
const MAX_GRANULES: usize = 16;
/// Smallest granule.
const MIN_GRANULE: usize = 4096;
/// Blocks shorter than this are one segment.
const MIN_SPLIT_LEN: usize = 2 * MIN_GRANULE;

/// c * log2(c) for c < 2^24 (0 for c = 0; 2.5e-6 for c = 1): the
/// exponent of c as an f32 plus log2 of its mantissa m in [1, 2) by a
/// degree-6 polynomial in m - 1 (interpolation at Chebyshev nodes, error
/// below 2.5e-6 in the log). No branch, no table, no fused multiply-add:
/// loops of it vectorize, with the same result on every CPU.
#[inline(always)]
fn clog(c: u32) -> f32 {
    const P: [f32; 7] = [
        2.443_438_7e-6,
        1.442_453_5,
        -0.717_312_8,
        0.454_508_5,
        -0.272_697_57,
        0.117_613_08,
        -0.024_568_535,
    ];
    let f = c as i32 as f32;
    let bits = f.to_bits();
    let e = ((bits >> 23) as i32 - 127) as f32;
    let x = f32::from_bits((bits & 0x007F_FFFF) | 0x3F80_0000) - 1.0;
    let mut p = P[6];
    for &k in P[..6].iter().rev() {
        p = p * x + k;
    }
    f * (e + p)
}

/// Entropy bits of granules i..j (n log2 n - sum of c log2 c) and the
/// number of symbols present.
fn entropy(g: &Granules, i: usize, j: usize) -> (f32, u32) {
    let (a, b) = (&g.prefix[i], &g.prefix[j]);
    let n = (g.end(j) - g.end(i)) as u32;
    let (sum, present) = count_logs(a, b);
    (clog(n) - sum, present)
}

/// Sum of c log2 c and the number of nonzero c over c = b[x] - a[x],
/// by the loop compiled for this CPU (the same result on all).
fn count_logs(a: &[u32; 256], b: &[u32; 256]) -> (f32, u32) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: `count_logs_avx2` is safe code whose only requirement
        // is that the CPU supports AVX2, which was checked just above.
        return unsafe { count_logs_avx2(a, b) };
    }
    count_logs_body(a, b)
}

/// `count_logs` on 256-bit vectors.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn count_logs_avx2(a: &[u32; 256], b: &[u32; 256]) -> (f32, u32) {
    count_logs_body(a, b)
}

/// The logs in one simple loop, then summed by halving (v[i] +=
/// v[i + half]): both run on vectors, with the same result however wide
/// they are.
#[inline(always)]
fn count_logs_body(a: &[u32; 256], b: &[u32; 256]) -> (f32, u32) {
    let mut v = [0f32; 256];
    for ((x, &ca), &cb) in v.iter_mut().zip(a.iter()).zip(b.iter()) {
        *x = clog(cb.wrapping_sub(ca));
    }
    let mut half = 128;
    while half > 0 {
        let (lo, hi) = v.split_at_mut(half);
        for (x, &y) in lo.iter_mut().zip(hi[..half].iter()) {
            *x += y;
        }
        half /= 2;
    }
    let present = a.iter().zip(b.iter()).map(|(x, y)| u32::from(x != y)).sum();
    (v[0], present)
}

/// Estimated table and header bits of a segment with `present` symbols.
fn overhead(present: u32) -> f32 {
    8.0 * (40.0 + 0.3 * present as f32)
}

/// Estimated bits of granules i..j: order-0 entropy plus an estimate of
/// the segment's table and header bytes.
fn estimate(g: &Granules, i: usize, j: usize) -> f32 {
    let (h, present) = entropy(g, i, j);
    h + overhead(present) + g.seg_bits
}

/// Builds the segments for granule cuts `cuts` (ascending, 0 .. count).
fn build(g: &Granules, cuts: &[usize]) -> Vec<Segment> {
    let mut segs: Vec<Segment> = Vec::with_capacity(cuts.len());
    for w in cuts.windows(2) {
        let hist = g.hist(w[0], w[1]);
        let lengths = if g.direct {
            code_lengths_loose(&hist, MAX_CODE_LEN)
        } else {
            code_lengths_fast(&hist, MAX_CODE_LEN)
        };
        let mut table = Vec::with_capacity(64);
        if g.direct {
            encode_table_direct(&lengths, &mut table);
        } else {
            encode_table(&lengths, segs.last().map(|s| &s.lengths), &mut table);
        }
        segs.push(Segment {
            len: g.end(w[1]) - g.end(w[0]),
            hist,
            lengths,
            table,
        });
    }
    segs
}

/// Payload bits of `segs`, exact but for stream padding (counted as 12
/// bits a segment), plus `g`'s charge per segment.
fn cost(g: &Granules, segs: &[Segment]) -> u64 {
    segs.iter()
        .map(|s| {
            8 * (s.table.len() as u64 + 3 + 8)
                + 12
                + g.seg_bits as u64
                + coded_bits(&s.hist, &s.lengths)
        })
        .sum()
}

/// Cuts the block into segments, each with its lengths and table.
pub(crate) fn plan_segments(g: &Granules) -> Vec<Segment> {
    let count = g.count();
    if count < 2 {
        return build(g, &[0, count]);
    }
    // Estimates of granules i..j, memoised.
    let mut memo = vec![f32::NAN; (count + 1) * (count + 1)];
    let mut est = |i: usize, j: usize| -> f32 {
        let x = &mut memo[i * (count + 1) + j];
        if x.is_nan() {
            *x = estimate(g, i, j);
        }
        *x
    };
    // DP over every other granule boundary ...
    let mut points: Vec<usize> = (0..count).step_by(2).collect();
    points.push(count);
    let m = points.len() - 1;
    let mut e = |i: usize, j: usize| -> f32 { est(points[i], points[j]) };
    // ... if some single cut beats one segment (a block no cut improves
    // is nearly always best left whole: this skips most of the DP there).
    let whole = e(0, m);
    if !(1..m).any(|p| e(0, p) + e(p, m) < whole) {
        return build(g, &[0, count]);
    }
    let mut best = vec![f32::INFINITY; m + 1];
    let mut from = vec![0usize; m + 1];
    best[0] = 0.0;
    for j in 1..=m {
        for i in 0..j {
            let c = best[i] + e(i, j);
            if c < best[j] {
                best[j] = c;
                from[j] = i;
            }
        }
    }
    let mut cuts = vec![count];
    let mut j = m;
    while j > 0 {
        j = from[j];
        cuts.push(points[j]);
    }
    cuts.reverse();
    if cuts.len() == 2 {
        return build(g, &[0, count]);
    }
    // ... then move each cut by one granule where that is cheaper.
    for k in 1..cuts.len() - 1 {
        let (a, c, b) = (cuts[k - 1], cuts[k], cuts[k + 1]);
        let mut best_c = (est(a, c) + est(c, b), c);
        for d in [c - 1, c + 1] {
            if a < d && d < b {
                let e = est(a, d) + est(d, b);
                if e < best_c.0 {
                    best_c = (e, d);
                }
            }
        }
        cuts[k] = best_c.1;
    }
    let segs = build(g, &cuts);
    // Trust a clear estimated gain; otherwise compare exactly.
    let split_est: f32 = cuts.windows(2).map(|w| est(w[0], w[1])).sum();
    let single_est = whole;
    if single_est - split_est > 0.01 * single_est {
        return segs;
    }
    let single = build(g, &[0, count]);
    if cost(g, &segs) < cost(g, &single) {
        segs
    } else {
        single
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `clog` stays within 3e-6 c of c log2 c (and is 0 at 0).
    #[test]
    fn clog_is_accurate() {
        assert_eq!(clog(0), 0.0);
        for c in (1u32..70_000).chain([1 << 20, (1 << 20) + 12_345, (1 << 24) - 1]) {
            let want = f64::from(c) * f64::from(c).log2();
            let got = f64::from(clog(c));
            assert!(
                (got - want).abs() <= f64::from(c) * 3e-6 + want * 1e-6,
                "{c}: {got} vs {want}"
            );
        }
    }

    /// Both compiled loops of `count_logs` give the same bits, close to
    /// the exact sum.
    #[test]
    fn count_logs_paths_agree() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        for round in 0..200 {
            let mut a = [0u32; 256];
            let mut b = [0u32; 256];
            for (x, y) in a.iter_mut().zip(b.iter_mut()) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                *x = (seed >> 40) as u32 % 70_000;
                *y = *x
                    + match round % 3 {
                        0 => (seed % 5) as u32,
                        1 => (seed % 70_000) as u32 * u32::from(seed >> 63 == 0),
                        _ => (seed >> 8) as u32 % (1 << 20),
                    };
            }
            let base = count_logs_body(&a, &b);
            let want: f64 = a
                .iter()
                .zip(&b)
                .map(|(&x, &y)| f64::from(y - x))
                .filter(|&c| c > 0.0)
                .map(|c| c * c.log2())
                .sum();
            let present = a.iter().zip(&b).filter(|(x, y)| x != y).count() as u32;
            assert_eq!(base.1, present);
            assert!(
                (f64::from(base.0) - want).abs() <= want * 1e-5 + 1.0,
                "{round}"
            );
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: AVX2 is present (checked just above).
                let v = unsafe { count_logs_avx2(&a, &b) };
                assert_eq!((v.0.to_bits(), v.1), (base.0.to_bits(), base.1));
            }
        }
    }

    use super::super::tests::xorshift;

    /// Bytes whose histogram is Fibonacci-shaped over `syms` symbols (a
    /// Huffman code deeper than 11 bits for 16 or more), shuffled.
    fn fibonacci_bytes(syms: usize, seed: u64) -> Vec<u8> {
        let (mut a, mut b) = (1usize, 1usize);
        let mut d = Vec::new();
        for s in 0..syms {
            d.extend(std::iter::repeat_n(s as u8 * 7, a));
            (a, b) = (b, a + b);
        }
        let mut x = seed | 1;
        for i in (1..d.len()).rev() {
            d.swap(i, (xorshift(&mut x) % (i as u64 + 1)) as usize);
        }
        d
    }

    /// The loose limiter (`fast`'s literals) gives a complete code within
    /// 11 bits, never below the optimum and within 2% of it on
    /// histograms that need limiting.
    #[test]
    fn loose_limiter_is_valid_and_close() {
        use super::super::canonical::validate;
        use super::super::lengths::{code_lengths, histogram};
        for syms in [2usize, 12, 16, 20, 24, 30] {
            let h = histogram(&fibonacci_bytes(syms, syms as u64));
            let loose = code_lengths_loose(&h, MAX_CODE_LEN);
            assert!(validate(&loose, MAX_CODE_LEN).is_ok(), "{syms}");
            let (got, best) = (
                coded_bits(&h, &loose),
                coded_bits(&h, &code_lengths(&h, MAX_CODE_LEN)),
            );
            assert!(
                got >= best && got <= best + best / 50,
                "{syms}: {got} vs {best}"
            );
        }
    }

    /// The `fast` literals' path (`Granules::whole`: one segment, a
    /// direct-mode table, the loose limiter) decodes back on blocks of
    /// 1..=64 bytes, blocks at the 256-byte and 8 KiB thresholds +-1 and
    /// blocks whose code needs limiting; the table is in mode 1 (or 0).
    #[test]
    fn whole_block_path_roundtrips() {
        use super::super::block::{decode_block, encode_block_with};
        use super::super::BlockCoding;
        let text = |n: usize, seed: u64| -> Vec<u8> {
            let mut x = seed | 1;
            (0..n)
                .map(|_| {
                    let x = xorshift(&mut x);
                    b"etaoin shrdlu\n"[(x % 14) as usize] + (x >> 60 == 0) as u8
                })
                .collect()
        };
        let mut cases: Vec<Vec<u8>> = Vec::new();
        for n in 1..=64usize {
            cases.push(text(n, n as u64));
            cases.push(vec![b'a'; n]);
            cases.push((0..n).map(|i| (i * 37) as u8).collect());
        }
        for n in [255usize, 256, 257, 8191, 8192, 8193, 131_072] {
            cases.push(text(n, n as u64));
        }
        for syms in [16usize, 20, 24] {
            cases.push(fibonacci_bytes(syms, 3));
        }
        let mut limited = 0;
        for d in &cases {
            let mut out = Vec::new();
            match encode_block_with(d, Some(&Granules::whole(d)), &mut out) {
                BlockCoding::Huffman => {
                    assert_eq!(out[0], 1, "one segment");
                    assert!(out[1] & 3 <= 1, "table mode {}", out[1] & 3);
                    let mut back = vec![0u8; d.len()];
                    decode_block(&out, &mut back).expect("decodes");
                    assert!(back == *d, "len {}", d.len());
                    let h = histogram_of(d);
                    limited +=
                        usize::from(*code_lengths_loose(&h, 32).iter().max().unwrap_or(&0) > 11);
                }
                BlockCoding::Raw => assert!(out.is_empty() && d.len() <= 64),
                BlockCoding::Fill(b) => assert!(d.iter().all(|&x| x == b)),
                BlockCoding::Zero => assert!(d.iter().all(|&x| x == 0)),
                c => panic!("{c:?} for {} bytes", d.len()),
            }
        }
        assert_eq!(limited, 3, "the Fibonacci blocks need the limiter");
    }

    fn histogram_of(d: &[u8]) -> [u32; 256] {
        super::super::lengths::histogram(d)
    }

    /// A block of two halves with disjoint alphabets is split; a uniform
    /// random block is not.
    #[test]
    fn splits_only_when_it_pays() {
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut rnd = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut two: Vec<u8> = (0..32768).map(|_| (rnd() % 16) as u8).collect();
        two.extend((0..32768).map(|_| 128 + (rnd() % 16) as u8));
        assert!(plan_segments(&Granules::new(&two)).len() >= 2);
        let flat: Vec<u8> = (0..65536).map(|_| (rnd() % 200) as u8).collect();
        assert_eq!(plan_segments(&Granules::new(&flat)).len(), 1);
    }
}
