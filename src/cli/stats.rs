//! `scfs stats`: the space report over files and whole backing directories,
//! read straight from the backing files (no mount, no root).
//!
//! Every regular file found is one row: v2 containers and tc v1 files by
//! their logical size, any other file as stored as-is (original = stored,
//! format `raw`), because that is how the filesystem serves it. Symlinks are
//! not followed. The total counts each inode once (hard links). A path
//! inside a live scfs mount stands for its backing file (`detect`), so
//! `scfs stats MNT` reports the same as `scfs stats BACKING`.

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::detect::{detect, scan_v1, Kind};
use super::error::{container_err, io_err, shown};
use super::human::{human, ratio, ratio_text, saved, saved_text};
use super::walk::{regular_files, WalkError, WalkOptions};
use super::{CliError, StatsArgs, EXIT_OK};
use crate::container::Container;

struct Row {
    path: String,
    format: &'static str,
    original: u64,
    stored: u64,
    id: (u64, u64),
    /// The file's `user.scfs.compress` policy, if it has one.
    policy: Option<String>,
    /// Blocks by kind (v2 containers): lz, huffman, stored, fill, hole.
    kinds: Option<[u64; 5]>,
}

/// Names of the block kinds, in the order of [`Row::kinds`].
const KIND_NAMES: [&str; 5] = ["lz", "huffman", "stored", "fill", "hole"];

/// The `user.scfs.compress` xattr of an open file (the compression policy
/// the filesystem codes its writes by), if set.
fn policy_of(f: &fs::File) -> Option<String> {
    use std::os::fd::AsFd;
    let (_, v) = crate::sys::fgetxattr(f.as_fd(), c"user.scfs.compress", 64).ok()?;
    let v = String::from_utf8_lossy(&v);
    Some(v.trim_end().to_string())
}

/// The block kinds of a row as a table cell: `lz 10, huffman 2` (kinds
/// with no block left out; `-` for files that are not containers).
fn kinds_text(k: Option<[u64; 5]>) -> String {
    let Some(k) = k else { return "-".into() };
    let parts: Vec<String> = KIND_NAMES
        .iter()
        .zip(k)
        .filter(|(_, n)| *n > 0)
        .map(|(name, n)| format!("{name} {n}"))
        .collect();
    if parts.is_empty() {
        "-".into()
    } else {
        parts.join(", ")
    }
}

fn row_for(p: &Path) -> Result<Row, CliError> {
    // The file's own metadata, not `p`'s: inside an scfs mount `p` shows
    // the logical size, and `detect` opened the backing file.
    let (f, kind) = detect(p)?;
    let meta = f.metadata().map_err(|e| io_err(p, "cannot stat", &e))?;
    let stored = meta.len();
    let policy = policy_of(&f);
    let mut kinds = None;
    let (format, original) = match kind {
        Kind::V2 => {
            let c = Container::open(f, false).map_err(|e| container_err(p, e))?;
            let st = c.stats();
            kinds = Some([st.lz, st.huffman, st.stored, st.fill, st.holes]);
            ("v2", c.logical_size())
        }
        Kind::V1 => ("v1", scan_v1(f, p)?.logical),
        Kind::Empty => ("empty", 0),
        Kind::OtherVersion(_) | Kind::Foreign => ("raw", stored),
    };
    Ok(Row {
        path: p.display().to_string(),
        format,
        original,
        stored,
        id: (meta.dev(), meta.ino()),
        policy,
        kinds,
    })
}

/// Collects rows under `p`; errors are printed and folded into `code`.
fn walk(p: &Path, rows: &mut Vec<Row>, code: &mut i32) {
    let mut note = |e: WalkError| -> Result<(), ()> {
        report(io_err(&e.path, e.what, &e.err), code);
        Ok(())
    };
    // A BACKING that daemons serve (on any host, `-o shared`) changes under
    // the walk: their temporary files (a compaction's copy being written,
    // renamed over its name a moment later) hold no user data and are
    // left out, and a file gone by the time it is opened (renamed over,
    // removed) is skipped rather than reported.
    let opts = WalkOptions {
        skip_temps: true,
        ..WalkOptions::default()
    };
    // `note` goes on after every error: the walk always returns its files.
    let files = regular_files(p, opts, &mut note).unwrap_or_default();
    for (f, _) in files {
        match row_for(&f) {
            Ok(r) => rows.push(r),
            Err(_) if gone(&f) => {}
            Err(e) => report(e, code),
        }
    }
}

/// Whether `p` has no name any more (it was listed a moment ago).
fn gone(p: &Path) -> bool {
    matches!(fs::symlink_metadata(p), Err(e) if e.kind() == std::io::ErrorKind::NotFound)
}

fn report(e: CliError, code: &mut i32) {
    eprintln!("scfs: {e}");
    *code = (*code).max(e.code);
}

fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for ch in s.chars() {
        match ch {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn json_num(v: Option<f64>, decimals: usize) -> String {
    v.map_or("null".into(), |x| format!("{x:.decimals$}"))
}

/// `scfs stats`.
pub fn stats(a: &StatsArgs) -> Result<i32, CliError> {
    let mut rows = Vec::new();
    let mut code = EXIT_OK;
    for p in &a.paths {
        if super::error::is_dash(p) {
            report(
                CliError::io(format!("{}: stats needs paths", shown(p))),
                &mut code,
            );
            continue;
        }
        walk(p, &mut rows, &mut code);
    }
    let mut seen = HashSet::new();
    let (mut t_orig, mut t_stored, mut t_files) = (0u64, 0u64, 0u64);
    for r in &rows {
        if seen.insert(r.id) {
            t_orig += r.original;
            t_stored += r.stored;
            t_files += 1;
        }
    }
    let out = if a.json {
        let mut o = String::from("{\"files\": [");
        for (i, r) in rows.iter().enumerate() {
            o.push_str(if i == 0 { "\n  " } else { ",\n  " });
            let blocks = r.kinds.map_or("null".into(), |k| {
                let fields: Vec<String> = KIND_NAMES
                    .iter()
                    .zip(k)
                    .map(|(name, n)| format!("\"{name}\": {n}"))
                    .collect();
                format!("{{{}}}", fields.join(", "))
            });
            o.push_str(&format!(
                "{{\"path\": {}, \"format\": \"{}\", \"original\": {}, \"stored\": {}, \"ratio\": {}, \"saved_percent\": {}, \"policy\": {}, \"blocks\": {blocks}}}",
                json_str(&r.path),
                r.format,
                r.original,
                r.stored,
                json_num(ratio(r.original, r.stored), 4),
                json_num(saved(r.original, r.stored), 2),
                r.policy.as_deref().map_or("null".into(), json_str),
            ));
        }
        o.push_str(&format!(
            "\n],\n\"total\": {{\"files\": {t_files}, \"original\": {t_orig}, \"stored\": {t_stored}, \"ratio\": {}, \"saved_percent\": {}}}}}\n",
            json_num(ratio(t_orig, t_stored), 4),
            json_num(saved(t_orig, t_stored), 2)
        ));
        o
    } else {
        let mut table: Vec<[String; 8]> = vec![[
            "file".into(),
            "original".into(),
            "stored".into(),
            "ratio".into(),
            "saved".into(),
            "format".into(),
            "policy".into(),
            "blocks".into(),
        ]];
        for r in &rows {
            table.push([
                r.path.clone(),
                human(r.original),
                human(r.stored),
                ratio_text(r.original, r.stored),
                saved_text(r.original, r.stored),
                r.format.into(),
                r.policy.clone().unwrap_or_else(|| "-".into()),
                kinds_text(r.kinds),
            ]);
        }
        table.push([
            format!("total ({t_files} files)"),
            human(t_orig),
            human(t_stored),
            ratio_text(t_orig, t_stored),
            saved_text(t_orig, t_stored),
            String::new(),
            String::new(),
            String::new(),
        ]);
        let mut w = [0usize; 8];
        for line in &table {
            for (i, cell) in line.iter().enumerate() {
                w[i] = w[i].max(cell.chars().count());
            }
        }
        let mut o = String::new();
        for line in &table {
            let mut l = String::new();
            for (i, cell) in line.iter().enumerate() {
                l.push_str(cell);
                if i + 1 < line.len() {
                    let pad = w[i] - cell.chars().count() + 2;
                    l.push_str(&" ".repeat(pad));
                }
            }
            o.push_str(l.trim_end());
            o.push('\n');
        }
        o
    };
    print!("{out}");
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_escapes() {
        assert_eq!(json_str("a\"b\\c\n\u{1}"), "\"a\\\"b\\\\c\\n\\u0001\"");
    }
}
