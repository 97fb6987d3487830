//! The fuser session configuration of a mount, built in one place: by the
//! daemon (`scfs mount`) and by in-process mounts ([`super::ScfsFs::config`],
//! which the tests use), so tests mount with the settings production uses.

use std::path::Path;

use fuser::{Config, MountOption, SessionACL};

use super::FsOptions;

/// The mount source shown by `df` and /proc/self/mountinfo: `scfs:` and the
/// absolute BACKING path. `scfs umount` finds BACKING through it.
pub fn fs_name(backing: &Path) -> String {
    format!("scfs:{}", backing.display())
}

/// The session configuration of a mount of `backing` with `o`: source
/// name, subtype `scfs`, default_permissions, ro/rw, then `extra` (the
/// generic mount(8) flags the daemon was given); who may use it (the
/// owner, or everyone with `allow_other`); the event-loop threads, each
/// with a cloned /dev/fuse descriptor.
pub fn fuse_config(backing: &Path, o: &FsOptions, extra: Vec<MountOption>) -> Config {
    let mut cfg = Config::default();
    cfg.mount_options
        .push(MountOption::FSName(fs_name(backing)));
    cfg.mount_options.push(MountOption::Subtype("scfs".into()));
    if o.default_permissions {
        cfg.mount_options.push(MountOption::DefaultPermissions);
    }
    cfg.mount_options.push(if o.read_only {
        MountOption::RO
    } else {
        MountOption::RW
    });
    cfg.mount_options.extend(extra);
    cfg.acl = if o.allow_other {
        SessionACL::All
    } else {
        SessionACL::Owner
    };
    cfg.n_threads = Some(o.n_threads.max(1));
    cfg.clone_fd = true;
    cfg
}
