//! fallocate reserves (issue 17, item 5), through real mounts whose
//! BACKING is a 64 MiB tmpfs, so that ENOSPC is real: a reservation larger
//! than the free space fails with ENOSPC and leaves nothing allocated; a
//! preallocated range is written completely after the disk was filled by
//! another file; KEEP_SIZE leaves st_size alone; st_blocks shows the
//! reservation; punch and zero-range still work; what compression saved is
//! given back at the close.

mod common;

use std::fs;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use common::{data, Mount};

const MIB: u64 = 1 << 20;

/// A mount whose BACKING is a tmpfs of `size_mib`; both unmounted on drop
/// (the FUSE mount first).
struct Small {
    m: Option<Mount>,
    tmpfs: PathBuf,
}

impl Small {
    fn new(size_mib: u64) -> Option<Small> {
        let mut m = Mount::unmounted(&[])?;
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: mounting a tmpfs needs root");
            return None;
        }
        let st = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_mib}m"), "tmpfs"])
            .arg(&m.backing)
            .status()
            .expect("mount");
        assert!(st.success(), "mount -t tmpfs failed");
        let tmpfs = m.backing.clone();
        let mut s = Small { m: None, tmpfs };
        m.mount();
        s.m = Some(m);
        Some(s)
    }

    fn m(&mut self) -> &mut Mount {
        self.m.as_mut().unwrap()
    }
}

impl Drop for Small {
    fn drop(&mut self) {
        drop(self.m.take());
        let _ = std::process::Command::new("umount")
            .arg(&self.tmpfs)
            .status();
    }
}

fn fallocate(f: &fs::File, mode: i32, off: u64, len: u64) -> std::io::Result<()> {
    // SAFETY: plain integer arguments on an open descriptor.
    let r = unsafe { libc::fallocate(f.as_raw_fd(), mode, off as i64, len as i64) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn free_bytes(p: &Path) -> u64 {
    let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: an all-zero statvfs is a valid value of this plain C struct.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid C string and a writable statvfs.
    assert_eq!(unsafe { libc::statvfs(c.as_ptr(), &mut s) }, 0);
    s.f_bavail as u64 * s.f_frsize as u64
}

fn rw(p: &Path) -> fs::File {
    fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(p)
        .unwrap()
}

#[test]
fn more_than_the_free_space_is_enospc_and_allocates_nothing() {
    let Some(mut s) = Small::new(64) else { return };
    let m = s.m();
    let f = rw(&m.p("big"));
    f.write_all_at(b"some data", 0).unwrap();
    f.sync_all().unwrap();
    let free = free_bytes(&m.mnt);
    let blocks = fs::metadata(m.b("big")).unwrap().blocks();
    for mode in [0, libc::FALLOC_FL_KEEP_SIZE] {
        let e = fallocate(&f, mode, 0, 2 * free).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "mode {mode}: {e}");
        assert_eq!(fs::metadata(m.p("big")).unwrap().len(), 9, "mode {mode}");
        assert_eq!(
            fs::metadata(m.b("big")).unwrap().blocks(),
            blocks,
            "mode {mode}"
        );
        assert!(
            free_bytes(&m.mnt) + (64 << 10) >= free,
            "mode {mode}: space leaked"
        );
    }
}

#[test]
fn a_preallocated_range_is_written_after_the_disk_filled() {
    let Some(mut s) = Small::new(64) else { return };
    let m = s.m();
    let len = 16 * MIB;
    let f = rw(&m.p("pre"));
    fallocate(&f, 0, 0, len).unwrap();
    let st = fs::metadata(m.p("pre")).unwrap();
    assert_eq!(st.len(), len);
    assert!(
        st.blocks() * 512 >= len,
        "st_blocks {} below the reservation",
        st.blocks()
    );
    // Another file takes every byte left.
    let mut filler = fs::File::create(m.p("filler")).unwrap();
    let chunk = data(MIB as usize, 9, false);
    let mut filled = 0u64;
    loop {
        match filler.write_all(&chunk).and_then(|_| filler.sync_data()) {
            Ok(()) => filled += MIB,
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
                break;
            }
        }
        assert!(filled < 128 * MIB, "the disk never filled");
    }
    drop(filler);
    assert!(
        free_bytes(&m.mnt) < 2 * MIB,
        "not full: {}",
        free_bytes(&m.mnt)
    );
    // The preallocated range takes incompressible data (stored raw).
    let want = data(len as usize, 4, false);
    for (i, c) in want.chunks(MIB as usize).enumerate() {
        f.write_all_at(c, i as u64 * MIB).unwrap();
    }
    f.sync_all().unwrap();
    drop(f);
    assert!(fs::read(m.p("pre")).unwrap() == want, "contents differ");
    m.umount();
    m.mount();
    assert!(
        fs::read(m.p("pre")).unwrap() == want,
        "contents differ after remount"
    );
}

#[test]
fn keep_size_reserves_and_punch_and_zero_range_still_work() {
    let Some(mut s) = Small::new(64) else { return };
    let m = s.m();
    let f = rw(&m.p("k"));
    let head = data(1000, 1, true);
    f.write_all_at(&head, 0).unwrap();
    fallocate(&f, libc::FALLOC_FL_KEEP_SIZE, 0, 8 * MIB).unwrap();
    let st = fs::metadata(m.p("k")).unwrap();
    assert_eq!(st.len(), 1000, "KEEP_SIZE changed st_size");
    // Block 0 holds data already: the 127 others are reserved raw.
    assert!(
        st.blocks() * 512 >= 8 * MIB - (64 << 10),
        "st_blocks {} below the reservation",
        st.blocks()
    );
    // The range past the end reads as nothing, the data as before.
    assert_eq!(fs::read(m.p("k")).unwrap(), head);
    // Mode 0 extends; the new range reads as zeros.
    fallocate(&f, 0, 0, 2 * MIB).unwrap();
    assert_eq!(fs::metadata(m.p("k")).unwrap().len(), 2 * MIB);
    let mut want = head.clone();
    want.resize(2 * MIB as usize, 0);
    assert!(fs::read(m.p("k")).unwrap() == want);
    // Punch and zero-range.
    let text = data(2 * MIB as usize, 2, true);
    f.write_all_at(&text, 0).unwrap();
    let punch = libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE;
    fallocate(&f, punch, 100_000, 200_000).unwrap();
    fallocate(&f, libc::FALLOC_FL_ZERO_RANGE, 1_000_000, 300_000).unwrap();
    let mut want = text.clone();
    want[100_000..300_000].fill(0);
    want[1_000_000..1_300_000].fill(0);
    assert!(
        fs::read(m.p("k")).unwrap() == want,
        "punch/zero-range contents"
    );
    assert_eq!(fs::metadata(m.p("k")).unwrap().len(), 2 * MIB);
    // Written over its whole range: the close gives back what compression
    // saved (text compresses well below the raw 8 MiB).
    let full = data(8 * MIB as usize, 3, true);
    f.write_all_at(&full, 0).unwrap();
    drop(f);
    common::wait_until(10, "the reservation to be given back", || {
        fs::metadata(m.b("k")).unwrap().blocks() * 512 < 7 * MIB
    });
    assert!(fs::read(m.p("k")).unwrap() == full);
}

#[test]
fn a_reservation_made_by_an_earlier_open_is_given_back_after_the_writes() {
    let Some(mut s) = Small::new(64) else { return };
    let m = s.m();
    // fallocate(1) then another program writing: two opens.
    let f = rw(&m.p("two"));
    fallocate(&f, 0, 0, 8 * MIB).unwrap();
    drop(f);
    assert!(fs::metadata(m.b("two")).unwrap().blocks() * 512 >= 8 * MIB);
    let text = data(8 * MIB as usize, 5, true);
    fs::OpenOptions::new()
        .write(true)
        .open(m.p("two"))
        .unwrap()
        .write_all(&text)
        .unwrap();
    common::wait_until(10, "the reservation to be given back", || {
        fs::metadata(m.b("two")).unwrap().blocks() * 512 < 7 * MIB
    });
    assert!(fs::read(m.p("two")).unwrap() == text);
}

#[test]
fn a_keep_size_reservation_outlives_the_close() {
    let Some(mut s) = Small::new(64) else { return };
    let m = s.m();
    let f = rw(&m.p("log"));
    fallocate(&f, libc::FALLOC_FL_KEEP_SIZE, 0, 8 * MIB).unwrap();
    drop(f);
    // The release follows close(2).
    common::wait_until(5, "the last close", || {
        let st = fs::metadata(m.p("log")).unwrap();
        st.len() == 0 && st.blocks() * 512 >= 8 * MIB
    });
    m.umount();
    m.mount();
    let st = fs::metadata(m.p("log")).unwrap();
    assert_eq!(st.len(), 0);
    assert!(st.blocks() * 512 >= 8 * MIB, "st_blocks {}", st.blocks());
}
