//! Whole-file conversion to and from v2 containers for `compress` and
//! `decompress`, block-parallel: batches of blocks are encoded (pure
//! `Container::encode`) or decoded (`read_block`, `&self`) on up to
//! `tcv1::worker_count()` threads and written in order. A batch holds at most
//! 8 MiB of block data, so memory stays bounded whatever the file size.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

use super::error::{container_err, io_err, CliError};
use super::files::{Output, Progress};
use crate::container::{Compression, Container, EncodedBlock};
use crate::tcv1::{parallel, read_full, worker_count};

/// Bytes of block data one batch may hold.
const BATCH_BYTES: usize = 8 << 20;

fn batch_len(block_size: usize, workers: usize) -> usize {
    (workers * 4)
        .min((BATCH_BYTES / block_size).max(workers))
        .max(1)
}

/// Writes `input` as a v2 container of block size `bs` into the empty file
/// `f`, commits and seals it.
pub fn write_v2(
    input: &mut dyn Read,
    in_path: &Path,
    f: File,
    out_path: &Path,
    bs: u32,
    compression: Compression,
    progress: &mut Progress,
) -> Result<(), CliError> {
    let mut c = Container::create(f, bs).map_err(|e| container_err(out_path, e))?;
    let bs = bs as usize;
    let workers = worker_count();
    let mut slots: Vec<(u64, Vec<u8>, Option<EncodedBlock>)> = (0..batch_len(bs, workers))
        .map(|_| (0, Vec::with_capacity(bs), None))
        .collect();
    let mut total: u64 = 0;
    let mut block_no: u64 = 0;
    let mut eof = false;
    while !eof {
        let mut filled = 0;
        while filled < slots.len() {
            let (no, buf, _) = &mut slots[filled];
            buf.resize(bs, 0);
            let n = read_full(input, buf).map_err(|e| io_err(in_path, "read error", &e))?;
            buf.truncate(n);
            if n > 0 {
                *no = block_no;
                block_no += 1;
                total += n as u64;
                filled += 1;
            }
            if n < bs {
                eof = true;
                break;
            }
        }
        parallel(&mut slots[..filled], workers, |(no, buf, enc)| {
            *enc = Some(Container::encode(*no, buf, compression));
        });
        for (_, _, enc) in &mut slots[..filled] {
            let enc = enc.take().expect("encoded");
            c.put_block(enc).map_err(|e| container_err(out_path, e))?;
        }
        progress.update(total);
    }
    c.set_logical_size(total);
    c.commit().map_err(|e| container_err(out_path, e))?;
    // The output is complete: a copy of it cut short must read as corrupt,
    // not decode to a prefix (FORMAT.md 3.6).
    c.seal_now().map_err(|e| container_err(out_path, e))?;
    Ok(())
}

/// Writes the decoded contents of container `c` to `out`. Holes become
/// sparse regions when the output is a regular file, zeros otherwise.
pub fn write_decoded_v2(
    c: &Container,
    in_path: &Path,
    out: &Output,
    progress: &mut Progress,
) -> Result<(), CliError> {
    let bs = u64::from(c.block_size());
    let size = c.logical_size();
    let nblocks = size.div_ceil(bs);
    let sparse = out
        .file()
        .filter(|f| f.metadata().is_ok_and(|m| m.is_file()));
    let werr = |e: io::Error| CliError::io(format!("{}: write error: {e}", out.name()));
    let workers = worker_count();
    type Slot = (u64, Vec<u8>, Option<crate::container::Result<()>>);
    let mut slots: Vec<Slot> = (0..batch_len(bs as usize, workers))
        .map(|_| (0, vec![0u8; bs as usize], None))
        .collect();
    let mut w = out.writer()?;
    let mut done: u64 = 0; // bytes of the logical file emitted so far
    let mut next: u64 = 0; // first block not yet looked at
    let mut more = true;
    while more {
        let mut filled = 0;
        while filled < slots.len() {
            match c.next_data_block(next).filter(|&n| n < nblocks) {
                Some(n) => {
                    slots[filled].0 = n;
                    next = n + 1;
                    filled += 1;
                }
                None => {
                    more = false;
                    break;
                }
            }
        }
        parallel(&mut slots[..filled], workers, |(n, buf, res)| {
            *res = Some(c.read_block(*n, buf));
        });
        for (n, buf, res) in &mut slots[..filled] {
            res.take()
                .expect("read")
                .map_err(|e| container_err(in_path, e))?;
            let start = *n * bs;
            w = skip_zeros(w, out, sparse, done, start).map_err(werr)?;
            let len = (size - start).min(bs) as usize;
            w.write_all(&buf[..len]).map_err(werr)?;
            done = start + len as u64;
        }
        progress.update(done);
    }
    w = skip_zeros(w, out, sparse, done, size).map_err(werr)?;
    w.flush().map_err(werr)?;
    drop(w);
    if let Some(f) = sparse {
        f.set_len(size).map_err(werr)?;
    }
    Ok(())
}

/// Emits the zeros between `from` and `to`: a seek on a regular file (a
/// sparse hole), written zeros otherwise. Returns the writer to go on with.
fn skip_zeros<'a>(
    mut w: Box<dyn Write + 'a>,
    out: &'a Output,
    sparse: Option<&File>,
    from: u64,
    to: u64,
) -> io::Result<Box<dyn Write + 'a>> {
    if to <= from {
        return Ok(w);
    }
    match sparse {
        Some(mut f) => {
            w.flush()?;
            drop(w);
            f.seek(SeekFrom::Start(to))?;
            out.writer().map_err(|e| io::Error::other(e.msg))
        }
        None => {
            let zeros = [0u8; 8192];
            let mut n = to - from;
            while n > 0 {
                let k = n.min(zeros.len() as u64) as usize;
                w.write_all(&zeros[..k])?;
                n -= k as u64;
            }
            Ok(w)
        }
    }
}
