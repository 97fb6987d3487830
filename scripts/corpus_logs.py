"""The `logs` class of the benchmark corpus (scripts/corpus.py).

There are few real logs on a fresh machine, so these are generated from a
fixed seed, with the structure and repetition of real ones and vocabulary
taken from this machine's pinned data: the image's Debian package index
(names, versions, pool paths: a package mirror's access log), the unit and
program names of the systemd and coreutils packages. Four kinds, each split
into daily rotated files: syslog (RFC 3164 lines as rsyslog writes them),
nginx access logs (combined format plus request time), an application's
JSON lines (with error stacks), and journal entries in `journalctl -o
export` form. Timestamps start at 2026-01-01 00:00 UTC, never "now".
"""

import bisect
import json
import os
import random
import subprocess
import time

MB = 1_000_000
T0 = 1767225600  # 2026-01-01T00:00:00Z
DAY = 86400

HOSTS = ["web-01", "web-02", "web-03", "db-01", "build-7", "edge-lb-1", "cache-2"]
USERS = ["alice", "bob", "deploy", "ci", "postgres", "carol", "dave", "backup", "ubuntu"]
BAD_USERS = ["admin", "test", "oracle", "user", "guest", "pi", "ftpuser", "git", "support"]
AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36",
    "Debian APT-HTTP/1.3 (2.6.1)",
    "Debian APT-HTTP/1.3 (2.6.1) non-interactive",
    "Debian APT-HTTP/1.3 (2.2.4)",
    "curl/7.88.1",
    "Wget/1.21.3",
    "python-requests/2.31.0",
    "Go-http-client/1.1",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Prometheus/2.45.0",
    "kube-probe/1.29",
]
AGENT_W = [18, 9, 6, 7, 5, 30, 12, 4, 6, 3, 4, 3, 3, 2, 5, 3]
SCANS = ["/wp-login.php", "/.env", "/.git/config", "/phpmyadmin/index.php", "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php",
         "/cgi-bin/luci/;stok=/locale", "/actuator/health", "/server-status", "/boaform/admin/formLogin"]
APP_ROUTES = [("GET", "/api/v2/orders/{id}"), ("GET", "/api/v2/orders"), ("POST", "/api/v2/orders"),
              ("GET", "/api/v2/users/{id}"), ("PATCH", "/api/v2/users/{id}"), ("GET", "/api/v2/search"),
              ("POST", "/api/v2/session"), ("DELETE", "/api/v2/session"), ("GET", "/healthz"),
              ("GET", "/metrics"), ("POST", "/api/v2/payments"), ("GET", "/api/v2/packages/{pkg}")]
ERRORS = [("TimeoutError", "upstream request timed out after 30000 ms"),
          ("psycopg.errors.SerializationFailure", "could not serialize access due to concurrent update"),
          ("ConnectionResetError", "[Errno 104] Connection reset by peer"),
          ("KeyError", "'customer_id'"),
          ("ValidationError", "1 validation error for OrderIn\nquantity\n  ensure this value is greater than 0")]
STACK = ["File \"/srv/app/venv/lib/python3.11/site-packages/starlette/routing.py\", line 74, in app",
         "File \"/srv/app/orders/api.py\", line {n}, in {fn}",
         "File \"/srv/app/orders/service.py\", line {m}, in {fn2}",
         "File \"/srv/app/venv/lib/python3.11/site-packages/psycopg/cursor.py\", line 732, in execute"]


class Zipf:
    """Picks from a list with weights 1/(rank+1)^s: real logs repeat a few things a lot."""

    def __init__(self, items, s=1.1):
        self.items = items
        acc, self.cum = 0.0, []
        for i in range(len(items)):
            acc += 1.0 / (i + 1) ** s
            self.cum.append(acc)

    def pick(self, rng):
        return self.items[bisect.bisect_left(self.cum, rng.random() * self.cum[-1])]


def dpkg_list(pkg):
    r = subprocess.run(["dpkg", "-L", pkg], capture_output=True, text=True)
    return sorted(r.stdout.splitlines())


def ip(rng, pool):
    return pool.pick(rng)


def build(sink, pkgs, budget):
    rng = random.Random(20260101)
    units = [os.path.basename(p) for p in dpkg_list("systemd")
             if p.endswith((".service", ".timer", ".socket")) and "/system/" in p] or ["cron.service"]
    progs = [os.path.basename(p) for p in dpkg_list("coreutils") if p.startswith("/usr/bin/")] or ["ls"]
    # Client addresses: a few heavy hitters and a long tail.
    addrs = Zipf([f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
                  for _ in range(4000)], 1.05)
    pkgs = list(pkgs)
    rng.shuffle(pkgs)
    debs = Zipf([f"/debian/{d['Filename']}" for d in pkgs if "Filename" in d][:20000] or ["/debian/"], 0.9)
    names = Zipf([d["Package"] for d in pkgs][:20000] or ["bash"], 0.9)
    units_z = Zipf(units, 1.2)
    agents = (AGENTS, AGENT_W)
    shares = [("syslog", 0.25), ("nginx-access", 0.31), ("app-json", 0.25), ("journal-export", 0.19)]
    for kind, share in shares:
        gen = {"syslog": syslog, "nginx-access": nginx, "app-json": app_json,
               "journal-export": journal}[kind]
        lines = gen(rng, addrs, debs, names, units_z, progs, agents)
        day, buf, total, cap = 0, [], 0, int(budget * share)
        for ts, line in lines:
            d = (ts - T0) // DAY
            if d != day and buf:
                sink.put(f"{kind}/{kind}.{day_name(day)}.log", "".join(buf).encode())
                buf = []
            day = d
            buf.append(line)
            total += len(line)
            if total >= cap:
                break
        if buf:
            sink.put(f"{kind}/{kind}.{day_name(day)}.log", "".join(buf).encode())
    sink.note("generated (seed 20260101): syslog, nginx access, app JSON lines, journal export; "
              "vocabulary from the apt lists and the systemd/coreutils packages")


def day_name(day):
    return time.strftime("%Y-%m-%d", time.gmtime(T0 + day * DAY))


def clock(rng, mean_gap):
    """Event times in seconds from T0, with a daily rhythm."""
    t = float(T0)
    while True:
        hour = (t - T0) / 3600 % 24
        busy = 0.35 + 0.65 * (1 if 8 <= hour < 20 else 0.3)
        t += rng.expovariate(busy / mean_gap)
        yield t


def syslog(rng, addrs, debs, names, units, progs, agents):
    pids = {}
    for t in clock(rng, 5.0):
        ts = int(t)
        host = HOSTS[min(int(rng.expovariate(0.6)), len(HOSTS) - 1)]
        stamp = time.strftime("%b %e %H:%M:%S", time.gmtime(ts))
        r = rng.random()
        if r < 0.28:
            proc = "sshd"
            a, port = ip(rng, addrs), rng.randint(1024, 65535)
            k = rng.random()
            if k < 0.45:
                msg = f"Failed password for invalid user {rng.choice(BAD_USERS)} from {a} port {port} ssh2"
            elif k < 0.7:
                msg = f"Connection closed by {a} port {port} [preauth]"
            elif k < 0.85:
                u = rng.choice(USERS)
                msg = (f"Accepted publickey for {u} from {a} port {port} ssh2: ED25519 SHA256:"
                       + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") for _ in range(43)))
            else:
                u = rng.choice(USERS)
                msg = f"pam_unix(sshd:session): session opened for user {u}(uid={1000 + USERS.index(u)}) by (uid=0)"
        elif r < 0.45:
            proc = "CRON"
            msg = rng.choice(["(root) CMD (   cd / && run-parts --report /etc/cron.hourly)",
                              "pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)",
                              "pam_unix(cron:session): session closed for user root",
                              "(postgres) CMD (/usr/local/bin/pg-backup.sh --incremental >/dev/null 2>&1)"])
        elif r < 0.75:
            proc = "systemd"
            u = units.pick(rng)
            desc = u.rsplit(".", 1)[0].replace("-", " ").replace("@", " ")
            msg = rng.choice([f"Started {u} - {desc}.", f"{u}: Deactivated successfully.",
                              f"Starting {u} - {desc}...",
                              f"{u}: Consumed {rng.uniform(0.01, 40):.3f}s CPU time.",
                              f"Finished {u} - {desc}."])
            pids[proc] = 1
        elif r < 0.85:
            proc = "kernel"
            up = (t - T0) + 12.5
            msg = rng.choice([
                f"[{up:.6f}] TCP: request_sock_TCP: Possible SYN flooding on port 443. Sending cookies.  Check SNMP counters.",
                f"[{up:.6f}] [UFW BLOCK] IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 SRC={ip(rng, addrs)} DST=10.0.0.{rng.randint(2, 40)} LEN=44 TOS=0x00 PREC=0x00 TTL={rng.randint(30, 250)} ID={rng.randint(0, 65535)} PROTO=TCP SPT={rng.randint(1024, 65535)} DPT={rng.choice([22, 23, 3389, 5432, 6379, 8080])} WINDOW=1024 RES=0x00 SYN URGP=0",
                f"[{up:.6f}] audit: type=1400 audit({t:.3f}:{rng.randint(100, 9999)}): apparmor=\"DENIED\" operation=\"open\" profile=\"/usr/bin/{rng.choice(progs)}\" name=\"/proc/{rng.randint(2, 40000)}/status\" pid={rng.randint(300, 40000)} comm=\"{rng.choice(progs)}\" requested_mask=\"r\" denied_mask=\"r\" fsuid=0 ouid=0",
                f"[{up:.6f}] EXT4-fs (vda1): re-mounted. Quota mode: none."])
        elif r < 0.93:
            proc = "postfix/smtpd"
            a = ip(rng, addrs)
            msg = rng.choice([f"connect from unknown[{a}]",
                              f"disconnect from unknown[{a}] ehlo=1 auth=0/1 quit=1 commands=2/3",
                              f"lost connection after AUTH from unknown[{a}]",
                              f"NOQUEUE: reject: RCPT from unknown[{a}]: 554 5.7.1 Relay access denied; from=<spameri@tiscali.it> to=<{rng.choice(USERS)}@example.org> proto=ESMTP helo=<WIN-{rng.randint(1000, 9999)}>"])
        else:
            proc = "sudo"
            u = rng.choice(USERS[:4])
            msg = f"   {u} : TTY=pts/{rng.randint(0, 5)} ; PWD=/home/{u} ; USER=root ; COMMAND=/usr/bin/apt-get install -y {names.pick(rng)}"
        if proc == "kernel":
            yield ts, f"{stamp} {host} kernel: {msg}\n"
        else:
            pid = 1 if proc == "systemd" else rng.randint(300, 99999)
            yield ts, f"{stamp} {host} {proc}[{pid}]: {msg}\n"


def nginx(rng, addrs, debs, names, units, progs, agents):
    for t in clock(rng, 7.0):
        ts = int(t)
        a = ip(rng, addrs)
        ua = rng.choices(agents[0], agents[1])[0]
        stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(ts))
        ref, user = "-", "-"
        if ua.startswith("Debian APT"):
            k = rng.random()
            if k < 0.7:
                path, status, size = debs.pick(rng), 200, int(rng.lognormvariate(11, 1.6))
                status = 200 if rng.random() > 0.03 else 206
            elif k < 0.9:
                path, status, size = "/debian/dists/bookworm/InRelease", rng.choice([304, 304, 200]), 151000
                size = 0 if status == 304 else size
            else:
                path = "/debian/dists/bookworm/main/binary-amd64/by-hash/SHA256/" + "%064x" % rng.getrandbits(256)
                status, size = 200, int(rng.lognormvariate(13, 1))
            method = "GET"
        elif ua.startswith("Mozilla/5.0 (compatible") or rng.random() < 0.05:
            method, path = "GET", rng.choice(SCANS) if rng.random() < 0.6 else f"/packages/{names.pick(rng)}"
            status = 404 if path in SCANS else 200
            size = rng.randint(150, 600) if status == 404 else rng.randint(4000, 30000)
        else:
            method, route = rng.choice(APP_ROUTES)
            path = route.replace("{id}", str(int(rng.paretovariate(1.2) * 1000))).replace(
                "{pkg}", names.pick(rng))
            if path.endswith("/search"):
                path += f"?q={names.pick(rng)}&page={rng.randint(1, 5)}"
            status = rng.choices([200, 201, 204, 301, 304, 400, 401, 403, 404, 499, 500, 502, 504],
                                 [70, 6, 3, 1, 5, 3, 3, 1, 4, 1, 1, 1, 1])[0]
            size = 0 if status in (204, 304) else int(rng.lognormvariate(7.5, 1.3))
            ref = rng.choice(["-", "https://shop.example.org/", "https://shop.example.org/cart",
                              "https://www.google.com/"])
            if rng.random() < 0.1:
                user = rng.choice(USERS)
        rt = rng.lognormvariate(-4, 1.2)
        yield ts, (f'{a} - {user} [{stamp}] "{method} {path} HTTP/1.1" {status} {size} '
                   f'"{ref}" "{ua}" {rt:.3f}\n')


def app_json(rng, addrs, debs, names, units, progs, agents):
    for t in clock(rng, 15.0):
        ms = int((t % 1) * 1000)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(t))) + f".{ms:03}Z"
        method, route = rng.choice(APP_ROUTES)
        status = rng.choices([200, 201, 400, 404, 409, 500, 503], [80, 6, 4, 4, 2, 2, 1])[0]
        ev = {"ts": stamp, "level": "INFO" if status < 400 else ("WARN" if status < 500 else "ERROR"),
              "service": "orders-api", "host": rng.choice(HOSTS[:3]), "pid": rng.choice([4121, 4122, 4187, 5020]),
              "trace_id": "%032x" % rng.getrandbits(128), "span_id": "%016x" % rng.getrandbits(64),
              "event": "http_request", "method": method, "route": route,
              "status": status, "duration_ms": round(rng.lognormvariate(2.5, 1.0), 2),
              "client_ip": ip(rng, addrs), "user_id": int(rng.paretovariate(1.1) * 100)}
        if rng.random() < 0.3:
            ev["db"] = {"query": rng.choice(["SELECT * FROM orders WHERE customer_id = $1 ORDER BY created_at DESC LIMIT 50",
                                             "UPDATE orders SET status = $1, updated_at = now() WHERE id = $2",
                                             "INSERT INTO order_items (order_id, sku, quantity, price_cents) VALUES ($1, $2, $3, $4)"]),
                        "rows": rng.randint(0, 50), "duration_ms": round(rng.lognormvariate(0.5, 1), 3)}
        if status >= 500:
            e = rng.choice(ERRORS)
            ev["error"] = {"type": e[0], "message": e[1],
                           "stack": [s.format(n=rng.randint(20, 400), m=rng.randint(20, 900),
                                              fn=rng.choice(["get_order", "create_order", "search"]),
                                              fn2=rng.choice(["load", "save", "reserve_stock"])) for s in STACK]}
        yield int(t), json.dumps(ev, separators=(",", ":")) + "\n"


def journal(rng, addrs, debs, names, units, progs, agents):
    boot = "%032x" % rng.getrandbits(128)
    machine = "%032x" % rng.getrandbits(128)
    seq = 0x1a2b3
    for t in clock(rng, 50.0):
        seq += 1
        us = int(t * 1_000_000)
        mono = us - T0 * 1_000_000 + 9_000_000
        u = units.pick(rng)
        comm = u.split(".")[0].split("@")[0]
        pid = rng.randint(200, 60000)
        prio = rng.choices([3, 4, 5, 6, 7], [2, 5, 10, 70, 13])[0]
        msg = rng.choice([f"Started {u}.", f"{u}: Succeeded.", f"Reloading {comm} configuration",
                          f"{comm}: received SIGHUP, reloading", f"Watchdog timeout (limit {rng.choice([1, 3, 10])}min)!",
                          f"New session {rng.randint(1, 9999)} of user {rng.choice(USERS)}.",
                          f"apt-get install {names.pick(rng)} finished with exit code {rng.choice([0, 0, 0, 100])}"])
        rec = (f"__CURSOR=s={machine[:32]};i={seq:x};b={boot};m={mono:x};t={us:x};x={rng.getrandbits(64):016x}\n"
               f"__REALTIME_TIMESTAMP={us}\n__MONOTONIC_TIMESTAMP={mono}\n_BOOT_ID={boot}\n"
               f"_MACHINE_ID={machine}\n_HOSTNAME={rng.choice(HOSTS)}\nPRIORITY={prio}\n"
               f"SYSLOG_FACILITY=3\n_UID=0\n_GID=0\n_CAP_EFFECTIVE=1ffffffffff\n_TRANSPORT=journal\n"
               f"_SYSTEMD_UNIT={u}\n_SYSTEMD_CGROUP=/system.slice/{u}\n_SYSTEMD_SLICE=system.slice\n"
               f"SYSLOG_IDENTIFIER={comm}\n_PID={pid}\n_COMM={comm}\n_EXE=/usr/lib/systemd/{comm}\n"
               f"_CMDLINE=/usr/lib/systemd/{comm} --log-level=info\nCODE_FILE=src/core/job.c\n"
               f"CODE_LINE={rng.randint(100, 900)}\nCODE_FUNC=job_log_status_message\n"
               f"MESSAGE={msg}\n\n")
        yield int(t), rec
