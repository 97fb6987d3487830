//! Tests of the open-file table over a plain path (`TestNode`).

use super::*;
use parking_lot::Mutex;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

/// A node over a plain path, counting the frontend hooks.
struct TestNode {
    path: PathBuf,
    state: Mutex<OpenEntry>,
    opened: AtomicU32,
    closed: AtomicU32,
}

impl Node for TestNode {
    type State = OpenEntry;
    fn lock(&self) -> MutexGuard<'_, OpenEntry> {
        self.state.lock()
    }
    fn entry(s: &mut OpenEntry) -> &mut OpenEntry {
        s
    }
    fn id(&self) -> u64 {
        7
    }
    fn reopen(&self, flags: i32, _as_owner: bool) -> io::Result<File> {
        let path = crate::sys::cstr(self.path.as_os_str())?;
        Ok(File::from(crate::sys::open_path(&path, flags)?))
    }
    fn fstat(&self) -> io::Result<libc::stat> {
        crate::sys::fstat(File::open(&self.path)?.as_fd())
    }
    fn log_name(&self) -> Option<String> {
        None
    }
    fn compression(&self) -> Option<Compression> {
        None
    }
    fn opened(&self, _s: &mut OpenEntry) {
        self.opened.fetch_add(1, Ordering::Relaxed);
    }
    fn closed(&self, _s: &mut OpenEntry, st: Option<libc::stat>) -> Option<libc::stat> {
        self.closed.fetch_add(1, Ordering::Relaxed);
        st
    }
    fn compact(&self, _content: &Content) -> io::Result<bool> {
        Ok(false)
    }
}

fn setup(contents: &[u8]) -> (tempfile::TempDir, TestNode, OpenFiles) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    std::fs::write(&path, contents).unwrap();
    let node = TestNode {
        path,
        state: Mutex::new(OpenEntry::default()),
        opened: AtomicU32::new(0),
        closed: AtomicU32::new(0),
    };
    let table = OpenFiles::new(BlockCache::new(1 << 20), SealQueue::new(), 4096, false);
    (dir, node, table)
}

#[test]
fn opens_share_one_content_and_the_last_release_closes_it() {
    let (_dir, node, table) = setup(b"plain bytes");
    let a = table.acquire(&node, false).unwrap();
    let b = table.acquire(&node, true).unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    assert!(!a.is_container());
    assert_eq!(node.state.lock().opens, 2);
    drop((a, b));
    table.release(&node).unwrap();
    assert!(node.state.lock().content.is_some());
    table.release(&node).unwrap();
    let s = node.state.lock();
    assert!(s.content.is_none() && s.opens == 0 && !s.in_use());
    assert!(s.cached_stamp.is_some());
    assert_eq!(node.closed.load(Ordering::Relaxed), 1);
}

#[test]
fn an_empty_file_opened_writable_becomes_a_container_with_its_size_cached() {
    let (_dir, node, table) = setup(b"");
    let c = table.acquire(&node, true).unwrap();
    assert!(c.is_container());
    assert_eq!(node.opened.load(Ordering::Relaxed), 1);
    c.write(0, &[5u8; 10_000]).unwrap();
    drop(c);
    table.release(&node).unwrap();
    assert_eq!(node.state.lock().format, Format::Container);
    let st = node.fstat().unwrap();
    let cached = node.state.lock().size_cache;
    assert_eq!(cached, Some((stamp(&st), 10_000)));
    let (size, stored) = table.logical(&node, &st).unwrap().unwrap();
    assert_eq!((size, stored), (10_000, st.st_size as u64));
    // A fresh table (no cache) reads the size from the container.
    node.state.lock().size_cache = None;
    assert_eq!(table.logical(&node, &st).unwrap().unwrap().0, 10_000);
}

#[test]
fn a_content_still_held_after_the_last_close_is_shared_by_the_next_open() {
    let (_dir, node, table) = setup(b"");
    let c = table.acquire(&node, true).unwrap();
    let held = c.clone();
    drop(c);
    table.release(&node).unwrap();
    assert!(node.state.lock().in_use(), "held by an operation");
    let again = table.acquire(&node, false).unwrap();
    assert!(Arc::ptr_eq(&held, &again));
    assert_eq!(node.opened.load(Ordering::Relaxed), 2);
    drop((held, again));
    table.release(&node).unwrap();
    assert!(!node.state.lock().in_use());
}

#[test]
fn shared_writers_of_one_host_share_the_lock_another_host_waits_for_it() {
    let (_dir, node, table) = setup(b"");
    // Single-host: no lock, and the daemon may always compact.
    table.writer_begin(&node).unwrap();
    assert!(table.holds_write_lock(&node) && node.state.lock().write_lock.is_none());
    let wait = Some(std::time::Duration::from_millis(50));
    let table = table.shared(wait);
    let other = TestNode {
        path: node.path.clone(),
        state: Mutex::new(OpenEntry::default()),
        opened: AtomicU32::new(0),
        closed: AtomicU32::new(0),
    };
    let other_host = OpenFiles::new(BlockCache::new(1 << 20), SealQueue::off(), 4096, false);
    let other_host = other_host.shared(wait);
    assert!(!table.holds_write_lock(&node));
    table.writer_begin(&node).unwrap();
    table.writer_begin(&node).unwrap();
    assert!(table.holds_write_lock(&node));
    assert_eq!(node.state.lock().writers, 2);
    let busy = |t: &OpenFiles| t.writer_begin(&other).unwrap_err().raw_os_error();
    assert_eq!(busy(&other_host), Some(libc::EWOULDBLOCK));
    table.writer_end(&node);
    assert_eq!(
        busy(&other_host),
        Some(libc::EWOULDBLOCK),
        "one writer left"
    );
    table.writer_end(&node);
    assert!(!table.holds_write_lock(&node));
    other_host.writer_begin(&other).unwrap();
    assert!(other_host.holds_write_lock(&other));
    assert_eq!(other.state.lock().writers, 1);
}
