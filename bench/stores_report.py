#!/usr/bin/env python3
"""The tables of bench/stores.sh from RESULTS/stores.jsonl (and run.txt), as Markdown on stdout.

    python3 bench/stores_report.py bench/results/<date>-stores
"""
import json
import sys
from pathlib import Path

TARGET_MB = 150  # the big upload's peak RSS target, in MB (10^6 bytes)
MIB_PER_MB = 1e6 / 1048576


def size(b):
    return f"{b / 2**30:g} GiB" if b >= 2**30 else f"{b / 2**20:g} MiB"


def size_label(rows):
    sizes = {r["bytes"] for r in rows if r["test"] == "1g" and "bytes" in r}
    return size(max(sizes) if sizes else 2**30)


def main(results):
    rows = [json.loads(line) for line in (results / "stores.jsonl").read_text().splitlines() if line.strip()]
    stores = list(dict.fromkeys(r["store"] for r in rows))
    servers = [s for s in ("glimpse", "glance") if any(r["server"] == s for r in rows)]
    stores = [st for st in stores if any(r["store"] == st and r["server"] in servers for r in rows)]
    out = []
    run = results / "run.txt"
    if run.exists():
        out += ["```", run.read_text().rstrip(), "```", ""]

    def pick(server, store, test):
        return [r for r in rows if r["server"] == server and r["store"] == store and r["test"] == test]

    def rss(runs):
        """Peak RSS over the runs' uploads and downloads: (sum of the processes, largest one)."""
        s = max(max(r.get(k, 0) for k in ("upload_rss_sum_mib", "download_rss_sum_mib", "download_null_rss_sum_mib")) for r in runs)
        m = max(max(r.get(k, 0) for k in ("upload_rss_max_mib", "download_rss_max_mib", "download_null_rss_max_mib")) for r in runs)
        return s, m

    def idle(server, store):
        i = pick(server, store, "idle")
        return f"{i[0]['rss_sum_mib']:.0f}" if i else "–"

    n = max((len(pick(s, st, "1g")) for s in servers for st in stores), default=0)
    out += [
        f"### {size_label(rows)} random image (best of {n})",
        "",
        "| store | server | upload MiB/s | CPU s | download MiB/s, into sha512sum | to /dev/null | CPU s | peak RSS MiB | largest process MiB | RSS at rest MiB | SHA-512 |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for store in stores:
        for server in servers:
            runs = pick(server, store, "1g")
            if not runs:
                continue
            s, m = rss(runs)
            ok = "ok" if all(r["sha512_ok"] for r in runs) else "**MISMATCH**"
            out.append(
                f"| {store} | {server} | {max(r['upload_mibs'] for r in runs):.0f} | {min(r['upload_cpu_s'] for r in runs):.2f} | "
                f"{max(r['download_mibs'] for r in runs):.0f} | {max(r['download_null_mibs'] for r in runs):.0f} | "
                f"{min(r['download_cpu_s'] for r in runs):.2f} | {s:.0f} | {m:.0f} | {idle(server, store)} | {ok} |")
        d = [r["result"] for r in pick("direct", store, "1g")]
        if d:
            out.append(
                f"| {store} | the store itself (curl) | {max(x['upload_mibs'] for x in d):.0f} | | | "
                f"{max(x['download_mibs'] for x in d):.0f} | | | | | |")
    out += [
        "",
        "MiB/s: the best run; CPU s: the server's user + system time for the transfer, the least"
        " over the runs. Glance's figures are its two uWSGI workers': the RSS is the sum of their"
        " VmHWM, \"largest process\" the bigger one. Each transfer's peak is measured from a reset"
        " (`/proc/PID/clear_refs`); the table shows the highest over the runs and both downloads."
        " \"The store itself\": one PUT and one GET of the same file straight to the store with curl.",
        "",
    ]

    big = [(store, pick("glimpse", store, "big")) for store in stores]
    if any(b for _, b in big):
        out += [
            f"### Glimpse, large sparse image (target: same SHA-512, peak RSS under {TARGET_MB} MB)",
            "",
            "| store | size | upload MiB/s | CPU s | download MiB/s, into sha512sum | to /dev/null | peak RSS MiB | under 150 MB | SHA-512 |",
            "|---|---:|---:|---:|---:|---:|---:|---|---|",
        ]
        for store, runs in big:
            if not runs:
                out.append(f"| {store} | – | skipped | | | | | | |")
                continue
            r = runs[0]
            s, _ = rss(runs)
            under = "yes" if s < TARGET_MB * MIB_PER_MB else "**NO**"
            ok = "ok" if r["sha512_ok"] else "**MISMATCH**"
            out.append(
                f"| {store} | {size(r['bytes'])} | {r['upload_mibs']:.0f} | {r.get('upload_cpu_s', 0):.1f} | "
                f"{r['download_mibs']:.0f} | {r.get('download_null_mibs', 0):.0f} | {s:.0f} | {under} | {ok} |")
        out.append("")

    out += [
        "### Interrupted upload and leftovers",
        "",
        "| store | server | store held the upload's data when killed | clean after | image after | left after deleting every image |",
        "|---|---|---|---|---|---|",
    ]
    for store in stores:
        for server in servers:
            inter = pick(server, store, "interrupted")
            left = pick(server, store, "leftovers")
            if not inter and not left:
                continue
            if inter and not inter[0].get("killed", True):
                had, clean, status = "the upload ended before the kill", "–", "–"
            elif inter:
                i = inter[0]
                had = "yes" if i["store_had_data"] else "no (nothing listed)"
                clean = f"{i['clean_after_s']} s" if i["clean_after_s"] is not None else f"**NOT clean**: {json.dumps(i['left'])}"
                status = i["image_status"]
            else:
                had = clean = status = "–"
            lefts = [json.dumps(x["left"]) for x in left]
            nothing = all(sum(v for k, v in x["left"].items() if k != "bucket") == 0 for x in left)
            out.append(f"| {store} | {server} | {had} | {clean} | {status} | {'nothing' if nothing else '**' + '; '.join(lefts) + '**'} |")
    out.append("")
    print("\n".join(out))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
