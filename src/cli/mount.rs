//! `scfs mount` / `scfs umount`: the mount life cycle.
//!
//! - `options`: the `-o` list (unknown options are errors) and the fuser
//!   configuration built from it (shared with the benchmark's passthrough).
//! - `daemon`: checks, fork/setsid/ready pipe, the BACKING lock, the session
//!   and its signal thread, and unmount-and-wait.
//! - `syslog`: the detached daemon's logger (the system log).
//! - `mountinfo`: /proc/self/mountinfo and /proc/locks readers.
//! - `help`: the table of `-o` options that `--help` and the man page print.
//! - `flags`: the generic VFS flags (relatime, nodev, ...) and the
//!   options of mount(8)/systemd that scfs accepts and ignores.
//! - `kmount`: root's mount(2) as `fuse.scfs`, remount, unmount.
//! - `atime`: access times by the mount's flags, following remounts.
//! - `checks`: the refusals before a mount, the wait for the previous
//!   daemon, and `-o remount`.
//!
//! `scfs BACKING MNT -o OPTS` (how mount.fuse3 runs a `fuse.scfs` mount
//! from `mount -t fuse.scfs` or /etc/fstab) is `scfs mount BACKING MNT -o
//! OPTS`: see [`helper_argv`].

use std::path::PathBuf;

pub mod atime;
pub mod checks;
pub mod daemon;
pub mod flags;
pub mod help;
pub mod kmount;
pub mod lockfile;
pub mod mountinfo;
pub mod options;
pub mod syslog;

pub use daemon::{run_mount_notified, run_mount_with};
pub use options::MountOptions;

use crate::cli::{CliError, EXIT_OK};

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
    /// Comma-separated mount options (may repeat); listed below.
    #[arg(short = 'o', value_name = "OPTIONS")]
    pub options: Vec<String>,
    /// Without -f: append the log to FILE instead of sending it to the
    /// system log.
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

/// Rewrites the argv of a mount helper call, `scfs BACKING MNT [-o OPTS]`
/// (what mount.fuse3 runs for type `fuse.scfs`), to `scfs mount BACKING
/// MNT ...`: when the first argument is no subcommand or flag but names a
/// path (contains a `/` or is a directory). `scfs compres f` stays a
/// usage error with clap's suggestion.
pub fn helper_argv(
    mut args: Vec<std::ffi::OsString>,
    subcommands: &[&str],
) -> Vec<std::ffi::OsString> {
    let Some(first) = args.get(1) else {
        return args;
    };
    let s = first.to_string_lossy();
    let is_path = s.contains('/') || std::path::Path::new(first).is_dir();
    if !s.starts_with('-') && !subcommands.contains(&s.as_ref()) && is_path && args.len() >= 3 {
        args.insert(1, "mount".into());
    }
    args
}

/// Runs `scfs mount`; returns the exit code. Without `-f` it returns 0 only
/// once MNT is ready, leaving the daemon behind.
pub fn run_mount(args: MountArgs) -> Result<i32, CliError> {
    let mnt = mountinfo::absolute_lexical(&args.mountpoint).unwrap_or(args.mountpoint.clone());
    run_mount_notified(args, move |backing, o| {
        let mut flags = o.vfs.for_new_mount();
        if o.read_only {
            flags |= libc::MS_RDONLY;
        }
        let (path, policy) = atime::setup(backing, flags);
        let mut fo = fs_options(o);
        fo.atime_policy = Some(policy);
        let fs = crate::fs::ScfsFs::new(&path, fo)?;
        fs.set_shown_paths(backing, &mnt);
        let hook = fs.clone();
        Ok((fs, move |n| hook.set_notifier(n)))
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
        atime: flags::atime_policy(o.vfs.for_new_mount()) != flags::Atime::Never,
        inode_fds: o.inode_fds,
        compression: o.compression,
        recompress: o.recompress,
        recompress_idle: o.recompress_idle,
        shared: o.shared,
        lock_wait: o.lock_wait,
        attr_timeout: o.actimeo,
        ..d
    }
}

/// Runs `scfs umount`; returns the exit code. Returns only once the daemon
/// has written every dirty block and exited.
pub fn run_umount(args: UmountArgs) -> Result<i32, CliError> {
    daemon::umount(&args).map_err(CliError::io)?;
    Ok(EXIT_OK)
}
