//! The `fast` level's match finder (lz4 / zstd -1 class): one hash table
//! probe per position, the last repeat offset checked first, and a step
//! that grows while no match is found (incompressible stretches cost
//! little).

use super::encode::{Parse, Seq};
use super::util::*;

/// Bytes hashed per position.
const MLS: u32 = 5;
/// Positions scanned before the step grows by one.
const SKIP_LOG: u32 = 6;

/// Parses `data` into `parse` (cleared first); `table` is scratch.
pub(crate) fn parse(data: &[u8], parse: &mut Parse, table: &mut Vec<u32>) {
    parse.clear();
    let n = data.len();
    let bits = (usize::BITS - n.leading_zeros())
        .saturating_sub(2)
        .clamp(10, 15);
    table.clear();
    table.resize(1 << bits, 0);
    let mut anchor = 0usize;
    let mut rep = 1usize;
    if n >= 16 {
        // Loads of 8 bytes at ip + 1 must stay inside.
        let limit = n - 9;
        let mut ip = 1usize;
        let mut misses = 0usize;
        while ip < limit {
            let v = read64(data, ip);
            let h = hash::<MLS>(v, bits);
            let cand = table[h] as usize;
            table[h] = ip as u32;
            // Repeat offset one position ahead (zstd's trick).
            let r = ip + 1;
            let (mut start, off, mut len);
            if rep <= r && read32(data, r) == read32(data, r - rep) {
                start = r;
                off = rep;
                len = 4 + match_len(data, r - rep + 4, r + 4);
            } else if cand < ip && ip - cand <= MAX_OFFSET && read32(data, cand) == v as u32 {
                start = ip;
                off = ip - cand;
                len = 4 + match_len(data, cand + 4, ip + 4);
            } else {
                misses += 1;
                ip += 1 + (misses >> SKIP_LOG);
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
                table[hash::<MLS>(read64(data, p), bits)] = p as u32;
            }
        }
    }
    parse.lits.extend_from_slice(&data[anchor..]);
}
