//! Codec report per class of the corpus of user data (scripts/corpus.sh;
//! docs/BENCHMARKS.md, "Codec on a corpus of user data").
//!
//!     cargo run --release --example bench_corpus -- [DIR] [--block 128K]
//!         [--blocks 64K,128K,256K] [--reps N]
//!
//! DIR (default /var/tmp/scfs-corpus) holds one directory per class; every
//! file under it (recursively, sorted) is cut into independent blocks of
//! `--block` bytes (a file's last block is short) and, single threaded and
//! in memory, each coder compresses and decompresses every block. Printed
//! per class and in total: ratio = original bytes / counted bytes, and
//! compress / decompress MB/s (10^6 original bytes per second; median of
//! `--reps` runs, the coders interleaved within each run; by wall clock
//! and by thread CPU time, which a loaded machine inflates less).
//!
//! What a block counts:
//! - scfs Huffman (`codec::encode_block`): its payload, or its bytes when
//!   Raw, plus 40 bytes for the container's record header and index entry
//!   (as examples/bench_codec.rs counts); Zero and Fill blocks count 0;
//! - zstd -1 / -3 (the `zstd` crate, one context reused, no checksum): the
//!   frame;
//! - lz4 (`lz4_flex` block format, size known to the decoder): the block.
//!
//! `--blocks LIST` then prints the ratio of every coder per class for each
//! block size of LIST (no timing).
//!
//! `--dump PATH` writes instead (nothing else is run) one tab-separated line per
//! block at `--block` bytes (no timing): class, file, block index, block
//! length, then the bytes each coder counts for it, in the order of the
//! header line (to find where zstd wins: which files, which blocks).

#[allow(dead_code)] // only thread_cpu is used here
mod common;

use common::{thread_cpu, walk};
use scfs::codec::{self, BlockCoding};
use std::path::PathBuf;
use std::time::Instant;

/// Container bytes per stored scfs block (record header + index entry).
const SCFS_OVERHEAD: u64 = 40;

/// The coders compared: every scfs level (`codec::Level`), zstd -1 and
/// -3, lz4.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Coder {
    Scfs(codec::Level),
    Zstd(i32),
    Lz4,
}

impl Coder {
    fn all() -> Vec<Coder> {
        let mut v: Vec<Coder> = codec::Level::ALL.into_iter().map(Coder::Scfs).collect();
        v.extend([Coder::Zstd(1), Coder::Zstd(3), Coder::Lz4]);
        v
    }

    fn name(self) -> String {
        match self {
            Coder::Scfs(l) => format!("scfs {}", l.name()),
            Coder::Zstd(l) => format!("zstd -{l}"),
            Coder::Lz4 => "lz4".into(),
        }
    }
}

/// How one block was stored: what the decoder needs besides the payload.
#[derive(Clone, Copy)]
enum Stored {
    /// No payload: the block is this byte repeated (scfs Zero/Fill).
    Fill(u8),
    /// No payload: the block's own bytes (scfs Raw).
    Raw,
    /// The payload decodes to the block.
    Payload,
    /// The payload is an scfs LZ payload.
    Lz,
}

/// A coder's reusable state (zstd contexts, as a real user keeps them).
struct Ctx {
    coder: Coder,
    zc: Option<zstd::bulk::Compressor<'static>>,
    zd: Option<zstd::bulk::Decompressor<'static>>,
}

impl Ctx {
    fn new(coder: Coder) -> Ctx {
        let (zc, zd) = match coder {
            Coder::Zstd(level) => (
                Some(zstd::bulk::Compressor::new(level).expect("zstd context")),
                Some(zstd::bulk::Decompressor::new().expect("zstd context")),
            ),
            _ => (None, None),
        };
        Ctx { coder, zc, zd }
    }

    /// Appends `block` coded to `out` (cleared first); returns how it is
    /// stored and the bytes it counts.
    fn encode(&mut self, block: &[u8], out: &mut Vec<u8>) -> (Stored, u64) {
        out.clear();
        match self.coder {
            Coder::Scfs(level) => match codec::encode_block_level(block, level, out) {
                BlockCoding::Zero => (Stored::Fill(0), 0),
                BlockCoding::Fill(x) => (Stored::Fill(x), 0),
                BlockCoding::Raw => (Stored::Raw, block.len() as u64 + SCFS_OVERHEAD),
                BlockCoding::Huffman => (Stored::Payload, out.len() as u64 + SCFS_OVERHEAD),
                BlockCoding::Lz => (Stored::Lz, out.len() as u64 + SCFS_OVERHEAD),
            },
            Coder::Zstd(_) => {
                out.reserve(zstd::zstd_safe::compress_bound(block.len()));
                let zc = self.zc.as_mut().expect("zstd coder has a context");
                zc.compress_to_buffer(block, out).expect("zstd compresses");
                (Stored::Payload, out.len() as u64)
            }
            Coder::Lz4 => {
                out.resize(lz4_flex::block::get_maximum_output_size(block.len()), 0);
                let n = lz4_flex::block::compress_into(block, out).expect("lz4 compresses");
                out.truncate(n);
                (Stored::Payload, n as u64)
            }
        }
    }

    /// Decodes one block into `out` (exactly the block's length).
    fn decode(&mut self, stored: Stored, payload: &[u8], orig: &[u8], out: &mut [u8]) {
        match (stored, self.coder) {
            (Stored::Fill(x), _) => out.fill(x),
            (Stored::Raw, _) => out.copy_from_slice(orig),
            (Stored::Payload, Coder::Scfs(_)) => {
                codec::decode_block(payload, out).expect("scfs decodes")
            }
            (Stored::Lz, _) => codec::decode_lz_block(payload, out).expect("scfs LZ decodes"),
            (Stored::Payload, Coder::Zstd(_)) => {
                let zd = self.zd.as_mut().expect("zstd coder has a context");
                let n = zd.decompress_to_buffer(payload, out).expect("zstd decodes");
                assert_eq!(n, out.len(), "zstd: short block");
            }
            (Stored::Payload, Coder::Lz4) => {
                let n = lz4_flex::block::decompress_into(payload, out).expect("lz4 decodes");
                assert_eq!(n, out.len(), "lz4: short block");
            }
        }
    }
}

/// One class: its files' bytes, concatenated, and where each block starts
/// and ends (blocks never cross a file boundary).
struct Class {
    name: String,
    files: usize,
    data: Vec<u8>,
    /// Every file, in order (the block ends are their ends).
    paths: Vec<PathBuf>,
}

impl Class {
    fn blocks(&self, block: usize, ends: &[usize]) -> Vec<(usize, usize)> {
        let mut v = Vec::new();
        let mut start = 0;
        for &end in ends {
            let mut s = start;
            while s < end {
                let e = (s + block).min(end);
                v.push((s, e));
                s = e;
            }
            start = end;
        }
        v
    }
}

/// The classes of `dir`: its subdirectories (not hidden), sorted.
fn load(dir: &str) -> Vec<(Class, Vec<usize>)> {
    let mut subs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| {
            eprintln!("{dir}: {e} (build it with scripts/corpus.sh {dir})");
            std::process::exit(2)
        })
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.is_dir()
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    subs.sort();
    subs.into_iter()
        .map(|sub| {
            let mut files = Vec::new();
            walk(&sub, &mut files);
            let mut data = Vec::new();
            let mut ends = Vec::new();
            for f in &files {
                let mut bytes = std::fs::read(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
                data.append(&mut bytes);
                ends.push(data.len());
            }
            let name = sub
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            (
                Class {
                    name,
                    files: files.len(),
                    data,
                    paths: files,
                },
                ends,
            )
        })
        .collect()
}

/// `--dump`: per block, the bytes every coder counts (see the top).
fn dump(
    path: &str,
    classes: &[(Class, Vec<usize>)],
    block: usize,
    coders: &[Coder],
) -> std::io::Result<()> {
    use std::io::Write;
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    let names: Vec<String> = coders.iter().map(|c| c.name()).collect();
    writeln!(w, "class\tfile\tblock\tlen\t{}", names.join("\t"))?;
    let mut ctxs: Vec<Ctx> = coders.iter().map(|&c| Ctx::new(c)).collect();
    let mut out = Vec::with_capacity(block + 1024);
    for (class, ends) in classes {
        let mut start = 0;
        for (f, &end) in class.paths.iter().zip(ends) {
            for (i, s) in (start..end).step_by(block).enumerate() {
                let b = &class.data[s..(s + block).min(end)];
                let counts: Vec<String> = ctxs
                    .iter_mut()
                    .map(|c| c.encode(b, &mut out).1.to_string())
                    .collect();
                writeln!(
                    w,
                    "{}\t{}\t{i}\t{}\t{}",
                    class.name,
                    f.display(),
                    b.len(),
                    counts.join("\t")
                )?;
            }
            start = end;
        }
    }
    w.flush()
}

/// Median of a list of seconds.
fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Per coder: counted bytes and, per rep, (wall, cpu) seconds of
/// compression and decompression.
#[derive(Default, Clone)]
struct Measure {
    counted: u64,
    enc: Vec<(f64, f64)>,
    dec: Vec<(f64, f64)>,
}

fn timed(f: impl FnOnce()) -> (f64, f64) {
    let c = thread_cpu();
    let t = Instant::now();
    f();
    (t.elapsed().as_secs_f64(), thread_cpu() - c)
}

/// Runs every coder over one class `reps` times, interleaved.
fn measure(
    class: &Class,
    ends: &[usize],
    block: usize,
    coders: &[Coder],
    reps: usize,
) -> Vec<Measure> {
    let blocks = class.blocks(block, ends);
    let mut ctxs: Vec<Ctx> = coders.iter().map(|&c| Ctx::new(c)).collect();
    // Per coder: one output buffer per block, reused by every rep.
    let mut bufs: Vec<Vec<Vec<u8>>> = coders
        .iter()
        .map(|_| {
            blocks
                .iter()
                .map(|_| Vec::with_capacity(block + 1024))
                .collect()
        })
        .collect();
    let mut stored: Vec<Vec<(Stored, u64)>> = vec![Vec::with_capacity(blocks.len()); coders.len()];
    let mut out = vec![0u8; class.data.len()];
    let mut ms = vec![Measure::default(); coders.len()];
    for rep in 0..reps {
        for (i, ctx) in ctxs.iter_mut().enumerate() {
            let st = &mut stored[i];
            let bs = &mut bufs[i];
            ms[i].enc.push(timed(|| {
                st.clear();
                for (&(s, e), b) in blocks.iter().zip(bs.iter_mut()) {
                    st.push(ctx.encode(&class.data[s..e], b));
                }
            }));
            ms[i].dec.push(timed(|| {
                for ((&(s, e), b), &(how, _)) in blocks.iter().zip(bs.iter()).zip(st.iter()) {
                    ctx.decode(how, b, &class.data[s..e], &mut out[s..e]);
                }
            }));
            if rep == 0 {
                assert!(
                    out == class.data,
                    "{}: {} round trip failed",
                    class.name,
                    ctx.coder.name()
                );
                ms[i].counted = st.iter().map(|x| x.1).sum();
                out.fill(0);
            }
        }
    }
    ms
}

fn mbs(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / secs / 1e6
}

fn print_rows(name: &str, files: usize, bytes: u64, coders: &[Coder], ms: &[Measure]) {
    for (c, m) in coders.iter().zip(ms) {
        let pick = |v: &[(f64, f64)], cpu: bool| {
            let mut x: Vec<f64> = v.iter().map(|p| if cpu { p.1 } else { p.0 }).collect();
            median(&mut x)
        };
        println!(
            "| {name} | {files} | {bytes} | {} | {:.4} | {:.0} | {:.0} | {:.0} | {:.0} |",
            c.name(),
            bytes as f64 / m.counted.max(1) as f64,
            mbs(bytes, pick(&m.enc, false)),
            mbs(bytes, pick(&m.dec, false)),
            mbs(bytes, pick(&m.enc, true)),
            mbs(bytes, pick(&m.dec, true)),
        );
    }
}

/// "64K", "128k", "1M" or a plain byte count.
fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let (num, mul) = match t.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (&t[..t.len() - 1], 1024),
        Some('M') => (&t[..t.len() - 1], 1 << 20),
        _ => (t, 1),
    };
    let n: usize = num.parse().map_err(|_| format!("bad block size {s:?}"))?;
    let n = n * mul;
    if n == 0 || n > codec::MAX_BLOCK_LEN {
        return Err(format!(
            "block size {s} not in 1..={}",
            codec::MAX_BLOCK_LEN
        ));
    }
    Ok(n)
}

fn size_name(n: usize) -> String {
    if n % 1024 == 0 {
        format!("{}K", n / 1024)
    } else {
        n.to_string()
    }
}

struct Args {
    dir: String,
    block: usize,
    blocks: Vec<usize>,
    reps: usize,
    dump: Option<String>,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        dir: "/var/tmp/scfs-corpus".into(),
        block: 128 * 1024,
        blocks: vec![],
        reps: 5,
        dump: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(x) = it.next() {
        let mut val = |what: &str| it.next().ok_or(format!("{what} needs a value"));
        match x.as_str() {
            "-h" | "--help" => {
                println!(
                    "usage: bench_corpus [DIR] [--block 128K] [--blocks 64K,128K,256K] [--reps N] [--dump PATH]"
                );
                std::process::exit(0)
            }
            "--block" => a.block = parse_size(&val("--block")?)?,
            "--blocks" => {
                a.blocks = val("--blocks")?
                    .split(',')
                    .map(parse_size)
                    .collect::<Result<_, _>>()?
            }
            "--dump" => a.dump = Some(val("--dump")?),
            "--reps" => {
                a.reps = val("--reps")?
                    .parse()
                    .map_err(|_| "--reps needs a number".to_string())?
            }
            s if s.starts_with('-') => return Err(format!("unknown option {s}")),
            _ => a.dir = x,
        }
    }
    a.reps = a.reps.max(1);
    Ok(a)
}

fn main() {
    let a = args().unwrap_or_else(|e| {
        eprintln!("bench_corpus: {e}");
        std::process::exit(2)
    });
    let classes = load(&a.dir);
    let coders = Coder::all();
    if let Some(path) = &a.dump {
        if let Err(e) = dump(path, &classes, a.block, &coders) {
            eprintln!("bench_corpus: {path}: {e}");
            std::process::exit(1)
        }
        return;
    }
    println!(
        "Blocks of {} bytes ({}), median of {} runs; MB/s = 10^6 original bytes/s, wall clock and thread CPU time.\n",
        a.block,
        size_name(a.block),
        a.reps
    );
    println!("| class | files | bytes | coder | ratio | comp MB/s | dec MB/s | comp MB/s (cpu) | dec MB/s (cpu) |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut total = vec![Measure::default(); coders.len()];
    let (mut tf, mut tb) = (0, 0u64);
    for (class, ends) in &classes {
        let ms = measure(class, ends, a.block, &coders, a.reps);
        print_rows(
            &class.name,
            class.files,
            class.data.len() as u64,
            &coders,
            &ms,
        );
        for (t, m) in total.iter_mut().zip(&ms) {
            t.counted += m.counted;
            // The total's time of rep r = the sum of the classes' rep r.
            for (v, w) in [(&mut t.enc, &m.enc), (&mut t.dec, &m.dec)] {
                v.resize(w.len(), (0.0, 0.0));
                for (x, y) in v.iter_mut().zip(w) {
                    x.0 += y.0;
                    x.1 += y.1;
                }
            }
        }
        tf += class.files;
        tb += class.data.len() as u64;
    }
    print_rows("**total**", tf, tb, &coders, &total);

    if a.blocks.is_empty() {
        return;
    }
    println!("\nRatio by block size (original bytes / counted bytes):\n");
    let head: Vec<String> = a.blocks.iter().map(|&b| size_name(b)).collect();
    println!("| class | coder | {} |", head.join(" | "));
    println!("|---|---|{}", "---|".repeat(a.blocks.len()));
    let mut sums = vec![vec![0u64; a.blocks.len()]; coders.len()];
    for (class, ends) in &classes {
        for (ci, &c) in coders.iter().enumerate() {
            let mut cells = Vec::new();
            for (bi, &b) in a.blocks.iter().enumerate() {
                let m = measure(class, ends, b, &[c], 1);
                sums[ci][bi] += m[0].counted;
                cells.push(format!(
                    "{:.4}",
                    class.data.len() as f64 / m[0].counted.max(1) as f64
                ));
            }
            println!("| {} | {} | {} |", class.name, c.name(), cells.join(" | "));
        }
    }
    for (ci, c) in coders.iter().enumerate() {
        let cells: Vec<String> = sums[ci]
            .iter()
            .map(|&s| format!("{:.4}", tb as f64 / s.max(1) as f64))
            .collect();
        println!("| **total** | {} | {} |", c.name(), cells.join(" | "));
    }
}
