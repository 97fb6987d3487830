//! Data semantics through a real in-process mount: reads and writes at any
//! offset, truncate, fallocate, SEEK_DATA/SEEK_HOLE, shared mmap, fsync,
//! persistence, containers in BACKING, compaction, corruption, plain files
//! served unchanged (and converted when rewritten), concurrency, the
//! writeback-cache mode, 1 GiB sparse files. Skipped (with a message) only
//! when /dev/fuse is missing.

mod common;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};

use common::inproc::*;
use common::rng::noise;

#[test]
fn read_write_at_offsets() {
    let Some(m) = Mounted::new() else { return };
    let data = pattern(300_000, 7);
    let mut f = File::create(m.p("f")).unwrap();
    f.write_all(&data).unwrap();
    // Overwrite in the middle across a block boundary, and write past EOF.
    let patch = pattern(70_000, 99);
    f.write_all_at(&patch, 60_000).unwrap();
    f.write_all_at(b"tail", 400_000).unwrap();
    drop(f);
    let mut want = data.clone();
    want[60_000..130_000].copy_from_slice(&patch);
    want.resize(400_000, 0);
    want.extend_from_slice(b"tail");
    let got = fs::read(m.p("f")).unwrap();
    assert_eq!(got.len(), want.len());
    assert!(got == want, "content differs");
    // Reads at any offset, including past EOF.
    let f = File::open(m.p("f")).unwrap();
    let mut buf = vec![0u8; 5000];
    f.read_exact_at(&mut buf, 123_457).unwrap();
    assert_eq!(&buf[..], &want[123_457..128_457]);
    assert_eq!(f.read_at(&mut buf, 500_000).unwrap(), 0);
    assert_eq!(f.read_at(&mut buf, 399_998).unwrap(), 6);
}

#[test]
fn truncate_up_and_down() {
    let Some(m) = Mounted::new() else { return };
    let data = pattern(200_000, 3);
    fs::write(m.p("t"), &data).unwrap();
    let f = OpenOptions::new().write(true).open(m.p("t")).unwrap();
    f.set_len(70_001).unwrap(); // ftruncate
    assert_eq!(fs::metadata(m.p("t")).unwrap().len(), 70_001);
    f.set_len(150_000).unwrap();
    drop(f);
    let got = fs::read(m.p("t")).unwrap();
    assert_eq!(&got[..70_001], &data[..70_001]);
    assert!(got[70_001..].iter().all(|&b| b == 0));
    // truncate(2) by path, without an open handle.
    let p = cstr(m.p("t"));
    // SAFETY: `p` is a valid NUL-terminated path.
    assert_eq!(unsafe { libc::truncate(p.as_ptr(), 10) }, 0);
    assert_eq!(fs::read(m.p("t")).unwrap(), &data[..10]);
    // SAFETY: as above.
    assert_eq!(unsafe { libc::truncate(p.as_ptr(), 0) }, 0);
    assert_eq!(fs::read(m.p("t")).unwrap(), b"");
}

#[test]
fn unlinked_open_file_lives_until_close() {
    let Some(m) = Mounted::new() else { return };
    fs::write(m.p("gone"), pattern(100_000, 1)).unwrap();
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(m.p("gone"))
        .unwrap();
    fs::remove_file(m.p("gone")).unwrap();
    assert!(!m.p("gone").exists());
    assert!(!m.b("gone").exists());
    f.write_all_at(b"still here", 99_995).unwrap();
    let mut buf = vec![0u8; 10];
    f.read_exact_at(&mut buf, 99_995).unwrap();
    assert_eq!(&buf, b"still here");
    assert_eq!(f.metadata().unwrap().len(), 100_005);
    let mut all = Vec::new();
    f.seek(SeekFrom::Start(0)).unwrap();
    f.read_to_end(&mut all).unwrap();
    assert_eq!(&all[..1000], &pattern(100_000, 1)[..1000]);
    drop(f);
    assert!(
        names(&m.backing).is_empty(),
        "backing: {:?}",
        names(&m.backing)
    );
    // A new file of the same name is a new, independent file.
    fs::write(m.p("gone"), b"new").unwrap();
    assert_eq!(fs::read(m.p("gone")).unwrap(), b"new");
}

#[test]
fn fallocate_modes() {
    let Some(m) = Mounted::new() else { return };
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(m.p("f"))
        .unwrap();
    f.write_all_at(&pattern(200_000, 5), 0).unwrap();
    fallocate(&f, 0, 0, 300_000).unwrap();
    assert_eq!(f.metadata().unwrap().len(), 300_000);
    fallocate(&f, libc::FALLOC_FL_KEEP_SIZE, 0, 500_000).unwrap();
    assert_eq!(f.metadata().unwrap().len(), 300_000);
    fallocate(
        &f,
        libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
        10_000,
        150_000,
    )
    .unwrap();
    assert_eq!(f.metadata().unwrap().len(), 300_000);
    assert_eq!(
        errno_of(fallocate(&f, libc::FALLOC_FL_COLLAPSE_RANGE, 0, 65536)),
        libc::EOPNOTSUPP
    );
    drop(f);
    let got = fs::read(m.p("f")).unwrap();
    let mut want = pattern(200_000, 5);
    want[10_000..160_000].fill(0);
    want.resize(300_000, 0);
    assert!(got == want, "content differs after fallocate");
}

#[test]
fn seek_data_and_hole() {
    let Some(m) = Mounted::new() else { return };
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(m.p("s"))
        .unwrap();
    let mb = 1 << 20;
    f.write_all_at(&[1u8; 4096], 4 * mb).unwrap();
    f.set_len(8 * mb).unwrap();
    drop(f);
    let f = File::open(m.p("s")).unwrap();
    let d = lseek(&f, 0, libc::SEEK_DATA).unwrap();
    assert!(d <= 4 * mb as i64 && d > mb as i64, "data at {d}");
    let h = lseek(&f, d, libc::SEEK_HOLE).unwrap();
    assert!(
        h >= 4 * mb as i64 + 4096 && h < 6 * mb as i64,
        "hole at {h}"
    );
    assert_eq!(lseek(&f, 0, libc::SEEK_HOLE).unwrap(), 0);
    assert_eq!(
        errno_of(lseek(&f, 9 * mb as i64, libc::SEEK_DATA)),
        libc::ENXIO
    );
    assert_eq!(
        errno_of(lseek(&f, 6 * mb as i64, libc::SEEK_DATA)),
        libc::ENXIO
    );
}

#[test]
fn shared_writable_mmap() {
    let Some(mut m) = Mounted::new() else { return };
    let len = 3 * 65536 + 100;
    fs::write(m.p("map"), pattern(len, 11)).unwrap();
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(m.p("map"))
        .unwrap();
    // SAFETY: maps `len` bytes of an open file shared; the mapping is only
    // accessed inside [0, len) below and unmapped before `f` is dropped.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            f.as_raw_fd(),
            0,
        )
    };
    assert_ne!(p, libc::MAP_FAILED);
    // SAFETY: p..p+len is a live writable mapping owned by this test only.
    let s = unsafe { std::slice::from_raw_parts_mut(p.cast::<u8>(), len) };
    assert_eq!(&s[..100], &pattern(len, 11)[..100]);
    s[10..20].copy_from_slice(b"MMAPWRITE!");
    s[len - 5..].copy_from_slice(b"END!!");
    // SAFETY: msync and munmap on exactly the mapping created above.
    unsafe {
        assert_eq!(libc::msync(p, len, libc::MS_SYNC), 0);
        assert_eq!(libc::munmap(p, len), 0);
    }
    drop(f);
    let mut want = pattern(len, 11);
    want[10..20].copy_from_slice(b"MMAPWRITE!");
    want[len - 5..].copy_from_slice(b"END!!");
    assert!(fs::read(m.p("map")).unwrap() == want);
    m.remount(Default::default());
    assert!(fs::read(m.p("map")).unwrap() == want, "after remount");
}

#[test]
fn fsync_fdatasync_fsyncdir() {
    let Some(m) = Mounted::new() else { return };
    fs::create_dir(m.p("d")).unwrap();
    let mut f = File::create(m.p("d/f")).unwrap();
    f.write_all(b"durable").unwrap();
    f.sync_data().unwrap();
    f.write_all(b" more").unwrap();
    f.sync_all().unwrap();
    drop(f);
    File::open(m.p("d")).unwrap().sync_all().unwrap();
    assert_eq!(fs::read(m.p("d/f")).unwrap(), b"durable more");
}

#[test]
fn persistence_across_remount() {
    let Some(mut m) = Mounted::new() else { return };
    fs::create_dir_all(m.p("x/y")).unwrap();
    let data = pattern(500_000, 42);
    fs::write(m.p("x/y/big"), &data).unwrap();
    fs::write(m.p("x/small"), b"s").unwrap();
    std::os::unix::fs::symlink("y/big", m.p("x/ln")).unwrap();
    m.remount(Default::default());
    assert!(fs::read(m.p("x/y/big")).unwrap() == data);
    assert_eq!(fs::read(m.p("x/small")).unwrap(), b"s");
    assert!(fs::read(m.p("x/ln")).unwrap() == data);
    assert_eq!(fs::metadata(m.p("x/y/big")).unwrap().len(), 500_000);
}

#[test]
fn preexisting_plain_files_are_served_unchanged() {
    let plain = pattern(150_000, 77);
    let p2 = plain.clone();
    let Some(mut m) = Mounted::with(Default::default(), move |b| {
        fs::create_dir(b.join("old")).unwrap();
        fs::write(b.join("old/plain.bin"), &p2).unwrap();
        fs::write(b.join("empty"), b"").unwrap();
        // Starts with the magic but is not a v2 container.
        fs::write(b.join("fake"), b"\x0c\x00\x0d\x0e\x01\x00 v1-ish").unwrap();
    }) else {
        return;
    };
    assert!(fs::read(m.p("old/plain.bin")).unwrap() == plain);
    assert_eq!(fs::metadata(m.p("old/plain.bin")).unwrap().len(), 150_000);
    assert_eq!(fs::read(m.p("empty")).unwrap(), b"");
    assert_eq!(
        fs::read(m.p("fake")).unwrap(),
        b"\x0c\x00\x0d\x0e\x01\x00 v1-ish"
    );
    assert_eq!(fs::metadata(m.p("fake")).unwrap().len(), 13);
    // Writing into a plain file keeps it valid as a plain file.
    let f = OpenOptions::new()
        .write(true)
        .open(m.p("old/plain.bin"))
        .unwrap();
    f.write_all_at(b"patched", 1000).unwrap();
    drop(f);
    m.unmount();
    let mut want = plain.clone();
    want[1000..1007].copy_from_slice(b"patched");
    assert!(fs::read(m.b("old/plain.bin")).unwrap() == want);
    assert_eq!(
        fs::read(m.b("fake")).unwrap(),
        b"\x0c\x00\x0d\x0e\x01\x00 v1-ish"
    );
}

#[test]
fn backing_files_are_v2_containers() {
    let Some(mut m) = Mounted::new() else { return };
    let text: Vec<u8> = b"the quick brown fox jumps over the lazy dog. "
        .iter()
        .cycle()
        .take(1_000_000)
        .copied()
        .collect();
    fs::write(m.p("text"), &text).unwrap();
    let mut sparse = File::create(m.p("sparse")).unwrap();
    sparse.seek(SeekFrom::Start(3 << 20)).unwrap();
    sparse.write_all(b"island").unwrap();
    drop(sparse);
    fs::write(m.p("empty"), b"").unwrap();
    // st_size is logical, st_blocks counts what BACKING stores.
    let md = fs::metadata(m.p("text")).unwrap();
    assert_eq!(md.len(), 1_000_000);
    assert!(md.blocks() > 0);
    if codec_compresses() {
        assert!(md.blocks() * 512 < 600_000, "blocks {}", md.blocks());
    }
    assert_eq!(fs::metadata(m.p("sparse")).unwrap().len(), (3 << 20) + 6);
    m.unmount();
    for n in ["text", "sparse"] {
        let head = fs::read(m.b(n)).unwrap();
        assert_eq!(&head[..6], b"\x0c\x00\x0d\x0e\x05\x00", "{n}");
    }
    // A file that never had content is an empty file (FORMAT.md 3.6).
    assert_eq!(fs::metadata(m.b("empty")).unwrap().len(), 0);
    if codec_compresses() {
        assert!(fs::metadata(m.b("text")).unwrap().len() < 600_000);
    }
    assert!(fs::metadata(m.b("sparse")).unwrap().len() < 100_000);
    assert!(decode_backing(&m.b("text")) == text);
    let s = decode_backing(&m.b("sparse"));
    assert_eq!(s.len(), (3 << 20) + 6);
    assert_eq!(&s[3 << 20..], b"island");
    assert!(s[..3 << 20].iter().all(|&b| b == 0));
    assert_eq!(decode_backing(&m.b("empty")), b"");
}

#[test]
fn compaction_keeps_content_and_metadata() {
    let Some(mut m) = Mounted::new() else { return };
    fs::write(m.p("c"), noise(65536, 1)).unwrap();
    fs::set_permissions(m.p("c"), fs::Permissions::from_mode(0o604)).unwrap();
    xattr_set(&m.p("c"), "user.keep", b"me", 0).unwrap();
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(m.p("c"))
        .unwrap();
    let mut last = Vec::new();
    for i in 0..40 {
        last = noise(65536, 100 + i);
        f.write_all_at(&last, 0).unwrap();
        f.sync_data().unwrap();
    }
    let t = [
        libc::timespec {
            tv_sec: 1_111_111_111,
            tv_nsec: 0,
        },
        libc::timespec {
            tv_sec: 1_222_222_222,
            tv_nsec: 0,
        },
    ];
    // SAFETY: valid descriptor and timespec array.
    assert_eq!(unsafe { libc::futimens(f.as_raw_fd(), t.as_ptr()) }, 0);
    drop(f);
    let bmd = fs::metadata(m.b("c")).unwrap();
    // 40 rewrites of 64 KiB would be 2.6 MB without compaction, which
    // leaves at most live + ~1 MiB.
    assert!(bmd.len() < 1_300_000, "backing holds {} bytes", bmd.len());
    assert_eq!(bmd.mode() & 0o7777, 0o604);
    assert_eq!(bmd.mtime(), 1_222_222_222);
    assert_eq!(names(&m.backing), vec!["c"]);
    assert_eq!(xattr_get(&m.p("c"), "user.keep", 64).unwrap().1, b"me");
    assert!(fs::read(m.p("c")).unwrap() == last);
    // Listing and stat agree on the inode number.
    let e = fs::read_dir(&m.mnt).unwrap().next().unwrap().unwrap();
    assert_eq!(
        std::os::unix::fs::DirEntryExt::ino(&e),
        fs::metadata(m.p("c")).unwrap().ino()
    );
    // The inode followed the new file.
    let f = OpenOptions::new().write(true).open(m.p("c")).unwrap();
    f.write_all_at(b"after", 10).unwrap();
    drop(f);
    last[10..15].copy_from_slice(b"after");
    m.unmount();
    assert!(decode_backing(&m.b("c")) == last);
}

#[test]
fn corrupt_block_reads_as_eio() {
    let Some(mut m) = Mounted::new() else { return };
    let data = noise(16 * 65536, 9);
    fs::write(m.p("bad"), &data).unwrap();
    fs::write(m.p("good"), b"fine").unwrap();
    m.unmount();
    // Flip one byte in the middle of the second block's record (blocks
    // may be stored in any order: ask the container where it is).
    let c = scfs::container::Container::open(File::open(m.b("bad")).unwrap(), false).unwrap();
    let pos = c.record_offset(1).unwrap() as usize + 65536 / 2;
    drop(c);
    let mut raw = fs::read(m.b("bad")).unwrap();
    raw[pos] ^= 0x55;
    fs::write(m.b("bad"), &raw).unwrap();
    m.remount(Default::default());
    // O_DIRECT reads reach the filesystem with exactly these ranges.
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECT)
        .open(m.p("bad"))
        .unwrap();
    let mut buf = vec![0u8; 65536];
    f.read_exact_at(&mut buf, 0).unwrap();
    assert_eq!(&buf[..], &data[..65536]);
    assert_eq!(errno_of(f.read_exact_at(&mut buf, 65536)), libc::EIO);
    assert_eq!(
        errno_of(f.read_exact_at(&mut buf[..10], 65536 + 100)),
        libc::EIO
    );
    f.read_exact_at(&mut buf, 3 * 65536).unwrap();
    assert_eq!(&buf[..], &data[3 * 65536..4 * 65536]);
    drop(f);
    // Buffered: the whole file cannot be read, and never as wrong bytes.
    assert_eq!(errno_of(fs::read(m.p("bad"))), libc::EIO);
    assert_eq!(fs::read(m.p("good")).unwrap(), b"fine");
}

#[test]
fn a_file_cut_short_after_unmount_reads_as_eio() {
    let Some(mut m) = Mounted::new() else { return };
    // Two committed states: after the fsync, and at close.
    let data = pattern(16 * 65536, 3);
    let mut f = File::create(m.p("big")).unwrap();
    f.write_all(&data[..8 * 65536]).unwrap();
    f.sync_all().unwrap();
    let first = fs::metadata(m.b("big")).unwrap().len();
    f.write_all(&data[8 * 65536..]).unwrap();
    drop(f);
    fs::write(m.p("small"), pattern(3000, 5)).unwrap();
    fs::write(m.p("kept"), b"intact").unwrap();
    m.unmount();
    // The unmount sealed every container's newest commit.
    for name in ["big", "small", "kept"] {
        let c = scfs::container::Container::open(File::open(m.b(name)).unwrap(), false).unwrap();
        assert_eq!(c.header_version(), 5);
        assert_eq!(c.sealed_seq(), Some(c.stats().seq), "{name} not sealed");
    }
    // Cut at the earlier commit (unsealed, that would read as the first
    // 8 blocks), and inside the only commit of the small file.
    fs::OpenOptions::new()
        .write(true)
        .open(m.b("big"))
        .unwrap()
        .set_len(first)
        .unwrap();
    let small_len = fs::metadata(m.b("small")).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(m.b("small"))
        .unwrap()
        .set_len(small_len / 2)
        .unwrap();
    m.remount(Default::default());
    assert_eq!(errno_of(fs::read(m.p("big"))), libc::EIO);
    assert_eq!(errno_of(fs::read(m.p("small"))), libc::EIO);
    assert_eq!(fs::read(m.p("kept")).unwrap(), b"intact");
    // Still listed and removable.
    fs::remove_file(m.p("big")).unwrap();
    fs::remove_file(m.p("small")).unwrap();
}

/// Each mount seals its own files: the unmount of another mount in the
/// same process leaves them alone (the seal queue was process-wide once).
#[test]
fn each_mount_seals_only_its_own_files() {
    let Some(mut a) = Mounted::new() else { return };
    let Some(mut b) = Mounted::new() else { return };
    let mut f = File::create(a.p("f")).unwrap();
    f.write_all(&pattern(3 * 65536, 7)).unwrap();
    // fsync leaves the seal ticket at once (a close leaves it on release).
    f.sync_all().unwrap();
    fs::write(b.p("g"), b"other").unwrap();
    b.unmount();
    let sealed = |m: &Mounted| {
        let c = scfs::container::Container::open(File::open(m.b("f")).unwrap(), false).unwrap();
        (c.sealed_seq(), c.stats().seq)
    };
    let (s, seq) = sealed(&a);
    assert_ne!(s, Some(seq), "another mount's unmount sealed this file");
    drop(f);
    a.unmount();
    let (s, seq) = sealed(&a);
    assert_eq!(s, Some(seq), "the mount's own unmount did not seal it");
}

#[test]
fn copy_file_range_falls_back() {
    let Some(m) = Mounted::new() else { return };
    let data = pattern(200_000, 4);
    fs::write(m.p("src"), &data).unwrap();
    let src = File::open(m.p("src")).unwrap();
    let dst = File::create(m.p("dst")).unwrap();
    let mut left = data.len();
    while left > 0 {
        // SAFETY: two open descriptors, null offsets (use file positions).
        let n = unsafe {
            libc::copy_file_range(
                src.as_raw_fd(),
                std::ptr::null_mut(),
                dst.as_raw_fd(),
                std::ptr::null_mut(),
                left,
                0,
            )
        };
        assert!(n > 0, "copy_file_range: {}", io::Error::last_os_error());
        left -= n as usize;
    }
    drop((src, dst));
    assert!(fs::read(m.p("dst")).unwrap() == data);
    // std::fs::copy (copy_file_range or read/write) too.
    fs::copy(m.p("src"), m.p("dst2")).unwrap();
    assert!(fs::read(m.p("dst2")).unwrap() == data);
}

#[test]
fn concurrent_writers_and_readers() {
    let Some(m) = Mounted::new() else { return };
    let chunk = 100_000usize;
    File::create(m.p("shared")).unwrap();
    std::thread::scope(|s| {
        for t in 0..4u8 {
            let p = m.p("shared");
            s.spawn(move || {
                let f = OpenOptions::new().write(true).open(p).unwrap();
                // Interleaved 10 KB pieces of this thread's region.
                for piece in 0..10 {
                    let off = t as usize * chunk + piece * 10_000;
                    f.write_all_at(
                        &pattern(10_000, t.wrapping_mul(50).wrapping_add(piece as u8)),
                        off as u64,
                    )
                    .unwrap();
                }
            });
        }
        for _ in 0..2 {
            let p = m.p("shared");
            s.spawn(move || {
                for _ in 0..20 {
                    let _ = fs::read(&p).unwrap();
                }
            });
        }
    });
    let got = fs::read(m.p("shared")).unwrap();
    assert_eq!(got.len(), 4 * chunk);
    for t in 0..4u8 {
        for piece in 0..10 {
            let off = t as usize * chunk + piece * 10_000;
            assert!(
                got[off..off + 10_000]
                    == pattern(10_000, t.wrapping_mul(50).wrapping_add(piece as u8))[..],
                "thread {t} piece {piece}"
            );
        }
    }
}

#[test]
fn broken_container_stays_listed_and_removable() {
    let Some(mut m) = Mounted::new() else { return };
    fs::write(m.p("broken"), noise(100_000, 3)).unwrap();
    m.unmount();
    // Keep the header, destroy everything after it.
    let raw = fs::read(m.b("broken")).unwrap();
    let mut bad = raw[..32].to_vec();
    bad.extend(std::iter::repeat_n(0xA5u8, raw.len() - 32));
    fs::write(m.b("broken"), &bad).unwrap();
    m.remount(Default::default());
    assert_eq!(names(&m.mnt), vec!["broken"]);
    // Whatever the container layer recovers, reading must not crash or
    // hang (its torn-tail recovery may find no valid records at all).
    let _ = fs::read(m.p("broken"));
    fs::remove_file(m.p("broken")).unwrap();
    assert!(names(&m.backing).is_empty());
}

#[test]
fn plain_file_rewritten_becomes_a_container() {
    let Some(mut m) = Mounted::with(Default::default(), |b| {
        fs::write(b.join("old.txt"), b"plain old bytes").unwrap();
        fs::write(b.join("linked"), b"two names").unwrap();
        fs::hard_link(b.join("linked"), b.join("linked2")).unwrap();
    }) else {
        return;
    };
    fs::set_permissions(m.p("old.txt"), fs::Permissions::from_mode(0o640)).unwrap();
    xattr_set(&m.p("old.txt"), "user.tag", b"t", 0).unwrap();
    // O_TRUNC rewrite (as cp does).
    let mut f = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(m.p("old.txt"))
        .unwrap();
    f.write_all(b"new content").unwrap();
    drop(f);
    let mut f = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(m.p("linked"))
        .unwrap();
    f.write_all(b"2 names").unwrap();
    drop(f);
    assert_eq!(fs::read(m.p("old.txt")).unwrap(), b"new content");
    assert_eq!(fs::read(m.p("linked2")).unwrap(), b"2 names");
    assert_eq!(fs::metadata(m.p("old.txt")).unwrap().mode() & 0o777, 0o640);
    assert_eq!(xattr_get(&m.p("old.txt"), "user.tag", 8).unwrap().1, b"t");
    assert_eq!(names(&m.mnt), vec!["linked", "linked2", "old.txt"]);
    m.unmount();
    assert_eq!(
        &fs::read(m.b("old.txt")).unwrap()[..6],
        b"\x0c\x00\x0d\x0e\x05\x00"
    );
    assert_eq!(decode_backing(&m.b("old.txt")), b"new content");
    // Hard-linked plain files stay plain (one inode, two names).
    assert_eq!(fs::read(m.b("linked")).unwrap(), b"2 names");
    assert_eq!(names(&m.backing), vec!["linked", "linked2", "old.txt"]);
}

#[test]
fn writeback_cache_mode() {
    let opts = scfs::fs::FsOptions {
        writeback_cache: true,
        ..Default::default()
    };
    let Some(mut m) = Mounted::with(opts.clone(), |_| {}) else {
        return;
    };
    let mut want = Vec::new();
    let mut f = File::create(m.p("wb")).unwrap();
    for i in 0..3000u32 {
        let piece = format!("line {i} of the writeback test\n");
        f.write_all(piece.as_bytes()).unwrap();
        want.extend_from_slice(piece.as_bytes());
    }
    drop(f);
    let mut a = OpenOptions::new().append(true).open(m.p("wb")).unwrap();
    a.write_all(b"appended").unwrap();
    want.extend_from_slice(b"appended");
    drop(a);
    // O_WRONLY partial-page writes (the kernel reads the page first).
    let w = OpenOptions::new().write(true).open(m.p("wb")).unwrap();
    w.write_all_at(b"XYZ", 5000).unwrap();
    want[5000..5003].copy_from_slice(b"XYZ");
    w.set_len(80_000).unwrap();
    want.truncate(80_000);
    drop(w);
    assert!(fs::read(m.p("wb")).unwrap() == want);
    assert_eq!(fs::metadata(m.p("wb")).unwrap().len(), want.len() as u64);
    m.remount(opts);
    assert!(fs::read(m.p("wb")).unwrap() == want);
    m.unmount();
    assert!(decode_backing(&m.b("wb")) == want);
}

#[test]
fn one_gib_sparse_file_small_updates() {
    let Some(mut m) = Mounted::new() else { return };
    let gib = 1u64 << 30;
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(m.p("huge"))
        .unwrap();
    f.write_all_at(&noise(4 << 20, 5), 0).unwrap();
    f.set_len(gib).unwrap();
    f.sync_all().unwrap();
    assert_eq!(f.metadata().unwrap().len(), gib);
    let before = fs::metadata(m.b("huge")).unwrap().len();
    // One 4 KiB write in the middle, fsynced: O(block) bytes to BACKING.
    f.write_all_at(&[7u8; 4096], gib / 2 + 12345).unwrap();
    f.sync_data().unwrap();
    let grown = fs::metadata(m.b("huge")).unwrap().len() - before;
    assert!(grown <= 64 << 10, "one 4 KiB write added {grown} bytes");
    // And one into the data (rewrites that block only).
    let before = fs::metadata(m.b("huge")).unwrap().len();
    f.write_all_at(&[9u8; 4096], 1 << 20).unwrap();
    f.sync_data().unwrap();
    let grown = fs::metadata(m.b("huge")).unwrap().len() - before;
    assert!(grown <= 80 << 10, "one 4 KiB write added {grown} bytes");
    // Reads across the hole.
    let mut buf = vec![1u8; 8192];
    f.read_exact_at(&mut buf, gib / 2 + 8192).unwrap();
    assert!(buf[..4153].iter().all(|&b| b == 0) && buf[4153..].iter().all(|&b| b == 7));
    f.read_exact_at(&mut buf, gib - 8192).unwrap();
    assert!(buf.iter().all(|&b| b == 0));
    drop(f);
    assert!(fs::metadata(m.p("huge")).unwrap().blocks() * 512 < 16 << 20);
    m.unmount();
    assert!(fs::metadata(m.b("huge")).unwrap().len() < 6 << 20);
}

#[test]
fn rewriting_a_file_reclaims_its_old_space() {
    let Some(m) = Mounted::new() else { return };
    let data = noise(3 << 20, 8);
    fs::write(m.p("r"), &data).unwrap();
    let first = fs::metadata(m.b("r")).unwrap().len();
    for seed in 0..3 {
        // O_TRUNC rewrites, as cp and editors do.
        fs::write(m.p("r"), noise(3 << 20, 20 + seed)).unwrap();
    }
    let f = OpenOptions::new().write(true).open(m.p("r")).unwrap();
    f.set_len(0).unwrap(); // ftruncate
    f.write_all_at(&data, 0).unwrap();
    drop(f);
    let last = fs::metadata(m.b("r")).unwrap().len();
    assert!(
        last < first + first / 10,
        "first {first}, after rewrites {last}"
    );
    assert!(fs::read(m.p("r")).unwrap() == data);
}

#[test]
fn stale_compaction_temps_are_hidden_and_removed() {
    let Some(m) = Mounted::with(Default::default(), |b| {
        fs::write(b.join("real"), b"r").unwrap();
        fs::write(b.join(".scfs-compact.12.345"), b"left by a crash").unwrap();
    }) else {
        return;
    };
    assert_eq!(names(&m.mnt), vec!["real"]);
    assert_eq!(names(&m.backing), vec!["real"]);
    assert_eq!(fs::read(m.p("real")).unwrap(), b"r");
}

#[test]
fn mixed_concurrent_workload_completes() {
    mixed_workload(false);
}

#[test]
fn mixed_concurrent_workload_completes_writeback() {
    mixed_workload(true);
}

/// Four threads open, write, stat, fsync, truncate, read, rename and list
/// five shared files at once (4 KiB blocks, a tiny cache, compaction).
fn mixed_workload(writeback_cache: bool) {
    let Some(m) = Mounted::with(
        scfs::fs::FsOptions {
            block_size: 4096,
            cache_size: 64 << 10,
            writeback_cache,
            ..Default::default()
        },
        |_| {},
    ) else {
        return;
    };
    let (tx, rx) = std::sync::mpsc::channel();
    for t in 0..4u64 {
        let mnt = m.mnt.clone();
        let tx = tx.clone();
        std::thread::spawn(move || {
            for i in 0..100u64 {
                let name = mnt.join(format!("f{}", (t + i) % 5));
                let r = (|| -> std::io::Result<()> {
                    let f = OpenOptions::new()
                        .read(true)
                        .write(true)
                        .create(true)
                        .truncate(false)
                        .open(&name)?;
                    f.write_all_at(&noise(30_000, t * 1000 + i), (i % 7) * 5000)?;
                    let _ = fs::metadata(&name)?;
                    if i % 5 == 0 {
                        f.sync_data()?;
                    }
                    if i % 9 == 0 {
                        f.set_len(i * 100)?;
                    }
                    drop(f);
                    let _ = fs::read(&name);
                    if i % 11 == 0 {
                        let _ = fs::rename(&name, mnt.join(format!("f{}", (t + i + 1) % 5)));
                    }
                    let _ = fs::read_dir(&mnt)?.count();
                    Ok(())
                })();
                match r {
                    // Another thread may rename a file away under us.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    r => r.unwrap(),
                }
            }
            tx.send(()).unwrap();
        });
    }
    drop(tx);
    for _ in 0..4 {
        rx.recv_timeout(std::time::Duration::from_secs(60))
            .expect("workload stuck (deadlock?)");
    }
}

/// Unmounts a tmpfs (a small BACKING) when dropped, after the FUSE mount.
struct Tmpfs(Option<std::path::PathBuf>);

impl Drop for Tmpfs {
    fn drop(&mut self) {
        if let Some(p) = &self.0 {
            let _ = std::process::Command::new("umount").arg(p).status();
        }
    }
}

fn free_bytes(p: &std::path::Path) -> u64 {
    let c = cstr(p);
    // SAFETY: `c` is a valid NUL-terminated path; `st` is a plain struct
    // statvfs fills in.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::statvfs(c.as_ptr(), &mut st) }, 0);
    st.f_bavail * st.f_frsize
}

/// A full BACKING (an 8 MiB tmpfs): a writer gets ENOSPC at write(2), as on
/// a local filesystem, not only at close; a file whose close failed reads
/// as its last committed state (a new file: empty), never with a hole
/// where a block could not be stored; the space of what could not be
/// committed is given back; when space is freed in the middle of writing,
/// the writer goes on and nothing it wrote is lost.
#[test]
fn a_full_backing_is_enospc_at_write_and_loses_nothing_committed() {
    let mut tmpfs = Tmpfs(None);
    // A small cache bounds what a writer can hand over before the first
    // failed write-back tells it the disk is full (2 MiB here).
    let opts = scfs::fs::FsOptions {
        cache_size: 2 << 20,
        ..Default::default()
    };
    let Some(mut m) = Mounted::with(opts.clone(), |b| {
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=8m", "tmpfs"])
            .arg(b)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            tmpfs.0 = Some(b.to_path_buf());
        }
    }) else {
        return;
    };
    if tmpfs.0.is_none() {
        eprintln!("skipped: cannot mount a tmpfs (not root?)");
        return;
    }
    const MIB: usize = 1 << 20;
    let keep = noise(4 * MIB, 7);
    fs::write(m.p("keep"), &keep).unwrap();
    let data = noise(40 * MIB, 11);
    // Writes until the disk is full: ENOSPC from write itself.
    let fill = |f: &mut File| -> usize {
        let mut n = 0;
        for chunk in data.chunks(MIB) {
            match f.write(chunk) {
                Ok(k) => n += k,
                Err(e) => {
                    assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
                    return n;
                }
            }
        }
        panic!("40 MiB fitted in a 4 MiB BACKING");
    };
    let mut f = File::create(m.p("big")).unwrap();
    let n = fill(&mut f);
    eprintln!("first ENOSPC after {n} bytes");
    assert!(n < 12 * MIB, "ENOSPC came late: after {n} bytes");
    assert_eq!(errno_of(f.sync_all()), libc::ENOSPC);
    drop(f);
    // Its last committed state (empty); or, while the kernel's release of
    // the failed handle has not reached the daemon yet, what was written,
    // still in memory (the next open shares it). Never a hole, never
    // other bytes. Then the space is given back.
    let got = fs::read(m.p("big")).unwrap();
    assert!(got.is_empty() || got == data[..n], "{} bytes", got.len());
    let mut free = 0;
    for _ in 0..100 {
        free = free_bytes(&m.backing);
        if free >= 2 * MIB as u64 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(free >= 2 * MIB as u64, "only {free} bytes free");
    assert_eq!(fs::read(m.p("keep")).unwrap(), keep);
    // An existing file appended past the end of the disk keeps its content.
    fs::write(m.p("big"), &data[..MIB]).unwrap();
    let mut f = OpenOptions::new().append(true).open(m.p("big")).unwrap();
    let mut n = 0;
    for chunk in data[MIB..].chunks(MIB) {
        match f.write(chunk) {
            Ok(k) => n += k,
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
                break;
            }
        }
    }
    assert!(n < 12 * MIB);
    drop(f);
    let got = fs::read(m.p("big")).unwrap();
    assert!(
        got == data[..MIB] || got == data[..MIB + n],
        "{} bytes",
        got.len()
    );
    // Space freed in the middle of writing: the writer goes on, nothing lost.
    let mut f = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(m.p("big"))
        .unwrap();
    let mut n = fill(&mut f);
    eprintln!("ENOSPC after {n} bytes; {} free", free_bytes(&m.backing));
    let before = free_bytes(&m.backing);
    fs::remove_file(m.p("keep")).unwrap();
    // The kernel forgets the deleted inode (and the daemon closes it)
    // asynchronously, a moment after unlink returns.
    for i in 0..100 {
        if free_bytes(&m.backing) >= before + 3 * MIB as u64 {
            eprintln!("freed after {i} polls");
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    f.write_all(&data[n..n + MIB / 4]).unwrap();
    n += MIB / 4;
    f.sync_all().unwrap();
    drop(f);
    assert!(fs::read(m.p("big")).unwrap() == data[..n]);
    m.remount(opts);
    assert!(fs::read(m.p("big")).unwrap() == data[..n]);
    assert!(!m.p("keep").exists());
    drop(m);
}
