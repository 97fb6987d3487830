//! LRU of decoded blocks (owned by the file/cache work).
