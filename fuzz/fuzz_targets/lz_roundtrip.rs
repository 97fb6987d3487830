//! Fuzz target: every LZ level's encoder on arbitrary bytes (the input is
//! the block, up to libFuzzer's length limit), then the decoder of the
//! coding it chose. The encoders must never panic, and every block must
//! come back exactly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scfs::codec::{self, BlockCoding, Level};

fuzz_target!(|data: &[u8]| {
    if data.is_empty() || data.len() > codec::MAX_BLOCK_LEN {
        return;
    }
    for level in Level::ALL {
        let mut p = Vec::new();
        let c = codec::encode_block_level(data, level, &mut p);
        let mut back = vec![0u8; data.len()];
        match c {
            BlockCoding::Lz => codec::decode_lz_block(&p, &mut back).expect("own LZ payload"),
            BlockCoding::Huffman => codec::decode_block(&p, &mut back).expect("own payload"),
            BlockCoding::Raw => back.copy_from_slice(data),
            BlockCoding::Zero => back.fill(0),
            BlockCoding::Fill(b) => back.fill(b),
        }
        assert!(back == data, "round trip at {level:?}");
    }
});
