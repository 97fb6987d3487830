//! Shared mount guard for the FUSE tests: mounts `ScfsFs` over a fresh
//! BACKING temp dir on a fresh MNT temp dir and unmounts on drop, also
//! when the test panics.

use std::ffi::CString;
use std::fs::{self, File};
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use scfs::fs::{FsOptions, ScfsFs};

pub struct Mounted {
    pub backing: PathBuf,
    pub mnt: PathBuf,
    pub fs: ScfsFs,
    session: Option<fuser::BackgroundSession>,
    _backing_dir: tempfile::TempDir,
    _mnt_dir: tempfile::TempDir,
}

impl Mounted {
    /// Mounts with default options; None (after a message) without FUSE.
    pub fn new() -> Option<Mounted> {
        Self::with(FsOptions::default(), |_| {})
    }

    /// Mounts with `opts` after `prepare` has filled BACKING.
    pub fn with(opts: FsOptions, prepare: impl FnOnce(&Path)) -> Option<Mounted> {
        let _ = env_logger::builder().is_test(true).try_init();
        if !Path::new("/dev/fuse").exists() {
            eprintln!("skipping: /dev/fuse is missing");
            return None;
        }
        let backing_dir = tempfile::tempdir().expect("tempdir");
        let mnt_dir = tempfile::tempdir().expect("tempdir");
        prepare(backing_dir.path());
        let mut m = Mounted {
            backing: backing_dir.path().to_path_buf(),
            mnt: mnt_dir.path().to_path_buf(),
            fs: ScfsFs::new(backing_dir.path(), opts).expect("ScfsFs::new"),
            session: None,
            _backing_dir: backing_dir,
            _mnt_dir: mnt_dir,
        };
        m.mount();
        Some(m)
    }

    fn mount(&mut self) {
        let s = self.fs.spawn_mount(&self.mnt).expect("mount");
        self.session = Some(s);
    }

    /// Unmounts (flushing everything) and mounts again with a fresh state.
    pub fn remount(&mut self, opts: FsOptions) {
        self.unmount();
        self.fs = ScfsFs::new(&self.backing, opts).expect("ScfsFs::new");
        self.mount();
    }

    /// Unmounts; when the mount is busy (a test failed with files still
    /// open) it is detached lazily so no mount is ever left behind.
    pub fn unmount(&mut self) {
        if let Some(s) = self.session.take() {
            if let Err(e) = s.umount_and_join() {
                eprintln!("umount: {e}; detaching lazily");
                let c = cstr(&self.mnt);
                // SAFETY: valid NUL-terminated path; a failure is harmless.
                unsafe {
                    libc::umount2(c.as_ptr(), libc::MNT_DETACH);
                }
            }
        }
    }

    pub fn p(&self, rel: &str) -> PathBuf {
        self.mnt.join(rel)
    }

    pub fn b(&self, rel: &str) -> PathBuf {
        self.backing.join(rel)
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        self.unmount();
    }
}

pub fn cstr(p: impl AsRef<std::ffi::OsStr>) -> CString {
    CString::new(std::os::unix::ffi::OsStrExt::as_bytes(p.as_ref())).unwrap()
}

/// The errno of a failed result (panics if it succeeded).
#[track_caller]
pub fn errno_of<T: std::fmt::Debug>(r: std::io::Result<T>) -> i32 {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.raw_os_error().unwrap_or(-1),
    }
}

// ---- helpers shared by the FUSE tests ----

pub fn names(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}

pub fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 9) as u8)
        .collect()
}

pub fn renameat2(from: &std::path::Path, to: &std::path::Path, flags: u32) -> io::Result<()> {
    let (a, b) = (cstr(from), cstr(to));
    // SAFETY: valid NUL-terminated paths.
    let r = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            flags,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// A sized xattr call (`call(ptr, len)`) into a buffer of `size` bytes
/// (a null pointer when `size` is 0: a probe). Returns (size, bytes read).
fn xattr_sized(
    size: usize,
    call: impl FnOnce(*mut libc::c_void, usize) -> libc::ssize_t,
) -> io::Result<(usize, Vec<u8>)> {
    let mut buf = vec![0u8; size];
    let ptr = if size == 0 {
        std::ptr::null_mut()
    } else {
        buf.as_mut_ptr().cast()
    };
    let r = call(ptr, size);
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    buf.truncate((r as usize).min(size));
    Ok((r as usize, buf))
}

pub fn xattr_get(p: &std::path::Path, name: &str, size: usize) -> io::Result<(usize, Vec<u8>)> {
    let (p, n) = (cstr(p), cstr(name));
    // SAFETY: the pointer is writable for `len` bytes (null when 0).
    xattr_sized(size, |ptr, len| unsafe {
        libc::getxattr(p.as_ptr(), n.as_ptr(), ptr, len)
    })
}

pub fn xattr_set(p: &std::path::Path, name: &str, v: &[u8], flags: i32) -> io::Result<()> {
    let (p, n) = (cstr(p), cstr(name));
    // SAFETY: v is readable for its length.
    let r = unsafe { libc::setxattr(p.as_ptr(), n.as_ptr(), v.as_ptr().cast(), v.len(), flags) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

pub fn xattr_list(p: &std::path::Path, size: usize) -> io::Result<(usize, Vec<u8>)> {
    let p = cstr(p);
    // SAFETY: as for getxattr.
    xattr_sized(size, |ptr, len| unsafe {
        libc::listxattr(p.as_ptr(), ptr.cast(), len)
    })
}

pub fn fallocate(f: &File, mode: i32, off: i64, len: i64) -> io::Result<()> {
    // SAFETY: plain integer arguments on an open descriptor.
    if unsafe { libc::fallocate(f.as_raw_fd(), mode, off, len) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

pub fn lseek(f: &File, off: i64, whence: i32) -> io::Result<i64> {
    // SAFETY: plain integer arguments on an open descriptor.
    let r = unsafe { libc::lseek(f.as_raw_fd(), off, whence) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Whether the codec compresses text (false only until the codec lands).
pub fn codec_compresses() -> bool {
    let mut out = Vec::new();
    let text = b"aaaaaaaabbbbccde".repeat(100);
    matches!(
        scfs::codec::encode_block(&text, &mut out),
        scfs::codec::BlockCoding::Huffman
    )
}

/// Decodes a backing container without the mount (an empty backing file is
/// an empty file).
pub fn decode_backing(p: &std::path::Path) -> Vec<u8> {
    let f = File::open(p).unwrap();
    if f.metadata().unwrap().len() == 0 {
        return Vec::new();
    }
    let c = scfs::container::Container::open(f, false).unwrap();
    let bs = c.block_size() as usize;
    let size = c.logical_size() as usize;
    let mut out = vec![0u8; size.div_ceil(bs) * bs];
    for (i, chunk) in out.chunks_mut(bs).enumerate() {
        c.read_block(i as u64, chunk).unwrap();
    }
    out.truncate(size);
    out
}
