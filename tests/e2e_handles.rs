//! Kernel file handles of scfs objects (what an NFS re-export hands its
//! clients), taken with name_to_handle_at and opened with
//! open_by_handle_at through a real mount after the kernel dropped its
//! inodes (`echo 2 > /proc/sys/vm/drop_caches`): they survive unlinks of
//! another link, renames and the daemon's descriptor eviction, and fail
//! with ESTALE once the object is gone, also when a new object took its
//! backing inode number. Needs root (CAP_DAC_READ_SEARCH, drop_caches).

mod common;

use std::fs::{self, File};
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use common::inproc::*;

/// A `struct file_handle` with room for 128 bytes of handle.
#[derive(Clone, Copy)]
#[repr(C)]
struct Handle {
    bytes: u32,
    kind: i32,
    f: [u8; 128],
}

fn handle_of(p: &Path) -> io::Result<Handle> {
    let mut h = Handle {
        bytes: 128,
        kind: 0,
        f: [0; 128],
    };
    let mut mount_id = 0;
    let c = cstr(p);
    // SAFETY: `h` is a live `struct file_handle` (repr(C), 4-aligned) whose
    // `bytes` says 128 bytes follow; `c` is NUL-terminated; `mount_id` is a
    // live local.
    let r = unsafe {
        libc::name_to_handle_at(
            libc::AT_FDCWD,
            c.as_ptr(),
            (&mut h as *mut Handle).cast(),
            &mut mount_id,
            0,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(h)
}

fn open_by(mount: &File, h: &Handle, flags: i32) -> io::Result<File> {
    let mut h = *h;
    // SAFETY: `h` is a valid handle buffer as above; the kernel reads it.
    let fd = unsafe {
        libc::open_by_handle_at(mount.as_raw_fd(), (&mut h as *mut Handle).cast(), flags)
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a descriptor the kernel just returned, owned by no one else.
    Ok(File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// Makes the kernel forget every unused inode (those of the mount too).
fn drop_inodes() {
    fs::write("/proc/sys/vm/drop_caches", "2").expect("drop_caches");
}

fn read_all(mut f: File) -> String {
    let mut s = String::new();
    f.read_to_string(&mut s).unwrap();
    s
}

/// Root, and a kernel that gives handles of FUSE objects.
fn ready() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipping: needs root (open_by_handle_at, drop_caches)");
        return false;
    }
    true
}

#[test]
fn handles_survive_the_kernel_forgetting_the_inode() {
    if !ready() {
        return;
    }
    let opts = scfs::fs::FsOptions {
        inode_fds: 16,
        ..Default::default()
    };
    let Some(m) = Mounted::with(opts, |_| {}) else {
        return;
    };
    fs::create_dir_all(m.p("d/e")).unwrap();
    fs::write(m.p("a"), "contents of a").unwrap();
    fs::hard_link(m.p("a"), m.p("b")).unwrap();
    fs::write(m.p("d/e/f"), "deep").unwrap();
    for i in 0..100 {
        fs::write(m.p(&format!("d/n{i}")), format!("{i}")).unwrap();
    }
    let mount = File::open(&m.mnt).unwrap();
    let ha = handle_of(&m.p("a")).unwrap();
    let he = handle_of(&m.p("d/e")).unwrap();
    let hf = handle_of(&m.p("d/e/f")).unwrap();
    let ino = fs::metadata(m.p("a")).unwrap().ino();

    // The kernel forgets the inodes; the daemon evicts their descriptors
    // (100 other files opened with a budget of 16).
    fs::remove_file(m.p("a")).unwrap();
    drop_inodes();
    for i in 0..100 {
        File::open(m.p(&format!("d/n{i}"))).unwrap();
    }
    drop_inodes();
    let f = open_by(&mount, &ha, libc::O_RDONLY).expect("open a's handle after unlink of a");
    assert_eq!(f.metadata().unwrap().ino(), ino);
    assert_eq!(read_all(f), "contents of a");

    // Renamed, into another directory.
    fs::rename(m.p("b"), m.p("d/e/b")).unwrap();
    drop_inodes();
    let f = open_by(&mount, &ha, libc::O_RDONLY).expect("open after rename");
    assert_eq!(read_all(f), "contents of a");

    // A directory (reconnected through its parents: lookups of "..").
    drop_inodes();
    let d = open_by(&mount, &he, libc::O_RDONLY | libc::O_DIRECTORY).expect("open dir");
    assert!(d.metadata().unwrap().is_dir());
    let at = cstr("f");
    // SAFETY: `d` is an open directory descriptor, `at` NUL-terminated.
    let fd = unsafe { libc::openat(d.as_raw_fd(), at.as_ptr(), libc::O_RDONLY) };
    assert!(fd >= 0, "{}", io::Error::last_os_error());
    // SAFETY: just returned by the kernel, owned by no one else.
    assert_eq!(
        read_all(File::from(unsafe { OwnedFd::from_raw_fd(fd) })),
        "deep"
    );
    drop_inodes();
    assert_eq!(
        read_all(open_by(&mount, &hf, libc::O_RDONLY).unwrap()),
        "deep"
    );

    // Gone: ESTALE, also once new files may have taken its inode number.
    fs::remove_file(m.p("d/e/b")).unwrap();
    drop_inodes();
    assert_eq!(errno_of(open_by(&mount, &ha, libc::O_RDONLY)), libc::ESTALE);
    for i in 0..50 {
        fs::write(m.p(&format!("new{i}")), "new").unwrap();
    }
    drop_inodes();
    assert_eq!(errno_of(open_by(&mount, &ha, libc::O_RDONLY)), libc::ESTALE);
    for i in 0..50 {
        assert_eq!(fs::read_to_string(m.p(&format!("new{i}"))).unwrap(), "new");
    }
}
