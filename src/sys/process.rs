//! Process and thread settings: who we run as, the open-file limit, the
//! umask, the scheduling priority of a background thread, random bytes,
//! SIGPIPE's disposition, whether stderr is a terminal; and the write-out
//! hint `sync_file_range`.

use std::io;
use std::os::fd::AsRawFd;

use nix::sys::resource::{getrlimit, setrlimit, Resource};

/// Whether the process runs with effective uid 0.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// The effective uid.
pub fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// Whether standard error is a terminal (progress lines are drawn only
/// then).
pub fn stderr_is_terminal() -> bool {
    std::io::IsTerminal::is_terminal(&std::io::stderr())
}

/// Restores the default disposition of SIGPIPE (the process ends quietly
/// when the reader of a pipe goes away, like other filters); call it
/// before any thread is started.
pub fn default_sigpipe() {
    // SAFETY: SIG_DFL installs no handler, so no handler can run code that
    // is not async-signal-safe; nothing else reads the disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// RLIMIT_NOFILE's soft limit (1024 if unknown).
pub fn nofile_limit() -> usize {
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, _)) => usize::try_from(soft).unwrap_or(usize::MAX),
        Err(_) => 1024,
    }
}

/// Raises RLIMIT_NOFILE as far as allowed: one O_PATH descriptor is held
/// per inode the kernel knows, so a tree of more files than the limit would
/// fail with EMFILE (a hard limit of 20000 is common in containers). With
/// CAP_SYS_RESOURCE (root) both limits go up to the kernel's `nr_open`;
/// otherwise the soft limit goes up to the hard one.
pub fn raise_nofile_limit() {
    let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse::<libc::rlim_t>().ok());
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return;
    };
    if let Some(n) = nr_open.filter(|&n| n > hard) {
        if setrlimit(Resource::RLIMIT_NOFILE, n, n).is_ok() {
            return;
        }
    }
    if soft < hard {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

/// The process umask (read from /proc so that it is never changed, not
/// even for a moment); 0o022 if unknown.
pub fn process_umask() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Umask:"))
                .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        })
        .unwrap_or(0o022)
}

/// Eight random bytes from the kernel (getrandom(2)), or None when it
/// cannot give them now.
pub fn random_u64() -> Option<u64> {
    let mut b = [0u8; 8];
    // SAFETY: `b` is a local array valid for writes of `b.len()` (8) bytes
    // for the whole call; getrandom writes at most that many bytes and
    // keeps no pointer after returning.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
    (n == b.len() as isize).then(|| u64::from_le_bytes(b))
}

/// `sync_file_range(SYNC_FILE_RANGE_WRITE)`: starts write-out of the dirty
/// pages of `file` in `offset..offset+len` without waiting for it (a range
/// past what an off_t holds is ignored).
pub fn sync_file_range_write(file: &std::fs::File, offset: u64, len: u64) -> io::Result<()> {
    let (Ok(off), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return Ok(());
    };
    // SAFETY: plain integer arguments on a descriptor that `file` keeps
    // open for the duration of the call; no memory is passed.
    let r =
        unsafe { libc::sync_file_range(file.as_raw_fd(), off, len, libc::SYNC_FILE_RANGE_WRITE) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Lowers the calling thread's CPU priority to nice 19 and its I/O
/// priority to the idle class (best effort: failures are logged at debug
/// level, prefixed with `who`).
pub fn lower_thread_priority(who: &str) {
    let tid = nix::unistd::gettid().as_raw();
    // SAFETY: setpriority takes plain integers and touches no memory; on
    // Linux PRIO_PROCESS with a thread id changes that thread only.
    if unsafe { libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 19) } != 0 {
        log::debug!("{who}: setpriority: {}", io::Error::last_os_error());
    }
    const IOPRIO_WHO_PROCESS: libc::c_long = 1;
    const IOPRIO_CLASS_IDLE: libc::c_long = 3;
    const IOPRIO_CLASS_SHIFT: libc::c_long = 13;
    // SAFETY: ioprio_set(2) takes three integers and touches no memory;
    // IOPRIO_WHO_PROCESS with a thread id changes that thread only.
    let r = unsafe {
        libc::syscall(
            libc::SYS_ioprio_set,
            IOPRIO_WHO_PROCESS,
            libc::c_long::from(tid),
            IOPRIO_CLASS_IDLE << IOPRIO_CLASS_SHIFT,
        )
    };
    if r != 0 {
        log::debug!("{who}: ioprio_set: {}", io::Error::last_os_error());
    }
}
