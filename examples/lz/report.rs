//! The LZ section of the codec report (docs/BENCHMARKS.md, codec section):
//! our levels (`encode_block_level`) against zstd -1, zstd -3 and lz4 on
//! the same independent blocks, single threaded, in memory. Sizes are
//! payload bytes (a Raw block counts its length, Zero / Fill 0; zstd
//! frames include their few header bytes); speeds in MB/s of original
//! data by thread CPU time
//! (which a loaded machine inflates less than wall time), best of N runs.

use crate::common::thread_cpu;
use scfs::codec::{self, BlockCoding, Level};

/// One coder's totals.
#[derive(Default, Clone, Copy)]
pub struct Tot {
    orig: u64,
    comp: u64,
    t_enc: f64,
    t_dec: f64,
}

impl Tot {
    fn add(&mut self, o: &Tot) {
        self.orig += o.orig;
        self.comp += o.comp;
        self.t_enc += o.t_enc;
        self.t_dec += o.t_dec;
    }
}

/// The coders compared.
pub const CODERS: [&str; 7] = [
    "huffman", "fast", "default", "max", "zstd -1", "zstd -3", "lz4",
];

fn best<T>(reps: usize, mut f: impl FnMut() -> T) -> (T, f64) {
    let mut b = f64::MAX;
    let mut r = None;
    for _ in 0..reps {
        let t = thread_cpu();
        let x = f();
        b = b.min(thread_cpu() - t);
        r = Some(x);
    }
    (r.expect("reps >= 1"), b)
}

/// Compresses and decompresses `data` in `block`-byte blocks with coder
/// `k` (an index into CODERS); checks the round trip.
fn run(k: usize, data: &[u8], block: usize, reps: usize) -> Tot {
    let blocks: Vec<&[u8]> = data.chunks(block).collect();
    let mut outs: Vec<Vec<u8>> = blocks
        .iter()
        .map(|_| Vec::with_capacity(block + 1024))
        .collect();
    let mut back = vec![0u8; data.len()];
    let mut tot = Tot {
        orig: data.len() as u64,
        ..Tot::default()
    };
    if k < 4 {
        let level = Level::ALL[k];
        let (codings, t) = best(reps, || {
            blocks
                .iter()
                .zip(outs.iter_mut())
                .map(|(b, o)| {
                    o.clear();
                    codec::encode_block_level(b, level, o)
                })
                .collect::<Vec<_>>()
        });
        tot.t_enc = t;
        for ((c, o), b) in codings.iter().zip(&outs).zip(&blocks) {
            tot.comp += match c {
                BlockCoding::Zero | BlockCoding::Fill(_) => 0,
                BlockCoding::Raw => b.len() as u64,
                BlockCoding::Huffman | BlockCoding::Lz => o.len() as u64,
            };
        }
        let ((), t) = best(reps, || {
            for (((b, c), p), o) in blocks
                .iter()
                .zip(&codings)
                .zip(&outs)
                .zip(back.chunks_mut(block))
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
        tot.t_dec = t;
    } else if k < 6 {
        let level = if k == 4 { 1 } else { 3 };
        let mut c = zstd::bulk::Compressor::new(level).expect("zstd");
        let ((), t) = best(reps, || {
            for (b, o) in blocks.iter().zip(outs.iter_mut()) {
                o.clear();
                c.compress_to_buffer(b, o).expect("zstd compresses");
            }
        });
        tot.t_enc = t;
        tot.comp = outs.iter().map(|o| o.len() as u64).sum();
        let mut d = zstd::bulk::Decompressor::new().expect("zstd");
        let ((), t) = best(reps, || {
            for (p, o) in outs.iter().zip(back.chunks_mut(block)) {
                let n = d.decompress_to_buffer(p, o).expect("zstd decompresses");
                assert_eq!(n, o.len());
            }
        });
        tot.t_dec = t;
    } else {
        for o in outs.iter_mut() {
            o.resize(lz4_flex::block::get_maximum_output_size(block), 0);
        }
        let (sizes, t) = best(reps, || {
            blocks
                .iter()
                .zip(outs.iter_mut())
                .map(|(b, o)| lz4_flex::block::compress_into(b, o).expect("lz4 compresses"))
                .collect::<Vec<_>>()
        });
        tot.t_enc = t;
        tot.comp = sizes.iter().map(|&s| s as u64).sum();
        let ((), t) = best(reps, || {
            for ((p, &s), o) in outs.iter().zip(&sizes).zip(back.chunks_mut(block)) {
                let n = lz4_flex::block::decompress_into(&p[..s], o).expect("lz4 decompresses");
                assert_eq!(n, o.len());
            }
        });
        tot.t_dec = t;
    }
    assert!(back == data, "{} round trip failed", CODERS[k]);
    tot
}

fn mbs(bytes: u64, secs: f64) -> f64 {
    bytes as f64 / secs / 1e6
}

/// Prints the LZ report for `files` at each block size.
pub fn report(files: &[std::path::PathBuf], reps: usize, blocks: &[usize]) {
    let datas: Vec<(String, Vec<u8>)> = files
        .iter()
        .map(|f| {
            let d = std::fs::read(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            (
                f.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned(),
                d,
            )
        })
        .collect();
    for &block in blocks {
        println!();
        println!("LZ levels vs zstd / lz4, {block}-byte blocks (ratio / compress MB/s / decompress MB/s)");
        println!();
        let head: Vec<String> = CODERS.iter().map(|c| c.to_string()).collect();
        println!("| file | {} |", head.join(" | "));
        println!("|---|{}", "---|".repeat(CODERS.len()));
        let mut totals = [Tot::default(); CODERS.len()];
        for (name, data) in &datas {
            let mut cells = Vec::new();
            for (k, t) in totals.iter_mut().enumerate() {
                let r = run(k, data, block, reps);
                cells.push(format!(
                    "{:.3} / {:.0} / {:.0}",
                    r.orig as f64 / r.comp as f64,
                    mbs(r.orig, r.t_enc),
                    mbs(r.orig, r.t_dec)
                ));
                t.add(&r);
            }
            println!("| {name} | {} |", cells.join(" | "));
        }
        let cells: Vec<String> = totals
            .iter()
            .map(|r| {
                format!(
                    "**{:.3}** / {:.0} / {:.0}",
                    r.orig as f64 / r.comp as f64,
                    mbs(r.orig, r.t_enc),
                    mbs(r.orig, r.t_dec)
                )
            })
            .collect();
        println!("| **total** | {} |", cells.join(" | "));
    }
}
