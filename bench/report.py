#!/usr/bin/env python3
"""Turns one bench/run.sh results directory into summary.md, summary.json and chart.png.

usage: report.py RESULTS_DIR
"""
import glob
import json
import os
import sys

D = sys.argv[1]


def load(name):
    p = os.path.join(D, name)
    return json.load(open(p)) if os.path.exists(p) else None


glimpse = load("glimpse.json") or {"results": {}}
glance = load("glance.json") or {"results": {}}
phys = load("physical.json") or {}
big = load("glimpse-4g.json") or {"results": {}}
cold = load("coldstart.json") or {}
scaling = sorted((json.load(open(p)) for p in glob.glob(os.path.join(D, "scaling-*.json"))), key=lambda s: s["images"])

OPS = [("versions", "GET /"), ("create", "create"), ("show", "show"), ("list25", "list, limit 25"),
       ("list1000", "list, limit 1000"), ("list25fs", "list 25, filter + sort"), ("list1000fs", "list 1000, filter + sort"),
       ("patch", "PATCH")]


def row(results, op, c):
    return (results.get(op) or {}).get("c%d" % c)


def fmt(v, d=1):
    if v is None:
        return "–"
    if isinstance(v, float):
        return ("%." + str(d) + "f") % v
    return str(v)


lines = []
summary = {"operations": [], "transfers": {}, "targets": [], "physical": phys, "scaling": scaling, "cold_start": cold}
lines.append("| operation | clients | Glimpse ops/s | p50 ms | p99 ms | CPU ms/op | Glance ops/s | p50 ms | p99 ms | CPU ms/op | × throughput | p99 ÷ |")
lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
for op, title in OPS:
    for c in (1, 8):
        a, b = row(glimpse["results"], op, c), row(glance["results"], op, c)
        if not a:
            continue
        ratio = (a["rate_per_s"] / b["rate_per_s"]) if b and b.get("rate_per_s") else None
        p99r = (b["lat_ms"]["p99"] / a["lat_ms"]["p99"]) if b and a["lat_ms"]["p99"] else None
        summary["operations"].append({"op": op, "clients": c, "glimpse": a, "glance": b, "throughput_ratio": ratio, "p99_ratio": p99r})
        lines.append("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            title, c, fmt(a["rate_per_s"]), fmt(a["lat_ms"]["p50"], 2), fmt(a["lat_ms"]["p99"], 2), fmt(a.get("server_cpu_ms_per_op"), 2),
            fmt(b and b["rate_per_s"]), fmt(b and b["lat_ms"]["p50"], 1), fmt(b and b["lat_ms"]["p99"], 1),
            fmt(b and b.get("server_cpu_ms_per_op"), 1), fmt(ratio) + "×" if ratio else "–", fmt(p99r) + "×" if p99r else "–"))
        if op != "versions" and ratio is not None:
            summary["targets"].append({"target": "%s c%d: ≥ 20× throughput" % (op, c), "value": round(ratio, 1), "met": ratio >= 20})
            summary["targets"].append({"target": "%s c%d: p99 ≤ 1/10 of Glance's" % (op, c), "value": round(p99r or 0, 1),
                                       "met": (p99r or 0) >= 10})

hash1 = phys.get("hash_one_core_MiBps")
hash2 = phys.get("hash_two_cores_MiBps")
disk_read = phys.get("disk_read_direct_MiBps")
disk_write = phys.get("disk_write_direct_MiBps")
upload_limit = phys.get("upload_limit_MiBps")
loop = phys.get("loopback_MiBps")
lines.append("")
lines.append("| transfer | Glimpse MiB/s | server CPU s | peak RSS MB | Glance MiB/s | peak RSS MB | × | share of the machine's limit |")
lines.append("|---|---|---|---|---|---|---|---|")
up_a, up_b = row(glimpse["results"], "upload", 1), row(glance["results"], "upload", 1)
if up_a:
    limit_note = []
    if hash1:
        limit_note.append("%.0f%% of one-core MD5+SHA-512 (%.0f MiB/s)" % (100 * up_a["mb_per_s"] / hash1, hash1))
    if hash2:
        limit_note.append("%.0f%% of two-core (%.0f MiB/s)" % (100 * up_a["mb_per_s"] / hash2, hash2))
    if disk_write:
        limit_note.append("%.0f%% of the direct disk write (%.0f MiB/s)" % (100 * up_a["mb_per_s"] / disk_write, disk_write))
    if upload_limit:
        limit_note.append("%.0f%% of hashing and writing at once (%.0f MiB/s)" % (100 * up_a["mb_per_s"] / upload_limit, upload_limit))
    ratio = up_a["mb_per_s"] / up_b["mb_per_s"] if up_b and up_b.get("mb_per_s") else None
    lines.append("| upload 1 GiB | %s | %s | %s | %s | %s | %s | %s |" % (
        fmt(up_a["mb_per_s"]), fmt(up_a.get("server_cpu_s"), 2), fmt(up_a.get("server_rss_peak_mb")),
        fmt(up_b and up_b.get("mb_per_s")), fmt(up_b and up_b.get("server_rss_peak_mb")), (fmt(ratio) + "×") if ratio else "–",
        "; ".join(limit_note)))
    summary["transfers"]["upload"] = {"glimpse": up_a, "glance": up_b, "ratio": ratio}
    if hash1:
        summary["targets"].append({"target": "upload ≥ 80% of the one-core hashing limit", "value": round(up_a["mb_per_s"] / hash1, 2),
                                   "met": up_a["mb_per_s"] >= 0.8 * hash1})
    if hash2:
        summary["targets"].append({"target": "upload ≥ 80% of the two-core hashing limit", "value": round(up_a["mb_per_s"] / hash2, 2),
                                   "met": up_a["mb_per_s"] >= 0.8 * hash2})
    if disk_write:
        summary["targets"].append({"target": "upload not slower than the disk (direct write)", "value": round(up_a["mb_per_s"] / disk_write, 2),
                                   "met": up_a["mb_per_s"] >= disk_write})
    if upload_limit:
        summary["targets"].append({"target": "upload ≥ 80% of hashing + writing at once", "value": round(up_a["mb_per_s"] / upload_limit, 2),
                                   "met": up_a["mb_per_s"] >= 0.8 * upload_limit})
DOWNLOADS = [("cold", "download 1 GiB, cold cache"), ("c1", "download 1 GiB, cached"), ("c4", "download 1 GiB, cached ×4")]
for key, title in DOWNLOADS:
    a = (glimpse["results"].get("download") or {}).get(key)
    b = (glance["results"].get("download") or {}).get(key)
    if not a:
        continue
    # From the disk the limit is the disk (or the loopback, if slower); from memory, the loopback.
    cached = key != "cold" and "cold" in (glimpse["results"].get("download") or {})
    if key != "cold" and not cached:
        title = "download 1 GiB ×" + key[1:]
    limit = loop if cached else (min(x for x in (disk_read, loop) if x) if (disk_read or loop) else None)
    ratio = a["mb_per_s_aggregate"] / b["mb_per_s_aggregate"] if b and b.get("mb_per_s_aggregate") else None
    if not limit:
        share = "–"
    elif cached:
        share = "%.0f%% of loopback (%.0f)" % (100 * a["mb_per_s_aggregate"] / limit, loop)
    else:
        share = "%.0f%% of min(disk read %.0f, loopback %.0f)" % (100 * a["mb_per_s_aggregate"] / limit, disk_read or 0, loop or 0)
    lines.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
        title, fmt(a["mb_per_s_aggregate"]), fmt(a.get("server_cpu_s"), 2), fmt(a.get("server_rss_peak_mb")),
        fmt(b and b.get("mb_per_s_aggregate")), fmt(b and b.get("server_rss_peak_mb")), (fmt(ratio) + "×") if ratio else "–", share))
    summary["transfers"]["download_" + key] = {"glimpse": a, "glance": b, "ratio": ratio}
    if key in ("cold", "c1") and limit:
        what = "download (cached) ≥ 80% of loopback" if cached else "download ≥ 80% of min(disk read, loopback)"
        summary["targets"].append({"target": what, "value": round(a["mb_per_s_aggregate"] / limit, 2),
                                   "met": a["mb_per_s_aggregate"] >= 0.8 * limit})

big_up, big_down = row(big["results"], "upload", 1), row(big["results"], "download", 1)
if big_up:
    peak = max(big_up.get("server_rss_peak_mb") or 0, (big_down or {}).get("server_rss_peak_mb") or 0)
    lines.append("| upload + download 4 GiB | %s / %s | | %s | | | | |" % (fmt(big_up["mb_per_s"]), fmt(big_down and big_down["mb_per_s_aggregate"]), fmt(peak)))
    summary["targets"].append({"target": "server RSS ≤ 100 MB during a 4 GiB upload and download", "value": peak, "met": peak <= 100})

# Downloads with curl as the client, beside nginx serving the same file (bench/downloads.py).
curl_runs = {n: load("downloads-%s.json" % n) for n in ("glimpse", "glance", "nginx")}
if curl_runs["glimpse"]:
    lines.append("")
    lines.append("| 1 GiB download, curl | Glimpse MiB/s | CPU s/GiB | Glance MiB/s | CPU s/GiB | nginx MiB/s | CPU s/GiB | Glimpse / Glance | Glimpse / nginx |")
    lines.append("|---|---|---|---|---|---|---|---|---|")
    for key, title in (("cold", "cold page cache"), ("cached_1", "cached, 1 stream"), ("cached_4", "cached, 4 streams")):
        cells = [(curl_runs[n] or {}).get("runs", {}).get(key) for n in ("glimpse", "glance", "nginx")]
        a, b, c = cells
        if not a:
            continue
        vs = lambda x: ("%.2f×" % (a["mib_per_s"] / x["mib_per_s"])) if x and x.get("mib_per_s") else "–"
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            title, fmt(a["mib_per_s"]), fmt(a["server_cpu_s_per_gib"], 3), fmt(b and b["mib_per_s"]),
            fmt(b and b["server_cpu_s_per_gib"], 3), fmt(c and c["mib_per_s"]), fmt(c and c["server_cpu_s_per_gib"], 3),
            vs(b), vs(c)))
        summary["transfers"]["curl_" + key] = {"glimpse": a, "glance": b, "nginx": c}
        if b:
            summary["targets"].append({"target": "download (curl, %s) ≥ Glance" % title, "value": round(a["mib_per_s"] / b["mib_per_s"], 2),
                                       "met": a["mib_per_s"] >= b["mib_per_s"]})
        if c and key != "cold":
            summary["targets"].append({"target": "download (curl, %s) ≥ 90%% of nginx" % title,
                                       "value": round(a["mib_per_s"] / c["mib_per_s"], 2), "met": a["mib_per_s"] >= 0.9 * c["mib_per_s"]})

# The 8-client metadata rows with wrk as the driver (bench/metadata_wrk.py).
wrk_runs = {n: load("wrk-%s.json" % n) for n in ("glimpse", "glance")}
if wrk_runs["glimpse"]:
    lines.append("")
    lines.append("| wrk, 8 connections | Glimpse ops/s | p99 ms | server CPU ms/op | wrk cores | Glance ops/s | p99 ms | server CPU ms/op | × |")
    lines.append("|---|---|---|---|---|---|---|---|---|")
    for key, row_a in wrk_runs["glimpse"]["rows"].items():
        row_b = ((wrk_runs["glance"] or {}).get("rows") or {}).get(key)
        ratio = row_a["ops_per_s"] / row_b["ops_per_s"] if row_b and row_b["ops_per_s"] else None
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            key, fmt(row_a["ops_per_s"]), fmt(row_a["p99_ms"], 2), fmt(row_a["server_cpu_ms_per_op"], 3), fmt(row_a["wrk_cpu_cores"], 2),
            fmt(row_b and row_b["ops_per_s"]), fmt(row_b and row_b["p99_ms"], 2), fmt(row_b and row_b["server_cpu_ms_per_op"], 3),
            ("%.0f×" % ratio) if ratio else "–"))
        summary.setdefault("wrk", {})[key] = {"glimpse": row_a, "glance": row_b, "ratio": ratio}
        if key == "member_private_queued" and ratio:
            summary["targets"].append({"target": "a member's private queued images by update time ≥ 40× Glance's rate",
                                       "value": round(ratio, 1), "met": ratio >= 40})

if scaling:
    lines.append("")
    names = list(scaling[0]["latency"].keys())
    lines.append("| images | " + " | ".join("%s p50 / p99 ms" % n for n in names) + " | RSS MB |")
    lines.append("|---|" + "---|" * (len(names) + 1))
    for s in scaling:
        lines.append("| %d | " % s["images"] + " | ".join("%s / %s" % (fmt(s["latency"][n]["p50_ms"], 2), fmt(s["latency"][n]["p99_ms"], 2))
                                                       for n in names) + " | %s |" % s["rss_MB"].get("VmHWM"))
    first, last = scaling[0], scaling[-1]
    r = last["latency"]["list25"]["p50_ms"] / first["latency"]["list25"]["p50_ms"]
    summary["targets"].append({"target": "list page at %d images ≤ 2× the latency at %d" % (last["images"], first["images"]),
                               "value": round(r, 2), "met": r <= 2})
    worst = max(s["latency"][n]["p50_ms"] / first["latency"][n]["p50_ms"] for n in names for s in [last])
    summary["targets"].append({"target": "every list shape at %d images ≤ 2× its latency at %d" % (last["images"], first["images"]),
                               "value": round(worst, 2), "met": worst <= 2})
    summary["targets"].append({"target": "server RSS ≤ 100 MB with %d images" % last["images"],
                               "value": last["rss_MB"].get("VmHWM"), "met": (last["rss_MB"].get("VmHWM") or 0) <= 100})
if cold:
    summary["targets"].append({"target": "cold start to first answered request ≤ 0.5 s", "value": cold.get("seconds"),
                               "met": cold.get("seconds", 9) <= 0.5})

lines.append("")
lines.append("| target | measured | met |")
lines.append("|---|---|---|")
for t in summary["targets"]:
    lines.append("| %s | %s | %s |" % (t["target"], t["value"], "yes" if t["met"] else "**no**"))

md = "\n".join(lines) + "\n"
open(os.path.join(D, "summary.md"), "w").write(md)
json.dump(summary, open(os.path.join(D, "summary.json"), "w"), indent=1)
print(md)

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, a_rates, b_rates = [], [], []
    for o in summary["operations"]:
        if o["glance"]:
            labels.append("%s\nc=%d" % (o["op"], o["clients"]))
            a_rates.append(o["glimpse"]["rate_per_s"])
            b_rates.append(o["glance"]["rate_per_s"])
    fig, axes = plt.subplots(1, 2, figsize=(14, 4.8), gridspec_kw={"width_ratios": [3, 1]})
    ax = axes[0]
    x = range(len(labels))
    ax.bar([i - 0.2 for i in x], a_rates, width=0.4, label="Glimpse", color="#2a7ab0")
    ax.bar([i + 0.2 for i in x], b_rates, width=0.4, label="Glance 33", color="#c0504d")
    ax.set_yscale("log")
    ax.set_xticks(list(x))
    ax.set_xticklabels(labels, fontsize=7)
    ax.set_ylabel("requests per second (log)")
    ax.set_title("API operations, same machine, same load")
    ax.legend()
    ax = axes[1]
    tl, tv, tb = [], [], []
    if up_a:
        tl.append("upload")
        tv.append(up_a["mb_per_s"])
        tb.append(up_b["mb_per_s"] if up_b else 0)
    for key, label in (("cold", "download\n(cold cache)"), ("c1", "download\n(cached)")):
        da = (glimpse["results"].get("download") or {}).get(key)
        db = (glance["results"].get("download") or {}).get(key)
        if da:
            tl.append(label)
            tv.append(da["mb_per_s_aggregate"])
            tb.append(db["mb_per_s_aggregate"] if db else 0)
    ax.bar([i - 0.2 for i in range(len(tl))], tv, width=0.4, color="#2a7ab0", label="Glimpse")
    ax.bar([i + 0.2 for i in range(len(tl))], tb, width=0.4, color="#c0504d", label="Glance 33")
    if hash1:
        ax.axhline(hash1, color="grey", linestyle="--", linewidth=1)
        ax.text(-0.45, hash1 * 1.02, "MD5+SHA-512, one core", fontsize=7, color="grey")
    ax.set_xticks(range(len(tl)))
    ax.set_xticklabels(tl)
    ax.set_ylabel("MiB/s")
    ax.set_title("1 GiB image data")
    fig.tight_layout()
    fig.savefig(os.path.join(D, "chart.png"), dpi=110)
    print("chart: " + os.path.join(D, "chart.png"))
except ImportError:
    print("(matplotlib not installed: no chart)")
