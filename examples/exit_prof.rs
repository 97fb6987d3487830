//! The early exit (issue 13, item 2) measured: what each level costs over
//! `huffman` on the blocks it does not code with LZ, and what every level
//! stores per class.
//!
//!     cargo run --release --example exit_prof -- pass LEVEL
//!         [--dir /var/tmp/scfs-corpus] [--class compressed] [--block 131072]
//!         [--split all|lz|notlz] [--by LEVEL] [--reps 1] [--file PATH]
//!         [--minlen N] [--maxlen N]   (only blocks of N..=N bytes)
//!         [--huffmax F]   (only blocks `huffman` stores in <= F of their size)
//!     cargo run --release --example exit_prof -- ratio
//!         [--dir /var/tmp/scfs-corpus] [--block 131072]
//!
//! `pass`: every file of the class (or `--file`, e.g. 64 MiB of
//! /dev/urandom) cut into blocks at file ends; `--split lz` keeps the
//! blocks that level `--by` (default: LEVEL) codes with LZ, `notlz` the
//! others. Then `--reps` passes of `encode_block_level(LEVEL)` over them
//! in `timed_pass`, whose instructions callgrind counts alone:
//!
//!     valgrind --tool=callgrind --toggle-collect='*exit_prof::timed_pass*' \
//!         target/release/examples/exit_prof pass fast --split notlz
//!
//! `ratio`: per class, the bytes every level stores (payload, or the block
//! when Raw; Zero and Fill count 0; no container overhead) and how many
//! blocks each level codes with LZ; the whole corpus is read.

#[allow(dead_code)]
mod common;

use common::{thread_cpu, walk};
use scfs::codec::{self, BlockCoding, Level};
use std::path::{Path, PathBuf};

fn file_blocks(files: &[PathBuf], block: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for f in files {
        let d = std::fs::read(f).unwrap_or_default();
        out.extend(d.chunks(block).map(|b| b.to_vec()));
    }
    out
}

fn classes(dir: &str) -> Vec<PathBuf> {
    let mut c: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("corpus directory")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    c.sort();
    c
}

/// Bytes stored for `data` at `level` and its coding.
fn stored(data: &[u8], level: Level, out: &mut Vec<u8>) -> (usize, BlockCoding) {
    out.clear();
    let c = codec::encode_block_level(data, level, out);
    let n = match c {
        BlockCoding::Zero | BlockCoding::Fill(_) => 0,
        BlockCoding::Raw => data.len(),
        _ => out.len(),
    };
    (n, c)
}

#[inline(never)]
fn timed_pass(blocks: &[&[u8]], level: Level, out: &mut Vec<u8>) -> usize {
    let mut s = 0;
    for b in blocks {
        out.clear();
        std::hint::black_box(codec::encode_block_level(b, level, out));
        s += out.len();
    }
    s
}

fn main() {
    let mut a = std::env::args().skip(1);
    let mode = a.next().expect("pass|ratio");
    let level: Option<Level> = if mode == "pass" {
        Some(a.next().expect("level").parse().expect("level name"))
    } else {
        None
    };
    let (mut dir, mut class, mut block) = (
        "/var/tmp/scfs-corpus".to_string(),
        "compressed".to_string(),
        131072usize,
    );
    let (mut split, mut by, mut reps, mut file) =
        ("all".to_string(), level, 1usize, None::<String>);
    let (mut minlen, mut maxlen, mut huffmax) = (0usize, usize::MAX, f64::INFINITY);
    while let Some(k) = a.next() {
        let v = a.next().expect("option value");
        match k.as_str() {
            "--dir" => dir = v,
            "--class" => class = v,
            "--block" => block = v.parse().expect("--block N"),
            "--split" => split = v,
            "--by" => by = Some(v.parse().expect("--by LEVEL")),
            "--reps" => reps = v.parse().expect("--reps N"),
            "--file" => file = Some(v),
            "--minlen" => minlen = v.parse().expect("--minlen N"),
            "--maxlen" => maxlen = v.parse().expect("--maxlen N"),
            "--huffmax" => huffmax = v.parse().expect("--huffmax F"),
            _ => panic!("unknown option {k}"),
        }
    }
    let mut out = Vec::new();
    if mode == "ratio" {
        let levels = Level::ALL;
        let mut tot = vec![0usize; levels.len()];
        let mut tot_in = 0usize;
        for c in classes(&dir) {
            let mut files = Vec::new();
            walk(&c, &mut files);
            let bl = file_blocks(&files, block);
            let n: usize = bl.iter().map(|b| b.len()).sum();
            tot_in += n;
            let mut line = format!("{:<11} {:>10}", c.file_name().unwrap().to_string_lossy(), n);
            for (i, &l) in levels.iter().enumerate() {
                let (mut s, mut lz) = (0, 0);
                for b in &bl {
                    let (k, cd) = stored(b, l, &mut out);
                    s += k;
                    lz += usize::from(cd == BlockCoding::Lz);
                }
                tot[i] += s;
                line += &format!("  {} {s} ({lz} lz)", l.name());
            }
            println!("{line}");
        }
        let mut line = format!("{:<11} {tot_in:>10}", "total");
        for (i, l) in levels.iter().enumerate() {
            line += &format!(
                "  {} {} ratio {:.4}",
                l.name(),
                tot[i],
                tot_in as f64 / tot[i] as f64
            );
        }
        println!("{line}");
        return;
    }
    let level = level.expect("level");
    let files = match &file {
        Some(f) => vec![PathBuf::from(f)],
        None => {
            let mut f = Vec::new();
            walk(&Path::new(&dir).join(&class), &mut f);
            f
        }
    };
    let bl = file_blocks(&files, block);
    let by = by.unwrap_or(level);
    let mut chosen: Vec<&[u8]> = Vec::new();
    for b in &bl {
        if !(minlen..=maxlen).contains(&b.len()) {
            continue;
        }
        if stored(b, Level::Huffman, &mut out).0 as f64 > huffmax * b.len() as f64 {
            continue;
        }
        if split != "all" && (split == "lz") != (stored(b, by, &mut out).1 == BlockCoding::Lz) {
            continue;
        }
        chosen.push(b);
    }
    let n: usize = chosen.iter().map(|b| b.len()).sum();
    let (mut st, mut st_h) = (0, 0);
    for b in &chosen {
        st += stored(b, level, &mut out).0;
        st_h += stored(b, Level::Huffman, &mut out).0;
    }
    let mut times = Vec::new();
    for _ in 0..reps {
        let t = thread_cpu();
        std::hint::black_box(timed_pass(&chosen, level, &mut out));
        times.push(thread_cpu() - t);
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let med = times.get(times.len() / 2).copied().unwrap_or(0.0);
    println!(
        "{} split {split} by {}: {} blocks, {n} bytes, stored {st} (huffman {st_h}), median {:.0} MB/s",
        level.name(),
        by.name(),
        chosen.len(),
        n as f64 / med / 1e6
    );
}
