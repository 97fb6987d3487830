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

use super::lengths::{code_lengths_fast, coded_bits, Counter};
use super::table::encode_table;
use super::MAX_CODE_LEN;
use std::sync::OnceLock;

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
}

impl Granules {
    /// One pass over `data`.
    pub(crate) fn new(data: &[u8]) -> Granules {
        let n = data.len();
        let gran = if n < MIN_SPLIT_LEN {
            n.max(1)
        } else {
            n.div_ceil(MAX_GRANULES).max(MIN_GRANULE)
        };
        let mut prefix = Vec::with_capacity(n.div_ceil(gran) + 1);
        prefix.push([0u32; 256]);
        let mut counter = Counter::new();
        for chunk in data.chunks(gran) {
            counter.add(chunk);
            prefix.push(counter.total());
        }
        Granules { gran, n, prefix }
    }

    /// The whole block's histogram.
    pub(crate) fn total(&self) -> &[u32; 256] {
        self.prefix.last().unwrap_or(&self.prefix[0])
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

/// Table range of `clog`.
const CLOG_N: usize = 4096;

/// c * log2(c) and log2(c) for c < CLOG_N.
struct LogTables {
    clog: [f32; CLOG_N],
    log2: [f32; CLOG_N],
}

fn log_tables() -> &'static LogTables {
    static T: OnceLock<Box<LogTables>> = OnceLock::new();
    T.get_or_init(|| {
        let mut t = Box::new(LogTables {
            clog: [0f32; CLOG_N],
            log2: [0f32; CLOG_N],
        });
        for c in 1..CLOG_N {
            let l = (c as f64).log2();
            t.clog[c] = (c as f64 * l) as f32;
            t.log2[c] = l as f32;
        }
        t
    })
}

/// c * log2(c): from the table below CLOG_N, else as c * (e + log2(c >> e))
/// with c >> e in 2048..4096 (relative error below 2^-11 in the log, enough
/// for estimates).
#[inline]
fn clog(t: &LogTables, c: u32) -> f32 {
    match t.clog.get(c as usize) {
        Some(&x) => x,
        None => {
            let e = 20 - c.leading_zeros(); // c >> e < 4096 = 2^12
            c as f32 * (e as f32 + t.log2[(c >> e) as usize])
        }
    }
}

/// Entropy bits of granules i..j (n log2 n - sum of c log2 c) and the
/// number of symbols present. `syms` lists the symbols present in the
/// block. Four sums: the adds would otherwise be one latency chain.
fn entropy(t: &LogTables, g: &Granules, syms: &[u8], i: usize, j: usize) -> (f32, u32) {
    let (a, b) = (&g.prefix[i], &g.prefix[j]);
    let mut s = [0f32; 4];
    let mut present = 0u32;
    let mut chunks = syms.chunks_exact(4);
    for q in &mut chunks {
        for k in 0..4 {
            let x = usize::from(q[k]);
            let c = b[x] - a[x];
            s[k] += clog(t, c);
            present += u32::from(c > 0);
        }
    }
    for &x in chunks.remainder() {
        let c = b[usize::from(x)] - a[usize::from(x)];
        s[0] += clog(t, c);
        present += u32::from(c > 0);
    }
    let n = (g.end(j) - g.end(i)) as u32;
    (clog(t, n) - ((s[0] + s[1]) + (s[2] + s[3])), present)
}

/// Estimated table and header bits of a segment with `present` symbols.
fn overhead(present: u32) -> f32 {
    8.0 * (40.0 + 0.3 * present as f32)
}

/// Estimated bits of granules i..j: order-0 entropy plus an estimate of
/// the segment's table and header bytes.
fn estimate(t: &LogTables, g: &Granules, syms: &[u8], i: usize, j: usize) -> f32 {
    let (h, present) = entropy(t, g, syms, i, j);
    h + overhead(present)
}

/// Builds the segments for granule cuts `cuts` (ascending, 0 .. count).
fn build(g: &Granules, cuts: &[usize]) -> Vec<Segment> {
    let mut segs: Vec<Segment> = Vec::with_capacity(cuts.len());
    for w in cuts.windows(2) {
        let hist = g.hist(w[0], w[1]);
        let lengths = code_lengths_fast(&hist, MAX_CODE_LEN);
        let mut table = Vec::with_capacity(64);
        encode_table(&lengths, segs.last().map(|s| &s.lengths), &mut table);
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
/// bits a segment).
fn cost(segs: &[Segment]) -> u64 {
    segs.iter()
        .map(|s| 8 * (s.table.len() as u64 + 3 + 8) + 12 + coded_bits(&s.hist, &s.lengths))
        .sum()
}

/// Cuts the block into segments, each with its lengths and table.
pub(crate) fn plan_segments(g: &Granules) -> Vec<Segment> {
    let count = g.count();
    if count < 2 {
        return build(g, &[0, count]);
    }
    let t = log_tables();
    let total = g.total();
    let syms: Vec<u8> = (0..=255u8).filter(|&x| total[x as usize] > 0).collect();
    let est = |i: usize, j: usize| estimate(t, g, &syms, i, j);
    // DP over every other granule boundary (estimates memoised) ...
    let mut points: Vec<usize> = (0..count).step_by(2).collect();
    points.push(count);
    let m = points.len() - 1;
    let mut memo = vec![f32::NAN; (m + 1) * (m + 1)];
    let mut e = |i: usize, j: usize| -> f32 {
        let x = &mut memo[i * (m + 1) + j];
        if x.is_nan() {
            *x = est(points[i], points[j]);
        }
        *x
    };
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
    if cost(&segs) < cost(&single) {
        segs
    } else {
        single
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table-free branch of `clog` stays within 2^-11 of c log2 c.
    #[test]
    fn clog_is_accurate() {
        let t = log_tables();
        for c in (1u32..70_000).chain([1 << 20, (1 << 20) + 12_345, u32::MAX >> 1]) {
            let want = f64::from(c) * f64::from(c).log2();
            let got = f64::from(clog(t, c));
            assert!(
                (got - want).abs() <= want * (1.0 / 2048.0) + 1e-3,
                "{c}: {got} vs {want}"
            );
        }
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
