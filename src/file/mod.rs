//! Logical file = blocks + size (owned by the file/cache work).
