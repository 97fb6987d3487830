//! `scfs convert PATH...`: plain files become containers in place.
//!
//! Files that were in BACKING before the first mount are served as they
//! are (plain) forever; this turns them into containers, one at a time,
//! atomically: the container is written beside the file under a temporary
//! name (the prefix the daemon hides and cleans up after a crash), given
//! the file's owner, mode, xattrs and times, and renamed over it, so a
//! reader sees the old file or the new one, never a missing or half-written
//! one. Two ways:
//!
//! - Offline, PATH inside BACKING: the CLI writes the container itself.
//!   Refused while a daemon serves a BACKING that holds PATH (found by its
//!   lock on the BACKING directory, held in shared mode by this command
//!   meanwhile so no daemon starts on it). Hard links: every name of a file
//!   must be under the given paths; all of them are moved to the new file.
//! - Live, PATH inside an scfs mount: for each plain file the CLI sets the
//!   policy xattr `user.scfs.compress` through the mount and the daemon
//!   rewrites the file under its own locks (fs/policy.rs), so nothing a
//!   program writes meanwhile is lost; a file open at that moment or with
//!   several names stays plain (it keeps the policy) and is reported.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

use super::files::Progress;
use super::human::human;
use super::mount::mountinfo;
use super::v2io::write_v2;
use super::walk::{regular_files, WalkError, WalkOptions};
use super::{CliError, ConvertArgs, EXIT_ERROR, EXIT_OK};
use crate::container::{Compression, Container};

/// What became of one file.
enum Outcome {
    /// Now a container: disk bytes (st_blocks) before and after.
    Converted { before: u64, after: u64 },
    /// Already a container.
    Already,
    /// Empty: nothing to gain (it becomes a container when written).
    Empty,
    /// Left as it was, with the reason.
    Left(String),
}

#[derive(Default)]
struct Tally {
    converted: u64,
    before: u64,
    after: u64,
    already: u64,
    empty: u64,
    left: u64,
}

impl Tally {
    fn add(&mut self, path: &Path, o: Outcome) {
        match o {
            Outcome::Converted { before, after } => {
                self.converted += 1;
                self.before += before;
                self.after += after;
            }
            Outcome::Already => self.already += 1,
            Outcome::Empty => self.empty += 1,
            Outcome::Left(why) => {
                self.left += 1;
                eprintln!("scfs convert: {}: left plain: {why}", path.display());
            }
        }
    }
}

/// Runs `scfs convert`.
pub fn convert(a: &ConvertArgs) -> Result<i32, CliError> {
    let level = a
        .level
        .unwrap_or(Compression::Level(crate::codec::Level::Default));
    let bs = a.block_size.unwrap_or(crate::container::DEFAULT_BLOCK_SIZE);
    let mounts =
        mountinfo::read().map_err(|e| CliError::io(format!("/proc/self/mountinfo: {e}")))?;
    let mut tally = Tally::default();
    for p in &a.paths {
        let abs = p
            .canonicalize()
            .map_err(|e| CliError::io(format!("{}: {e}", p.display())))?;
        if let Some(backing) = mountinfo::backing_path(&mounts, &abs) {
            if level == Compression::None {
                return Err(CliError::io(
                    "--level none keeps files plain: nothing to do",
                ));
            }
            for (f, _) in walk(&abs)? {
                let in_backing = match f.strip_prefix(&abs) {
                    Ok(rel) if !rel.as_os_str().is_empty() => backing.join(rel),
                    _ => backing.clone(),
                };
                let o = convert_live(&f, &in_backing, level);
                tally.add(&f, o);
            }
        } else {
            let _guard = lock_ancestors(&abs, &mounts)?;
            let files = walk(&abs)?;
            // Hard links: every name of a file, converted together.
            let mut names: HashMap<(u64, u64), Vec<PathBuf>> = HashMap::new();
            for (f, m) in &files {
                names.entry((m.dev(), m.ino())).or_default().push(f.clone());
            }
            for (f, m) in &files {
                let all = &names[&(m.dev(), m.ino())];
                if all[0] != *f {
                    continue; // done with its first name
                }
                let o = if m.nlink() > all.len() as u64 {
                    Outcome::Left(format!(
                        "{} hard links, {} of them outside the given paths",
                        m.nlink(),
                        m.nlink() - all.len() as u64
                    ))
                } else {
                    convert_offline(f, &all[1..], level, bs)
                };
                tally.add(f, o);
            }
        }
    }
    let saved = tally.before.saturating_sub(tally.after);
    let pct = if tally.before > 0 {
        saved as f64 * 100.0 / tally.before as f64
    } else {
        0.0
    };
    println!(
        "converted {} files: {} -> {} on disk (saved {}, {pct:.1}%); {} already containers, {} empty, {} left plain",
        tally.converted,
        human(tally.before),
        human(tally.after),
        human(saved),
        tally.already,
        tally.empty,
        tally.left
    );
    Ok(if tally.left > 0 { EXIT_ERROR } else { EXIT_OK })
}

/// The regular files at or under `root` (symlinks not followed, other
/// filesystems not entered, the daemon's temporary files and lock file
/// skipped: converting the lock file would replace the inode daemons
/// lock), sorted; the first error stops.
fn walk(root: &Path) -> Result<Vec<(PathBuf, fs::Metadata)>, CliError> {
    let opts = WalkOptions {
        one_fs: true,
        skip_temps: true,
    };
    let mut stop = |e: WalkError| Err(CliError::io(format!("{}: {}", e.path.display(), e.err)));
    let mut files = regular_files(root, opts, &mut stop)?;
    files.retain(|(p, _)| p.file_name() != Some(std::ffi::OsStr::new(crate::fs::LOCK_NAME)));
    Ok(files)
}

/// Takes a shared flock on `abs` (if a directory) and every directory
/// above it, and on the lock file in each that has one, plus an OFD write
/// lock on byte 1 of that lock file (FORMAT.md 6): a single-host daemon
/// holds exclusive flocks on its BACKING and its lock file, and every
/// daemon (shared ones too, on any host) a read lock on that byte, so this
/// fails when PATH is inside a served BACKING, and while held no daemon
/// starts on one.
fn lock_ancestors(
    abs: &Path,
    mounts: &[mountinfo::MountEntry],
) -> Result<Vec<Flock<File>>, CliError> {
    let mut held = Vec::new();
    let start = if abs.is_dir() {
        Some(abs)
    } else {
        abs.parent()
    };
    for dir in start.into_iter().flat_map(Path::ancestors) {
        // The directory, then its lock file if any (which a daemon on
        // another host of a shared filesystem holds; FORMAT.md 6).
        let lock_name = dir.join(crate::fs::LOCK_NAME);
        let open = |write: bool| {
            fs::OpenOptions::new()
                .read(true)
                .write(write)
                .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
                .open(&lock_name)
        };
        let (lockfile, writable) = match open(true) {
            Ok(f) => (Ok(f), true),
            Err(_) => (open(false), false),
        };
        let busy = || {
            let at = mountinfo::mounted_at(mounts, dir)
                .map(|m| {
                    format!(
                        " (mounted at {}: convert through the mount instead)",
                        m.display()
                    )
                })
                .unwrap_or_else(|| " (unmount it first, on every host)".into());
            CliError::io(format!(
                "{}: inside {}, a BACKING served by a running scfs daemon{at}",
                abs.display(),
                dir.display()
            ))
        };
        for (i, f) in [File::open(dir), lockfile].into_iter().enumerate() {
            let Ok(f) = f else { continue };
            match Flock::lock(f, FlockArg::LockSharedNonblock) {
                Ok(l) => {
                    let offline = super::mount::lockfile::OFFLINE_BYTE;
                    if i == 1
                        && writable
                        && !super::mount::lockfile::ofd_lock(&l, offline, true).unwrap_or(true)
                    {
                        return Err(busy());
                    }
                    held.push(l)
                }
                Err((_, Errno::EWOULDBLOCK)) => return Err(busy()),
                Err(_) => {}
            }
        }
    }
    Ok(held)
}

/// The disk bytes of the file at `p`.
fn disk_bytes(p: &Path) -> u64 {
    fs::symlink_metadata(p)
        .map(|m| m.blocks() * 512)
        .unwrap_or(0)
}

/// Through a mount: asks the daemon (policy xattr) and checks BACKING.
fn convert_live(path: &Path, backing: &Path, level: Compression) -> Outcome {
    let plain =
        match File::open(backing).and_then(|f| Ok((Container::is_container(&f)?, f.metadata()?))) {
            Ok((true, _)) => return Outcome::Already,
            Ok((false, m)) if m.len() == 0 => return Outcome::Empty,
            Ok((false, m)) => m,
            Err(e) => return Outcome::Left(format!("{}: {e}", backing.display())),
        };
    if plain.nlink() > 1 {
        return Outcome::Left(format!(
            "{} hard links: convert them offline (unmounted) with all their names",
            plain.nlink()
        ));
    }
    let before = plain.blocks() * 512;
    // The daemon rewrites only a file nobody has open: a reader may hold it
    // for a moment, so ask again a few times before giving up.
    for attempt in 0..LIVE_ATTEMPTS {
        if attempt > 0 {
            std::thread::sleep(std::time::Duration::from_millis(50 * attempt as u64));
        }
        // By path: an open descriptor would itself count as an open file.
        let set = crate::sys::cstr(path.as_os_str())
            .and_then(|p| crate::sys::setxattr(&p, crate::fs::POLICY, level.name().as_bytes(), 0));
        if let Err(e) = set {
            return Outcome::Left(format!(
                "cannot set {}: {e}",
                crate::fs::POLICY.to_string_lossy()
            ));
        }
        match File::open(backing).and_then(|f| Container::is_container(&f)) {
            Ok(true) => {
                return Outcome::Converted {
                    before,
                    after: disk_bytes(backing),
                }
            }
            Ok(false) => {}
            Err(e) => return Outcome::Left(format!("{}: {e}", backing.display())),
        }
    }
    Outcome::Left(
        "kept open by a program (it keeps the policy: run convert again once it is closed)".into(),
    )
}

/// How often a live conversion asks the daemon (backing off from 50 ms to
/// 0.45 s: about 2.3 s in all) before reporting the file as held open.
const LIVE_ATTEMPTS: usize = 10;

/// A temporary name beside the file, with the prefix the daemon hides.
fn temp_beside(p: &Path, n: usize) -> PathBuf {
    let name = format!(
        "{}convert.{}.{n}",
        crate::fs::TEMP_PREFIX,
        std::process::id()
    );
    p.with_file_name(OsString::from_vec(name.into_bytes()))
}

/// Offline: writes the container beside `path`, carries the metadata over
/// and renames it over `path` and its other names `links`.
fn convert_offline(path: &Path, links: &[PathBuf], level: Compression, bs: u32) -> Outcome {
    let src = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
    {
        Ok(f) => f,
        Err(e) => return Outcome::Left(e.to_string()),
    };
    let before = match src.metadata() {
        Ok(m) => m,
        Err(e) => return Outcome::Left(e.to_string()),
    };
    match Container::is_container(&src) {
        Ok(true) => return Outcome::Already,
        Ok(false) if before.len() == 0 => return Outcome::Empty,
        Ok(false) => {}
        Err(e) => return Outcome::Left(e.to_string()),
    }
    let tmp = temp_beside(path, 0);
    let made = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp);
    let out = match made {
        Ok(f) => f,
        Err(e) => return Outcome::Left(format!("{}: {e}", tmp.display())),
    };
    let mut extra: Vec<PathBuf> = Vec::new();
    let done = (|| -> Result<(), String> {
        let st = fstat(&src)?;
        crate::fs::copy_metadata(src.as_fd(), &out, &st).map_err(|e| format!("metadata: {e}"))?;
        let mut progress = Progress::new(&path.display().to_string(), Some(before.len()));
        let mut reader = &src;
        write_v2(
            &mut reader,
            path,
            out.try_clone().map_err(|e| e.to_string())?,
            &tmp,
            bs,
            level,
            &mut progress,
        )
        .map_err(|e| e.msg)?;
        progress.finish();
        crate::fs::set_times(&out, &st).map_err(|e| format!("times: {e}"))?;
        out.sync_all().map_err(|e| e.to_string())?;
        let now = fstat(&src)?;
        if (
            now.st_size,
            now.st_mtime,
            now.st_mtime_nsec,
            now.st_ctime,
            now.st_ctime_nsec,
        ) != (
            st.st_size,
            st.st_mtime,
            st.st_mtime_nsec,
            st.st_ctime,
            st.st_ctime_nsec,
        ) {
            return Err("changed while it was being converted".into());
        }
        for (i, l) in links.iter().enumerate() {
            let t = temp_beside(l, i + 1);
            fs::hard_link(&tmp, &t).map_err(|e| format!("{}: {e}", t.display()))?;
            extra.push(t.clone());
            fs::rename(&t, l).map_err(|e| format!("{}: {e}", l.display()))?;
            extra.pop();
        }
        fs::rename(&tmp, path).map_err(|e| e.to_string())?;
        for p in links.iter().map(PathBuf::as_path).chain([path]) {
            if let Some(d) = p.parent() {
                File::open(d)
                    .and_then(|d| d.sync_all())
                    .map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    })();
    match done {
        Ok(()) => Outcome::Converted {
            before: before.blocks() * 512,
            after: disk_bytes(path),
        },
        Err(why) => {
            // Names already moved to the new file keep it: same contents.
            let _ = fs::remove_file(&tmp);
            for t in extra {
                let _ = fs::remove_file(t);
            }
            Outcome::Left(why)
        }
    }
}

fn fstat(f: &File) -> Result<libc::stat, String> {
    crate::sys::fstat(f.as_fd()).map_err(|e| format!("fstat: {e}"))
}
