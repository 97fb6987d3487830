//! Fuzz target: the tc v1 stream decoder on arbitrary bytes. It must return
//! Ok or an error, never panic, hang or allocate beyond its limits.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = scfs::tcv1::decompress(data, std::io::sink(), |_| {});
});
