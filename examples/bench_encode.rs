//! Encode-only timing of v2 blocks (65536-byte blocks) per corpus file:
//! `encode_block` best of N by thread CPU time, with the payload ratio
//! and the ratio counting ~40 bytes of container overhead a block. Each
//! Huffman block is decoded and compared once (skip with NOVERIFY=1), so
//! quick A/B runs of encoder changes cannot go wrong silently.
//!
//!     cargo run --release --example bench_encode -- [DIR] [--reps N]
mod common;
use common::thread_cpu;
use scfs::codec::{self, BlockCoding};

fn main() {
    let verify = std::env::var_os("NOVERIFY").is_none();
    let (dir, reps) = common::args(4);
    let files = common::corpus_files(&dir);
    let (mut to, mut tp, mut tt, mut tb) = (0u64, 0u64, 0f64, 0u64);
    for f in &files {
        let data = std::fs::read(f).unwrap();
        let blocks: Vec<&[u8]> = data.chunks(65536).collect();
        let mut best = f64::MAX;
        let mut payload = 0u64;
        let mut outs: Vec<(BlockCoding, Vec<u8>)> = Vec::new();
        for _ in 0..reps {
            let mut o = Vec::with_capacity(blocks.len());
            let c = thread_cpu();
            for b in &blocks {
                let mut p = Vec::new();
                let k = codec::encode_block(b, &mut p);
                o.push((k, p));
            }
            best = best.min(thread_cpu() - c);
            outs = o;
        }
        for ((k, p), b) in outs.iter().zip(&blocks) {
            payload += match k {
                BlockCoding::Zero | BlockCoding::Fill(_) => 0,
                BlockCoding::Raw => b.len() as u64,
                BlockCoding::Huffman | BlockCoding::Lz => p.len() as u64,
            };
            if verify && matches!(k, BlockCoding::Huffman) {
                let mut d = vec![0u8; b.len()];
                codec::decode_block(p, &mut d).unwrap();
                assert!(&d[..] == *b);
            }
        }
        let n = data.len() as u64;
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        println!(
            "{name:8} payload {:.4} total {:.4} enc {:.0} MB/s bytes {payload}",
            n as f64 / payload as f64,
            n as f64 / (payload + 40 * blocks.len() as u64) as f64,
            n as f64 / best / 1e6
        );
        to += n;
        tp += payload;
        tt += best;
        tb += blocks.len() as u64;
    }
    println!(
        "TOTAL    payload {:.4} total {:.5} enc {:.0} MB/s bytes {tp}",
        to as f64 / tp as f64,
        to as f64 / (tp + 40 * tb) as f64,
        to as f64 / tt / 1e6
    );
}
