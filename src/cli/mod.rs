//! Command-line interface: argument parsing (clap derive), dispatch and exit
//! codes. Each subcommand lives in its own file: `convert.rs` (compress,
//! decompress), `inspect.rs` (info, verify), `stats.rs` (stats), `status.rs`
//! (status of a live mount), `mount.rs`
//! and `mount/` (mount, umount). They share only leaf modules, which import
//! no subcommand: `error.rs` (the [`CliError`] every subcommand returns, exit
//! codes), `human.rs` (sizes and ratios as text), `detect.rs` (format
//! detection), `files.rs` (stdin/stdout, atomic output, spooling, progress),
//! `v2io.rs` (container encode/decode loops) and `walk.rs` (the directory
//! walker of stats and convert).
//!
//! Exit codes: 0 success, 1 corrupt data, 2 usage or I/O errors.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

mod convert;
mod detect;
mod error;
mod files;
mod human;
mod inplace;
mod inspect;
pub mod mount;
mod stats;
mod status;
mod v2io;
mod walk;

pub use error::{CliError, EXIT_CORRUPT, EXIT_ERROR, EXIT_OK};

/// Output format of `scfs compress`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// tc v1: 64000-byte Huffman blocks, streamable, no checksums.
    V1,
    /// v2: the filesystem's container (checksummed, indexed, random access).
    V2,
}

#[derive(Parser, Debug)]
#[command(
    name = "scfs",
    version,
    about = "A transparently compressing filesystem (LZ77 + canonical Huffman) and its offline tools",
    after_help = "Exit status: 0 success, 1 corrupt data, 2 usage or I/O error."
)]
struct Cli {
    #[command(subcommand)]
    cmd: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Compress IN into OUT (tc v1 by default, or the v2 container).
    Compress(CompressArgs),
    /// Decompress a tc v1 file or a v2 container (told apart by the header).
    Decompress(DecompressArgs),
    /// Show a compressed file's format, sizes, ratio and block counts.
    Info(InfoArgs),
    /// Decode every block and check every checksum; exit 1 on corruption.
    Verify(VerifyArgs),
    /// Space report (original, stored, ratio, saved) for files or whole
    /// backing directories; needs no mount.
    Stats(StatsArgs),
    /// Turn plain files into containers in place (offline in BACKING, or
    /// through a live mount), keeping owner, mode, times, xattrs and links.
    Convert(ConvertArgs),
    /// Live state of a mount: cache, write-back, compaction and
    /// recompression, bytes written, checksum failures, options in force.
    Status(StatusArgs),
    /// Mount a backing directory as a transparently compressing filesystem.
    #[command(after_help = mount::help::options_help())]
    Mount(mount::MountArgs),
    /// Unmount an scfs mount point.
    Umount(mount::UmountArgs),
}

impl Command {
    /// How an error of this subcommand starts: `scfs:` for the file tools
    /// (whose messages name the file), `scfs mount:` / `scfs umount:`.
    fn error_prefix(&self) -> &'static str {
        match self {
            Command::Mount(_) => "scfs mount",
            Command::Umount(_) => "scfs umount",
            _ => "scfs",
        }
    }
}

/// Arguments of `scfs compress`.
#[derive(clap::Args, Debug)]
pub struct CompressArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "v1")]
    pub format: OutputFormat,
    /// Logical block size of a v2 container: a power of two from 4K to 1M
    /// (suffixes K/M accepted). v1 always uses 64000-byte blocks.
    #[arg(long, value_parser = parse_block_size)]
    pub block_size: Option<u32>,
    /// How the blocks of a v2 container are coded: none (stored raw),
    /// huffman (order-0 only), fast, default or max (LZ77 + Huffman,
    /// stronger and slower to write; every level reads fast). Default:
    /// default. v1 is always Huffman.
    #[arg(long, value_name = "LEVEL")]
    pub level: Option<crate::container::Compression>,
    /// fsync OUT before renaming it into place (and its directory after),
    /// so it survives a power loss right after the command returns.
    #[arg(long)]
    pub sync: bool,
    /// Input file, or `-` for standard input.
    pub input: PathBuf,
    /// Output file, or `-` for standard output.
    pub output: PathBuf,
}

/// Arguments of `scfs decompress`.
#[derive(clap::Args, Debug)]
pub struct DecompressArgs {
    /// fsync OUT before renaming it into place (and its directory after).
    #[arg(long)]
    pub sync: bool,
    /// Compressed input (tc v1 or v2), or `-` for standard input.
    pub input: PathBuf,
    /// Output file, or `-` for standard output.
    pub output: PathBuf,
}

/// Arguments of `scfs info`.
#[derive(clap::Args, Debug)]
pub struct InfoArgs {
    /// A tc v1 file or v2 container.
    pub file: PathBuf,
}

/// Arguments of `scfs verify`.
#[derive(clap::Args, Debug)]
pub struct VerifyArgs {
    /// Files to check (tc v1 files or v2 containers).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// Arguments of `scfs convert`.
#[derive(clap::Args, Debug)]
pub struct ConvertArgs {
    /// Level of the new containers: huffman, fast, default or max (default:
    /// default).
    #[arg(long, value_name = "LEVEL")]
    pub level: Option<crate::container::Compression>,
    /// Block size of the new containers when converting offline (through a
    /// mount, the mount's block_size applies): a power of two from 4K to 1M.
    #[arg(long, value_parser = parse_block_size)]
    pub block_size: Option<u32>,
    /// Files or directories (walked recursively, symlinks not followed),
    /// inside BACKING (no daemon may serve it meanwhile) or inside an scfs
    /// mount.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

/// Arguments of `scfs stats`.
#[derive(clap::Args, Debug)]
pub struct StatsArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Files or directories (walked recursively, symlinks not followed).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

/// Arguments of `scfs status`.
#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// Print the daemon's JSON document (`"version": 1`) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// The mount point (or any path inside the mount). Only the user who
    /// mounted it and root may read its status.
    pub mountpoint: PathBuf,
}

/// Parses a v2 block size: a power of two from 4 KiB to 1 MiB, given in
/// bytes or with a K/KiB/M/MiB suffix.
pub fn parse_block_size(s: &str) -> Result<u32, String> {
    crate::container::BlockSize::parse(s).map(|b| b.bytes())
}

/// The whole command line as clap sees it (with the `-o` option list of
/// `scfs mount` from `mount::help`): `--help`, the man page and the shell
/// completions are all made from it.
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    Cli::command()
}

/// Runs the CLI and returns the process exit code.
pub fn main() -> i32 {
    let cmd = command();
    let names: Vec<String> = {
        cmd.get_subcommands()
            .map(|c| c.get_name().to_owned())
            .chain(["help".to_owned()])
            .collect()
    };
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let argv = mount::helper_argv(std::env::args_os().collect(), &names);
    let parsed = cmd
        .try_get_matches_from(argv)
        .and_then(|m| <Cli as clap::FromArgMatches>::from_arg_matches(&m));
    let cli = match parsed {
        Ok(c) => c,
        Err(e) => {
            // --help / --version print to stdout and exit 0; usage errors
            // print to stderr and exit 2.
            let _ = e.print();
            return e.exit_code();
        }
    };
    let prefix = cli.cmd.error_prefix();
    if !matches!(cli.cmd, Command::Mount(_) | Command::Umount(_)) {
        // Like other filters, stop quietly when the reader of our stdout goes
        // away (`scfs decompress f - | head`) instead of reporting EPIPE.
        // (Before any thread is started.)
        crate::sys::default_sigpipe();
    }
    let result = match cli.cmd {
        Command::Compress(a) => convert::compress(&a),
        Command::Decompress(a) => convert::decompress(&a),
        Command::Info(a) => inspect::info(&a),
        Command::Verify(a) => inspect::verify(&a),
        Command::Stats(a) => stats::stats(&a),
        Command::Convert(a) => inplace::convert(&a),
        Command::Status(a) => status::status(&a),
        Command::Mount(a) => mount::run_mount(a),
        Command::Umount(a) => mount::run_umount(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{prefix}: {e}");
            e.code
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_sizes() {
        assert_eq!(parse_block_size("64K"), Ok(65536));
        assert_eq!(parse_block_size("4096"), Ok(4096));
        assert_eq!(parse_block_size("1M"), Ok(1 << 20));
        assert_eq!(parse_block_size("128KiB"), Ok(128 << 10));
        assert!(parse_block_size("2K").is_err());
        assert!(parse_block_size("2M").is_err());
        assert!(parse_block_size("65000").is_err());
        assert!(parse_block_size("x").is_err());
        assert!(parse_block_size("99999999999999999999M").is_err());
    }

    #[test]
    fn clap_definition_is_consistent() {
        command().debug_assert();
    }
}
