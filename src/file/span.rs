//! Block arithmetic of a byte range, once: [`spans`] cuts `offset..offset+len`
//! into the parts that fall in each block (as gocryptfs' ExplodePlainRange
//! does). Pure: no I/O, no state.

/// The part of a byte range that falls in one block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    /// The block number.
    pub no: u64,
    /// Where the part starts within the block.
    pub in_off: usize,
    /// Its length (at most the block size).
    pub len: usize,
    /// Where it starts within the range (bytes of the range before it).
    pub at: usize,
}

/// The spans of `offset..offset + len` over blocks of `1 << shift` bytes,
/// in order; none when `len` is 0. The range must not pass `u64::MAX`.
pub(crate) fn spans(offset: u64, len: usize, shift: u32) -> impl Iterator<Item = Span> {
    let bs = 1usize << shift;
    let mask = (bs - 1) as u64;
    let mut at = 0usize;
    std::iter::from_fn(move || {
        if at >= len {
            return None;
        }
        let pos = offset + at as u64;
        let in_off = (pos & mask) as usize;
        let s = Span {
            no: pos >> shift,
            in_off,
            len: (bs - in_off).min(len - at),
            at,
        };
        at += s.len;
        Some(s)
    })
}

#[cfg(test)]
mod tests {
    use super::{spans, Span};

    fn sp(no: u64, in_off: usize, len: usize, at: usize) -> Span {
        Span {
            no,
            in_off,
            len,
            at,
        }
    }

    #[test]
    fn table() {
        // (offset, len, shift) -> spans; blocks of 4096 unless said.
        let cases: Vec<(u64, usize, u32, Vec<Span>)> = vec![
            (0, 0, 12, vec![]),
            (5000, 0, 12, vec![]),
            (0, 1, 12, vec![sp(0, 0, 1, 0)]),
            (0, 4096, 12, vec![sp(0, 0, 4096, 0)]),
            (0, 4097, 12, vec![sp(0, 0, 4096, 0), sp(1, 0, 1, 4096)]),
            (4095, 2, 12, vec![sp(0, 4095, 1, 0), sp(1, 0, 1, 1)]),
            (4096, 4096, 12, vec![sp(1, 0, 4096, 0)]),
            (
                100,
                10000,
                12,
                vec![
                    sp(0, 100, 3996, 0),
                    sp(1, 0, 4096, 3996),
                    sp(2, 0, 1908, 8092),
                ],
            ),
            (
                (1 << 20) - 1,
                2,
                20,
                vec![sp(0, (1 << 20) - 1, 1, 0), sp(1, 0, 1, 1)],
            ),
            (
                i64::MAX as u64 - 9,
                10,
                16,
                vec![sp(i64::MAX as u64 >> 16, 65526, 10, 0)],
            ),
        ];
        for (offset, len, shift, want) in cases {
            let got: Vec<Span> = spans(offset, len, shift).collect();
            assert_eq!(got, want, "offset {offset} len {len} shift {shift}");
        }
    }

    #[test]
    fn spans_cover_the_range_exactly() {
        for (offset, len) in [(0u64, 100_000usize), (12345, 65536), (65535, 3)] {
            let v: Vec<Span> = spans(offset, len, 16).collect();
            assert_eq!(v.iter().map(|s| s.len).sum::<usize>(), len);
            for w in v.windows(2) {
                assert_eq!(w[1].no, w[0].no + 1);
                assert_eq!(w[1].at, w[0].at + w[0].len);
                assert_eq!(w[1].in_off, 0);
            }
        }
    }
}
