//! Code lengths: histograms, optimal length-limited construction and exact
//! coded sizes (validation and canonical codes: canonical.rs).

pub(crate) use super::canonical::{reversed_codes_into, TableKind};

/// Byte-value frequencies of `data` (`data.len()` must be below 2^32).
pub fn histogram(data: &[u8]) -> [u32; 256] {
    let mut h = Counter::new();
    h.add(data);
    h.total()
}

/// A running histogram in four sub-tables, so that runs of one value do
/// not serialise on a single counter (store-to-load forwarding stalls).
pub(crate) struct Counter([[u32; 256]; 4]);

impl Counter {
    pub(crate) fn new() -> Counter {
        Counter([[0u32; 256]; 4])
    }

    /// A counter holding the counts `h` already.
    pub(crate) fn from_total(h: &[u32; 256]) -> Counter {
        let mut c = Counter::new();
        c.0[0] = *h;
        c
    }

    /// Counts the bytes of `data` (at most 2^32 - 1 in all).
    pub(crate) fn add(&mut self, data: &[u8]) {
        let h = &mut self.0;
        let mut chunks = data.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            h[0][(w & 0xFF) as usize] += 1;
            h[1][((w >> 8) & 0xFF) as usize] += 1;
            h[2][((w >> 16) & 0xFF) as usize] += 1;
            h[3][((w >> 24) & 0xFF) as usize] += 1;
            h[0][((w >> 32) & 0xFF) as usize] += 1;
            h[1][((w >> 40) & 0xFF) as usize] += 1;
            h[2][((w >> 48) & 0xFF) as usize] += 1;
            h[3][(w >> 56) as usize] += 1;
        }
        for &b in chunks.remainder() {
            h[0][b as usize] += 1;
        }
    }

    /// The counts so far.
    pub(crate) fn total(&self) -> [u32; 256] {
        let h = &self.0;
        let mut out = [0u32; 256];
        for (i, o) in out.iter_mut().enumerate() {
            *o = h[0][i]
                .wrapping_add(h[1][i])
                .wrapping_add(h[2][i])
                .wrapping_add(h[3][i]);
        }
        out
    }
}

/// Optimal length-limited code lengths for `hist` (minimum total coded
/// size among prefix codes whose lengths are at most `max_len`).
///
/// No present symbol gives all zeros; one present symbol gives length 1
/// (the one-symbol code of FORMAT.md section 1). `max_len` is clamped to
/// 1..=32 and raised to ceil(log2(present symbols)) if it is too small for
/// a code to exist. The result is always a complete prefix code (Kraft sum
/// exactly 1) when two or more symbols are present.
pub fn code_lengths(hist: &[u32; 256], max_len: u32) -> [u8; 256] {
    lengths_with(hist, max_len, Limiter::Exact)
}

/// Like `code_lengths` (same guarantees: a complete prefix code within
/// the limit), but when the Huffman code is too deep the lengths come from
/// the fast near-optimal limiter (`limit`) instead of package-merge. The
/// v2 encoder's choice; v1 keeps the optimal code.
pub(crate) fn code_lengths_fast(hist: &[u32; 256], max_len: u32) -> [u8; 256] {
    lengths_with(hist, max_len, Limiter::Fast)
}

/// Like `code_lengths_fast` (a complete prefix code within the limit),
/// but the fast limiter's result is kept however far it is above the
/// unrestricted Huffman code (no package-merge: 84 of the corpus
/// sample's 1380 literal tables at `fast` fell back to it, at ~40 K
/// instructions each). The `fast` level's literals.
pub(crate) fn code_lengths_loose(hist: &[u32; 256], max_len: u32) -> [u8; 256] {
    lengths_with(hist, max_len, Limiter::Loose)
}

/// How a Huffman code deeper than the limit is cut to it.
#[derive(Clone, Copy)]
enum Limiter {
    /// Package-merge: the optimal code.
    Exact,
    /// The fast limiter, package-merge when it loses over 1/FAST_SLACK.
    Fast,
    /// The fast limiter's result as it is (package-merge only if it fails).
    Loose,
}

/// Code lengths for the small alphabet of the code-length tables' own
/// code (at most 32 symbols): `code_lengths_fast` without the work arrays
/// of a 256-symbol alphabet.
pub(crate) fn small_code_lengths_fast(hist: &[u32; 32], max_len: u32) -> [u8; 32] {
    lengths_core::<32, 33>(hist, max_len, Limiter::Fast)
}

/// Code lengths for the sequence alphabets of LZ blocks (at most 64
/// symbols): `code_lengths_fast` on a small alphabet.
pub(crate) fn seq_code_lengths(hist: &[u32; 64], max_len: u32) -> [u8; 64] {
    lengths_core::<64, 65>(hist, max_len, Limiter::Fast)
}

fn lengths_with(hist: &[u32; 256], max_len: u32, limiter: Limiter) -> [u8; 256] {
    lengths_core::<256, 257>(hist, max_len, limiter)
}

/// `lengths_with` for an alphabet of N symbols; M = N + 1 (the size of
/// the work arrays of `huffman_depths`).
fn lengths_core<const N: usize, const M: usize>(
    hist: &[u32; N],
    max_len: u32,
    limiter: Limiter,
) -> [u8; N] {
    let mut lens = [0u8; N];
    // Present symbols sorted by (count, symbol): deterministic.
    let mut keys = [0u64; N];
    let mut n = 0usize;
    for (s, &c) in hist.iter().enumerate() {
        // Branch-free: the slot is overwritten unless c > 0 (the last
        // slot only when every symbol is present).
        if let Some(k) = keys.get_mut(n) {
            *k = (u64::from(c) << 8) | s as u64;
        }
        n += usize::from(c > 0);
    }
    let keys = &mut keys[..n];
    match n {
        0 => return lens,
        1 => {
            lens[(keys[0] & 0xFF) as usize] = 1;
            return lens;
        }
        _ => {}
    }
    sort_keys(keys);
    // The keys become the weights in place (no second 8-byte array to
    // clear), their symbols kept aside.
    let mut syms = [0u8; N];
    for (s, k) in syms.iter_mut().zip(keys.iter_mut()) {
        *s = *k as u8;
        *k >>= 8;
    }
    let weights = &*keys;
    let min_len = usize::BITS - (n - 1).leading_zeros(); // ceil(log2 n)
    let limit = max_len.clamp(1, 32).max(min_len) as u8;

    let mut depth = [0u8; N];
    if huffman_depths::<M>(weights, &mut depth[..n]) > limit
        && !fast_limit(weights, &mut depth[..n], limit, limiter)
    {
        package_merge(weights, limit, &mut depth[..n]);
    }
    for (&s, &d) in syms[..n].iter().zip(depth.iter()) {
        lens[usize::from(s)] = d;
    }
    lens
}

/// The fast limiter's result costs at most 1 + 1/FAST_SLACK times the
/// unrestricted Huffman code (a lower bound of the optimum), else the
/// caller runs package-merge: the fast path can never lose more than this.
const FAST_SLACK: u64 = 500;

/// Limits Huffman depths `d` of ascending weights `w` as `limiter` says;
/// false (and `d` unspecified) when package-merge must decide: always
/// for `Exact`, when the fast limiter loses over 1/FAST_SLACK for `Fast`,
/// only when the limiter failed for `Loose`.
fn fast_limit(w: &[u64], d: &mut [u8], limit: u8, limiter: Limiter) -> bool {
    match limiter {
        Limiter::Exact => false,
        Limiter::Loose => super::limit::limit_depths_with(w, d, limit, false),
        Limiter::Fast => {
            let cost = |d: &[u8]| -> u64 { w.iter().zip(d).map(|(&x, &l)| x * u64::from(l)).sum() };
            let huffman = cost(d);
            super::limit::limit_depths(w, d, limit) && cost(d) <= huffman + huffman / FAST_SLACK
        }
    }
}

/// Unrestricted Huffman code lengths for ascending `w` (two-queue method,
/// leaves first on ties); returns the longest length. The queue choice is
/// a select, not a branch (it is unpredictable). M > w.len() (the work
/// arrays hold a sentinel past the last leaf).
fn huffman_depths<const M: usize>(w: &[u64], depth: &mut [u8]) -> u8 {
    let n = w.len();
    if n < 2 || n >= M {
        depth.fill(1);
        return if n < 2 { 1 } else { u8::MAX };
    }
    // Leaf weights with a sentinel; internal nodes are created in
    // non-decreasing weight order, and a node not yet made weighs MAX.
    let mut lw = [u64::MAX; M];
    lw[..n].copy_from_slice(w);
    let mut iw = [u64::MAX; M];
    // The parents of leaves and of internal nodes.
    let mut lparent = [0u16; M];
    let mut iparent = [0u16; M];
    let (mut leaf, mut inode) = (0usize, 0usize);
    for k in 0..n - 1 {
        let mut sum = 0u64;
        for _ in 0..2 {
            let (a, b) = (lw[leaf], iw[inode]);
            let use_leaf = a <= b;
            sum += if use_leaf { a } else { b };
            // Both written (no branch): the entry of the node not taken
            // is rewritten when that node is taken (every leaf and every
            // internal node but the root is taken once; the root's
            // parent and the sentinel's are never read).
            lparent[leaf] = k as u16;
            iparent[inode] = k as u16;
            leaf += usize::from(use_leaf);
            inode += usize::from(!use_leaf);
        }
        iw[k] = sum;
    }
    // Depths of internal nodes: the root is n-2; parents come later.
    let mut idepth = [0u8; M];
    for k in (0..n - 2).rev() {
        idepth[k] = idepth[usize::from(iparent[k])].saturating_add(1);
    }
    let mut max = 0;
    for (d, &p) in depth.iter_mut().zip(lparent.iter()) {
        *d = idepth[usize::from(p)].saturating_add(1);
        max = max.max(*d);
    }
    max
}

/// Sorts distinct `count << 8 | symbol` keys ascending: a stable radix
/// sort on the count bytes (symbols arrive ascending), branch-free unlike a
/// comparison sort, for more than a few keys.
fn sort_keys(keys: &mut [u64]) {
    if keys.len() <= 32 {
        keys.sort_unstable();
        return;
    }
    let max = keys.iter().max().copied().unwrap_or(0) >> 8;
    let mut tmp = [0u64; 256];
    let tmp = &mut tmp[..keys.len()];
    let mut shift = 8;
    while shift < 40 && max >> (shift - 8) > 0 {
        let mut cnt = [0u16; 257];
        for &k in keys.iter() {
            cnt[((k >> shift) & 0xFF) as usize + 1] += 1;
        }
        for i in 1..257 {
            cnt[i] += cnt[i - 1];
        }
        for &k in keys.iter() {
            let d = ((k >> shift) & 0xFF) as usize;
            tmp[usize::from(cnt[d])] = k;
            cnt[d] += 1;
        }
        keys.copy_from_slice(tmp);
        shift += 8;
    }
}

/// Number of leaves (ascending weights) at most x, by a table for small x.
struct Rank<'a> {
    w: &'a [u64],
    /// table[x] = leaves <= x, for x <= table.len() - 1.
    table: Vec<u16>,
}

impl<'a> Rank<'a> {
    const MAX_TABLE: u64 = 4095;

    fn new(w: &'a [u64]) -> Rank<'a> {
        let top = w[w.len() - 1].min(Self::MAX_TABLE) as usize;
        let mut table = vec![0u16; top + 1];
        // table[x] = j for w[j-1] <= x < w[j].
        let mut lo = 0usize;
        for (j, &v) in w.iter().enumerate() {
            let hi = (v as usize).min(top + 1);
            if hi > lo {
                table[lo..hi].fill(j as u16);
                lo = hi;
            }
        }
        table[lo..].fill(w.len() as u16);
        Rank { w, table }
    }

    #[inline]
    fn of(&self, x: u64) -> u16 {
        match self.table.get(x as usize) {
            Some(&r) => r,
            None => {
                let base = self.table.last().map_or(0, |&b| usize::from(b));
                (base + self.w[base..].partition_point(|&v| v <= x)) as u16
            }
        }
    }
}

/// Package-merge (Larmore-Hirschberg): optimal lengths <= `limit` for
/// ascending weights `w` (requires 2^limit >= w.len()). Every level's list
/// is cut to its first 2n-2 items, the most any selection uses.
///
/// Level 0 (the deepest) lists the leaves; level l merges the leaves with
/// the packages (pair sums) of level l-1's list, leaves first on ties.
/// The merge places every item directly: package p goes after the
/// `before[p]` leaves of weight <= its own (a table lookup), at
/// `before[p] + p`, and leaf j after the packages lighter than it. Only
/// `before` is kept per level: the first T items of a level hold the
/// packages p with `before[p] + p < T`, and leaves for the rest.
fn package_merge(w: &[u64], limit: u8, depth: &mut [u8]) {
    let n = w.len();
    let levels = limit as usize;
    if n <= SMALL && levels <= 32 {
        // Small alphabets (the CL code): work arrays on the stack and no
        // rank table.
        let mut before = [0u16; SMALL * 32];
        let mut m = [0u64; 2 * SMALL];
        let mut pk = [0u64; SMALL];
        let mut after = [0u16; SMALL + 1];
        let rank = Rank {
            w,
            table: Vec::new(),
        };
        let work = (&mut before[..], &mut m[..], &mut pk[..], &mut after[..]);
        package_merge_in(w, limit, depth, &rank, work);
    } else {
        let mut before = vec![0u16; levels * n];
        let mut m = vec![0u64; 2 * n];
        let mut pk = vec![0u64; n];
        let mut after = vec![0u16; n + 1];
        let work = (&mut before[..], &mut m[..], &mut pk[..], &mut after[..]);
        package_merge_in(w, limit, depth, &Rank::new(w), work);
    }
}

/// Alphabets up to this size take the allocation-free `package_merge`.
const SMALL: usize = 32;

/// Work arrays of `package_merge_in`: before (levels * n), m (2n), pk (n),
/// after (n + 1).
type PmWork<'a> = (&'a mut [u16], &'a mut [u64], &'a mut [u64], &'a mut [u16]);

/// `package_merge` with its work arrays given.
fn package_merge_in(w: &[u64], limit: u8, depth: &mut [u8], rank: &Rank<'_>, work: PmWork<'_>) {
    let (before, m, pk, after) = work;
    let n = w.len();
    let keep = 2 * n - 2;
    let levels = limit as usize;
    let mut kept = [0usize; 32];
    let mut len = [0usize; 32];
    m[..n].copy_from_slice(w);
    len[0] = n;
    for l in 1..levels {
        // np <= (2n-2)/2 < n packages.
        let np = len[l - 1] / 2;
        let pk = &mut pk[..np];
        for (p, c) in pk.iter_mut().zip(m.chunks_exact(2)) {
            *p = c[0] + c[1];
        }
        let b = &mut before[l * n..l * n + np];
        for (x, &p) in b.iter_mut().zip(pk.iter()) {
            *x = rank.of(p);
        }
        // after[j]: packages ahead of leaf j (those with before <= j).
        after.fill(0);
        for &x in b.iter() {
            after[usize::from(x)] += 1;
        }
        let mut ahead = 0usize;
        for (j, (&v, &a)) in w.iter().zip(after.iter()).enumerate() {
            ahead += usize::from(a);
            m[j + ahead] = v;
        }
        for (p, (&x, &v)) in b.iter().zip(pk.iter()).enumerate() {
            m[usize::from(x) + p] = v;
        }
        kept[l] = np;
        len[l] = (n + np).min(keep);
    }
    depth.fill(0);
    let mut take = keep;
    for l in (0..levels).rev() {
        let chosen = take.min(len[l]);
        let b = &before[l * n..l * n + kept[l]];
        // before[p] + p grows with p.
        let (mut packages, mut hi) = (0usize, b.len());
        while packages < hi {
            let mid = (packages + hi) / 2;
            if usize::from(b[mid]) + mid < chosen {
                packages = mid + 1;
            } else {
                hi = mid;
            }
        }
        for d in depth[..chosen - packages].iter_mut() {
            *d += 1;
        }
        take = 2 * packages;
    }
}

/// Exact size in bits of data with histogram `hist` coded with `lengths`
/// (0 for a one-symbol table, whose symbol costs no bits).
pub fn coded_bits(hist: &[u32; 256], lengths: &[u8; 256]) -> u64 {
    if lengths.iter().filter(|&&l| l > 0).count() == 1 {
        return 0;
    }
    hist.iter()
        .zip(lengths.iter())
        .map(|(&c, &l)| u64::from(c) * u64::from(l))
        .sum()
}

#[cfg(test)]
#[path = "lengths_tests.rs"]
mod tests;
