#!/usr/bin/env bash
# Runs the original C pjdfstest (github pjd/pjdfstest: the pjdfstest.c
# syscall driver plus tests/<syscall>/*.t shell scripts, driven by perl's
# `prove`) through a fresh scfs mount, prints prove's summary and always
# unmounts. Fetches and builds nothing: the suite is BSD-licensed third-party
# code and is not part of this repository.
#
# Usage: scripts/pjdfstest-c.sh PJD_DIR [PROVE_ARGS...]
#   PJD_DIR holds the built `pjdfstest` binary and `tests/` (misc.sh, conf
#   and the <syscall>/NN.t files). Extra arguments go to prove, e.g. a subset:
#   scripts/pjdfstest-c.sh ~/pjdfstest tests/rename tests/open/00.t
#   (paths relative to PJD_DIR). Default: prove -r PJD_DIR/tests.
# Environment:
#   SCFS=path    scfs binary (default $CARGO_TARGET_DIR or target, then
#                /release/scfs; build it first)
#   OPTS=opts    extra mount options (e.g. OPTS=writeback_cache)
#   WORK=dir     scratch directory (default: a new mktemp -d, removed after)
# Needs root: the suite switches uids (-u/-g) and creates device nodes.
# Exit status: prove's (0 when every test passed).
#
# Obtaining and building the suite (on Linux with glibc):
#   git clone https://github.com/pjd/pjdfstest PJD_DIR && cd PJD_DIR
#   autoreconf -ifs && ./configure && make pjdfstest
# or, without autoconf, write a config.h with what configure detects on
# Linux glibc and compile directly:
#   printf '%s\n' '#include <sys/sysmacros.h>' \
#     '#define HAVE_OPENAT 1' '#define HAVE_UNLINKAT 1' '#define HAVE_MKDIRAT 1' \
#     '#define HAVE_LINKAT 1' '#define HAVE_SYMLINKAT 1' '#define HAVE_RENAMEAT 1' \
#     '#define HAVE_MKFIFOAT 1' '#define HAVE_MKNODAT 1' '#define HAVE_FCHMODAT 1' \
#     '#define HAVE_FCHOWNAT 1' '#define HAVE_FSTATAT 1' \
#     '#define HAVE_POSIX_FALLOCATE 1' '#define HAVE_UTIMENSAT 1' \
#     '#define HAVE_STRUCT_STAT_ST_ATIM 1' '#define HAVE_STRUCT_STAT_ST_CTIM 1' \
#     '#define HAVE_STRUCT_STAT_ST_MTIM 1' > config.h
#   gcc -Wall -O2 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -I. -o pjdfstest pjdfstest.c
# (-Wall is clean.) The .t files find pjdfstest and tests/conf themselves
# (through their own path), and tests/conf detects the filesystem type with
# `df -PT .`, which is FUSE for an scfs mount. Tests that need FreeBSD
# (chflags, mdconfig/newfs, lchmod, NFSv4 ACLs) print "ok 1" and exit.
#
# Reference: run the same suite in a plain directory of the local disk, e.g.
#   (mkdir -p /tmp/ref && cd /tmp/ref && prove -r PJD_DIR/tests)
# A test that fails there too is the suite's or the machine's, not scfs's.
set -u
if [ $# -lt 1 ] || [ ! -x "$1/pjdfstest" ] || [ ! -f "$1/tests/misc.sh" ]; then
    echo "usage: $0 PJD_DIR [PROVE_ARGS...]   (PJD_DIR/pjdfstest and PJD_DIR/tests/misc.sh must exist)" >&2
    exit 2
fi
if [ "$(id -u)" != 0 ]; then
    echo "$0: must run as root (the suite switches uids and creates device nodes)" >&2
    exit 2
fi
command -v prove >/dev/null || { echo "$0: prove (perl) not found" >&2; exit 2; }
PJD=$(readlink -f "$1")
shift
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SCFS=${SCFS:-${CARGO_TARGET_DIR:-$ROOT/target}/release/scfs}
[ -x "$SCFS" ] || { echo "$0: no scfs binary at $SCFS (cargo build --release)" >&2; exit 2; }
OWN_WORK=0
if [ -z "${WORK:-}" ]; then
    WORK=$(mktemp -d /tmp/scfs-pjdc.XXXXXX)
    OWN_WORK=1
fi
mkdir -p "$WORK/b" "$WORK/m"

cleanup() {
    cd /
    if mountpoint -q "$WORK/m"; then
        "$SCFS" umount "$WORK/m" >/dev/null 2>&1 || fusermount3 -uz "$WORK/m" 2>/dev/null
    fi
    if [ "$OWN_WORK" = 1 ] && ! mountpoint -q "$WORK/m"; then
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT INT TERM

MOUNT_OPTS=()
[ -n "${OPTS:-}" ] && MOUNT_OPTS=(-o "$OPTS")
"$SCFS" mount "${MOUNT_OPTS[@]}" --log-file "$WORK/scfs.log" "$WORK/b" "$WORK/m" || exit 2
echo "scfs mounted: $(grep " $WORK/m " /proc/self/mountinfo | cut -d' ' -f5-)"

ARGS=()
if [ $# -eq 0 ]; then
    ARGS=("$PJD/tests")
else
    for a in "$@"; do
        case "$a" in
        -*) ARGS+=("$a") ;;
        /*) ARGS+=("$a") ;;
        *) ARGS+=("$PJD/$a") ;;
        esac
    done
fi
cd "$WORK/m" || exit 2
prove -r "${ARGS[@]}" 2>&1 | tee "$WORK/prove.log" | grep -v '\.\. ok$'
rc=${PIPESTATUS[0]}
echo "prove exit status: $rc (full log: $WORK/prove.log, kept only with WORK=dir)"
exit "$rc"
