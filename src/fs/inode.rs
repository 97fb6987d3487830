//! The inode table: one entry per backing object the kernel knows, held by
//! an `O_PATH` descriptor (as libfuse's passthrough_hp does) so renames,
//! hard links and unlinked-but-open files follow the backing inode. The
//! same backing (st_dev, st_ino) is always the same FUSE inode, so hard
//! links are one inode. Entries are counted by lookup and dropped by forget.

use std::collections::HashMap;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock, RwLockReadGuard};

use super::content::FileState;

/// The FUSE inode number of the mount's root.
pub const ROOT: u64 = 1;

/// Synthetic inode numbers (when the backing st_ino cannot be used) start
/// here, far above any real inode number.
const SYNTHETIC_BASE: u64 = 1 << 56;

/// One inode the kernel knows.
pub struct Inode {
    /// FUSE inode number (the backing st_ino whenever possible).
    pub ino: u64,
    /// `S_IFMT` bits of the backing object.
    pub kind: u32,
    /// O_PATH descriptor of the backing object; replaced when compaction
    /// renames a fresh container over the old one.
    fd: RwLock<OwnedFd>,
    /// Open-file state of regular files (content shared by every handle).
    pub state: Mutex<FileState>,
}

impl Inode {
    /// Borrows the O_PATH descriptor (holding a read lock on it).
    pub fn fd(&self) -> FdGuard<'_> {
        FdGuard(self.fd.read())
    }

    /// Exclusive access to the O_PATH descriptor (compaction replaces it).
    pub fn fd_mut(&self) -> parking_lot::RwLockWriteGuard<'_, OwnedFd> {
        self.fd.write()
    }

    pub fn is_dir(&self) -> bool {
        self.kind == libc::S_IFDIR
    }

    pub fn is_reg(&self) -> bool {
        self.kind == libc::S_IFREG
    }

    pub fn is_symlink(&self) -> bool {
        self.kind == libc::S_IFLNK
    }
}

/// A borrowed O_PATH descriptor, valid while the guard lives.
pub struct FdGuard<'a>(RwLockReadGuard<'a, OwnedFd>);

impl FdGuard<'_> {
    pub fn raw(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

impl AsFd for FdGuard<'_> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

struct Entry {
    inode: Arc<Inode>,
    key: (u64, u64),
    /// The key of the backing file about to replace this one (compaction):
    /// mapped before the rename so that no lookup can make a second inode
    /// of the new file.
    pending: Option<(u64, u64)>,
    nlookup: u64,
}

#[derive(Default)]
struct Tables {
    by_ino: HashMap<u64, Entry>,
    by_key: HashMap<(u64, u64), u64>,
    next_synthetic: u64,
}

/// All known inodes.
pub struct InodeTable {
    t: RwLock<Tables>,
}

impl InodeTable {
    /// A table holding the root (`fd` on BACKING, never forgotten).
    pub fn new(root_fd: OwnedFd, st: &libc::stat) -> InodeTable {
        let key = (st.st_dev, st.st_ino);
        let root = Arc::new(Inode {
            ino: ROOT,
            kind: st.st_mode & libc::S_IFMT,
            fd: RwLock::new(root_fd),
            state: Mutex::new(FileState::default()),
        });
        let mut t = Tables {
            next_synthetic: SYNTHETIC_BASE,
            ..Tables::default()
        };
        t.by_ino.insert(
            ROOT,
            Entry {
                inode: root,
                key,
                pending: None,
                nlookup: 1,
            },
        );
        t.by_key.insert(key, ROOT);
        InodeTable { t: RwLock::new(t) }
    }

    /// The inode `ino`, or ESTALE if the kernel names one we do not know.
    pub fn get(&self, ino: u64) -> std::io::Result<Arc<Inode>> {
        self.t
            .read()
            .by_ino
            .get(&ino)
            .map(|e| e.inode.clone())
            .ok_or_else(|| std::io::Error::from_raw_os_error(libc::ESTALE))
    }

    /// Records one more lookup of the backing object behind `fd` (whose
    /// stat is `st`), creating the inode if new; `fd` is dropped if the
    /// object is already known.
    pub fn lookup(&self, fd: OwnedFd, st: &libc::stat) -> Arc<Inode> {
        let key = (st.st_dev, st.st_ino);
        let mut t = self.t.write();
        if let Some(&ino) = t.by_key.get(&key) {
            if let Some(e) = t.by_ino.get_mut(&ino) {
                e.nlookup += 1;
                return e.inode.clone();
            }
        }
        let mut ino = st.st_ino;
        if ino <= ROOT || ino >= SYNTHETIC_BASE || t.by_ino.contains_key(&ino) {
            loop {
                ino = t.next_synthetic;
                t.next_synthetic += 1;
                if !t.by_ino.contains_key(&ino) {
                    break;
                }
            }
        }
        let inode = Arc::new(Inode {
            ino,
            kind: st.st_mode & libc::S_IFMT,
            fd: RwLock::new(fd),
            state: Mutex::new(FileState::default()),
        });
        t.by_ino.insert(
            ino,
            Entry {
                inode: inode.clone(),
                key,
                pending: None,
                nlookup: 1,
            },
        );
        t.by_key.insert(key, ino);
        inode
    }

    /// Drops `n` lookups of `ino`; the inode goes when none are left.
    pub fn forget(&self, ino: u64, n: u64) {
        if ino == ROOT {
            return;
        }
        let mut t = self.t.write();
        let Some(e) = t.by_ino.get_mut(&ino) else {
            return;
        };
        e.nlookup = e.nlookup.saturating_sub(n);
        if e.nlookup == 0 {
            let keys = [Some(e.key), e.pending];
            t.by_ino.remove(&ino);
            for key in keys.into_iter().flatten() {
                if t.by_key.get(&key) == Some(&ino) {
                    t.by_key.remove(&key);
                }
            }
        }
    }

    /// The backing object of `ino` is about to become `st` (a new file
    /// renamed over it): from now on both map to `ino`.
    pub fn rekey_begin(&self, ino: u64, st: &libc::stat) {
        let key = (st.st_dev, st.st_ino);
        let mut t = self.t.write();
        let Some(e) = t.by_ino.get_mut(&ino) else {
            return;
        };
        e.pending = Some(key);
        t.by_key.insert(key, ino);
    }

    /// The replacement happened (`done`) or failed: one key is dropped.
    pub fn rekey_end(&self, ino: u64, done: bool) {
        let mut t = self.t.write();
        let Some(e) = t.by_ino.get_mut(&ino) else {
            return;
        };
        let Some(new) = e.pending.take() else {
            return;
        };
        let gone = if done {
            std::mem::replace(&mut e.key, new)
        } else {
            new
        };
        if t.by_key.get(&gone) == Some(&ino) {
            t.by_key.remove(&gone);
        }
    }

    /// Maps backing inode numbers (on device `dev`) to the FUSE inode
    /// numbers in use for them (they differ after compaction), in place.
    pub fn map_inos(&self, dev: u64, inos: &mut [u64]) {
        let t = self.t.read();
        for ino in inos {
            if let Some(&n) = t.by_key.get(&(dev, *ino)) {
                *ino = n;
            }
        }
    }

    /// Number of known inodes (tests, logging).
    pub fn len(&self) -> usize {
        self.t.read().by_ino.len()
    }

    #[allow(dead_code)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
