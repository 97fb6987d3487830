//! Regression inputs kept from fuzzing (fuzz/): every file under
//! tests/cli_fuzz_cases/tcv1 goes through the tc v1 decoder and every file
//! under tests/cli_fuzz_cases/container through the v2 container reader, as
//! the fuzz targets do. They must give a result or an error, never panic.

use std::fs;
use std::os::unix::fs::FileExt;
use std::path::Path;

use scfs::container::Container;

fn cases(sub: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cli_fuzz_cases")
        .join(sub);
    let mut v: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                fs::read(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn tcv1_decoder_regressions() {
    let cases = cases("tcv1");
    assert!(!cases.is_empty());
    for (name, data) in cases {
        let r = scfs::tcv1::decompress(&data[..], std::io::sink(), |_| {});
        // Every kept case is a hostile input: it must be rejected cleanly.
        assert!(r.is_err(), "{name}: accepted");
    }
}

#[test]
fn container_reader_regressions() {
    let cases = cases("container");
    assert!(!cases.is_empty());
    let dir = tempfile::tempdir().unwrap();
    for (name, data) in cases {
        let path = dir.path().join(&name);
        let f = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        f.write_all_at(&data, 0).unwrap();
        let Ok(c) = Container::open(f, false) else {
            continue;
        };
        let bs = c.block_size() as usize;
        let nblocks = c.logical_size().div_ceil(bs as u64);
        let mut buf = vec![0u8; bs];
        let mut b = 0;
        while let Some(n) = c.next_data_block(b).filter(|&n| n < nblocks) {
            let _ = c.read_block(n, &mut buf);
            b = n + 1;
        }
        let _ = c.stats();
    }
}
