//! Decode-only timing of v2 blocks (65536-byte blocks, the `huffman` level's
//! coding) per corpus file:
//! encodes once, then times `decode_block` (plus Raw/Zero/Fill copies, as
//! bench_codec does) best of N by thread CPU time and wall time.
//!
//!     cargo run --release --example bench_decode -- [DIR] [--reps N]

mod common;

use common::thread_cpu;
use scfs::codec::{self, BlockCoding};
use std::time::Instant;

fn main() {
    let (dir, reps) = common::args(10);
    let files = common::corpus_files(&dir);
    let (mut tb, mut tc, mut tw) = (0u64, 0f64, 0f64);
    println!("| file | MB/s (cpu) | MB/s (wall) |");
    for f in &files {
        let data = std::fs::read(f).unwrap();
        let blocks: Vec<&[u8]> = data.chunks(65536).collect();
        let enc: Vec<(BlockCoding, Vec<u8>)> = blocks
            .iter()
            .map(|b| {
                let mut p = Vec::new();
                let c = codec::encode_block_huffman(b, &mut p);
                (c, p)
            })
            .collect();
        let mut out = vec![0u8; data.len()];
        let (mut bc, mut bw) = (f64::MAX, f64::MAX);
        for _ in 0..reps {
            let c0 = thread_cpu();
            let t0 = Instant::now();
            for ((b, (c, p)), o) in blocks.iter().zip(&enc).zip(out.chunks_mut(65536)) {
                match c {
                    BlockCoding::Zero => o.fill(0),
                    BlockCoding::Fill(x) => o.fill(*x),
                    BlockCoding::Raw => o.copy_from_slice(b),
                    BlockCoding::Huffman => codec::decode_block(p, o).expect("decodes"),
                    BlockCoding::Lz => codec::decode_lz_block(p, o).expect("decodes"),
                }
            }
            bw = bw.min(t0.elapsed().as_secs_f64());
            bc = bc.min(thread_cpu() - c0);
        }
        assert!(out == data);
        let n = data.len() as f64;
        println!(
            "| {} | {:.0} | {:.0} |",
            f.file_name().unwrap().to_string_lossy(),
            n / bc / 1e6,
            n / bw / 1e6
        );
        tb += data.len() as u64;
        tc += bc;
        tw += bw;
    }
    println!(
        "| total | {:.0} | {:.0} |",
        tb as f64 / tc / 1e6,
        tb as f64 / tw / 1e6
    );
}
