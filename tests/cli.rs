//! CLI tests through the built `scfs` binary: tc v1 round trips and exact
//! bytes, hostile inputs, exit codes, info/verify/stats output.
//! (v2 containers through the CLI: tests/cli_v2.rs.)

mod common;

use common::cli::*;
use common::rng::noise;
use std::fs;
use std::os::unix::fs::FileTypeExt;

#[test]
fn v1_round_trips_edge_cases() {
    let dir = tempdir();
    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("one", vec![42]),
        ("b64000", text(64_000)),
        ("b64001", text(64_001)),
        ("same", vec![7u8; 200_000]),
        ("all256", (0..=255u8).cycle().take(70_000).collect()),
        ("random", noise(300_000, 1)),
    ];
    cases.push(("silesia", silesia_sample(1 << 20)));
    for (name, data) in &cases {
        let inp = dir.path().join(name);
        let enc = dir.path().join(format!("{name}.tc"));
        let dec = dir.path().join(format!("{name}.out"));
        fs::write(&inp, data).unwrap();
        ok(&["compress", p(&inp), p(&enc)]);
        ok(&["decompress", p(&enc), p(&dec)]);
        assert_eq!(&fs::read(&dec).unwrap(), data, "case {name}");
        let e = fs::read(&enc).unwrap();
        let blocks = data.len().div_ceil(64_000);
        match *name {
            "empty" => assert_eq!(e, V1_HEADER.to_vec()),
            // One distinct value: a one-symbol code costs the header only.
            "same" => assert_eq!(e.len(), 14 + blocks * 273),
            // Random bytes do not shrink: stored, header overhead only.
            "random" => assert_eq!(e.len(), 14 + blocks * 273 + data.len()),
            "silesia" | "b64000" | "b64001" => {
                assert!(e.len() < data.len() * 3 / 4, "{name}: {} bytes", e.len())
            }
            _ => {}
        }
    }
}

#[test]
fn v1_stdin_stdout() {
    let data = text(150_000);
    let enc = run(&["compress", "-", "-"], &data);
    assert_eq!(enc.status.code(), Some(0), "{}", stderr(&enc));
    assert_eq!(&enc.stdout[..6], &V1_HEADER[..6]);
    let dec = run(&["decompress", "-", "-"], &enc.stdout);
    assert_eq!(dec.status.code(), Some(0), "{}", stderr(&dec));
    assert_eq!(dec.stdout, data);
    // No progress or other chatter when stderr is not a terminal.
    assert!(enc.stderr.is_empty() && dec.stderr.is_empty());
    // Same bytes as through files.
    let dir = tempdir();
    let inp = dir.path().join("in");
    let out = dir.path().join("out.tc");
    fs::write(&inp, &data).unwrap();
    ok(&["compress", p(&inp), p(&out)]);
    assert_eq!(fs::read(&out).unwrap(), enc.stdout);
}

/// Decodes a file built by hand from the spec (docs/FORMAT.md section 2).
#[test]
fn v1_hand_built_file_decodes() {
    let mut f = V1_HEADER.to_vec();
    // Block 0: Huffman, "abcab". Lengths a=1, b=2, c=2 -> canonical codes
    // a=0, b=10, c=11. Bits in order 0 10 11 0 10, packed from the LSB up:
    // bit0..7 = 0,1,0,1,1,0,1,0 -> 0b0101_1010 = 0x5A.
    let mut t = [0u8; 256];
    t[b'a' as usize] = 1;
    t[b'b' as usize] = 2;
    t[b'c' as usize] = 2;
    f.extend(block(0, 5, 1, &t));
    f.push(0x5A);
    // Block 1: stored "xyz".
    f.extend(block(1, 3, 3, &[0u8; 256]));
    f.extend(b"xyz");
    // Block 2: one-symbol code: "qqqq" in zero data bytes.
    let mut t = [0u8; 256];
    t[b'q' as usize] = 1;
    f.extend(block(0, 4, 0, &t));
    // Block 3: all 256 symbols with 8-bit codes = the identity bit-reversed:
    // canonical code of byte v is v itself, sent MSB first, so the byte in
    // the stream is v with its bits reversed.
    f.extend(block(0, 2, 2, &[8u8; 256]));
    f.extend([0x01u8.reverse_bits(), 0xF0u8.reverse_bits()]);
    let dec = run(&["decompress", "-", "-"], &f);
    assert_eq!(dec.status.code(), Some(0), "{}", stderr(&dec));
    assert_eq!(dec.stdout, b"abcabxyzqqqq\x01\xF0");
}

/// The header bytes our encoder writes.
#[test]
fn v1_encoder_header_bytes() {
    // Huffman block.
    let enc = run(&["compress", "-", "-"], b"abcab").stdout;
    assert_eq!(&enc[..14], &V1_HEADER);
    assert_eq!(enc[14], 0, "block type Huffman");
    assert_eq!(u64le(&enc[15..23]), 5);
    assert_eq!(u64le(&enc[23..31]), 1, "8 bits of code fit one byte");
    let t = &enc[31..287];
    let present: Vec<usize> = (0..256).filter(|&i| t[i] != 0).collect();
    assert_eq!(present, vec![b'a' as usize, b'b' as usize, b'c' as usize]);
    let bits = 2 * t[b'a' as usize] as u32 + 2 * t[b'b' as usize] as u32 + t[b'c' as usize] as u32;
    assert_eq!(bits, 8);
    assert_eq!(enc.len(), 14 + 273 + 1);
    // Our own stream decodes back with the hand-checked decoder above.
    assert_eq!(run(&["decompress", "-", "-"], &enc).stdout, b"abcab");

    // Stored block: 64000 random bytes (no code beats 8 bits a byte on a
    // sample this large; on small samples Huffman can).
    let data = noise(64_000, 9);
    let enc = run(&["compress", "-", "-"], &data).stdout;
    assert_eq!(enc[14], 1, "block type stored");
    assert_eq!(u64le(&enc[15..23]), 64_000);
    assert_eq!(u64le(&enc[23..31]), 64_000);
    assert!(enc[31..287].iter().all(|&b| b == 0));
    assert_eq!(&enc[287..], &data[..]);

    // One distinct byte: Huffman with a one-symbol table and no data.
    let enc = run(&["compress", "-", "-"], &[b'z'; 64_001]).stdout;
    assert_eq!(enc.len(), 14 + 2 * 273);
    assert_eq!(enc[14], 0);
    assert_eq!(u64le(&enc[15..23]), 64_000);
    assert_eq!(u64le(&enc[23..31]), 0);
    assert_eq!(enc[31 + b'z' as usize], 1);
    assert_eq!(enc[31..287].iter().filter(|&&b| b != 0).count(), 1);
    assert_eq!(u64le(&enc[14 + 273 + 1..14 + 273 + 9]), 1);
}

#[test]
fn v1_hostile_inputs_are_rejected() {
    let good = run(&["compress", "-", "-"], &text(100_000)).stdout;
    let mut t = [0u8; 256];
    t[0] = 1;
    t[1] = 1;
    let mut t3 = [0u8; 256];
    t3[0] = 1;
    t3[1] = 2;
    t3[2] = 2;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("bad magic", b"PK\x03\x04hello world!".to_vec(), "magic"),
        ("short", V1_HEADER[..9].to_vec(), "offset 9"),
        (
            "version",
            {
                let mut h = V1_HEADER.to_vec();
                h[4] = 7;
                h
            },
            "version 7",
        ),
        (
            "type",
            [&V1_HEADER[..], &block(9, 1, 1, &[0u8; 256]), b"x"].concat(),
            "block type 9",
        ),
        (
            "zero size",
            [&V1_HEADER[..], &block(1, 0, 0, &[0u8; 256])].concat(),
            "size 0",
        ),
        (
            "huge size",
            [&V1_HEADER[..], &block(1, u64::MAX, u64::MAX, &[0u8; 256])].concat(),
            "exceeds",
        ),
        (
            "huge compressed",
            [&V1_HEADER[..], &block(0, 10, u64::MAX, &t)].concat(),
            "exceeds",
        ),
        (
            "stored size lies",
            [&V1_HEADER[..], &block(1, 10, 11, &[0u8; 256])].concat(),
            "stored",
        ),
        (
            "not a prefix code",
            [&V1_HEADER[..], &block(0, 4, 1, &[1u8; 256]), &[0]].concat(),
            "prefix",
        ),
        (
            "incomplete code",
            {
                let mut t = [0u8; 256];
                t[0] = 2;
                t[1] = 2;
                [&V1_HEADER[..], &block(0, 4, 1, &t), &[0]].concat()
            },
            "prefix",
        ),
        (
            "code too long",
            {
                let mut t = [8u8; 256];
                t[3] = 40;
                [&V1_HEADER[..], &block(0, 4, 20, &t), &[0u8; 20]].concat()
            },
            "exceeds 32",
        ),
        // 8 zero bits decode to 8 one-bit symbols: 1 byte, not the 2 claimed.
        (
            "size mismatch",
            [&V1_HEADER[..], &block(0, 8, 2, &t3), &[0u8, 0]].concat(),
            "does not match",
        ),
        (
            "truncated data",
            good[..good.len() - 10].to_vec(),
            "truncated",
        ),
        ("truncated header", good[..14 + 100].to_vec(), "truncated"),
        ("trailing junk", [&good[..], b"junk"].concat(), "truncated"),
        (
            "stream runs out",
            [&V1_HEADER[..], &block(0, 100, 1, &t), &[0]].concat(),
            "block 0",
        ),
    ];
    for (name, input, needle) in &cases {
        let out = run(&["decompress", "-", "-"], input);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        assert!(err.contains(needle), "{name}: {err:?} lacks {needle:?}");
        assert!(err.contains("offset"), "{name}: {err:?} names no offset");
        assert!(!err.contains("panicked"), "{name}: {err}");
    }
}

#[test]
fn v1_larger_blocks_from_other_writers() {
    // A 1 MiB stored block (the reader's limit) is accepted; 1 MiB + 1 is not.
    let data = noise(1 << 20, 3);
    let f = [
        &V1_HEADER[..],
        &block(1, 1 << 20, 1 << 20, &[0u8; 256]),
        &data,
    ]
    .concat();
    let out = run(&["decompress", "-", "-"], &f);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(out.stdout, data);
    let n = (1 << 20) + 1;
    let f = [
        &V1_HEADER[..],
        &block(1, n, n, &[0u8; 256]),
        &noise(n as usize, 4),
    ]
    .concat();
    assert_eq!(run(&["decompress", "-", "-"], &f).status.code(), Some(1));
    // One-symbol block with one (zero) bit per symbol, as a 1-bit code.
    let mut t = [0u8; 256];
    t[b'k' as usize] = 1;
    let f = [&V1_HEADER[..], &block(0, 9, 2, &t), &[0, 0]].concat();
    let out = run(&["decompress", "-", "-"], &f);
    assert_eq!(out.stdout, b"kkkkkkkkk", "{}", stderr(&out));
}

#[test]
fn v1_random_corruption_never_panics() {
    let good = run(&["compress", "-", "-"], &silesia_sample(200_000)).stdout;
    let mut seed = 0x1234_5678u64;
    for i in 0..60 {
        let mut bad = good.clone();
        for _ in 0..(1 + i % 4) {
            seed = xorshift(seed);
            let at = (seed % bad.len() as u64) as usize;
            bad[at] ^= 1 << (seed >> 60 & 7);
        }
        let out = run(&["decompress", "-", "-"], &bad);
        let code = out.status.code();
        assert!(
            matches!(code, Some(0) | Some(1)),
            "case {i}: {code:?} {}",
            stderr(&out)
        );
        assert!(
            !stderr(&out).contains("panicked"),
            "case {i}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn failed_run_leaves_no_output() {
    let dir = tempdir();
    let bad = dir.path().join("bad.tc");
    let good = run(&["compress", "-", "-"], &text(200_000)).stdout;
    fs::write(&bad, &good[..good.len() - 1]).unwrap();
    let out = dir.path().join("out");
    let r = run(&["decompress", p(&bad), p(&out)], b"");
    assert_eq!(r.status.code(), Some(1));
    assert!(stderr(&r).contains("bad.tc"), "{}", stderr(&r));
    assert!(!out.exists());
    // An existing OUT is left untouched by a failed run.
    fs::write(&out, b"keep me").unwrap();
    assert_eq!(
        run(&["decompress", p(&bad), p(&out)], b"").status.code(),
        Some(1)
    );
    assert_eq!(fs::read(&out).unwrap(), b"keep me");
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "temp files left behind: {names:?}");
}

#[test]
fn usage_and_io_errors_exit_2() {
    let dir = tempdir();
    let missing = dir.path().join("missing");
    for args in [
        vec![],
        vec!["frobnicate"],
        vec!["compress", "only-one"],
        vec!["compress", "--format", "v3", "a", "b"],
        vec!["compress", "--block-size", "64K", "a", "b"],
        vec![
            "compress",
            "--format",
            "v2",
            "--block-size",
            "3000",
            "a",
            "b",
        ],
        vec!["verify"],
    ] {
        let r = run(&args, b"");
        assert_eq!(r.status.code(), Some(2), "{args:?}: {}", stderr(&r));
        assert!(!stderr(&r).is_empty(), "{args:?}");
    }
    let r = run(&["compress", p(&missing), "-"], b"");
    assert_eq!(r.status.code(), Some(2));
    assert!(stderr(&r).contains("missing"), "{}", stderr(&r));
    let r = run(
        &["compress", "-", p(&dir.path().join("no/such/dir/out"))],
        b"abc",
    );
    assert_eq!(r.status.code(), Some(2));
    assert!(stderr(&r).contains("no/such/dir/out"), "{}", stderr(&r));
    let r = run(&["info", p(&missing)], b"");
    assert_eq!(r.status.code(), Some(2));
}

#[test]
fn help_and_version() {
    let r = run(&["--version"], b"");
    assert_eq!(r.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&r.stdout).starts_with("scfs "));
    for sub in [
        "compress",
        "decompress",
        "info",
        "verify",
        "stats",
        "mount",
        "umount",
    ] {
        let r = run(&[sub, "--help"], b"");
        assert_eq!(r.status.code(), Some(0), "{sub}");
        assert!(
            String::from_utf8_lossy(&r.stdout).contains("Usage: scfs"),
            "{sub}"
        );
    }
    let r = run(&["--help"], b"");
    let s = String::from_utf8_lossy(&r.stdout);
    for sub in ["compress", "decompress", "info", "verify", "stats", "mount"] {
        assert!(s.contains(sub), "{sub} missing from --help");
    }
}

#[test]
fn info_verify_stats_on_v1() {
    let dir = tempdir();
    let inp = dir.path().join("doc.txt");
    let enc = dir.path().join("doc.tc");
    let mut data = text(128_000);
    data.extend(noise(64_000, 5)); // block 2 is stored
    data.extend(text(30_000));
    fs::write(&inp, &data).unwrap();
    ok(&["compress", p(&inp), p(&enc)]);
    let stored = fs::metadata(&enc).unwrap().len();

    let out = stdout(&ok(&["info", p(&enc)]));
    assert!(out.contains("tc v1"), "{out}");
    assert!(
        out.contains(&format!("logical size:  {} bytes", data.len())),
        "{out}"
    );
    assert!(
        out.contains(&format!("stored size:   {stored} bytes")),
        "{out}"
    );
    assert!(
        out.contains("blocks:        4 (huffman 3, stored 1)"),
        "{out}"
    );

    let out = stdout(&ok(&["verify", p(&enc)]));
    assert!(out.contains("OK (tc v1, 4 blocks, 222000 bytes;"), "{out}");

    // Corrupt one: verify names it, exit 1, and still checks the others.
    let bad = dir.path().join("bad.tc");
    let mut b = fs::read(&enc).unwrap();
    let second = 14 + 273 + u64le(&b[14 + 9..14 + 17]) as usize;
    b[second] = 7; // block 1: unknown block type
    fs::write(&bad, &b).unwrap();
    let r = run(&["verify", p(&bad), p(&enc)], b"");
    assert_eq!(r.status.code(), Some(1), "{}", stderr(&r));
    assert!(stderr(&r).contains("bad.tc"), "{}", stderr(&r));
    assert!(
        stderr(&r).contains(&format!("block 1 at byte offset {second}")),
        "{}",
        stderr(&r)
    );
    assert!(stdout(&r).contains("doc.tc: OK"));
    // A file that is not scfs at all.
    let r = run(&["verify", p(&inp)], b"");
    assert_eq!(r.status.code(), Some(1));
    assert!(stderr(&r).contains("not an scfs file"));

    // stats: the v1 file by its logical size, the plain file as stored as-is.
    fs::remove_file(&bad).unwrap();
    let out = stdout(&ok(&["stats", p(dir.path())]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(
        lines[0].starts_with("file") && lines[0].contains("original"),
        "{out}"
    );
    let row = lines.iter().find(|l| l.contains("doc.tc")).unwrap();
    let cells: Vec<&str> = row
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    let ratio = data.len() as f64 / stored as f64;
    assert_eq!(cells[1], "216.8 KiB", "{row}");
    assert_eq!(cells[3], format!("{ratio:.2}"), "{row}");
    assert_eq!(cells[5], "v1");
    let row = lines.iter().find(|l| l.contains("doc.txt")).unwrap();
    assert!(
        row.contains("1.00") && row.contains("0.0%") && row.contains("  raw  "),
        "{row}"
    );
    assert!(lines[3].starts_with("total (2 files)"), "{out}");

    let json = stdout(&ok(&["stats", "--json", p(&enc)]));
    assert!(
        json.contains(&format!(
            "\"original\": {}, \"stored\": {stored}",
            data.len()
        )),
        "{json}"
    );
    assert!(json.contains("\"format\": \"v1\""), "{json}");
    assert!(json.contains("\"total\": {\"files\": 1"), "{json}");
}

#[test]
fn sync_flag_and_device_output() {
    let dir = tempdir();
    let inp = dir.path().join("in");
    let enc = dir.path().join("in.tc");
    let dec = dir.path().join("out");
    let data = text(100_000);
    fs::write(&inp, &data).unwrap();
    ok(&["compress", "--sync", p(&inp), p(&enc)]);
    ok(&["decompress", "--sync", p(&enc), p(&dec)]);
    assert_eq!(fs::read(&dec).unwrap(), data);
    // A device is written in place (never renamed over).
    ok(&["decompress", "--sync", p(&enc), "/dev/null"]);
    ok(&["compress", "--format", "v2", p(&inp), "/dev/null"]);
    assert!(fs::metadata("/dev/null")
        .unwrap()
        .file_type()
        .is_char_device());
}

#[test]
fn output_permissions_never_widen() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempdir();
    let inp = dir.path().join("secret");
    let enc = dir.path().join("secret.tc");
    fs::write(&inp, text(5000)).unwrap();
    fs::set_permissions(&inp, fs::Permissions::from_mode(0o600)).unwrap();
    ok(&["compress", p(&inp), p(&enc)]);
    let mode = |f: &std::path::Path| fs::metadata(f).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&enc), 0o600);
    // Replacing an existing OUT keeps OUT's mode.
    let out = dir.path().join("plain");
    fs::write(&out, b"old").unwrap();
    fs::set_permissions(&out, fs::Permissions::from_mode(0o640)).unwrap();
    ok(&["decompress", p(&enc), p(&out)]);
    assert_eq!(mode(&out), 0o640);
    assert_eq!(fs::read(&out).unwrap(), text(5000));
}
