//! Space reservations for fallocate (issue 17, item 5; DESIGN.md
//! "fallocate"). A compressing store cannot allocate a logical range in
//! place: its data is appended to the container's log when written back.
//! So fallocate (mode 0 or KEEP_SIZE) reserves, past the end of the
//! backing file (FALLOC_FL_KEEP_SIZE there), the bytes the records of the
//! range's empty blocks would take stored raw, with their commit entries;
//! the log's later appends land in those already allocated extents, so
//! writing the range cannot fail with ENOSPC. A reservation that BACKING
//! cannot make fails with ENOSPC and leaves nothing allocated.
//!
//! The ranges reserved are known while the file is open; at the last close
//! of a writable open the allocation past the end of the log is cut to
//! what their still-empty blocks need: what compression saved is given
//! back. Afterwards the reservation is known only as that allocation
//! (`tail`): a later writable open's close takes it to cover the file's
//! empty blocks up to its size (a KEEP_SIZE reservation past the size made
//! by an earlier open is then given back); compaction and recompression
//! carry it over to the new file; a truncation or removal frees it.

use std::fs::File;
use std::io;
use std::os::fd::AsFd;

use super::FileCore;
use crate::sys;

/// Backing bytes one block's record takes at most beyond its payload: the
/// 32-byte record header, its delta commit entry and its entry in a later
/// checkpoint (24 bytes each).
const PER_BLOCK: u64 = 32 + 24 + 24;

/// A commit record's fixed part (header, entries CRC, trailer), twice.
const COMMITS: u64 = 2 * 100;

/// Bytes allocated to `file` past its end (its reservation), from its
/// allocated blocks and its size rounded up to the allocation unit.
pub fn tail(file: &File) -> io::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    let m = file.metadata()?;
    let unit = m.blksize().clamp(512, 1 << 16);
    Ok((m.blocks() * 512).saturating_sub(m.size().div_ceil(unit) * unit))
}

/// Runs `f`, which changes only what is allocated to `file` (past its
/// end), and puts the file's mtime back if the backing filesystem moved
/// it (ext4 stamps fallocate and truncate): a reservation is not a change
/// of the user's data (a KEEP_SIZE fallocate keeps the mtime on ext4).
fn keeping_mtime<T>(file: &File, f: impl FnOnce() -> T) -> T {
    use std::os::unix::fs::MetadataExt;
    let before = file.metadata().ok().map(|m| (m.mtime(), m.mtime_nsec()));
    let r = f();
    if let (Some((sec, nsec)), Ok(m)) = (before, file.metadata()) {
        if (m.mtime(), m.mtime_nsec()) != (sec, nsec) {
            use nix::sys::time::TimeSpec;
            let mtime = TimeSpec::new(sec, nsec);
            if let Err(e) = nix::sys::stat::futimens(file, &TimeSpec::UTIME_OMIT, &mtime) {
                log::debug!("cannot put the mtime back after a reservation: {e}");
            }
        }
    }
    r
}

/// Allocates `len` bytes past the end of `file` (at `end`, its length);
/// on failure gives back whatever got allocated and returns the error.
pub fn reserve_at(file: &File, end: u64, len: u64) -> io::Result<()> {
    keeping_mtime(file, || reserve_at_raw(file, end, len))
}

fn reserve_at_raw(file: &File, end: u64, len: u64) -> io::Result<()> {
    if len == 0 {
        return Ok(());
    }
    let before = tail(file)?;
    match sys::fallocate(file.as_fd(), libc::FALLOC_FL_KEEP_SIZE, end, len) {
        Ok(()) => Ok(()),
        Err(e) => {
            if tail(file).map_or(true, |t| t > before) {
                give_back_raw(file);
                if before > 0 {
                    let _ = sys::fallocate(file.as_fd(), libc::FALLOC_FL_KEEP_SIZE, end, before);
                }
            }
            Err(e)
        }
    }
}

/// Frees everything allocated past the end of `file`: a truncation to its
/// own size (ext4, xfs) and a punched hole past the end (tmpfs, which does
/// not free on such a truncation); best effort.
fn give_back_raw(file: &File) {
    let Ok(len) = file.metadata().map(|m| m.len()) else {
        return;
    };
    if let Err(e) = file.set_len(len) {
        log::debug!("cannot give back a reservation: {e}");
    }
    let mode = libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE;
    let _ = sys::fallocate(file.as_fd(), mode, len, i64::MAX as u64 - len);
}

/// Leaves `file` at most `keep` bytes (rounded up to its allocation unit)
/// allocated past its end.
pub fn shrink_to(file: &File, keep: u64) -> io::Result<()> {
    keeping_mtime(file, || shrink_to_raw(file, keep))
}

fn shrink_to_raw(file: &File, keep: u64) -> io::Result<()> {
    let len = file.metadata()?.len();
    if tail(file)? <= keep {
        return Ok(());
    }
    // tmpfs, xfs: a hole punched past the end frees it.
    let from = len.saturating_add(keep).next_multiple_of(4096);
    let mode = libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE;
    let _ = sys::fallocate(file.as_fd(), mode, from, i64::MAX as u64 - from);
    if tail(file)? <= keep.next_multiple_of(1 << 16) {
        return Ok(());
    }
    // ext4 punches nothing past the end: free all, reserve `keep` again.
    give_back_raw(file);
    reserve_at_raw(file, len, keep)
}

impl FileCore {
    /// Bytes the empty blocks of the reserved ranges would need stored raw.
    /// Bytes the empty blocks of the known reserved ranges would need.
    fn raw_need(&self, ranges: &[(u64, u64)]) -> u64 {
        self.raw_need_within(ranges, u64::MAX)
    }

    /// `raw_need` counting only the blocks below `size` (the others as
    /// written: never needed).
    fn raw_need_within(&self, ranges: &[(u64, u64)], size: u64) -> u64 {
        if size == 0 {
            return 0;
        }
        let end_block = (size - 1) >> self.shift;
        let mut empty = 0u64;
        for &(first, last) in ranges {
            let last = last.min(end_block);
            if first > last {
                continue;
            }
            // Not nested with the container's lock.
            let resident: Vec<u64> = self
                .blocks
                .lock()
                .range(first..=last)
                .map(|(&b, _)| b)
                .collect();
            let c = self.container.read();
            let mut full = 0u64;
            let mut no = first;
            while let Some(d) = c.next_data_block(no).filter(|&d| d <= last) {
                full += 1;
                no = d + 1;
            }
            full += resident
                .iter()
                .filter(|&&b| c.next_data_block(b) != Some(b))
                .count() as u64;
            empty += (last - first + 1).saturating_sub(full);
        }
        if empty == 0 {
            return 0;
        }
        empty.saturating_mul(self.bs as u64 + PER_BLOCK) + COMMITS
    }

    /// Reserves BACKING space for writing bytes `offset..end` (fallocate
    /// mode 0 or KEEP_SIZE); the caller holds `op` exclusively. ENOSPC
    /// leaves nothing more allocated than before.
    pub(super) fn reserve(&self, offset: u64, end: u64) -> io::Result<()> {
        let range = (offset >> self.shift, (end - 1) >> self.shift);
        let mut ranges = self.reserved.lock();
        let mut all = ranges.clone();
        if !all.iter().any(|&(a, b)| a <= range.0 && range.1 <= b) {
            all.push(range);
        }
        // Blocks past the size count too: mode 0 is about to extend it.
        let need = self.raw_need_within(&all, end);
        let (file, at) = {
            let c = self.container.read();
            (c.sync_handle()?, c.file_len())
        };
        // Past what the log holds now (an unborn container's file is still
        // empty), whatever is already reserved counting towards it.
        let at = file.metadata()?.len().max(at);
        reserve_at(&file, at, need)?;
        *ranges = all;
        Ok(())
    }

    /// At the last close (after the final flush): gives back the
    /// allocation past the end of the log beyond what the reserved blocks
    /// still empty need (see the module documentation).
    /// A reservation made by an earlier open (ranges unknown, only its
    /// tail is) is taken to cover the file's empty blocks up to its size.
    pub(super) fn release_reservation(&self) {
        let mut ranges = std::mem::take(&mut *self.reserved.lock());
        let Ok(file) = self.container.read().sync_handle() else {
            return;
        };
        // Known ranges count whole (a KEEP_SIZE range lies past the size).
        let mut within = u64::MAX;
        let mut most = u64::MAX;
        if ranges.is_empty() {
            // Never more than there is (a sparse file's holes are not all
            // reserved).
            most = match tail(&file) {
                Ok(t) if t > 0 => t,
                _ => return,
            };
            ranges.push((0, u64::MAX >> self.shift));
            within = self.size();
        }
        let need = self.raw_need_within(&ranges, within).min(most);
        if let Err(e) = shrink_to(&file, need) {
            log::debug!("{}: reservation not given back: {e}", self.name());
        }
    }

    /// The reservation to carry over to a compacted copy: what the known
    /// ranges (made by this open) still need. Space past the old file's
    /// end that no known range explains is not carried: it may be left
    /// over from a write that failed with ENOSPC (tmpfs keeps such pages),
    /// and carrying it would take the space just freed from the writes
    /// that need it. A reservation made by an earlier open therefore ends
    /// at a compaction (README, "fallocate").
    pub(super) fn reservation_to_carry(&self, _old: &File) -> io::Result<u64> {
        let ranges = self.reserved.lock().clone();
        if ranges.is_empty() {
            Ok(0)
        } else {
            Ok(self.raw_need(&ranges))
        }
    }
}
