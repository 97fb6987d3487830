//! The data of a regular file as seen through the mount: either a v2
//! container served decoded through a [`LogicalFile`], or a plain backing
//! file (anything that is not a container) served exactly as it is. One
//! `Content` per inode is shared by all of its open handles (the mount's
//! open-file table, `table.rs`, keeps it). Also the byte-level jobs the
//! frontend asks of a closed file: its logical size, the copy of a plain
//! file into a new container, and idle recompression's rewrite.

use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use super::{LogicalFile, SealQueue};
use crate::cache::BlockCache;
use crate::container::{read_summary, CompactWhen, Compression, Container, ContainerError};
use crate::sys;

/// What a backing regular file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Format {
    /// Not examined yet.
    #[default]
    Unknown,
    /// Not a container: served as it is.
    Plain,
    /// A v2 container.
    Container,
}

/// Cheap identity of the backing file's state: (size, mtime sec, mtime
/// nsec, ctime sec, ctime nsec). Equal stamps mean nothing changed it.
pub type Stamp = (i64, i64, i64, i64, i64);

pub fn stamp(st: &libc::stat) -> Stamp {
    (
        st.st_size,
        st.st_mtime,
        st.st_mtime_nsec,
        st.st_ctime,
        st.st_ctime_nsec,
    )
}

/// What opening content needs from the mount (the shared block cache and
/// seal queue).
pub struct ContentCtx {
    pub cache: Arc<BlockCache>,
    pub seals: Arc<SealQueue>,
}

/// Whether `file` (open for reading) is a v2 container.
pub fn is_container(file: &File) -> io::Result<bool> {
    Container::is_container(file)
}

fn cerr(e: ContainerError) -> io::Error {
    e.into_io_logged("container", None, None)
}

/// The open data of one regular file.
pub enum Content {
    Plain { file: File, writable: bool },
    Logical(Arc<LogicalFile>),
}

impl Content {
    /// Makes `file` (new and empty) a container with `block_size` blocks.
    pub fn create(file: File, block_size: u32, ctx: &ContentCtx) -> io::Result<Content> {
        Ok(Content::Logical(LogicalFile::create(
            file, block_size, &ctx.cache, &ctx.seals,
        )?))
    }

    /// Like `create`, but the container header is written only with the
    /// first commit (flush, fsync, close, idle flush or the first large
    /// record), so a small new file reaches BACKING in one write: header,
    /// block record and commit together. The file is empty until then.
    pub fn create_deferred(file: File, block_size: u32, ctx: &ContentCtx) -> io::Result<Content> {
        let c = Container::create_deferred(file, block_size).map_err(cerr)?;
        Ok(Content::Logical(LogicalFile::from_container(
            c, true, &ctx.cache, &ctx.seals,
        )))
    }

    /// Opens `file` (a fresh descriptor of the backing file) as `format`.
    pub fn open(
        file: File,
        writable: bool,
        format: Format,
        ctx: &ContentCtx,
    ) -> io::Result<Content> {
        match format {
            Format::Container => Ok(Content::Logical(LogicalFile::open(
                file, writable, &ctx.cache, &ctx.seals,
            )?)),
            _ => Ok(Content::Plain { file, writable }),
        }
    }

    /// Logical size of the container in `file` (header and trailer only).
    pub fn container_size(file: &File) -> io::Result<u64> {
        Ok(read_summary(file).map_err(cerr)?.logical_size)
    }

    /// `-o shared`, close-to-open: rereads a container another host
    /// committed to since it was read ([`LogicalFile::refresh`]); whether
    /// it did. A plain file is read straight from the backing file.
    pub fn refresh(&self) -> io::Result<bool> {
        match self {
            Content::Logical(f) => f.refresh(),
            Content::Plain { .. } => Ok(false),
        }
    }

    /// Names the file in log messages.
    pub fn set_name(&self, name: &str) {
        if let Content::Logical(l) = self {
            l.set_name(name);
        }
    }

    /// How this file's blocks are coded when written (containers only).
    pub fn set_compression(&self, c: Compression) {
        if let Content::Logical(l) = self {
            l.set_compression(c);
        }
    }

    pub fn is_writable(&self) -> bool {
        match self {
            Content::Plain { writable, .. } => *writable,
            Content::Logical(l) => l.is_writable(),
        }
    }

    /// Marks the backing file accessed (see `sys::read_marking_access`).
    pub fn mark_accessed(&self) -> io::Result<()> {
        match self {
            Content::Plain { file, .. } => sys::read_marking_access(file),
            Content::Logical(l) => l.with_backing(sys::read_marking_access),
        }
    }

    pub fn is_container(&self) -> bool {
        matches!(self, Content::Logical(_))
    }

    /// Logical size.
    pub fn size(&self) -> io::Result<u64> {
        match self {
            Content::Plain { file, .. } => Ok(file.metadata()?.len()),
            Content::Logical(l) => Ok(l.size()),
        }
    }

    /// Bytes stored in BACKING (including a pending estimate).
    pub fn stored_bytes(&self) -> Option<u64> {
        match self {
            Content::Plain { .. } => None,
            Content::Logical(l) => Some(l.stored_bytes()),
        }
    }

    /// Reads at `offset` until `buf` is full or EOF; returns bytes read.
    pub fn read(&self, offset: u64, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Content::Plain { file, .. } => {
                let mut done = 0;
                while done < buf.len() {
                    match file.read_at(&mut buf[done..], offset + done as u64) {
                        Ok(0) => break,
                        Ok(n) => done += n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(done)
            }
            Content::Logical(l) => {
                let mut done = 0;
                while done < buf.len() {
                    match l.read(offset + done as u64, &mut buf[done..])? {
                        0 => break,
                        n => done += n,
                    }
                }
                Ok(done)
            }
        }
    }

    pub fn write(&self, offset: u64, data: &[u8]) -> io::Result<usize> {
        self.check_writable()?;
        match self {
            Content::Plain { file, .. } => {
                file.write_all_at(data, offset)?;
                Ok(data.len())
            }
            Content::Logical(l) => l.write(offset, data),
        }
    }

    pub fn truncate(&self, size: u64) -> io::Result<()> {
        self.check_writable()?;
        match self {
            Content::Plain { file, .. } => file.set_len(size),
            Content::Logical(l) => l.truncate(size),
        }
    }

    pub fn punch_hole(&self, offset: u64, len: u64) -> io::Result<()> {
        self.check_writable()?;
        match self {
            Content::Plain { file, .. } => sys::fallocate(
                file.as_fd(),
                libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                offset,
                len,
            ),
            Content::Logical(l) => l.punch_hole(offset, len),
        }
    }

    /// FALLOC_FL_ZERO_RANGE: the range reads as zeros afterwards; without
    /// `keep_size` the file grows to cover it. In a container that is a
    /// punched hole (zero blocks cost nothing) plus, if it grows, an
    /// allocation past the end.
    pub fn zero_range(&self, offset: u64, len: u64, keep_size: bool) -> io::Result<()> {
        self.check_writable()?;
        match self {
            Content::Plain { file, .. } => sys::fallocate(
                file.as_fd(),
                libc::FALLOC_FL_ZERO_RANGE | keep_flag(keep_size),
                offset,
                len,
            ),
            Content::Logical(l) => {
                l.punch_hole(offset, len)?;
                if keep_size {
                    Ok(())
                } else {
                    l.allocate(offset, len, false)
                }
            }
        }
    }

    pub fn allocate(&self, offset: u64, len: u64, keep_size: bool) -> io::Result<()> {
        self.check_writable()?;
        match self {
            Content::Plain { file, .. } => {
                sys::fallocate(file.as_fd(), keep_flag(keep_size), offset, len)
            }
            Content::Logical(l) => l.allocate(offset, len, keep_size),
        }
    }

    pub fn seek_data(&self, offset: u64) -> io::Result<u64> {
        match self {
            Content::Plain { file, .. } => {
                sys::lseek(file.as_fd(), seek_arg(offset)?, libc::SEEK_DATA)
            }
            Content::Logical(l) => l.seek_data(offset),
        }
    }

    pub fn seek_hole(&self, offset: u64) -> io::Result<u64> {
        match self {
            Content::Plain { file, .. } => {
                sys::lseek(file.as_fd(), seek_arg(offset)?, libc::SEEK_HOLE)
            }
            Content::Logical(l) => l.seek_hole(offset),
        }
    }

    /// Makes every write so far visible in BACKING (close() semantics).
    pub fn flush(&self) -> io::Result<()> {
        match self {
            Content::Plain { .. } => Ok(()),
            Content::Logical(l) => l.flush(),
        }
    }

    /// Flush + stable storage.
    pub fn fsync(&self, datasync: bool) -> io::Result<()> {
        match self {
            Content::Plain { file, .. } => {
                if datasync {
                    file.sync_data()
                } else {
                    file.sync_all()
                }
            }
            Content::Logical(l) => l.fsync(datasync),
        }
    }

    /// Whether the container has enough dead space to be rewritten now.
    pub fn needs_compaction(&self, when: CompactWhen) -> bool {
        match self {
            Content::Plain { .. } => false,
            Content::Logical(l) => l.needs_compaction(when),
        }
    }

    /// Flushes, then writes a compacted copy into `dst` and continues on it.
    pub fn compact(&self, dst: File) -> io::Result<()> {
        match self {
            Content::Plain { .. } => Err(super::os_error(libc::EOPNOTSUPP)),
            Content::Logical(l) => l.compact(dst),
        }
    }

    /// Copies the plain file `src` into this (new) content, chunk by
    /// chunk, skipping the holes SEEK_DATA/SEEK_HOLE report, then sets its
    /// size (a trailing hole included).
    pub fn copy_plain(&self, src: &File, chunk: usize) -> io::Result<()> {
        let len = src.metadata()?.len();
        let mut buf = vec![0u8; chunk];
        let mut pos = 0u64;
        while pos < len {
            let data = match sys::lseek(src.as_fd(), pos as i64, libc::SEEK_DATA) {
                Ok(d) => d,
                Err(e) if e.raw_os_error() == Some(libc::ENXIO) => break,
                // No SEEK_DATA support: everything is data.
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => pos,
                Err(e) => return Err(e),
            };
            let hole = match sys::lseek(src.as_fd(), data as i64, libc::SEEK_HOLE) {
                Ok(h) => h.min(len),
                Err(_) => len,
            };
            let mut off = data;
            while off < hole {
                let want = chunk.min((hole - off) as usize);
                let n = src.read_at(&mut buf[..want], off)?;
                if n == 0 {
                    break;
                }
                self.write(off, &buf[..n])?;
                off += n as u64;
            }
            pos = hole.max(off).max(data + 1);
        }
        self.truncate(len)
    }

    fn check_writable(&self) -> io::Result<()> {
        if self.is_writable() {
            Ok(())
        } else {
            Err(super::os_error(libc::EBADF))
        }
    }
}

/// The fallocate mode bit for `keep_size` (FALLOC_FL_KEEP_SIZE or none).
fn keep_flag(keep_size: bool) -> i32 {
    if keep_size {
        libc::FALLOC_FL_KEEP_SIZE
    } else {
        0
    }
}

fn seek_arg(offset: u64) -> io::Result<i64> {
    i64::try_from(offset).map_err(|_| super::os_error(libc::ENXIO))
}

/// What `recompress_copy` did.
#[derive(Debug, PartialEq, Eq)]
pub enum Recompressed {
    /// The source is no container: nothing written.
    NotContainer,
    /// `go_on` said stop.
    Cancelled,
    /// Written: the new file's length.
    Done(u64),
}

/// Idle recompression's rewrite of a closed file's bytes: when `src` (a
/// read-only descriptor) is a container, decodes every block and encodes
/// it at `target` into `dst` (an empty file), fsynced and sealed, with the
/// reservation past the old file's end carried over (`reserve.rs`; no
/// room for it is an error); `go_on` is asked between blocks.
pub fn recompress_copy(
    src: File,
    dst: &File,
    target: Compression,
    go_on: &dyn Fn() -> bool,
) -> io::Result<Recompressed> {
    if !Container::is_container(&src)? {
        return Ok(Recompressed::NotContainer);
    }
    let src = Container::open(src, false).map_err(plain_cerr)?;
    let out = src
        .recompress_into(dst.try_clone()?, target, go_on)
        .map_err(plain_cerr)?;
    let Some(out) = out else {
        return Ok(Recompressed::Cancelled);
    };
    let new_len = out.file_len();
    let carry = super::reservation_tail(src.file())?;
    super::reserve_at(dst, new_len, carry)?;
    Ok(Recompressed::Done(new_len))
}

/// A container error as io::Error without a log (recompression logs its
/// own outcome).
fn plain_cerr(e: ContainerError) -> io::Error {
    match e {
        ContainerError::Io(e) => e,
        e => io::Error::other(e.to_string()),
    }
}
