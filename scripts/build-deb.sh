#!/usr/bin/env bash
# Builds the Debian package target/debian/scfs_VERSION_ARCH.deb with
# dpkg-deb: /usr/bin/scfs, the man page scfs(1), the bash, zsh and fish
# completions and the copyright file. No mount helper of its own: mount(8)
# runs /sbin/mount.fuse (package fuse3, a dependency) for type fuse.scfs,
# which runs `scfs` from /usr/bin.
#
#   scripts/build-deb.sh [OUT_DIR]
#
# SCFS_BIN may name a built binary (default: cargo build --release).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/debian}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
arch=$(dpkg --print-architecture)
bin=${SCFS_BIN:-target/release/scfs}
if [ -z "${SCFS_BIN:-}" ]; then
  cargo build --release --locked --bin scfs
fi
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
install -D -m 755 "$bin" "$stage/usr/bin/scfs"
strip --strip-debug "$stage/usr/bin/scfs" 2>/dev/null || true
install -d "$stage/usr/share/man/man1"
gzip -9n <docs/man/scfs.1 >"$stage/usr/share/man/man1/scfs.1.gz"
chmod 644 "$stage/usr/share/man/man1/scfs.1.gz"
install -D -m 644 docs/completions/scfs.bash "$stage/usr/share/bash-completion/completions/scfs"
install -D -m 644 docs/completions/_scfs "$stage/usr/share/zsh/vendor-completions/_scfs"
install -D -m 644 docs/completions/scfs.fish "$stage/usr/share/fish/vendor_completions.d/scfs.fish"
install -d "$stage/usr/share/doc/scfs"
{
  echo "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
  echo "Upstream-Name: scfs"
  echo
  echo "Files: *"
  echo "Copyright: the scfs authors"
  echo "License: MIT"
} >"$stage/usr/share/doc/scfs/copyright"
chmod 644 "$stage/usr/share/doc/scfs/copyright"
install -d "$stage/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat >"$stage/DEBIAN/control" <<CONTROL
Package: scfs
Version: $version
Architecture: $arch
Maintainer: scfs developers <scfs@localhost>
Depends: fuse3, libc6
Installed-Size: $size
Section: utils
Priority: optional
Description: transparently compressing FUSE filesystem
 scfs mounts a backing directory and stores each file there as a container
 of independently decodable compressed blocks (LZ77 + canonical Huffman).
 Includes the offline tools (compress, decompress, info, verify, stats),
 the man page scfs(1) and shell completions.
CONTROL
mkdir -p "$out"
deb="$out/scfs_${version}_${arch}.deb"
dpkg-deb --root-owner-group --build "$stage" "$deb" >/dev/null
echo "$deb"
