//! Unit and property tests of the tc v1 reader, writer and pipeline.
use super::*;
use crate::testrng::Rng;
use proptest::prelude::*;

fn roundtrip(data: &[u8]) -> Vec<u8> {
    let mut enc = Vec::new();
    compress(data, &mut enc, |_| {}).unwrap();
    let mut dec = Vec::new();
    decompress(&enc[..], &mut dec, |_| {}).unwrap();
    assert_eq!(dec, data);
    enc
}

#[test]
fn empty_is_header_only() {
    assert_eq!(roundtrip(&[]), file_header().to_vec());
}

#[test]
fn table_checks() {
    let mut t = [0u8; 256];
    assert!(check_table(&t).is_err());
    t[7] = 1;
    assert!(check_table(&t).is_ok());
    t[7] = 2;
    assert!(check_table(&t).is_err());
    t[7] = 1;
    t[8] = 1;
    assert!(check_table(&t).is_ok());
    t[9] = 1;
    assert!(check_table(&t).is_err());
    let mut t = [8u8; 256];
    assert!(check_table(&t).is_ok());
    t[0] = 33;
    assert!(check_table(&t).is_err());
    let mut t = [0u8; 256];
    t[0] = 32;
    t[1] = 32;
    assert!(check_table(&t).is_err()); // incomplete
}

#[test]
fn block_boundaries() {
    for n in [1usize, 63_999, 64_000, 64_001, 128_000] {
        let data: Vec<u8> = (0..n).map(|i| (i % 7) as u8).collect();
        let enc = roundtrip(&data);
        let blocks = n.div_ceil(BLOCK_LEN);
        assert!(enc.len() >= FILE_HEADER_LEN + blocks * BLOCK_HEADER_LEN);
    }
}

#[test]
fn incompressible_is_stored() {
    let data = Rng(0x9E37_79B9_7F4A_7C15).bytes(100_000, |x| x as u8);
    let enc = roundtrip(&data);
    assert_eq!(
        enc.len(),
        FILE_HEADER_LEN + 2 * BLOCK_HEADER_LEN + data.len()
    );
    assert_eq!(enc[FILE_HEADER_LEN], TYPE_STORED);
}

/// The one-block-at-a-time writer, for comparison with the pipeline.
fn sequential(data: &[u8]) -> Vec<u8> {
    let mut w = Writer::new(Vec::new()).unwrap();
    for chunk in data.chunks(BLOCK_LEN) {
        w.write_block(chunk).unwrap();
    }
    w.finish().unwrap().0
}

/// The one-block-at-a-time reader.
fn sequential_decode(enc: &[u8]) -> Result<Vec<u8>, Tcv1Error> {
    let mut r = Reader::new(enc)?;
    let mut out = Vec::new();
    let mut buf = Vec::new();
    while r.next_block(&mut buf)?.is_some() {
        out.extend_from_slice(&buf);
    }
    Ok(out)
}

fn structured(seed: u64, n: usize, alphabet: u8) -> Vec<u8> {
    let mut r = Rng(seed | 1);
    (0..n)
        .map(|i| {
            let x = r.u64();
            // Skewed: low values far more frequent; runs every so often.
            if i % 1000 < 50 {
                b'r'
            } else {
                ((x % u64::from(alphabet)) as u8).wrapping_mul((x >> 40) as u8 % 3)
            }
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    #[test]
    fn prop_round_trip_random(data in proptest::collection::vec(any::<u8>(), 0..150_000)) {
        let enc = roundtrip(&data);
        prop_assert_eq!(&enc, &sequential(&data));
        // Incompressible data costs at most the block headers.
        let blocks = data.len().div_ceil(BLOCK_LEN);
        prop_assert!(enc.len() <= FILE_HEADER_LEN + blocks * BLOCK_HEADER_LEN + data.len());
    }

    #[test]
    fn prop_round_trip_structured(seed in any::<u64>(), n in 0usize..300_000, alphabet in 1u8..=255) {
        let data = structured(seed, n, alphabet);
        let enc = roundtrip(&data);
        prop_assert_eq!(&enc, &sequential(&data));
        prop_assert_eq!(sequential_decode(&enc).unwrap(), data);
    }
}

#[test]
fn errors_come_in_stream_order() {
    // Blocks: good, corrupt (bad table), good, then a truncated header. The
    // parallel decoder must report block 1, as the sequential one does.
    let good = roundtrip(&structured(5, 64_000 * 3, 40));
    let second = FILE_HEADER_LEN
        + BLOCK_HEADER_LEN
        + u64::from_le_bytes(
            good[FILE_HEADER_LEN + 9..FILE_HEADER_LEN + 17]
                .try_into()
                .unwrap(),
        ) as usize;
    let mut bad = good.clone();
    bad[second + 17..second + 17 + 256].fill(1); // oversubscribed code
    bad.extend_from_slice(&[0u8; 100]); // partial header at the end
    for e in [
        decompress(&bad[..], std::io::sink(), |_| {}).unwrap_err(),
        sequential_decode(&bad).unwrap_err(),
    ] {
        match e {
            Tcv1Error::Corrupt { block, offset, .. } => {
                assert_eq!(block, Some(1));
                assert_eq!(offset, second as u64 + 17);
            }
            e => panic!("{e}"),
        }
    }
    // Only the trailing junk: reported at its offset.
    let mut junk = good.clone();
    junk.extend_from_slice(&[0u8; 100]);
    match decompress(&junk[..], std::io::sink(), |_| {}).unwrap_err() {
        Tcv1Error::Corrupt { block, offset, msg } => {
            assert_eq!(block, Some(3));
            assert_eq!(offset, good.len() as u64 + 100);
            assert!(msg.contains("truncated"), "{msg}");
        }
        e => panic!("{e}"),
    }
}

#[test]
fn write_errors_are_write_errors() {
    struct Full;
    impl std::io::Write for Full {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk full"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    assert!(matches!(
        compress(&b"abc"[..], Full, |_| {}),
        Err(Tcv1Error::Write(_))
    ));
    let enc = roundtrip(b"hello hello");
    assert!(matches!(
        decompress(&enc[..], Full, |_| {}),
        Err(Tcv1Error::Write(_))
    ));
}

#[test]
fn skip_data_walks_headers() {
    let data = structured(9, 200_000, 20);
    let enc = roundtrip(&data);
    let mut r = Reader::new(std::io::Cursor::new(&enc)).unwrap();
    let mut total = 0;
    while let Some(h) = r.next_header().unwrap() {
        r.skip_data(&h).unwrap();
        total += h.uncompressed;
    }
    assert_eq!(total, 200_000);
    let cut = &enc[..enc.len() - 5];
    let mut r = Reader::new(std::io::Cursor::new(cut)).unwrap();
    let err = loop {
        match r.next_header() {
            Ok(Some(h)) => {
                if let Err(e) = r.skip_data(&h) {
                    break e;
                }
            }
            Ok(None) => panic!("truncation not seen"),
            Err(e) => break e,
        }
    };
    assert!(err.to_string().contains("truncated"), "{err}");
}
