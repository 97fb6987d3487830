//! One coder, one direction, on a sample of the corpus of user data: a
//! small driver for profilers (callgrind, perf) and quick A/B timing of
//! codec changes. Every class directory of DIR contributes its first
//! `--mb` MB of files (sorted, recursively), cut into `--block` blocks at
//! file ends; the blocks are compressed once, then the chosen direction
//! runs `--reps` times and prints thread-CPU MB/s (best and median).
//!
//!     cargo run --release --example lz_prof -- enc|dec CODER
//!         [--dir /var/tmp/scfs-corpus] [--mb 2] [--block 131072] [--reps 5]
//!         [--class NAME]   (one class directory only)
//!
//! CODER: an scfs level name (huffman, fast, default, max), zstd1, zstd3.
//! Every scfs block is decoded and compared once before timing. `--reps 0`
//! does only that setup: under `valgrind --tool=callgrind`, the program
//! total at `--reps R` minus the total at `--reps 0` is the instruction
//! count of R passes (repeatable on a loaded machine).

#[allow(dead_code)]
mod common;

use common::{thread_cpu, walk};
use scfs::codec::{self, BlockCoding, Level};
use std::path::PathBuf;

fn blocks(dir: &str, mb: usize, block: usize, only: &str) -> Vec<Vec<u8>> {
    let mut classes: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("corpus directory")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .filter(|p| only.is_empty() || p.file_name().is_some_and(|f| f == only))
        .collect();
    classes.sort();
    let mut out = Vec::new();
    for c in classes {
        let mut files = Vec::new();
        walk(&c, &mut files);
        let mut taken = 0;
        for f in files {
            if taken >= mb * 1_000_000 {
                break;
            }
            let d = std::fs::read(&f).unwrap_or_default();
            taken += d.len();
            out.extend(d.chunks(block).map(|b| b.to_vec()));
        }
    }
    out
}

enum Coder {
    Scfs(Level),
    Zstd(i32),
}

fn main() {
    let mut a = std::env::args().skip(1);
    let dir_default = "/var/tmp/scfs-corpus".to_string();
    let (mode, coder) = (a.next().expect("enc|dec"), a.next().expect("coder"));
    let (mut dir, mut mb, mut block, mut reps) = (dir_default, 2usize, 131072usize, 5usize);
    let mut only = String::new();
    while let Some(k) = a.next() {
        let v = a.next().expect("option value");
        match k.as_str() {
            "--dir" => dir = v,
            "--mb" => mb = v.parse().expect("--mb N"),
            "--block" => block = v.parse().expect("--block N"),
            "--reps" => reps = v.parse().expect("--reps N"),
            "--class" => only = v,
            _ => panic!("unknown option {k}"),
        }
    }
    let coder = match coder.as_str() {
        "zstd1" => Coder::Zstd(1),
        "zstd3" => Coder::Zstd(3),
        l => Coder::Scfs(l.parse().expect("level")),
    };
    let bl = blocks(&dir, mb, block, &only);
    let total: usize = bl.iter().map(|b| b.len()).sum();
    let mut zc = zstd::bulk::Compressor::new(1).expect("zstd");
    let mut zd = zstd::bulk::Decompressor::new().expect("zstd");
    if let Coder::Zstd(l) = coder {
        zc = zstd::bulk::Compressor::new(l).expect("zstd");
    }
    let enc = |b: &[u8], out: &mut Vec<u8>, zc: &mut zstd::bulk::Compressor| -> BlockCoding {
        out.clear();
        match coder {
            Coder::Scfs(l) => codec::encode_block_level(b, l, out),
            Coder::Zstd(_) => {
                out.reserve(zstd::zstd_safe::compress_bound(b.len()));
                zc.compress_to_buffer(b, out).expect("zstd");
                BlockCoding::Lz
            }
        }
    };
    let mut payloads: Vec<(BlockCoding, Vec<u8>)> = Vec::new();
    let mut stored = 0usize;
    for b in &bl {
        let mut p = Vec::new();
        let c = enc(b, &mut p, &mut zc);
        stored += match c {
            BlockCoding::Zero | BlockCoding::Fill(_) => 0,
            BlockCoding::Raw => b.len(),
            _ => p.len(),
        };
        payloads.push((c, p));
    }
    let mut out = vec![0u8; block];
    let dec = |c: BlockCoding,
               p: &[u8],
               orig: &[u8],
               out: &mut [u8],
               zd: &mut zstd::bulk::Decompressor| {
        match (c, &coder) {
            (_, Coder::Zstd(_)) => {
                zd.decompress_to_buffer(p, out).expect("zstd");
            }
            (BlockCoding::Lz, _) => codec::decode_lz_block(p, out).expect("lz"),
            (BlockCoding::Huffman, _) => codec::decode_block(p, out).expect("huffman"),
            (BlockCoding::Raw, _) => out.copy_from_slice(orig),
            (BlockCoding::Zero, _) => out.fill(0),
            (BlockCoding::Fill(x), _) => out.fill(x),
        }
    };
    for (b, (c, p)) in bl.iter().zip(&payloads) {
        let o = &mut out[..b.len()];
        dec(*c, p, b, o, &mut zd);
        assert!(o == &b[..], "round trip");
    }
    let mut times = Vec::new();
    let mut scratch = Vec::new();
    for _ in 0..reps {
        let t = thread_cpu();
        if mode == "enc" {
            for b in &bl {
                std::hint::black_box(enc(b, &mut scratch, &mut zc));
            }
        } else {
            for (b, (c, p)) in bl.iter().zip(&payloads) {
                dec(*c, p, b, &mut out[..b.len()], &mut zd);
            }
            std::hint::black_box(&out);
        }
        times.push(thread_cpu() - t);
    }
    if times.is_empty() {
        // --reps 0: setup only (a baseline for instruction counts).
        return;
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let mbs = |t: f64| total as f64 / t / 1e6;
    println!(
        "{mode} {}: {} blocks, {total} bytes, ratio {:.4}, best {:.0} MB/s, median {:.0} MB/s",
        match coder {
            Coder::Scfs(l) => l.name().to_string(),
            Coder::Zstd(l) => format!("zstd -{l}"),
        },
        bl.len(),
        total as f64 / stored as f64,
        mbs(times[0]),
        mbs(times[times.len() / 2])
    );
}
