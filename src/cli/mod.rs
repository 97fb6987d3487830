//! Command-line interface (owned by the CLI work).

/// Runs the CLI and returns the process exit code.
pub fn main() -> i32 {
    0
}
