//! `scfs info` and `scfs verify`.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use super::detect::{detect, not_scfs, scan_v1, Kind};
use super::error::{container_err, io_err, shown, tcv1_err, CliError, EXIT_ERROR, EXIT_OK};
use super::human::{human, ratio_text, saved_text};
use super::{InfoArgs, VerifyArgs};
use crate::container::Container;
use crate::tcv1::{self, Reader};

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
