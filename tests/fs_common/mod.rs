//! Shared mount guard for the FUSE tests: mounts `ScfsFs` over a fresh
//! BACKING temp dir on a fresh MNT temp dir and unmounts on drop, also
//! when the test panics.

#![allow(dead_code)]

use std::ffi::CString;
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
        let cfg = self.fs.config();
        let s = fuser::spawn_mount(self.fs.clone(), &self.mnt, &cfg).expect("mount");
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
