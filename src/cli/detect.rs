//! Format detection: what a file holds (tc v1, v2 container, empty, foreign)
//! judged from its header, a path inside a live mount standing for its
//! backing file, opened under `LOCK_SH` (a shared daemon's writer holds
//! `LOCK_EX`), and a tc v1 summary from its block headers (info, verify,
//! stats).

use std::fs::File;
use std::io::{BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use super::error::{io_err, shown, tcv1_err, CliError};
use super::mount::mountinfo;
use crate::container::format::is_container_version;
use crate::container::Container;
use crate::file::lock::{open_read_locked, BUSY_ERRNO};
use crate::tcv1::{self, BlockType, Reader};

/// What a file holds, judged from its first six bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// tc v1 stream.
    V1,
    /// v2 container.
    V2,
    /// scfs magic with another version.
    OtherVersion(u16),
    /// Not an scfs file.
    Foreign,
    /// An empty regular file: how the filesystem keeps a file that never
    /// had content (FORMAT.md 3.6); it reads as an empty file.
    Empty,
}

/// The backing file of `p` when `p` is a path inside a live scfs mount
/// (where files read as their plain contents), so that info, verify and
/// stats given a path in the mount report the container that stores it.
fn through_mount(p: &Path) -> Option<PathBuf> {
    static MOUNTS: OnceLock<Vec<mountinfo::MountEntry>> = OnceLock::new();
    let mounts = MOUNTS.get_or_init(|| mountinfo::read().unwrap_or_default());
    if !mounts.iter().any(|e| mountinfo::scfs_backing(e).is_some()) {
        return None;
    }
    mountinfo::backing_path(mounts, &p.canonicalize().ok()?)
}

/// How long info, verify and stats wait for a file another daemon has
/// open for writing in `-o shared` mode (its write lock) before giving up
/// on it: the default `lock_wait` of a shared mount.
pub const READ_LOCK_WAIT: Duration = Duration::from_secs(10);

/// Opens `p` (a path inside an scfs mount stands for its backing file)
/// and tells its format. The returned file is positioned at 0 and holds
/// `LOCK_SH` on the file (`file::lock::open_read_locked`) until it is
/// dropped: a shared daemon writing it (on any host) holds `LOCK_EX`, so
/// what is read is a finished commit. Errors: a file held for writing for
/// all of [`READ_LOCK_WAIT`] (not read; exit 2, not "corrupt").
pub fn detect(p: &Path) -> Result<(File, Kind), CliError> {
    let backing = through_mount(p);
    let p_open = backing.as_deref().unwrap_or(p);
    let f = open_read_locked(p_open, READ_LOCK_WAIT).map_err(|e| {
        if e.raw_os_error() == Some(BUSY_ERRNO) {
            CliError::io(format!(
                "{}: held open for writing by an scfs daemon (perhaps on another host) for all of {} s: not read; try again once it is closed",
                shown(p),
                READ_LOCK_WAIT.as_secs()
            ))
        } else {
            io_err(p, "cannot open", &e)
        }
    })?;
    let meta = f.metadata().map_err(|e| io_err(p, "cannot stat", &e))?;
    if meta.is_dir() {
        return Err(CliError::io(format!("{}: is a directory", shown(p))));
    }
    let mut h = [0u8; 6];
    let n = tcv1::read_full(&mut &f, &mut h).map_err(|e| io_err(p, "read error", &e))?;
    let kind = if n == 0 && meta.is_file() {
        Kind::Empty
    } else if n < 6 || h[..4] != tcv1::MAGIC {
        Kind::Foreign
    } else {
        match u16::from_le_bytes([h[4], h[5]]) {
            1 => Kind::V1,
            v if is_container_version(v) => Kind::V2,
            v => Kind::OtherVersion(v),
        }
    };
    // A v2 container whose header was damaged is still a (corrupt)
    // container, not a foreign file.
    let kind = match kind {
        Kind::Foreign | Kind::OtherVersion(_) if Container::is_container(&f).unwrap_or(false) => {
            Kind::V2
        }
        k => k,
    };
    // The same descriptor (it holds the lock), back at the start.
    (&f).seek(SeekFrom::Start(0))
        .map_err(|e| io_err(p, "cannot seek", &e))?;
    Ok((f, kind))
}

/// The error for a file that is no scfs file (or of an unknown version).
pub fn not_scfs(p: &Path, kind: Kind) -> CliError {
    match kind {
        Kind::OtherVersion(v) => CliError::corrupt(format!(
            "{}: unknown format version {v} at byte offset 4 (scfs reads versions 1 to 3)",
            shown(p)
        )),
        _ => CliError::corrupt(format!(
            "{}: not an scfs file (bad magic number at byte offset 0)",
            shown(p)
        )),
    }
}

/// Summary of a tc v1 file from its block headers.
pub struct V1Summary {
    pub logical: u64,
    pub huffman: u64,
    pub stored: u64,
    pub largest_block: u64,
}

/// Walks the block headers of a tc v1 file without decoding the data.
pub fn scan_v1(f: File, p: &Path) -> Result<V1Summary, CliError> {
    let mut r = Reader::new(BufReader::new(f)).map_err(|e| tcv1_err(p, "", e))?;
    let mut s = V1Summary {
        logical: 0,
        huffman: 0,
        stored: 0,
        largest_block: 0,
    };
    while let Some(h) = r.next_header().map_err(|e| tcv1_err(p, "", e))? {
        r.skip_data(&h).map_err(|e| tcv1_err(p, "", e))?;
        s.logical += h.uncompressed;
        s.largest_block = s.largest_block.max(h.uncompressed);
        match h.kind {
            BlockType::Huffman => s.huffman += 1,
            BlockType::Stored => s.stored += 1,
        }
    }
    Ok(s)
}
