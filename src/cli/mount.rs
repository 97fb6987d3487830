//! `scfs mount` / `scfs umount`. PLACEHOLDER: the mount life-cycle work
//! replaces this file wholesale.

/// Arguments of `scfs mount`.
#[derive(clap::Args, Debug)]
pub struct MountArgs {
    /// Directory holding the compressed files.
    pub backing: std::path::PathBuf,
    /// Where the uncompressed view appears.
    pub mountpoint: std::path::PathBuf,
}

/// Arguments of `scfs umount`.
#[derive(clap::Args, Debug)]
pub struct UmountArgs {
    /// The mount point.
    pub mountpoint: std::path::PathBuf,
}

/// Runs `scfs mount`; returns the exit code.
pub fn run_mount(_args: MountArgs) -> i32 {
    eprintln!("scfs mount: not implemented yet");
    2
}

/// Runs `scfs umount`; returns the exit code.
pub fn run_umount(_args: UmountArgs) -> i32 {
    eprintln!("scfs umount: not implemented yet");
    2
}
