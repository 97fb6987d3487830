//! CLI tests through the built `scfs` binary on v2 containers: round trips
//! at several block sizes, stdin/stdout, info/verify/stats, corruption.

mod common;

use common::cli::*;
use common::rng::noise;
use std::fs;

/// A v2 container as written now: header version 5 (FORMAT.md 3.2).
fn is_v2(b: &[u8]) -> bool {
    b.len() >= 6 && b[..4] == [0x0C, 0x00, 0x0D, 0x0E] && b[4..6] == [5, 0]
}

#[test]
fn v2_outputs_are_sealed_and_header_version_2_still_reads() {
    let dir = tempdir();
    let (inp, enc, dec) = (
        dir.path().join("in"),
        dir.path().join("enc"),
        dir.path().join("dec"),
    );
    let data = text(200_000);
    fs::write(&inp, &data).unwrap();
    // Huffman blocks: the version-2 form made of this file below holds
    // no LZ record (an LZ record needs version 3 or 4).
    ok(&[
        "compress",
        "--format",
        "v2",
        "--level",
        "huffman",
        "--block-size",
        "16K",
        p(&inp),
        p(&enc),
    ]);
    let info = stdout(&ok(&["info", p(&enc)]));
    assert!(
        info.contains("header version 5") && info.contains("sealed:        commit 1 of 1"),
        "{info}"
    );
    let full = fs::read(&enc).unwrap();
    // Cut short: corrupt (exit 1), not a shorter file.
    let cut = dir.path().join("cut");
    for len in [full.len() - 1, full.len() / 2, 40] {
        fs::write(&cut, &full[..len]).unwrap();
        let o = run(&["decompress", p(&cut), p(&dec)], b"");
        assert_eq!(o.status.code(), Some(1), "cut at {len}: {}", stderr(&o));
        assert!(stderr(&o).contains("cut short"), "{}", stderr(&o));
        assert_eq!(run(&["verify", p(&cut)], b"").status.code(), Some(1));
    }
    // The same file with the version-2 header an older scfs wrote (CRC
    // over bytes 0..28, reserved zeros there): read as before, unsealed.
    let mut old = full.clone();
    old[4] = 2;
    old[16..28].fill(0);
    let crc = crc32c::crc32c(&old[..28]);
    old[28..32].copy_from_slice(&crc.to_le_bytes());
    let v2 = dir.path().join("old");
    fs::write(&v2, &old).unwrap();
    ok(&["decompress", p(&v2), p(&dec)]);
    assert_eq!(fs::read(&dec).unwrap(), data);
    let info = stdout(&ok(&["info", p(&v2)]));
    assert!(
        info.contains("header version 2") && info.contains("has no seal"),
        "{info}"
    );
    ok(&["verify", p(&v2)]);
    // Unsealed, a cut at no commit salvages the whole blocks (as before).
    fs::write(&cut, &old[..old.len() - 1]).unwrap();
    ok(&["decompress", p(&cut), p(&dec)]);
}

#[test]
fn v2_round_trips() {
    let dir = tempdir();
    let mut sparse = text(70_000);
    sparse.extend(vec![0u8; 3 << 20]);
    sparse.extend(text(5_000));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("one", vec![42]),
        ("b65536", text(65_536)),
        ("b65537", text(65_537)),
        ("same", vec![7u8; 300_000]),
        ("all256", (0..=255u8).cycle().take(70_000).collect()),
        ("random", noise(200_000, 2)),
        ("silesia", silesia_sample(1 << 20)),
        ("sparse", sparse),
    ];
    for bs in ["4K", "64K", "1M"] {
        for (name, data) in &cases {
            let inp = dir.path().join(name);
            let enc = dir.path().join(format!("{name}.{bs}.scfs"));
            let dec = dir.path().join(format!("{name}.{bs}.out"));
            fs::write(&inp, data).unwrap();
            ok(&[
                "compress",
                "--format",
                "v2",
                "--block-size",
                bs,
                p(&inp),
                p(&enc),
            ]);
            let e = fs::read(&enc).unwrap();
            assert!(is_v2(&e), "{name} {bs}");
            ok(&["decompress", p(&enc), p(&dec)]);
            assert_eq!(&fs::read(&dec).unwrap(), data, "case {name} {bs}");
            if *name == "sparse" && bs == "4K" {
                // Holes are written as holes: 3 MiB of zeros take no disk.
                use std::os::unix::fs::MetadataExt;
                let m = fs::metadata(&dec).unwrap();
                assert!(
                    m.blocks() * 512 < 1 << 20,
                    "{} bytes allocated",
                    m.blocks() * 512
                );
            }
            match *name {
                "same" => assert!(e.len() < 4_000, "{bs}: {} bytes", e.len()),
                // Whole blocks of zeros are holes; only the 75 KB of text and
                // the zeros sharing its blocks cost (most at 1M blocks).
                "sparse" => assert!(e.len() < 200_000, "{bs}: {} bytes", e.len()),
                "silesia" => assert!(e.len() < data.len() * 3 / 4, "{bs}: {}", e.len()),
                // Incompressible data costs little more than itself.
                "random" => assert!(e.len() < data.len() + data.len() / 50, "{bs}: {}", e.len()),
                _ => {}
            }
        }
    }
}

#[test]
fn v2_default_block_size_and_stdin_stdout() {
    let data = text(300_000);
    let enc = run(&["compress", "--format", "v2", "-", "-"], &data);
    assert_eq!(enc.status.code(), Some(0), "{}", stderr(&enc));
    assert!(is_v2(&enc.stdout));
    let dec = run(&["decompress", "-", "-"], &enc.stdout);
    assert_eq!(dec.status.code(), Some(0), "{}", stderr(&dec));
    assert_eq!(dec.stdout, data);

    let dir = tempdir();
    let f = dir.path().join("c.scfs");
    fs::write(&f, &enc.stdout).unwrap();
    let out = stdout(&ok(&["info", p(&f)]));
    assert!(out.contains("scfs v2 container"), "{out}");
    assert!(out.contains("block size:    65536 bytes"), "{out}");
    assert!(out.contains("logical size:  300000 bytes"), "{out}");
    assert!(
        out.contains(&format!("stored size:   {} bytes", enc.stdout.len())),
        "{out}"
    );
    assert!(
        out.contains("blocks:        5 (lz 5, huffman 0, stored 0, fill 0, hole 0)"),
        "{out}"
    );
    assert!(out.contains("dead space:    0 bytes"), "{out}");
}

#[test]
fn v2_info_counts_kinds() {
    let dir = tempdir();
    let mut data = text(65_536); // huffman
    data.extend(noise(65_536, 7)); // stored
    data.extend(vec![0u8; 65_536 * 2]); // holes
    data.extend(vec![b'x'; 65_536]); // fill
    data.extend(text(1000)); // huffman, short last block
    let inp = dir.path().join("in");
    let enc = dir.path().join("in.scfs");
    fs::write(&inp, &data).unwrap();
    ok(&["compress", "--format", "v2", p(&inp), p(&enc)]);
    let out = stdout(&ok(&["info", p(&enc)]));
    assert!(
        out.contains("blocks:        6 (lz 2, huffman 0, stored 1, fill 1, hole 2)"),
        "{out}"
    );
    let huff = dir.path().join("in.huff.scfs");
    ok(&[
        "compress",
        "--format",
        "v2",
        "--level",
        "huffman",
        p(&inp),
        p(&huff),
    ]);
    let out = stdout(&ok(&["info", p(&huff)]));
    assert!(
        out.contains("blocks:        6 (lz 0, huffman 2, stored 1, fill 1, hole 2)"),
        "{out}"
    );
    let raw = dir.path().join("in.raw.scfs");
    ok(&[
        "compress",
        "--format",
        "v2",
        "--level",
        "none",
        p(&inp),
        p(&raw),
    ]);
    let out = stdout(&ok(&["info", p(&raw)]));
    assert!(
        out.contains("blocks:        6 (lz 0, huffman 0, stored 4, fill 0, hole 2)"),
        "{out}"
    );
    for bad in [
        &["--level", "zstd"][..],
        &["--level", "max", "--format", "v1"][..],
    ] {
        let mut args = vec!["compress"];
        args.extend_from_slice(bad);
        args.extend([p(&inp), p(&raw)]);
        let o = run(&args, b"");
        assert_eq!(o.status.code(), Some(2), "{bad:?}");
        assert!(stderr(&o).contains("level"), "{bad:?}: {}", stderr(&o));
    }
    let out = stdout(&ok(&["verify", p(&enc)]));
    assert!(out.contains("OK (v2, 4 data blocks checked"), "{out}"); // fill included
}

#[test]
fn v2_corruption_is_found_and_named() {
    let dir = tempdir();
    let data = text(4 * 65_536);
    let inp = dir.path().join("in");
    let enc = dir.path().join("good.scfs");
    fs::write(&inp, &data).unwrap();
    ok(&["compress", "--format", "v2", p(&inp), p(&enc)]);
    let good = fs::read(&enc).unwrap();
    // Flip one byte in the middle of the data records (well before the
    // index and trailer at the end).
    let at = good.len() / 2;
    let mut bad = good.clone();
    bad[at] ^= 0x55;
    let badp = dir.path().join("bad.scfs");
    fs::write(&badp, &bad).unwrap();
    let r = run(&["verify", p(&badp), p(&enc)], b"");
    assert_eq!(r.status.code(), Some(1), "{}", stderr(&r));
    let err = stderr(&r);
    assert!(
        err.contains("bad.scfs") && err.contains("block ") && err.contains("offset"),
        "{err}"
    );
    assert!(stdout(&r).contains("good.scfs: OK"));

    let out = dir.path().join("out");
    let r = run(&["decompress", p(&badp), p(&out)], b"");
    assert_eq!(r.status.code(), Some(1), "{}", stderr(&r));
    assert!(stderr(&r).contains("offset"), "{}", stderr(&r));
    assert!(!out.exists(), "a failed decompress left its output");
}

/// A damaged commit record (its trailer, its entries) loses no data: the
/// commit is used or rebuilt from the block records, `decompress` gives the
/// original bytes, and `verify` still reports the damage (exit 1).
#[test]
fn v2_damaged_commit_is_reported_and_recovered() {
    let dir = tempdir();
    let data = text(5 * 65_536 + 123);
    let inp = dir.path().join("in");
    let enc = dir.path().join("c.scfs");
    fs::write(&inp, &data).unwrap();
    ok(&["compress", "--format", "v2", p(&inp), p(&enc)]);
    let good = fs::read(&enc).unwrap();
    let n = good.len();
    let commit = u64le(&good[n - 32..n - 24]) as usize;
    for (what, at, msg) in [
        ("trailer", n - 10, "damaged trailer"),
        ("entries", commit + 70, "damaged commit record"),
        ("header", commit + 12, "damaged commit record"),
    ] {
        let mut bad = good.clone();
        bad[at] ^= 0x20;
        let badp = dir.path().join(what);
        fs::write(&badp, &bad).unwrap();
        let r = run(&["verify", p(&badp)], b"");
        assert_eq!(r.status.code(), Some(1), "{what}: {}", stderr(&r));
        assert!(stderr(&r).contains(msg), "{what}: {}", stderr(&r));
        let out = dir.path().join("out");
        ok(&["decompress", p(&badp), p(&out)]);
        assert!(fs::read(&out).unwrap() == data, "{what}: wrong data");
        let info = stdout(&ok(&["info", p(&badp)]));
        assert!(info.contains("damage:"), "{what}: {info}");
    }
}

#[test]
fn v2_damaged_header_is_corrupt_not_foreign() {
    let dir = tempdir();
    let inp = dir.path().join("in");
    let enc = dir.path().join("c.scfs");
    fs::write(&inp, text(3 * 65_536)).unwrap();
    ok(&["compress", "--format", "v2", p(&inp), p(&enc)]);
    let good = fs::read(&enc).unwrap();
    // Zeroed magic, a changed version, and the whole header zeroed: each
    // is a corrupt container (exit 1, offset named), never "not scfs".
    for (name, range) in [("magic", 0..4), ("version", 4..6), ("header", 0..32)] {
        let mut bad = good.clone();
        for b in &mut bad[range] {
            *b ^= 0xAA;
        }
        let badp = dir.path().join(name);
        fs::write(&badp, &bad).unwrap();
        for cmd in ["verify", "info"] {
            let r = run(&[cmd, p(&badp)], b"");
            assert_eq!(r.status.code(), Some(1), "{cmd} {name}: {}", stderr(&r));
            assert!(stderr(&r).contains("damaged file header"), "{}", stderr(&r));
        }
        let out = dir.path().join("out");
        let r = run(&["decompress", p(&badp), p(&out)], b"");
        assert_eq!(r.status.code(), Some(1), "{name}: {}", stderr(&r));
        assert!(stderr(&r).contains("offset 0"), "{}", stderr(&r));
        assert!(!out.exists());
    }
    // A plain file is still just not an scfs file.
    let plain = dir.path().join("plain");
    fs::write(&plain, text(10_000)).unwrap();
    let r = run(&["verify", p(&plain)], b"");
    assert!(stderr(&r).contains("not an scfs file"), "{}", stderr(&r));
}

#[test]
fn v2_hostile_inputs_never_panic() {
    let data = silesia_sample(300_000);
    let good = run(
        &[
            "compress",
            "--format",
            "v2",
            "--block-size",
            "16K",
            "-",
            "-",
        ],
        &data,
    )
    .stdout;
    assert!(is_v2(&good));
    let mut seed = 0xDEAD_BEEFu64;
    let mut inputs: Vec<Vec<u8>> = vec![
        good[..6].to_vec(),
        good[..good.len() / 3].to_vec(),
        good[..good.len() - 1].to_vec(),
        [&good[..], &[0xFF; 100][..]].concat(),
    ];
    for i in 0..40 {
        let mut bad = good.clone();
        for _ in 0..(1 + i % 3) {
            seed = xorshift(seed);
            let at = (seed % bad.len() as u64) as usize;
            bad[at] = (seed >> 56) as u8;
        }
        inputs.push(bad);
    }
    // Header with every byte after the version set to 0xFF (sizes near
    // u64::MAX, absurd block size).
    let mut h = good[..6].to_vec();
    h.extend([0xFF; 200]);
    inputs.push(h);
    for (i, input) in inputs.iter().enumerate() {
        let out = run(&["decompress", "-", "-"], input);
        let code = out.status.code();
        let err = stderr(&out);
        assert!(
            matches!(code, Some(0) | Some(1)),
            "case {i}: {code:?} {err}"
        );
        assert!(!err.contains("panicked"), "case {i}: {err}");
        if code == Some(0) {
            // A torn tail may recover an older, consistent state; it must
            // not invent data.
            assert!(
                out.stdout.len() <= data.len() || out.stdout == data,
                "case {i}"
            );
        }
    }
}

#[test]
fn stats_over_a_backing_dir() {
    let dir = tempdir();
    let sub = dir.path().join("sub");
    fs::create_dir(&sub).unwrap();
    let a = text(500_000);
    fs::write(dir.path().join("a.txt"), &a).unwrap();
    ok(&[
        "compress",
        "--format",
        "v2",
        p(&dir.path().join("a.txt")),
        p(&sub.join("a.scfs")),
    ]);
    fs::write(sub.join("plain.bin"), noise(10_000, 1)).unwrap();
    std::os::unix::fs::symlink("a.scfs", sub.join("link")).unwrap();
    fs::hard_link(sub.join("a.scfs"), sub.join("hard.scfs")).unwrap();
    let stored = fs::metadata(sub.join("a.scfs")).unwrap().len();

    let out = stdout(&ok(&["stats", p(&sub)]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}"); // header, a.scfs, hard.scfs, plain.bin, total
    let row = lines.iter().find(|l| l.contains("a.scfs")).unwrap();
    let cells: Vec<&str> = row
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(cells[1], "488.3 KiB", "{row}");
    let ratio = a.len() as f64 / stored as f64;
    assert_eq!(cells[3], format!("{ratio:.2}"), "{row}");
    assert_eq!(
        cells[4],
        format!("{:.1}%", (1.0 - stored as f64 / a.len() as f64) * 100.0)
    );
    assert_eq!(cells[5], "v2");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("plain.bin") && l.contains("  raw  ")),
        "{out}"
    );
    // The hard link counts once in the total.
    assert!(lines[4].starts_with("total (2 files)"), "{out}");

    let json = stdout(&ok(&["stats", "--json", p(&sub)]));
    assert!(
        json.contains(&format!(
            "\"format\": \"v2\", \"original\": 500000, \"stored\": {stored}"
        )),
        "{json}"
    );
    assert!(
        json.contains(&format!(
            "\"total\": {{\"files\": 2, \"original\": 510000, \"stored\": {}",
            stored + 10_000
        )),
        "{json}"
    );
}

/// A small file's `scfs compress --format v2` output is a version-5
/// container whose first commit is a packed record (FORMAT.md 3.11): 90
/// bytes of framing; a damaged trailer leaves the data readable but
/// `verify` reports it (exit 1); a damaged packed head is corrupt.
#[test]
fn small_outputs_are_packed_and_verify_reports_their_damage() {
    let dir = tempdir();
    let (inp, enc, dec) = (
        dir.path().join("in"),
        dir.path().join("enc"),
        dir.path().join("dec"),
    );
    fs::write(&inp, b"a small file, stored").unwrap();
    ok(&[
        "compress",
        "--format",
        "v2",
        "--level",
        "huffman",
        p(&inp),
        p(&enc),
    ]);
    let full = fs::read(&enc).unwrap();
    assert!(is_v2(&full));
    assert_eq!(&full[32..36], b"SPCK");
    assert_eq!(full.len(), 90 + 20, "stored: 90 bytes of framing");
    ok(&["verify", p(&enc)]);
    let mut t = full.clone();
    let n = t.len();
    t[n - 10] ^= 0x10; // the trailer's magic
    fs::write(&enc, &t).unwrap();
    let o = run(&["verify", p(&enc)], b"");
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stdout(&o).contains("damaged trailer") || stderr(&o).contains("damaged trailer"));
    ok(&["decompress", p(&enc), p(&dec)]);
    assert_eq!(fs::read(&dec).unwrap(), b"a small file, stored");
    let mut h = full.clone();
    h[40] ^= 0x01; // the packed head
    fs::write(&enc, &h).unwrap();
    assert_eq!(run(&["verify", p(&enc)], b"").status.code(), Some(1));
    assert_eq!(
        run(&["decompress", p(&enc), p(&dec)], b"").status.code(),
        Some(1)
    );
}
