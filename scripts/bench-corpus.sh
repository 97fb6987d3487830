#!/bin/sh
# Codec report per class of the corpus of user data (docs/BENCHMARKS.md,
# "Codec on a corpus of user data"): scfs Huffman vs zstd -1/-3 vs lz4,
# ratio and single-core MB/s at one block size, then the ratio at several.
# Usage: scripts/bench-corpus.sh [CORPUS_DIR] [--block 128K]
#            [--blocks 64K,128K,256K] [--reps N]
# CORPUS_DIR (default /var/tmp/scfs-corpus) is built by scripts/corpus.sh.
set -e
cd "$(dirname "$0")/.."
case " $* " in
*" --blocks "*) ;;
*) set -- "$@" --blocks 64K,128K,256K ;;
esac
exec cargo run --release --example bench_corpus -- "$@"
