//! The `fast` level's match finder (lz4 / zstd -1 class): one hash table
//! probe per position (two positions a round, probed together), the last repeat offset checked first, and a step
//! that grows while no match is found (incompressible stretches cost
//! little).

use super::encode::{Parse, Seq};
use super::util::*;

/// Bytes hashed per position at the `fast` level (corpus, 128K blocks:
/// 5 gave ratio +0.2% and 6-8% less speed; Silesia +0.7%).
const MLS_FAST: u32 = 6;
/// Bytes hashed per position by the probe of the other levels: it finds
/// more of what their deep search finds (with 6, `default` gave up LZ
/// on Silesia's x-ray: 1.371 -> 1.304 at 128K).
const MLS_PROBE: u32 = 5;
/// The step between rounds without a match grows by one every
/// 2^STEP_LOG bytes since the last match.
const STEP_LOG: u32 = 8;

/// The matcher's hash tables, kept between blocks (cleared per block: a
/// table of positions offset by a moving base, never cleared, ran 20%
/// slower by wall time for 1% fewer instructions; see BENCHMARKS.md,
/// session 10). Blocks of at most 64 KiB (the mount's default) store
/// their positions in the 16-bit table: 32 KiB, which stays in the L1
/// cache, and half the bytes to clear; larger blocks in the 32-bit one.
/// Both give the same parse.
pub(crate) struct FastTable {
    t32: Box<[u32; TABLE_LEN]>,
    t16: Box<[u16; TABLE_LEN]>,
}

/// A table entry: a position in the block (below 2^16 for `u16`).
trait Pos: Copy + Default {
    fn get(self) -> usize;
    /// `p` must fit (the caller picks the type by the block's length).
    fn new(p: usize) -> Self;
}

impl Pos for u32 {
    #[inline(always)]
    fn get(self) -> usize {
        self as usize
    }
    #[inline(always)]
    fn new(p: usize) -> u32 {
        p as u32
    }
}

impl Pos for u16 {
    #[inline(always)]
    fn get(self) -> usize {
        usize::from(self)
    }
    #[inline(always)]
    fn new(p: usize) -> u16 {
        p as u16
    }
}

/// Blocks up to this length use the 16-bit table (every position stored
/// is below the block's length).
const T16_MAX: usize = 1 << 16;

/// Slots of the largest table (2^14); a block uses the first 2^bits,
/// indexed through TABLE_MASK (so no index needs a bounds check).
const TABLE_LEN: usize = 1 << 14;
const TABLE_MASK: usize = TABLE_LEN - 1;

impl Default for FastTable {
    fn default() -> FastTable {
        FastTable {
            t32: Box::new([0; TABLE_LEN]),
            t16: Box::new([0; TABLE_LEN]),
        }
    }
}

/// The table slot of the `MLS` low bytes of `v`: 14 bits of their hash
/// (a constant shift, no shift count to keep in a register), then `mask`
/// (2^bits - 1) for a smaller table.
#[inline(always)]
fn slot<const MLS: u32>(v: u64, mask: usize) -> usize {
    hash::<MLS>(v, 14) & mask & TABLE_MASK
}

/// Slack after the literals: literal runs up to this long are copied as
/// one chunk of this many bytes (32: memcpy's branches on the length
/// were 130 K mispredicted branches a pass over the corpus sample at
/// 64K, of 3.8 M; 16 before session 16).
const WILD: usize = 32;

/// The `fast` level's parse of `data` (at most MAX_BLOCK_LEN bytes) into
/// `parse` (cleared first); `table` is scratch.
#[inline(never)]
pub(crate) fn parse(data: &[u8], parse: &mut Parse, table: &mut FastTable) {
    if data.len() <= T16_MAX {
        parse_with::<MLS_FAST, u16>(data, parse, &mut table.t16)
    } else {
        parse_with::<MLS_FAST, u32>(data, parse, &mut table.t32)
    }
}

/// `parse` as the other levels' probe of random-looking blocks.
#[inline(never)]
pub(crate) fn probe(data: &[u8], parse: &mut Parse, table: &mut FastTable) {
    parse_with::<MLS_PROBE, u32>(data, parse, &mut table.t32)
}

/// The parse with table entries of type `P`, which must hold every
/// position below `data.len()`.
#[inline(always)]
fn parse_with<const MLS: u32, P: Pos>(data: &[u8], parse: &mut Parse, table: &mut [P; TABLE_LEN]) {
    parse.seqs.clear();
    let n = data.len();
    // Every offset below n fits (FORMAT.md 5.2), so none is checked.
    debug_assert!(n <= MAX_OFFSET + 1);
    let bits = (usize::BITS - n.leading_zeros())
        .saturating_sub(3)
        .clamp(10, 14);
    debug_assert!(n <= 1 << (8 * std::mem::size_of::<P>()));
    table[..1 << bits].fill(P::default());
    let mask = (1usize << bits) - 1;
    // Literals are appended in WILD-byte chunks, then cut back to the
    // literals so far (room reserved once: no reallocation, no zeroing).
    let lits = &mut parse.lits;
    lits.clear();
    lits.reserve(n + WILD);
    let mut anchor = 0usize;
    // The last two offsets (the writer turns them into repeat codes).
    let (mut rep, mut rep2) = (1usize, 4usize);
    if n >= 16 {
        // Loads of 8 bytes at ip + 1 must stay inside.
        let limit = n - 9;
        let mut ip = 1usize;
        while ip + 1 < limit {
            // Two positions per round: both probes issue together.
            // SAFETY: ip + 1 < limit = n - 9, so ip + 8 <= n.
            let v0 = unsafe { read64_unchecked(data, ip) };
            let v1 = v0 >> 8;
            let h0 = slot::<MLS>(v0, mask);
            let h1 = slot::<MLS>(v1, mask);
            // Every entry read (the first 2^bits, through `mask`) is 0
            // (cleared above) or a position stored during this parse;
            // every position stored is below `limit` (ip + 1 < limit
            // here; the table fill after a match stores ip - 2 with ip <
            // limit), so c + 8 <= n. And each is below `ip` (stored
            // before `ip` moved past it): c0 < ip, c1 < ip + 1.
            let c0 = table[h0].get();
            table[h0] = P::new(ip);
            let c1 = table[h1].get();
            table[h1] = P::new(ip + 1);
            debug_assert!(c0 < ip && c1 <= ip);
            // Repeat offset one position ahead (zstd's trick). `rep` is
            // at most r (it is an earlier match's offset, which is at
            // most that match's start); `q <= r` keeps the read in
            // bounds regardless.
            let r = ip + 1;
            let q = r.wrapping_sub(rep);
            let (mut start, mut off, mut len);
            // SAFETY (the three reads): q <= r = ip + 1, so q + 4 <= n;
            // c0 and c1 + 8 <= n (see above).
            if q <= r && unsafe { read32_unchecked(data, q) } == v1 as u32 {
                start = r;
                off = rep;
                len = 4 + match_len(data, q + 4, r + 4);
            } else if unsafe { read32_unchecked(data, c0) } == v0 as u32 {
                start = ip;
                off = ip - c0;
                len = 4 + match_len(data, c0 + 4, ip + 4);
            } else if unsafe { read32_unchecked(data, c1) } == v1 as u32 {
                start = r;
                off = r - c1;
                len = 4 + match_len(data, c1 + 4, r + 4);
            } else {
                // The step grows by one every 2^STEP_LOG bytes since the
                // last match (lz4 / zstd's acceleration over stretches
                // without matches); no branch.
                ip += 2 + ((ip - anchor) >> STEP_LOG);
                continue;
            }
            let back = back_len(data, start - off, start, start - anchor);
            start -= back;
            len += back;
            loop {
                // The literals before the match, then the match.
                let ll = start - anchor;
                let nlit = lits.len();
                if ll <= WILD && anchor + WILD <= n {
                    let chunk: &[u8; WILD] =
                        data[anchor..anchor + WILD].try_into().unwrap_or(&[0; WILD]);
                    lits.extend_from_slice(chunk);
                    lits.truncate(nlit + ll);
                } else {
                    lits.extend_from_slice(&data[anchor..start]);
                }
                parse.seqs.push(Seq {
                    ll: ll as u32,
                    ml: len as u32,
                    off: off as u32,
                });
                if off != rep {
                    rep2 = rep;
                    rep = off;
                }
                ip = start + len;
                anchor = ip;
                if ip >= limit {
                    break;
                }
                // Fill the table inside the match (p < ip < limit), then
                // try the other repeat offset right here (no literals:
                // zstd's trick).
                let p = ip - 2;
                // SAFETY (the four reads): p < ip < limit = n - 9, so
                // p + 8 and ip + 4 <= n; ip - rep2 <= ip once rep2 <= ip.
                table[slot::<MLS>(unsafe { read64_unchecked(data, p) }, mask)] = P::new(p);
                if rep2 > ip
                    || unsafe { read32_unchecked(data, ip - rep2) != read32_unchecked(data, ip) }
                {
                    break;
                }
                start = ip;
                off = rep2;
                len = 4 + match_len(data, ip - rep2 + 4, ip + 4);
            }
        }
    }
    lits.extend_from_slice(&data[anchor..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::lz::tests::{noise, texty};

    fn parsed(data: &[u8], table: &mut FastTable) -> (Vec<Seq>, Vec<u8>) {
        let mut p = Parse::default();
        parse(data, &mut p, table);
        (p.seqs, p.lits)
    }

    /// The bytes a parse stands for (sequences with plain offsets, then
    /// the literals left), checking every offset.
    fn rebuild(seqs: &[Seq], lits: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut lp = 0;
        for s in seqs {
            out.extend_from_slice(&lits[lp..lp + s.ll as usize]);
            lp += s.ll as usize;
            let off = s.off as usize;
            assert!(
                off >= 1 && off <= out.len(),
                "offset {off} at {}",
                out.len()
            );
            assert!(s.ml >= 4);
            for _ in 0..s.ml {
                out.push(out[out.len() - off]);
            }
        }
        out.extend_from_slice(&lits[lp..]);
        out
    }

    /// A long stretch without matches (the step grows to ~80 bytes) and
    /// then a repeat that ends the block: the repeat is still found and
    /// ends exactly at the block's end; the parse rebuilds the block.
    #[test]
    fn miss_streak_then_match_at_block_end() {
        let mut t = FastTable::default();
        for (len, tail) in [(20_000usize, 2_000usize), (100_000, 600), (5_000, 100)] {
            let mut d = noise(len, len as u64);
            let head = d[..tail].to_vec();
            d.extend_from_slice(&head);
            let (seqs, lits) = parsed(&d, &mut t);
            assert_eq!(rebuild(&seqs, &lits), d);
            let last = seqs.last().expect("the repeat is found");
            assert_eq!(last.off as usize, len);
            let matched: usize = seqs.iter().map(|s| s.ml as usize).sum();
            assert!(
                matched + 16 >= tail,
                "len {len}: matched {matched} of {tail}"
            );
        }
    }

    /// Blocks of 1..=64 bytes of every shape rebuild from their parse
    /// (short blocks take no match or stop before the loads' end).
    #[test]
    fn tiny_blocks_parse_and_rebuild() {
        let mut t = FastTable::default();
        for n in 1..=64usize {
            for d in [
                vec![7u8; n],
                noise(n, n as u64),
                texty(n, n as u64),
                (0..n).map(|i| (i % 3) as u8).collect::<Vec<u8>>(),
            ] {
                let (seqs, lits) = parsed(&d, &mut t);
                assert_eq!(rebuild(&seqs, &lits), d, "n {n}");
            }
        }
    }

    /// Blocks of up to T16_MAX bytes parse with the 16-bit table exactly
    /// as with the 32-bit one (a repeat reaching back to position 0 at the
    /// block's end: the largest positions stored); one byte more takes
    /// the 32-bit table. Every parse rebuilds its block.
    #[test]
    fn sixteen_bit_table_gives_the_same_parse() {
        let mut t = FastTable::default();
        for n in [T16_MAX - 1, T16_MAX, T16_MAX + 1, 40_000, 300] {
            for d in [texty(n, n as u64), {
                let mut d = noise(n - n / 20, n as u64);
                let head = d[..n / 20].to_vec();
                d.extend_from_slice(&head);
                d
            }] {
                let (seqs, lits) = parsed(&d, &mut t);
                assert_eq!(rebuild(&seqs, &lits), d, "n {n}");
                let mut p = Parse::default();
                parse_with::<MLS_FAST, u32>(&d, &mut p, &mut FastTable::default().t32);
                assert!(p.seqs == seqs && p.lits == lits, "n {n}");
                if n <= T16_MAX {
                    let mut q = Parse::default();
                    parse_with::<MLS_FAST, u16>(&d, &mut q, &mut FastTable::default().t16);
                    assert!(q.seqs == seqs && q.lits == lits, "n {n}");
                }
            }
        }
    }

    /// Literal runs of WILD +-1 bytes (and 15..=17) before a match, with
    /// the match ending the block or not: the run is copied whole (one
    /// chunk, or the slice where the chunk would pass the block's end)
    /// and the parse rebuilds the block.
    #[test]
    fn literal_runs_around_the_chunk_size() {
        let mut t = FastTable::default();
        for ll in [15usize, 16, 17, WILD - 1, WILD, WILD + 1, 2 * WILD + 1] {
            for tail in [0usize, 1, WILD - 1, WILD, WILD + 1, 100] {
                // A 24-byte word, `ll` bytes of noise, the word again,
                // then `tail` bytes of noise.
                let word = noise(24, 77);
                let mut d = word.clone();
                d.extend(noise(ll, ll as u64 + 1));
                d.extend_from_slice(&word);
                d.extend(noise(tail, tail as u64 + 500));
                let (seqs, lits) = parsed(&d, &mut t);
                assert_eq!(rebuild(&seqs, &lits), d, "ll {ll} tail {tail}");
                assert!(
                    seqs.iter().any(|s| s.off as usize == 24 + ll),
                    "ll {ll} tail {tail}: the repeat is found"
                );
            }
        }
    }

    /// The same parse with a fresh table and after other blocks.
    #[test]
    fn parse_ignores_earlier_blocks() {
        let d = texty(50_000, 4);
        let want = parsed(&d, &mut FastTable::default());
        assert!(!want.0.is_empty());
        let mut t = FastTable::default();
        parsed(&texty(60_000, 5), &mut t);
        assert!(parsed(&d, &mut t) == want);
        parsed(&texty(3_000, 6), &mut t);
        assert!(parsed(&d, &mut t) == want);
    }
}
