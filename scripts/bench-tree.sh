#!/usr/bin/env bash
# A tree copied into a fresh mount (issue 13's done-when: "a user copies a
# tree of logs, JSON and source into a fresh mount ... without writes
# falling below 0.8x the passthrough"). Interleaved rounds of a fresh
# passthrough FUSE mount (examples/passthrough.rs: same fuser, options,
# threads and life cycle) and a fresh scfs mount; in each:
#   cp      `cp -a SRC/. MNT/tree` (each SRC directory; timed)
#   sync    `sync` (timed: what is left of the write-back)
#   umount  `scfs umount MNT` (timed: the daemon's flush and seals)
# BACKING is a directory on a fresh ext4 filesystem (a 1 GiB loop image
# under WORKDIR, made for each target and round): creating files where a
# tree was just deleted costs ext4 a scan of the recently freed inodes
# (`recently_deleted`), up to a third of a daemon's time in a round after
# an `rm -rf` of the last one (LOOP=0: plain directories under WORKDIR).
# Then `du -sB1` (allocated) and `du -sb` (apparent) of BACKING and, for
# scfs, the saved % of `scfs stats BACKING`. Each round starts with
# drop_caches and the sources read back into the page cache. Prints every
# run (seconds per phase, the daemon's CPU time in ms over cp + sync), then
# medians and scfs/passthrough time ratios per phase, for cp + sync (what a
# user waits for) and for cp + sync + umount.
#
# Usage: scripts/bench-tree.sh [WORKDIR]   (as root: drop_caches, mount)
# Environment: RUNS=N rounds (default 3); SRC="DIR ..." the trees to copy
# (default the logs, json and source classes of scripts/corpus.sh's
# corpus in /var/tmp/scfs-corpus); SCFS_OPTS="-o ..." scfs mount options
# (default none: the real defaults); SCFS_BIN=BINARY PT_BIN=BINARY use
# these builds instead of building; PRIO=1 (a machine shared with other
# work) gives the benchmark's shell (so cp) and both daemons autogroup nice
# -20, as bench-fs.sh does; RT=1 (a machine busy with CPU-bound work,
# where PRIO=1 still leaves the latency of each FUSE request's wake-ups to
# the scheduler) runs cp, sync and every thread of both daemons at
# SCHED_FIFO priority 10 (the kernel's RT throttling still leaves others
# 5%); STRACE=1 also prints `strace -c -f` of
# each daemon over the last round's cp + sync.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-/tmp/scfs-bench-tree}
RUNS=${RUNS:-3}
C=/var/tmp/scfs-corpus
SRC=${SRC:-$C/logs $C/json $C/source}
SCFS_OPTS=${SCFS_OPTS:-}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}

[ "$(id -u)" = 0 ] || { echo "bench-tree: needs root (drop_caches)" >&2; exit 2; }
PRIO=${PRIO:-}
if [ -n "$PRIO" ]; then
    AG_NICE=$(awk '{print $3}' /proc/$$/autogroup)
    echo -20 > /proc/$$/autogroup
fi
for s in $SRC; do [ -d "$s" ] || { echo "bench-tree: no directory $s (scripts/corpus.sh)" >&2; exit 2; }; done
if [ -z "${SCFS_BIN:-}" ]; then
    cargo build --release --quiet --bin scfs --example passthrough
fi
SCFS=$(realpath "${SCFS_BIN:-$CARGO_TARGET_DIR/release/scfs}")
PT=$(realpath "${PT_BIN:-$CARGO_TARGET_DIR/release/examples/passthrough}")

LOOP=${LOOP:-1}
cleanup() {
    for t in pt scfs; do
        if mountpoint -q "$WORK/$t.m" 2>/dev/null; then "$SCFS" umount "$WORK/$t.m" || fusermount3 -uz "$WORK/$t.m" || true; fi
        if mountpoint -q "$WORK/$t.fs" 2>/dev/null; then umount "$WORK/$t.fs" || true; fi
        rm -f "$WORK/$t.img"
    done
    [ -z "${STRACE_PID:-}" ] || kill "$STRACE_PID" 2>/dev/null || true
    [ -z "$PRIO" ] || echo "$AG_NICE" > /proc/$$/autogroup
}
trap cleanup EXIT
mkdir -p "$WORK"
cleanup

NFILES=$(find $SRC -type f | wc -l)
NBYTES=$(find $SRC -type f -printf '%s\n' | awk '{s+=$1} END {print s+0}')
declare -A BACK
new_backing() {   # new_backing TARGET: an empty BACKING for it
    if [ "$LOOP" = 1 ]; then
        if mountpoint -q "$WORK/$1.fs"; then umount "$WORK/$1.fs"; fi
        rm -f "$WORK/$1.img"; mkdir -p "$WORK/$1.fs"
        truncate -s 1G "$WORK/$1.img"
        mkfs.ext4 -q -F "$WORK/$1.img"
        mount -o loop "$WORK/$1.img" "$WORK/$1.fs"
        BACK[$1]=$WORK/$1.fs/b
    else
        BACK[$1]=$WORK/$1.b
        rm -rf "${BACK[$1]}"
    fi
    mkdir -p "${BACK[$1]}" "$WORK/$1.m"
}
mount_t() {
    case $1 in
        pt) "$PT" "${BACK[pt]}" "$WORK/pt.m" ;;
        # shellcheck disable=SC2086
        scfs) "$SCFS" mount $SCFS_OPTS "${BACK[scfs]}" "$WORK/scfs.m" ;;
    esac
}
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh   # (the cwd is the repository, see the cd above)
daemon_pid() { flock_holder "${BACK[$1]}"; }   # the daemon holds BACKING's flock
sub() { python3 -c "print(f'{$2 - $1:.3f}')"; }
warm() {
    sync; echo 3 > /proc/sys/vm/drop_caches
    find $SRC -type f -print0 | xargs -0 cat > /dev/null
}

declare -A ALL
RUN=
[ -z "${RT:-}" ] || RUN="chrt -f 10"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg); $NFILES files, $NBYTES bytes in: $SRC; scfs options: ${SCFS_OPTS:-(defaults)}"
printf '%-5s %-5s %8s %8s %8s %9s %12s %12s %8s\n' round target cp_s sync_s umount_s "cpu_ms" du_B1 du_b saved
for r in $(seq "$RUNS"); do
    for t in pt scfs; do
        new_backing "$t"
        mount_t "$t"
        pid=$(daemon_pid "$t")
        [ -z "$PRIO" ] || echo -20 > "/proc/$pid/autogroup"
        [ -z "${RT:-}" ] || chrt -a -f -p 10 "$pid" > /dev/null
        warm
        if [ -n "${STRACE:-}" ] && [ "$r" = "$RUNS" ]; then
            strace -c -f -p "$pid" -o "$WORK/$t.strace" & STRACE_PID=$!
            sleep 0.5
        fi
        c0=$(cpu_ms "$pid")
        s0=$(now)
        mkdir "$WORK/$t.m/tree"
        for s in $SRC; do $RUN cp -a "$s" "$WORK/$t.m/tree/"; done
        s1=$(now)
        $RUN sync
        s2=$(now)
        c1=$(cpu_ms "$pid")
        if [ -n "${STRACE_PID:-}" ]; then kill -INT "$STRACE_PID"; wait "$STRACE_PID" || true; STRACE_PID=; fi
        "$SCFS" umount "$WORK/$t.m"
        s3=$(now)
        cp_s=$(sub "$s0" "$s1"); sy_s=$(sub "$s1" "$s2"); um_s=$(sub "$s2" "$s3")
        du1=$(du -sB1 "${BACK[$t]}" | cut -f1); dub=$(du -sb "${BACK[$t]}" | cut -f1)
        saved=-
        if [ "$t" = scfs ]; then
            saved=$("$SCFS" stats --json "${BACK[scfs]}" | python3 -c "import json, sys; print(f\"{json.load(sys.stdin)['total']['saved_percent']:.1f}%\")")
        fi
        ALL[$t.cp]="${ALL[$t.cp]:-} $cp_s"; ALL[$t.sync]="${ALL[$t.sync]:-} $sy_s"; ALL[$t.umount]="${ALL[$t.umount]:-} $um_s"
        ALL[$t.cs]="${ALL[$t.cs]:-} $(sub 0 "$cp_s + $sy_s")"; ALL[$t.all]="${ALL[$t.all]:-} $(sub 0 "$cp_s + $sy_s + $um_s")"
        printf '%-5s %-5s %8s %8s %8s %9s %12s %12s %8s\n' "$r" "$t" "$cp_s" "$sy_s" "$um_s" "$((c1 - c0))" "$du1" "$dub" "$saved"
    done
done
# The copy is right (last round's scfs tree against the sources).
# shellcheck disable=SC2086
mount_t scfs
for s in $SRC; do diff -r -q "$s" "$WORK/scfs.m/tree/$(basename "$s")" > /dev/null || { echo "bench-tree: scfs copy of $s differs" >&2; exit 1; }; done
"$SCFS" umount "$WORK/scfs.m"

med() { python3 -c "import statistics,sys; print(f'{statistics.median(float(x) for x in sys.argv[1:]):.3f}')" "$@"; }
echo
printf '%-16s %10s %10s %14s\n' phase "pt (s)" "scfs (s)" "pt/scfs speed"
for p in cp sync umount cs all; do
    case $p in cs) name="cp+sync" ;; all) name="cp+sync+umount" ;; *) name=$p ;; esac
    # shellcheck disable=SC2086
    a=$(med ${ALL[pt.$p]}); b=$(med ${ALL[scfs.$p]})
    printf '%-16s %10s %10s %13sx\n' "$name" "$a" "$b" "$(python3 -c "print(f'{$a/$b:.2f}' if $b > 0 else '-')")"
done
if [ -n "${STRACE:-}" ]; then
    for t in pt scfs; do echo; echo "== strace -c -f of the $t daemon, round $RUNS cp + sync"; head -40 "$WORK/$t.strace"; done
fi
