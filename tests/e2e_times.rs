//! The ctime a user sees (issue 17, item 2), through real mounts: it moves
//! when the user changes the file (write, truncate, chmod, chown, utimens,
//! setxattr, removexattr, link, unlink of another name, rename) and never
//! because the daemon writes the backing file itself: the write-back and
//! mtime stamp at close, the compaction at close, the seal at unmount,
//! idle recompression; it survives unmount and mount; the record that
//! keeps it (`user.scfs.ctime`, FORMAT.md 3.10) is hidden from users.

mod common;

use std::ffi::CString;
use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{data, wait_until, Mount};

/// More than the kernel's attribute cache time and any ctime granularity.
const PAUSE: Duration = Duration::from_millis(1200);

/// (seconds, nanoseconds).
type T = (i64, i64);

/// The ctime of `p` as the daemon reports it now (statx with
/// AT_STATX_FORCE_SYNC: not from the kernel's attribute cache).
fn ctime(p: &Path) -> T {
    let c = CString::new(p.as_os_str().as_bytes()).unwrap();
    // SAFETY: an all-zero statx is a valid value of this plain C struct.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: a valid NUL-terminated path and a writable statx buffer.
    let r = unsafe {
        libc::statx(
            libc::AT_FDCWD,
            c.as_ptr(),
            libc::AT_STATX_FORCE_SYNC,
            libc::STATX_BASIC_STATS,
            &mut stx,
        )
    };
    assert_eq!(
        r,
        0,
        "statx {}: {}",
        p.display(),
        std::io::Error::last_os_error()
    );
    (stx.stx_ctime.tv_sec, stx.stx_ctime.tv_nsec as i64)
}

fn now() -> T {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    (d.as_secs() as i64, d.subsec_nanos() as i64)
}

/// `t` minus one second.
fn before(t: T) -> T {
    (t.0 - 1, t.1)
}

fn xattr_names(p: &Path) -> Vec<String> {
    let c = CString::new(p.as_os_str().as_bytes()).unwrap();
    let mut buf = vec![0u8; 4096];
    // SAFETY: `buf` is writable for its length; a valid C string.
    let n = unsafe { libc::listxattr(c.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    assert!(n >= 0, "listxattr: {}", std::io::Error::last_os_error());
    buf[..n as usize]
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

fn set_xattr(p: &Path, name: &str, v: &[u8]) -> std::io::Result<()> {
    let path = CString::new(p.as_os_str().as_bytes()).unwrap();
    let name = CString::new(name).unwrap();
    // SAFETY: valid C strings and a value buffer of its length.
    let r = unsafe { libc::setxattr(path.as_ptr(), name.as_ptr(), v.as_ptr().cast(), v.len(), 0) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn get_xattr_len(p: &Path, name: &str) -> std::io::Result<usize> {
    let path = CString::new(p.as_os_str().as_bytes()).unwrap();
    let name = CString::new(name).unwrap();
    // SAFETY: a size probe (null buffer, length 0) with valid C strings.
    let n = unsafe { libc::getxattr(path.as_ptr(), name.as_ptr(), std::ptr::null_mut(), 0) };
    if n >= 0 {
        Ok(n as usize)
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[test]
fn the_close_and_the_unmount_do_not_move_the_ctime_of_a_written_file() {
    let Some(mut m) = Mount::new() else { return };
    let p = m.p("a.txt");
    let mut f = fs::File::create(&p).unwrap();
    f.write_all(&data(3 << 20, 1, true)).unwrap();
    let written = now();
    sleep(PAUSE);
    // The close writes the blocks back and stamps the mtime.
    drop(f);
    let c = ctime(&p);
    assert!(
        c <= written,
        "ctime {c:?} is after the last write {written:?}: the close moved it"
    );
    sleep(PAUSE);
    // The unmount seals the container.
    m.umount();
    m.mount();
    assert_eq!(ctime(&p), c, "the unmount or mount moved the ctime");
    assert_eq!(fs::read(&p).unwrap(), data(3 << 20, 1, true));
}

#[test]
fn compaction_at_close_does_not_move_the_ctime() {
    let Some(mut m) = Mount::new() else { return };
    let p = m.p("c.bin");
    let f = fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&p)
        .unwrap();
    // A quarter rewritten: enough dead bytes for the compaction at rest
    // (the close), not for the one in use.
    let len = 1 << 20;
    f.write_all_at(&data(len, 1, false), 0).unwrap();
    f.sync_all().unwrap();
    f.write_all_at(&data(len / 4, 2, false), 0).unwrap();
    f.sync_all().unwrap();
    let written = now();
    let ino = fs::metadata(m.b("c.bin")).unwrap().ino();
    sleep(PAUSE);
    drop(f);
    assert_ne!(
        fs::metadata(m.b("c.bin")).unwrap().ino(),
        ino,
        "the close did not compact (the test needs it to)"
    );
    let c = ctime(&p);
    assert!(c <= written, "ctime {c:?} after the last write {written:?}");
    m.umount();
    m.mount();
    assert_eq!(ctime(&p), c);
    let mut want = data(len, 1, false);
    want[..len / 4].copy_from_slice(&data(len / 4, 2, false));
    assert!(fs::read(&p).unwrap() == want, "contents differ");
}

#[test]
fn idle_recompression_does_not_move_the_ctime() {
    let Some(mut m) = Mount::with_opts(&["compress=huffman,recompress=default,recompress_idle=1"])
    else {
        return;
    };
    let p = m.p("r.txt");
    let bytes = data(2 << 20, 7, true);
    fs::write(&p, &bytes).unwrap();
    let ino = fs::metadata(m.b("r.txt")).unwrap().ino();
    let c = ctime(&p);
    wait_until(300, "the file to be recompressed", || {
        fs::metadata(m.b("r.txt")).is_ok_and(|s| s.ino() != ino)
    });
    assert_eq!(ctime(&p), c, "recompression moved the ctime");
    m.umount();
    m.mount();
    assert_eq!(ctime(&p), c, "recompression moved the recorded ctime");
    assert_eq!(fs::read(&p).unwrap(), bytes);
}

#[test]
fn user_changes_still_move_the_ctime_and_it_persists() {
    let Some(mut m) = Mount::new() else { return };
    let p = m.p("u.txt");
    fs::write(&p, data(200_000, 3, true)).unwrap();
    // A recorded ctime exists from here on (the close wrote blocks back).
    let mut last = ctime(&p);
    let mut step = |what: &str, change: &mut dyn FnMut()| {
        sleep(Duration::from_millis(30));
        change();
        let c = ctime(&p);
        assert!(c > last, "{what} did not move the ctime: {c:?} <= {last:?}");
        last = c;
    };
    step("chmod", &mut || {
        fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap()
    });
    step("setxattr", &mut || {
        set_xattr(&p, "user.note", b"x").unwrap()
    });
    step("truncate", &mut || {
        fs::OpenOptions::new()
            .write(true)
            .open(&p)
            .unwrap()
            .set_len(100_000)
            .unwrap()
    });
    step("write", &mut || {
        let mut f = fs::OpenOptions::new().write(true).open(&p).unwrap();
        f.seek(SeekFrom::Start(10)).unwrap();
        f.write_all(b"hello").unwrap();
    });
    step("utimens", &mut || {
        fs::File::open(&p)
            .unwrap()
            .set_modified(UNIX_EPOCH + Duration::from_secs(1_000_000))
            .unwrap()
    });
    step("link", &mut || fs::hard_link(&p, m.p("u2.txt")).unwrap());
    step("unlink of the other name", &mut || {
        fs::remove_file(m.p("u2.txt")).unwrap()
    });
    let q = m.p("v.txt");
    sleep(Duration::from_millis(30));
    fs::rename(&p, &q).unwrap();
    let c = ctime(&q);
    assert!(c > last, "rename did not move the ctime: {c:?} <= {last:?}");
    sleep(PAUSE);
    m.umount();
    m.mount();
    assert_eq!(ctime(&q), c, "the last user change was not kept");
    // And after the remount a write still moves it.
    sleep(Duration::from_millis(30));
    fs::OpenOptions::new()
        .append(true)
        .open(&q)
        .unwrap()
        .write_all(b"more")
        .unwrap();
    assert!(
        ctime(&q) > c,
        "a write after the remount did not move the ctime"
    );
    assert!(ctime(&q) > before(now()), "ctime is not recent");
}

#[test]
fn the_ctime_record_is_hidden() {
    let Some(m) = Mount::new() else { return };
    let p = m.p("h.txt");
    let mut f = fs::File::create(&p).unwrap();
    f.write_all(&data(100_000, 5, true)).unwrap();
    sleep(Duration::from_millis(30));
    drop(f);
    set_xattr(&p, "user.mine", b"1").unwrap();
    // Written back again (a daemon write moving the backing ctime).
    let mut f = fs::OpenOptions::new().write(true).open(&p).unwrap();
    f.write_all(b"again").unwrap();
    drop(f);
    // The record is written at the release, which follows close(2).
    wait_until(10, "a ctime record in BACKING (the test needs one)", || {
        get_xattr_len(&m.b("h.txt"), "user.scfs.ctime").is_ok()
    });
    assert_eq!(xattr_names(&p), vec!["user.mine".to_string()]);
    let e = get_xattr_len(&p, "user.scfs.ctime").unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::ENODATA));
    let e = set_xattr(&p, "user.scfs.ctime", &[0; 12]).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EPERM));
}

/// What `cp -a` does to each new file (create, write, utimens and chmod
/// through the open handle, close): the ctime the last metadata change
/// gave stays across the close and a remount, whether the close then has
/// data left to write back (the daemon moves the backing ctime: a record
/// is needed) or not (the utimens wrote the data first: none is).
#[test]
fn a_copy_keeps_the_ctime_of_its_last_metadata_change() {
    let Some(mut m) = Mount::new() else { return };
    let mtime = UNIX_EPOCH + Duration::from_secs(1_000_000);
    let mut kept = Vec::new();
    for (name, with_times) in [("cp-a.txt", true), ("chmod-only.txt", false)] {
        let p = m.p(name);
        let mut f = fs::File::create(&p).unwrap();
        f.write_all(&data(300_000, 7, true)).unwrap();
        if with_times {
            f.set_modified(mtime).unwrap();
        }
        sleep(Duration::from_millis(30));
        f.set_permissions(fs::Permissions::from_mode(0o640))
            .unwrap();
        let c = ctime(&p);
        assert!(c > before(now()), "{name}: chmod did not move the ctime");
        sleep(PAUSE);
        drop(f);
        assert_eq!(ctime(&p), c, "{name}: the close moved the ctime");
        kept.push((p, c));
    }
    sleep(PAUSE);
    m.umount();
    m.mount();
    for (p, c) in &kept {
        assert_eq!(ctime(p), *c, "{}: the remount moved the ctime", p.display());
        assert_eq!(fs::read(p).unwrap(), data(300_000, 7, true));
    }
    let st = fs::metadata(&kept[0].0).unwrap();
    assert_eq!(st.mtime(), 1_000_000, "the utimens was not kept");
    assert_eq!(st.mode() & 0o7777, 0o640);
}

/// A copy made the way `cp -a` makes it (data, then the times and the
/// mode through the open handle, then close) leaves no ctime record in
/// BACKING at its close: the backing ctime is the one the chmod gave. The
/// seal at the unmount, which moves the backing ctime, records it first,
/// and the remount still reports it.
#[test]
fn a_copy_needs_no_ctime_record_until_its_seal() {
    let Some(mut m) = Mount::new() else { return };
    let p = m.p("copy.txt");
    let mut f = fs::File::create(&p).unwrap();
    f.write_all(&data(100_000, 3, true)).unwrap();
    f.set_modified(UNIX_EPOCH + Duration::from_secs(2_000_000))
        .unwrap();
    f.set_permissions(fs::Permissions::from_mode(0o600))
        .unwrap();
    let c = ctime(&p);
    drop(f);
    assert_eq!(ctime(&p), c, "the close moved the ctime");
    let b = m.b("copy.txt");
    assert!(
        !xattr_names(&b).iter().any(|n| n == "user.scfs.ctime"),
        "a ctime record at the close: {:?}",
        xattr_names(&b)
    );
    sleep(PAUSE);
    m.umount();
    assert!(
        xattr_names(&b).iter().any(|n| n == "user.scfs.ctime"),
        "no ctime record after the seal"
    );
    m.mount();
    assert_eq!(ctime(&p), c, "the seal moved the ctime");
    assert_eq!(fs::read(&p).unwrap(), data(100_000, 3, true));
}

/// A chmod of a closed file after its close recorded the ctime: the seal
/// at the unmount (which moves the backing ctime) keeps the chmod's
/// ctime, not its own.
#[test]
fn the_seal_keeps_the_ctime_of_a_change_after_the_close() {
    let Some(mut m) = Mount::new() else { return };
    let p = m.p("late.txt");
    // Data left for the close to write back: the close records a ctime.
    fs::write(&p, data(300_000, 5, true)).unwrap();
    sleep(PAUSE);
    fs::set_permissions(&p, fs::Permissions::from_mode(0o604)).unwrap();
    let c = ctime(&p);
    assert!(c > before(now()), "chmod did not move the ctime");
    sleep(PAUSE);
    m.umount();
    m.mount();
    assert_eq!(ctime(&p), c, "the seal moved the ctime");
    assert_eq!(fs::metadata(&p).unwrap().mode() & 0o7777, 0o604);
}
