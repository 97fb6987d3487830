#!/usr/bin/env bash
# Block size for new files (issue 13.4) and `du` after a copy (issue 13's
# target "du of BACKING after copying a tree in and unmounting at most 1.05x
# what `scfs compress` gives"). For each block size and level it:
#   1. mounts a fresh BACKING with -o block_size=BS,compress=LEVEL,recompress=off,
#      copies the corpus tree in with cp -a, unmounts, and compares `du -sb`
#      and `du -sk` of BACKING with the sum of `scfs compress --format v2
#      --level LEVEL --block-size BS` of every file (apparent bytes);
#   2. mounts again, writes a 32 MiB text-like file, then does OPS random
#      aligned 4 KiB overwrites each followed by fsync, and prints the bytes
#      the daemon wrote to BACKING per operation (/proc/PID/io wchar and
#      write_bytes), compactions included.
# Byte counts, not times: they do not depend on the machine's load.
# Usage: scripts/bench-blocksize.sh [WORKDIR] [CORPUS]; env BLOCKS="64K 128K 256K",
# LEVELS="huffman default", OPS=300. Needs root and scripts/corpus.sh's corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-/tmp/scfs-blocksize}
CORPUS=${2:-/var/tmp/scfs-corpus}
BLOCKS=${BLOCKS:-64K 128K 256K}
LEVELS=${LEVELS:-huffman default}
OPS=${OPS:-300}
cargo build --release --quiet --bin scfs
SCFS=$PWD/target/release/scfs
[ -d "$CORPUS" ] || { echo "no corpus at $CORPUS: run scripts/corpus.sh" >&2; exit 1; }
MNT=$WORK/m
cleanup() { mountpoint -q "$MNT" && { "$SCFS" umount "$MNT" || fusermount3 -uz "$MNT"; }; true; }
trap cleanup EXIT
daemon_pid() { pgrep -f "scfs mount $WORK/b" | head -1; }

printf '%-6s %-8s %12s %12s %12s %8s %10s %12s %12s\n' block level corpus_raw du_sb compress_sum du/compr du_k_KiB wchar/op wbytes/op
for bs in $BLOCKS; do
  for lv in $LEVELS; do
    rm -rf "$WORK"; mkdir -p "$WORK/b" "$MNT" "$WORK/c"
    opts="block_size=$bs,compress=$lv,recompress=off"
    "$SCFS" mount "$WORK/b" "$MNT" -o "$opts"
    cp -a "$CORPUS/." "$MNT/"
    "$SCFS" umount "$MNT"
    du_sb=$(du -sb "$WORK/b" | cut -f1)
    du_k=$(du -sk "$WORK/b" | cut -f1)
    raw=$(du -sb "$CORPUS" | cut -f1)
    # The same files compressed one by one by the CLI (directories' own
    # sizes added so that both sides count the same tree).
    comp=0
    while IFS= read -r -d '' f; do
      "$SCFS" compress --format v2 --level "$lv" --block-size "$bs" "$f" "$WORK/c/one" >/dev/null
      comp=$((comp + $(stat -c %s "$WORK/c/one")))
    done < <(find "$CORPUS" -type f -print0)
    dirs=$(find "$WORK/b" -type d -printf '%s\n' | awk '{s+=$1} END {print s+0}')
    links=$(find "$WORK/b" -type l -printf '%s\n' | awk '{s+=$1} END {print s+0}')
    comp=$((comp + dirs + links))

    rm -rf "$WORK/b2"; mkdir -p "$WORK/b2"
    "$SCFS" mount "$WORK/b2" "$MNT" -o "$opts"
    read -r wchar wbytes < <(PYTHONDONTWRITEBYTECODE=1 python3 - "$(pgrep -f "scfs mount $WORK/b2" | head -1)" "$MNT" "$OPS" <<'PY'
import os, sys
sys.path.insert(0, 'scripts')
from gen_log import log_bytes, overwrite
pid, mnt, ops = sys.argv[1], sys.argv[2], int(sys.argv[3])
def io():
    d = dict(l.split(':') for l in open(f'/proc/{pid}/io'))
    return int(d['wchar']), int(d['write_bytes'])
data = log_bytes(32 << 20)
p = f'{mnt}/big'
with open(p, 'wb') as f:
    f.write(data); f.flush(); os.fsync(f.fileno())
os.sync()
c0, b0 = io()
fd = os.open(p, os.O_RDWR)
overwrite(fd, data, ops, 1)
os.close(fd); os.sync()
c1, b1 = io()
print((c1 - c0) // ops, (b1 - b0) // ops)
PY
)
    "$SCFS" umount "$MNT"
    ratio=$(python3 -c "print(f'{$du_sb/$comp:.4f}')")
    printf '%-6s %-8s %12d %12d %12d %8s %10d %12d %12d\n' "$bs" "$lv" "$raw" "$du_sb" "$comp" "$ratio" "$du_k" "$wchar" "$wbytes"
  done
done
