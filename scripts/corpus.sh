#!/bin/bash
# Builds the benchmark corpus of user data (docs/BENCHMARKS.md, "Codec on a
# corpus of user data"): one directory per class (logs, source, json, csv,
# docs, binaries, compressed), ~20-40 MB each, deterministically: pinned
# package versions from the registries (crates.io via cargo, PyPI via pip,
# npm via `npm pack`, Debian via apt-get download), files of pinned Debian
# packages already on this machine, sorted file lists, seeded generators.
#
# Usage: scripts/corpus.sh [OUTDIR]            (default /var/tmp/scfs-corpus)
# Downloads are kept in ${SCFS_CORPUS_CACHE:-OUTDIR.cache} between runs.
# OUTDIR/SHA256SUMS lists every file; OUTDIR/SOURCES.txt what went in and
# what is missing. Determinism check: build twice (fresh caches) and
# `cmp A/SHA256SUMS B/SHA256SUMS` (README.md, "Benchmarks").
#
# A registry that is slow or down never fails the build: what could not be
# fetched is listed as MISSING at the end (and in SOURCES.txt); the classes
# are then smaller. Debian files or apt lists other than the pinned ones are
# listed there too (the corpus is then not the same as elsewhere).
set -u -o pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$(realpath -m "${1:-/var/tmp/scfs-corpus}")
CACHE=$(realpath -m "${SCFS_CORPUS_CACHE:-$OUT.cache}")
T=${SCFS_CORPUS_TIMEOUT:-300} # seconds per registry command
mkdir -p "$OUT" "$CACHE"/{crates,wheels,npm,debs}
# Fetches land in $TMP first and move to the cache only when complete, so a
# timed-out download never leaves a truncated file behind.
TMP="$CACHE/tmp"
MISSING="$CACHE/missing.txt"
: >"$MISSING"
export LC_ALL=C TZ=UTC

say() { printf 'corpus: %s\n' "$*" >&2; }
missing() { say "MISSING: $*"; printf '%s\n' "$*" >>"$MISSING"; }

# ---- crates.io: one throw-away project per pinned crate, `cargo fetch`
# into a private CARGO_HOME; only the pinned .crate files are used (the
# transitive ones the resolver picks may change over time).
CRATES="serde@1.0.210 serde_json@1.0.128 syn@2.0.77 proc-macro2@1.0.86
tokio@1.40.0 regex@1.10.6 regex-syntax@0.8.4 hyper@1.4.1 clap_builder@4.5.17
libc@0.2.158 nix@0.29.0 chrono@0.4.38 rustls@0.23.13 rayon@1.10.0 rand@0.8.5
image@0.25.2 itertools@0.13.0 cc@1.1.18"
fetch_crate() { # name version
    local name=$1 ver=$2 f
    f=$(find "$CACHE/cargo-home/registry/cache" -name "$name-$ver.crate" 2>/dev/null | head -1)
    if [ -z "$f" ]; then
        local p="$CACHE/cargo-proj/$name"
        mkdir -p "$p/src"
        : >"$p/src/lib.rs"
        cat >"$p/Cargo.toml" <<EOF
[package]
name = "corpus-fetch-$name"
version = "0.0.0"
edition = "2021"
[dependencies]
$name = { version = "=$ver", default-features = false }
EOF
        CARGO_HOME="$CACHE/cargo-home" timeout "$T" cargo fetch -q \
            --manifest-path "$p/Cargo.toml" --target x86_64-unknown-linux-gnu >&2 ||
            { missing "crate $name $ver (cargo fetch failed or timed out)"; return; }
        f=$(find "$CACHE/cargo-home/registry/cache" -name "$name-$ver.crate" | head -1)
    fi
    [ -n "$f" ] && cp "$f" "$CACHE/crates/" || missing "crate $name $ver"
}
say "fetching crates"
for c in $CRATES; do
    [ -s "$CACHE/crates/${c%@*}-${c#*@}.crate" ] || fetch_crate "${c%@*}" "${c#*@}"
done

# ---- PyPI: wheels for CPython 3.11 on x86_64 Linux (pinned, so the same
# files whatever the local interpreter).
WHEELS="Django==5.0.6 requests==2.32.3 flask==3.0.3 jinja2==3.1.4
werkzeug==3.0.3 click==8.1.7 sqlparse==0.5.0 pygments==2.18.0
vega_datasets==0.9.0 statsmodels==0.14.2 matplotlib==3.9.0"
say "fetching wheels"
for w in $WHEELS; do
    n=${w%%==*}
    v=${w#*==}
    if ! ls "$CACHE/wheels" | grep -iq "^${n//-/_}-$v-"; then
        rm -rf "$TMP" && mkdir -p "$TMP"
        timeout "$T" pip download -q --no-deps --only-binary :all: \
            --python-version 3.11 --implementation cp --abi cp311 \
            --platform manylinux2014_x86_64 --platform any \
            -d "$TMP" "$w" >&2 && mv "$TMP"/*.whl "$CACHE/wheels/" ||
            missing "wheel $w (pip download failed or timed out)"
    fi
done

# ---- npm: package tarballs.
NPM="lodash@4.17.21 express@4.19.2 react-dom@18.3.1 vue@3.4.27
moment@2.30.1 typescript@5.4.5 @octokit/openapi@18.0.0
@mdn/browser-compat-data@5.5.30"
say "fetching npm packages"
for p in $NPM; do
    t=$(printf '%s' "$p" | sed 's/^@//; s#/#-#; s/@/-/').tgz
    [ -s "$CACHE/npm/$t" ] && continue
    rm -rf "$TMP" && mkdir -p "$TMP"
    (cd "$TMP" && timeout "$T" npm pack -q "$p" >/dev/null 2>&1) && [ -s "$TMP/$t" ] &&
        mv "$TMP/$t" "$CACHE/npm/" || missing "npm $p (npm pack failed or timed out)"
done

# ---- Debian: a few .deb files (ar + xz members) at pinned versions.
DEBS="coreutils=9.1-1 tar=1.34+dfsg-1.2+deb12u1 grep=3.8-5 sed=4.9-1+deb12u1
findutils=4.9.0-4 diffutils=1:3.8-4"
say "fetching Debian packages"
for d in $DEBS; do
    n=${d%%=*}
    ls "$CACHE/debs" | grep -q "^${n}_" && continue
    rm -rf "$TMP" && mkdir -p "$TMP"
    (cd "$TMP" && timeout "$T" apt-get download -q "$d" >/dev/null 2>&1) &&
        mv "$TMP"/*.deb "$CACHE/debs/" || missing "deb $d (apt-get download failed or timed out)"
done

rm -rf "$TMP"
say "building classes in $OUT"
python3 -B "$ROOT/scripts/corpus.py" "$CACHE" "$OUT" "$MISSING"
