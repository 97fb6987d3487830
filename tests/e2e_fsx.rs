//! An fsx-style file-system exerciser through a real mount: random
//! read / write / mmap read / mmap write (MAP_SHARED + msync) / truncate /
//! fallocate (0, KEEP_SIZE, PUNCH_HOLE, ZERO_RANGE) / copy_file_range
//! within the file / fsync / close+open (dropping the file's page cache) on
//! one file, every result checked against an in-memory copy, the size
//! checked by fstat and lseek(SEEK_END) after every operation, the bytes
//! past EOF in a mapped last page checked to be zero, and the whole file
//! compared again after a remount. Like xfstests fsx -e, runs may also
//! pollute the EOF page through mmap (junk written past EOF) before every
//! size change: the bytes that the change brings inside the file must read
//! as zeros. Deterministic (seeded); the number of operations per run can
//! be raised with SCFS_FSX_OPS for longer soaks.

mod common;
use common::rng::Rng;

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;

use common::Mount;

const PAGE: usize = 4096;

struct Fsx {
    path: std::path::PathBuf,
    file: File,
    good: Vec<u8>,
    max_len: usize,
    max_op: usize,
    op_no: u64,
    zero_range: bool,
    /// fsx -e: junk past EOF in the EOF page before each size change.
    pollute_eof: bool,
    log: Vec<String>,
}

impl Fsx {
    fn fail(&self, what: &str) -> ! {
        let tail: Vec<&String> = self.log.iter().rev().take(30).collect();
        panic!(
            "fsx op {}: {what}\nlast operations (newest first):\n{:#?}",
            self.op_no, tail
        );
    }

    fn fill(&mut self, off: usize, len: usize) -> Vec<u8> {
        // Like fsx: the op number mixed with a position pattern, so stale
        // data from an older op or another offset is told apart.
        (0..len)
            .map(|i| {
                let p = (off + i) as u64;
                (self.op_no as u8).wrapping_add(if p % 2 == 1 {
                    (p.wrapping_mul(2_654_435_761) >> 13) as u8
                } else {
                    0
                })
            })
            .collect()
    }

    fn set_len_model(&mut self, size: usize) {
        self.good.resize(size, 0);
    }

    fn check(&self, off: usize, got: &[u8]) {
        let want = &self.good[off..off + got.len()];
        if got != want {
            let bad = got.iter().zip(want).position(|(a, b)| a != b).unwrap();
            self.fail(&format!(
                "READ BAD DATA at 0x{:x} (op range 0x{:x}+0x{:x}): got 0x{:02x} want 0x{:02x}",
                off + bad,
                off,
                got.len(),
                got[bad],
                want[bad]
            ));
        }
    }

    fn check_size(&mut self) {
        let st = self.file.metadata().unwrap().len();
        let end = (&self.file).seek(SeekFrom::End(0)).unwrap();
        if st != self.good.len() as u64 || end != self.good.len() as u64 {
            self.fail(&format!(
                "size: model 0x{:x} fstat 0x{st:x} lseek 0x{end:x}",
                self.good.len()
            ));
        }
    }

    fn read(&mut self, off: usize, len: usize) {
        let mut buf = vec![0u8; len];
        if let Err(e) = self.file.read_exact_at(&mut buf, off as u64) {
            self.fail(&format!("read 0x{off:x}+0x{len:x}: {e}"));
        }
        self.check(off, &buf);
    }

    fn write(&mut self, off: usize, len: usize) {
        if off + len > self.good.len() {
            self.pollute_eof_page();
        }
        let data = self.fill(off, len);
        if let Err(e) = self.file.write_all_at(&data, off as u64) {
            self.fail(&format!("write 0x{off:x}+0x{len:x}: {e}"));
        }
        if off + len > self.good.len() {
            self.set_len_model(off + len);
        }
        self.good[off..off + len].copy_from_slice(&data);
    }

    /// Maps [off, off+len) (page-aligned start) and returns the mapping.
    fn map(&self, off: usize, len: usize, write: bool) -> (*mut u8, usize, usize) {
        let pg = off % PAGE;
        let map_len = pg + len;
        let prot = libc::PROT_READ | if write { libc::PROT_WRITE } else { 0 };
        // SAFETY: a fresh mapping chosen by the kernel (addr NULL) of a file
        // we hold open; it aliases no Rust object, and every access below
        // stays inside [0, map_len) which lies within the file's size (the
        // callers only map ranges below the current EOF, checked by the
        // model), so no SIGBUS.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                prot,
                libc::MAP_SHARED,
                self.file.as_raw_fd(),
                (off - pg) as libc::off_t,
            )
        };
        if p == libc::MAP_FAILED {
            self.fail(&format!(
                "mmap 0x{off:x}+0x{len:x}: {}",
                std::io::Error::last_os_error()
            ));
        }
        (p as *mut u8, pg, map_len)
    }

    /// fsx's check_eofpage: past EOF, the rest of the last mapped page is 0.
    fn check_eof_page(&self, p: *mut u8, off: usize, map_start: usize, map_len: usize) {
        let size = self.good.len();
        let _ = off;
        let map_end = map_start + map_len; // file offset of the mapping end
        if map_end <= size & !(PAGE - 1) {
            return;
        }
        let page_end = size.div_ceil(PAGE) * PAGE;
        for fo in size..page_end {
            let rel = fo - map_start;
            // SAFETY: fo lies in the last page of the file, which the mapping
            // covers (map_end > that page's start); pages of a mapped file
            // are fully addressable up to the page holding EOF.
            let b = unsafe { p.add(rel).read_volatile() };
            if b != 0 {
                self.fail(&format!(
                    "mapped: non-zero byte 0x{b:02x} past EOF at 0x{fo:x}"
                ));
            }
        }
    }

    fn unmap(&self, p: *mut u8, map_len: usize) {
        // SAFETY: p/map_len are exactly what mmap returned/was given.
        if unsafe { libc::munmap(p as *mut libc::c_void, map_len) } != 0 {
            self.fail("munmap");
        }
    }

    fn map_read(&mut self, off: usize, len: usize) {
        let (p, pg, map_len) = self.map(off, len, false);
        let mut buf = vec![0u8; len];
        // SAFETY: [pg, pg+len) is inside the mapping and below EOF.
        unsafe { std::ptr::copy_nonoverlapping(p.add(pg), buf.as_mut_ptr(), len) };
        self.check_eof_page(p, off, off - pg, map_len);
        self.unmap(p, map_len);
        self.check(off, &buf);
    }

    fn map_write(&mut self, off: usize, len: usize) {
        if off + len > self.good.len() {
            self.pollute_eof_page();
            if let Err(e) = self.file.set_len((off + len) as u64) {
                self.fail(&format!("ftruncate up for mapwrite: {e}"));
            }
            self.set_len_model(off + len);
        }
        let data = self.fill(off, len);
        let (p, pg, map_len) = self.map(off, len, true);
        // SAFETY: [pg, pg+len) is inside the writable mapping and below EOF
        // (the file was extended first).
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), p.add(pg), len) };
        // SAFETY: msync on exactly the mapping we created.
        if unsafe { libc::msync(p as *mut libc::c_void, map_len, libc::MS_SYNC) } != 0 {
            self.fail(&format!("msync: {}", std::io::Error::last_os_error()));
        }
        self.good[off..off + len].copy_from_slice(&data);
        self.check_eof_page(p, off, off - pg, map_len);
        self.unmap(p, map_len);
    }

    /// fsx's pollute_eofpage: writes non-zero junk through a shared mapping
    /// into the EOF page past EOF (the model keeps zeros there: whatever
    /// size change comes next must not expose the junk).
    fn pollute_eof_page(&mut self) {
        let size = self.good.len();
        let pg = size % PAGE;
        if !self.pollute_eof || pg == 0 {
            return;
        }
        self.log
            .push(format!("pollute eof page 0x{size:x}+0x{:x}", PAGE - pg));
        let (p, _, map_len) = self.map(size - pg, PAGE - pg, true);
        // SAFETY: the mapping covers the page holding EOF (offset size - pg,
        // PAGE bytes), which is fully addressable; [pg, PAGE) is inside it.
        unsafe { std::ptr::write_bytes(p.add(pg), 0xa5, PAGE - pg) };
        self.unmap(p, map_len);
    }

    /// copy_file_range within the file: [src, src+len) (below EOF) to
    /// dst, the ranges not overlapping; may extend the file.
    fn copy_range(&mut self, src: usize, len: usize, dst: usize) {
        if dst + len > self.good.len() {
            self.pollute_eof_page();
        }
        let fd = self.file.as_raw_fd();
        let (mut i, mut o) = (src as libc::loff_t, dst as libc::loff_t);
        let mut left = len;
        while left > 0 {
            // SAFETY: copy_file_range(2) on an fd we own, with pointers to
            // two live local offsets; no other memory is passed.
            let n = unsafe { libc::copy_file_range(fd, &mut i, fd, &mut o, left, 0) };
            if n <= 0 {
                self.fail(&format!(
                    "copy_file_range 0x{src:x}+0x{len:x} -> 0x{dst:x}: {} ({} left)",
                    if n < 0 {
                        std::io::Error::last_os_error().to_string()
                    } else {
                        "returned 0".into()
                    },
                    left
                ));
            }
            left -= n as usize;
        }
        if dst + len > self.good.len() {
            self.set_len_model(dst + len);
        }
        self.good.copy_within(src..src + len, dst);
    }

    fn truncate(&mut self, size: usize) {
        // As fsx: only a real size change (the kernel zeroes the EOF page
        // past the new size only when the size changes).
        if size != self.good.len() {
            self.pollute_eof_page();
        }
        if let Err(e) = self.file.set_len(size as u64) {
            self.fail(&format!("ftruncate 0x{size:x}: {e}"));
        }
        self.set_len_model(size);
    }

    fn fallocate(&mut self, mode: i32, off: usize, len: usize) -> bool {
        // SAFETY: fallocate(2) on an fd we own; no memory is passed.
        let r = unsafe {
            libc::fallocate(
                self.file.as_raw_fd(),
                mode,
                off as libc::off_t,
                len as libc::off_t,
            )
        };
        if r != 0 {
            let e = std::io::Error::last_os_error();
            if mode & libc::FALLOC_FL_ZERO_RANGE != 0 && e.raw_os_error() == Some(libc::EOPNOTSUPP)
            {
                return false;
            }
            self.fail(&format!("fallocate mode {mode} 0x{off:x}+0x{len:x}: {e}"));
        }
        true
    }

    fn step(&mut self, rng: &mut Rng) {
        self.op_no += 1;
        let op = rng.below(12);
        let size = self.good.len();
        let mut off = rng.below(self.max_len as u64) as usize;
        let mut len = rng.below(self.max_op as u64 + 1) as usize;
        let clamp = |off: &mut usize, len: &mut usize, limit: usize| {
            *off = if limit == 0 { 0 } else { *off % limit };
            if *off + *len > limit {
                *len = limit - *off;
            }
        };
        match op {
            0 | 1 => {
                clamp(&mut off, &mut len, size);
                self.log.push(format!("read 0x{off:x}+0x{len:x}"));
                if len > 0 {
                    self.read(off, len);
                }
            }
            2 | 3 => {
                clamp(&mut off, &mut len, self.max_len);
                self.log
                    .push(format!("write 0x{off:x}+0x{len:x} (size 0x{size:x})"));
                if len > 0 {
                    self.write(off, len);
                }
            }
            4 => {
                clamp(&mut off, &mut len, size);
                self.log.push(format!("mapread 0x{off:x}+0x{len:x}"));
                if len > 0 {
                    self.map_read(off, len);
                }
            }
            5 => {
                clamp(&mut off, &mut len, self.max_len);
                self.log
                    .push(format!("mapwrite 0x{off:x}+0x{len:x} (size 0x{size:x})"));
                if len > 0 {
                    self.map_write(off, len);
                }
            }
            6 => {
                let to = rng.below(self.max_len as u64) as usize;
                self.log.push(format!("truncate 0x{size:x} -> 0x{to:x}"));
                self.truncate(to);
            }
            7 => {
                clamp(&mut off, &mut len, self.max_len);
                let keep = rng.below(2) == 1;
                self.log.push(format!(
                    "fallocate keep={keep} 0x{off:x}+0x{len:x} (size 0x{size:x})"
                ));
                if len > 0 {
                    let mode = if keep { libc::FALLOC_FL_KEEP_SIZE } else { 0 };
                    if !keep && off + len > size {
                        self.pollute_eof_page();
                    }
                    self.fallocate(mode, off, len);
                    if !keep && off + len > size {
                        self.set_len_model(off + len);
                    }
                }
            }
            8 => {
                clamp(&mut off, &mut len, size);
                self.log.push(format!("punch 0x{off:x}+0x{len:x}"));
                if len > 0 {
                    let mode = libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE;
                    self.fallocate(mode, off, len);
                    self.good[off..off + len].fill(0);
                }
            }
            9 => {
                clamp(&mut off, &mut len, self.max_len);
                let keep = rng.below(2) == 1;
                if self.zero_range && len > 0 {
                    self.log.push(format!(
                        "zero_range keep={keep} 0x{off:x}+0x{len:x} (size 0x{size:x})"
                    ));
                    let mode = libc::FALLOC_FL_ZERO_RANGE
                        | if keep { libc::FALLOC_FL_KEEP_SIZE } else { 0 };
                    if !keep && off + len > size {
                        self.pollute_eof_page();
                    }
                    if self.fallocate(mode, off, len) {
                        let end = (off + len).min(size);
                        if off < end {
                            self.good[off..end].fill(0);
                        }
                        if !keep && off + len > size {
                            self.set_len_model(off + len);
                        }
                    } else {
                        self.zero_range = false;
                    }
                }
            }
            10 => {
                // fsx's copy range: source below EOF, destination anywhere
                // up to the maximum size, the two not overlapping.
                clamp(&mut off, &mut len, size);
                let dst = rng.below(self.max_len as u64) as usize;
                let ok =
                    len > 0 && dst + len <= self.max_len && (dst >= off + len || off >= dst + len);
                self.log.push(format!(
                    "copy_range 0x{off:x}+0x{len:x} -> 0x{dst:x} (size 0x{size:x}){}",
                    if ok { "" } else { " skipped" }
                ));
                if ok {
                    self.copy_range(off, len, dst);
                }
            }
            _ => {
                if rng.below(2) == 0 {
                    self.log.push("fsync".into());
                    if let Err(e) = self.file.sync_all() {
                        self.fail(&format!("fsync: {e}"));
                    }
                } else {
                    self.log.push("close/open".into());
                    self.reopen();
                }
            }
        }
        self.check_size();
    }

    /// close + open; like fsx -c (which drops all caches), the file's clean
    /// pages leave the kernel's page cache first, so reads come from scfs.
    fn reopen(&mut self) {
        // SAFETY: posix_fadvise(2) on an fd we own; no memory is passed.
        unsafe { libc::posix_fadvise(self.file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        match OpenOptions::new().read(true).write(true).open(&self.path) {
            Ok(f) => self.file = f,
            Err(e) => self.fail(&format!("reopen: {e}")),
        }
    }

    fn check_whole(&self, when: &str) {
        let got = std::fs::read(&self.path).unwrap();
        if got.len() != self.good.len() {
            self.fail(&format!(
                "{when}: length {} vs model {}",
                got.len(),
                self.good.len()
            ));
        }
        self.check(0, &got);
    }
}

fn ops() -> u64 {
    std::env::var("SCFS_FSX_OPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1500)
}

fn run(opts: &[&str], seed: u64, max_len: usize, max_op: usize) {
    run_with(opts, seed, max_len, max_op, false);
}

fn run_with(opts: &[&str], seed: u64, max_len: usize, max_op: usize, pollute_eof: bool) {
    let Some(mut m) = Mount::with_opts(opts) else {
        return;
    };
    let path = m.p("fsx");
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .unwrap();
    let mut fsx = Fsx {
        path,
        file,
        good: Vec::new(),
        max_len,
        max_op,
        op_no: 0,
        zero_range: true,
        pollute_eof,
        log: Vec::new(),
    };
    let mut rng = Rng::new(seed);
    let n = ops();
    for i in 0..n {
        fsx.step(&mut rng);
        if i == n / 2 {
            drop(std::mem::replace(
                &mut fsx.file,
                File::open("/dev/null").unwrap(),
            ));
            fsx.check_whole("before mid-run remount");
            m.remount();
            fsx.reopen();
            fsx.check_whole("after mid-run remount");
        }
    }
    drop(std::mem::replace(
        &mut fsx.file,
        File::open("/dev/null").unwrap(),
    ));
    m.remount();
    fsx.check_whole("after the final remount");
    // scfs implements FALLOC_FL_ZERO_RANGE: it must not have been skipped.
    assert!(fsx.zero_range, "zero range was refused (EOPNOTSUPP)");
}

#[test]
fn fsx_default_block_size() {
    // fsx's defaults: a 256 KiB file, operations up to 64 KiB.
    run(&[], 1, 256 << 10, 64 << 10);
}

#[test]
fn fsx_small_blocks_many_boundaries() {
    // 4 KiB blocks: every operation crosses block boundaries.
    run(&["block_size=4096"], 2, 300 << 10, 20 << 10);
}

#[test]
fn fsx_large_file_sparse_offsets() {
    // A larger file with small ops: holes, extending writes, far truncates.
    run(&[], 3, 4 << 20, 8 << 10);
}

#[test]
fn fsx_writeback_cache_tiny_cache() {
    // The kernel's writeback cache on, and a cache far smaller than the
    // file, so dirty blocks are evicted and re-read all the time.
    run(
        &["writeback_cache", "cache_size=1M", "block_size=16384"],
        4,
        4 << 20,
        64 << 10,
    );
}

#[test]
fn fsx_pollute_eof_small_blocks() {
    // fsx -e: junk written through mmap past EOF before every size change
    // (truncate, extending write / mapwrite / fallocate / zero range /
    // copy range) must never become file content; 4 KiB blocks so the EOF
    // page and the EOF block coincide.
    run_with(&["block_size=4096"], 5, 300 << 10, 20 << 10, true);
}

#[test]
fn fsx_pollute_eof_writeback_cache() {
    run_with(
        &["writeback_cache", "cache_size=1M", "block_size=16384"],
        6,
        1 << 20,
        64 << 10,
        true,
    );
}
