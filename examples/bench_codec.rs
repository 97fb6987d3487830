//! Codec report on a corpus (docs/BENCHMARKS.md, codec section).
//!
//!     cargo run --release --example bench_codec -- [DIR] [--reps N]
//!
//! For every file of DIR (default /work/shared/corpus/silesia), single
//! threaded and in memory, prints:
//! - v2: `encode_block` on 65536-byte blocks; size = payload (or the raw
//!   bytes for Raw blocks, 0 for Zero/Fill) + 40 bytes per block for the
//!   container's record header and index entry ("v2 payload only": the
//!   same without the 40 bytes);
//! - v1: tc v1 layout, 64000-byte blocks: 14-byte file header, 273-byte
//!   block header, one stream coded with an 11-bit optimal code (stored
//!   block if not smaller); `v1 gap` = how much bigger than the same layout
//!   with an unlimited optimal Huffman code;
//! - H0: order-0 entropy bound per 64000-byte block (no headers);
//! - miniz: miniz_oxide raw deflate, Huffman-only strategy, per 64000-byte
//!   block (comparison only);
//! - speeds in MB/s = 10^6 bytes of original data per second (best of N
//!   runs): v2 compress/decompress (including Raw copies and Zero/Fill;
//!   also by thread CPU time, which a loaded machine inflates less),
//!   v1 compress/decompress, miniz compress/decompress.

use miniz_oxide::deflate::core::{
    compress_to_output, create_comp_flags_from_zip_params, CompressorOxide, TDEFLFlush,
};
mod common;

use common::thread_cpu;
use scfs::codec::{self, BlockCoding};
use std::time::{Duration, Instant};

const V2_BLOCK: usize = 65536;
const V2_OVERHEAD: usize = 40;
const V1_BLOCK: usize = 64000;

#[derive(Default, Clone, Copy)]
struct Row {
    orig: u64,
    v2: u64,
    v2_payload: u64,
    v1: u64,
    v1_opt: u64,
    h0: f64,
    miniz: u64,
    t_v2_enc: f64,
    t_v2_dec: f64,
    c_v2_enc: f64,
    c_v2_dec: f64,
    t_v1_enc: f64,
    t_v1_dec: f64,
    t_mz_enc: f64,
    t_mz_dec: f64,
}

impl Row {
    fn add(&mut self, o: &Row) {
        self.orig += o.orig;
        self.v2 += o.v2;
        self.v2_payload += o.v2_payload;
        self.v1 += o.v1;
        self.v1_opt += o.v1_opt;
        self.h0 += o.h0;
        self.miniz += o.miniz;
        self.t_v2_enc += o.t_v2_enc;
        self.t_v2_dec += o.t_v2_dec;
        self.c_v2_enc += o.c_v2_enc;
        self.c_v2_dec += o.c_v2_dec;
        self.t_v1_enc += o.t_v1_enc;
        self.t_v1_dec += o.t_v1_dec;
        self.t_mz_enc += o.t_mz_enc;
        self.t_mz_dec += o.t_mz_dec;
    }
}

/// Runs `f` `reps` times; returns its result, the best wall time and the
/// best thread CPU time (which a loaded machine inflates less).
fn best_of<T>(reps: usize, mut f: impl FnMut() -> T) -> (T, f64, f64) {
    let mut best = Duration::MAX;
    let mut best_cpu = f64::MAX;
    let mut out = None;
    for _ in 0..reps {
        let c = thread_cpu();
        let t = Instant::now();
        let r = f();
        best = best.min(t.elapsed());
        best_cpu = best_cpu.min(thread_cpu() - c);
        out = Some(r);
    }
    (out.expect("reps >= 1"), best.as_secs_f64(), best_cpu)
}

fn h0_bits(block: &[u8]) -> f64 {
    let h = codec::histogram(block);
    let n = block.len() as f64;
    h.iter()
        .filter(|&&c| c > 0)
        .map(|&c| c as f64 * (n / c as f64).log2())
        .sum()
}

fn miniz_block(c: &mut CompressorOxide, block: &[u8], out: &mut Vec<u8>) {
    c.reset();
    out.clear();
    let (status, _) = compress_to_output(c, block, TDEFLFlush::Finish, |b| {
        out.extend_from_slice(b);
        true
    });
    assert_eq!(status, miniz_oxide::deflate::core::TDEFLStatus::Done);
}

fn bench_file(data: &[u8], reps: usize) -> Row {
    let mut row = Row {
        orig: data.len() as u64,
        ..Row::default()
    };
    // v2
    let blocks: Vec<&[u8]> = data.chunks(V2_BLOCK).collect();
    // One output buffer per block, reused by every rep (as the decoder's
    // output buffer is, and as a codec benchmark's destination buffer
    // usually is): the timing is the encoder's, not the page faults of
    // ~data.len() bytes of fresh allocations per rep (until session 3
    // each rep allocated new buffers; that cost ~10% of encode time).
    let mut payloads: Vec<Vec<u8>> = blocks
        .iter()
        .map(|_| Vec::with_capacity(V2_BLOCK + 1024))
        .collect();
    let mut codings = Vec::with_capacity(blocks.len());
    let ((), t, c) = best_of(reps, || {
        codings.clear();
        for (b, p) in blocks.iter().zip(payloads.iter_mut()) {
            p.clear();
            codings.push(codec::encode_block(b, p));
        }
    });
    row.t_v2_enc = t;
    row.c_v2_enc = c;
    for ((b, c), p) in blocks.iter().zip(&codings).zip(&payloads) {
        let stored = match c {
            BlockCoding::Zero | BlockCoding::Fill(_) => 0,
            BlockCoding::Raw => b.len() as u64,
            BlockCoding::Huffman | BlockCoding::Lz => p.len() as u64,
        };
        row.v2_payload += stored;
        row.v2 += V2_OVERHEAD as u64 + stored;
    }
    let mut out = vec![0u8; data.len()];
    let ((), t, cpu) = best_of(reps, || {
        for (((b, c), p), o) in blocks
            .iter()
            .zip(&codings)
            .zip(&payloads)
            .zip(out.chunks_mut(V2_BLOCK))
        {
            match c {
                BlockCoding::Zero => o.fill(0),
                BlockCoding::Fill(x) => o.fill(*x),
                BlockCoding::Raw => o.copy_from_slice(b),
                BlockCoding::Huffman => codec::decode_block(p, o).expect("decodes"),
                BlockCoding::Lz => codec::decode_lz_block(p, o).expect("decodes"),
            }
        }
    });
    row.t_v2_dec = t;
    row.c_v2_dec = cpu;
    assert!(out == data, "v2 round trip failed");

    // v1, H0, miniz on 64000-byte blocks
    let blocks: Vec<&[u8]> = data.chunks(V1_BLOCK).collect();
    row.v1 = 14;
    row.v1_opt = 14;
    let (streams, t, _) = best_of(reps, || {
        blocks
            .iter()
            .map(|b| {
                let hist = codec::histogram(b);
                let lens = codec::code_lengths(&hist, codec::MAX_CODE_LEN);
                let bytes = codec::coded_bits(&hist, &lens).div_ceil(8);
                if bytes as usize >= b.len() {
                    None
                } else {
                    let mut s = Vec::with_capacity(bytes as usize);
                    codec::encode_stream(b, &lens, &mut s);
                    Some((lens, s))
                }
            })
            .collect::<Vec<_>>()
    });
    row.t_v1_enc = t;
    for (b, s) in blocks.iter().zip(&streams) {
        row.v1 += 273 + s.as_ref().map_or(b.len(), |x| x.1.len()) as u64;
        let hist = codec::histogram(b);
        let opt = codec::coded_bits(&hist, &codec::code_lengths(&hist, 32)).div_ceil(8);
        row.v1_opt += 273 + opt.min(b.len() as u64);
        row.h0 += h0_bits(b) / 8.0;
    }
    let ((), t, _) = best_of(reps, || {
        for ((b, s), o) in blocks.iter().zip(&streams).zip(out.chunks_mut(V1_BLOCK)) {
            match s {
                None => o.copy_from_slice(b),
                Some((lens, s)) => codec::decode_stream(lens, s, o).expect("decodes"),
            }
        }
    });
    row.t_v1_dec = t;
    assert!(out == data, "v1 round trip failed");

    let flags = create_comp_flags_from_zip_params(6, -15, 2);
    let mut c = CompressorOxide::new(flags);
    let (mz, t, _) = best_of(reps.min(2), || {
        let mut v = Vec::with_capacity(blocks.len());
        for b in &blocks {
            let mut o = Vec::new();
            miniz_block(&mut c, b, &mut o);
            v.push(o);
        }
        v
    });
    row.t_mz_enc = t;
    row.miniz = mz.iter().map(|x| x.len() as u64).sum();
    let ((), t, _) = best_of(reps.min(2), || {
        for (m, b) in mz.iter().zip(&blocks) {
            let d = miniz_oxide::inflate::decompress_to_vec(m).expect("inflates");
            assert_eq!(d.len(), b.len());
        }
    });
    row.t_mz_dec = t;
    row
}

fn mbs(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / secs / 1e6
}

fn print_row(name: &str, r: &Row) {
    let o = r.orig as f64;
    println!(
        "| {name} | {} | {:.4} | {:.4} | {:.4} | {:.2}% | {:.4} | {:.4} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} |",
        r.orig,
        o / r.v2 as f64,
        o / r.v2_payload as f64,
        o / r.v1 as f64,
        (r.v1 as f64 / r.v1_opt as f64 - 1.0) * 100.0,
        o / r.h0,
        o / r.miniz as f64,
        mbs(r.orig, r.t_v2_enc),
        mbs(r.orig, r.t_v2_dec),
        mbs(r.orig, r.c_v2_enc),
        mbs(r.orig, r.c_v2_dec),
        mbs(r.orig, r.t_v1_enc),
        mbs(r.orig, r.t_v1_dec),
        mbs(r.orig, r.t_mz_enc),
        mbs(r.orig, r.t_mz_dec),
    );
}

fn main() {
    let (dir, reps) = common::args(3);
    let files = common::corpus_files(&dir);
    println!("| file | bytes | v2 ratio | v2 payload only | v1 ratio | v1 gap | H0 | miniz | v2 comp MB/s | v2 dec MB/s | v2 comp MB/s (cpu) | v2 dec MB/s (cpu) | v1 comp MB/s | v1 dec MB/s | miniz comp MB/s | miniz dec MB/s |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut total = Row::default();
    for f in &files {
        let data = std::fs::read(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let r = bench_file(&data, reps);
        print_row(&f.file_name().unwrap_or_default().to_string_lossy(), &r);
        total.add(&r);
    }
    print_row("**total**", &total);
}
