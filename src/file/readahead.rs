//! Sequential read detection for one file: a few read streams (several
//! readers, or the kernel's readahead requests arriving out of order on
//! several FUSE threads) each with a read-ahead window that doubles while
//! the stream stays sequential, up to the cache's per-reader limit.
//!
//! Pure bookkeeping: it decides which blocks to hand to the background
//! threads; `rw.rs` submits them and `FileCore::read_ahead` decodes them
//! (under the file's `op` lock, so read-ahead never races a write).

/// Streams tracked per file (the least recently used one is replaced).
const STREAMS: usize = 4;

/// Window of a stream that starts at offset 0 (cat, cp, dd: likely
/// sequential), in blocks; other streams start with none.
const FIRST_WINDOW: u64 = 2;

#[derive(Clone, Copy, Default)]
struct Stream {
    /// Furthest end offset read (0: slot unused).
    end: u64,
    /// First block not yet handed to read-ahead.
    ahead: u64,
    /// Current window in blocks.
    window: u64,
    /// Tick of the last read that matched (LRU replacement).
    used: u64,
}

/// The read streams of one file.
#[derive(Default)]
pub(super) struct Streams {
    slots: [Stream; STREAMS],
    tick: u64,
}

impl Streams {
    /// Records a read of `offset..end` (end > offset) in a file of
    /// `blocks` blocks of `1 << shift` bytes, and calls `submit` for each
    /// block to decode ahead, in order, until it returns false (the
    /// background threads are busy: the rest is asked again next read).
    /// `max_window` is the largest window in blocks (0: no read-ahead).
    pub(super) fn on_read(
        &mut self,
        offset: u64,
        end: u64,
        shift: u32,
        blocks: u64,
        max_window: u64,
        mut submit: impl FnMut(u64) -> bool,
    ) {
        self.tick += 1;
        let last = (end - 1) >> shift;
        let bs = 1u64 << shift;
        let found = self.slots.iter().position(|s| {
            // Within a window (and two blocks) of where the stream was:
            // requests of one stream may arrive slightly out of order.
            let slack = (s.window + 2) * bs;
            s.end != 0 && offset <= s.end.saturating_add(slack) && offset + slack >= s.end
        });
        let s = match found {
            Some(i) => {
                let s = &mut self.slots[i];
                s.end = s.end.max(end);
                s.window = (s.window * 2).max(FIRST_WINDOW).min(max_window.max(1));
                s
            }
            None => {
                let i = (0..STREAMS)
                    .min_by_key(|&i| self.slots[i].used)
                    .unwrap_or(0);
                self.slots[i] = Stream {
                    end,
                    ahead: last + 1,
                    window: if offset == 0 { FIRST_WINDOW } else { 0 },
                    used: 0,
                };
                &mut self.slots[i]
            }
        };
        s.used = self.tick;
        let window = s.window.min(max_window);
        let from = s.ahead.max(last + 1);
        let to = last.saturating_add(window).min(blocks);
        let mut next = from;
        while next < to + 1 && next < blocks && submit(next) {
            next += 1;
        }
        s.ahead = s.ahead.max(next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIFT: u32 = 16;
    const BS: u64 = 1 << SHIFT;

    fn read(s: &mut Streams, off: u64, len: u64, blocks: u64, max: u64) -> Vec<u64> {
        let mut v = Vec::new();
        s.on_read(off, off + len, SHIFT, blocks, max, |b| {
            v.push(b);
            true
        });
        v
    }

    #[test]
    fn sequential_window_doubles_up_to_the_limit() {
        let mut s = Streams::default();
        // Starts at 0: two blocks ahead.
        assert_eq!(read(&mut s, 0, 2 * BS, 1000, 16), vec![2, 3]);
        // Next read: window 4 beyond block 3.
        assert_eq!(read(&mut s, 2 * BS, 2 * BS, 1000, 16), vec![4, 5, 6, 7]);
        assert_eq!(
            read(&mut s, 4 * BS, 2 * BS, 1000, 16),
            (8..=13).collect::<Vec<_>>()
        );
        // Capped at 16 blocks ahead of the last block read.
        assert_eq!(
            read(&mut s, 6 * BS, 2 * BS, 1000, 16),
            (14..=23).collect::<Vec<_>>()
        );
        assert_eq!(read(&mut s, 8 * BS, 2 * BS, 1000, 16), vec![24, 25]);
    }

    #[test]
    fn random_reads_read_nothing_ahead() {
        let mut s = Streams::default();
        for off in [500, 30, 900, 70, 300] {
            assert!(read(&mut s, off * BS + 7, 4096, 1000, 16).is_empty());
        }
    }

    #[test]
    fn stops_at_eof_and_when_submit_refuses() {
        let mut s = Streams::default();
        assert_eq!(read(&mut s, 0, BS, 3, 16), vec![1, 2]);
        assert!(read(&mut s, BS, BS, 3, 16).is_empty());
        let mut s = Streams::default();
        let mut n = 0;
        s.on_read(0, BS, SHIFT, 100, 16, |_| {
            n += 1;
            n < 2
        });
        // Block 1 was taken, block 2 refused: asked again next time.
        assert_eq!(read(&mut s, BS, BS, 100, 16), vec![2, 3, 4, 5]);
    }

    #[test]
    fn out_of_order_and_interleaved_streams() {
        let mut s = Streams::default();
        read(&mut s, 0, 2 * BS, 1000, 8);
        // The kernel's next two requests arrive swapped.
        read(&mut s, 4 * BS, 2 * BS, 1000, 8);
        let v = read(&mut s, 2 * BS, 2 * BS, 1000, 8);
        assert!(v.iter().all(|&b| b >= 6), "{v:?}");
        // A second reader far away starts its own stream.
        assert!(read(&mut s, 500 * BS, BS, 1000, 8).is_empty());
        assert_eq!(read(&mut s, 501 * BS, BS, 1000, 8), vec![502, 503]);
        // The first goes on undisturbed.
        let v = read(&mut s, 6 * BS, 2 * BS, 1000, 8);
        assert!(v.iter().all(|&b| (8..=15).contains(&b)), "{v:?}");
    }

    #[test]
    fn no_window_means_no_read_ahead() {
        let mut s = Streams::default();
        for i in 0..5 {
            assert!(read(&mut s, i * BS, BS, 1000, 0).is_empty());
        }
    }
}
