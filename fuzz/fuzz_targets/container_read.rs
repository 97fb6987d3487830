//! Fuzz target: the v2 container reader. The input bytes become a backing
//! file (in /dev/shm when available); the container is opened read-only and
//! every data block is read. Errors are fine; panics, hangs and huge
//! allocations are bugs.
#![no_main]

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use scfs::container::Container;

fn scratch() -> &'static File {
    static FILE: OnceLock<File> = OnceLock::new();
    FILE.get_or_init(|| {
        let dir = if std::path::Path::new("/dev/shm").is_dir() {
            std::path::PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let path = dir.join(format!("scfs-fuzz-container.{}", std::process::id()));
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .expect("scratch file");
        let _ = std::fs::remove_file(&path);
        f
    })
}

fuzz_target!(|data: &[u8]| {
    let f = scratch();
    f.set_len(0).expect("truncate");
    f.write_all_at(data, 0).expect("write");
    let Ok(file) = f.try_clone() else { return };
    let Ok(c) = Container::open(file, false) else { return };
    let bs = c.block_size() as usize;
    let nblocks = c.logical_size().div_ceil(bs as u64);
    let mut buf = vec![0u8; bs];
    let mut b = 0u64;
    let mut reads = 0;
    while let Some(n) = c.next_data_block(b) {
        if n >= nblocks || reads > 4096 {
            break;
        }
        let _ = c.read_block(n, &mut buf);
        let _ = c.block_kind(n);
        b = n + 1;
        reads += 1;
    }
    let _ = c.stats();
});
