//! The LZ decoder's answers to hostile and hand-made payloads: truncations,
//! bit flips, parses and tables that lie, streams cut short or padded
//! (docs/FORMAT.md section 5). Always an error with its data, never a panic.

use super::tests::*;
use super::*;
use crate::codec::CodecError;
use encode::{Parse, Writer};

#[test]
fn truncations_are_errors_and_bit_flips_never_panic() {
    for (data, level) in [
        (texty(5000, 31), Level::Fast),
        (mixed(20_000, 32), Level::Default),
        (runs(3000, 33), Level::Max),
    ] {
        let p = lz_payload(&data, level);
        let mut out = vec![0u8; data.len()];
        for cut in 0..p.len() {
            assert!(
                decode_lz_block(&p[..cut], &mut out).is_err(),
                "prefix {cut}"
            );
        }
        let mut extra = p.clone();
        extra.push(0);
        assert!(decode_lz_block(&extra, &mut out).is_err(), "trailing byte");
        let mut q = p.clone();
        for i in 0..q.len() * 8 {
            q[i / 8] ^= 1 << (i % 8);
            // Err or some bytes of the right length; never a panic.
            let _ = decode_lz_block(&q, &mut out);
            q[i / 8] ^= 1 << (i % 8);
        }
        // Wrong decoded lengths.
        for n in [data.len() - 1, data.len() + 1] {
            assert!(decode_lz_block(&p, &mut vec![0u8; n]).is_err());
        }
        decode_lz_block(&p, &mut out).unwrap();
        assert!(out == data);
    }
}

/// The payload of a hand-made parse (not necessarily valid).
fn payload_of(seqs: &[encode::Seq], lits: &[u8]) -> Vec<u8> {
    let parse = Parse {
        seqs: seqs.to_vec(),
        lits: lits.to_vec(),
    };
    let mut out = Vec::new();
    Writer::default().write(&parse, &mut out);
    out
}

fn seq(ll: u32, ml: u32, off: u32) -> encode::Seq {
    encode::Seq { ll, ml, off }
}

fn lz_err(p: &[u8], n: usize) -> LzError {
    let mut out = vec![0u8; n];
    match decode_lz_block(p, &mut out).unwrap_err() {
        CodecError::Lz(e) => e,
        e => panic!("not an LZ error: {e}"),
    }
}

#[test]
fn hand_made_parses_decode() {
    // "abcabcabcabc": 3 literals, one overlapping match at offset 3.
    let p = payload_of(&[seq(3, 9, 3)], b"abc");
    let mut out = vec![0u8; 12];
    decode_lz_block(&p, &mut out).unwrap();
    assert_eq!(&out, b"abcabcabcabc");
    // Repeat offsets: offset 4 is R1 at the start, 8 is R2.
    let lits = b"0123456789ABCDEF";
    let p = payload_of(&[seq(8, 4, 4), seq(4, 3, 8), seq(4, 3, 4)], lits);
    let mut out = vec![0u8; 16 + 10];
    decode_lz_block(&p, &mut out).unwrap();
    assert_eq!(&out, b"01234567456789AB456CDEFCDE");
}

#[test]
fn hostile_parses_are_rejected_with_their_data() {
    // Offset past the start.
    let p = payload_of(&[seq(2, 5, 3)], b"ab");
    assert_eq!(
        lz_err(&p, 7),
        LzError::OffsetBeforeStart {
            seq: 0,
            pos: 2,
            offset: 3
        }
    );
    // Match past the end of the block.
    let p = payload_of(&[seq(2, 9, 1)], b"ab");
    assert_eq!(
        lz_err(&p, 8),
        LzError::PastEnd {
            seq: 0,
            end: 11,
            len: 8
        }
    );
    // More literals used than given: ll = 5 with 2 literals.
    let p = payload_of(&[seq(5, 3, 1)], b"ab");
    assert!(matches!(lz_err(&p, 8), LzError::LiteralsOverrun { .. }));
    // Lengths that do not add up (one byte short / long).
    let p = payload_of(&[seq(2, 3, 1)], b"abc");
    assert!(matches!(lz_err(&p, 7), LzError::LengthMismatch { .. }));
    assert!(matches!(lz_err(&p, 5), LzError::LengthMismatch { .. }));
    // Counts too large for the block.
    assert!(matches!(lz_err(&[200, 1, 0, 0], 30), LzError::Count { .. }));
    assert!(matches!(lz_err(&[0, 0, 40], 30), LzError::Count { .. }));
    // Unknown literal mode, non-minimal varint, empty fill.
    assert_eq!(lz_err(&[0, 7, 1, 0], 1), LzError::LiteralMode { mode: 7 });
    assert!(matches!(
        lz_err(&[0x80, 0x00, 0, 1, 9], 1),
        LzError::BadVarint { .. }
    ));
    assert!(matches!(lz_err(&[0, 2, 0, 5], 1), LzError::Count { .. }));
    // nseq = 0: all literals, nothing after them.
    let mut out = [0u8; 3];
    decode_lz_block(&[0, 0, 3, b'x', b'y', b'z'], &mut out).unwrap();
    assert_eq!(&out, b"xyz");
    assert_eq!(
        lz_err(&[0, 0, 3, 1, 2, 3, 4], 3),
        LzError::Trailing { extra: 1 }
    );
    assert!(matches!(
        lz_err(&[0, 0, 2, 1, 2], 3),
        LzError::LengthMismatch { .. }
    ));
}

#[test]
fn hostile_tables_are_rejected() {
    let p = payload_of(&[seq(2, 5, 1), seq(0, 4, 2)], b"ab");
    let mut out = vec![0u8; 11];
    decode_lz_block(&p, &mut out).unwrap();
    // The LL table starts after "nseq lmode nlit literals" = 5 bytes.
    let t = 5;
    // Mode 2 ("previous table") in the LL table.
    let mut q = p.clone();
    q[t] = (q[t] & !3) | 2;
    assert!(matches!(lz_err(&q, 11), LzError::Table { which: "LL", .. }));
    // A one-symbol LL table naming a symbol past the alphabet.
    let mut q = p[..t].to_vec();
    q.extend_from_slice(&[(200 << 2) as u8, (200 >> 6) as u8]);
    q.extend_from_slice(&p[t..]);
    assert!(matches!(
        lz_err(&q, 11),
        LzError::SymbolOutOfRange { which: "LL", .. } | LzError::Table { .. }
    ));
}

/// A varint as the format writes it (tests build payloads by hand).
fn put_var(out: &mut Vec<u8>, mut v: usize) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_var(p: &[u8], pos: &mut usize) -> usize {
    let mut v = 0;
    for i in 0.. {
        let b = p[*pos];
        *pos += 1;
        v |= usize::from(b & 0x7F) << (7 * i);
        if b & 0x80 == 0 {
            break;
        }
    }
    v
}

/// Payloads whose LL, ML or OF stream is cut short (its size field made
/// smaller, its tail removed) or made longer (zero bytes added), over
/// hundreds of sequences so that the decoder meets the cut at a batch
/// boundary as well as inside a batch: always an error, never a panic or
/// an overrun (the sequence loop reads the streams without per-read
/// bounds checks, trusting its per-batch check).
#[test]
fn cut_and_padded_sequence_streams_are_errors() {
    let mut seed = 0x5EED_u64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let lits: Vec<u8> = (0..3000).map(|i| b"abcdefghij"[i % 10]).collect();
    let mut seqs = Vec::new();
    let (mut lp, mut op) = (0usize, 0usize);
    while lp + 20 < lits.len() && seqs.len() < 300 {
        let ll = (rnd() % 12) as u32;
        let ml = 3 + (rnd() % 40) as u32;
        lp += ll as usize;
        op += ll as usize;
        let off = 1 + (rnd() % op.max(1) as u64) as u32;
        seqs.push(seq(ll, ml, off.min(op as u32).max(1)));
        op += ml as usize;
    }
    let n = op + (lits.len() - lp);
    let p = payload_of(&seqs, &lits);
    let mut out = vec![0u8; n];
    decode_lz_block(&p, &mut out).expect("the uncut payload decodes");
    // Walk to the stream sizes: header, literal section, three tables.
    let mut pos = 0;
    assert_eq!(get_var(&p, &mut pos), seqs.len());
    let lmode = p[pos];
    pos += 1;
    let nlit = get_var(&p, &mut pos);
    match lmode {
        spec::LMODE_RAW => pos += nlit,
        spec::LMODE_HUFFMAN => {
            let l = get_var(&p, &mut pos);
            pos += l;
        }
        _ => pos += 1,
    }
    let mut prev = None;
    for _ in 0..3 {
        let (l, _, used) = crate::codec::table::decode_table(&p[pos..], prev.as_ref()).unwrap();
        pos += used;
        prev = Some(l);
    }
    let head = pos;
    let ll = get_var(&p, &mut pos);
    let ml = get_var(&p, &mut pos);
    let body = pos;
    let sizes = [ll, ml, p.len() - body - ll - ml];
    assert!(sizes.iter().all(|&s| s > 8), "{sizes:?}");
    let (mut tried, mut overruns) = (0, 0);
    for k in 0..3 {
        for change in [-1isize, -2, -5, -9, -17, -33, 1, 7, 64] {
            let new = sizes[k] as isize + change;
            if new < 0 {
                continue;
            }
            let mut s2 = sizes;
            s2[k] = new as usize;
            let mut q = p[..head].to_vec();
            put_var(&mut q, s2[0]);
            put_var(&mut q, s2[1]);
            let mut at = body;
            for (j, &sz) in sizes.iter().enumerate() {
                let st = &p[at..at + sz];
                at += sz;
                if j == k && change < 0 {
                    q.extend_from_slice(&st[..s2[j]]);
                } else {
                    q.extend_from_slice(st);
                    q.resize(q.len() + s2[j] - sz, 0);
                }
            }
            let mut out = vec![0u8; n];
            match decode_lz_block(&q, &mut out) {
                Ok(()) => panic!("stream {k} changed by {change} bytes decodes"),
                Err(CodecError::Lz(LzError::StreamOverrun { .. })) => overruns += 1,
                Err(_) => {}
            }
            tried += 1;
        }
    }
    assert!(tried >= 20);
    // Some cuts are caught by the per-batch check itself.
    assert!(overruns > 0);
}
