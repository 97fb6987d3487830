//! The daemon's inode descriptors on trees with many directories (a
//! `git clone` or `cp -r` of a source tree: ~3,400 directories for 17,000
//! files) and while many files are open: the directories new files were
//! made in give up their descriptors like any idle inode, and the scans
//! for idle descriptors follow the descriptors opened, never the requests
//! (one scan of the whole table per request made a clone of 17,000 files
//! burn 50-150 s of daemon CPU once 10,000 directories were pinned). Needs
//! root (open_by_handle_at: without it the daemon keeps every descriptor).

mod common;

use std::fs::{self, File};
use std::io::Write;

use common::inproc::*;

fn root() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipping: needs root (open_by_handle_at)");
        return false;
    }
    true
}

fn mount(budget: usize) -> Option<Mounted> {
    let opts = scfs::fs::FsOptions {
        inode_fds: budget,
        ..Default::default()
    };
    Mounted::with(opts, |_| {})
}

/// 120 directories with a new file each (never fsynced, as most files
/// are), on a budget of 32 descriptors: the directories stay evictable
/// (a new file used to hold its directory's inode until its first fsync,
/// which pinned every such directory's descriptor for good), and a new
/// file's fsync still syncs its directory.
#[test]
fn directories_with_new_files_give_up_their_descriptors() {
    if !root() {
        return;
    }
    let Some(m) = mount(32) else { return };
    for d in 0..120 {
        fs::create_dir(m.p(&format!("d{d}"))).unwrap();
        fs::write(m.p(&format!("d{d}/f")), format!("file in d{d}\n")).unwrap();
        let mut n = File::create(m.p(&format!("d{d}/n"))).unwrap();
        n.write_all(b"new\n").unwrap();
    }
    assert!(m.fs.inode_count() > 360, "{} inodes", m.fs.inode_count());
    assert!(
        m.fs.inode_fds() <= 40,
        "{} inode descriptors held on a budget of 32",
        m.fs.inode_fds()
    );
    // A new file's fsync (its directory synced too) works, its directory
    // evicted or not.
    for d in [0, 60, 119] {
        let mut f = File::create(m.p(&format!("d{d}/synced"))).unwrap();
        f.write_all(b"durable\n").unwrap();
        f.sync_all().unwrap();
    }
    for d in 0..120 {
        assert_eq!(
            fs::read_to_string(m.p(&format!("d{d}/f"))).unwrap(),
            format!("file in d{d}\n")
        );
    }
    assert_eq!(fs::read_to_string(m.p("d60/synced")).unwrap(), "durable\n");
}

/// 48 files held open on a budget of 16 descriptors (more than any scan
/// can free: open files keep theirs): 2,880 requests on them scan the
/// inode table a few times at most, not once each as they did.
#[test]
fn open_files_over_the_budget_do_not_make_every_request_scan() {
    if !root() {
        return;
    }
    let Some(m) = mount(16) else { return };
    for i in 0..200 {
        fs::write(m.p(&format!("idle{i}")), "x").unwrap();
    }
    let open: Vec<File> = (0..48)
        .map(|i| {
            let mut f = File::create(m.p(&format!("open{i}"))).unwrap();
            f.write_all(format!("{i}").as_bytes()).unwrap();
            f
        })
        .collect();
    assert!(m.fs.inode_fds() >= 48, "{}", m.fs.inode_fds());
    let before = m.fs.inode_evict_scans();
    for round in 0..60 {
        for i in 0..open.len() {
            // getxattr always reaches the daemon (no kernel cache).
            let e = errno_of(xattr_get(&m.p(&format!("open{i}")), "user.none", 16));
            assert_eq!(e, libc::ENODATA, "round {round} file {i}");
        }
    }
    let scans = m.fs.inode_evict_scans() - before;
    assert!(
        scans <= 4,
        "{scans} scans of the inode table for 2,880 requests"
    );
    drop(open);
    for i in (0..200).step_by(37) {
        assert_eq!(fs::read_to_string(m.p(&format!("idle{i}"))).unwrap(), "x");
    }
    for i in 0..48 {
        assert_eq!(
            fs::read_to_string(m.p(&format!("open{i}"))).unwrap(),
            format!("{i}")
        );
    }
}
