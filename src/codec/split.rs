//! Choosing the segments of a v2 block: where the block switches code
//! tables, and each segment's code lengths.
//!
//! The block is cut into at most 16 granules (4 KiB each for a 64 KiB
//! block; one histogram pass gives all of them, as prefix sums). A dynamic
//! program over every other granule boundary picks the segmentation with
//! the smallest estimated size, a segment's estimate being its order-0
//! entropy plus an estimate of its table and header bytes; each chosen cut
//! then moves by one granule where that lowers the estimate. When the
//! estimated gain over one segment is small (< 1%), the segmentation is
//! costed exactly (optimal code lengths, exact table bytes) and kept only
//! if it beats the single segment.

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

/// c * log2(c) for small c (exact enough in f32 for estimates).
const CLOG_N: usize = 4096;

fn clog_table() -> &'static [f32; CLOG_N] {
    static T: OnceLock<Box<[f32; CLOG_N]>> = OnceLock::new();
    T.get_or_init(|| {
        let mut t = Box::new([0f32; CLOG_N]);
        for (c, x) in t.iter_mut().enumerate().skip(1) {
            *x = (c as f64 * (c as f64).log2()) as f32;
        }
        t
    })
}

#[inline]
fn clog(t: &[f32; CLOG_N], c: u32) -> f32 {
    match t.get(c as usize) {
        Some(&x) => x,
        None => {
            let c = c as f32;
            c * c.log2()
        }
    }
}

/// Estimated bits of granules i..j: order-0 entropy plus an estimate of
/// the segment's table and header bytes. `syms` lists the symbols present
/// in the block.
fn estimate(t: &[f32; CLOG_N], g: &Granules, syms: &[u8], i: usize, j: usize) -> f32 {
    let (a, b) = (&g.prefix[i], &g.prefix[j]);
    let mut s = 0f32;
    let mut present = 0u32;
    for &x in syms {
        let c = b[x as usize] - a[x as usize];
        s += clog(t, c);
        present += u32::from(c > 0);
    }
    let n = (g.end(j) - g.end(i)) as u32;
    clog(t, n) - s + 8.0 * (40.0 + 0.3 * present as f32)
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
    let t = clog_table();
    let total = g.total();
    let syms: Vec<u8> = (0..=255u8).filter(|&x| total[x as usize] > 0).collect();
    let est = |i: usize, j: usize| estimate(t, g, &syms, i, j);
    // DP over every other granule boundary ...
    let mut points: Vec<usize> = (0..count).step_by(2).collect();
    points.push(count);
    let m = points.len() - 1;
    let mut best = vec![f32::INFINITY; m + 1];
    let mut from = vec![0usize; m + 1];
    best[0] = 0.0;
    for j in 1..=m {
        for i in 0..j {
            let c = best[i] + est(points[i], points[j]);
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
    let single_est = est(0, count);
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
