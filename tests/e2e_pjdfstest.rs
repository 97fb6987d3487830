//! POSIX conformance: the pjdfstest suite (the Rust port, crates.io
//! `pjdfstest`) run through a daemon-mode `scfs mount -o allow_other`, with
//! a second filesystem for the EXDEV cases. Every test must pass; the
//! suite's own skips (remounting read-only, LINK_MAX, BSD-only features)
//! are its business.
//!
//! Needs the `pjdfstest` binary (`$PJDFSTEST`, or on PATH, or in
//! ~/.cargo/bin) and the users/groups it switches to: nobody/nogroup and
//! tests/tests. `.ci/run` installs both and sets `SCFS_REQUIRE_PJDFSTEST=1`,
//! which turns a missing tool into a failure instead of a skip.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;

use common::Mount;

fn required() -> bool {
    std::env::var_os("SCFS_REQUIRE_PJDFSTEST").is_some_and(|v| v == "1")
}

/// Skips (or fails, when required) with `why`.
fn unavailable(why: &str) {
    assert!(!required(), "pjdfstest required but {why}");
    eprintln!("skipping: {why}");
}

fn pjdfstest() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PJDFSTEST") {
        return Some(PathBuf::from(p));
    }
    let found = Command::new("sh")
        .arg("-c")
        .arg("command -v pjdfstest")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    found.or_else(|| {
        let p = PathBuf::from(std::env::var_os("HOME")?).join(".cargo/bin/pjdfstest");
        p.exists().then_some(p)
    })
}

fn have_account(db: &str, name: &str) -> bool {
    Command::new("getent")
        .args([db, name])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// (failed, passed) from the suite's "Summary: F failed, S skipped, P
/// passed, ..." line.
fn summary(out: &str) -> Option<(u32, u32)> {
    let line = out.lines().find(|l| l.starts_with("Summary:"))?;
    let num = |word: &str| -> Option<u32> {
        let words: Vec<&str> = line.split([' ', ',']).filter(|w| !w.is_empty()).collect();
        let i = words.iter().position(|w| *w == word)?;
        words.get(i.checked_sub(1)?)?.parse().ok()
    };
    Some((num("failed")?, num("passed")?))
}

#[test]
fn summary_line_is_parsed() {
    let out = "x ok\nSummary: 2 failed, 14 skipped, 384 passed, 0 expected failures, 398 total\n";
    assert_eq!(summary(out), Some((2, 384)));
    assert_eq!(summary("no summary"), None);
}

#[test]
fn pjdfstest_passes_through_the_mount() {
    let Some(tool) = pjdfstest() else {
        return unavailable("pjdfstest is not installed (cargo install pjdfstest)");
    };
    for (db, name) in [
        ("passwd", "nobody"),
        ("group", "nogroup"),
        ("passwd", "tests"),
        ("group", "tests"),
    ] {
        if !have_account(db, name) {
            return unavailable(&format!("the {db} entry {name} is missing"));
        }
    }
    let Some(mut m) = Mount::unmounted(&["allow_other"]) else {
        return unavailable("FUSE is not available");
    };
    // The suite switches to other users: they must reach MNT.
    let root = m.scratch().to_path_buf();
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
    m.mount();
    let secondary = root.join("secondary");
    std::fs::create_dir(&secondary).unwrap();
    let config = root.join("pjdfstest.toml");
    // The features and users pjdfstest runs with (also used by
    // scripts/test-shared.sh).
    std::fs::write(&config, include_str!("pjdfstest.toml")).unwrap();
    let out = Command::new(&tool)
        .arg("-c")
        .arg(&config)
        .arg("-p")
        .arg(&m.mnt)
        .arg("-s")
        .arg(&secondary)
        .current_dir(&m.mnt)
        .output()
        .expect("run pjdfstest");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let failures: Vec<&str> = text.lines().filter(|l| l.contains("FAILED")).collect();
    let (failed, passed) = summary(&text).unwrap_or_else(|| panic!("no summary:\n{text}"));
    assert!(
        failed == 0 && failures.is_empty() && out.status.success(),
        "pjdfstest: {failed} failed:\n{}\n\nfull output:\n{text}",
        failures.join("\n")
    );
    // About 385 of 398 run on Linux; far fewer means the suite could not
    // switch users or skipped wholesale.
    assert!(passed >= 350, "only {passed} passed:\n{text}");
    m.umount();
}
