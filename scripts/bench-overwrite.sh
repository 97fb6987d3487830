#!/usr/bin/env bash
# Dead space and write amplification of random overwrites (issue 12.3):
# mounts a fresh scfs, writes a 32 MiB text-like file, then 8000 random
# 4 KiB overwrites with an fsync every 1000, and prints the bytes the
# program wrote, the bytes the daemon wrote to BACKING (/proc/PID/io), the
# number of compactions (debug log) and the container's live/dead bytes.
# Usage: scripts/bench-overwrite.sh [WORKDIR] [SCFS_OPTS...]; needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${1:-/tmp/scfs-overwrite}; shift || true
cargo build --release --quiet --bin scfs
SCFS=$PWD/target/release/scfs
rm -rf "$WORK"; mkdir -p "$WORK/b" "$WORK/m"
"$SCFS" mount "$WORK/b" "$WORK/m" -d --log-file "$WORK/log" "$@"
trap '"$SCFS" umount "$WORK/m" || fusermount3 -uz "$WORK/m"' EXIT
PID=$(pgrep -f "scfs mount $WORK/b" | head -1)
PYTHONDONTWRITEBYTECODE=1 python3 - "$PID" "$WORK" <<'PY'
import os, sys
sys.path.insert(0, 'scripts')
from gen_log import log_bytes, overwrite
pid, work = sys.argv[1], sys.argv[2]
def wb():
    for l in open(f'/proc/{pid}/io'):
        if l.startswith('write_bytes'):
            return int(l.split()[1])
data = log_bytes(32 << 20)
p = f'{work}/m/big'
with open(p, 'wb') as f:
    f.write(data); f.flush(); os.fsync(f.fileno())
w0 = wb()
fd = os.open(p, os.O_RDWR)
app = overwrite(fd, data, 8000, 1000)
os.fsync(fd); os.close(fd); os.sync()
w1 = wb()
print(f"program wrote {app} bytes; daemon wrote {w1 - w0} bytes to BACKING "
      f"({(w1 - w0) / app:.2f}x); container {os.stat(f'{work}/b/big').st_size} bytes")
PY
echo "compactions: $(grep -c compacted "$WORK/log" || true)"
"$SCFS" info "$WORK/b/big" | grep -E "stored size|live bytes|dead space"
