//! Choosing the segments of a v2 block: where the block switches code
//! tables, and each segment's code lengths.

use super::lengths::code_lengths;
use super::MAX_CODE_LEN;

/// One segment of a block, ready to code.
pub(crate) struct Segment {
    pub(crate) len: usize,
    pub(crate) hist: [u32; 256],
    pub(crate) lengths: [u8; 256],
}

/// Cuts `data` (with histogram `hist`) into segments.
pub(crate) fn plan_segments(data: &[u8], hist: &[u32; 256]) -> Vec<Segment> {
    vec![Segment {
        len: data.len(),
        hist: *hist,
        lengths: code_lengths(hist, MAX_CODE_LEN),
    }]
}
