#!/usr/bin/env python3
"""1 GiB downloads with curl as the client (a C client: the load driver is not the limit),
against a Glimpse, a Glance or a plain web server serving the same file.

For each of: a cold page cache (dropped before the run; root only), cached with 1 stream,
cached with N streams (best of --repeat), reports the aggregate MiB/s, the server's CPU
seconds per GiB sent (its whole process tree) and the clients' CPU share. An image API
server (--base) gets the file uploaded as a new image first (with curl) and the image
deleted at the end; a web server (--url) serves the file as it is. One download per
server is checked against the file's SHA-256 (untimed).

usage: downloads.py --name NAME (--base URL | --url URL) --file F [-H 'Header: v' ...]
                    (--server-pid PID | --server-pidfile F) [--streams 1,4] [--repeat 3]
                    [--no-cold] --out FILE.json
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import CLK, MiB, Sampler, drop_page_cache, server_pids  # noqa: E402

GiB = 1 << 30


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def curl(args, headers, **kw):
    cmd = ["curl", "-sS", "--fail"]
    for h in headers:
        cmd += ["-H", h]
    return subprocess.run(cmd + args, check=True, **kw)


def upload(base, headers, path):
    """Creates an image and uploads the file into it; returns the image's data URL."""
    out = curl(["-X", "POST", "-H", "Content-Type: application/json", "--data",
                '{"name": "downloads-bench", "disk_format": "raw", "container_format": "bare"}',
                base + "/v2/images"], headers, capture_output=True)
    iid = json.loads(out.stdout)["id"]
    curl(["-X", "PUT", "-H", "Content-Type: application/octet-stream", "-T", path, "-o", "/dev/null",
          base + "/v2/images/%s/file" % iid], headers)
    return iid, base + "/v2/images/%s/file" % iid


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(8 << 20)
            if not b:
                return h.hexdigest()
            h.update(b)


def once(url, headers, streams, size, sampler):
    """`streams` curls at once, each the whole file to /dev/null."""
    cmd = ["curl", "-sS", "--fail", "-o", "/dev/null", "-w", "%{size_download}"]
    for h in headers:
        cmd += ["-H", h]
    s0 = sampler.cpu_ticks()
    t0 = time.perf_counter()
    procs = [subprocess.Popen(cmd + [url], stdout=subprocess.PIPE) for _ in range(streams)]
    client_cpu, got = 0.0, 0
    for p in procs:
        _, status, usage = os.wait4(p.pid, 0)
        client_cpu += usage.ru_utime + usage.ru_stime
        got += int(p.stdout.read() or 0)
        p.stdout.close()
        p.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - t0
    server_cpu = (sampler.cpu_ticks() - s0) / CLK
    return {"streams": streams, "bytes": got, "complete": got == size * streams,
            "wall_s": round(wall, 3), "mib_per_s": round(got / MiB / wall, 1),
            "server_cpu_s": round(server_cpu, 2),
            "server_cpu_s_per_gib": round(server_cpu / (got / GiB), 3) if got else None,
            "client_cpu_s": round(client_cpu, 2), "client_cpu_cores": round(client_cpu / wall, 2)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--name", required=True)
    ap.add_argument("--base", help="image API base URL: the file is uploaded as an image")
    ap.add_argument("--url", help="URL a web server serves the file at")
    ap.add_argument("--file", required=True)
    ap.add_argument("-H", "--header", action="append", default=[])
    ap.add_argument("--server-pid", type=int, action="append", default=[])
    ap.add_argument("--server-pidfile")
    ap.add_argument("--streams", default="1,4")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-cold", action="store_true")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    pids = server_pids(a.server_pid, a.server_pidfile)
    size = os.path.getsize(a.file)
    iid = None
    if a.base:
        iid, url = upload(a.base, a.header, a.file)
    else:
        url = a.url
    sampler = Sampler(pids)
    result = {"server": a.name, "bytes": size, "client": "curl " + subprocess.run(
        ["curl", "--version"], capture_output=True, text=True).stdout.split()[1], "runs": {}}
    try:
        check = subprocess.Popen(["curl", "-sS", "--fail"] + sum((["-H", h] for h in a.header), []) + [url],
                                 stdout=subprocess.PIPE)
        h = hashlib.sha256()
        for block in iter(lambda: check.stdout.read(8 << 20), b""):
            h.update(block)
        result["sha256_ok"] = check.wait() == 0 and h.hexdigest() == sha256_of(a.file)
        levels = [] if a.no_cold else [("cold", 1)]
        levels += [("cached_%d" % int(s), int(s)) for s in a.streams.split(",")]
        for key, streams in levels:
            if key == "cold" and not drop_page_cache():
                log("%s: cannot drop the page cache (needs root): no cold run" % a.name)
                continue
            if key != "cold":
                once(url, a.header, 1, size, sampler)  # the file in the page cache
            runs = [once(url, a.header, streams, size, sampler) for _ in range(1 if key == "cold" else a.repeat)]
            best = max(runs, key=lambda r: r["mib_per_s"])
            best["runs_mib_per_s"] = [r["mib_per_s"] for r in runs]
            result["runs"][key] = best
            log("%-8s %-9s %7.1f MiB/s  server %.3f CPU s/GiB  clients %.2f cores  complete=%s (runs %s)" % (
                a.name, key, best["mib_per_s"], best["server_cpu_s_per_gib"] or 0, best["client_cpu_cores"],
                best["complete"], best["runs_mib_per_s"]))
    finally:
        if iid:
            subprocess.run(["curl", "-sS", "-o", "/dev/null", "-X", "DELETE"]
                           + sum((["-H", h] for h in a.header), []) + [a.base + "/v2/images/" + iid])
    with open(a.out, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
