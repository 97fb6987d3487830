#!/usr/bin/env bash
# Idle recompression benchmark (not run in CI): the two targets of
# `-o recompress=` (README, "Idle recompression").
#
# Usage: scripts/bench-recompress.sh [WORKDIR] [SIZE_MiB]
#   WORKDIR   scratch directory (default /tmp/scfs-bench-recompress)
#   SIZE_MiB  size of the file read and of the file written in part 2
#             (default 256)
# Environment: ROUNDS=N interleaved rounds in part 2 (default 5);
# LOAD_MiB size of the file whose rewrite runs during a loaded round
# (default 64); PRIO=1 gives the benchmark's session autogroup nice -20
# (for a machine shared with other work, as in bench-fs.sh).
# Needs root (drop_caches), fuse, python3, the Silesia corpus in
# /work/shared/corpus/silesia (or $SILESIA).
#
# Part 1 (space): the Silesia files are copied into a mount with
# `-o compress=fast,recompress=max,recompress_idle=2`; BACKING's bytes are
# printed right after the copy and once every file has been rewritten,
# against `scfs compress --format v2 --level max` of the same files
# (target: within 2%).
# Part 2 (speed): a cold sequential read (drop_caches, dd bs=1M) of a
# SIZE file, and a sequential write (dd bs=1M conv=fsync from /dev/shm) of
# SIZE, each with no rewrite running and while one runs (a fresh LOAD file
# written and closed, its rewrite seen started and still running after
# the measurement), interleaved; medians and the loaded/unloaded ratio of
# each (target: at least 0.8).
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-/tmp/scfs-bench-recompress}
SIZE_MB=${2:-256}
ROUNDS=${ROUNDS:-5}
LOAD_MB=${LOAD_MB:-64}
SILESIA=${SILESIA:-/work/shared/corpus/silesia}
PRIO=${PRIO:-}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}

[ "$(id -u)" = 0 ] || { echo "bench-recompress: needs root (drop_caches)" >&2; exit 2; }
if [ -n "$PRIO" ]; then
    AG_NICE=$(awk '{print $3}' /proc/$$/autogroup)
    echo -20 > /proc/$$/autogroup
fi
cargo build --release --quiet --bin scfs
SCFS=$CARGO_TARGET_DIR/release/scfs
B=$WORK/backing
M=$WORK/mnt
SHM=/dev/shm/scfs-bench-recompress.$$

cleanup() {
    if mountpoint -q "$M" 2>/dev/null; then "$SCFS" umount "$M" || fusermount3 -uz "$M" || true; fi
    rm -f "$SHM"
}
trap 'cleanup; [ -z "$PRIO" ] || echo "$AG_NICE" > /proc/$$/autogroup' EXIT
mkdir -p "$WORK"
cleanup
rm -rf "$B" "$M" "$WORK/ref" "$WORK/daemon.log"
mkdir -p "$B" "$M" "$WORK/ref"

temps() { find "$B" -maxdepth 1 -name '.scfs-compact.*' | wc -l; }
backing_bytes() { find "$B" -type f ! -name '.scfs-compact.*' -printf '%s\n' | awk '{s+=$1} END {print s+0}'; }
# Waits until no rewrite has run for 2 idle times (BACKING stable, no temp).
wait_quiet() {
    local last=-1 same=0 now
    while [ $same -lt 5 ]; do
        sleep 1
        now=$(backing_bytes)
        if [ "$now" = "$last" ] && [ "$(temps)" = 0 ]; then same=$((same + 1)); else same=0; fi
        last=$now
    done
}
now_ns() { date +%s%N; }

# --- part 1: space
"$SCFS" mount "$B" "$M" --log-file "$WORK/daemon.log" -o compress=fast,recompress=max,recompress_idle=2
mounted() { mountpoint -q "$M" || { echo "bench-recompress: $M is not mounted (see $WORK/daemon.log)" >&2; exit 1; }; }
mounted
ref=0
for f in "$SILESIA"/*; do
    n=$(basename "$f")
    "$SCFS" compress --format v2 --level max "$f" "$WORK/ref/$n"
    ref=$((ref + $(stat -c %s "$WORK/ref/$n")))
done
t0=$(now_ns)
mounted
cp "$SILESIA"/* "$M"/
fast=$(backing_bytes)
wait_quiet
t1=$(now_ns)
after=$(backing_bytes)
logical=$(du -cb "$SILESIA"/* | tail -1 | cut -f1)
python3 - "$logical" "$fast" "$after" "$ref" "$(( (t1 - t0) / 1000000 ))" <<'EOF'
import sys
logical, fast, after, ref, ms = map(int, sys.argv[1:])
print(f"part 1: Silesia {logical} bytes; BACKING after the copy at fast {fast}, "
      f"after idle recompression {after} (settled {ms/1000:.1f} s after the copy started); "
      f"scfs compress --level max {ref}; after/max = {after/ref:.4f} (target <= 1.02)")
EOF

# --- part 2: speed
python3 - "$SILESIA" "$SHM" $((SIZE_MB << 20)) <<'EOF'
import os, sys
src, out, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
names = sorted(os.listdir(src))
with open(out, "wb") as o:
    left, i = size, 0
    while left > 0:
        with open(os.path.join(src, names[i % len(names)]), "rb") as f:
            f.seek((i // len(names)) * (1 << 20) % max(1, os.path.getsize(f.name) - (4 << 20)))
            chunk = f.read(min(left, 4 << 20))
        o.write(chunk)
        left -= len(chunk)
        i += 1
EOF
cp "$SHM" "$M/read.src"
wait_quiet
read_s() {
    sync; echo 3 > /proc/sys/vm/drop_caches
    local a b; a=$(now_ns)
    dd if="$M/read.src" of=/dev/null bs=1M status=none
    b=$(now_ns); echo $(( (b - a) / 1000 ))
}
write_s() {
    local a b; a=$(now_ns)
    dd if="$SHM" of="$M/write.out" bs=1M conv=fsync status=none
    b=$(now_ns); rm -f "$M/write.out"; echo $(( (b - a) / 1000 ))
}
R0=() R1=() W0=() W1=()
for r in $(seq 1 "$ROUNDS"); do
    wait_quiet
    R0+=("$(read_s)"); W0+=("$(write_s)")
    wait_quiet
    head -c $((LOAD_MB << 20)) "$SHM" > "$M/load.$r"
    while [ "$(temps)" = 0 ]; do sleep 0.05; done
    R1+=("$(read_s)"); W1+=("$(write_s)")
    valid=yes; [ "$(temps)" != 0 ] || valid="no (the rewrite ended during the round)"
    echo "round $r: read ${R0[-1]} / ${R1[-1]} us, write ${W0[-1]} / ${W1[-1]} us (unloaded / loaded); rewrite running throughout: $valid"
done
python3 - "$SIZE_MB" "${R0[*]}" "${R1[*]}" "${W0[*]}" "${W1[*]}" <<'EOF'
import statistics as st, sys
mb = int(sys.argv[1])
r0, r1, w0, w1 = ([int(x) for x in a.split()] for a in sys.argv[2:6])
def mbps(us): return mb / (us / 1e6)
for name, a, b in (("cold sequential read", r0, r1), ("sequential write+fsync", w0, w1)):
    ma, mb_ = mbps(st.median(a)), mbps(st.median(b))
    print(f"part 2: {name}: {ma:.0f} MiB/s without a rewrite, {mb_:.0f} MiB/s during one "
          f"(medians of {len(a)}); ratio {mb_/ma:.3f} (target >= 0.8)")
EOF
