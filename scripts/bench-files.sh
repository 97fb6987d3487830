#!/bin/bash
# What a user's files really cost: every file of the corpus (scripts/corpus.sh)
# compressed whole by `scfs compress --format v2` (the container the mount
# stores, all of its framing included), summed per class, against zstd -1 and
# -3 of each whole file (one frame per file). Prints per class the files, raw
# bytes, scfs bytes and ratio, zstd bytes and ratios, and a total row.
#
# Usage: scripts/bench-files.sh [CORPUS_DIR]   (default /var/tmp/scfs-corpus)
# Env:   SCFS_BIN (default target/release/scfs), LEVEL (default `default`),
#        BLOCK (default 64K), ZSTD=0 to skip zstd, CLASSES="logs json ..."
set -euo pipefail
CORPUS=${1:-/var/tmp/scfs-corpus}
BIN=${SCFS_BIN:-$(dirname "$0")/../target/release/scfs}
LEVEL=${LEVEL:-default}
BLOCK=${BLOCK:-64K}
ZSTD=${ZSTD:-1}
[ -x "$BIN" ] || { echo "no scfs binary at $BIN (cargo build --release)" >&2; exit 1; }
[ -d "$CORPUS" ] || { echo "no corpus at $CORPUS (scripts/corpus.sh)" >&2; exit 1; }
if [ "$ZSTD" = 1 ] && ! command -v zstd >/dev/null; then
  echo "zstd not found: ZSTD=0 to skip it" >&2; exit 1
fi
TMP=$(mktemp -d /tmp/bench-files.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.4f", a / b; else printf "-" }'; }
echo "scfs: $BIN ($("$BIN" --version 2>/dev/null || echo '?')), level $LEVEL, block $BLOCK"
printf '%-11s %6s %12s %12s %7s' class files raw scfs ratio
[ "$ZSTD" = 1 ] && printf ' %12s %7s %12s %7s' zstd-1 ratio zstd-3 ratio
echo
T_N=0; T_RAW=0; T_SC=0; T_Z1=0; T_Z3=0
classes=${CLASSES:-$(cd "$CORPUS" && find . -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort)}
for c in $classes; do
  n=0; raw=0; sc=0; z1=0; z3=0
  while IFS= read -r -d '' f; do
    rm -f "$TMP/out"
    "$BIN" compress --format v2 --level "$LEVEL" --block-size "$BLOCK" "$f" "$TMP/out" >/dev/null 2>"$TMP/err" \
      || { echo "scfs compress failed on $f: $(cat "$TMP/err")" >&2; exit 1; }
    sc=$((sc + $(stat -c %s "$TMP/out")))
    raw=$((raw + $(stat -c %s "$f")))
    if [ "$ZSTD" = 1 ]; then
      z1=$((z1 + $(zstd -q -c -1 "$f" | wc -c)))
      z3=$((z3 + $(zstd -q -c -3 "$f" | wc -c)))
    fi
    n=$((n + 1))
  done < <(find "$CORPUS/$c" -type f -print0 | sort -z)
  printf '%-11s %6d %12d %12d %7s' "$c" "$n" "$raw" "$sc" "$(ratio $raw $sc)"
  [ "$ZSTD" = 1 ] && printf ' %12d %7s %12d %7s' "$z1" "$(ratio $raw $z1)" "$z3" "$(ratio $raw $z3)"
  echo
  T_N=$((T_N + n)); T_RAW=$((T_RAW + raw)); T_SC=$((T_SC + sc)); T_Z1=$((T_Z1 + z1)); T_Z3=$((T_Z3 + z3))
done
printf '%-11s %6d %12d %12d %7s' total "$T_N" "$T_RAW" "$T_SC" "$(ratio $T_RAW $T_SC)"
[ "$ZSTD" = 1 ] && printf ' %12d %7s %12d %7s' "$T_Z1" "$(ratio $T_RAW $T_Z1)" "$T_Z3" "$(ratio $T_RAW $T_Z3)"
echo
