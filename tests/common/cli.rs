//! Helpers for the CLI tests: run the built binary, make test data.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// The 14-byte tc v1 file header.
pub const V1_HEADER: [u8; 14] = [0x0C, 0x00, 0x0D, 0x0E, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0];

pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

pub fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 test path")
}

/// Runs `scfs args...` with `input` on stdin.
pub fn run(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_scfs"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn scfs");
    let mut stdin = child.stdin.take().unwrap();
    let data = input.to_vec();
    // Feed stdin from a thread so a large input cannot deadlock with stdout.
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait scfs");
    feeder.join().unwrap();
    out
}

/// Runs and asserts exit 0.
pub fn ok(args: &[&str]) -> Output {
    let out = run(args, b"");
    assert_eq!(
        out.status.code(),
        Some(0),
        "scfs {args:?}: {}",
        stderr(&out)
    );
    out
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn u64le(b: &[u8]) -> u64 {
    u64::from_le_bytes(b.try_into().unwrap())
}

/// A tc v1 block header.
pub fn block(kind: u8, uncompressed: u64, compressed: u64, table: &[u8; 256]) -> Vec<u8> {
    let mut h = vec![kind];
    h.extend(uncompressed.to_le_bytes());
    h.extend(compressed.to_le_bytes());
    h.extend(table);
    h
}

pub use super::rng::xorshift;

/// English-like text (compressible by an order-0 code).
pub fn text(n: usize) -> Vec<u8> {
    const WORDS: [&str; 12] = [
        "the ", "quick ", "brown ", "fox ", "jumps ", "over ", "a ", "lazy ", "dog. ", "and ",
        "then ", "sleeps\n",
    ];
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        x = xorshift(x);
        out.extend_from_slice(WORDS[(x % 12) as usize].as_bytes());
    }
    out.truncate(n);
    out
}

/// Up to `n` bytes of the Silesia xml file (falls back to generated text
/// when the corpus is not next to the repository).
pub fn silesia_sample(n: usize) -> Vec<u8> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpus/silesia/xml");
    match std::fs::read(path) {
        Ok(mut d) => {
            d.truncate(n);
            d
        }
        Err(_) => text(n),
    }
}
