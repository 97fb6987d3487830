//! Fuzz target: the LZ block decoder (docs/FORMAT.md section 5) on
//! arbitrary bytes. Input: 3 bytes giving the decoded length (little
//! endian, modulo 1 MiB, plus 1), then the payload. The decoder must
//! return Ok or an error, never panic, overrun or allocate beyond the
//! decoded length; whatever it accepts must survive a round trip through
//! the encoder at every level.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scfs::codec::{self, BlockCoding, Level};

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let n = (usize::from(data[0]) | usize::from(data[1]) << 8 | usize::from(data[2]) << 16)
        % codec::MAX_BLOCK_LEN
        + 1;
    let payload = &data[3..];
    let mut out = vec![0u8; n];
    if codec::decode_lz_block(payload, &mut out).is_err() {
        return;
    }
    for level in [Level::Fast, Level::Default, Level::Max] {
        let mut p = Vec::new();
        let c = codec::encode_block_level(&out, level, &mut p);
        let mut back = vec![0u8; n];
        match c {
            BlockCoding::Lz => codec::decode_lz_block(&p, &mut back).expect("own payload"),
            BlockCoding::Huffman => codec::decode_block(&p, &mut back).expect("own payload"),
            BlockCoding::Raw => back.copy_from_slice(&out),
            BlockCoding::Zero => back.fill(0),
            BlockCoding::Fill(b) => back.fill(b),
        }
        assert!(back == out, "round trip at {level:?}");
    }
});
