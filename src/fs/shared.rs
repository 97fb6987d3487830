//! `-o shared` in the frontend (docs/SHARED.md): the per-file write lock a
//! host holds while it has a file open for writing, and the checks of
//! close-to-open consistency at every open. Single-host mounts skip all of
//! it (one flag test per open and close).
//!
//! Per inode (`FileState`): `writers` counts this host's open handles that
//! may write; the first one takes [`WriteLock`] on the backing file (waiting
//! up to `lock_wait`, then EWOULDBLOCK), the last one commits everything
//! the host holds and lets it go. `shared_gate` serializes the two so two
//! local opens never race for the lock against each other. Compaction,
//! sealing and recompression run only under the lock (`holds_write_lock`).

use std::io;
use std::os::fd::AsFd;
use std::sync::Arc;

use super::content::stamp;
use super::inode::Inode;
use super::sys;
use super::Inner;
use crate::file::lock::WriteLock;

impl Inner {
    /// Whether this daemon may change `inode`'s backing file behind the
    /// user's writes (compact, seal, recompress): always on a single-host
    /// mount, only while it holds the file's write lock on a shared one.
    pub(crate) fn holds_write_lock(&self, inode: &Inode) -> bool {
        !self.opts.shared || inode.state.lock().write_lock.is_some()
    }

    /// Before an open that may write `inode`: takes its write lock unless
    /// this host holds it already, and counts one writer. Then brings an
    /// already open content up to the newest commit (readers of this host
    /// may have opened it before another host's last commit). Errors:
    /// EWOULDBLOCK after `lock_wait`, ESTALE when another host replaced the
    /// inode (the kernel then looks the name up again and retries).
    pub(crate) fn shared_writer_begin(&self, inode: &Arc<Inode>) -> io::Result<()> {
        if !self.opts.shared || self.opts.read_only {
            return Ok(());
        }
        let gate = inode.state.lock().shared_gate.clone();
        let _one_at_a_time = gate.lock();
        {
            let mut s = inode.state.lock();
            if s.writers > 0 {
                s.writers += 1;
                return Ok(());
            }
        }
        let file = self.reopen(inode, libc::O_RDONLY)?;
        let lock = WriteLock::take(file, self.opts.lock_wait)?;
        let open = {
            let mut s = inode.state.lock();
            s.write_lock = Some(lock);
            s.writers = 1;
            s.content.clone().or_else(|| s.closing.upgrade())
        };
        if let Some(c) = open {
            let refreshed = if c.is_container() {
                c.refresh()
            } else {
                // Open here as a plain (empty) file while another host
                // made it a container: writing it as plain bytes would
                // damage the container. Close it on this host first.
                match super::content::is_container(&self.reopen(inode, libc::O_RDONLY)?) {
                    Ok(true) => Err(io::Error::from_raw_os_error(libc::EBUSY)),
                    _ => Ok(false),
                }
            };
            if let Err(e) = refreshed {
                let mut s = inode.state.lock();
                s.writers = 0;
                s.write_lock = None;
                return Err(e);
            }
        }
        Ok(())
    }

    /// After a writer's handle is released (or its open failed): counts one
    /// writer less; the last one commits what this host holds of the file
    /// and then lets the lock go, so the next host's open finds it all.
    pub(crate) fn shared_writer_end(&self, inode: &Arc<Inode>) {
        if !self.opts.shared || self.opts.read_only {
            return;
        }
        let gate = inode.state.lock().shared_gate.clone();
        let _one_at_a_time = gate.lock();
        let (lock, open) = {
            let mut s = inode.state.lock();
            s.writers = s.writers.saturating_sub(1);
            if s.writers > 0 {
                return;
            }
            (s.write_lock.take(), s.content.clone())
        };
        if let Some(c) = open {
            if let Err(e) = c.flush() {
                log::error!("ino {}: commit before the write lock goes: {e}", inode.ino);
            }
        }
        drop(lock);
    }

    /// At every open on a shared mount: an inode that lost its last name
    /// (another host renamed a compacted or recompressed copy over it) is
    /// ESTALE, so the kernel looks the name up again; an open content is
    /// brought up to another host's newest commit unless this host is the
    /// writer; when the backing file changed since the kernel last cached
    /// its attributes, they are dropped (the size another host wrote).
    pub(crate) fn shared_open_check(&self, inode: &Arc<Inode>) -> io::Result<()> {
        if !self.opts.shared {
            return Ok(());
        }
        let st = sys::fstat(inode.fd()?.as_fd())?;
        let (open, writer, cached) = {
            let s = inode.state.lock();
            (
                s.content.clone().or_else(|| s.closing.upgrade()),
                s.write_lock.is_some(),
                s.cached_stamp,
            )
        };
        if st.st_nlink == 0 {
            // Handles open before keep reading the old inode; a new open
            // goes to whatever the name holds now.
            return Err(io::Error::from_raw_os_error(libc::ESTALE));
        }
        if writer {
            return Ok(());
        }
        let refreshed = match &open {
            Some(c) => c.refresh()?,
            None => false,
        };
        if refreshed || cached != Some(stamp(&st)) {
            inode.state.lock().size_cache = None;
            self.attrs_changed(inode.ino);
        }
        Ok(())
    }
}
