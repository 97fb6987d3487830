#!/usr/bin/env bash
# Filesystem benchmark: the backing directory used directly, a minimal
# passthrough FUSE filesystem (examples/passthrough.rs: same fuser 0.18,
# same mount options and event-loop threads as scfs) and scfs, side by side
# on the same disk, in one run.
#
# Usage: scripts/bench-fs.sh [WORKDIR] [SIZE_MiB]
#   WORKDIR   scratch directory (default /tmp/scfs-bench; needs ~5x SIZE free)
#   SIZE_MiB  size of the sequential/random test file (default 1024)
# Environment: ONLY=seq runs just the sequential write/read rows (quick
# iterations); RUNS=N repeats those rows N times, in rounds that run every
# target in turn, and keeps the best; with ONLY=seq it also prints the
# scfs/pt ratio of each round and their median (default 1);
# SCFS_OPTS="-o ..." extra mount options for scfs.
# SCFS_BIN=BINARY PT_BIN=BINARY use these builds instead of building (both
# given: no cargo run, e.g. while the target directory is busy).
# ONLY=tar runs just the small-files row: RUNS=N rounds (default 3), each
# extracting into a fresh directory on every target in turn (interleaved),
# reporting every run with the daemon's CPU time; SCFS_BASE=BINARY adds an
# older scfs binary as a third target ("base") for before/after runs.
# With ONLY=seq, SCFS_BASE=BINARY also adds the old binary ("base") to the
# sequential rows, and the daemons' CPU seconds and the BACKING size after
# the write (last run) are printed.
# PRIO=1 (for a machine shared with other work): the benchmark's shell and
# every daemon get autogroup nice -20, so other sessions' processes (each in
# their own autogroup) take little CPU from the runs; the same for all
# targets.
# THROTTLE=BPS (e.g. 200M = 200 MiB/s): after the build, the benchmark's
# shell (and so every daemon and dd it starts) moves into a cgroup-v1 blkio
# group whose reads from BACKING's device are limited to BPS bytes/s
# (blkio.throttle.read_bps_device), so cold reads see a slow disk instead of
# the host's page cache; the shell goes back to the root group at exit.
# Needs root (drop_caches), fusermount3/fuse, python3, tar, the Silesia
# corpus in /work/shared/corpus/silesia (or $SILESIA).
#
# Measures: sequential write (1 MiB writes + final fsync) of a SIZE mix of the
# Silesia files; sequential read cold (after remount + drop_caches) and warm
# (right after); 4 KiB random reads (cold); 4 KiB random write + fsync in the
# file (ops/s and bytes the daemon wrote to disk per op); extracting a
# tarball of many small files (+ sync); space used in BACKING (du) against
# the logical size and against `scfs compress --format v2` of the same files.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-/tmp/scfs-bench}
SIZE_MB=${2:-1024}
SILESIA=${SILESIA:-/work/shared/corpus/silesia}
RANDOPS=${RANDOPS:-20000}
ONLY=${ONLY:-all}
RUNS=${RUNS:-1}
SCFS_OPTS=${SCFS_OPTS:-}
SYNCOPS=${SYNCOPS:-1000}
PRIO=${PRIO:-}
THROTTLE=${THROTTLE:-}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}

[ "$(id -u)" = 0 ] || { echo "bench-fs: needs root (drop_caches)" >&2; exit 2; }
if [ -n "$PRIO" ]; then
    # The autogroup is the whole session's: give it back its nice at exit.
    AG_NICE=$(awk '{print $3}' /proc/$$/autogroup)
    echo -20 > /proc/$$/autogroup
fi
if [ -z "${SCFS_BIN:-}" ] || [ -z "${PT_BIN:-}" ]; then
    cargo build --release --quiet --bin scfs --example passthrough
fi
SCFS=${SCFS_BIN:-$CARGO_TARGET_DIR/release/scfs}
PT=${PT_BIN:-$CARGO_TARGET_DIR/release/examples/passthrough}

cleanup() {
    for m in "$WORK"/pt.m "$WORK"/scfs.m "$WORK"/base.m; do
        if mountpoint -q "$m" 2>/dev/null; then "$SCFS" umount "$m" || fusermount3 -uz "$m" || true; fi
    done
}
BLKIO=/sys/fs/cgroup/blkio/scfs-bench.$$
unthrottle() {
    [ -d "$BLKIO" ] || return 0
    echo $$ > /sys/fs/cgroup/blkio/cgroup.procs
    rmdir "$BLKIO" 2>/dev/null || true
}
trap 'cleanup; unthrottle; [ -z "$PRIO" ] || echo "$AG_NICE" > /proc/$$/autogroup' EXIT

mkdir -p "$WORK"
if [ -n "$THROTTLE" ]; then
    bps=$(numfmt --from=iec "$THROTTLE")
    dev=$(findmnt -no MAJ:MIN -T "$WORK" | tr -d ' ')
    # a partition's reads are accounted to its whole disk
    if [ -e "/sys/dev/block/$dev/partition" ]; then
        dev=$(cat "$(dirname "$(readlink -f "/sys/dev/block/$dev")")/dev")
    fi
    mkdir -p "$BLKIO"
    echo "$dev $bps" > "$BLKIO/blkio.throttle.read_bps_device"
    echo $$ > "$BLKIO/cgroup.procs"
    echo "reads from device $dev throttled to $bps B/s (blkio cgroup $BLKIO)"
fi
cleanup
rm -rf "$WORK"/direct "$WORK"/pt.b "$WORK"/pt.m "$WORK"/scfs.b "$WORK"/scfs.m "$WORK"/v2
mkdir -p "$WORK"/direct "$WORK"/pt.b "$WORK"/pt.m "$WORK"/scfs.b "$WORK"/scfs.m "$WORK"/v2

# --- inputs: a SIZE mix of the Silesia files, and a tarball of small files
MIX=$WORK/mix.src
if [ "$ONLY" != tar ] && { [ ! -f "$MIX" ] || [ "$(stat -c %s "$MIX")" != $((SIZE_MB << 20)) ]; }; then
    python3 - "$SILESIA" "$MIX" $((SIZE_MB << 20)) <<'EOF'
import os, sys
src, out, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
names = sorted(os.listdir(src))
with open(out, "wb") as o:
    left, i = size, 0
    while left > 0:
        # round-robin 1..4 MiB slices of each file, so the mix is mixed
        with open(os.path.join(src, names[i % len(names)]), "rb") as f:
            f.seek((i * 3 << 20) % max(1, os.path.getsize(f.name) - (4 << 20)))
            chunk = f.read(min(left, (1 + i % 4) << 20))
        o.write(chunk); left -= len(chunk); i += 1
EOF
fi
TARBALL=$WORK/small.tar
if [ ! -f "$TARBALL" ]; then
    python3 - "$SILESIA" "$WORK/small-tree" <<'EOF'
import os, sys
src, out = sys.argv[1], sys.argv[2]
data = b"".join(open(os.path.join(src, n), "rb").read(8 << 20) for n in sorted(os.listdir(src)))
pos, n = 0, 0
for d in range(100):
    os.makedirs(f"{out}/d{d:03}", exist_ok=True)
    for f in range(60):
        ln = 512 + (n * 7919) % 16384
        open(f"{out}/d{d:03}/f{f:03}", "wb").write(data[pos:pos + ln])
        pos = (pos + ln) % (len(data) - 20000); n += 1
EOF
    tar -cf "$TARBALL" -C "$WORK" small-tree
    rm -rf "$WORK/small-tree"
fi
cat "$TARBALL" > /dev/null; [ "$ONLY" = tar ] || cat "$MIX" > /dev/null   # sources come from the page cache

drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
now() { date +%s.%N; }
mbps() { python3 -c "print(f'{$1/1048576/($3-$2):.0f}')"; }
opsps() { python3 -c "print(f'{$1/($3-$2):.0f}')"; }

mount_t() {   # mount_t NAME
    mount_t_ "$1"
    if [ -n "$PRIO" ] && [ "$1" != direct ]; then echo -20 > "/proc/$(daemon_pid "$1")/autogroup"; fi
}
mount_t_() {
    case $1 in
        pt) "$PT" "$WORK"/pt.b "$WORK"/pt.m ;;
        # shellcheck disable=SC2086
        scfs) "$SCFS" mount $SCFS_OPTS "$WORK"/scfs.b "$WORK"/scfs.m ;;
        # shellcheck disable=SC2086
        base) "$SCFS_BASE" mount $SCFS_OPTS "$WORK"/base.b "$WORK"/base.m ;;
    esac
}
umount_t() { case $1 in pt|scfs|base) "$SCFS" umount "$WORK/$1.m" ;; esac; }
dir_t() { case $1 in direct) echo "$WORK/direct" ;; *) echo "$WORK/$1.m" ;; esac; }
backing_t() { case $1 in direct) echo "$WORK/direct" ;; *) echo "$WORK/$1.b" ;; esac; }
daemon_pid() {   # holder of the BACKING flock (the daemon)
    local ino; ino=$(stat -c %i "$(backing_t "$1")")
    awk -v ino="$ino" '$2=="FLOCK" { split($6, a, ":"); if (a[3]==ino) print $5 }' /proc/locks | head -1
}
write_bytes() {   # write_bytes PID  (bytes sent to the block layer)
    awk '/^write_bytes/ { print $2 }' "/proc/$1/io"
}

cpu_ms() {   # cpu_ms PID  (user + system CPU of the process, all threads)
    awk -v hz="$(getconf CLK_TCK)" '{ print int(($14 + $15) * 1000 / hz) }' "/proc/$1/stat"
}

if [ "$ONLY" = tar ]; then
    [ "$RUNS" -gt 1 ] || RUNS=${RUNS_TAR:-3}
    targets="pt scfs"
    if [ -n "${SCFS_BASE:-}" ]; then
        targets="pt base scfs"
        rm -rf "$WORK"/base.b "$WORK"/base.m; mkdir -p "$WORK"/base.b "$WORK"/base.m
    fi
    declare -A PID
    for t in $targets; do mount_t $t; PID[$t]=$(daemon_pid $t); done
    echo "tar -x 6000 small files + sync, $RUNS interleaved rounds; load: $(cut -d' ' -f1-3 /proc/loadavg)"
    printf '%-6s %-6s %10s %16s\n' round target files/s "daemon CPU ms"
    declare -A ALL
    for r in $(seq "$RUNS"); do
        for t in $targets; do
            d=$(dir_t $t)/run$r
            mkdir "$d"
            drop
            c0=$(cpu_ms "${PID[$t]}")
            s=$(now); tar -xf "$TARBALL" -C "$d"; sync; e=$(now)
            c1=$(cpu_ms "${PID[$t]}")
            v=$(opsps 6000 "$s" "$e")
            ALL[$t]="${ALL[$t]:-} $v"
            printf '%-6s %-6s %10s %16s\n' "$r" "$t" "$v" "$((c1 - c0))"
        done
    done
    for t in $targets; do
        # content, mode and mtime as in the tarball
        tar -df "$TARBALL" -C "$(dir_t $t)/run1" || { echo "bench-fs: $t: tree differs!" >&2; exit 1; }
        umount_t $t
    done
    med() { python3 -c "import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))" "$@"; }
    for t in $targets; do
        # shellcheck disable=SC2086
        echo "$t: runs${ALL[$t]}; median $(med ${ALL[$t]})"
    done
    # shellcheck disable=SC2086
    echo "scfs/pt median: $(python3 -c "print(f'{$(med ${ALL[scfs]})/$(med ${ALL[pt]}):.2f}x')")"
    exit 0
fi

declare -A R
targets="direct pt scfs"
if [ "$ONLY" = seq ] && [ -n "${SCFS_BASE:-}" ]; then
    targets="direct pt base scfs"
    rm -rf "$WORK"/base.b "$WORK"/base.m; mkdir -p "$WORK"/base.b "$WORK"/base.m
fi
best() { python3 -c "print(max(${1:-0}, $2))"; }
# The sequential rows, round by round: each round runs every target in
# turn, so a drift of the host's speed hits all targets alike (the ratios
# of one round are measured minutes apart at most).
seq_round() {   # seq_round TARGET ROUND
    local t=$1 r=$2 d c0 s e v
    d=$(dir_t "$t")
    # sequential write
    rm -f "$d/mix"
    drop
    [ "$t" = direct ] || c0=$(cpu_ms "$(daemon_pid "$t")")
    s=$(now); dd if="$MIX" of="$d/mix" bs=1M conv=fsync status=none; e=$(now)
    [ "$t" = direct ] || R[$t.wcpu]=$(( $(cpu_ms "$(daemon_pid "$t")") - c0 ))
    # what the write left in BACKING (apparent bytes, in MB)
    R[$t.wsize]=$(( $(du -sb "$(backing_t "$t")" | cut -f1) / 1000000 ))
    v=$(mbps $((SIZE_MB << 20)) "$s" "$e"); R[$t.write.$r]=$v
    R[$t.write]=$(best "${R[$t.write]:-}" "$v")
    # sequential read, cold then warm
    umount_t "$t"; mount_t "$t"; drop
    [ "$t" = direct ] || c0=$(cpu_ms "$(daemon_pid "$t")")
    s=$(now); dd if="$d/mix" of=/dev/null bs=1M status=none; e=$(now)
    [ "$t" = direct ] || R[$t.rcpu]=$(( $(cpu_ms "$(daemon_pid "$t")") - c0 ))
    v=$(mbps $((SIZE_MB << 20)) "$s" "$e"); R[$t.cold.$r]=$v
    R[$t.cold]=$(best "${R[$t.cold]:-}" "$v")
    s=$(now); dd if="$d/mix" of=/dev/null bs=1M status=none; e=$(now)
    v=$(mbps $((SIZE_MB << 20)) "$s" "$e"); R[$t.warm.$r]=$v
    R[$t.warm]=$(best "${R[$t.warm]:-}" "$v")
    cmp -s "$MIX" "$d/mix" || { echo "bench-fs: $t: read back differs!" >&2; exit 1; }
}
for t in $targets; do mount_t $t; done
for r in $(seq "$RUNS"); do
    for t in $targets; do seq_round "$t" "$r"; done
done
for t in $targets; do
    d=$(dir_t $t)
    if [ "$ONLY" = seq ]; then umount_t $t; continue; fi
    # 4 KiB random reads, cold
    umount_t $t; mount_t $t; drop
    R[$t.rread]=$(python3 - "$d/mix" "$RANDOPS" <<'EOF'
import os, random, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY); n = int(sys.argv[2])
blocks = os.fstat(fd).st_size // 4096; rnd = random.Random(1)
t = time.time()
for _ in range(n): os.pread(fd, 4096, rnd.randrange(blocks) * 4096)
print(f"{n / (time.time() - t):.0f}")
EOF
)
    # 4 KiB random write + fsync
    pid=
    if [ $t != direct ]; then pid=$(daemon_pid $t); fi
    before_len=$(du -sb --apparent-size "$(backing_t $t)" | cut -f1)
    out=$(python3 - "$d/mix" "$SYNCOPS" "${pid:-self}" <<'EOF'
import os, random, sys, time
path, n, pid = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def wb():
    for l in open(f"/proc/{os.getpid() if pid == 'self' else pid}/io"):
        if l.startswith("write_bytes"): return int(l.split()[1])
fd = os.open(path, os.O_RDWR); blocks = os.fstat(fd).st_size // 4096
rnd = random.Random(2); buf = os.urandom(4096)
os.fsync(fd); w0 = wb(); t = time.time()
for _ in range(n):
    os.pwrite(fd, buf, rnd.randrange(blocks) * 4096); os.fsync(fd)
dt = time.time() - t; w1 = wb()
print(f"{n / dt:.0f} {(w1 - w0) / n:.0f}")
EOF
)
    R[$t.rwsync]=${out% *}
    R[$t.rwbytes]=${out#* }
    after_len=$(du -sb --apparent-size "$(backing_t $t)" | cut -f1)
    R[$t.rwgrow]=$(( (after_len - before_len) / SYNCOPS ))
    # many small files: tar extract + sync
    drop
    s=$(now); tar -xf "$TARBALL" -C "$d"; sync; e=$(now)
    R[$t.tar]=$(opsps 6000 "$s" "$e")
    umount_t $t
done

if [ "$ONLY" = seq ]; then
    echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
    printf '\n%-40s %10s %12s %10s %10s %12s %12s\n' "test (${SIZE_MB} MiB file, best of $RUNS)" direct passthrough base scfs base/pt scfs/pt
    for k in write:"seq write + fsync (MB/s)" cold:"seq read cold (MB/s)" warm:"seq read warm (MB/s)" \
        wcpu:"  daemon CPU ms, write (last run)" wsize:"  BACKING MB after the write (last run)" \
        rcpu:"  daemon CPU ms, cold read (last run)"; do
        r=${k%%:*}
        ratio_b=-; ratio_s=-
        case $r in write|cold|warm)
            ratio_s=$(python3 -c "print(f'{${R[scfs.$r]}/${R[pt.$r]}:.2f}x')")
            [ -z "${R[base.$r]:-}" ] || ratio_b=$(python3 -c "print(f'{${R[base.$r]}/${R[pt.$r]}:.2f}x')") ;;
        esac
        printf '%-40s %10s %12s %10s %10s %12s %12s\n' "${k#*:}" "${R[direct.$r]:--}" "${R[pt.$r]}" "${R[base.$r]:--}" \
            "${R[scfs.$r]}" "$ratio_b" "$ratio_s"
    done
    # Ratios of each round (targets run back to back), and their median.
    echo
    for k in write cold warm; do
        line="scfs/pt by round, $k:"
        all=
        for r in $(seq "$RUNS"); do
            x=$(python3 -c "print(f'{${R[scfs.$k.$r]}/${R[pt.$k.$r]}:.2f}')")
            line="$line $x (${R[scfs.$k.$r]}/${R[pt.$k.$r]})"; all="$all $x"
        done
        # shellcheck disable=SC2086
        echo "$line; median $(python3 -c "import statistics,sys; print(f'{statistics.median(float(x) for x in sys.argv[1:]):.2f}x')" $all)"
    done
    exit 0
fi

# --- space: BACKING of scfs vs logical size vs `scfs compress --format v2`
rm -f "$WORK/scfs.b/mix"   # the random writes dirtied it; rewrite it fresh
mount_t scfs; cp "$MIX" "$WORK/scfs.m/mix"; umount_t scfs
logical=$(du -sb --apparent-size "$WORK/direct/mix" "$WORK/direct/small-tree" | awk '{s+=$1} END {print s}')
used=$(du -sB1 "$WORK/scfs.b/mix" "$WORK/scfs.b/small-tree" | awk '{s+=$1} END {print s}')
"$SCFS" compress --format v2 "$MIX" "$WORK/v2/mix"
(cd "$WORK/direct/small-tree" && find . -type f) | while read -r f; do
    mkdir -p "$(dirname "$WORK/v2/small-tree/$f")"
    "$SCFS" compress --format v2 "$WORK/direct/small-tree/$f" "$WORK/v2/small-tree/$f"
done
v2=$(du -sB1 "$WORK/v2" | cut -f1)
v2app=$(du -sb --apparent-size "$WORK/v2" | cut -f1)
usedapp=$(du -sb --apparent-size "$WORK/scfs.b/mix" "$WORK/scfs.b/small-tree" | awk '{s+=$1} END {print s}')

ratio() { python3 -c "print(f'{$1/$2:.2f}x' if float($2) else '-')"; }
printf '\n%-40s %10s %12s %10s %12s\n' "test (${SIZE_MB} MiB file)" direct passthrough scfs scfs/pt
row() { printf '%-40s %10s %12s %10s %12s\n' "$1" "${R[direct.$2]}" "${R[pt.$2]}" "${R[scfs.$2]}" "$(ratio "${R[scfs.$2]}" "${R[pt.$2]}")"; }
row "seq write + fsync (MB/s)" write
row "seq read cold (MB/s)" cold
row "seq read warm (MB/s)" warm
row "4K random read, cold (ops/s)" rread
row "4K random write+fsync (ops/s)" rwsync
row "  disk bytes written per op" rwbytes
row "  BACKING growth per op (bytes)" rwgrow
row "tar -x 6000 small files + sync (files/s)" tar
echo
echo "space (mix + small files): logical $logical B"
echo "  scfs BACKING du: $used B ($(ratio "$used" "$logical") of logical), apparent $usedapp B"
echo "  scfs compress --format v2: du $v2 B, apparent $v2app B; BACKING/v2 apparent = $(ratio "$usedapp" "$v2app")"
