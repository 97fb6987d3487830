#!/bin/sh
# Codec report on the Silesia corpus (docs/BENCHMARKS.md, codec section).
# Usage: scripts/bench-codec.sh [CORPUS_DIR] [--reps N]
set -e
cd "$(dirname "$0")/.."
exec cargo run --release --example bench_codec -- "$@"
