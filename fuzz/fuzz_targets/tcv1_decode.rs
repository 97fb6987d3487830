//! Fuzz target: the tc v1 decoder on arbitrary bytes. It must return Ok or
//! an error, never panic, hang or allocate beyond its limits; and the
//! block-parallel `decompress` (what the CLI runs) must agree exactly with
//! the one-block-at-a-time `Reader` (same bytes out, same error).
#![no_main]

use libfuzzer_sys::fuzz_target;
use scfs::tcv1::{self, Reader, Tcv1Error};

fn sequential(data: &[u8], out: &mut Vec<u8>) -> Result<(), Tcv1Error> {
    let mut r = Reader::new(data)?;
    let mut buf = Vec::new();
    while r.next_block(&mut buf)?.is_some() {
        out.extend_from_slice(&buf);
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let mut a = Vec::new();
    let ra = tcv1::decompress(data, &mut a, |_| {});
    let mut b = Vec::new();
    let rb = sequential(data, &mut b);
    match (ra, rb) {
        (Ok(_), Ok(())) => assert_eq!(a, b),
        (Err(x), Err(y)) => assert_eq!(x.to_string(), y.to_string()),
        (x, y) => panic!("pipeline {:?} vs sequential {:?}", x.map(|_| ()), y),
    }
});
