"""Text-like log data and random in-place overwrites for the overwrite
benchmarks (scripts/bench-blocksize.sh, scripts/bench-overwrite.sh).

`log_bytes(size)` is `size` bytes of numbered lines with a hash, a status
and a user field (deterministic: the same bytes on every run).
`overwrite(fd, data, ops, fsync_every)` does `ops` random block-aligned
4 KiB overwrites of the file open at `fd` (whose contents are `data`),
each copying the block 7 blocks further on, with an fsync after every
`fsync_every` of them; the offsets come from a generator seeded with 1, so
every run overwrites the same blocks. It returns the bytes written.

As a program: `python3 scripts/gen_log.py SIZE OUT` writes log_bytes(SIZE)
to OUT.
"""

import os
import random
import sys

BLOCK = 4096


def log_bytes(size):
    """`size` bytes of log-like lines."""
    data = bytearray()
    i = 0
    while len(data) < size:
        h = (i * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
        data += f"{i:08} {h:016x} status={h % 7} user{h % 1000}\n".encode()
        i += 1
    return bytes(data[:size])


def overwrite(fd, data, ops, fsync_every):
    """Random aligned overwrites of `fd` from `data`; bytes written."""
    rng = random.Random(1)
    size = len(data)
    written = 0
    for k in range(ops):
        off = rng.randrange(0, size // BLOCK) * BLOCK
        src = (off + BLOCK * 7) % size
        written += os.pwrite(fd, data[src:src + BLOCK], off)
        if k % fsync_every == fsync_every - 1:
            os.fsync(fd)
    return written


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: gen_log.py SIZE OUT")
    with open(sys.argv[2], "wb") as f:
        f.write(log_bytes(int(sys.argv[1])))
