//! The error every subcommand returns ([`CliError`]: message and exit code),
//! the exit codes, and the mapping of I/O, container and tc v1 errors onto
//! it, each message naming its file.

use std::fmt;
use std::io;
use std::path::Path;

use crate::container::ContainerError;
use crate::tcv1::Tcv1Error;

/// Exit code: success.
pub const EXIT_OK: i32 = 0;
/// Exit code: some data is corrupt.
pub const EXIT_CORRUPT: i32 = 1;
/// Exit code: usage or I/O error.
pub const EXIT_ERROR: i32 = 2;

/// A failed command: the message (already naming the file) and its exit code.
#[derive(Debug)]
pub struct CliError {
    /// EXIT_CORRUPT or EXIT_ERROR.
    pub code: i32,
    /// Full message, without the "scfs:" prefix.
    pub msg: String,
}

impl CliError {
    /// An I/O or usage error (exit 2).
    pub fn io(msg: impl Into<String>) -> Self {
        CliError {
            code: EXIT_ERROR,
            msg: msg.into(),
        }
    }
    /// Corrupt data (exit 1).
    pub fn corrupt(msg: impl Into<String>) -> Self {
        CliError {
            code: EXIT_CORRUPT,
            msg: msg.into(),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

/// True for the path `-`.
pub fn is_dash(p: &Path) -> bool {
    p.as_os_str() == "-"
}

/// How a path is shown in messages.
pub fn shown(p: &Path) -> String {
    if is_dash(p) {
        "<stdin/stdout>".into()
    } else {
        p.display().to_string()
    }
}

/// An I/O error message naming the file.
pub fn io_err(p: &Path, what: &str, e: &io::Error) -> CliError {
    CliError::io(format!("{}: {what}: {e}", shown(p)))
}

/// Maps a tc v1 error to a CLI error naming the input or output file.
pub fn tcv1_err(input: &Path, output: &str, e: Tcv1Error) -> CliError {
    match e {
        Tcv1Error::Read(e) => io_err(input, "read error", &e),
        Tcv1Error::Write(e) => CliError::io(format!("{output}: write error: {e}")),
        c @ Tcv1Error::Corrupt { .. } => CliError::corrupt(format!("{}: {c}", shown(input))),
    }
}

/// Maps a container error to a CLI error naming the file.
pub fn container_err(p: &Path, e: ContainerError) -> CliError {
    match e {
        // Damaged bytes, a v2 header that does not check out, sizes beyond
        // the format: corrupt data (exit 1).
        ContainerError::Corrupt { .. }
        | ContainerError::NotContainer(_)
        | ContainerError::TooLarge(_) => CliError::corrupt(format!("{}: {e}", shown(p))),
        _ => CliError::io(format!("{}: {e}", shown(p))),
    }
}
