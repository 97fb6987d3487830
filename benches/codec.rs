//! Criterion benchmarks of the codec: v2 block encode/decode and the v1
//! stream on 64 KiB blocks of a corpus file (SCFS_BENCH_FILE, default
//! /work/shared/corpus/silesia/dickens; synthetic skewed data if absent).
//!
//!     cargo bench --bench codec

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use scfs::codec::{self, BlockCoding, Level};

/// The tests' one pseudo-random generator.
#[allow(dead_code)]
#[path = "../tests/common/rng.rs"]
mod rng;

fn sample() -> Vec<u8> {
    let path = std::env::var("SCFS_BENCH_FILE")
        .unwrap_or_else(|_| "/work/shared/corpus/silesia/dickens".into());
    match std::fs::read(&path) {
        Ok(mut d) => {
            d.truncate(4 << 20);
            d
        }
        Err(_) => rng::Rng(0x9E37_79B9_7F4A_7C15)
            .bytes(4 << 20, |s| b'a' + (s & 0xFFFF).trailing_zeros() as u8),
    }
}

fn bench(c: &mut Criterion) {
    let data = sample();
    let blocks: Vec<&[u8]> = data.chunks(65536).collect();
    let mut g = c.benchmark_group("codec");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.sample_size(10);

    g.bench_function(BenchmarkId::new("v2_encode", data.len()), |b| {
        let mut out = Vec::with_capacity(70_000);
        b.iter(|| {
            for blk in &blocks {
                out.clear();
                std::hint::black_box(codec::encode_block(blk, &mut out));
            }
        })
    });

    let encoded: Vec<(BlockCoding, Vec<u8>)> = blocks
        .iter()
        .map(|blk| {
            let mut p = Vec::new();
            (codec::encode_block(blk, &mut p), p)
        })
        .collect();
    g.bench_function(BenchmarkId::new("v2_decode", data.len()), |b| {
        let mut out = vec![0u8; 65536];
        b.iter(|| {
            for (blk, (c, p)) in blocks.iter().zip(&encoded) {
                let o = &mut out[..blk.len()];
                match c {
                    BlockCoding::Huffman => codec::decode_block(p, o).expect("valid"),
                    BlockCoding::Lz => codec::decode_lz_block(p, o).expect("valid"),
                    BlockCoding::Raw => o.copy_from_slice(blk),
                    BlockCoding::Zero => o.fill(0),
                    BlockCoding::Fill(x) => o.fill(*x),
                }
            }
        })
    });

    // LZ levels (FORMAT.md section 5): encode and decode per level.
    for level in [Level::Fast, Level::Default, Level::Max] {
        let name = format!("lz_{}_encode", level.name());
        g.bench_function(BenchmarkId::new(name, data.len()), |b| {
            let mut out = Vec::with_capacity(70_000);
            b.iter(|| {
                for blk in &blocks {
                    out.clear();
                    std::hint::black_box(codec::encode_block_level(blk, level, &mut out));
                }
            })
        });
        let encoded: Vec<(BlockCoding, Vec<u8>)> = blocks
            .iter()
            .map(|blk| {
                let mut p = Vec::new();
                (codec::encode_block_level(blk, level, &mut p), p)
            })
            .collect();
        let name = format!("lz_{}_decode", level.name());
        g.bench_function(BenchmarkId::new(name, data.len()), |b| {
            let mut out = vec![0u8; 65536];
            b.iter(|| {
                for (blk, (c, p)) in blocks.iter().zip(&encoded) {
                    let o = &mut out[..blk.len()];
                    match c {
                        BlockCoding::Huffman => codec::decode_block(p, o).expect("valid"),
                        BlockCoding::Lz => codec::decode_lz_block(p, o).expect("valid"),
                        BlockCoding::Raw => o.copy_from_slice(blk),
                        BlockCoding::Zero => o.fill(0),
                        BlockCoding::Fill(x) => o.fill(*x),
                    }
                }
            })
        });
    }

    let v1: Vec<([u8; 256], Vec<u8>)> = data
        .chunks(64000)
        .map(|blk| {
            let lens = codec::code_lengths(&codec::histogram(blk), codec::MAX_CODE_LEN);
            let mut s = Vec::new();
            codec::encode_stream(blk, &lens, &mut s);
            (lens, s)
        })
        .collect();
    g.bench_function(BenchmarkId::new("v1_encode", data.len()), |b| {
        let mut s = Vec::with_capacity(70_000);
        b.iter(|| {
            for blk in data.chunks(64000) {
                let hist = codec::histogram(blk);
                let lens = codec::code_lengths(&hist, codec::MAX_CODE_LEN);
                s.clear();
                codec::encode_stream(blk, &lens, &mut s);
            }
        })
    });
    g.bench_function(BenchmarkId::new("v1_decode", data.len()), |b| {
        let mut out = vec![0u8; 64000];
        b.iter(|| {
            for (blk, (lens, s)) in data.chunks(64000).zip(&v1) {
                codec::decode_stream(lens, s, &mut out[..blk.len()]).expect("valid");
            }
        })
    });

    let hist = codec::histogram(blocks[0]);
    g.throughput(Throughput::Elements(1));
    g.bench_function("code_lengths_11", |b| {
        b.iter(|| codec::code_lengths(std::hint::black_box(&hist), 11))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
