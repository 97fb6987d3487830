//! The detached daemon's log: every record goes to the system log as one
//! datagram on its socket (`/dev/log`, which rsyslog, syslog-ng, busybox
//! syslogd and journald all serve), in the format of syslog(3):
//! `<PRI>scfs[PID]: MNT: message`, facility daemon. The mount point starts
//! every line, so the lines of several mounts can be told apart. Filtering
//! is env_logger's (RUST_LOG, default info, or debug with `-d`).
//!
//! `SCFS_SYSLOG_SOCKET` names another socket (a system whose syslog socket
//! lives elsewhere, and the tests). A missing socket or a full one loses the
//! line, never blocks the filesystem for more than [`SEND_TIMEOUT`].

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::Duration;

use log::{Level, Log, Metadata, Record};

/// The usual syslog socket.
pub const DEV_LOG: &str = "/dev/log";
/// The environment variable that names another syslog socket.
pub const SOCKET_ENV: &str = "SCFS_SYSLOG_SOCKET";
/// The longest a log call waits for a full socket before dropping the line.
pub const SEND_TIMEOUT: Duration = Duration::from_millis(200);
/// syslog facility LOG_DAEMON (3), shifted as in the PRI field.
const FACILITY_DAEMON: u8 = 3 << 3;

/// A `log` logger that writes to the system log.
pub struct Syslog {
    filter: env_logger::Logger,
    socket: UnixDatagram,
    path: PathBuf,
    /// `scfs[PID]: MNT: `, the start of every message.
    prefix: String,
}

/// The syslog socket to use: `SCFS_SYSLOG_SOCKET` or `/dev/log`.
pub fn socket_path() -> PathBuf {
    std::env::var_os(SOCKET_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEV_LOG))
}

/// The syslog severity of a log level (RFC 5424 table 2).
pub fn severity(level: Level) -> u8 {
    match level {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    }
}

/// One syslog datagram: `<PRI>scfs[PID]: MNT: message`.
pub fn line(level: Level, prefix: &str, msg: &std::fmt::Arguments<'_>) -> String {
    format!("<{}>{prefix}{msg}", FACILITY_DAEMON | severity(level))
}

impl Syslog {
    /// A logger for the daemon of mount point `mnt`, writing to `path`.
    pub fn new(mnt: &Path, path: PathBuf, filter: env_logger::Logger) -> std::io::Result<Syslog> {
        let socket = UnixDatagram::unbound()?;
        socket.set_write_timeout(Some(SEND_TIMEOUT))?;
        Ok(Syslog {
            filter,
            socket,
            path,
            prefix: format!("scfs[{}]: {}: ", std::process::id(), mnt.display()),
        })
    }
}

impl Log for Syslog {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        self.filter.enabled(m)
    }

    fn log(&self, r: &Record<'_>) {
        if !self.filter.matches(r) {
            return;
        }
        let l = line(r.level(), &self.prefix, r.args());
        // Sent to the path each time, so a syslog daemon that restarts (and
        // binds a new socket) gets the lines that follow. Errors lose the line.
        let _ = self.socket.send_to(l.as_bytes(), &self.path);
    }

    fn flush(&self) {}
}

/// Installs the syslog logger for the daemon of `mnt`, filtered like
/// env_logger (`RUST_LOG`, else `default`). False when it could not be
/// installed (no socket could be made, or a logger is already set).
pub fn install(mnt: &Path, default: &str) -> bool {
    let filter =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(default))
            .build();
    let max = filter.filter();
    let Ok(logger) = Syslog::new(mnt, socket_path(), filter) else {
        return false;
    };
    if log::set_boxed_logger(Box::new(logger)).is_err() {
        return false;
    }
    log::set_max_level(max);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_carry_priority_pid_and_mount_point() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("log");
        let rx = UnixDatagram::bind(&sock).unwrap();
        let filter = env_logger::Builder::new()
            .filter_level(log::LevelFilter::Info)
            .build();
        let l = Syslog::new(Path::new("/mnt/x"), sock, filter).unwrap();
        let rec = |level, msg| {
            l.log(
                &Record::builder()
                    .level(level)
                    .args(format_args!("{msg}"))
                    .build(),
            )
        };
        rec(Level::Error, "bad block 2");
        rec(Level::Debug, "not sent");
        rec(Level::Warn, "careful");
        let mut buf = [0u8; 256];
        let n = rx.recv(&mut buf).unwrap();
        let pid = std::process::id();
        assert_eq!(
            std::str::from_utf8(&buf[..n]).unwrap(),
            format!("<27>scfs[{pid}]: /mnt/x: bad block 2")
        );
        let n = rx.recv(&mut buf).unwrap();
        assert_eq!(
            std::str::from_utf8(&buf[..n]).unwrap(),
            format!("<28>scfs[{pid}]: /mnt/x: careful")
        );
    }

    #[test]
    fn a_missing_socket_loses_the_line_quietly() {
        let filter = env_logger::Builder::new().build();
        let l = Syslog::new(Path::new("/m"), "/nonexistent/log".into(), filter).unwrap();
        l.log(
            &Record::builder()
                .level(Level::Error)
                .args(format_args!("x"))
                .build(),
        );
    }
}
