//! A 1 GiB sparse file and concurrent writers (threads and processes, on
//! disjoint and overlapping regions) through a daemon-mode mount, checked
//! again after a remount.

mod common;

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::sync::{Arc, Barrier};

use common::{sh, Mount};

const GIB: u64 = 1 << 30;

#[test]
fn one_gib_sparse_file() {
    let Some(mut m) = Mount::new() else { return };
    let s = m.scratch().to_path_buf();
    std::fs::write(s.join("tail"), common::data(4096, 5, false)).unwrap();
    sh(
        &s,
        "dd if=tail of=mnt/sparse bs=4096 seek=262143 conv=notrunc status=none
         echo head | dd of=mnt/sparse conv=notrunc status=none",
    );
    for round in 0..2 {
        let st = std::fs::metadata(m.p("sparse")).unwrap();
        assert_eq!(st.len(), GIB, "round {round}");
        assert!(st.blocks() > 0, "st_blocks is 0 for a file holding data");
        assert!(
            st.blocks() * 512 < 1 << 20,
            "du too large: {} blocks",
            st.blocks()
        );
        let f = File::open(m.p("sparse")).unwrap();
        let mut buf = vec![0u8; 4096];
        f.read_exact_at(&mut buf, GIB - 4096).unwrap();
        assert!(buf == common::data(4096, 5, false), "tail differs");
        f.read_exact_at(&mut buf, GIB / 2 + 12345).unwrap();
        assert!(buf.iter().all(|&b| b == 0), "hole is not zeros");
        f.read_exact_at(&mut buf[..5], 0).unwrap();
        assert_eq!(&buf[..5], b"head\n");
        assert_eq!(f.read_at(&mut buf, GIB).unwrap(), 0, "read past EOF");
        let du = sh(&m.mnt, "du -k sparse | cut -f1");
        assert!(du.trim().parse::<u64>().unwrap() < 1024, "du says {du}");
        // BACKING stores only the data.
        assert!(std::fs::metadata(m.b("sparse")).unwrap().len() < 1 << 20);
        drop(f);
        m.remount();
    }
}

/// Pattern of writer `w` for byte offset `off` (distinct per writer).
fn pattern(w: u8, off: u64) -> u8 {
    (off as u8)
        .wrapping_mul(31)
        .wrapping_add(w.wrapping_mul(67))
        | 1
}

#[test]
fn concurrent_writers_disjoint_and_overlapping() {
    let Some(mut m) = Mount::new() else { return };
    const WRITERS: u8 = 4;
    const REGION: u64 = 1 << 20; // each writer's own region
    const SHARED: u64 = 256 << 10; // everybody writes here, 4 KiB at a time
    let path = m.p("shared.bin");
    File::create(&path).unwrap();
    let barrier = Arc::new(Barrier::new(WRITERS as usize));
    let threads: Vec<_> = (0..WRITERS)
        .map(|w| {
            let path = path.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let f = OpenOptions::new().write(true).open(&path).unwrap();
                barrier.wait();
                // Disjoint: odd-sized chunks, so writes straddle blocks.
                let base = SHARED + w as u64 * REGION;
                let mut off = 0;
                while off < REGION {
                    let len = (7919 + w as u64 * 1000).min(REGION - off);
                    let buf: Vec<u8> = (off..off + len).map(|o| pattern(w, base + o)).collect();
                    f.write_all_at(&buf, base + off).unwrap();
                    off += len;
                }
                // Overlapping: aligned 4 KiB writes, in a writer-specific order.
                for i in 0..SHARED / 4096 {
                    let page = (i * (2 * w as u64 + 1)) % (SHARED / 4096);
                    let start = page * 4096;
                    let buf: Vec<u8> = (start..start + 4096).map(|o| pattern(w, o)).collect();
                    f.write_all_at(&buf, start).unwrap();
                }
            })
        })
        .collect();
    // Meanwhile two processes append to their own files and one rewrites.
    sh(
        &m.mnt,
        "(for i in $(seq 1 200); do echo \"p1 $i\" >> p1.log; done) &
         (for i in $(seq 1 200); do echo \"p2 $i\" >> p2.log; done) &
         wait",
    );
    for t in threads {
        t.join().unwrap();
    }
    for round in 0..2 {
        let data = std::fs::read(&path).unwrap();
        assert_eq!(data.len() as u64, SHARED + WRITERS as u64 * REGION);
        for w in 0..WRITERS {
            let base = SHARED + w as u64 * REGION;
            let ok = (base..base + REGION).all(|o| data[o as usize] == pattern(w, o));
            assert!(ok, "round {round}: writer {w}'s region is damaged");
        }
        for page in 0..SHARED / 4096 {
            let start = page * 4096;
            let w = (0..WRITERS).find(|&w| data[start as usize] == pattern(w, start));
            let w = w.unwrap_or_else(|| panic!("round {round}: page {page} from nobody"));
            let whole = (start..start + 4096).all(|o| data[o as usize] == pattern(w, o));
            assert!(whole, "round {round}: page {page} is torn");
        }
        for p in ["p1", "p2"] {
            let text = std::fs::read_to_string(m.p(&format!("{p}.log"))).unwrap();
            let want: String = (1..=200).map(|i| format!("{p} {i}\n")).collect();
            assert_eq!(text, want, "round {round}");
        }
        m.remount();
    }
}
