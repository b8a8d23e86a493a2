#!/usr/bin/env python3
"""The 8-client metadata rows again with wrk (a C load generator) instead of bench.py, so
that the driver is not what sets the pace: show, list limit 25 and list 25 with a filter
and a sort, against a server whose catalog bench.py's seed phase made; with --member-header,
also a member of the catalog's project listing its private queued images by update time
(`visibility=private&status=queued&sort_key=updated_at&sort_dir=desc`). Reports requests
per second, latency percentiles, answers of 400 and above, and the CPU of the server
and of wrk.

usage: metadata_wrk.py --name NAME --base URL [-H 'Header: v' ...] [--member-header 'Header: v' ...]
                       (--server-pid PID | --server-pidfile F) [--connections 8]
                       [--seconds 10] [--tag benchcat] --out FILE.json
"""
import argparse
import json
import os
import re
import subprocess
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import CLK, Sampler, server_pids  # noqa: E402

# wrk's figures as one JSON line (errors.status: answers of 400 and above).
SCRIPT = """
done = function(summary, latency, requests)
  io.write(string.format("JSON {\\"requests\\": %d, \\"seconds\\": %f, \\"errors\\": %d, \\"status_errors\\": %d, " ..
    "\\"p50_ms\\": %f, \\"p99_ms\\": %f}\\n", summary.requests, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, latency:percentile(50) / 1e3, latency:percentile(99) / 1e3))
end
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--name", required=True)
    ap.add_argument("--base", required=True)
    ap.add_argument("-H", "--header", action="append", default=[])
    ap.add_argument("--member-header", action="append", default=[])
    ap.add_argument("--server-pid", type=int, action="append", default=[])
    ap.add_argument("--server-pidfile")
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--tag", default="benchcat")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    pids = server_pids(a.server_pid, a.server_pidfile)
    req = urllib.request.Request(a.base + "/v2/images?limit=1", headers=dict(h.split(": ", 1) for h in a.header))
    with urllib.request.urlopen(req) as r:
        image = json.load(r)["images"][0]["id"]
    script = os.path.join(os.path.dirname(os.path.abspath(a.out)), "wrk-count.lua")
    with open(script, "w") as f:
        f.write(SCRIPT)
    shapes = [("show", "/v2/images/" + image, a.header), ("list25", "/v2/images?limit=25", a.header),
              ("list25fs", "/v2/images?limit=25&tag=%s&sort=name:asc" % a.tag, a.header)]
    if a.member_header:
        shapes.append(("member_private_queued",
                       "/v2/images?limit=25&visibility=private&status=queued&sort_key=updated_at&sort_dir=desc",
                       a.member_header))
    sampler = Sampler(pids)
    out = {"server": a.name, "connections": a.connections, "seconds": a.seconds, "rows": {}}
    for label, path, headers in shapes:
        cmd = ["wrk", "-t", "2", "-c", str(a.connections), "-d", "%ds" % a.seconds, "-s", script]
        for h in headers:
            cmd += ["-H", h]
        s0 = sampler.cpu_ticks()
        p = subprocess.Popen(cmd + [a.base + path], stdout=subprocess.PIPE, text=True)
        _, _, usage = os.wait4(p.pid, 0)
        text = p.stdout.read()
        server_cpu = (sampler.cpu_ticks() - s0) / CLK
        m = re.search(r"^JSON (.*)$", text, re.M)
        if not m:
            raise SystemExit("wrk printed no figures:\n" + text)
        row = json.loads(m.group(1))
        row["ops_per_s"] = round(row["requests"] / row["seconds"], 1)
        row["server_cpu_ms_per_op"] = round(server_cpu * 1000 / max(1, row["requests"]), 3)
        row["wrk_cpu_cores"] = round((usage.ru_utime + usage.ru_stime) / row["seconds"], 2)
        out["rows"][label] = row
        print("%-8s %-9s %8.1f ops/s  p50 %.2f ms  p99 %.2f ms  server %.3f CPU ms/op  wrk %.2f cores  "
              "errors %d 4xx-5xx %d" % (a.name, label, row["ops_per_s"], row["p50_ms"], row["p99_ms"],
                                        row["server_cpu_ms_per_op"], row["wrk_cpu_cores"], row["errors"],
                                        row["status_errors"]), file=sys.stderr, flush=True)
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
