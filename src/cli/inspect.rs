//! `scfs info` and `scfs verify`, plus format detection shared with `stats`.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::convert::{container_err, tcv1_err};
use super::files::{io_err, shown};
use super::mount::mountinfo;
use super::stats::{human, ratio_text, saved_text};
use super::{CliError, InfoArgs, VerifyArgs, EXIT_ERROR, EXIT_OK};
use crate::container::format::is_container_version;
use crate::container::Container;
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

/// Opens `p` (a path inside an scfs mount stands for its backing file)
/// and tells its format. The returned file is positioned at 0.
pub fn detect(p: &Path) -> Result<(File, Kind), CliError> {
    let backing = through_mount(p);
    let p_open = backing.as_deref().unwrap_or(p);
    let f = File::open(p_open).map_err(|e| io_err(p, "cannot open", &e))?;
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
    let f = File::open(p_open).map_err(|e| io_err(p, "cannot open", &e))?;
    Ok((f, kind))
}

fn not_scfs(p: &Path, kind: Kind) -> CliError {
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

fn file_len(f: &File, p: &Path) -> Result<u64, CliError> {
    f.metadata()
        .map(|m| m.len())
        .map_err(|e| io_err(p, "cannot stat", &e))
}

fn sizes(out: &mut String, logical: u64, stored: u64) {
    out.push_str(&format!(
        "logical size:  {logical} bytes ({})\n",
        human(logical)
    ));
    out.push_str(&format!(
        "stored size:   {stored} bytes ({})\n",
        human(stored)
    ));
    out.push_str(&format!(
        "ratio:         {} (saved {})\n",
        ratio_text(logical, stored),
        saved_text(logical, stored)
    ));
}

/// `scfs info`.
pub fn info(a: &InfoArgs) -> Result<i32, CliError> {
    let p = &a.file;
    let (f, kind) = detect(p)?;
    let stored = file_len(&f, p)?;
    let mut out = format!("file:          {}\n", p.display());
    match kind {
        Kind::V1 => {
            let s = scan_v1(f, p)?;
            out.push_str("format:        tc v1 (header version 1; a stream, no checksums)\n");
            // Our writer uses 64000; other writers may differ: show the largest.
            let bs = if s.largest_block == 0 {
                tcv1::BLOCK_LEN as u64
            } else {
                s.largest_block
            };
            out.push_str(&format!("block size:    {bs} bytes\n"));
            sizes(&mut out, s.logical, stored);
            out.push_str(&format!(
                "blocks:        {} (huffman {}, stored {})\n",
                s.huffman + s.stored,
                s.huffman,
                s.stored
            ));
            out.push_str("dead space:    0 bytes (tc v1 is written once)\n");
        }
        Kind::V2 => {
            let c = Container::open(f, false).map_err(|e| container_err(p, e))?;
            let st = c.stats();
            out.push_str(&format!(
                "format:        scfs v2 container (header version {})\n",
                c.header_version()
            ));
            out.push_str(&format!("block size:    {} bytes\n", st.block_size));
            sizes(&mut out, st.logical_size, stored);
            out.push_str(&format!(
                "blocks:        {} (lz {}, huffman {}, stored {}, fill {}, hole {})\n",
                st.lz + st.huffman + st.stored + st.fill + st.holes,
                st.lz,
                st.huffman,
                st.stored,
                st.fill,
                st.holes
            ));
            out.push_str(&format!(
                "live bytes:    {} bytes ({})\n",
                st.live_bytes,
                human(st.live_bytes)
            ));
            if st.dead_bytes == 0 {
                out.push_str("dead space:    0 bytes\n");
            } else {
                out.push_str(&format!(
                    "dead space:    {} bytes ({}) awaiting compaction{}\n",
                    st.dead_bytes,
                    human(st.dead_bytes),
                    if c.needs_compaction(crate::container::CompactWhen::AtRest) {
                        " (due: over the threshold)"
                    } else {
                        ""
                    }
                ));
            }
            out.push_str(&match (c.header_version(), c.sealed_seq()) {
                (2, _) => "sealed:        - (header version 2 has no seal)\n".to_owned(),
                (_, Some(0)) | (_, None) => "sealed:        no commit sealed yet\n".to_owned(),
                (_, Some(s)) => format!(
                    "sealed:        commit {s} of {} (on stable storage; a file cut short reads as corrupt)\n",
                    st.seq
                ),
            });
            if let Some(d) = c.damage() {
                out.push_str(&format!("damage:        {d}\n"));
            }
        }
        Kind::Empty => {
            out.push_str("format:        empty file (a file without content; reads as empty)\n");
            sizes(&mut out, 0, 0);
        }
        k => return Err(not_scfs(p, k)),
    }
    print!("{out}");
    Ok(EXIT_OK)
}

/// Outcome of verifying one file.
fn verify_one(p: &Path) -> Result<String, CliError> {
    let (f, kind) = detect(p)?;
    match kind {
        Kind::V1 => {
            let mut r = Reader::new(BufReader::new(f)).map_err(|e| tcv1_err(p, "", e))?;
            let mut buf = Vec::new();
            let (mut blocks, mut bytes) = (0u64, 0u64);
            while let Some(h) = r.next_block(&mut buf).map_err(|e| tcv1_err(p, "", e))? {
                blocks += 1;
                bytes += h.uncompressed;
            }
            Ok(format!(
                "{}: OK (tc v1, {blocks} blocks, {bytes} bytes; v1 has no checksums: structure and decoding checked)",
                p.display()
            ))
        }
        Kind::V2 => {
            let c = Container::open(f, false).map_err(|e| container_err(p, e))?;
            let mut bad = Vec::new();
            let (checked, _) = c
                .verify_blocks(|n, e| {
                    let msg = e.to_string();
                    if msg.contains(&format!("block {n}")) {
                        bad.push(msg);
                    } else {
                        bad.push(format!("block {n}: {msg}"));
                    }
                })
                .map_err(|e| container_err(p, e))?;
            if let Some(d) = c.damage() {
                // Recovered without loss, but the file is damaged.
                bad.insert(0, d.to_string());
            }
            if bad.is_empty() {
                Ok(format!(
                    "{}: OK (v2, {checked} data blocks checked, {} bytes)",
                    p.display(),
                    c.logical_size()
                ))
            } else {
                Err(CliError::corrupt(format!(
                    "{}: corrupt ({} problem(s), {checked} data blocks checked):\n  {}",
                    shown(p),
                    bad.len(),
                    bad.join("\n  ")
                )))
            }
        }
        Kind::Empty => Ok(format!("{}: OK (empty file)", p.display())),
        k => Err(not_scfs(p, k)),
    }
}

/// `scfs verify`: every file is checked; exit 2 if any could not be read,
/// else 1 if any is corrupt.
pub fn verify(a: &VerifyArgs) -> Result<i32, CliError> {
    let mut code = EXIT_OK;
    for p in &a.files {
        match verify_one(p) {
            Ok(line) => println!("{line}"),
            Err(e) => {
                eprintln!("scfs: {e}");
                code = code.max(e.code);
            }
        }
    }
    debug_assert!(code <= EXIT_ERROR);
    Ok(code)
}
