//! Canonical Huffman codec. PLACEHOLDER API (no compression yet): the codec
//! work replaces this file wholesale; the signatures follow docs/DESIGN.md.

use std::fmt;

/// Longest code our encoders produce.
pub const MAX_CODE_LEN: u32 = 11;

/// A decoding failure: the input is not a valid stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecError(pub String);

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CodecError {}

/// How the v2 container should store one block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockCoding {
    Zero,
    Fill(u8),
    Raw,
    Huffman,
}

/// Chooses the cheapest coding for `data` (placeholder: never Huffman).
pub fn encode_block(data: &[u8], _out: &mut Vec<u8>) -> BlockCoding {
    match data.first() {
        None | Some(0) if data.iter().all(|&b| b == 0) => BlockCoding::Zero,
        Some(&b) if data.iter().all(|&x| x == b) => BlockCoding::Fill(b),
        _ => BlockCoding::Raw,
    }
}

/// Decodes a Huffman block payload (placeholder: always an error).
pub fn decode_block(_payload: &[u8], _out: &mut [u8]) -> Result<(), CodecError> {
    Err(CodecError("Huffman blocks not supported yet".into()))
}
