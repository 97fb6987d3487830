//! `scfs compress` and `scfs decompress`.
//!
//! v1 streams both ways (stdin/stdout included). v2 needs positional I/O:
//! compressing to stdout (or to a FIFO/device) builds the container in an
//! unlinked temp file and then copies it out; decompressing v2 from stdin
//! first spools the input to an unlinked temp file.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

use super::error::{container_err, io_err, shown, tcv1_err, CliError, EXIT_OK};
use super::files::{anonymous_temp, open_input, Output, Progress};
use super::v2io::{write_decoded_v2, write_v2};
use super::{CompressArgs, DecompressArgs, OutputFormat};
use crate::container::format::is_container_version;
use crate::container::Container;
use crate::tcv1::{self, read_full};

/// Default logical block size of v2 containers written by `compress`.
pub const DEFAULT_V2_BLOCK_SIZE: u32 = crate::container::DEFAULT_BLOCK_SIZE;

/// `scfs compress`.
pub fn compress(a: &CompressArgs) -> Result<i32, CliError> {
    if a.format == OutputFormat::V1 && a.block_size.is_some() {
        return Err(CliError::io(
            "--block-size applies to --format v2 only (tc v1 blocks are 64000 bytes)",
        ));
    }
    if a.format == OutputFormat::V1 && a.level.is_some() {
        return Err(CliError::io(
            "--level applies to --format v2 only (tc v1 is always Huffman)",
        ));
    }
    let level = a.level.unwrap_or_default();
    let mut input = open_input(&a.input)?;
    let out = Output::create(&a.output, input.mode)?;
    let mut progress = Progress::new("scfs compress", input.size);
    match a.format {
        OutputFormat::V1 => {
            let w = out.writer()?;
            tcv1::compress(&mut input.reader, w, |n| progress.update(n))
                .map_err(|e| tcv1_err(&a.input, out.name(), e))?;
        }
        OutputFormat::V2 => {
            let bs = a.block_size.unwrap_or(DEFAULT_V2_BLOCK_SIZE);
            match out.file().filter(|_| !out.is_stdout()) {
                Some(f) if is_regular(f) => {
                    let f = f
                        .try_clone()
                        .map_err(|e| io_err(&a.output, "cannot open", &e))?;
                    write_v2(
                        &mut input.reader,
                        &a.input,
                        f,
                        &a.output,
                        bs,
                        level,
                        &mut progress,
                    )?;
                }
                _ => {
                    // Stdout, FIFO or device: build the container aside, then copy.
                    let spool = anonymous_temp()
                        .map_err(|e| CliError::io(format!("cannot create a temp file: {e}")))?;
                    let copy = spool
                        .try_clone()
                        .map_err(|e| CliError::io(format!("temp file: {e}")))?;
                    write_v2(
                        &mut input.reader,
                        &a.input,
                        spool,
                        Path::new("<temp>"),
                        bs,
                        level,
                        &mut progress,
                    )?;
                    let mut copy = copy;
                    copy.seek(SeekFrom::Start(0))
                        .map_err(|e| CliError::io(format!("temp file: {e}")))?;
                    let mut w = out.writer()?;
                    io::copy(&mut copy, &mut w)
                        .and_then(|_| w.flush())
                        .map_err(|e| CliError::io(format!("{}: write error: {e}", out.name())))?;
                }
            }
        }
    }
    progress.finish();
    out.commit(a.sync)?;
    Ok(EXIT_OK)
}

fn is_regular(f: &File) -> bool {
    f.metadata().map(|m| m.is_file()).unwrap_or(false)
}

/// `scfs decompress`.
pub fn decompress(a: &DecompressArgs) -> Result<i32, CliError> {
    let mut input = open_input(&a.input)?;
    let mut prefix = [0u8; 6];
    let n = read_full(&mut input.reader, &mut prefix)
        .map_err(|e| io_err(&a.input, "read error", &e))?;
    let mut version = (n == 6 && prefix[..4] == tcv1::MAGIC)
        .then(|| u16::from_le_bytes([prefix[4], prefix[5]]))
        // Header versions 2 and 3 are both the v2 container.
        .map(|v| if is_container_version(v) { 2 } else { v });
    if version != Some(tcv1::VERSION) {
        // A v2 container with a damaged header is reported as such.
        if let Some(f) = &input.file {
            if Container::is_container(f).unwrap_or(false) {
                version = Some(2);
            }
        }
    }
    if n == 0 {
        // An empty input is an empty file (how the filesystem keeps a file
        // that never had content, FORMAT.md 3.6).
        let out = Output::create(&a.output, input.mode)?;
        out.commit(a.sync)?;
        return Ok(EXIT_OK);
    }
    match version {
        Some(2) => {
            let file = match input.file.take() {
                Some(f) => f,
                None => spool(&prefix[..n], &mut input.reader, &a.input)?,
            };
            let c = Container::open(file, false).map_err(|e| container_err(&a.input, e))?;
            let out = Output::create(&a.output, input.mode)?;
            let mut progress = Progress::new("scfs decompress", Some(c.logical_size()));
            write_decoded_v2(&c, &a.input, &out, &mut progress)?;
            progress.finish();
            out.commit(a.sync)?;
        }
        Some(v) if v != tcv1::VERSION => {
            return Err(CliError::corrupt(format!(
                "{}: unknown format version {v} at byte offset 4 (scfs reads versions 1 to 3)",
                shown(&a.input)
            )))
        }
        _ => {
            let out = Output::create(&a.output, input.mode)?;
            // Progress counts input bytes (the output size is not known).
            let mut progress = Progress::new("scfs decompress", input.size);
            let w = out.writer()?;
            let reader = io::Cursor::new(&prefix[..n]).chain(&mut input.reader);
            tcv1::decompress(reader, w, |n| progress.update(n))
                .map_err(|e| tcv1_err(&a.input, out.name(), e))?;
            progress.finish();
            out.commit(a.sync)?;
        }
    }
    Ok(EXIT_OK)
}

/// Copies `prefix` and the rest of `r` into an unlinked temp file.
fn spool(prefix: &[u8], r: &mut dyn Read, p: &Path) -> Result<File, CliError> {
    let mut f =
        anonymous_temp().map_err(|e| CliError::io(format!("cannot create a temp file: {e}")))?;
    f.write_all(prefix)
        .and_then(|_| io::copy(r, &mut f))
        .map_err(|e| io_err(p, "cannot spool standard input to a temp file", &e))?;
    Ok(f)
}
