//! The one reference model of the model-based tests and their one
//! operation vocabulary. [`Op`] is what happens to one file's contents
//! (write, read, truncate, punch, allocate, seeks, flush, fsync, reopen,
//! compact); [`FileModel`] is what the file must then hold: a `Vec<u8>`
//! whose length is the file size, holes reading as zeros. [`TreeOp`] and
//! [`Tree`] add a few names (rename, remount) and drive real files through
//! `std::fs`, for the in-process mount (fs_model) and the daemon mount
//! (e2e_model) alike. Each test keeps its own driver and strategy (the
//! container API, the file layer, a mount) and generates the subset of
//! [`Op`] its layer knows. [`Fill`] makes the bytes a write stores.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::Path;

use proptest::prelude::*;

use super::rng::Rng;

/// The kinds of data a write stores (each compresses differently).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// All zeros (a zero block becomes a hole).
    Zeros,
    /// One nonzero byte repeated (a fill block).
    Constant,
    /// Incompressible bytes (a stored block).
    Noise,
    /// A skewed small alphabet (Huffman compresses it).
    Skewed,
    /// Text-like bytes from a 14-letter alphabet (`super::data`).
    Text,
    /// Zeros but for one byte in the middle.
    OneByte,
}

impl Shape {
    pub const ALL: [Shape; 6] = [
        Shape::Zeros,
        Shape::Constant,
        Shape::Noise,
        Shape::Skewed,
        Shape::Text,
        Shape::OneByte,
    ];
}

/// The bytes of one write: a shape and a seed, so a case can be replayed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fill {
    pub shape: Shape,
    pub seed: u64,
}

impl Fill {
    pub fn new(shape: Shape, seed: u64) -> Fill {
        Fill { shape, seed }
    }

    /// `len` bytes of this fill.
    pub fn bytes(&self, len: usize) -> Vec<u8> {
        let seed = self.seed;
        match self.shape {
            Shape::Zeros => vec![0u8; len],
            Shape::Constant => vec![(seed as u8) | 1; len],
            Shape::Noise => super::data(len, seed, false),
            Shape::Skewed => {
                let mut r = Rng::new(seed);
                (0..len)
                    .map(|_| b"aaaabbc\n"[r.below(8) as usize])
                    .collect()
            }
            Shape::Text => super::data(len, seed, true),
            Shape::OneByte => {
                let mut v = vec![0u8; len];
                if len > 0 {
                    v[len / 2] = 9;
                }
                v
            }
        }
    }
}

/// Any fill, every shape equally likely.
pub fn fill() -> impl Strategy<Value = Fill> {
    (prop::sample::select(Shape::ALL.to_vec()), any::<u64>())
        .prop_map(|(s, seed)| Fill::new(s, seed))
}

/// One operation on one file's contents. A layer that has no such
/// operation never generates it.
#[derive(Clone, Debug)]
pub enum Op {
    /// pwrite(off, fill.bytes(len)).
    Write { off: u64, len: usize, fill: Fill },
    /// pread(off, len), compared with the model.
    Read { off: u64, len: usize },
    /// ftruncate(size).
    Truncate(u64),
    /// fallocate(PUNCH_HOLE | KEEP_SIZE, off, len).
    Punch { off: u64, len: u64 },
    /// fallocate(0 or KEEP_SIZE, off, len).
    Allocate { off: u64, len: u64, keep: bool },
    /// lseek(SEEK_DATA), checked against the model.
    SeekData(u64),
    /// lseek(SEEK_HOLE), checked against the model.
    SeekHole(u64),
    /// Hand dirty data down (no durability promise).
    Flush,
    /// Make everything durable (the container's commit).
    Fsync,
    /// Close and open again (the container, the file, the mount).
    Reopen,
    /// Copy the live data into a fresh file (the container's compaction).
    Compact,
}

/// The contents of one logical file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileModel(pub Vec<u8>);

impl FileModel {
    pub fn len(&self) -> u64 {
        self.0.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Stores `data` at `off`, growing the file (the gap reads as zeros).
    pub fn write(&mut self, off: u64, data: &[u8]) {
        let (off, end) = (off as usize, off as usize + data.len());
        if self.0.len() < end {
            self.0.resize(end, 0);
        }
        self.0[off..end].copy_from_slice(data);
    }

    pub fn truncate(&mut self, size: u64) {
        self.0.resize(size as usize, 0);
    }

    /// Zeros `off..off+len` inside the file; the size stays.
    pub fn punch(&mut self, off: u64, len: u64) {
        let hi = (off.saturating_add(len) as usize).min(self.0.len());
        let lo = (off as usize).min(hi);
        self.0[lo..hi].fill(0);
    }

    /// Reserves `off..off+len`: grows the file unless `keep`.
    pub fn allocate(&mut self, off: u64, len: u64, keep: bool) {
        let end = off + len;
        if !keep && self.len() < end {
            self.truncate(end);
        }
    }

    /// What a read of `len` bytes at `off` returns.
    pub fn read(&self, off: u64, len: usize) -> &[u8] {
        let lo = (off as usize).min(self.0.len());
        let hi = (off as usize).saturating_add(len).min(self.0.len());
        &self.0[lo..hi]
    }

    /// Applies a content operation (the ones that change the contents;
    /// the others leave them as they are).
    pub fn apply(&mut self, op: &Op) {
        match *op {
            Op::Write { off, len, fill } => self.write(off, &fill.bytes(len)),
            Op::Truncate(s) => self.truncate(s),
            Op::Punch { off, len } => self.punch(off, len),
            Op::Allocate { off, len, keep } => self.allocate(off, len, keep),
            _ => {}
        }
    }

    /// Checks `got` = SEEK_DATA from `o` on a file of `bs`-byte blocks
    /// (data may be reported early only at a block start).
    pub fn check_seek_data(&self, o: u64, got: std::io::Result<u64>, bs: u64) {
        let (m, size) = (&self.0, self.len());
        match got {
            Ok(r) => {
                assert!(
                    o < size && r >= o && r < size,
                    "seek_data({o}) = {r}, size {size}"
                );
                assert!(
                    r == o || r % bs == 0,
                    "seek_data({o}) = {r} not at a block start"
                );
                assert!(
                    m[o as usize..r as usize].iter().all(|&b| b == 0),
                    "seek_data({o}) = {r} skipped data"
                );
            }
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::ENXIO), "seek_data({o}): {e}");
                assert!(
                    o >= size || m[o as usize..].iter().all(|&b| b == 0),
                    "seek_data({o}): ENXIO before data"
                );
            }
        }
    }

    /// Checks `got` = SEEK_HOLE from `o` on a file of `bs`-byte blocks.
    pub fn check_seek_hole(&self, o: u64, got: std::io::Result<u64>, bs: u64) {
        let (m, size) = (&self.0, self.len());
        match got {
            Ok(r) => {
                assert!(
                    o < size && r >= o && r <= size,
                    "seek_hole({o}) = {r}, size {size}"
                );
                if r < size {
                    assert!(
                        r == o || r % bs == 0,
                        "seek_hole({o}) = {r} not at a block start"
                    );
                    let blk_end = ((r / bs + 1) * bs).min(size);
                    assert!(
                        m[r as usize..blk_end as usize].iter().all(|&b| b == 0),
                        "seek_hole({o}) = {r} is data"
                    );
                }
            }
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::ENXIO), "seek_hole({o}): {e}");
                assert!(o >= size, "seek_hole({o}): ENXIO inside the file");
            }
        }
    }
}

/// One operation on a few named files.
#[derive(Clone, Debug)]
pub enum TreeOp {
    /// A content operation on file number `.0`.
    File(usize, Op),
    Rename {
        from: usize,
        to: usize,
    },
    /// Unmount (flushing everything) and mount again.
    Remount,
}

/// Tree operations on `files` names, writes and sizes below `max_off`,
/// writes up to `max_write` bytes, reads up to `max_read`.
pub fn tree_op(
    files: usize,
    max_off: u64,
    max_write: usize,
    max_read: usize,
) -> impl Strategy<Value = TreeOp> {
    let f = 0..files;
    let on = |f: usize, op: Op| TreeOp::File(f, op);
    prop_oneof![
        6 => (f.clone(), 0..max_off, 1..max_write, fill())
            .prop_map(move |(f, off, len, fill)| on(f, Op::Write { off, len, fill })),
        3 => (f.clone(), 0..max_off, 1..max_read)
            .prop_map(move |(f, off, len)| on(f, Op::Read { off, len })),
        2 => (f.clone(), 0..max_off).prop_map(move |(f, s)| on(f, Op::Truncate(s))),
        1 => (f.clone(), 0..max_off, 1..max_write as u64 * 2, any::<bool>())
            .prop_map(move |(f, off, len, keep)| on(f, Op::Allocate { off, len, keep })),
        1 => (f.clone(), 0..max_off, 1..max_write as u64 * 2)
            .prop_map(move |(f, off, len)| on(f, Op::Punch { off, len })),
        1 => (f.clone(), f.clone()).prop_map(|(from, to)| TreeOp::Rename { from, to }),
        1 => f.prop_map(move |f| on(f, Op::Fsync)),
        1 => Just(TreeOp::Remount),
    ]
}

/// The model of a few named files under one root, and the driver that
/// applies [`TreeOp`]s to real files there through `std::fs`.
pub struct Tree {
    /// The names (relative paths) of the files; parents must exist.
    pub names: Vec<String>,
    /// The files that exist, by number.
    pub files: BTreeMap<usize, FileModel>,
    /// Whether one pread must return all the bytes there are (else it is
    /// repeated until EOF).
    pub whole_reads: bool,
}

fn open_rw(p: &Path) -> File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(p)
        .unwrap()
}

fn fallocate(f: &File, mode: i32, off: u64, len: u64) {
    // SAFETY: fallocate(2) on a descriptor we own; no memory is passed.
    let r = unsafe { libc::fallocate(f.as_raw_fd(), mode, off as i64, len as i64) };
    assert_eq!(
        r,
        0,
        "fallocate mode {mode}: {}",
        std::io::Error::last_os_error()
    );
}

impl Tree {
    pub fn new(names: &[&str], whole_reads: bool) -> Tree {
        Tree {
            names: names.iter().map(|s| s.to_string()).collect(),
            files: BTreeMap::new(),
            whole_reads,
        }
    }

    /// Applies `op` under `root` and to the model; `remount` does a
    /// remount, after which everything is checked.
    pub fn apply(&mut self, root: &Path, op: &TreeOp, remount: &mut dyn FnMut()) {
        match op {
            TreeOp::File(f, op) => self.apply_file(root, *f, op),
            TreeOp::Rename { from, to } => {
                let r = std::fs::rename(root.join(&self.names[*from]), root.join(&self.names[*to]));
                match self.files.remove(from) {
                    None => assert_eq!(r.unwrap_err().kind(), ErrorKind::NotFound, "{op:?}"),
                    Some(v) => {
                        r.unwrap();
                        self.files.insert(*to, v);
                    }
                }
            }
            TreeOp::Remount => {
                remount();
                self.check(root, "after remount");
            }
        }
    }

    fn apply_file(&mut self, root: &Path, f: usize, op: &Op) {
        let p = root.join(&self.names[f]);
        match *op {
            Op::Write { off, len, fill } => {
                open_rw(&p).write_all_at(&fill.bytes(len), off).unwrap()
            }
            Op::Read { off, len } => {
                let Some(v) = self.files.get(&f) else {
                    let e = File::open(&p).unwrap_err();
                    assert_eq!(e.kind(), ErrorKind::NotFound, "{op:?} on {p:?}");
                    return;
                };
                let file = File::open(&p).unwrap();
                let mut buf = vec![0u8; len];
                let mut got = file.read_at(&mut buf, off).unwrap();
                while !self.whole_reads && got < len {
                    let n = file.read_at(&mut buf[got..], off + got as u64).unwrap();
                    if n == 0 {
                        break;
                    }
                    got += n;
                }
                let want = v.read(off, len);
                assert_eq!(got, want.len(), "{op:?} on {p:?}: length");
                assert!(&buf[..got] == want, "{op:?} on {p:?}: bytes differ");
                return;
            }
            Op::Truncate(size) => open_rw(&p).set_len(size).unwrap(),
            Op::Allocate { off, len, keep } => {
                let mode = if keep { libc::FALLOC_FL_KEEP_SIZE } else { 0 };
                fallocate(&open_rw(&p), mode, off, len);
            }
            Op::Punch { off, len } => fallocate(
                &open_rw(&p),
                libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                off,
                len,
            ),
            Op::Fsync => {
                if self.files.contains_key(&f) {
                    open_rw(&p).sync_all().unwrap();
                }
                return;
            }
            _ => panic!("{op:?} is not a tree operation"),
        }
        self.files.entry(f).or_default().apply(op);
    }

    /// Every name exists exactly when the model has it, with its contents,
    /// and no other file is under `root`.
    pub fn check(&self, root: &Path, when: &str) {
        let mut found = Vec::new();
        walk(root, root, &mut found);
        found.sort();
        let mut want: Vec<String> = self.files.keys().map(|&f| self.names[f].clone()).collect();
        want.sort();
        assert_eq!(found, want, "{when}: files");
        for (f, v) in &self.files {
            let n = &self.names[*f];
            let got = std::fs::read(root.join(n)).unwrap();
            assert_eq!(got.len(), v.0.len(), "{when}: size of {n}");
            assert!(got == v.0, "{when}: content of {n}");
        }
    }
}

/// The regular files under `dir`, as paths relative to `root`.
fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let t = e.file_type().unwrap();
        if t.is_dir() {
            walk(root, &e.path(), out);
        } else {
            let rel = e.path().strip_prefix(root).unwrap().to_owned();
            out.push(rel.to_string_lossy().into_owned());
        }
    }
}
