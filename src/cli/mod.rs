//! Command-line interface (owned by the CLI work; `mount.rs` by the mount work).

pub mod mount;

/// Runs the CLI and returns the process exit code.
pub fn main() -> i32 {
    0
}
