//! The one directory walker of the CLI (`scfs stats`, `scfs convert`): the
//! regular files at or under a path, symlinks not followed, the daemon's
//! lock file skipped in every directory (it holds no file data, and
//! converting it would replace the inode daemons lock), sorted by path.
//! What else it skips and what an error does are the caller's choice.

use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// What a walk leaves out.
#[derive(Clone, Copy, Debug, Default)]
pub struct WalkOptions {
    /// Do not enter directories on another filesystem than the root.
    pub one_fs: bool,
    /// Skip the daemon's temporary files (`fs::TEMP_PREFIX`).
    pub skip_temps: bool,
}

/// A failed step of a walk: the path, what was tried, the error.
#[derive(Debug)]
pub struct WalkError {
    pub path: PathBuf,
    /// "cannot stat" or "cannot read directory".
    pub what: &'static str,
    pub err: io::Error,
}

/// The regular files at or under `root` with their metadata, sorted by
/// path (the order of a depth-first walk over sorted names). Each error
/// goes to `on_err`, which either lets the walk go on without that path
/// (Ok) or stops it with its error (Err).
pub fn regular_files<E>(
    root: &Path,
    opts: WalkOptions,
    on_err: &mut dyn FnMut(WalkError) -> Result<(), E>,
) -> Result<Vec<(PathBuf, fs::Metadata)>, E> {
    let fail = |path: &Path, what, err| WalkError {
        path: path.to_path_buf(),
        what,
        err,
    };
    let mut out = Vec::new();
    let top = match fs::symlink_metadata(root) {
        Ok(m) => m,
        Err(e) => {
            on_err(fail(root, "cannot stat", e))?;
            return Ok(out);
        }
    };
    let mut stack = vec![(root.to_path_buf(), Some(top.clone()))];
    while let Some((p, known)) = stack.pop() {
        let m = match known.map_or_else(|| fs::symlink_metadata(&p), Ok) {
            Ok(m) => m,
            Err(e) => {
                on_err(fail(&p, "cannot stat", e))?;
                continue;
            }
        };
        if m.is_file() {
            out.push((p, m));
            continue;
        }
        // Symlinks, devices, FIFOs and sockets hold no file data.
        if !m.is_dir() || (opts.one_fs && m.dev() != top.dev()) {
            continue;
        }
        let rd = match fs::read_dir(&p) {
            Ok(rd) => rd,
            Err(e) => {
                on_err(fail(&p, "cannot read directory", e))?;
                continue;
            }
        };
        for ent in rd {
            let ent = match ent {
                Ok(ent) => ent,
                Err(e) => {
                    on_err(fail(&p, "cannot read directory", e))?;
                    continue;
                }
            };
            let name = ent.file_name();
            let temp = name
                .as_encoded_bytes()
                .starts_with(crate::fs::TEMP_PREFIX.as_bytes());
            if name == crate::fs::LOCK_NAME || (opts.skip_temps && temp) {
                continue;
            }
            stack.push((ent.path(), None));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_regular_files_sorted_and_skips_what_it_is_told() {
        let d = std::env::temp_dir().join(format!("scfs-walk-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(d.join("a/b")).unwrap();
        for f in ["a.txt", "a/b/c", "a/x", "z", crate::fs::LOCK_NAME] {
            fs::write(d.join(f), b"1").unwrap();
        }
        let temp = format!("{}1.2", crate::fs::TEMP_PREFIX);
        fs::write(d.join("a").join(&temp), b"1").unwrap();
        std::os::unix::fs::symlink("z", d.join("link")).unwrap();
        let names = |opts| {
            let mut never = |e: WalkError| -> Result<(), WalkError> { Err(e) };
            regular_files(&d, opts, &mut never)
                .unwrap()
                .into_iter()
                .map(|(p, _)| p.strip_prefix(&d).unwrap().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
        };
        let all = names(WalkOptions::default());
        let temp_path = format!("a/{temp}");
        assert_eq!(all, [temp_path.as_str(), "a/b/c", "a/x", "a.txt", "z"]);
        let no_temps = names(WalkOptions {
            one_fs: true,
            skip_temps: true,
        });
        assert_eq!(no_temps, ["a/b/c", "a/x", "a.txt", "z"]);
        let mut errs = Vec::new();
        let mut keep = |e: WalkError| -> Result<(), ()> {
            errs.push(e.what);
            Ok(())
        };
        let none = regular_files(&d.join("missing"), WalkOptions::default(), &mut keep).unwrap();
        assert!(none.is_empty());
        assert_eq!(errs, ["cannot stat"]);
        fs::remove_dir_all(&d).unwrap();
    }
}
