#!/usr/bin/env python3
"""Crash and corruption torture for a real scfs mount (not part of `cargo test`).

    scripts/torture-crash.py crash   [--iters N] [--scfs PATH] [--dir DIR] [--seed S]
    scripts/torture-crash.py corrupt [--iters N] [--scfs PATH] [--dir DIR] [--seed S]

crash: loops { mount BACKING MNT (random options: block_size 4K/64K,
cache_size 1M/64M, writeback_cache or not, every compress= level); start several worker processes,
each doing a random workload on its own files (sequential and random pwrite,
O_APPEND, ftruncate, fsync, close/reopen, rename, unlink, create, shared
mmap writes + msync); SIGKILL the daemon at a random moment; fusermount3 -u;
remount; verify }. Each worker logs every operation to a file outside the
mount before ("B") and after ("E") it runs, so the verifier can replay the
log into a model: a file whose close() or fsync() returned must hold exactly
that content; after that, every 4 KiB page may only hold one of the contents
it had in the states the later operations went through (old or new, never
garbage), and the size must be one the file went through. Every byte written
encodes (file, version, position), so misplaced or stale data is caught.
After verification the observed contents become the start state of the next
iteration (the BACKING is kept and grows a history: delta chains,
compaction, torn tails from earlier kills). The daemon's log is scanned for
panics.

corrupt: builds a BACKING with files of several shapes (compressible and
random data, long delta chains, truncations, holes), remembers their
content, then loops { for every file: restore the pristine container and
damage it once (flip a byte, set a byte, truncate, append junk; positions
biased to headers, record headers, commit records and trailers); mount;
read every file in block-sized pieces in a child process with a timeout:
each read must return the right bytes or EIO, never other bytes, never
hang; the daemon must stay up; EIO must be logged with the file name;
unmount; `scfs verify` and `scfs decompress` on every damaged file must
exit 0 (with correct output) or 1, never panic, crash or hang }.

Truncations are reported as notes, not failures, unless --strict. Without
a seal, a container cut anywhere is indistinguishable from one whose last
append a crash tore, and open serves the last commit before the cut; the
corpus here is written through a mount and unmounted, which seals every
file (header version 3, FORMAT.md 3.2), so with --strict any cut that
reads as other bytes than the file's is a failure (a cut to 0 bytes, an
empty file, stays a note).

Exit status 1 and a FAIL line on the first violation (the BACKING, the
mount log and the worker logs are kept under --dir for diagnosis).
"""

import argparse
import json
import mmap
import os
import random
import shutil
import signal
import subprocess
import sys
import time

PAGE = 4096
CH = 64  # pattern chunk: every 64-byte aligned chunk names file, version, position

# ---------------------------------------------------------------- patterns

_FILL = [bytes(random.Random(v).choice(b"etaoinshrdlu cmfwyp\n") for _ in range(46))
         for v in range(97)]


def chunk(tag, ver, c):
    return b"%04x%06x%08x" % (tag & 0xFFFF, ver & 0xFFFFFF, c & 0xFFFFFFFF) + _FILL[(ver * 7 + c) % 97]


def pattern(tag, ver, off, ln):
    assert off % CH == 0 and ln % CH == 0
    c0 = off // CH
    return b"".join(chunk(tag, ver, c) for c in range(c0, c0 + ln // CH))


# ---------------------------------------------------------------- mounting

class Mount:
    def __init__(self, scfs, root, opts):
        self.scfs = scfs
        self.root = root
        self.backing = os.path.join(root, "backing")
        self.mnt = os.path.join(root, "mnt")
        self.log = os.path.join(root, "daemon.log")
        self.opts = opts
        os.makedirs(self.backing, exist_ok=True)
        os.makedirs(self.mnt, exist_ok=True)

    def mount(self, opts=None):
        if opts is not None:
            self.opts = opts
        cmd = [self.scfs, "mount", self.backing, self.mnt, "--log-file", self.log]
        if self.opts:
            cmd += ["-o", ",".join(self.opts)]
        r = subprocess.run(cmd, capture_output=True, timeout=60)
        if r.returncode != 0:
            fail("mount failed: %s" % r.stderr.decode(errors="replace"))

    def pid(self):
        r = subprocess.run(["pgrep", "-f", "^%s mount %s %s" % (self.scfs, self.backing, self.mnt)],
                           capture_output=True, text=True)
        pids = [int(x) for x in r.stdout.split()]
        return pids[0] if pids else None

    def alive(self):
        pid = self.pid()
        return pid is not None

    def umount(self):
        r = subprocess.run([self.scfs, "umount", self.mnt], capture_output=True, timeout=120)
        if r.returncode != 0:
            fail("scfs umount failed: %s" % r.stderr.decode(errors="replace"))
        deadline = time.time() + 30
        while self.pid() is not None:
            if time.time() > deadline:
                fail("daemon still running 30 s after umount")
            time.sleep(0.02)

    def kill(self):
        pid = self.pid()
        if pid is None:
            fail("no daemon to kill")
        os.kill(pid, signal.SIGKILL)
        deadline = time.time() + 20
        while os.path.exists("/proc/%d" % pid):
            try:
                with open("/proc/%d/stat" % pid) as f:
                    if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                        break
            except OSError:
                break
            if time.time() > deadline:
                fail("killed daemon %d did not exit" % pid)
            time.sleep(0.01)

    def detach(self):
        r = subprocess.run(["fusermount3", "-u", self.mnt], capture_output=True)
        if r.returncode != 0:
            r = subprocess.run(["fusermount3", "-uz", self.mnt], capture_output=True)
            if r.returncode != 0:
                fail("fusermount3 -u failed: %s" % r.stderr.decode(errors="replace"))

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""


ROOT = None
KEEP_GOING = [False]
FAILURES = []
STRICT = [False]
TRUNCATED = [False]  # the damage being checked is a truncation
TRUNCATED_TO_0 = [False]  # ... to 0 bytes
TRUNCATION_NOTES = []


class Failure(Exception):
    pass


def fail(msg):
    if TRUNCATED[0] and (not STRICT[0] or TRUNCATED_TO_0[0]):
        # A container cut at any point looks like a crash that tore its
        # last append: open lands on the last commit before the cut (old
        # content, or a shorter file). Since header version 3 (FORMAT.md
        # 3.2) a container sealed at unmount reports such a cut as corrupt,
        # so --strict counts it as a failure; a cut to 0 bytes leaves an
        # empty file, which is an empty file (FORMAT.md 3.6) in any mode.
        print("note (truncation, undetectable): %s" % msg, flush=True)
        TRUNCATION_NOTES.append(msg)
        raise Failure(msg)
    print("FAIL: %s" % msg, flush=True)
    if KEEP_GOING[0]:
        FAILURES.append(msg)
        raise Failure(msg)
    if ROOT:
        print("state kept in %s" % ROOT, flush=True)
    sys.exit(1)


def check_log_panics(m, where):
    t = m.log_text()
    for bad in ("panicked", "RUST_BACKTRACE", "stack overflow"):
        if bad in t:
            i = t.index(bad)
            fail("%s: daemon log shows a panic:\n%s" % (where, t[max(0, i - 2000):i + 2000]))


# ---------------------------------------------------------------- crash: worker

def worker_main(args):
    """One worker process: random ops on its own files, logged before/after."""
    wid, wdir, logpath, seed, nops = args.wid, args.wdir, args.log, args.seed, args.ops
    rnd = random.Random(seed)
    logfd = os.open(logpath, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def log(rec):
        os.write(logfd, (json.dumps(rec) + "\n").encode())

    # Current files: name -> size (as the worker believes).
    files = {}
    try:
        for n in sorted(os.listdir(wdir)):
            files[n] = os.stat(os.path.join(wdir, n)).st_size
    except OSError:
        os._exit(0)  # killed before the worker started: nothing logged
    fds = {}
    maps = {}
    counter = [int(rnd.random() * 1e6)]
    max_size = 768 * 1024

    def newname():
        counter[0] += 1
        return "f%d" % counter[0]

    def run(rec, fn):
        log(dict(rec, t="B"))
        try:
            fn()
        except OSError as e:
            log({"t": "X", "err": e.errno})
            os._exit(0)
        log({"t": "E"})

    def getfd(name):
        if name not in fds:
            p = os.path.join(wdir, name)
            run({"op": "open", "f": name}, lambda: fds.__setitem__(name, os.open(p, os.O_RDWR)))
        return fds[name]

    def close_file(name):
        """Unmaps and closes `name` if it is mapped / open (logged ops)."""
        if name in maps:
            mm, mfd = maps.pop(name)
            run({"op": "munmap", "f": name}, lambda: (mm.close(), os.close(mfd)))
        if name in fds:
            fd = fds.pop(name)
            run({"op": "close", "f": name}, lambda: os.close(fd))

    for _ in range(nops):
        if len(files) < 2 or (len(files) < 5 and rnd.random() < 0.1):
            name = newname()
            p = os.path.join(wdir, name)
            run({"op": "create", "f": name},
                lambda: fds.__setitem__(name, os.open(p, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)))
            files[name] = 0
            continue
        name = rnd.choice(sorted(files))
        size = files[name]
        r = rnd.random()
        ver = rnd.randrange(1, 1 << 23)
        if r < 0.30:  # pwrite at a random aligned offset (sometimes extending)
            fd = getfd(name)
            top = min(max_size, max(size, PAGE) + 128 * 1024)
            off = rnd.randrange(0, top // CH) * CH
            ln = rnd.choice([CH, 512, PAGE, 3 * PAGE, 64 * 1024, 100 * CH])
            ln = min(ln, max_size - off)
            if ln <= 0:
                continue
            data = pattern(wid, ver, off, ln)
            run({"op": "write", "f": name, "off": off, "len": ln, "ver": ver},
                lambda: os.pwrite(fd, data, off) == ln or (_ for _ in ()).throw(OSError(5, "short")))
            files[name] = max(size, off + ln)
        elif r < 0.42:  # sequential rewrite from 0 (a new generation), in pieces
            fd = getfd(name)
            total = rnd.choice([PAGE, 70 * 1024, 300 * 1024, 700 * 1024])
            piece = rnd.choice([PAGE, 32 * 1024, 128 * 1024])
            off = 0
            while off < total:
                ln = min(piece, total - off)
                data = pattern(wid, ver, off, ln)
                o = off
                run({"op": "write", "f": name, "off": o, "len": ln, "ver": ver},
                    lambda: os.pwrite(fd, data, o) == len(data) or (_ for _ in ()).throw(OSError(5, "short")))
                off += ln
            files[name] = max(size, total)
        elif r < 0.50 and size % CH == 0 and size < max_size:  # O_APPEND
            p = os.path.join(wdir, name)
            ln = rnd.choice([CH, PAGE, 20 * 1024])
            data = pattern(wid, ver, size, ln)

            def app():
                fd = os.open(p, os.O_WRONLY | os.O_APPEND)
                try:
                    if os.write(fd, data) != ln:
                        raise OSError(5, "short append")
                finally:
                    os.close(fd)
            # Closed before returning: durable when E is logged.
            run({"op": "append", "f": name, "off": size, "len": ln, "ver": ver}, app)
            files[name] = size + ln
        elif r < 0.58:  # ftruncate
            if name in maps:  # a mapping past the new end would SIGBUS
                mm, mfd = maps.pop(name)
                run({"op": "munmap", "f": name}, lambda: (mm.close(), os.close(mfd)))
            fd = getfd(name)
            if rnd.random() < 0.3:
                ns = rnd.randrange(0, max(size, 1) + 2 * PAGE)
            else:
                ns = rnd.randrange(0, (max(size, 1) + 2 * PAGE) // CH) * CH
            ns = min(ns, max_size)
            run({"op": "trunc", "f": name, "size": ns}, lambda: os.ftruncate(fd, ns))
            files[name] = ns
        elif r < 0.68:  # fsync
            fd = getfd(name)
            run({"op": "fsync", "f": name}, lambda: os.fsync(fd))
        elif r < 0.78:  # close
            close_file(name)
        elif r < 0.83:  # rename to a fresh name
            nn = newname()
            run({"op": "rename", "f": name, "to": nn},
                lambda: os.rename(os.path.join(wdir, name), os.path.join(wdir, nn)))
            files[nn] = files.pop(name)
            if name in fds:
                fds[nn] = fds.pop(name)
            if name in maps:
                maps[nn] = maps.pop(name)
        elif r < 0.86 and len(files) > 2:  # unlink
            close_file(name)
            run({"op": "unlink", "f": name}, lambda: os.unlink(os.path.join(wdir, name)))
            del files[name]
        elif size >= PAGE:  # shared mmap write of one page + msync
            npages = size // PAGE
            pg = rnd.randrange(npages)
            if name not in maps:
                p = os.path.join(wdir, name)
                holder = {}

                def mp():
                    mfd = os.open(p, os.O_RDWR)
                    holder["m"] = (mmap.mmap(mfd, npages * PAGE, mmap.MAP_SHARED), mfd)
                run({"op": "mmap", "f": name}, mp)
                maps[name] = holder["m"]
            mm, _ = maps[name]
            if (pg + 1) * PAGE > len(mm):
                continue
            data = pattern(wid, ver, pg * PAGE, PAGE)

            def mw():
                mm[pg * PAGE:(pg + 1) * PAGE] = data
                mm.flush(pg * PAGE, PAGE)
            run({"op": "write", "f": name, "off": pg * PAGE, "len": PAGE, "ver": ver, "mmap": 1}, mw)
        if rnd.random() < 0.02:
            time.sleep(rnd.random() * 0.05)
    for name in list(maps):
        mm, mfd = maps.pop(name)
        run({"op": "munmap", "f": name}, lambda: (mm.close(), os.close(mfd)))
    for name in list(fds):
        fd = fds.pop(name)
        run({"op": "close", "f": name}, lambda: os.close(fd))
    log({"t": "DONE"})
    os._exit(0)


# ---------------------------------------------------------------- crash: model

def pages_of(data):
    n = (len(data) + PAGE - 1) // PAGE
    return [data[i * PAGE:(i + 1) * PAGE].ljust(PAGE, b"\0") for i in range(n)]


class FileModel:
    """Content in the current (replayed) state, plus for every page the set
    of contents it may hold after a crash, and the sizes it may have."""

    def __init__(self, data):
        self.cur = bytearray(data)
        self.sync()

    def sync(self):
        self.cand = {i: {p} for i, p in enumerate(pages_of(bytes(self.cur)))}
        self.sizes = {len(self.cur)}
        self.ranges = []

    def note(self, lo_page, hi_page):
        for i in range(lo_page, hi_page):
            p = bytes(self.cur[i * PAGE:(i + 1) * PAGE]).ljust(PAGE, b"\0")
            self.cand.setdefault(i, {b"\0" * PAGE}).add(p)
        self.sizes.add(len(self.cur))

    def write(self, off, data):
        old = len(self.cur)
        if off > old:
            self.cur.extend(b"\0" * (off - old))
        self.cur[off:off + len(data)] = data
        new = len(self.cur)
        if new > old:
            self.ranges.append((old, new))
        lo = min(off, old) // PAGE
        self.note(lo, (off + len(data) + PAGE - 1) // PAGE)

    def trunc(self, size):
        old = len(self.cur)
        if size < old:
            del self.cur[size:]
        else:
            self.cur.extend(b"\0" * (size - old))
        lo = min(size, old) // PAGE
        hi = (max(size, old) + PAGE - 1) // PAGE
        self.note(lo, hi)

    def check(self, name, got):
        n = len(got)
        if n not in self.sizes and not any(a <= n <= b for a, b in self.ranges):
            return "%s: size %d is none of the sizes it went through %s %s" % (
                name, n, sorted(self.sizes), self.ranges)
        zero = b"\0" * PAGE
        for i, p in enumerate(pages_of(got)):
            cands = self.cand.get(i, {zero})
            last = (i + 1) * PAGE >= n
            if p in cands:
                continue
            if last:
                k = n - i * PAGE
                if any(c[:k] == p[:k] for c in cands):
                    continue
            return "%s: page %d (bytes %d..) is neither old nor new content: got %r..., candidates %r" % (
                name, i, i * PAGE, p[:40], [c[:40] for c in list(cands)[:4]])
        return None


def replay(logpath, wdir_state):
    """Replays a worker log over the start state {name: bytes}. Returns
    {name: FileModel} for the names that must exist, plus the set of
    names whose existence is uncertain (an operation in flight)."""
    files = {n: FileModel(d) for n, d in wdir_state.items()}
    maybe = set()
    alias = {}  # a name an in-flight rename/unlink may have left: its model
    recs = []
    with open(logpath) as f:
        for line in f:
            line = line.strip()
            if line:
                try:
                    recs.append(json.loads(line))
                except ValueError:
                    break  # torn last line of a killed worker
    i = 0
    while i < len(recs):
        r = recs[i]
        if r["t"] == "DONE":
            break
        assert r["t"] == "B", r
        done = i + 1 < len(recs) and recs[i + 1]["t"] == "E"
        op = r["op"]
        f = r.get("f")
        if op == "create":
            files[f] = FileModel(b"")
            if not done:
                maybe.add(f)
        elif op == "write":
            files[f].write(r["off"], pattern(WID[0], r["ver"], r["off"], r["len"]))
        elif op == "append":
            m = files[f]
            m.write(r["off"], pattern(WID[0], r["ver"], r["off"], r["len"]))
            if done:
                m.sync()
        elif op == "trunc":
            files[f].trunc(r["size"])
        elif op in ("fsync", "close"):
            if done:
                files[f].sync()
        elif op == "rename":
            files[r["to"]] = files.pop(f)
            if not done:
                maybe.add(f)
                maybe.add(r["to"])
                alias[f] = files[r["to"]]
        elif op == "unlink":
            mo = files.pop(f)
            if not done:
                maybe.add(f)
                alias[f] = mo
        # open, mmap, munmap: no content change
        i += 2 if done else 1
        if not done:
            break
    return files, maybe, alias


WID = [0]


def read_all(path):
    with open(path, "rb") as f:
        return f.read()


def fresh_root(a, default):
    """Empties and returns the run's directory (--dir or `default`)."""
    global ROOT
    root = a.dir or default
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    ROOT = root
    return root, random.Random(a.seed)


def crash_main(a):
    root, rnd = fresh_root(a, "/tmp/scfs-torture-crash")
    m = Mount(a.scfs, root, [])
    state = {}  # wid -> {name: bytes}
    nworkers = a.workers
    m.mount(["block_size=4K", "cache_size=1M"])
    for w in range(nworkers):
        os.makedirs(os.path.join(m.mnt, "w%d" % w), exist_ok=True)
        state[w] = {}
    m.umount()
    stats = {"iters": 0, "kills_mid": 0, "done_before_kill": 0}
    for it in range(a.iters):
        opts = [rnd.choice(["block_size=4K", "block_size=64K", "block_size=16K"])]
        # Every coding the writer can pick (LZ records, Huffman, raw).
        opts.append(rnd.choice(["compress=huffman", "compress=fast", "compress=default",
                                "compress=max", "compress=none"]))
        if rnd.random() < 0.5:
            opts.append("cache_size=1M")
        if rnd.random() < 0.3:
            opts.append("writeback_cache")
        if rnd.random() < 0.4:
            # Few inode descriptors: idle inodes live on file handles.
            opts.append("inode_fds=16")
        m.mount(opts)
        logs = []
        procs = []
        for w in range(nworkers):
            lp = os.path.join(root, "w%d.log" % w)
            if os.path.exists(lp):
                os.unlink(lp)
            logs.append(lp)
            procs.append(subprocess.Popen(
                [sys.executable, os.path.abspath(__file__), "worker", "--wid", str(w),
                 "--wdir", os.path.join(m.mnt, "w%d" % w), "--log", lp,
                 "--seed", str(rnd.randrange(1 << 30)), "--ops", str(a.ops)],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        delay = rnd.random() ** 2 * a.max_delay
        time.sleep(delay)
        m.kill()
        for p in procs:
            try:
                _, err = p.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                fail("iteration %d: a worker hangs after the daemon was killed" % it)
            if p.returncode not in (0, -signal.SIGBUS) and err:
                tail = err.decode(errors="replace")
                if "Traceback" in tail and "OSError" not in tail and "BusError" not in tail:
                    fail("worker crashed: %s" % tail)
        m.detach()
        check_log_panics(m, "iteration %d (before remount)" % it)
        m.mount()
        # Verify every worker's directory against its replayed log.
        for w in range(nworkers):
            WID[0] = w
            wdir = os.path.join(m.mnt, "w%d" % w)
            with open(logs[w]) as f:
                txt = f.read()
            if '"DONE"' in txt:
                stats["done_before_kill"] += 1
            else:
                stats["kills_mid"] += 1
            models, maybe, alias = replay(logs[w], state[w])
            present = set(os.listdir(wdir))
            new_state = {}
            for name in sorted(present | set(models)):
                if name not in present:
                    if name in maybe:
                        continue
                    fail("iteration %d: w%d/%s is missing" % (it, w, name))
                try:
                    got = read_all(os.path.join(wdir, name))
                except OSError as e:
                    fail("iteration %d: w%d/%s does not read: %s" % (it, w, name, e))
                if name not in models:
                    if name in alias:
                        # The source of an in-flight rename or unlink.
                        err = alias[name].check("w%d/%s" % (w, name), got)
                        if err:
                            fail("iteration %d (opts %s): %s" % (it, opts, err))
                        new_state[name] = got
                        continue
                    fail("iteration %d: w%d/%s exists but should not" % (it, w, name))
                err = models[name].check("w%d/%s" % (w, name), got)
                if err:
                    fail("iteration %d (opts %s): %s" % (it, opts, err))
                new_state[name] = got
            # An in-flight rename leaves exactly one of its two names.
            state[w] = new_state
        check_log_panics(m, "iteration %d (after remount)" % it)
        m.umount()
        stats["iters"] += 1
        if it % 10 == 0:
            sizes = sum(len(d) for s in state.values() for d in s.values())
            print("iter %d ok (%s, kill after %.2fs, %d files, %d bytes) %s" % (
                it, ",".join(opts), delay, sum(len(s) for s in state.values()), sizes, stats), flush=True)
    print("crash torture: %s" % stats)


# ---------------------------------------------------------------- corruption

def build_corpus(m, rnd):
    """Files of several shapes; returns {name: content}."""
    files = {}
    mnt = m.mnt

    def text(n, seed):
        r = random.Random(seed)
        words = [bytes(r.choice(b"abcdefghij klmnop") for _ in range(r.randrange(2, 9))) for _ in range(300)]
        out = bytearray()
        while len(out) < n:
            out += r.choice(words) + b" "
        return bytes(out[:n])

    def write(name, data):
        with open(os.path.join(mnt, name), "wb") as f:
            f.write(data)
        files[name] = data

    write("small.txt", text(100, 1))
    write("text1.txt", text(300_000, 2))
    write("rand.bin", random.Random(3).randbytes(200_000))
    write("mixed.bin", text(70_000, 4) + random.Random(5).randbytes(70_000) + b"\0" * 70_000
          + b"x" * 70_000 + text(9_000, 6))
    # Many fsynced small updates: a long delta chain.
    data = bytearray(text(400_000, 7))
    with open(os.path.join(mnt, "chain.txt"), "wb") as f:
        f.write(data)
        f.flush()
        for k in range(40):
            off = random.Random(k).randrange(0, len(data) - 5000)
            piece = text(3000, 100 + k)
            f.seek(off)
            f.write(piece)
            data[off:off + 3000] = piece
            f.flush()
            os.fsync(f.fileno())
    files["chain.txt"] = bytes(data)
    # Truncated and re-extended: holes, a short last block.
    with open(os.path.join(mnt, "holes.bin"), "wb") as f:
        d = bytearray(text(250_000, 8))
        f.write(d)
        f.flush()
        os.fsync(f.fileno())
        f.truncate(123_457)
        del d[123_457:]
        f.seek(600_000)
        f.write(b"tail" * 100)
        d.extend(b"\0" * (600_000 - len(d)))
        d.extend(b"tail" * 100)
        files["holes.bin"] = bytes(d)
    write("fill.bin", b"\x07" * 150_000 + b"\0" * 10)
    for k in range(6):
        write("s%d.txt" % k, text(rnd.randrange(1, 140_000), 20 + k))
    return files


def corrupt_one(path, rnd):
    """Damages one container; returns a description."""
    with open(path, "rb") as f:
        raw = bytearray(f.read())
    n = len(raw)
    if n == 0:
        return None
    # Record boundaries guessed from magics: bias toward structure.
    marks = [0, max(0, n - 32)]
    for mg in (b"SBLK", b"SCMT", b"STRL"):
        i = raw.find(mg)
        while i >= 0 and len(marks) < 400:
            marks.append(i)
            i = raw.find(mg, i + 1)
    r = rnd.random()
    if r < 0.75:
        if rnd.random() < 0.6:
            base = rnd.choice(marks)
            pos = min(n - 1, base + rnd.randrange(0, 100))
        else:
            pos = rnd.randrange(n)
        if rnd.random() < 0.7:
            bit = 1 << rnd.randrange(8)
            raw[pos] ^= bit
            desc = "flip bit %d at %d" % (bit, pos)
        else:
            v = rnd.choice([0, 0xFF, rnd.randrange(256)])
            if raw[pos] == v:
                v ^= 1
            raw[pos] = v
            desc = "set byte %d to %d" % (pos, v)
    elif r < 0.88:
        cut = rnd.choice([rnd.randrange(n), max(0, n - rnd.randrange(1, 64)), rnd.choice(marks)])
        raw = raw[:cut]
        desc = "truncate to %d" % cut
    elif r < 0.95:
        junk = rnd.choice([bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 200))),
                           b"\0" * rnd.randrange(1, 5000),
                           bytes(raw[-rnd.randrange(1, min(n, 300) + 1):])])
        raw += junk
        desc = "append %d junk bytes" % len(junk)
    else:
        # Zero a whole region (a lost page).
        pos = rnd.randrange(n)
        ln = min(n - pos, rnd.choice([16, 512, 4096]))
        raw[pos:pos + ln] = b"\0" * ln
        desc = "zero %d bytes at %d" % (ln, pos)
    with open(path, "wb") as f:
        f.write(raw)
    return desc


READER = r"""
import os, sys, json
paths = json.loads(sys.argv[1])
bs = int(sys.argv[2])
out = {}
for p in paths:
    res = []
    try:
        fd = os.open(p, os.O_RDONLY)
    except OSError as e:
        out[p] = ["open", e.errno]
        continue
    try:
        size = os.fstat(fd).st_size
        off = 0
        while True:
            try:
                b = os.pread(fd, bs, off)
            except OSError as e:
                res.append([off, "E", e.errno])
                if off >= size:
                    break
                off += bs
                continue
            if not b:
                break
            res.append([off, b.hex()])
            off += len(b)
    finally:
        os.close(fd)
    out[p] = ["ok", size, res]
print(json.dumps(out))
"""


def offline_check(a, m, name, d, want, scratch, stats):
    """`scfs verify` and `scfs decompress` on one damaged container."""
    bp = os.path.join(m.backing, name)
    for tool in ("verify", "decompress"):

        cmd = [a.scfs, tool, bp] + ([scratch] if tool == "decompress" else [])
        if os.path.exists(scratch):
            os.unlink(scratch)
        try:
            r = subprocess.run(cmd, capture_output=True, timeout=30)
        except subprocess.TimeoutExpired:
            fail("scfs %s hangs on %s (%s)" % (tool, name, d))
        err = r.stderr.decode(errors="replace")
        if r.returncode not in (0, 1) or "panicked" in err:
            fail("scfs %s %s (%s): exit %d\n%s" % (tool, name, d, r.returncode, err))
        if r.returncode == 1 and not err.strip():
            fail("scfs %s %s (%s): exit 1 without a message" % (tool, name, d))
        stats["%s_exit%d" % (tool, r.returncode)] += 1
        if tool == "decompress" and r.returncode == 0:
            got = read_all(scratch)
            if got != want:
                fail("scfs decompress %s (%s) exits 0 with wrong output (%d bytes, want %d)" % (
                    name, d, len(got), len(want)))


def mount_check(m, name, d, want, out, log, stats):
    """One damaged file read through the mount: right bytes or EIO."""
    if out[0] == "open":
        if out[1] != 5:
            fail("%s (%s): open fails with errno %d, not EIO" % (name, d, out[1]))
        stats["open_eio"] += 1
        return
    _, size, pieces = out
    any_eio = False
    for piece in pieces:
        off = piece[0]
        if piece[1] == "E":
            if piece[2] != 5:
                fail("%s (%s): read at %d fails with errno %d, not EIO" % (name, d, off, piece[2]))
            stats["eio_reads"] += 1
            any_eio = True
            continue
        got = bytes.fromhex(piece[1])
        if got != want[off:off + len(got)]:
            fail("%s (%s): read at %d returns wrong bytes (size %d, want size %d)" % (
                name, d, off, size, len(want)))
        stats["ok_reads"] += 1
    total = sum(len(p[1]) // 2 for p in pieces if p[1] != "E")
    if not any_eio and (size != len(want) or total != len(want)):
        fail("%s (%s): size %d / read %d bytes, want %d, and no EIO" % (name, d, size, total, len(want)))
    if any_eio and name not in log:
        fail("%s (%s): EIO without a log line naming the file" % (name, d))


def corrupt_main(a):
    root, rnd = fresh_root(a, "/tmp/scfs-torture-corrupt")
    m = Mount(a.scfs, root, ["block_size=16K", "compress=default"])
    m.mount()
    files = build_corpus(m, rnd)
    m.umount()
    pristine = os.path.join(root, "pristine")
    shutil.copytree(m.backing, pristine)
    stats = {"corruptions": 0, "eio_reads": 0, "ok_reads": 0, "open_eio": 0,
             "verify_exit1": 0, "verify_exit0": 0, "decompress_exit1": 0, "decompress_exit0": 0}
    scratch = os.path.join(root, "out.bin")
    for it in range(a.iters):
        descs = {}
        for name in files:
            shutil.copyfile(os.path.join(pristine, name), os.path.join(m.backing, name))
            d = corrupt_one(os.path.join(m.backing, name), rnd)
            descs[name] = d
            stats["corruptions"] += 1
        # Offline tools first (no mount).
        for name, d in descs.items():
            TRUNCATED[0] = d.startswith("truncate")
            TRUNCATED_TO_0[0] = d == "truncate to 0"
            try:
                offline_check(a, m, name, d, files[name], scratch, stats)
            except Failure:
                pass
            TRUNCATED[0] = TRUNCATED_TO_0[0] = False
        m.mount()
        paths = [os.path.join(m.mnt, n) for n in files]
        try:
            r = subprocess.run([sys.executable, "-c", READER, json.dumps(paths), str(a.read_size)],
                               capture_output=True, timeout=120, text=True)
        except subprocess.TimeoutExpired:
            fail("round %d: reads hang: %s" % (it, descs))
        if r.returncode != 0:
            fail("reader failed: %s" % r.stderr)
        res = json.loads(r.stdout)
        if not m.alive():
            fail("round %d: daemon died: %s\n%s" % (it, descs, m.log_text()[-3000:]))
        log = m.log_text()
        for name, want in files.items():
            TRUNCATED[0] = descs[name].startswith("truncate")
            TRUNCATED_TO_0[0] = descs[name] == "truncate to 0"
            try:
                mount_check(m, name, descs[name], want, res[os.path.join(m.mnt, name)], log, stats)
            except Failure:
                pass
            TRUNCATED[0] = TRUNCATED_TO_0[0] = False
        check_log_panics(m, "round %d" % it)
        m.umount()
        if it % 10 == 0:
            print("round %d ok %s" % (it, stats), flush=True)
    print("corruption torture: %s" % stats)
    print("%d truncation notes (old state served after a cut: undetectable)" % len(TRUNCATION_NOTES))
    if FAILURES:
        print("%d failures" % len(FAILURES))
        sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["crash", "corrupt", "worker"])
    ap.add_argument("--iters", type=int, default=100)
    ap.add_argument("--scfs", default=os.environ.get("SCFS", "target/release/scfs"))
    ap.add_argument("--dir")
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--ops", type=int, default=3000)
    ap.add_argument("--max-delay", type=float, default=3.0)
    ap.add_argument("--read-size", type=int, default=4096)
    ap.add_argument("--keep-going", action="store_true", help="corrupt: report every failure, do not stop")
    ap.add_argument("--strict", action="store_true",
                    help="corrupt: a truncated container served as its last commit before the cut is a "
                         "failure too (the files are sealed at unmount: FORMAT.md 3.2), except a cut to 0 bytes")
    ap.add_argument("--wid", type=int)
    ap.add_argument("--wdir")
    ap.add_argument("--log")
    a = ap.parse_args()
    if a.mode == "worker":
        return worker_main(a)
    a.scfs = os.path.abspath(a.scfs)
    KEEP_GOING[0] = a.keep_going
    STRICT[0] = a.strict
    print("seed %d" % a.seed, flush=True)
    if a.mode == "crash":
        crash_main(a)
    else:
        corrupt_main(a)


if __name__ == "__main__":
    main()
