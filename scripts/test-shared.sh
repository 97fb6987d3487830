#!/usr/bin/env bash
# The one-daemon guard on a real CephFS (issue 16, first step): two ceph-fuse
# mounts of one CephFS stand for two hosts (scripts/ceph-dev.sh); a BACKING
# on it is served by at most one scfs daemon, whichever host it runs on,
# because the daemon flocks BACKING/.scfs.lock, a regular file, which CephFS
# locks cluster-wide (a lock on the directory is kept by each host's kernel
# alone). Checks:
#   1. scfs on host A over DIR/hostA/b; a file written through it;
#   2. `scfs mount` of the same BACKING on host B (DIR/hostB/b) is refused,
#      with the message naming the lock file;
#   3. after `scfs umount` on A, the mount on B works and reads A's file;
#   4. after kill -9 of B's daemon, the mount on A works (the lock was freed
#      by the filesystem) and reads the file; `scfs verify` of it passes;
#   5. -o shared on both hosts at once (docs/SHARED.md): a single-host mount
#      is refused beside them; write on A, read on B (close-to-open); trees
#      copied in from both hosts and compared from the other one, renamed
#      and deleted; two writers on one file (B's open waits lock_wait and
#      fails with EWOULDBLOCK while A holds it, works after A's close);
#      appends from both hosts in turns to two logs; A's file rewritten
#      until it compacts while B reads it; kill -9 of A's daemon while it
#      holds a write lock, then B writes the file at once; `scfs verify` of
#      every container;
#   6. pjdfstest through A (allow_other) while B reads in a loop (a file
#      written before compared whole every round, pjdfstest's files read,
#      its tree listed); a test failing through scfs counts only if it
#      passes on CephFS straight (ceph-fuse lacks some features pjdfstest
#      uses: these fail both ways); B's listing of what it left equals A's;
#   7. fsx (fsx-rs, `cargo install fsx`) on A: FSX_ROUNDS runs (default 5)
#      of FSX_OPS operations (default 2000; mmap, truncate, fallocate,
#      punch hole, copy_file_range, close/open); after each, B reads the
#      whole file and compares it with A's view;
#   8. `scfs verify` on B in a loop while A writes and compacts the file
#      back to back: never a false failure (verify takes LOCK_SH per file),
#      never starved (the request is queued at the MDS);
#   9. chmod and setxattr on B in a loop while A rewrites (compacts) the
#      file: B's last change is what A, B and BACKING show;
#  10. a file unlinked while open on A reopened through /proc/self/fd.
# Prints each check and a PASS/FAIL line; stops everything it started, also
# on failure, and checks that no ceph or scfs process is left.
#
# Usage: scripts/test-shared.sh [DIR]   (default /var/tmp/scfs-shared; needs
# root; SCFS=path of the binary, default target/release/scfs; CEPH_PORT as
# in ceph-dev.sh, default here 3316)
set -uo pipefail

cd "$(dirname "$0")/.."
SCFS=$(realpath "${SCFS:-target/release/scfs}")
DIR=${1:-/var/tmp/scfs-shared}
export CEPH_PORT=${CEPH_PORT:-3316}
[ -x "$SCFS" ] || { echo "test-shared: no $SCFS (cargo build --release)"; exit 2; }
mkdir -p "$DIR" && DIR=$(cd "$DIR" && pwd)
A=$DIR/hostA/b B=$DIR/hostB/b MA=$DIR/mntA MB=$DIR/mntB
PIDA='' PIDB=''
fails=0

ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }

# start_scfs VAR BACKING MNT: an scfs daemon in the foreground, in the
# background of this script, its PID in VAR; fails unless MNT is mounted.
start_scfs() {
    local var=$1 back=$2 mnt=$3 opts=${4:-} pid
    "$SCFS" mount -f "$back" "$mnt" ${opts:+-o "$opts"} 2>>"$DIR/log/scfs-$(basename "$mnt").err" &
    pid=$!
    printf -v "$var" '%s' "$pid"
    for _ in $(seq 100); do
        mountpoint -q "$mnt" && return 0
        kill -0 "$pid" 2>/dev/null || { printf -v "$var" ''; return 1; }
        sleep 0.1
    done
    return 1
}

# stop_scfs VAR MNT: scfs umount, then wait for the daemon's PID.
stop_scfs() {
    local var=$1 mnt=$2 pid=${!1}
    if mountpoint -q "$mnt" 2>/dev/null; then
        "$SCFS" umount "$mnt" || umount -l "$mnt"
    elif grep -qs " $mnt fuse" /proc/mounts; then
        umount -l "$mnt"   # its daemon is gone (ENOTCONN)
    fi
    if [ -n "$pid" ]; then
        for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    fi
    printf -v "$var" ''
}

cleanup() {
    stop_scfs PIDA "$MA"
    stop_scfs PIDB "$MB"
    scripts/ceph-dev.sh stop "$DIR" >/dev/null 2>&1 || echo "test-shared: ceph-dev.sh stop failed"
}
trap cleanup EXIT

scripts/ceph-dev.sh start "$DIR" >"$DIR.start.log" 2>&1 \
    || { cat "$DIR.start.log"; echo "FAIL: cannot start the cluster"; exit 1; }
mkdir -p "$MA" "$MB" "$A"
[ -d "$B" ] && ok "one CephFS seen by two hosts: $A is $B" || bad "hostB does not see $A"

# 1. host A serves the BACKING.
if start_scfs PIDA "$A" "$MA"; then ok "scfs mount on host A (pid $PIDA)"; else bad "scfs mount on host A"; fi
head -c 300000 /dev/urandom | base64 >"$DIR/ref"
cp "$DIR/ref" "$MA/f.txt" && sync
[ -f "$B/.scfs.lock" ] && ok "host B sees the lock file $B/.scfs.lock" || bad "no lock file"
if flock -n "$B" true; then
    ok "(flock on the BACKING directory from host B succeeds: directory locks are per host)"
fi
flock -n "$B/.scfs.lock" true && bad "flock -n on the lock file from host B succeeded" \
    || ok "flock -n on the lock file from host B fails (held by host A's daemon)"

# 2. host B is refused.
t0=$(date +%s%N)
msg=$("$SCFS" mount "$B" "$MB" 2>&1)
rc=$? ms=$((($(date +%s%N) - t0) / 1000000))
if [ $rc -ne 0 ] && ! mountpoint -q "$MB" && [[ $msg == *"perhaps on another host"* ]]; then
    ok "scfs mount on host B refused in $ms ms: $msg"
else
    bad "scfs mount on host B: rc $rc, message: $msg"
    mountpoint -q "$MB" && "$SCFS" umount "$MB"
fi

# 3. unmount A, mount B.
stop_scfs PIDA "$MA"
if start_scfs PIDB "$B" "$MB"; then ok "after scfs umount on A, scfs mount on host B works (pid $PIDB)"; else bad "mount on host B after A's umount"; fi
cmp -s "$DIR/ref" "$MB/f.txt" && ok "host B reads A's file whole" || bad "host B reads A's file"
echo "from B" >"$MB/g.txt"
if "$SCFS" mount "$A" "$MA" >/dev/null 2>&1; then
    bad "host A let in while B serves"
    "$SCFS" umount "$MA"
else
    ok "scfs mount on host A refused while B serves"
fi

# 4. kill -9 B's daemon; A mounts.
if [ -n "$PIDB" ]; then
    kill -9 "$PIDB"; wait "$PIDB" 2>/dev/null
    umount -l "$MB" 2>/dev/null
    ok "kill -9 of host B's daemon (pid $PIDB)"
    PIDB=''
fi
t0=$(date +%s%N)
if start_scfs PIDA "$A" "$MA"; then
    ok "scfs mount on host A after the kill works in $((($(date +%s%N) - t0) / 1000000)) ms (lock freed)"
else
    bad "scfs mount on host A after the kill: $(tail -1 "$DIR/log/scfs-mntA.err")"
fi
cmp -s "$DIR/ref" "$MA/f.txt" && ok "host A reads f.txt whole" || bad "host A reads f.txt"
[ "$(cat "$MA/g.txt" 2>/dev/null)" = "from B" ] && ok "host A reads B's g.txt" || bad "host A reads B's g.txt"
stop_scfs PIDA "$MA"
"$SCFS" verify "$A/f.txt" "$A/g.txt" >/dev/null && ok "scfs verify f.txt g.txt" || bad "scfs verify"

# 5. -o shared: both hosts at once.
SH=shared,lock_wait=2s,allow_other
if start_scfs PIDA "$A" "$MA" "$SH" && start_scfs PIDB "$B" "$MB" "$SH"; then
    ok "-o shared on host A (pid $PIDA) and host B (pid $PIDB) at once"
else
    bad "-o shared mounts: $(tail -1 "$DIR/log/scfs-mntA.err") $(tail -1 "$DIR/log/scfs-mntB.err")"
fi
mkdir -p "$DIR/mntC"
if "$SCFS" mount "$A" "$DIR/mntC" >/dev/null 2>&1; then
    bad "a single-host mount let in beside shared ones"; "$SCFS" umount "$DIR/mntC"
else
    ok "a single-host mount is refused beside the shared ones"
fi
head -c 2000000 /dev/urandom | base64 >"$DIR/ref2"
cp "$DIR/ref2" "$MA/s.txt"
cmp -s "$DIR/ref2" "$MB/s.txt" && ok "close-to-open: B reads s.txt as A closed it" || bad "B reads A's s.txt"
cp -r /usr/share/doc/bash "$MA/tree-a" 2>/dev/null || cp -r /etc/apt "$MA/tree-a"
cp -r /etc/apt "$MB/tree-b"
src_a=/usr/share/doc/bash; [ -d $src_a ] || src_a=/etc/apt
diff -r "$src_a" "$MB/tree-a" >/dev/null && ok "B sees A's tree" || bad "B's view of A's tree differs"
diff -r /etc/apt "$MA/tree-b" >/dev/null && ok "A sees B's tree" || bad "A's view of B's tree differs"
mv "$MB/tree-a" "$MB/tree-a2" && rm -r "$MA/tree-b"
sleep 1.2
[ -d "$MA/tree-a2" ] && [ ! -e "$MB/tree-b" ] && [ ! -e "$MA/tree-a" ] \
    && ok "renames and deletes seen by the other host within actimeo" || bad "rename/delete not seen"
exec 3>>"$MA/w.log"; echo "a holds it" >&3
t0=$(date +%s%N)
if echo "b too" 2>/dev/null >>"$MB/w.log"; then
    bad "B wrote w.log while A held it open for writing"
else
    ok "B's open for writing failed after $((($(date +%s%N) - t0) / 1000000)) ms (lock_wait=2s): $(echo x 2>&1 >>"$MB/w.log" | sed 's/.*: //')"
fi
exec 3>&-
echo "b after a" >>"$MB/w.log" && [ "$(cat "$MA/w.log")" = "$(printf 'a holds it\nb after a')" ] \
    && ok "after A's close B writes w.log; A reads both lines" || bad "w.log after A's close: $(cat "$MA/w.log")"
for i in $(seq 40); do echo "a $i" >>"$MA/app-a"; echo "b $i" >>"$MB/app-b"; done
[ "$(wc -l <"$MB/app-a")" = 40 ] && [ "$(wc -l <"$MA/app-b")" = 40 ] && [ "$(tail -1 "$MB/app-a")" = "a 40" ] \
    && ok "80 appends from both hosts in turns, each log whole on the other" || bad "append logs"
ino0=$(stat -c %i "$A/s.txt")
for i in $(seq 12); do
    head -c 600000 /dev/urandom | base64 >"$DIR/ref3"
    cp "$DIR/ref3" "$MA/s.txt"
    cmp -s "$DIR/ref3" "$MB/s.txt" || { bad "round $i: B read a stale s.txt"; break; }
done
[ "$(stat -c %i "$A/s.txt")" != "$ino0" ] && ok "12 rewrites on A (compacted: new inode), each read whole on B" \
    || ok "12 rewrites on A, each read whole on B (not compacted)"
# 6. pjdfstest through A while B reads (a background loop on B: a file
# written before compared whole, every file of pjdfstest's tree read, its
# listing taken; files vanishing under the loop are pjdfstest's business).
pjd_tool=${PJDFSTEST:-$HOME/.cache/scfs-ci/pjdfstest/bin/pjdfstest}
if [ ! -x "$pjd_tool" ]; then
    cargo install --quiet --locked --version 0.2.2 --root "$HOME/.cache/scfs-ci/pjdfstest" pjdfstest \
        >>"$DIR/log/install.out" 2>&1
    pjd_tool=$HOME/.cache/scfs-ci/pjdfstest/bin/pjdfstest
fi
getent group nogroup >/dev/null || groupadd nogroup
getent passwd nobody >/dev/null || useradd -r -g nogroup -d /nonexistent -s /usr/sbin/nologin nobody
getent passwd tests >/dev/null || useradd -r -U -d / -s /usr/sbin/nologin tests
if [ -x "$pjd_tool" ]; then
    mkdir -p "$MA/pjd" "$DIR/pjd-secondary" && chmod 755 "$MA/pjd" "$DIR/pjd-secondary"
    cp tests/pjdfstest.toml "$DIR/pjdfstest.toml"
    head -c 1500000 /dev/urandom | base64 >"$DIR/ref4"
    cp "$DIR/ref4" "$MA/still.txt"
    rm -f "$DIR/reader.stop"
    (
        r=0 m=0
        until [ -e "$DIR/reader.stop" ]; do
            cmp -s "$DIR/ref4" "$MB/still.txt" || m=$((m + 1))
            find "$MB/pjd" -type f -print0 2>/dev/null | xargs -0 -r cat >/dev/null 2>&1
            ls -lR "$MB/pjd" >/dev/null 2>&1
            r=$((r + 1))
        done
        echo "$r $m" >"$DIR/reader.result"
    ) &
    rpid=$!
    t0=$SECONDS
    (cd "$MA/pjd" && timeout "${PJD_TIMEOUT:-1800}" "$pjd_tool" -c "$DIR/pjdfstest.toml" \
        -p "$MA/pjd" -s "$DIR/pjd-secondary" ${PJD_TESTS:-}) >"$DIR/log/pjdfstest.out" 2>&1
    prc=$? pt=$((SECONDS - t0))
    touch "$DIR/reader.stop"; wait "$rpid"
    read -r rounds mism <"$DIR/reader.result"
    summ=$(grep '^Summary:' "$DIR/log/pjdfstest.out")
    # A test that fails through scfs counts against scfs unless it fails
    # the same way on CephFS itself (ceph-fuse has no FS_IOC_SETFLAGS, so
    # the tests that make an operation fail with chflags cannot run):
    # those are run again, by name, straight on host A's CephFS.
    failed=$(awk '$2 == "FAILED" { print $1 }' "$DIR/log/pjdfstest.out" | sort -u)
    ours=''
    if [ -n "$failed" ]; then
        mkdir -p "$DIR/hostA/pjd-direct" && chmod 755 "$DIR/hostA/pjd-direct"
        # shellcheck disable=SC2086
        (cd "$DIR/hostA/pjd-direct" && timeout 600 "$pjd_tool" -c "$DIR/pjdfstest.toml" \
            -p "$DIR/hostA/pjd-direct" -s "$DIR/pjd-secondary" $failed) >"$DIR/log/pjdfstest-direct.out" 2>&1
        for t in $failed; do
            awk -v t="$t" '$1 == t && $2 == "FAILED" { f = 1 } END { exit !f }' "$DIR/log/pjdfstest-direct.out" \
                || ours="$ours $t"
        done
    fi
    if [ -n "$summ" ] && [ -z "$ours" ] && { [ $prc -eq 0 ] || [ -n "$failed" ]; }; then
        ok "pjdfstest${PJD_TESTS:+ $PJD_TESTS} through A in ${pt} s: $summ"
        [ -n "$failed" ] && ok "  its $(echo "$failed" | wc -w) failures fail on CephFS directly too: $(echo $failed | tr '\n' ' ')"
    else
        bad "pjdfstest through A (rc $prc, ${pt} s): ${summ:-no summary}; failing through scfs only:${ours:- none} (logs: $DIR/log/pjdfstest*.out)"
    fi
    [ "$rounds" -gt 0 ] && [ "$mism" = 0 ] \
        && ok "B read all the while: $rounds rounds (pjdfstest's tree and still.txt), still.txt whole every time" \
        || bad "B's reads during pjdfstest: $mism of $rounds rounds saw still.txt differ"
    sleep 1.2   # actimeo
    list() { (cd "$1" && find . -printf '%p %y %s %m %u %g\n' 2>/dev/null | sort); }
    if [ "$(list "$MA/pjd")" = "$(list "$MB/pjd")" ]; then
        ok "after pjdfstest, B's listing of what it left (names, types, sizes, modes, owners) equals A's"
    else
        bad "B's view of pjdfstest's tree differs: $(diff <(list "$MA/pjd") <(list "$MB/pjd") | head -4 | tr '\n' ' ')"
    fi
else
    bad "no pjdfstest binary ($pjd_tool; cargo install pjdfstest)"
fi

# 7. fsx on A, and after each run B reads the whole file and compares it
# with A's view of it (fsx itself checks every read on A against its model).
fsx_tool=${FSX:-$HOME/.cache/scfs-ci/fsx/bin/fsx}
if [ ! -x "$fsx_tool" ]; then
    cargo install --quiet --locked --version 0.3.2 --root "$HOME/.cache/scfs-ci/fsx" fsx \
        >>"$DIR/log/install.out" 2>&1
    fsx_tool=$HOME/.cache/scfs-ci/fsx/bin/fsx
fi
if [ -x "$fsx_tool" ]; then
    cat >"$DIR/fsx.toml" <<'EOT'
flen = 1048576
[opsize]
max = 131072
[weights]
close_open = 2
invalidate = 1
truncate = 2
fsync = 1
fdatasync = 1
posix_fallocate = 1
punch_hole = 1
sendfile = 1
posix_fadvise = 1
copy_file_range = 1
EOT
    mkdir -p "$DIR/fsx-art"
    rounds=${FSX_ROUNDS:-5} ops=${FSX_OPS:-2000} fbad=0
    t0=$SECONDS
    for i in $(seq "$rounds"); do
        if ! timeout 900 "$fsx_tool" -f "$DIR/fsx.toml" -N "$ops" -S "$((1000 + i))" -P "$DIR/fsx-art" \
            "$MA/fsx.dat" >"$DIR/log/fsx.$i.out" 2>&1; then
            bad "fsx round $i (seed $((1000 + i))) on A: $(tail -3 "$DIR/log/fsx.$i.out" | tr '\n' ' ')"
            fbad=$((fbad + 1)); break
        fi
        cp "$MA/fsx.dat" "$DIR/fsx.A"
        if ! cmp "$DIR/fsx.A" "$MB/fsx.dat" >"$DIR/log/fsx.cmp" 2>&1; then
            bad "round $i: B's read of fsx.dat differs from A's: $(cat "$DIR/log/fsx.cmp")"
            fbad=$((fbad + 1)); break
        fi
    done
    [ $fbad -eq 0 ] && ok "fsx on A: $rounds runs of $ops ops (seeds 1001..), after each B read the whole file ($(stat -c %s "$DIR/fsx.A") bytes at the end) equal to A's view, in $((SECONDS - t0)) s"
else
    bad "no fsx binary ($fsx_tool; cargo install fsx)"
fi

# 8. scfs verify on host B of a file host A keeps writing (append sessions
# of 4 MiB, every third one a rewrite that compacts, 0.2 s apart): verify takes LOCK_SH
# on the backing file, so it reads finished commits only and never reports
# A's append in progress as damage.
rm -f "$DIR/writer.stop"
(
    n=0
    until [ -e "$DIR/writer.stop" ]; do
        if [ $((n % 3)) = 2 ]; then head -c 4000000 /dev/urandom | base64 >"$MA/busy.log"
        else head -c 3000000 /dev/urandom | base64 >>"$MA/busy.log"; fi
        n=$((n + 1))   # back to back: verify's LOCK_SH is queued, served in turn
    done
    echo "$n" >"$DIR/writer.result"
) &
wpid=$!
sleep 0.5
vn=0 vbad=0 vbusy=0 t0=$SECONDS
while [ $((SECONDS - t0)) -lt "${VERIFY_SECONDS:-20}" ]; do
    "$SCFS" verify "$B/busy.log" >"$DIR/log/verify.out" 2>&1
    rc=$?
    if [ $rc = 2 ] && grep -q "held open for writing" "$DIR/log/verify.out"; then
        vbusy=$((vbusy + 1))   # gave up waiting for the lock: not read, not judged
    elif [ $rc != 0 ]; then
        vbad=$((vbad + 1)); echo "  verify failed (exit $rc): $(head -3 "$DIR/log/verify.out" | tr '\n' ' ')"
    fi
    vn=$((vn + 1))
done
touch "$DIR/writer.stop"; wait "$wpid"
[ $vbad -eq 0 ] && [ $vbusy -eq 0 ] \
    && ok "scfs verify on B of busy.log while A wrote it back to back ($(cat "$DIR/writer.result") write sessions): $vn runs, all clean, none gave up waiting for A's lock" \
    || bad "scfs verify on B during A's writes: $vbad of $vn runs failed, $vbusy gave up waiting (busy)"

# 9. metadata changes on B while A rewrites (and compacts: each compaction
# copies mode and xattrs to a new inode renamed over the name) the same
# file: B's last chmod and setxattr are what A, B and BACKING show.
rm -f "$DIR/writer.stop"
head -c 400000 /dev/urandom | base64 >"$MA/meta.dat"
(
    n=0
    until [ -e "$DIR/writer.stop" ]; do
        head -c 400000 /dev/urandom | base64 >"$MA/meta.dat"; n=$((n + 1))
    done
    echo "$n" >"$DIR/writer.result"
) &
wpid=$!
ino0=$(stat -c %i "$A/meta.dat")
python3 - "$MB/meta.dat" "${META_SECONDS:-20}" >"$DIR/log/meta.out" 2>&1 <<'PY'
import errno, os, sys, time
path, secs = sys.argv[1], float(sys.argv[2])
end, i, stale, inos = time.time() + secs, 0, 0, set()
def retry(f):
    global stale
    while True:
        try:
            return f()
        except OSError as e:
            if e.errno != errno.ESTALE:
                raise
            stale += 1
while time.time() < end:
    mode = 0o600 | (i % 64)
    retry(lambda: os.chmod(path, mode))
    retry(lambda: os.setxattr(path, "user.tag", b"b-%d" % i))
    i += 1
    # Back to back, Ceph 16.2.15's MDS once died on an assertion
    # (Locker::xlock_start in handle_client_removexattr) under this loop.
    time.sleep(0.005)
print(i, "0%o" % mode, "b-%d" % (i - 1), stale)
PY
touch "$DIR/writer.stop"; wait "$wpid"
read -r mn mmode mtag mstale <"$DIR/log/meta.out"
mbad=0
for f in "$MA/meta.dat" "$MB/meta.dat" "$A/meta.dat"; do
    got="$(printf '%#o' 0$(stat -c %a "$f")) $(python3 -c 'import os,sys; print(os.getxattr(sys.argv[1], "user.tag").decode())' "$f")"
    [ "$got" = "$mmode $mtag" ] || { mbad=1; echo "  $f: $got, want $mmode $mtag"; }
done
[ $mbad = 0 ] && [ -n "$mn" ] \
    && ok "$mn chmod+setxattr pairs on B while A rewrote meta.dat $(cat "$DIR/writer.result") times (inode $ino0 -> $(stat -c %i "$A/meta.dat")): B's last ($mmode, $mtag) on A, B and BACKING; $mstale ESTALE retried" \
    || bad "metadata changes on B lost to A's rewrites: $(head -c 300 "$DIR/log/meta.out")"

# 10. a file unlinked while open on A is reopened through /proc/self/fd.
python3 - "$MA/gone.dat" >"$DIR/log/gone.out" 2>&1 <<'PY'
import os, sys
p = sys.argv[1]
fd = os.open(p, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"x" * 200000)
os.unlink(p)
os.write(fd, b"after the unlink")
with open("/proc/self/fd/%d" % fd, "rb") as f:
    assert f.read() == b"x" * 200000 + b"after the unlink", "reread"
with open("/proc/self/fd/%d" % fd, "ab") as f:
    f.write(b"+proc")
os.fchmod(fd, 0o604)
assert os.pread(fd, 5, 200000 + 16) == b"+proc", "second handle's write"
print("ok")
PY
[ "$(cat "$DIR/log/gone.out")" = ok ] && ok "a file unlinked while open on A reopened through /proc/self/fd (read, append, fchmod)" \
    || bad "reopen through /proc/self/fd: $(tail -2 "$DIR/log/gone.out" | tr '\n' ' ')"

exec 4>>"$MA/k.log"; echo "a before the kill" >&4
sync "$MA/k.log" 2>/dev/null
kill -9 "$PIDA"; wait "$PIDA" 2>/dev/null; PIDA=''
exec 4>&-
umount -l "$MA" 2>/dev/null
t0=$(date +%s%N)
if echo "b after the kill" >>"$MB/k.log"; then
    ok "kill -9 of A while it held k.log: B writes it $((($(date +%s%N) - t0) / 1000000)) ms later"
else
    bad "B cannot write k.log after A's kill"
fi
grep -q "b after the kill" "$MB/k.log" && ok "k.log: $(tr '\n' '|' <"$MB/k.log")" || bad "k.log lost B's line"
stop_scfs PIDB "$MB"
n=0 badv=0
while IFS= read -r -d '' f; do
    n=$((n + 1))
    "$SCFS" verify "$f" >/dev/null 2>&1 || { badv=$((badv + 1)); echo "  verify failed: $f"; }
done < <(find "$A" -type f ! -name .scfs.lock -print0)
[ $badv -eq 0 ] && ok "scfs verify of all $n files in BACKING" || bad "scfs verify: $badv of $n failed"

trap - EXIT
cleanup
left=$(pgrep -af -- "$DIR/")
[ -z "$left" ] && ok "nothing left running" || bad "left running: $left"
if [ $fails -eq 0 ]; then echo "PASS test-shared"; else echo "FAIL test-shared ($fails failed)"; fi
[ $fails -eq 0 ]
