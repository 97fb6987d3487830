//! The `fast` level's match finder (lz4 / zstd -1 class): one hash table
//! probe per position (two positions a round, probed together), the last
//! repeat offset checked first, and a step that grows while no match is
//! found (incompressible stretches cost little).
//!
//! The hash table is never cleared between blocks: every entry holds a
//! position plus the table's `base`, which moves past every position of
//! the previous block, so entries of earlier blocks read as "no
//! candidate" (the parse of a block depends on nothing but the block).

use super::encode::{Parse, Seq};
use super::util::*;

/// Bytes hashed per position.
const MLS: u32 = 5;
/// Positions scanned before the step grows by one.
const SKIP_LOG: u32 = 6;
/// Hash bits (a fixed-size table: indices need no bounds checks).
const HBITS: u32 = 14;
const HSIZE: usize = 1 << HBITS;

/// The matcher's hash table, kept between blocks.
pub(crate) struct FastTable {
    t: Box<[u32; HSIZE]>,
    /// Stored value = position + base; a value below base is empty.
    base: u32,
}

impl Default for FastTable {
    fn default() -> FastTable {
        FastTable {
            t: Box::new([0; HSIZE]),
            base: 1,
        }
    }
}

impl FastTable {
    /// Makes every entry empty for a block of `n` bytes and returns the
    /// base to add to its positions.
    fn start(&mut self, n: usize) -> u32 {
        // Positions of this block reach base + n - 1 < 2^32.
        if u64::from(self.base) + n as u64 >= u64::from(u32::MAX) {
            self.t.fill(0);
            self.base = 1;
        }
        let b = self.base;
        self.base += n as u32;
        b
    }
}

#[inline(always)]
fn slot(v: u64) -> usize {
    hash::<MLS>(v, HBITS) & (HSIZE - 1)
}

/// Parses `data` into `parse` (cleared first); `table` is scratch.
pub(crate) fn parse(data: &[u8], parse: &mut Parse, table: &mut FastTable) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("bmi1") && std::arch::is_x86_feature_detected!("bmi2") {
        // SAFETY: `parse_bmi` is safe code whose only requirement is that
        // the CPU supports BMI1 and BMI2, which was checked just above.
        return unsafe { parse_bmi(data, parse, table) };
    }
    parse_body(data, parse, table)
}

/// `parse_body` compiled with BMI1/2 (tzcnt in the match extension,
/// shifts by a register without CL).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "bmi1,bmi2")]
fn parse_bmi(data: &[u8], parse: &mut Parse, table: &mut FastTable) {
    parse_body(data, parse, table)
}

#[inline(always)]
fn parse_body(data: &[u8], parse: &mut Parse, table: &mut FastTable) {
    parse.clear();
    let n = data.len();
    let base = table.start(n);
    let t = &mut *table.t;
    let mut anchor = 0usize;
    let mut rep = 1usize;
    if n >= 16 {
        // Loads of 8 bytes at ip + 1 must stay inside.
        let limit = n - 9;
        let mut ip = 1usize;
        let mut misses = 0usize;
        while ip + 1 < limit {
            // Two positions per round: both probes issue together.
            let v0 = read64(data, ip);
            let v1 = v0 >> 8;
            let h0 = slot(v0);
            let h1 = slot(v1);
            // An empty entry (below base) wraps to a huge candidate.
            let c0 = t[h0].wrapping_sub(base) as usize;
            t[h0] = ip as u32 + base;
            let c1 = t[h1].wrapping_sub(base) as usize;
            t[h1] = (ip + 1) as u32 + base;
            // Repeat offset one position ahead (zstd's trick).
            let r = ip + 1;
            let (mut start, off, mut len);
            if rep <= r && read32(data, r - rep) == v1 as u32 {
                start = r;
                off = rep;
                len = 4 + match_len(data, r - rep + 4, r + 4);
            } else if c0 < ip && ip - c0 <= MAX_OFFSET && read32(data, c0) == v0 as u32 {
                start = ip;
                off = ip - c0;
                len = 4 + match_len(data, c0 + 4, ip + 4);
            } else if c1 < r && r - c1 <= MAX_OFFSET && read32(data, c1) == v1 as u32 {
                start = r;
                off = r - c1;
                len = 4 + match_len(data, c1 + 4, r + 4);
            } else {
                misses += 1;
                ip += 2 + (misses >> SKIP_LOG);
                continue;
            }
            let back = back_len(data, start - off, start, start - anchor);
            start -= back;
            len += back;
            parse.lits.extend_from_slice(&data[anchor..start]);
            parse.seqs.push(Seq {
                ll: (start - anchor) as u32,
                ml: len as u32,
                off: off as u32,
            });
            rep = off;
            ip = start + len;
            anchor = ip;
            misses = 0;
            // Fill the table at two positions inside the match.
            if ip < limit {
                let p = ip - 2;
                t[slot(read64(data, p))] = p as u32 + base;
            }
        }
    }
    parse.lits.extend_from_slice(&data[anchor..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::lz::tests::texty;

    fn parsed(data: &[u8], table: &mut FastTable) -> (Vec<Seq>, Vec<u8>) {
        let mut p = Parse::default();
        parse(data, &mut p, table);
        (p.seqs, p.lits)
    }

    /// The same parse with a fresh table, after other blocks, and when
    /// the base is about to wrap (the table is cleared then).
    #[test]
    fn parse_ignores_old_entries_and_wraps() {
        let d = texty(50_000, 4);
        let want = parsed(&d, &mut FastTable::default());
        assert!(!want.0.is_empty());
        let mut t = FastTable::default();
        parsed(&texty(60_000, 5), &mut t);
        assert!(parsed(&d, &mut t) == want);
        t.base = u32::MAX - 10_000;
        assert!(parsed(&d, &mut t) == want);
        assert_eq!(t.base, 1 + d.len() as u32);
        assert!(parsed(&d, &mut t) == want);
    }
}
