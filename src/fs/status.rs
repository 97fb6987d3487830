//! The live status of the mount: the reserved xattr `scfs.status` of the
//! root directory, whose value is a JSON object (`"version": 1`) of the
//! mount's figures (`crate::metrics`, the cache, the seal and recompression
//! queues, the open files) and the options in force. `scfs status` reads
//! it (`cli/status.rs`); README's "Live status" describes every field.
//!
//! The name has no namespace prefix, so no program can have stored it in
//! BACKING; it is answered here, never looked up in BACKING, not listed by
//! listxattr, and cannot be set or removed (EPERM). Only the mount's owner
//! and root may read it (EACCES for others): the figures name BACKING and
//! show activity other users need not see. On any other inode the name is
//! just absent (ENODATA).

use std::io;

use serde_json::{json, Value};

use super::attr::err;
use super::{AtimePolicy, Inner};
use crate::metrics::get;

/// The xattr name.
pub const STATUS: &std::ffi::CStr = c"scfs.status";

/// Version of the JSON document; bumped when a field changes meaning or
/// goes away (new fields may be added without a bump).
pub const STATUS_VERSION: u64 = 1;

/// FUSE's root inode.
const ROOT: u64 = 1;

impl Inner {
    /// The value of `scfs.status` on `ino` for a request by `uid`.
    pub(crate) fn status_xattr(&self, ino: u64, uid: u32) -> io::Result<Vec<u8>> {
        if ino != ROOT {
            return Err(err(libc::ENODATA));
        }
        if uid != 0 && uid != self.owner_uid {
            return Err(err(libc::EACCES));
        }
        Ok(self.status().to_string().into_bytes())
    }

    pub(super) fn metrics(&self) -> &crate::metrics::Metrics {
        self.files.cache().metrics()
    }

    /// The status document.
    fn status(&self) -> Value {
        let m = self.metrics();
        let cache = &self.files.cache();
        let o = &self.opts;
        let shown = self.shown_paths.get();
        let recompress = self.recompress.queue_status();
        let (rq, rrun) = recompress.unwrap_or((0, false));
        let (data, compaction, recompression) = (
            get(&m.data_written),
            get(&m.compaction_written),
            get(&m.recompression_written),
        );
        let atime = match o.atime_now() {
            AtimePolicy::NEVER => "noatime",
            AtimePolicy::STRICT => "strictatime",
            _ => "relatime",
        };
        // Recompression runs only when its level differs from `compress`
        // and the mount is writable (`ScfsFs::new`).
        let recompress_level = match recompress {
            Some(_) => o.recompress.map(|c| c.to_string()),
            None => None,
        };
        json!({
            "version": STATUS_VERSION,
            "scfs_version": env!("CARGO_PKG_VERSION"),
            "pid": std::process::id(),
            "uptime_secs": m.started.elapsed().as_secs_f64(),
            "backing": shown.map_or(&self.backing, |p| &p.0).to_string_lossy(),
            "mountpoint": shown.map(|p| p.1.to_string_lossy()),
            "options": {
                "compress": o.compression.to_string(),
                "recompress": recompress_level,
                "recompress_idle_secs": o.recompress_idle.as_secs(),
                "block_size": o.block_size,
                "cache_size": cache.budget(),
                "read_only": o.read_only,
                "allow_other": o.allow_other,
                "default_permissions": o.default_permissions,
                "writeback_cache": o.writeback_cache,
                "atime": atime,
                "threads": o.n_threads,
                "inode_fds": o.inode_fds,
            },
            "cache": {
                "budget": cache.budget(),
                "used": cache.used_bytes(),
                "entries": cache.entries(),
                "resident": cache.resident_bytes(),
                "peak_resident": cache.peak_resident_bytes(),
                "hits": get(&m.cache_hits),
                "blocks_decoded": get(&m.blocks_decoded),
            },
            "writeback": {
                "dirty_bytes": get(&m.dirty_bytes),
                "seals_pending": self.files.seals().pending_seals(),
            },
            "compaction": {
                "running": get(&m.compactions_running),
                "done": get(&m.compactions_done),
                "bytes_written": compaction,
            },
            "recompression": {
                "queued": rq,
                "running": u64::from(rrun),
                "done": get(&m.recompressions_done),
                "bytes_written": recompression,
            },
            "backing_written": {
                "data": data,
                "compaction": compaction,
                "recompression": recompression,
                "total": data.saturating_add(compaction).saturating_add(recompression),
            },
            "checksum_failures": get(&m.checksum_failures),
            "open": {
                "files": cache.open_files(),
                "handles": self.handles.read().len(),
                "inodes": self.inodes.len(),
                "inode_fds": self.inodes.open_fds(),
                "inode_scans": self.inodes.evict_scans(),
            },
        })
    }
}
