#!/usr/bin/env bash
# Installs scfs under PREFIX (default /usr/local): the binary in PREFIX/bin,
# where mount(8) and mount.fuse3 find it for `mount -t fuse.scfs` and
# /etc/fstab (they search the system PATH; ~/.cargo/bin is not on it), the
# man page scfs(1) and the bash, zsh and fish completions.
#
#   scripts/install.sh               build (cargo build --release) if needed, install
#   scripts/install.sh --uninstall   remove what the install put there
#
# PREFIX, DESTDIR (a staging root, as for packaging) and SCFS_BIN (a built
# binary to install instead of target/release/scfs) may be set.
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX=${PREFIX:-/usr/local}
root="${DESTDIR:-}$PREFIX"
files=(
  "bin/scfs"
  "share/man/man1/scfs.1"
  "share/bash-completion/completions/scfs"
  "share/zsh/site-functions/_scfs"
  "share/fish/vendor_completions.d/scfs.fish"
)
if [ "${1:-}" = "--uninstall" ]; then
  for f in "${files[@]}"; do rm -f "$root/$f"; done
  echo "removed scfs from $root"
  exit 0
fi
if [ $# -gt 0 ]; then
  echo "usage: $0 [--uninstall]" >&2
  exit 2
fi
bin=${SCFS_BIN:-target/release/scfs}
if [ -z "${SCFS_BIN:-}" ]; then
  cargo build --release --locked --bin scfs
fi
install -D -m 755 "$bin" "$root/bin/scfs"
install -D -m 644 docs/man/scfs.1 "$root/share/man/man1/scfs.1"
install -D -m 644 docs/completions/scfs.bash "$root/share/bash-completion/completions/scfs"
install -D -m 644 docs/completions/_scfs "$root/share/zsh/site-functions/_scfs"
install -D -m 644 docs/completions/scfs.fish "$root/share/fish/vendor_completions.d/scfs.fish"
echo "installed scfs in $root/bin, its man page and completions under $root/share"
