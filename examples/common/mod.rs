//! Shared by the codec benchmark examples: the command line (`[DIR]
//! [--reps N]`), the corpus file list, a sorted recursive file walk and thread
//! CPU time.

/// The corpus directory and repetition count from the command line.
pub fn args(default_reps: usize) -> (String, usize) {
    let mut dir = String::from("/work/shared/corpus/silesia");
    let mut reps = default_reps;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "-h" || a == "--help" {
            println!(
                "usage: {} [CORPUS_DIR] [--reps N]",
                std::env::args().next().unwrap_or_default()
            );
            std::process::exit(0);
        } else if a == "--reps" {
            reps = args
                .next()
                .and_then(|x| x.parse().ok())
                .unwrap_or(default_reps)
                .max(1);
        } else {
            dir = a;
        }
    }
    (dir, reps)
}

/// The corpus files in `dir` (not its README), sorted.
pub fn corpus_files(dir: &str) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| {
            eprintln!("{dir}: {e}");
            std::process::exit(2)
        })
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.extension().is_none_or(|x| x != "md"))
        .collect();
    files.sort();
    files
}

/// Every regular file under `dir`, recursively, in sorted order
/// (symbolic links and unreadable directories are skipped).
#[allow(dead_code)] // not every example walks a directory
pub fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut v: Vec<_> = rd.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    v.sort();
    for p in v {
        let Ok(md) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if md.is_dir() {
            walk(&p, out);
        } else if md.is_file() {
            out.push(p);
        }
    }
}

/// CPU time of this thread, in seconds.
pub fn thread_cpu() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec we pass, which is a
    // valid, exclusively borrowed local.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0.0;
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}
