//! Mount guard for the tests that run the real `scfs` binary: a fresh
//! BACKING and MNT under one temp dir, `scfs mount` in daemon mode, and an
//! unmount on drop even when the test panics (`scfs umount`, then a lazy
//! `fusermount3 -uz` and a SIGKILL of the daemon as the last resort). The
//! daemon's log goes to `<tmp>/daemon.log` (outside BACKING) and is printed
//! when a test fails.
//!
//! The one support module of the integration tests: besides the daemon
//! mount guard here, `inproc` mounts `ScfsFs` in the test process, `cli`
//! runs the binary's subcommands and makes their inputs, `rng` is the one
//! pseudo-random generator.

#![allow(dead_code)]

pub mod cli;
pub mod inproc;
pub mod model;
pub mod rng;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The `scfs` binary under test.
pub fn scfs() -> Command {
    Command::new(env!("CARGO_BIN_EXE_scfs"))
}

/// Whether real mounts can run here (FUSE device present).
pub fn fuse_available() -> bool {
    if Path::new("/dev/fuse").exists() {
        true
    } else {
        eprintln!("skipping: /dev/fuse is missing");
        false
    }
}

/// Whether `prog` is on the PATH (tests that need it skip, saying so).
pub fn have(prog: &str) -> bool {
    let ok = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {prog}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("skipping: {prog} is not installed");
    }
    ok
}

/// Runs a command, returning its output (never panics on failure status).
pub fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("spawn")
}

/// Runs `sh -c script` with `cwd` as working directory; panics with the
/// script's output unless it succeeds.
pub fn sh(cwd: &Path, script: &str) -> String {
    let out = run(Command::new("sh").arg("-ec").arg(script).current_dir(cwd));
    assert!(
        out.status.success(),
        "script failed ({}):\n{script}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The pid holding the flock on `dir` (the scfs daemon's BACKING lock).
pub fn lock_holder(dir: &Path) -> Option<u32> {
    let m = std::fs::metadata(dir).ok()?;
    let (major, minor) = (libc::major(m.dev()) as u64, libc::minor(m.dev()) as u64);
    let text = std::fs::read_to_string("/proc/locks").ok()?;
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 6 || f[1] != "FLOCK" || f.contains(&"->") {
            continue;
        }
        let id: Vec<&str> = f[5].split(':').collect();
        if id.len() == 3
            && u64::from_str_radix(id[0], 16).ok() == Some(major)
            && u64::from_str_radix(id[1], 16).ok() == Some(minor)
            && id[2].parse::<u64>().ok() == Some(m.ino())
        {
            return f[4].parse().ok();
        }
    }
    None
}

/// Whether `p` is a mount point (listed in /proc/self/mountinfo).
pub fn is_mounted(p: &Path) -> bool {
    let s = p.to_string_lossy().replace(' ', "\\040");
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|t| t.lines().any(|l| l.split(' ').nth(4) == Some(s.as_str())))
        .unwrap_or(false)
}

/// Waits until `cond` holds (polling), panicking after `secs`.
pub fn wait_until(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether a process exists (and is not a zombie).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !s
            .rsplit_once(')')
            .map(|(_, rest)| rest.trim_start().starts_with('Z'))
            .unwrap_or(false),
        Err(_) => false,
    }
}

/// Sends `sig` to `pid`.
pub fn kill(pid: u32, sig: i32) {
    // SAFETY: kill(2) has no memory effects; a stale pid at worst gets ESRCH.
    unsafe {
        libc::kill(pid as i32, sig);
    }
}

/// A mounted scfs with its own temp BACKING and MNT.
pub struct Mount {
    pub backing: PathBuf,
    pub mnt: PathBuf,
    pub log: PathBuf,
    pub opts: Vec<String>,
    mounted: bool,
    root: tempfile::TempDir,
}

impl Mount {
    /// Mounts with default options; None when FUSE is unavailable.
    pub fn new() -> Option<Mount> {
        Self::with_opts(&[])
    }

    /// Mounts with `-o` options.
    pub fn with_opts(opts: &[&str]) -> Option<Mount> {
        let mut m = Self::unmounted(opts)?;
        m.mount();
        Some(m)
    }

    /// Prepares BACKING and MNT without mounting (fill BACKING first).
    pub fn unmounted(opts: &[&str]) -> Option<Mount> {
        if !fuse_available() {
            return None;
        }
        let root = tempfile::Builder::new()
            .prefix("scfs-e2e-")
            .tempdir()
            .expect("tempdir");
        let backing = root.path().join("backing");
        let mnt = root.path().join("mnt");
        std::fs::create_dir(&backing).unwrap();
        std::fs::create_dir(&mnt).unwrap();
        Some(Mount {
            log: root.path().join("daemon.log"),
            backing,
            mnt,
            opts: opts.iter().map(|s| s.to_string()).collect(),
            mounted: false,
            root,
        })
    }

    /// The temp directory holding BACKING and MNT (for scratch files).
    pub fn scratch(&self) -> &Path {
        self.root.path()
    }

    /// The `scfs mount` command for this guard (not run).
    pub fn mount_cmd(&self) -> Command {
        let mut c = scfs();
        c.arg("mount").arg(&self.backing).arg(&self.mnt);
        c.arg("--log-file").arg(&self.log);
        if !self.opts.is_empty() {
            c.arg("-o").arg(self.opts.join(","));
        }
        c
    }

    /// Runs `scfs mount` (daemon mode); panics unless MNT is ready on return.
    pub fn mount(&mut self) {
        let out = run(&mut self.mount_cmd());
        assert!(
            out.status.success(),
            "scfs mount failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            is_mounted(&self.mnt),
            "scfs mount returned before MNT was mounted"
        );
        self.mounted = true;
    }

    /// Runs `scfs umount`; panics unless it succeeds and the daemon is gone.
    pub fn umount(&mut self) {
        let out = run(scfs().arg("umount").arg(&self.mnt));
        assert!(
            out.status.success(),
            "scfs umount failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.mounted = false;
        assert!(!is_mounted(&self.mnt), "still mounted after scfs umount");
        assert_eq!(
            lock_holder(&self.backing),
            None,
            "daemon still holds the lock"
        );
    }

    /// Unmounts and mounts again (new daemon, fresh caches).
    pub fn remount(&mut self) {
        self.umount();
        self.mount();
    }

    /// Marks the guard as not mounted (the test unmounted it another way).
    pub fn forget_mounted(&mut self) {
        self.mounted = false;
    }

    /// The daemon's pid (holder of the BACKING lock).
    pub fn daemon_pid(&self) -> Option<u32> {
        lock_holder(&self.backing)
    }

    /// SIGKILLs the daemon, waits until it is gone and detaches the dead
    /// mount, like a crash followed by `fusermount3 -u`.
    pub fn crash(&mut self) {
        let pid = self.daemon_pid().expect("daemon pid");
        kill(pid, libc::SIGKILL);
        wait_until(10, "the killed daemon to exit", || !alive(pid));
        let out = run(Command::new("umount").arg("-l").arg(&self.mnt));
        assert!(out.status.success(), "umount -l of the dead mount failed");
        self.mounted = false;
    }

    /// A path inside MNT.
    pub fn p(&self, rel: &str) -> PathBuf {
        self.mnt.join(rel)
    }

    /// A path inside BACKING.
    pub fn b(&self, rel: &str) -> PathBuf {
        self.backing.join(rel)
    }

    /// The daemon's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Damages the stored copy of BACKING/`rel`, whose contents are `data`:
    /// flips one bit of the 64 bytes at logical offset `at`. Random data is
    /// stored raw, so those bytes are found verbatim in the container
    /// without knowing the record layout. Call it while unmounted.
    pub fn flip_stored_bit(&self, rel: &str, data: &[u8], at: usize) {
        let mut raw = std::fs::read(self.b(rel)).unwrap();
        let needle = &data[at..at + 64];
        let pos = raw
            .windows(needle.len())
            .position(|w| w == needle)
            .expect("the bytes stored verbatim in the container");
        raw[pos + 10] ^= 0x40;
        std::fs::write(self.b(rel), &raw).unwrap();
    }

    /// Decompresses BACKING/`rel` with `scfs decompress` (no mount involved).
    pub fn decompress(&self, rel: &str) -> Vec<u8> {
        let out_path = self.root.path().join("decompressed.out");
        let _ = std::fs::remove_file(&out_path);
        let out = run(scfs().arg("decompress").arg(self.b(rel)).arg(&out_path));
        assert!(
            out.status.success(),
            "scfs decompress {rel} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::read(&out_path).unwrap()
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- daemon log ({}) ---\n{}",
                self.log.display(),
                self.log_text()
            );
        }
        if !self.mounted && !is_mounted(&self.mnt) {
            return;
        }
        teardown(&self.mnt, self.daemon_pid());
    }
}

/// A test mount's last step, even after a failure: `scfs umount`; if that
/// fails or leaves MNT mounted, a lazy `fusermount3 -u -z` and SIGKILL of
/// the daemon `pid` (found before the unmount).
pub fn teardown(mnt: &Path, pid: Option<u32>) {
    let ok = run(scfs().arg("umount").arg("--timeout").arg("60").arg(mnt))
        .status
        .success();
    if !ok || is_mounted(mnt) {
        let _ = run(Command::new("fusermount3").args(["-u", "-z"]).arg(mnt));
        if let Some(pid) = pid {
            kill(pid, libc::SIGKILL);
        }
    }
}

/// Deterministic pseudo-random bytes (xorshift), mildly compressible when
/// `text` is set (drawn from a small alphabet).
pub fn data(len: usize, seed: u64, text: bool) -> Vec<u8> {
    let mut r = rng::Rng::new(seed);
    let mut v = Vec::with_capacity(len);
    while v.len() < len {
        for b in r.u64().to_le_bytes() {
            if v.len() < len {
                v.push(if text {
                    b"etaoin shrdlu\n"[(b % 14) as usize]
                } else {
                    b
                });
            }
        }
    }
    v
}
