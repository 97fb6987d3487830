//! File plumbing shared by the subcommands: `-` for stdin/stdout, output
//! written to a temp file beside OUT and renamed on success, spooling a
//! stream to an unlinked temp file (for v2, which needs positional I/O), and
//! progress on stderr when stderr is a terminal.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::error::{io_err, is_dash, shown, CliError};
use super::human::human;

/// An opened input: the reader and, for regular files, the size.
pub struct Input {
    pub reader: Box<dyn Read>,
    pub size: Option<u64>,
    /// The file, when the input is a regular file (v2 needs it).
    pub file: Option<File>,
    /// Permission bits of a regular input file (given to OUT).
    pub mode: Option<u32>,
}

/// Opens `p` (or stdin for `-`) for reading.
pub fn open_input(p: &Path) -> Result<Input, CliError> {
    if is_dash(p) {
        return Ok(Input {
            reader: Box::new(io::stdin().lock()),
            size: None,
            file: None,
            mode: None,
        });
    }
    let f = File::open(p).map_err(|e| io_err(p, "cannot open", &e))?;
    let meta = f.metadata().map_err(|e| io_err(p, "cannot stat", &e))?;
    if meta.is_dir() {
        return Err(CliError::io(format!("{}: is a directory", shown(p))));
    }
    let size = meta.is_file().then_some(meta.len());
    let file = if meta.is_file() {
        Some(f.try_clone().map_err(|e| io_err(p, "cannot open", &e))?)
    } else {
        None
    };
    let mode = meta.is_file().then_some(meta.permissions().mode() & 0o7777);
    Ok(Input {
        reader: Box::new(f),
        size,
        file,
        mode,
    })
}

static TMP_COUNTER: AtomicU32 = AtomicU32::new(0);

/// Where the output goes until it is complete.
enum Target {
    Stdout,
    /// A regular file being written as `tmp`, renamed to `dest` on commit.
    Temp {
        tmp: PathBuf,
        dest: PathBuf,
    },
    /// An existing non-regular file (device, FIFO): written in place.
    Direct,
}

/// The output of a command: OUT's name only ever holds a complete result.
pub struct Output {
    target: Target,
    file: Option<File>,
    shown: String,
}

impl Output {
    /// Prepares writing to `p` (`-` = stdout). A new OUT gets the
    /// permission bits of an existing OUT, else `mode` (the input's, as gzip
    /// does), else the default, always subject to the umask; so a private
    /// file never turns world-readable by being converted.
    pub fn create(p: &Path, mode: Option<u32>) -> Result<Output, CliError> {
        if is_dash(p) {
            return Ok(Output {
                target: Target::Stdout,
                file: None,
                shown: "<stdout>".into(),
            });
        }
        let mut mode = mode.unwrap_or(0o666);
        if let Ok(meta) = fs::metadata(p) {
            if meta.is_file() {
                mode = meta.permissions().mode() & 0o7777;
            }
            if meta.is_dir() {
                return Err(CliError::io(format!("{}: is a directory", shown(p))));
            }
            if !meta.is_file() {
                let f = OpenOptions::new()
                    .write(true)
                    .open(p)
                    .map_err(|e| io_err(p, "cannot open for writing", &e))?;
                return Ok(Output {
                    target: Target::Direct,
                    file: Some(f),
                    shown: shown(p),
                });
            }
        }
        let (tmp, f) = temp_beside(p, mode)?;
        Ok(Output {
            target: Target::Temp {
                tmp,
                dest: p.to_path_buf(),
            },
            file: Some(f),
            shown: shown(p),
        })
    }

    /// True when writing to standard output.
    pub fn is_stdout(&self) -> bool {
        matches!(self.target, Target::Stdout)
    }

    /// The output file (None for stdout).
    pub fn file(&self) -> Option<&File> {
        self.file.as_ref()
    }

    /// The name used in messages.
    pub fn name(&self) -> &str {
        &self.shown
    }

    /// A buffered writer on the output.
    pub fn writer(&self) -> Result<Box<dyn Write + '_>, CliError> {
        Ok(match &self.file {
            Some(f) => Box::new(BufWriter::with_capacity(1 << 18, f)),
            None => Box::new(BufWriter::with_capacity(1 << 18, io::stdout().lock())),
        })
    }

    /// Gives the finished output OUT's name. With `sync`, the data is
    /// fsynced before the rename and the directory after it, so OUT survives
    /// a crash or power loss right after the command returns.
    pub fn commit(mut self, sync: bool) -> Result<(), CliError> {
        let target = std::mem::replace(&mut self.target, Target::Direct);
        match target {
            Target::Stdout => io::stdout()
                .flush()
                .map_err(|e| CliError::io(format!("<stdout>: write error: {e}"))),
            Target::Direct => match (&self.file, sync) {
                (Some(f), true) => f
                    .sync_all()
                    .or_else(|e| match e.raw_os_error() {
                        // Devices and FIFOs may not support fsync.
                        Some(libc::EINVAL) | Some(libc::EROFS) => Ok(()),
                        _ => Err(e),
                    })
                    .map_err(|e| CliError::io(format!("{}: cannot sync: {e}", self.shown))),
                _ => Ok(()),
            },
            Target::Temp { tmp, dest } => {
                let f = self.file.take().expect("temp output has a file");
                if sync {
                    if let Err(e) = f.sync_all() {
                        let _ = fs::remove_file(&tmp);
                        return Err(io_err(&dest, "cannot sync", &e));
                    }
                }
                drop(f);
                if let Err(e) = fs::rename(&tmp, &dest) {
                    let _ = fs::remove_file(&tmp);
                    return Err(io_err(
                        &dest,
                        "cannot rename the finished output into place",
                        &e,
                    ));
                }
                if sync {
                    let dir = match dest.parent() {
                        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                        _ => PathBuf::from("."),
                    };
                    File::open(&dir)
                        .and_then(|d| d.sync_all())
                        .map_err(|e| io_err(&dir, "cannot sync directory", &e))?;
                }
                Ok(())
            }
        }
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        // Not committed: a failed run leaves nothing under OUT's name.
        if let Target::Temp { tmp, .. } = &self.target {
            let _ = fs::remove_file(tmp);
        }
    }
}

/// Creates a new temp file in the directory of `p`.
fn temp_beside(p: &Path, mode: u32) -> Result<(PathBuf, File), CliError> {
    let dir = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    loop {
        let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!(".{name}.scfs-tmp.{}.{n}", std::process::id()));
        match OpenOptions::new()
            .write(true)
            .read(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)
        {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_err(p, "cannot create a temp file beside it", &e)),
        }
    }
}

/// An anonymous read-write temp file in the system temp directory (unlinked
/// at once, so it disappears when closed).
pub fn anonymous_temp() -> io::Result<File> {
    let dir = std::env::temp_dir();
    loop {
        let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let p = dir.join(format!(".scfs-spool.{}.{n}", std::process::id()));
        match OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600) // private while it has a name
            .open(&p)
        {
            Ok(f) => {
                fs::remove_file(&p)?;
                return Ok(f);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Progress on stderr, only when stderr is a terminal, and only once a run
/// has lasted a second.
pub struct Progress {
    label: String,
    total: Option<u64>,
    start: Instant,
    last: Instant,
    enabled: bool,
    shown: bool,
}

impl Progress {
    /// A progress line for `label`; `total` in bytes when known.
    pub fn new(label: &str, total: Option<u64>) -> Progress {
        let enabled = crate::sys::stderr_is_terminal();
        let now = Instant::now();
        Progress {
            label: label.to_string(),
            total,
            start: now,
            last: now,
            enabled,
            shown: false,
        }
    }

    /// Reports `done` bytes processed.
    pub fn update(&mut self, done: u64) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        if now.duration_since(self.start) < Duration::from_secs(1)
            || now.duration_since(self.last) < Duration::from_millis(200)
        {
            return;
        }
        self.last = now;
        self.shown = true;
        let secs = now.duration_since(self.start).as_secs_f64();
        let rate = done as f64 / secs / 1e6;
        let line = match self.total {
            Some(t) if t > 0 => format!(
                "{}: {} of {} ({:.0}%), {rate:.0} MB/s",
                self.label,
                human(done),
                human(t),
                done as f64 * 100.0 / t as f64
            ),
            _ => format!("{}: {}, {rate:.0} MB/s", self.label, human(done)),
        };
        eprint!("\r{line}\x1b[K");
    }

    /// Clears the progress line.
    pub fn finish(&mut self) {
        if self.shown {
            eprint!("\r\x1b[K");
            self.shown = false;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
