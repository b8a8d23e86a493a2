#!/usr/bin/env python3
"""Prints the markdown table of one bench/cluster.sh results directory: for each operation
and client count, Glimpse's and Glance's ops/s, p99, CPU per operation and errors.

usage: cluster_report.py RESULTS_DIR
"""
import json
import os
import sys

D = sys.argv[1]


def load(name):
    """The results of NAME-writes.json and NAME.json together."""
    out = {}
    for f in (name + "-writes.json", name + ".json"):
        p = os.path.join(D, f)
        if os.path.exists(p):
            for op, levels in json.load(open(p))["results"].items():
                out.setdefault(op, {}).update(levels)
    return out


glimpse, glance = load("glimpse"), load("glance")
OPS = [("versions", "GET /"), ("create", "create"), ("show", "show"), ("list25", "list, limit 25"),
       ("list1000", "list, limit 1000"), ("list25fs", "list 25, filter + sort"), ("patch", "PATCH")]


def fmt(v, d=1):
    return "–" if v is None else ("%." + str(d) + "f") % v if isinstance(v, float) else str(v)


def cell(r):
    if not r:
        return ["–"] * 4
    return [fmt(r["rate_per_s"]), fmt(r["lat_ms"]["p99"], 1), fmt(r.get("server_cpu_ms_per_op"), 2), str(r["errors"])]


print("| operation | clients | Glimpse ops/s | p99 ms | CPU ms/op | errors "
      "| Glance ops/s | p99 ms | CPU ms/op | errors | × ops/s |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for op, title in OPS:
    levels = sorted({int(k[1:]) for k in list(glimpse.get(op, {})) + list(glance.get(op, {})) if k[1:].isdigit()})
    for c in levels:
        a, b = glimpse.get(op, {}).get("c%d" % c), glance.get(op, {}).get("c%d" % c)
        ratio = a["rate_per_s"] / b["rate_per_s"] if a and b and b["rate_per_s"] else None
        print("| %s | %d | %s | %s | %s |" % (title, c, " | ".join(cell(a)), " | ".join(cell(b)),
                                              fmt(ratio) + "×" if ratio else "–"))

print()
print("| 1 GiB through the balancer | Glimpse MiB/s | CPU s | Glance MiB/s | CPU s |")
print("|---|---|---|---|---|")
for key, title in (("upload", "upload"), ("c1", "download"), ("c4", "download ×4")):
    rows = []
    for res in (glimpse, glance):
        r = (res.get("upload") or {}).get("c1") if key == "upload" else (res.get("download") or {}).get(key)
        if not r:
            rows += ["–"] * 2
            continue
        rate = r.get("mb_per_s") if key == "upload" else r.get("mb_per_s_aggregate")
        rows += [fmt(rate), fmt(r.get("server_cpu_s"), 2)]
    print("| %s | %s |" % (title, " | ".join(rows)))
