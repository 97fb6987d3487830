#!/usr/bin/env bash
# scfs on CephFS against CephFS directly (issue 16), on the one-node
# cluster of scripts/ceph-dev.sh (host A's ceph-fuse mount only). Prints:
#   write   1 GiB of mixed data (the Silesia files cycled), dd bs=1M
#           conv=fsync (through scfs the daemon's unmount, which writes the
#           last commit, is timed too);
#   read    the same file cold: page cache dropped, scfs remounted (its
#           block cache empty), then cat > /dev/null (compared with the
#           input in round 1);
#   osd MiB the bytes the OSD was sent for writing during the write
#           (`ceph tell osd.0 perf dump`: osd.op_w_in_bytes, what crosses
#           the "network" to the storage servers);
#   tree    cp -a of a tree of /usr/share files (TREE_FILES, default 30000),
#           with sync (through scfs: and the unmount).
# ROUNDS rounds (default 3), the two ways interleaved in each; each line is
# one measurement, then the medians. ceph-fuse's own object cache
# (client_oc_size, 200 MiB by default) is not dropped between write and
# read: 1 GiB does not fit in it.
#
# Usage: scripts/bench-ceph.sh [DIR]   (default /var/tmp/scfs-bench; needs
# root; SCFS = scfs binary, default target/release/scfs; CEPH_PORT default
# here 3326; DATA = a 1 GiB input file to use instead of the Silesia cycle;
# SCFS_OPTS = scfs's mount options, default "shared", "" for single-host)
set -uo pipefail

cd "$(dirname "$0")/.."
SCFS=$(realpath "${SCFS:-target/release/scfs}")
DIR=${1:-/var/tmp/scfs-bench}
export CEPH_PORT=${CEPH_PORT:-3326}
ROUNDS=${ROUNDS:-3}
SCFS_OPTS=${SCFS_OPTS-shared}   # mount options of scfs ("" for a single-host mount)
[ -n "$SCFS_OPTS" ] || unset SCFS_OPTS
TREE_FILES=${TREE_FILES:-30000}
SILESIA=${SILESIA:-/work/shared/corpus/silesia}
[ -x "$SCFS" ] || { echo "bench-ceph: no $SCFS (cargo build --release)"; exit 2; }
mkdir -p "$DIR" && DIR=$(cd "$DIR" && pwd)
WORK=$DIR.work
mkdir -p "$WORK"
C=$DIR/hostA MNT=$DIR/mnt
PID=''

stop_scfs() {
    if mountpoint -q "$MNT" 2>/dev/null; then "$SCFS" umount --timeout 300 "$MNT" || umount -l "$MNT"; fi
    if [ -n "$PID" ]; then
        for _ in $(seq 3000); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$PID" 2>/dev/null
        wait "$PID" 2>/dev/null
    fi
    PID=''
}
start_scfs() {   # start_scfs BACKING
    mkdir -p "$1" "$MNT"
    "$SCFS" mount -f "$1" "$MNT" ${SCFS_OPTS+-o} ${SCFS_OPTS-} 2>>"$WORK/scfs.err" &
    PID=$!
    for _ in $(seq 200); do mountpoint -q "$MNT" && return 0; sleep 0.05; done
    echo "bench-ceph: scfs did not mount"; return 1
}
cleanup() {
    stop_scfs
    scripts/ceph-dev.sh stop "$DIR" >/dev/null 2>&1 || echo "bench-ceph: ceph-dev.sh stop failed"
}
trap cleanup EXIT

# Inputs: 1 GiB of Silesia cycled, and a tree of /usr/share files.
DATA=${DATA:-$WORK/mixed-1g}
if [ ! -s "$DATA" ]; then
    while cat "$SILESIA"/*; do :; done 2>/dev/null | head -c $((1 << 30)) >"$DATA"
fi
if [ ! -d "$WORK/tree" ]; then
    mkdir -p "$WORK/tree"
    (cd / && find usr/share -type f -size -4M | head -n "$TREE_FILES" \
        | tar -cf - -T - | tar -xf - -C "$WORK/tree")
fi
tree_n=$(find "$WORK/tree" -type f | wc -l)
tree_b=$(du -sb "$WORK/tree" | cut -f1)

scripts/ceph-dev.sh start "$DIR" >"$WORK/start.log" 2>&1 || { cat "$WORK/start.log"; exit 1; }
ceph_() { timeout 60 ceph -c "$DIR/ceph.conf" "$@"; }
osd_w() { ceph_ tell osd.0 perf dump 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["osd"]["op_w_in_bytes"])'; }
drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }
now() { date +%s.%N; }
el() { echo "$(now) - $1" | bc; }

echo "# $(date -u +%FT%TZ) scfs $(git rev-parse --short HEAD 2>/dev/null); load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# data $(stat -c %s "$DATA") bytes; tree $tree_n files, $tree_b bytes"
for r in $(seq "$ROUNDS"); do
    for how in direct scfs; do
        rm -rf "$C/d" "$C/s"
        drop
        # write
        w0=$(osd_w)
        if [ $how = direct ]; then
            mkdir -p "$C/d"; out=$C/d/big
            t0=$(now)
            dd if="$DATA" of="$out" bs=1M conv=fsync status=none
            tw=$(el "$t0")
        else
            start_scfs "$C/s" || exit 1; out=$MNT/big
            t0=$(now)
            dd if="$DATA" of="$out" bs=1M conv=fsync status=none
            stop_scfs
            tw=$(el "$t0")
        fi
        sleep 1
        w1=$(osd_w)
        # cold read
        drop
        if [ $how = scfs ]; then start_scfs "$C/s" || exit 1; fi
        t0=$(now)
        cat "$out" >/dev/null
        tr=$(el "$t0")
        [ "$r" = 1 ] && { cmp -s "$DATA" "$out" || echo "bench-ceph: $how: the file read back differs"; }
        stored=$(stat -c %s "$C/${how:0:1}/big")
        [ $how = scfs ] && stop_scfs
        # tree copy
        rm -rf "$C/d" "$C/s"
        drop
        if [ $how = direct ]; then
            mkdir -p "$C/d"
            t0=$(now); cp -a "$WORK/tree" "$C/d/tree"; sync -f "$C/d"; tt=$(el "$t0")
        else
            start_scfs "$C/s" || exit 1
            t0=$(now); cp -a "$WORK/tree" "$MNT/tree"; sync -f "$MNT"; stop_scfs; tt=$(el "$t0")
        fi
        printf 'round %d %-6s write %6.1f s %6.1f MB/s  cold read %6.1f s %6.1f MB/s  osd written %6.0f MiB  stored %6.0f MiB  tree %6.1f s\n' \
            "$r" "$how" "$tw" "$(echo "1073.741824 / $tw" | bc -l)" "$tr" "$(echo "1073.741824 / $tr" | bc -l)" \
            "$(echo "($w1 - $w0) / 1048576" | bc -l)" "$(echo "$stored / 1048576" | bc -l)" "$tt" | tee -a "$WORK/results"
    done
done
echo "# medians of $ROUNDS:"
for how in direct scfs; do
    med() { grep " $how " "$WORK/results" | tail -n "$ROUNDS" | awk -v f="$1" '{print $f}' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
    printf '%-6s write %s s  cold read %s s  osd written %s MiB  tree %s s\n' "$how" "$(med 5)" "$(med 11)" "$(med 17)" "$(med 23)"
done
