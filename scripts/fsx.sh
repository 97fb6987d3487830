#!/usr/bin/env bash
# Runs xfstests' fsx (the file-system exerciser: read / write / mmap read /
# mmap write / truncate / fallocate / punch hole / zero range /
# copy_file_range, every read checked against an in-memory model) against
# fresh scfs mounts, in a matrix of configurations. Fetches and builds
# nothing: give it an fsx binary you built from xfstests' ltp/fsx.c (GPL,
# so it is not part of this repository).
#
# Usage: scripts/fsx.sh [FSX_BINARY]      (or FSX=/path/to/fsx scripts/fsx.sh)
# Environment:
#   SCFS=path     scfs binary (default target/release/scfs; build it first)
#   WORK=dir      scratch directory (default /tmp/scfs-fsx; wiped per run)
#   OPS=N         operations per plain run (default 50000; the runs scale
#                 from it); QUICK=1 divides every count by 10
#   ONLY=regex    run only the configurations whose name matches
# Needs root or fuse access (fusermount3); -c runs also need root (fsx
# drops the page cache at each close/open).
#
# Configurations (name: what):
#   probe[-wbc]        not quiet: lists what fsx disabled; fails if it
#                      disabled a fallocate mode or copy range scfs has
#   plain-S<seed>      default fsx ops (mapped reads/writes on), 256 KiB file
#   check-every-op     -X: whole file compared after every operation
#   pollute-eof        -e 1: data written past EOF through mmap before size changes
#   close-open         -c 50: close/open (+ drop_caches) 1 in 50 ops
#   fsync-flush        -y -f: fsync after writes, msync(MS_INVALIDATE) flushes
#   large-8M / large-64M   bigger files and operations
#   fixed-64K          -o 65536 -O: every op exactly one default block
#   odd-bounds         page-aligned reads/writes/truncates of 4097-byte max ops
#   direct-io          -Z -R -W (O_DIRECT, as xfstests generic/091)
#   tiny-*             block_size=4K,cache_size=1M (eviction + recompression)
#   wbc-*              writeback_cache
#   size-<n>           -l n -o n for sizes around block boundaries
#   conc-*             several fsx processes on different files of one mount
#   verify-*           records the ops, replays them on a second file in the
#                      mount and on the local disk, remounts, compares
#   reopen-*           fsx, then rounds of remount + fsx -k on the same file
# Each run prints one line: PASS/FAIL, name, ops, mount options, fsx args,
# and its directory (with fsx's .fsxlog/.fsxops/.fsxgood and the daemon log)
# on failure. Exit status: number of failed runs.
set -u
FSX=${1:-${FSX:-}}
if [ -z "$FSX" ] || [ ! -x "$FSX" ]; then
    echo "usage: $0 FSX_BINARY   (or FSX=... $0)" >&2
    exit 2
fi
FSX=$(readlink -f "$FSX")
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SCFS=$(readlink -f "${SCFS:-$ROOT/target/release/scfs}")
WORK=${WORK:-/tmp/scfs-fsx}
OPS=${OPS:-50000}
[ "${QUICK:-0}" = 1 ] && OPS=$((OPS / 10))
ONLY=${ONLY:-.}
FAILS=0
mkdir -p "$WORK"

n() { echo $(( OPS * $1 / 100 )); }   # n PCT: PCT% of OPS

mount_scfs() { # DIR OPTS
    if [ -n "$2" ]; then "$SCFS" mount -o "$2" "$1/b" "$1/m" --log-file "$1/scfs.log"
    else "$SCFS" mount "$1/b" "$1/m" --log-file "$1/scfs.log"; fi
}
umount_scfs() { # DIR
    "$SCFS" umount "$1/m" 2>/dev/null || fusermount3 -u "$1/m" 2>/dev/null \
        || fusermount3 -uz "$1/m"
}
fresh() { # NAME -> dir
    local d="$WORK/$1"
    rm -rf "$d"; mkdir -p "$d/b" "$d/m"; echo "$d"
}
report() { # OK NAME OPTS DIR ARGS...
    local ok=$1 name=$2 opts=$3 dir=$4; shift 4
    if [ "$ok" = 1 ]; then echo "PASS $name opts=[$opts] fsx $*"
    else echo "FAIL $name opts=[$opts] fsx $*  (see $dir)"; FAILS=$((FAILS + 1)); fi
}
ran() { [[ "$1" =~ $ONLY ]]; }

# run NAME OPTS FSX-ARGS...: one fsx on a fresh mount.
run() {
    local name=$1 opts=$2; shift 2
    ran "$name" || return 0
    local d; d=$(fresh "$name")
    mount_scfs "$d" "$opts" || { report 0 "$name" "$opts" "$d" "$@"; return; }
    (cd "$d" && "$FSX" -P "$d" "$@" "$d/m/f") > "$d/out" 2>&1
    local rc=$?
    umount_scfs "$d"
    [ $rc = 0 ] && grep -q "A-OK" "$d/out"
    report $(( $? == 0 )) "$name" "$opts" "$d" "$@"
}

# probe OPTS: fsx (not quiet) must keep every operation scfs implements:
# fallocate modes 0, KEEP_SIZE, PUNCH_HOLE, ZERO_RANGE, and copy range.
probe() {
    local name="probe${1:+-$1}"
    ran "$name" || return 0
    local d; d=$(fresh "$name")
    mount_scfs "$d" "$1" || { report 0 "$name" "$1" "$d"; return; }
    (cd "$d" && "$FSX" -P "$d" -N 100 "$d/m/f") > "$d/out" 2>&1
    umount_scfs "$d"
    ! grep -qE "fallocate mode (0|FALLOC_FL_KEEP_SIZE|FALLOC_FL_PUNCH_HOLE.*|FALLOC_FL_ZERO_RANGE), disabling|copy range, disabling" "$d/out" \
        && grep -q A-OK "$d/out"
    report $(( $? == 0 )) "$name" "$1" "$d" -N 100
    grep disabling "$d/out" | sed 's/^/    /'
}

# conc NAME OPTS NPROC FSX-ARGS...: NPROC fsx on different files of one mount.
conc() {
    local name=$1 opts=$2 np=$3; shift 3
    ran "$name" || return 0
    local d i ok=1; d=$(fresh "$name")
    mount_scfs "$d" "$opts" || { report 0 "$name" "$opts" "$d" "$@"; return; }
    for i in $(seq 1 "$np"); do
        mkdir -p "$d/p$i"
        (cd "$d/p$i" && "$FSX" -P "$d/p$i" -S $((100 + i)) "$@" "$d/m/f$i" \
            > "$d/p$i/out" 2>&1; echo "rc=$?" >> "$d/p$i/out") &
    done
    wait
    umount_scfs "$d"
    for i in $(seq 1 "$np"); do grep -q "rc=0" "$d/p$i/out" || ok=0; done
    report $ok "$name" "$opts" "$d" "x$np" "$@"
}

# verify NAME OPTS FSX-ARGS... (-N <= 10000: fsx records the last 10000 ops)
verify() {
    local name=$1 opts=$2; shift 2
    ran "$name" || return 0
    local d ok=1; d=$(fresh "$name"); mkdir -p "$d/ref"
    mount_scfs "$d" "$opts" || { report 0 "$name" "$opts" "$d" "$@"; return; }
    (cd "$d" && "$FSX" -P "$d" --record-ops="$d/ops" "$@" "$d/m/f") > "$d/out" 2>&1 || ok=0
    (cd "$d" && "$FSX" -P "$d" --replay-ops="$d/ops" "$@" "$d/m/g") > "$d/out2" 2>&1 || ok=0
    umount_scfs "$d"
    (cd "$d/ref" && "$FSX" -P "$d/ref" --replay-ops="$d/ops" "$@" "$d/ref/g") > "$d/ref/out" 2>&1 || ok=0
    mount_scfs "$d" "$opts" || ok=0
    cmp "$d/m/g" "$d/ref/g" > "$d/cmp" 2>&1 || ok=0
    umount_scfs "$d"
    report $ok "$name" "$opts" "$d" "$@"
}

# reopen NAME OPTS ROUNDS FSX-ARGS...
reopen() {
    local name=$1 opts=$2 rounds=$3; shift 3
    ran "$name" || return 0
    local d i ok=1; d=$(fresh "$name")
    mount_scfs "$d" "$opts" || { report 0 "$name" "$opts" "$d" "$@"; return; }
    (cd "$d" && "$FSX" -P "$d" "$@" "$d/m/f") > "$d/out0" 2>&1 || ok=0
    umount_scfs "$d"
    for i in $(seq 1 "$rounds"); do
        mount_scfs "$d" "$opts" || ok=0
        (cd "$d" && "$FSX" -P "$d" -k -S $((7 * i + 3)) "$@" "$d/m/f") > "$d/out$i" 2>&1 || ok=0
        umount_scfs "$d"
    done
    report $ok "$name" "$opts" "$d" "rounds=$rounds" "$@"
}

TINY="block_size=4K,cache_size=1M"
probe ""
probe "writeback_cache"
for s in 1 2 3 4 5; do run "plain-S$s" "" -q -N "$(n 100)" -S $s; done
run check-every-op "" -q -N "$(n 60)" -S 11 -X
run pollute-eof "" -q -N "$(n 60)" -S 12 -e 1
run close-open "" -q -N "$(n 60)" -S 13 -c 50
run fsync-flush "" -q -N "$(n 60)" -S 14 -y -f
run large-8M "" -q -N "$(n 40)" -S 21 -l 8M -o 256K
run large-64M "" -q -N "$(n 20)" -S 22 -l 64M -o 1M
run fixed-64K "" -q -N "$(n 60)" -S 23 -o 65536 -O
run odd-bounds "" -q -N "$(n 60)" -S 24 -o 4097 -r 4096 -w 4096 -t 4096
run direct-io "" -q -N "$(n 20)" -S 61 -l 500000 -r 4096 -t 4096 -w 4096 -Z -R -W
run direct-io-512 "" -q -N "$(n 20)" -S 62 -o 128000 -l 500000 -r 4096 -t 512 -w 512 -Z -R -W
run tiny-plain "$TINY" -q -N "$(n 100)" -S 31
run tiny-8M "$TINY" -q -N "$(n 40)" -S 32 -l 8M -o 256K
run tiny-close-open "$TINY" -q -N "$(n 60)" -S 33 -c 20 -e 1
run wbc-plain "writeback_cache" -q -N "$(n 100)" -S 41
run wbc-close-open "writeback_cache" -q -N "$(n 60)" -S 42 -c 30 -e 1
run wbc-tiny-8M "writeback_cache,$TINY" -q -N "$(n 40)" -S 43 -l 8M
for l in 1 4095 4097 65535 65537 131073; do
    run "size-$l" "" -q -N "$(n 40)" -S $l -l $l -o $l
    run "size-$l-4K" "block_size=4K" -q -N "$(n 40)" -S $l -l $l -o $l
done
conc conc-2 "" 2 -q -N "$(n 60)"
conc conc-3-tiny "$TINY" 3 -q -N "$(n 40)"
conc conc-2-wbc "writeback_cache,cache_size=1M" 2 -q -N "$(n 40)" -c 40
VN=$(n 20); [ "$VN" -gt 10000 ] && VN=10000
verify verify-plain "" -q -N "$VN" -S 51
verify verify-tiny-8M "$TINY" -q -N "$VN" -S 55 -l 8M -o 256K
verify verify-wbc-tiny "writeback_cache,$TINY" -q -N "$VN" -S 57 -e 1 -c 30
reopen reopen-plain "" 3 -q -N "$VN"
reopen reopen-tiny "$TINY" 3 -q -N "$VN" -l 1M
echo "fsx matrix: $FAILS failed run(s)"
exit $FAILS
