//! Directory listings through the real daemon, as libc's opendir/readdir
//! use them: names made after opendir appear after rewinddir (POSIX), and
//! d_ino of every entry, `..` included, is the same in a full listing and
//! in one resumed with seekdir.

mod common;

use std::collections::BTreeMap;
use std::ffi::{CStr, CString};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use common::Mount;

/// A libc directory stream, closed on drop.
struct Dir(*mut libc::DIR);

impl Dir {
    fn open(p: &Path) -> Dir {
        let c = CString::new(p.as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        let d = unsafe { libc::opendir(c.as_ptr()) };
        assert!(!d.is_null(), "opendir {}", p.display());
        Dir(d)
    }

    /// The next entry: (name, d_ino, position after it), None at the end.
    fn next(&mut self) -> Option<(String, u64, i64)> {
        // SAFETY: self.0 is an open stream; the entry is copied out before
        // the next call on the stream.
        unsafe {
            let e = libc::readdir(self.0);
            if e.is_null() {
                return None;
            }
            let name = CStr::from_ptr((*e).d_name.as_ptr())
                .to_string_lossy()
                .into_owned();
            Some((name, (*e).d_ino, libc::telldir(self.0)))
        }
    }

    fn all(&mut self) -> Vec<(String, u64, i64)> {
        std::iter::from_fn(|| self.next()).collect()
    }

    fn rewind(&mut self) {
        // SAFETY: an open stream.
        unsafe { libc::rewinddir(self.0) }
    }

    fn seek(&mut self, pos: i64) {
        // SAFETY: an open stream and a position telldir gave for it.
        unsafe { libc::seekdir(self.0, pos) }
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        // SAFETY: an open stream, closed once.
        unsafe { libc::closedir(self.0) };
    }
}

#[test]
fn names_made_after_opendir_appear_after_rewinddir() {
    let Some(m) = Mount::new() else { return };
    let d = m.p("d");
    fs::create_dir(&d).unwrap();
    for i in 0..5 {
        fs::write(d.join(format!("old{i}")), b"x").unwrap();
    }
    let mut dir = Dir::open(&d);
    let first = dir.all();
    assert_eq!(first.len(), 7, "{first:?}");
    for i in 0..2000 {
        fs::write(d.join(format!("new{i}")), b"").unwrap();
    }
    fs::remove_file(d.join("old0")).unwrap();
    dir.rewind();
    let names: Vec<String> = dir.all().into_iter().map(|e| e.0).collect();
    let new = names.iter().filter(|n| n.starts_with("new")).count();
    assert_eq!(new, 2000, "names made before rewinddir must appear");
    assert!(
        !names.contains(&"old0".to_string()),
        "a removed name stays listed"
    );
    assert_eq!(names.len(), 2 + 4 + 2000);
}

#[test]
fn d_ino_is_the_same_in_full_and_resumed_listings() {
    let Some(m) = Mount::new() else { return };
    let d = m.p("a/b");
    fs::create_dir_all(&d).unwrap();
    for i in 0..300 {
        fs::write(d.join(format!("f{i:03}")), b"x").unwrap();
    }
    fs::create_dir(d.join("sub")).unwrap();
    for dir in [m.mnt.clone(), d.clone()] {
        let parent = if dir == m.mnt {
            fs::metadata(&m.mnt).unwrap().ino()
        } else {
            fs::metadata(d.parent().unwrap()).unwrap().ino()
        };
        let mut s = Dir::open(&dir);
        let full = s.all();
        let by_name: BTreeMap<&str, u64> = full.iter().map(|e| (e.0.as_str(), e.1)).collect();
        assert_eq!(by_name["."], fs::metadata(&dir).unwrap().ino());
        assert_eq!(
            by_name[".."],
            parent,
            "`..` of {}: {:?} backing {}",
            dir.display(),
            full.iter().take(3).collect::<Vec<_>>(),
            common::sh(&m.backing, "ls -iad . a a/b")
        );
        for (name, ino, _) in &full {
            if name != "." && name != ".." {
                let md = fs::symlink_metadata(dir.join(name)).unwrap();
                assert_eq!(*ino, md.ino(), "d_ino of {name} differs from stat");
            }
        }
        // Resume from every 37th position, in a fresh stream each time (so
        // the kernel asks the daemon from that offset): same entries.
        for k in (0..full.len()).step_by(37) {
            let pos = if k == 0 { None } else { Some(full[k - 1].2) };
            let mut r = Dir::open(&dir);
            if let Some(p) = pos {
                r.seek(p);
            }
            let rest = r.all();
            let want: Vec<(&str, u64)> = full[k..].iter().map(|e| (e.0.as_str(), e.1)).collect();
            let got: Vec<(&str, u64)> = rest.iter().map(|e| (e.0.as_str(), e.1)).collect();
            assert_eq!(got, want, "resumed at entry {k} of {}", dir.display());
        }
    }
}
