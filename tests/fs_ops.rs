//! Every FUSE operation through a real in-process mount: a BACKING and a
//! MNT temp dir, `ScfsFs` mounted with fuser, driven through std::fs and
//! libc. Skipped (with a message) only when /dev/fuse is missing.

mod fs_common;

use std::fs;

use fs_common::Mounted;

#[test]
fn basic_dirs_and_files() {
    let Some(m) = Mounted::new() else { return };
    fs::create_dir(m.mnt.join("d")).unwrap();
    fs::write(m.mnt.join("d/a.txt"), b"hello world").unwrap();
    assert_eq!(fs::read(m.mnt.join("d/a.txt")).unwrap(), b"hello world");
    let names: Vec<_> = fs::read_dir(m.mnt.join("d"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, vec!["a.txt"]);
    assert!(m.backing.join("d/a.txt").exists());
    let md = fs::metadata(m.mnt.join("d/a.txt")).unwrap();
    assert_eq!(md.len(), 11);
    assert!(md.is_file());
}
