//! The detached daemon's log through the real `scfs` binary: without
//! `--log-file` every line goes to the system log (here a datagram socket
//! bound by the test and named by SCFS_SYSLOG_SOCKET, which stands for
//! /dev/log) with the mount point in it; a corrupt block's read error
//! reaches it; `--log-file` wins; unsupported ioctls answer ENOTTY without a
//! log line; a clean unmount logs no warning.

mod common;

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{run, scfs, Mount};

const BS: usize = 64 << 10;

/// A stand-in for /dev/log: the socket and what it received so far.
struct SysLog {
    sock: UnixDatagram,
    lines: Vec<String>,
}

impl SysLog {
    fn bind(path: &Path) -> SysLog {
        let sock = UnixDatagram::bind(path).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        SysLog {
            sock,
            lines: Vec::new(),
        }
    }

    /// Collects datagrams until `pred` holds for one of them or 10 s pass.
    fn wait_for(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(l) = self.lines.iter().find(|l| pred(l)) {
                return l.clone();
            }
            assert!(
                Instant::now() < end,
                "no syslog line {what}; got:\n{}",
                self.lines.join("\n")
            );
            self.drain();
        }
    }

    /// Reads whatever has arrived (waiting at most 50 ms for more).
    fn drain(&mut self) {
        let mut buf = vec![0u8; 64 << 10];
        while let Ok(n) = self.sock.recv(&mut buf) {
            self.lines
                .push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
}

/// Mounts `m` detached without --log-file, the log going to `sock`.
fn mount_to_syslog(m: &Mount, sock: &Path) {
    let out = run(scfs()
        .arg("mount")
        .arg(&m.backing)
        .arg(&m.mnt)
        .env("SCFS_SYSLOG_SOCKET", sock)
        .env_remove("RUST_LOG"));
    assert!(
        out.status.success(),
        "scfs mount: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn umount(m: &Mount) {
    let out = run(scfs().arg("umount").arg(&m.mnt));
    assert!(
        out.status.success(),
        "scfs umount: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn corrupt_block_reaches_the_system_log() {
    let Some(mut m) = Mount::with_opts(&["block_size=64K"]) else {
        return;
    };
    // Random data is stored raw: block 2's bytes are found verbatim.
    let data = common::data(4 * BS, 77, false);
    std::fs::write(m.p("c.bin"), &data).unwrap();
    m.umount();
    m.flip_stored_bit("c.bin", &data, 2 * BS + 30_000);

    let sock_path = m.scratch().join("log.sock");
    let mut log = SysLog::bind(&sock_path);
    mount_to_syslog(&m, &sock_path);
    let mnt = m.mnt.canonicalize().unwrap().display().to_string();
    let mounted = log.wait_for("saying mounted", |l| l.contains("mounted"));
    assert!(
        mounted.starts_with("<30>scfs[") && mounted.contains(&format!("]: {mnt}: ")),
        "{mounted}"
    );

    let f = File::open(m.p("c.bin")).unwrap();
    let mut buf = vec![0u8; BS];
    let e = f.read_exact_at(&mut buf, 2 * BS as u64).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EIO), "{e}");
    let bad = log.wait_for("naming the corrupt file", |l| l.contains("c.bin"));
    assert!(bad.starts_with("<27>scfs["), "not daemon.err: {bad}");
    assert!(bad.contains(&format!(": {mnt}: ")), "no mount point: {bad}");

    // An ioctl scfs does not know: ENOTTY, and no log line about it.
    let mut flags: libc::c_long = 0;
    // SAFETY: FS_IOC_GETFLAGS writes one long into `flags`, which outlives
    // the call; the descriptor is open.
    let r = unsafe { libc::ioctl(f.as_raw_fd(), libc::FS_IOC_GETFLAGS, &mut flags) };
    let err = std::io::Error::last_os_error();
    assert_eq!(r, -1);
    assert_eq!(err.raw_os_error(), Some(libc::ENOTTY), "{err}");
    drop(f);

    umount(&m);
    log.wait_for("saying unmounted", |l| l.contains("unmounted"));
    log.drain();
    for l in &log.lines {
        assert!(l.contains(&format!(": {mnt}: ")), "no mount point: {l}");
        assert!(!l.contains("ioctl"), "ioctl logged: {l}");
        // A clean unmount warns about nothing (severity 4 = warning).
        assert!(!l.starts_with("<28>"), "warning: {l}");
    }
}

#[test]
fn log_file_wins_over_the_system_log() {
    let Some(mut m) = Mount::unmounted(&[]) else {
        return;
    };
    let sock_path = m.scratch().join("log.sock");
    let mut log = SysLog::bind(&sock_path);
    let mut cmd = m.mount_cmd();
    let out = run(cmd.env("SCFS_SYSLOG_SOCKET", &sock_path));
    assert!(out.status.success());
    std::fs::write(m.p("a"), b"x").unwrap();
    umount(&m);
    m.forget_mounted();
    log.drain();
    assert!(log.lines.is_empty(), "{:?}", log.lines);
    assert!(m.log_text().contains("mounted"), "{}", m.log_text());
    // A clean unmount warns about nothing (fuser's "Failed to umount").
    assert!(!m.log_text().contains("WARN"), "{}", m.log_text());
}
