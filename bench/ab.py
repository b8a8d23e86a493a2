"""Compares the bench.py results of two builds (a-N.json, b-N.json): for each operation and
client count, the best rate and p99 over the rounds and the lowest server CPU per operation,
and B's ratio to A."""
import glob
import json
import os
import sys


def best(files):
    out = {}
    for f in files:
        results = json.load(open(f)).get("results", json.load(open(f)))
        for op, by_clients in results.items():
            if not isinstance(by_clients, dict):
                continue
            for clients, r in by_clients.items():
                if not isinstance(r, dict) or "rate_per_s" not in r:
                    continue
                key = (op, clients)
                cur = out.get(key)
                cpu = r.get("server_cpu_ms_per_op")
                if cur is None:
                    out[key] = {"rate": r["rate_per_s"], "p99": r["lat_ms"]["p99"], "cpu": cpu}
                else:
                    cur["rate"] = max(cur["rate"], r["rate_per_s"])
                    cur["p99"] = min(cur["p99"], r["lat_ms"]["p99"])
                    if cpu is not None:
                        cur["cpu"] = cpu if cur["cpu"] is None else min(cur["cpu"], cpu)
    return out


def main(directory):
    a = best(sorted(glob.glob(os.path.join(directory, "a-*.json"))))
    b = best(sorted(glob.glob(os.path.join(directory, "b-*.json"))))
    print("| operation | clients | A ops/s | B ops/s | B/A | A p99 ms | B p99 ms | A CPU ms/op | B CPU ms/op |")
    print("|---|---|---|---|---|---|---|---|---|")
    for key in sorted(a, key=lambda k: (k[0], int(k[1][1:]))):
        if key not in b:
            continue
        x, y = a[key], b[key]
        print("| %s | %s | %.0f | %.0f | %.2f | %.2f | %.2f | %s | %s |" % (
            key[0], key[1][1:], x["rate"], y["rate"], y["rate"] / x["rate"], x["p99"], y["p99"],
            x["cpu"], y["cpu"]))


if __name__ == "__main__":
    main(sys.argv[1])
