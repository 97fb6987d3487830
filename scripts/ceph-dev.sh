#!/usr/bin/env bash
# A single-node Ceph cluster on this machine, from Debian's packages, with
# CephFS mounted twice through ceph-fuse: one mount per "host", for the
# multi-host work (issue 16). No systemd: every daemon runs in the
# foreground (-f) in the background of this script, its PID recorded in
# DIR/pids and stopped by PID; nothing is left running after `stop`.
#
# Usage:
#   scripts/ceph-dev.sh install      apt-get the packages (ceph-mon, ceph-mgr,
#                                    ceph-osd, ceph-mds, ceph-fuse, ceph-common)
#   scripts/ceph-dev.sh start DIR    cluster state, logs and sockets in DIR;
#                                    CephFS mounted at DIR/hostA and DIR/hostB
#   scripts/ceph-dev.sh stop DIR     unmount both, stop MDS, OSDs, mgr, mon
#   scripts/ceph-dev.sh status DIR   `ceph -s` of the cluster
# Environment: OSDS=N (default 1), OSD_SIZE (sparse BlueStore file per OSD,
# default 20G), CEPH_PORT (mon's msgr2 port on 127.0.0.1, default 3300).
#
# The cluster: auth none, msgr2 in crc mode, pool size 1, file-backed
# BlueStore (the block file outside the OSD's data dir, created sparse),
# mds_tick_interval 0.2 (with the default, two clients opening a fresh file
# stall 2-5 s), a per-process admin socket and log (two ceph-fuse processes
# collide otherwise). Needs root.
set -euo pipefail

PKGS="ceph-mon ceph-mgr ceph-osd ceph-mds ceph-fuse ceph-common"
OSDS=${OSDS:-1}
OSD_SIZE=${OSD_SIZE:-20G}
PORT=${CEPH_PORT:-3300}

die() { echo "ceph-dev: $*" >&2; exit 1; }
log() { echo "ceph-dev: $*"; }

install() {
    if command -v ceph-mon >/dev/null && command -v ceph-fuse >/dev/null \
        && command -v ceph-osd >/dev/null && command -v ceph-mds >/dev/null; then
        return 0
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $PKGS
}

# ceph CLI against this cluster, with a bound on how long it may wait
c() { timeout 60 ceph -c "$DIR/ceph.conf" --connect-timeout 30 "$@"; }

spawn() {   # spawn NAME CMD... : run CMD in the background, record its PID
    local name=$1; shift
    "$@" >>"$DIR/log/$name.out" 2>&1 &
    echo $! >"$DIR/pids/$name"
}

wait_for() {   # wait_for SECONDS WHAT CMD...: until CMD succeeds
    local limit=$1 what=$2; shift 2
    local end=$((SECONDS + limit))
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $end ] || die "timed out after ${limit}s waiting for $what (logs in $DIR/log)"
        sleep 0.2
    done
}

alive() { [ -f "$DIR/pids/$1" ] && kill -0 "$(cat "$DIR/pids/$1")" 2>/dev/null; }

stop_pid() {   # stop_pid NAME: SIGTERM, wait up to 30 s, then SIGKILL
    local f=$DIR/pids/$1 pid i
    [ -f "$f" ] || return 0
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for i in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        if kill -0 "$pid" 2>/dev/null; then
            log "$1 (pid $pid) ignored SIGTERM for 30 s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.5
        fi
    fi
    rm -f "$f"
}

write_conf() {
    local fsid=$1
    cat >"$DIR/ceph.conf" <<EOF
[global]
fsid = $fsid
mon_host = [v2:127.0.0.1:$PORT]
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
auth_allow_insecure_global_id_reclaim = false
ms_bind_msgr1 = false
ms_cluster_mode = crc
ms_service_mode = crc
ms_client_mode = crc
ms_mon_cluster_mode = crc
ms_mon_service_mode = crc
ms_mon_client_mode = crc
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
mon_data_avail_warn = 2
mon_data_avail_crit = 1
osd_crush_chooseleaf_type = 0
run_dir = $DIR/run
admin_socket = $DIR/run/\$name.\$pid.asok
log_file = $DIR/log/\$name.\$pid.log
keyring = $DIR/keyring
mon_data = $DIR/mon
mgr_data = $DIR/mgr
mds_data = $DIR/mds
osd_data = $DIR/osd.\$id
osd_objectstore = bluestore
bluestore_block_path = $DIR/osd.\$id.block
bluestore_block_create = true
bluestore_block_size = $(numfmt --from=iec "$OSD_SIZE")
bluestore_fsck_on_mkfs = false
osd_memory_target = 939524096
mds_tick_interval = 0.2
mgr_initial_modules =
EOF
}

start() {
    [ "$(id -u)" = 0 ] || die "needs root"
    install
    mkdir -p "$DIR"
    DIR=$(cd "$DIR" && pwd)
    if [ -d "$DIR/pids" ] && [ -n "$(ls -A "$DIR/pids" 2>/dev/null)" ]; then
        die "$DIR already has a running cluster (pids in $DIR/pids): stop it first"
    fi
    rm -rf "$DIR"/{mon,mgr,mds,osd.*,run,log,pids,keyring,monmap,ceph.conf}
    mkdir -p "$DIR"/{mon,mgr,mds,run,log,pids,hostA,hostB}
    local t0=$SECONDS fsid id uuid n
    fsid=$(cat /proc/sys/kernel/random/uuid)
    write_conf "$fsid"
    ceph-authtool --create-keyring "$DIR/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
    monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$PORT]" "$DIR/monmap" >/dev/null
    ceph-mon -c "$DIR/ceph.conf" --mkfs -i a --monmap "$DIR/monmap" >>"$DIR/log/mkfs.out" 2>&1 \
        || die "ceph-mon --mkfs failed (see $DIR/log/mkfs.out)"
    spawn mon.a ceph-mon -c "$DIR/ceph.conf" -i a -f
    wait_for 60 "the monitor" c mon stat
    spawn mgr.x ceph-mgr -c "$DIR/ceph.conf" -i x -f
    for n in $(seq "$OSDS"); do
        uuid=$(cat /proc/sys/kernel/random/uuid)
        id=$(c osd new "$uuid")
        mkdir -p "$DIR/osd.$id"
        # wait on the mkfs PID only (its children may linger)
        ceph-osd -c "$DIR/ceph.conf" -i "$id" --mkfs --osd-uuid "$uuid" >>"$DIR/log/mkfs.out" 2>&1 &
        wait $! || die "ceph-osd --mkfs of osd.$id failed (see $DIR/log/mkfs.out)"
        spawn "osd.$id" ceph-osd -c "$DIR/ceph.conf" -i "$id" -f
    done
    wait_for 120 "$OSDS OSD(s) up" sh -c "ceph -c '$DIR/ceph.conf' osd stat -f json | grep -q '\"num_up_osds\":$OSDS'"
    c osd pool create cephfs_metadata 8 >/dev/null 2>&1
    c osd pool create cephfs_data 16 >/dev/null 2>&1
    c fs new cephfs cephfs_metadata cephfs_data >/dev/null 2>&1
    spawn mds.a ceph-mds -c "$DIR/ceph.conf" -i a -f
    wait_for 120 "the MDS to be active" sh -c "ceph -c '$DIR/ceph.conf' mds stat | grep -q 'up:active'"
    for h in hostA hostB; do
        spawn "fuse.$h" ceph-fuse -c "$DIR/ceph.conf" -f "$DIR/$h"
    done
    for h in hostA hostB; do
        wait_for 60 "ceph-fuse at $DIR/$h" mountpoint -q "$DIR/$h"
    done
    log "up in $((SECONDS - t0)) s: CephFS at $DIR/hostA and $DIR/hostB (pids in $DIR/pids)"
}

stop() {
    [ -d "$DIR/pids" ] || { log "nothing to stop in $DIR"; return 0; }
    DIR=$(cd "$DIR" && pwd)
    local t0=$SECONDS h p
    for h in hostA hostB; do
        if mountpoint -q "$DIR/$h" 2>/dev/null; then
            fusermount3 -u "$DIR/$h" 2>/dev/null || umount "$DIR/$h" 2>/dev/null \
                || { log "$DIR/$h busy: lazy unmount"; umount -l "$DIR/$h" || true; }
        fi
        stop_pid "fuse.$h"
    done
    if alive mon.a; then c fs fail cephfs >/dev/null 2>&1 || true; fi
    for p in "$DIR"/pids/mds.* "$DIR"/pids/osd.* "$DIR"/pids/mgr.*; do
        [ -e "$p" ] && stop_pid "$(basename "$p")"
    done
    stop_pid mon.a
    for p in "$DIR"/pids/*; do [ -e "$p" ] && stop_pid "$(basename "$p")"; done
    log "stopped in $((SECONDS - t0)) s"
}

cmd=${1:-}
case $cmd in
    install) install ;;
    start|stop|status)
        [ $# -ge 2 ] || die "usage: $0 $cmd DIR"
        DIR=$2
        case $cmd in
            start) start ;;
            stop) stop ;;
            status) c -s ;;
        esac ;;
    *) die "usage: $0 install | start DIR | stop DIR | status DIR" ;;
esac
