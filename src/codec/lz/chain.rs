//! The `default` and `max` levels' match finder: hash chains over 4-byte
//! hashes (every position inserted), the three repeat offsets checked
//! first, and lazy matching (one step ahead for `default`, two for `max`)
//! that takes a later match when its estimated gain (4 bits a byte minus
//! the offset's bits) beats the current one's.

use super::encode::{Parse, Seq};
use super::util::*;

/// Search parameters of one level.
#[derive(Clone, Copy)]
pub(crate) struct Params {
    /// Chain links followed per search.
    pub(crate) depth: u32,
    /// Lazy steps (1 or 2).
    pub(crate) lazy: u32,
    /// A match this long is taken at once (no more search, no lazy step).
    pub(crate) nice: usize,
}

pub(crate) const DEFAULT: Params = Params {
    depth: 16,
    lazy: 1,
    nice: 64,
};

pub(crate) const MAX: Params = Params {
    depth: 256,
    lazy: 2,
    nice: 256,
};

const MIN: usize = 4;

/// Scratch tables of the chain finder.
#[derive(Default)]
pub(crate) struct Chains {
    head: Vec<u32>,
    prev: Vec<u32>,
    bits: u32,
    /// Next position to insert.
    next: usize,
}

/// A found match.
#[derive(Clone, Copy)]
struct Found {
    len: usize,
    off: usize,
}

impl Chains {
    fn reset(&mut self, n: usize) {
        self.bits = (usize::BITS - n.leading_zeros())
            .saturating_sub(1)
            .clamp(10, 17);
        self.head.clear();
        // u32::MAX: empty.
        self.head.resize(1 << self.bits, u32::MAX);
        // `prev` is not cleared: `prev[p]` is written when p is inserted,
        // and only inserted positions are ever followed (from `head` or an
        // inserted position's `prev`), so stale entries are never read.
        if self.prev.len() < n {
            self.prev.resize(n, u32::MAX);
        }
        self.next = 0;
    }

    /// Inserts every position before `upto` (positions need 4 bytes).
    #[inline(always)]
    fn insert_to(&mut self, d: &[u8], upto: usize) {
        while self.next < upto {
            let p = self.next;
            let h = hash::<4>(u64::from(read32(d, p)), self.bits);
            self.prev[p] = self.head[h];
            self.head[h] = p as u32;
            self.next += 1;
        }
    }

    /// Best match at `ip` (inserting positions up to it), repeat offsets
    /// first; len 0 if none of at least MIN bytes.
    #[inline(always)]
    fn find(&mut self, d: &[u8], ip: usize, rep: &[usize; 3], p: &Params) -> Found {
        let mut best = Found { len: 0, off: 0 };
        let cur = read32(d, ip);
        for &r in rep {
            if r <= ip && read32(d, ip - r) == cur {
                let len = 4 + match_len(d, ip - r + 4, ip + 4);
                if len > best.len {
                    best = Found { len, off: r };
                }
            }
        }
        if best.len >= p.nice {
            return best;
        }
        // Rep matches are worth about 2 bytes more than new ones.
        let rep_len = best.len;
        self.insert_to(d, ip);
        let h = hash::<4>(u64::from(cur), self.bits);
        let mut cand = self.head[h];
        let mut depth = p.depth;
        let mut new_best = Found { len: 0, off: 0 };
        while cand != u32::MAX && depth > 0 {
            let c = cand as usize;
            if ip - c > MAX_OFFSET {
                break;
            }
            // Cheap filter: the byte that would extend the best match.
            let bl = new_best.len.max(MIN - 1);
            if ip + bl < d.len() && d[c + bl] == d[ip + bl] && read32(d, c) == cur {
                let len = 4 + match_len(d, c + 4, ip + 4);
                if len > new_best.len {
                    new_best = Found { len, off: ip - c };
                    if len >= p.nice {
                        break;
                    }
                }
            }
            cand = self.prev[c];
            depth -= 1;
        }
        if new_best.len > 0 && gain(new_best) > rep_gain(rep_len) {
            new_best
        } else {
            best
        }
    }
}

/// Estimated worth of a new match (bits saved, times one).
#[inline(always)]
fn gain(m: Found) -> i32 {
    if m.len == 0 {
        return i32::MIN;
    }
    4 * m.len as i32 - highbit(m.off as u32)
}

#[inline(always)]
fn rep_gain(len: usize) -> i32 {
    if len == 0 {
        return i32::MIN;
    }
    4 * len as i32 + 1
}

/// Gain of a found match, whatever its kind.
#[inline(always)]
fn worth(m: Found, rep: &[usize; 3]) -> i32 {
    if rep.contains(&m.off) {
        rep_gain(m.len)
    } else {
        gain(m)
    }
}

/// Parses `data` into `parse` (cleared first) with the parameters `p`.
pub(crate) fn parse(data: &[u8], parse: &mut Parse, ch: &mut Chains, p: &Params) {
    parse.clear();
    let n = data.len();
    let mut anchor = 0usize;
    if n >= 16 {
        ch.reset(n);
        let mut rep = [1usize, 4, 8];
        // Loads of 8 bytes at ip + 2 and 4 bytes hashed stay inside.
        let limit = n - 10;
        let mut ip = 1usize;
        while ip < limit {
            let mut m = ch.find(data, ip, &rep, p);
            if m.len == 0 {
                ip += 1;
                continue;
            }
            let mut start = ip;
            // Lazy evaluation: a better match one (or two) bytes later?
            let mut step = 0;
            while step < p.lazy && m.len < p.nice && start + 1 < limit {
                let m2 = ch.find(data, start + 1, &rep, p);
                if m2.len > 0 && worth(m2, &rep) > worth(m, &rep) + 4 {
                    m = m2;
                    start += 1;
                    step = 0;
                } else {
                    step += 1;
                    if step < p.lazy && start + 2 < limit {
                        let m3 = ch.find(data, start + 2, &rep, p);
                        if m3.len > 0 && worth(m3, &rep) > worth(m, &rep) + 8 {
                            m = m3;
                            start += 2;
                            step = 0;
                            continue;
                        }
                    }
                    break;
                }
            }
            let back = back_len(data, start - m.off, start, start - anchor);
            start -= back;
            let len = m.len + back;
            parse.lits.extend_from_slice(&data[anchor..start]);
            parse.seqs.push(Seq {
                ll: (start - anchor) as u32,
                ml: len as u32,
                off: m.off as u32,
            });
            // Repeat-offset state as the writer will keep it.
            if m.off == rep[0] {
            } else if m.off == rep[1] {
                rep.swap(0, 1);
            } else if m.off == rep[2] {
                rep = [rep[2], rep[0], rep[1]];
            } else {
                rep = [m.off, rep[0], rep[1]];
            }
            ip = start + len;
            anchor = ip;
        }
    }
    parse.lits.extend_from_slice(&data[anchor..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::lz::tests::{noise, texty};

    fn parsed(data: &[u8], ch: &mut Chains, p: &Params) -> (Vec<Seq>, Vec<u8>) {
        let mut out = Parse::default();
        parse(data, &mut out, ch, p);
        (out.seqs, out.lits)
    }

    /// `prev` is kept (not refilled) between blocks: a block parses the
    /// same with fresh chains and after longer, equally long and shorter
    /// blocks left their positions in it.
    #[test]
    fn parse_ignores_earlier_blocks() {
        for p in [&DEFAULT, &MAX] {
            let mut d = texty(30_000, 7);
            d.extend_from_slice(&noise(20_000, 8));
            d.extend_from_slice(&texty(10_000, 7));
            let want = parsed(&d, &mut Chains::default(), p);
            assert!(!want.0.is_empty());
            let mut ch = Chains::default();
            for other in [texty(100_000, 9), texty(d.len(), 11), texty(5_000, 10)] {
                parsed(&other, &mut ch, p);
                assert!(parsed(&d, &mut ch, p) == want);
            }
        }
    }
}
