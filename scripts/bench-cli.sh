#!/usr/bin/env bash
# Measures `scfs compress` / `scfs decompress` on a 1 GiB file (the Silesia
# files concatenated repeatedly, cut to exactly 1 GiB): wall time, MB/s and
# CPU time and peak RSS from /usr/bin/time -v, for tc v1 and the v2
# container, release build. MB/s are of the 1 GiB original. Checks that every
# round trip is byte-exact.
#
# Usage: scripts/bench-cli.sh [WORKDIR]   (default /tmp/scfs-bench-cli; needs ~3.5 GB)
# Env:   SCFS_CORPUS (default ../shared/corpus/silesia), SIZE_MIB (default 1024)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CORPUS=${SCFS_CORPUS:-$ROOT/../shared/corpus/silesia}
WORK=${1:-/tmp/scfs-bench-cli}
SIZE_MIB=${SIZE_MIB:-1024}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}

cargo build --release --quiet --bin scfs
BIN=$TARGET/release/scfs
mkdir -p "$WORK"
IN=$WORK/input.bin
want=$((SIZE_MIB * 1024 * 1024))
if [ ! -f "$IN" ] || [ "$(stat -c %s "$IN")" -ne "$want" ]; then
  echo "building $SIZE_MIB MiB input from $CORPUS ..." >&2
  # cat fails once head has enough (SIGPIPE), which ends the loop.
  ( while cat "$CORPUS"/*; do :; done ) 2>/dev/null | head -c "$want" > "$IN" || true
fi
[ "$(stat -c %s "$IN")" -eq "$want" ] || { echo "input build failed" >&2; exit 1; }

measure() { # label, command...
  local label=$1; shift
  sync
  /usr/bin/time -v "$@" 2> "$WORK/time.txt"
  local wall rss user sys
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$WORK/time.txt")
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time.txt")
  user=$(awk -F': ' '/User time/ {print $2}' "$WORK/time.txt")
  sys=$(awk -F': ' '/System time/ {print $2}' "$WORK/time.txt")
  local secs
  secs=$(echo "$wall" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  printf '%-26s wall %7.2f s %7.1f MB/s  cpu user %6.2f s sys %5.2f s  peak RSS %5.1f MiB  (load %s)\n' \
    "$label" "$secs" "$(echo "$want $secs" | awk '{printf "%.1f", $1/1e6/$2}')" "$user" "$sys" \
    "$(echo "$rss" | awk '{printf "%.1f", $1/1024}')" "$(cut -d' ' -f1 /proc/loadavg)"
}

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; input $IN ($want bytes)"
cat "$IN" > /dev/null # warm the page cache
measure "compress v1" "$BIN" compress "$IN" "$WORK/out.tc"
measure "compress v1 --sync" "$BIN" compress --sync "$IN" "$WORK/out.tc"
measure "decompress v1" "$BIN" decompress "$WORK/out.tc" "$WORK/back.bin"
cmp "$IN" "$WORK/back.bin"
measure "compress v1 (pipe)" sh -c "\"$BIN\" compress - - < \"$IN\" > \"$WORK/out2.tc\""
measure "decompress v1 (pipe)" sh -c "\"$BIN\" decompress - - < \"$WORK/out.tc\" > \"$WORK/back.bin\""
cmp "$IN" "$WORK/back.bin"
cmp "$WORK/out.tc" "$WORK/out2.tc"
measure "compress v2 (64K blocks)" "$BIN" compress --format v2 "$IN" "$WORK/out.scfs"
measure "decompress v2" "$BIN" decompress "$WORK/out.scfs" "$WORK/back.bin"
cmp "$IN" "$WORK/back.bin"
echo "sizes: v1 $(stat -c %s "$WORK/out.tc") bytes, v2 $(stat -c %s "$WORK/out.scfs") bytes"
"$BIN" info "$WORK/out.tc" | grep ratio | sed 's/^/v1 /'
"$BIN" info "$WORK/out.scfs" | grep ratio | sed 's/^/v2 /'
rm -f "$WORK/back.bin" "$WORK/out2.tc"
