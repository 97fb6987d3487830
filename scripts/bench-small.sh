#!/usr/bin/env bash
# Small-file workloads through other tools than tar, on the passthrough
# FUSE filesystem (examples/passthrough.rs, same fuser, options and
# threads) and on scfs, interleaved, each run into a fresh directory:
#   cp     `cp -r` of a source tree (the cargo registry sources: ~6000
#          files, text and some binaries)
#   git    `git clone --no-local` of a repository of that tree (pack
#          files, index.lock -> index renames, and the checkout's creates)
#   rename write NAME.tmp + rename over NAME, twice per name (the second
#          pass replaces existing files), as editors and package managers do
# (`tar -x` is in `ONLY=tar scripts/bench-fs.sh`.)
#
# Usage: scripts/bench-small.sh [WORKDIR]   (as root: drop_caches)
# Environment: RUNS=N rounds (default 3); SRC=DIR the tree to copy
# (default the cargo registry sources); SCFS_BASE=BINARY adds an older scfs
# as a third target ("base"); WORKLOADS="cp git rename" to pick some;
# SCFS_BIN=BINARY PT_BIN=BINARY use these builds instead of building.
# Prints every run (files/s and the daemon's CPU time in ms), then medians.
# The minimal passthrough fails `git clone` (it keeps one path per inode and
# loses track across git's lock-file renames): that row then compares scfs
# with SCFS_BASE only.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-/tmp/scfs-bench-small}
RUNS=${RUNS:-3}
WORKLOADS=${WORKLOADS:-cp git rename}
SRC=${SRC:-$(ls -d "$HOME"/.cargo/registry/src/*/ | head -1)}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}

[ "$(id -u)" = 0 ] || { echo "bench-small: needs root (drop_caches)" >&2; exit 2; }
if [ -z "${SCFS_BIN:-}" ]; then
    cargo build --release --quiet --bin scfs --example passthrough
fi
SCFS=${SCFS_BIN:-$CARGO_TARGET_DIR/release/scfs}
PT=${PT_BIN:-$CARGO_TARGET_DIR/release/examples/passthrough}
targets="pt scfs"
[ -z "${SCFS_BASE:-}" ] || targets="pt base scfs"

cleanup() {
    for t in pt base scfs; do
        if mountpoint -q "$WORK/$t.m" 2>/dev/null; then "$SCFS" umount "$WORK/$t.m" || fusermount3 -uz "$WORK/$t.m" || true; fi
    done
}
trap cleanup EXIT
mkdir -p "$WORK"
cleanup
rm -rf "$WORK"/*.b "$WORK"/*.m
for t in $targets; do mkdir -p "$WORK/$t.b" "$WORK/$t.m"; done

NFILES=$(find "$SRC" -type f | wc -l)
REPO=$WORK/repo
if [ ! -d "$REPO/.git" ]; then
    rm -rf "$REPO"; mkdir -p "$REPO"
    cp -r "$SRC"/. "$REPO"/
    git -C "$REPO" init -q
    git -C "$REPO" add -A
    git -C "$REPO" -c gc.auto=0 -c user.name=b -c user.email=b@b commit -qm tree
    git -C "$REPO" repack -adq
fi
NREPO=$(git -C "$REPO" ls-files | wc -l)
NREN=${NREN:-3000}

mount_t() {
    case $1 in
        pt) "$PT" "$WORK/pt.b" "$WORK/pt.m" ;;
        scfs) "$SCFS" mount "$WORK/scfs.b" "$WORK/scfs.m" ;;
        base) "$SCFS_BASE" mount "$WORK/base.b" "$WORK/base.m" ;;
    esac
}
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh   # (the cwd is the repository, see the cd above)
daemon_pid() { flock_holder "$WORK/$1.b"; }   # the daemon holds BACKING's flock
warm() {   # drop caches (also ext4's memory of recently deleted inodes), re-read the sources
    sync; echo 3 > /proc/sys/vm/drop_caches
    find "$SRC" "$REPO" -type f -print0 | xargs -0 cat > /dev/null
}
run() {   # run WORKLOAD DIR  -> number of files made
    case $1 in
        cp) cp -r "$SRC" "$2/tree" || return 1; sync; echo "$NFILES" ;;
        git) git clone -q --no-local "$REPO" "$2/clone" || return 1; sync; echo "$NREPO" ;;
        rename) python3 - "$2" "$NREN" <<'EOF'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for p in range(2):
    for i in range(n):
        t = f"{d}/f{i}.tmp"
        with open(t, "wb") as f:
            f.write(bytes([65 + (i + p) % 26]) * (300 + i % 4000))
        os.rename(t, f"{d}/f{i}")
os.sync()
print(2 * n)
EOF
        ;;
    esac
}

declare -A PID ALL FAILED
for t in $targets; do mount_t "$t"; PID[$t]=$(daemon_pid "$t"); done
echo "load: $(cut -d' ' -f1-3 /proc/loadavg); $NFILES files in $SRC, $NREPO in the repo"
printf '%-8s %-6s %-6s %10s %16s\n' workload round target files/s "daemon CPU ms"
for w in $WORKLOADS; do
    for r in $(seq "$RUNS"); do
        for t in $targets; do
            d=$WORK/$t.m/$w$r
            mkdir "$d"
            warm
            c0=$(cpu_ms "${PID[$t]}")
            s=$(now)
            if n=$(run "$w" "$d" 2> "$WORK/$t.err"); then
                e=$(now)
                c1=$(cpu_ms "${PID[$t]}")
                v=$(python3 -c "print(f'{$n/($e-$s):.0f}')")
                ALL[$w.$t]="${ALL[$w.$t]:-} $v"
                printf '%-8s %-6s %-6s %10s %16s\n' "$w" "$r" "$t" "$v" "$((c1 - c0))"
            else
                printf '%-8s %-6s %-6s %10s   (%s)\n' "$w" "$r" "$t" failed "$(head -c 60 "$WORK/$t.err" | head -1)"
                FAILED[$w.$t]=1
            fi
        done
    done
    # the results are right
    case $w in
        cp) for t in $targets; do [ -z "${FAILED[$w.$t]:-}" ] || continue; diff -r -q "$SRC" "$WORK/$t.m/${w}1/tree" > /dev/null || { echo "bench-small: $t: cp tree differs" >&2; exit 1; }; done ;;
        git) for t in $targets; do [ -z "${FAILED[$w.$t]:-}" ] || continue; git -C "$WORK/$t.m/${w}1/clone" fsck --no-progress > /dev/null 2>&1 && git -C "$WORK/$t.m/${w}1/clone" diff --quiet || { echo "bench-small: $t: clone differs" >&2; exit 1; }; done ;;
    esac
done
med() { python3 -c "import statistics,sys; print(f'{statistics.median(float(x) for x in sys.argv[1:]):.0f}')" "$@"; }
echo
for w in $WORKLOADS; do
    line="$w:"
    # shellcheck disable=SC2086
    for t in $targets; do line="$line $t median $(med ${ALL[$w.$t]:-0})"; done
    ref=pt; [ -z "${FAILED[$w.pt]:-}" ] || ref=base
    [ -n "${ALL[$w.$ref]:-}" ] || { echo "$line"; continue; }
    # shellcheck disable=SC2086
    echo "$line; scfs/$ref $(python3 -c "print(f'{$(med ${ALL[$w.scfs]:-0})/$(med ${ALL[$w.$ref]}):.2f}x')")"
done
