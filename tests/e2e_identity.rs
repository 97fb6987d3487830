//! What identifies an object through the daemon's inode table, checked
//! through a real mount: a name deleted and made again is the new object
//! (BACKING reuses inode numbers once the daemon has traded an idle
//! inode's descriptor for a file handle), also for hard links, renames
//! over a name, directories and open files of a deleted file.

mod common;

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{symlink, MetadataExt};
use std::path::Path;

use common::inproc::*;

fn small_budget() -> scfs::fs::FsOptions {
    scfs::fs::FsOptions {
        inode_fds: 16,
        ..Default::default()
    }
}

/// Mounts with a budget of 16 descriptors over 300 small files, so that
/// inodes the kernel still knows are evicted to a handle all the time.
fn crowded() -> Option<Mounted> {
    let m = Mounted::with(small_budget(), |_| {})?;
    fs::create_dir(m.p("many")).unwrap();
    for i in 0..300 {
        fs::write(m.p(&format!("many/f{i}")), format!("{i}")).unwrap();
    }
    Some(m)
}

/// Opens 20 of the 300 files: past the budget, idle inodes (the one just
/// used too) give up their descriptor for a handle.
fn churn(m: &Mounted, i: usize) {
    for k in 0..20 {
        let f = (i * 20 + k) % 300;
        File::open(m.p(&format!("many/f{f}"))).unwrap();
    }
}

/// Runs `round` `n` times, failing at the first round that fails (a round
/// returns Err(description); later rounds would fail for its leftovers).
fn rounds(n: usize, mut round: impl FnMut(usize) -> Result<(), String>) {
    for i in 0..n {
        if let Err(e) = round(i) {
            panic!("round {i} of {n} failed: {e}");
        }
    }
}

/// The reproducer, and what GNU tar does for every symlink: a
/// placeholder file, unlinked, then a symlink under the same name.
#[test]
fn a_symlink_replacing_a_file_reads_as_a_symlink() {
    let Some(m) = crowded() else { return };
    let p = m.p("x");
    rounds(2000, |i| {
        File::create(&p).map_err(|e| format!("{i} create: {e}"))?;
        fs::metadata(&p).map_err(|e| format!("{i} stat file: {e}"))?;
        churn(&m, i);
        fs::remove_file(&p).map_err(|e| format!("{i} unlink: {e}"))?;
        symlink("target", &p).map_err(|e| format!("{i} symlink: {e}"))?;
        let t = fs::read_link(&p).map_err(|e| format!("{i} readlink: {e}"))?;
        if t != Path::new("target") {
            return Err(format!("{i}: link reads {t:?}"));
        }
        fs::remove_file(&p).map_err(|e| format!("{i} unlink link: {e}"))
    });
}

/// A file replacing a file: its stat, contents and times are its own.
#[test]
fn a_file_replacing_a_file_is_the_new_file() {
    let Some(m) = crowded() else { return };
    let p = m.p("y");
    rounds(2000, |i| {
        fs::write(&p, format!("old {i}")).map_err(|e| format!("{i} write: {e}"))?;
        fs::metadata(&p).map_err(|e| format!("{i} stat: {e}"))?;
        churn(&m, i);
        fs::remove_file(&p).map_err(|e| format!("{i} unlink: {e}"))?;
        fs::write(&p, format!("new file {i}")).map_err(|e| format!("{i} write new: {e}"))?;
        let md = fs::metadata(&p).map_err(|e| format!("{i} stat new: {e}"))?;
        let body = fs::read_to_string(&p).map_err(|e| format!("{i} read new: {e}"))?;
        if md.len() != body.len() as u64 || body != format!("new file {i}") {
            return Err(format!("{i}: size {} body {body:?}", md.len()));
        }
        fs::remove_file(&p).map_err(|e| format!("{i} unlink new: {e}"))
    });
}

/// Directories removed and made again, and a file where a directory was.
#[test]
fn a_directory_made_again_is_the_new_directory() {
    let Some(m) = crowded() else { return };
    let d = m.p("d");
    rounds(1000, |i| {
        fs::create_dir(&d).map_err(|e| format!("{i} mkdir: {e}"))?;
        fs::metadata(&d).map_err(|e| format!("{i} stat: {e}"))?;
        churn(&m, i);
        fs::remove_dir(&d).map_err(|e| format!("{i} rmdir: {e}"))?;
        if i % 2 == 0 {
            fs::create_dir(&d).map_err(|e| format!("{i} mkdir again: {e}"))?;
            fs::write(d.join("in"), "x").map_err(|e| format!("{i} file in new dir: {e}"))?;
            let n = fs::read_dir(&d).map_err(|e| format!("{i} readdir: {e}"))?;
            if n.count() != 1 {
                return Err(format!("{i}: new dir has other entries"));
            }
            fs::remove_file(d.join("in")).map_err(|e| format!("{i} unlink in: {e}"))?;
            fs::remove_dir(&d).map_err(|e| format!("{i} rmdir again: {e}"))
        } else {
            fs::write(&d, "now a file").map_err(|e| format!("{i} file: {e}"))?;
            let md = fs::symlink_metadata(&d).map_err(|e| format!("{i} stat file: {e}"))?;
            if !md.is_file() {
                return Err(format!("{i}: a file made where a directory was is {md:?}"));
            }
            fs::remove_file(&d).map_err(|e| format!("{i} unlink file: {e}"))
        }
    });
}

/// A name renamed over another (the victim is deleted), then a new object
/// under the freed name; and hard links whose other name is deleted.
#[test]
fn renames_over_a_name_and_hard_links() {
    let Some(m) = crowded() else { return };
    let (a, b, c) = (m.p("a"), m.p("b"), m.p("c"));
    rounds(1000, |i| {
        fs::write(&a, format!("a{i}")).map_err(|e| format!("{i} write a: {e}"))?;
        fs::write(&b, format!("b{i}")).map_err(|e| format!("{i} write b: {e}"))?;
        fs::hard_link(&a, &c).map_err(|e| format!("{i} link: {e}"))?;
        fs::metadata(&a).map_err(|e| format!("{i} stat a: {e}"))?;
        fs::metadata(&b).map_err(|e| format!("{i} stat b: {e}"))?;
        churn(&m, i);
        // b's object is deleted; a's lives on as c.
        fs::rename(&a, &b).map_err(|e| format!("{i} rename: {e}"))?;
        symlink("t", &a).map_err(|e| format!("{i} symlink: {e}"))?;
        let l = fs::read_link(&a).map_err(|e| format!("{i} readlink: {e}"))?;
        let sb = fs::read_to_string(&b).map_err(|e| format!("{i} read b: {e}"))?;
        let sc = fs::read_to_string(&c).map_err(|e| format!("{i} read c: {e}"))?;
        let (mb, mc) = (
            fs::metadata(&b).map_err(|e| format!("{i} stat b: {e}"))?,
            fs::metadata(&c).map_err(|e| format!("{i} stat c: {e}"))?,
        );
        if l != Path::new("t") || sb != format!("a{i}") || sc != sb {
            return Err(format!("{i}: link {l:?}, b {sb:?}, c {sc:?}"));
        }
        if mb.ino() != mc.ino() || mb.nlink() != 2 {
            return Err(format!("{i}: b and c are not one inode of 2 links"));
        }
        for p in [&a, &b, &c] {
            fs::remove_file(p).map_err(|e| format!("{i} unlink {p:?}: {e}"))?;
        }
        Ok(())
    });
}

/// A file open while deleted keeps its contents for its descriptors, while
/// new files take its name (and perhaps its backing inode number).
#[test]
fn an_open_deleted_file_stays_itself() {
    let Some(m) = crowded() else { return };
    let p = m.p("open");
    let mut held = Vec::new();
    for i in 0..50 {
        let mut f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&p)
            .unwrap();
        f.write_all(format!("held {i}").as_bytes()).unwrap();
        fs::remove_file(&p).unwrap();
        churn(&m, i);
        for j in 0..5 {
            fs::write(&p, format!("new {i} {j}")).unwrap();
            assert_eq!(fs::read_to_string(&p).unwrap(), format!("new {i} {j}"));
            fs::remove_file(&p).unwrap();
        }
        held.push((i, f));
    }
    for (i, f) in &mut held {
        f.rewind().unwrap();
        let mut s = String::new();
        f.read_to_string(&mut s).unwrap();
        assert_eq!(s, format!("held {i}"));
        assert_eq!(f.metadata().unwrap().len(), s.len() as u64);
    }
}

/// Fills `dir` with a tree like a system's share directory: 40 directories
/// of 60 files, 25 symlinks (to files, directories, nowhere) and 3 hard
/// links each.
fn share_like_tree(dir: &Path) {
    for d in 0..40 {
        let sub = dir.join(format!("d{d}"));
        fs::create_dir_all(sub.join("sub")).unwrap();
        for f in 0..60 {
            let body = format!("{d}/{f} ").repeat(1 + (d * 60 + f) % 300);
            fs::write(sub.join(format!("f{f}.txt")), body).unwrap();
        }
        for l in 0..25 {
            let target = match l % 3 {
                0 => format!("f{l}.txt"),
                1 => format!("../d{}/sub", (d + l) % 40),
                _ => format!("missing{l}"),
            };
            symlink(target, sub.join(format!("l{l}"))).unwrap();
        }
        for h in 0..3 {
            fs::hard_link(sub.join(format!("f{h}.txt")), sub.join(format!("sub/h{h}"))).unwrap();
        }
    }
}

/// GNU tar makes every symlink as a placeholder file first, unlinks it and
/// makes the symlink: extracting a tree with many symlinks must succeed,
/// and `tar d` find no difference while the mount lives.
fn tar_round_trip(opts: scfs::fs::FsOptions) {
    let Some(m) = Mounted::with(opts, |_| {}) else {
        return;
    };
    let src = tempfile::tempdir().unwrap();
    share_like_tree(src.path());
    let tar_dir = tempfile::tempdir().unwrap();
    let tarball = tar_dir.path().join("tree.tar");
    let run = |args: &[&std::ffi::OsStr]| {
        let out = std::process::Command::new("tar")
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "tar {args:?}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let os = |s: &str| std::ffi::OsString::from(s);
    run(&[
        &os("cf"),
        tarball.as_os_str(),
        &os("-C"),
        src.path().as_os_str(),
        &os("."),
    ]);
    for round in 0..2 {
        let x = m.p(&format!("x{round}"));
        fs::create_dir(&x).unwrap();
        run(&[&os("xf"), tarball.as_os_str(), &os("-C"), x.as_os_str()]);
        run(&[&os("df"), tarball.as_os_str(), &os("-C"), x.as_os_str()]);
    }
}

#[test]
fn tar_extracts_many_symlinks_at_a_tiny_budget() {
    tar_round_trip(small_budget());
}

#[test]
fn tar_extracts_many_symlinks_at_the_default_budget() {
    tar_round_trip(Default::default());
}
