//! The mount life cycle: argument checks, daemonizing (fork before any
//! thread exists, setsid, report readiness through a pipe), the BACKING lock,
//! the fuser session with its signal thread, and `scfs umount`.
//!
//! The lock (`lockfile`) is `flock(LOCK_EX|LOCK_NB)` on the BACKING
//! directory and on the lock file `BACKING/.scfs.lock`, taken by the daemon
//! and held until it exits, so a crashed daemon leaves no stale lock.
//! `scfs umount` unmounts and then waits for the directory lock to be free:
//! the daemon releases it only after the session ended and the filesystem
//! was destroyed (every dirty block written and synced).

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fuser::Filesystem;
use log::{error, info, warn};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg, OFlag};
use nix::sys::signal::{SigSet, Signal};
use nix::unistd::ForkResult;

use super::kmount::{self, Unmounter};
use super::mountinfo;
use super::options::{fuse_config, parse_options, MountOptions};
use super::{MountArgs, UmountArgs};
use crate::cli::{CliError, EXIT_ERROR, EXIT_OK};

/// Checked and canonicalized arguments of a mount.
pub struct Prepared {
    pub backing: PathBuf,
    pub mnt: PathBuf,
    pub opts: MountOptions,
}

fn check_dir(what: &str, p: &Path) -> Result<PathBuf, String> {
    match std::fs::metadata(p) {
        Ok(m) if m.is_dir() => p
            .canonicalize()
            .map_err(|e| format!("{what} {}: {e}", p.display())),
        Ok(_) => Err(format!("{what} {}: not a directory", p.display())),
        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => Err(format!(
            "{what} {}: {e} (a dead mount? run: scfs umount {})",
            p.display(),
            p.display()
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            Err(format!("{what} {}: no such directory", p.display()))
        }
        Err(e) => Err(format!("{what} {}: {e}", p.display())),
    }
}

/// Whether `p` is the mount point of an scfs mount whose daemon is gone
/// (every access fails with ENOTCONN), e.g. after a kill -9.
fn is_dead_scfs_mount(p: &Path) -> bool {
    let dead = matches!(std::fs::metadata(p), Err(e) if e.raw_os_error() == Some(libc::ENOTCONN));
    let Ok(abs) = mountinfo::absolute_lexical(p) else {
        return false;
    };
    dead && mountinfo::read()
        .ok()
        .and_then(|entries| mountinfo::find_mount(&entries, &abs))
        .is_some_and(|e| mountinfo::scfs_backing(&e).is_some())
}

/// Detaches a dead scfs mount at `p` (what `scfs umount` would do), so a
/// remount after a crash needs no manual step.
fn reap_dead_mount(p: &Path) {
    if is_dead_scfs_mount(p) {
        warn!(
            "{}: detaching a dead scfs mount (its daemon is gone)",
            p.display()
        );
        lazy_detach(p);
    }
}

/// Everything that can be checked before forking.
pub fn prepare(args: &MountArgs) -> Result<Prepared, String> {
    let opts = parse_options(&args.options)?;
    let backing = check_dir("BACKING", &args.backing)?;
    reap_dead_mount(&args.mountpoint);
    let mnt = check_dir("MNT", &args.mountpoint)?;
    if mountinfo::is_within(&mnt, &backing) || mountinfo::is_within(&backing, &mnt) {
        return Err(format!(
            "MNT {} and BACKING {} must not contain each other",
            mnt.display(),
            backing.display()
        ));
    }
    check_dev_fuse()?;
    let entries = mountinfo::read().unwrap_or_default();
    let mut wait = LOCK_WAIT;
    if let Some(at) = mountinfo::mounted_at(&entries, &backing) {
        if opts.shared && !is_dead_scfs_mount(&at) {
            // Another shared daemon of this host may serve it too: the
            // locks decide at once (a single-host one holds them
            // exclusively, and is not going away).
            wait = Duration::ZERO;
        } else if is_dead_scfs_mount(&at) {
            // The daemon of that mount died: its dead mount goes.
            reap_dead_mount(&at);
        } else {
            return Err(format!(
                "BACKING {} is already mounted at {}",
                backing.display(),
                at.display()
            ));
        }
    }
    super::checks::check_placement(&entries, &backing, &mnt, opts.nonempty)?;
    super::checks::wait_for_lock(&backing, wait, opts.shared)?;
    Ok(Prepared { backing, mnt, opts })
}

/// How long a mount waits for the previous daemon of its BACKING (already
/// unmounted, still writing its last blocks) to exit.
const LOCK_WAIT: Duration = Duration::from_secs(300);

/// A user's mount needs /dev/fuse readable and writable (root's always is).
fn check_dev_fuse() -> Result<(), String> {
    match std::fs::metadata("/dev/fuse") {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err("/dev/fuse not found (is the fuse kernel module loaded? \
                 try: modprobe fuse)"
                .into())
        }
        Err(e) => return Err(format!("/dev/fuse: {e}")),
    }
    super::checks::check_dev_fuse_access(Path::new("/dev/fuse"))
}

/// Where the daemon's readiness (or its one-line error) goes.
struct Ready(Option<OwnedFd>);

impl Ready {
    fn send(&mut self, msg: &str) {
        if let Some(fd) = self.0.take() {
            let _ = nix::unistd::write(&fd, msg.as_bytes());
        }
    }
    fn ok(&mut self) {
        self.send("OK\n");
    }
    /// A failure before the mount was ready: in the daemon it is logged
    /// and sent to the waiting parent (which reports it); in the foreground
    /// it is the command's error.
    fn fail(&mut self, msg: String) -> Result<i32, CliError> {
        let line = msg.lines().next().unwrap_or("").trim().to_owned();
        if self.0.is_some() {
            error!("{line}");
            self.send(&format!("ERR {line}\n"));
            Ok(EXIT_ERROR)
        } else {
            Err(CliError::io(line))
        }
    }
}

/// The default log level: info, or debug with `-d` (RUST_LOG still wins).
fn log_level(debug: bool) -> &'static str {
    if debug {
        "debug"
    } else {
        "info"
    }
}

fn init_logger(debug: bool) {
    let _ = env_logger::Builder::from_env(
        env_logger::Env::default().default_filter_or(log_level(debug)),
    )
    .try_init();
}

fn signal_set() -> SigSet {
    let mut s = SigSet::empty();
    s.add(Signal::SIGTERM);
    s.add(Signal::SIGINT);
    s.add(Signal::SIGHUP);
    s
}

/// Unmounts `mnt` lazily: it disappears now, the daemon ends when the last
/// file open in it is closed.
fn lazy_detach(mnt: &Path) {
    if crate::sys::is_root() {
        if let Err(e) = nix::mount::umount2(mnt, nix::mount::MntFlags::MNT_DETACH) {
            error!("lazy unmount of {} failed: {e}", mnt.display());
        }
    } else {
        let st = std::process::Command::new("fusermount3")
            .args(["-u", "-z", "--"])
            .arg(mnt)
            .status();
        if !matches!(st, Ok(s) if s.success()) {
            error!("fusermount3 -u -z {} failed", mnt.display());
        }
    }
}

/// The signal thread: SIGTERM/SIGINT/SIGHUP unmount (flushing everything on
/// the way out, as any unmount does).
fn spawn_signal_thread(sigs: SigSet, mut unmounter: Unmounter, mnt: PathBuf) {
    let r = std::thread::Builder::new()
        .name("scfs-signals".into())
        .spawn(move || {
            let mut first = true;
            loop {
                let sig = match sigs.wait() {
                    Ok(s) => s,
                    Err(e) => {
                        error!("waiting for signals failed: {e}");
                        return;
                    }
                };
                if !first {
                    warn!("{sig}: already unmounting {}", mnt.display());
                    continue;
                }
                first = false;
                info!("{sig}: unmounting {}", mnt.display());
                if let Err(e) = unmounter.unmount() {
                    warn!(
                        "unmount of {} failed ({e}); detaching it lazily: the daemon \
                         ends when the last file open in it is closed",
                        mnt.display()
                    );
                    lazy_detach(&mnt);
                }
            }
        });
    if let Err(e) = r {
        error!("cannot start the signal thread: {e}");
    }
}

/// Runs the filesystem until it is unmounted. `ready` is the daemon's pipe
/// to the waiting parent (None in the foreground). `make_fs` also returns
/// what to do with the session's notifier once mounted.
fn serve<F, N, M>(prep: Prepared, make_fs: M, ready: Option<OwnedFd>) -> Result<i32, CliError>
where
    F: Filesystem,
    N: FnOnce(fuser::Notifier),
    M: FnOnce(&Path, &MountOptions) -> io::Result<(F, N)>,
{
    let mut ready = Ready(ready);
    // Block the signals before any thread exists: every thread inherits the
    // mask, so only the signal thread's sigwait ever receives them.
    let sigs = signal_set();
    if let Err(e) = sigs.thread_block() {
        return ready.fail(format!("cannot block signals: {e}"));
    }
    let lock = match super::lockfile::take(&prep.backing, prep.opts.shared) {
        Ok(l) => l,
        Err(e) => return ready.fail(e),
    };
    let (fs, take_notifier) = match make_fs(&prep.backing, &prep.opts) {
        Ok(fs) => fs,
        Err(e) => return ready.fail(format!("BACKING {}: {e}", prep.backing.display())),
    };
    let config = fuse_config(&prep.opts, &prep.backing);
    // Before the mount covers it; `scfs umount` waits for it.
    let mnt_lock = super::lockfile::MntLock::take(&prep.mnt);
    let (session, unmounter) = match kmount::mount(fs, &prep.mnt, &config) {
        Ok(s) => s,
        Err(e) => return ready.fail(format!("cannot mount on {}: {e}", prep.mnt.display())),
    };
    take_notifier(session.notifier());
    spawn_signal_thread(sigs, unmounter, prep.mnt.clone());
    info!(
        "mounted {} on {} ({:?})",
        prep.backing.display(),
        prep.mnt.display(),
        prep.opts
    );
    ready.ok();
    let code = match session.run() {
        Ok(()) => {
            info!("{} unmounted; all data written", prep.mnt.display());
            0
        }
        Err(e) => {
            error!("session on {} ended with an error: {e}", prep.mnt.display());
            // Leave no dead mount behind (fuser does the same for its own).
            reap_dead_mount(&prep.mnt);
            EXIT_ERROR
        }
    };
    drop(lock);
    drop(mnt_lock);
    Ok(code)
}

fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(1)
}

/// The parent's side: waits for the daemon's "OK" or its error line.
fn wait_ready(rd: OwnedFd, child: nix::unistd::Pid) -> Result<i32, CliError> {
    let mut msg = String::new();
    let _ = File::from(rd).read_to_string(&mut msg);
    if msg.starts_with("OK") {
        return Ok(0);
    }
    if let Some(e) = msg.strip_prefix("ERR ") {
        let _ = nix::sys::wait::waitpid(child, None);
        return Err(CliError::io(e.trim_end()));
    }
    let status = nix::sys::wait::waitpid(child, None)
        .map(|s| format!("{s:?}"))
        .unwrap_or_else(|e| e.to_string());
    Err(CliError::io(format!(
        "the daemon ended before the mount was ready ({status})"
    )))
}

/// `scfs mount` with any filesystem: `make_fs(backing, options)` builds it
/// inside the daemon. Returns the exit code (in the daemon: after unmount).
pub fn run_mount_with<F, M>(args: MountArgs, make_fs: M) -> Result<i32, CliError>
where
    F: Filesystem,
    M: FnOnce(&Path, &MountOptions) -> io::Result<F>,
{
    run_mount_notified(args, |backing, opts| {
        make_fs(backing, opts).map(|fs| (fs, |_: fuser::Notifier| {}))
    })
}

/// `run_mount_with` for a filesystem that takes the session's notifier:
/// `make_fs` returns it with a function that is handed the notifier once
/// the filesystem is mounted.
pub fn run_mount_notified<F, N, M>(args: MountArgs, make_fs: M) -> Result<i32, CliError>
where
    F: Filesystem,
    N: FnOnce(fuser::Notifier),
    M: FnOnce(&Path, &MountOptions) -> io::Result<(F, N)>,
{
    if args
        .options
        .iter()
        .any(|o| o.split(',').any(|o| o.trim() == "remount"))
    {
        super::checks::remount(&args).map_err(CliError::io)?;
        return Ok(EXIT_OK);
    }
    let prep = prepare(&args).map_err(CliError::io)?;
    if args.foreground {
        init_logger(args.debug);
        return serve(prep, make_fs, None);
    }
    let log = match &args.log_file {
        Some(p) => OpenOptions::new().create(true).append(true).open(p),
        None => OpenOptions::new().write(true).open("/dev/null"),
    };
    let log = log.map_err(|e| CliError::io(format!("log file: {e}")))?;
    let devnull = File::open("/dev/null").map_err(|e| CliError::io(format!("/dev/null: {e}")))?;
    if thread_count() > 1 {
        return Err(CliError::io(
            "cannot daemonize a multi-threaded process (use -f)",
        ));
    }
    let (rd, wr) =
        nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| CliError::io(format!("pipe: {e}")))?;
    // SAFETY: the process has exactly one thread (checked just above), so
    // the child is a full copy with no lock held by a vanished thread and
    // may run arbitrary code, including allocation and spawning threads.
    match unsafe { nix::unistd::fork() } {
        Err(e) => Err(CliError::io(format!("fork: {e}"))),
        Ok(ForkResult::Parent { child }) => {
            drop(wr);
            wait_ready(rd, child)
        }
        Ok(ForkResult::Child) => {
            drop(rd);
            let _ = nix::unistd::setsid();
            let _ = nix::unistd::chdir("/");
            let _ = nix::unistd::dup2_stdin(&devnull);
            let _ = nix::unistd::dup2_stdout(&devnull);
            let _ = nix::unistd::dup2_stderr(&log);
            drop((devnull, log));
            // --log-file wins; otherwise the system log (or, when that
            // cannot be set up, stderr: /dev/null).
            if args.log_file.is_some() || !super::syslog::install(&prep.mnt, log_level(args.debug))
            {
                init_logger(args.debug);
            }
            serve(prep, make_fs, Some(wr))
        }
    }
}

/// The wait of `scfs umount` for its daemon: tells the user after 3 s,
/// gives up after `timeout`, polls every 10 ms.
struct Waiting {
    start: Instant,
    timeout: Duration,
    told: bool,
}

impl Waiting {
    fn new(timeout: Duration) -> Waiting {
        Waiting {
            start: Instant::now(),
            timeout,
            told: false,
        }
    }

    /// One poll interval; an error naming `what` once `timeout` passed.
    fn tick(&mut self, what: &Path) -> Result<(), String> {
        if !self.told && self.start.elapsed() > Duration::from_secs(3) {
            eprintln!("scfs umount: waiting for the daemon to finish writing...");
            self.told = true;
        }
        if self.start.elapsed() > self.timeout {
            return Err(format!(
                "the daemon of {} is still running after {} s",
                what.display(),
                self.timeout.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
        Ok(())
    }
}

/// Waits until the daemon of the unmounted `mnt` has written everything and
/// exited: until it let its lock on the directory under `mnt` go, or
/// (where that cannot be told) until no process holds the BACKING lock.
fn wait_for_daemon(backing: &Path, mnt: &Path, timeout: Duration) -> Result<(), String> {
    let mut waiting = Waiting::new(timeout);
    while let Some(free) = super::lockfile::MntLock::free(mnt) {
        if free {
            return Ok(());
        }
        waiting.tick(mnt)?;
    }
    let Ok(mut dir) = File::open(backing) else {
        return Ok(());
    };
    let mut waiting = Waiting::new(timeout);
    loop {
        match Flock::lock(dir, FlockArg::LockExclusiveNonblock) {
            Ok(_unlocked_on_drop) => {
                // The daemon let its lock file go first; held now, it is
                // another daemon's (perhaps on another host): not ours to wait for.
                if let Err(e) = super::lockfile::probe(backing, false) {
                    log::debug!("after the daemon exited: {e}");
                }
                return Ok(());
            }
            Err((d, Errno::EWOULDBLOCK)) => dir = d,
            Err((_, e)) => return Err(format!("cannot lock BACKING {}: {e}", backing.display())),
        }
        waiting.tick(backing)?;
    }
}

/// `scfs umount MNT`.
pub fn umount(args: &UmountArgs) -> Result<(), String> {
    let mnt = mountinfo::absolute_lexical(&args.mountpoint)
        .map_err(|e| format!("{}: {e}", args.mountpoint.display()))?;
    let entries = mountinfo::read().map_err(|e| format!("/proc/self/mountinfo: {e}"))?;
    let entry = mountinfo::find_mount(&entries, &mnt)
        .ok_or_else(|| format!("{} is not mounted", mnt.display()))?;
    let backing = mountinfo::scfs_backing(&entry).ok_or_else(|| {
        format!(
            "{} is not an scfs mount ({} from {})",
            mnt.display(),
            entry.fs_type,
            entry.source
        )
    })?;
    if args.lazy {
        lazy_detach(&mnt);
        return Ok(());
    }
    if crate::sys::is_root() {
        // The kernel holds the mount until the daemon has answered the
        // RELEASE of every closed file, which it sends asynchronously after
        // close(2): a mount whose files were all just closed can look busy
        // for a moment. Retry for a second before calling it busy.
        let deadline = std::time::Instant::now() + Duration::from_secs(1);
        loop {
            match nix::mount::umount(&mnt) {
                Ok(()) => break,
                Err(Errno::EBUSY) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(Errno::EBUSY) => {
                    return Err(format!(
                        "{} is busy: a process has a file or directory open in it",
                        mnt.display()
                    ))
                }
                Err(e) => return Err(format!("cannot unmount {}: {e}", mnt.display())),
            }
        }
    } else {
        let out = std::process::Command::new("fusermount3")
            .args(["-u", "--"])
            .arg(&mnt)
            .output()
            .map_err(|e| format!("fusermount3: {e}"))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            return Err(err
                .lines()
                .next()
                .unwrap_or("fusermount3 failed")
                .to_owned());
        }
    }
    wait_for_daemon(&backing, &mnt, Duration::from_secs(args.timeout))
}
