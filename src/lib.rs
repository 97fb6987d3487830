//! scfs: a FUSE filesystem that compresses files transparently.
//!
//! Layers, each knowing only the one below it:
//! `cli` -> `fs` (FUSE frontend) -> `file` (logical file) -> `cache`
//! (decoded blocks) -> `container` (v2 on-disk format) -> `codec`
//! (LZ77 + canonical Huffman). `tcv1` is the legacy stream format spoken by
//! `scfs compress` / `scfs decompress`. `metrics` holds a mount's live
//! counters (`scfs status`).

pub mod cache;
pub mod cli;
pub mod codec;
pub mod container;
pub mod file;
pub mod fs;
pub mod metrics;
pub mod size;
pub(crate) mod sys;
pub mod tcv1;

/// The unit tests' pseudo-random generator: the integration tests' one.
#[cfg(test)]
#[allow(dead_code)]
#[path = "../tests/common/rng.rs"]
pub(crate) mod testrng;
