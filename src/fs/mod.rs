//! FUSE frontend (owned by the fs work).
