//! `scfs mount` / `scfs umount`: the mount life cycle.
//!
//! - `options`: the `-o` list (unknown options are errors) and the fuser
//!   configuration built from it (shared with the benchmark's passthrough).
//! - `daemon`: checks, fork/setsid/ready pipe, the BACKING lock, the session
//!   and its signal thread, and unmount-and-wait.
//! - `mountinfo`: /proc/self/mountinfo and /proc/locks readers.

use std::path::PathBuf;

pub mod daemon;
pub mod mountinfo;
pub mod options;

pub use daemon::run_mount_with;
pub use options::MountOptions;

use crate::cli::EXIT_ERROR;

/// Arguments of `scfs mount`.
#[derive(clap::Args, Debug, Clone)]
pub struct MountArgs {
    /// Directory holding the compressed files (each file a v2 container).
    pub backing: PathBuf,
    /// Where the uncompressed view appears.
    pub mountpoint: PathBuf,
    /// Stay in the foreground and log to stderr (level from RUST_LOG).
    #[arg(short = 'f', long)]
    pub foreground: bool,
    /// Debug logging (RUST_LOG still wins when set).
    #[arg(short = 'd', long)]
    pub debug: bool,
    /// Comma-separated options: cache_size=SIZE (default 64M), block_size=SIZE
    /// (power of two 4K..1M, for new files; default 64K), ro, rw, allow_other,
    /// default_permissions (default) / no_default_permissions, threads=N,
    /// writeback_cache / no_writeback_cache, compress=LEVEL (none, huffman,
    /// fast, default, max; default: default), recompress=LEVEL|off (rewrite
    /// files written through the mount at LEVEL once they have been closed
    /// and untouched for recompress_idle; default off),
    /// recompress_idle=DURATION (seconds, or with s/m/h; default 10m),
    /// and the generic nodev, nosuid, noexec, noatime, sync, dirsync, ...
    #[arg(short = 'o', value_name = "OPTIONS")]
    pub options: Vec<String>,
    /// Daemon mode: append the log to FILE instead of discarding it.
    #[arg(long, value_name = "FILE")]
    pub log_file: Option<PathBuf>,
}

/// Arguments of `scfs umount`.
#[derive(clap::Args, Debug, Clone)]
pub struct UmountArgs {
    /// The mount point.
    pub mountpoint: PathBuf,
    /// Detach now even if busy; the daemon writes everything and exits when
    /// the last open file is closed (does not wait for it).
    #[arg(short = 'z', long)]
    pub lazy: bool,
    /// Seconds to wait for the daemon to finish writing.
    #[arg(long, default_value_t = 600, value_name = "SECS")]
    pub timeout: u64,
}

/// Runs `scfs mount`; returns the exit code. Without `-f` it returns 0 only
/// once MNT is ready, leaving the daemon behind.
pub fn run_mount(args: MountArgs) -> i32 {
    run_mount_with(args, |backing, o| {
        crate::fs::ScfsFs::new(backing, fs_options(o))
    })
}

/// Maps the mount options onto the filesystem's own options.
// `..d` keeps this compiling when the filesystem grows new options.
#[allow(clippy::needless_update)]
pub fn fs_options(o: &MountOptions) -> crate::fs::FsOptions {
    let d = crate::fs::FsOptions::default();
    crate::fs::FsOptions {
        cache_size: o.cache_size,
        block_size: o.block_size,
        read_only: o.read_only,
        allow_other: o.allow_other,
        default_permissions: o.default_permissions,
        n_threads: o.threads,
        writeback_cache: o.writeback_cache.unwrap_or(d.writeback_cache),
        atime: !o.flags.contains(&fuser::MountOption::NoAtime),
        inode_fds: o.inode_fds,
        compression: o.compression,
        recompress: o.recompress,
        recompress_idle: o.recompress_idle,
        ..d
    }
}

/// Runs `scfs umount`; returns the exit code. Returns only once the daemon
/// has written every dirty block and exited.
pub fn run_umount(args: UmountArgs) -> i32 {
    match daemon::umount(&args) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("scfs umount: {e}");
            EXIT_ERROR
        }
    }
}
