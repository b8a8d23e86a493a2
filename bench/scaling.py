#!/usr/bin/env python3
"""List-page latency of a running server against its catalog size.

Measures, with one keep-alive client: the first page (limit 25 and 1000), a page deep in
the catalog (after a marker half way), a filtered + sorted page, a custom-property filter,
and the server's resident memory.

usage: scaling.py --base URL --token T --server-pid PID --images N [--out FILE]
"""
import argparse
import http.client
import json
import statistics
import time
import urllib.parse


def pct(values, p):
    values = sorted(values)
    k = (len(values) - 1) * p / 100
    f = int(k)
    c = min(f + 1, len(values) - 1)
    return values[f] + (values[c] - values[f]) * (k - f)


def rss(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(("VmRSS", "VmHWM")):
                k, v = line.split(":")
                out[k] = int(v.split()[0]) // 1024
    return out


def member_token(conn, headers):
    """Creates a project and a member user in it (built-in identity), returns their token."""
    suffix = "%d" % (time.time() * 1000)

    def call(method, path, body=None):
        h = dict(headers, **{"Content-Type": "application/json"})
        conn.request(method, "/identity/v3" + path, body=json.dumps(body) if body is not None else None, headers=h)
        r = conn.getresponse()
        data = r.read()
        if r.status >= 300:
            raise SystemExit("%s %s -> %d %s" % (method, path, r.status, data[:200]))
        return r, (json.loads(data) if data else None)

    _, p = call("POST", "/projects", {"project": {"name": "scaling-" + suffix, "domain_id": "default"}})
    pid = p["project"]["id"]
    _, u = call("POST", "/users", {"user": {"name": "scaling-" + suffix, "password": "scaling-" + suffix,
                                            "domain_id": "default", "default_project_id": pid}})
    _, roles = call("GET", "/roles?name=member")
    call("PUT", "/projects/%s/users/%s/roles/%s" % (pid, u["user"]["id"], roles["roles"][0]["id"]))
    r, _ = call("POST", "/auth/tokens", {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {"id": u["user"]["id"], "password": "scaling-" + suffix}}},
        "scope": {"project": {"id": pid}}}})
    return r.getheader("X-Subject-Token")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--server-pid", type=int, required=True)
    ap.add_argument("--images", type=int, required=True)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--out")
    a = ap.parse_args()
    u = urllib.parse.urlsplit(a.base)
    conn = http.client.HTTPConnection(u.hostname, u.port)
    headers = {"X-Auth-Token": a.token, "Accept": "application/json"}

    def get(path, hdrs=headers):
        t = time.perf_counter()
        conn.request("GET", path, headers=hdrs)
        r = conn.getresponse()
        body = r.read()
        dt = time.perf_counter() - t
        if r.status != 200:
            raise SystemExit("%s -> %d %s" % (path, r.status, body[:200]))
        return dt, body

    # A user of another project (role member): sees the public images only, through the
    # visibility rules rather than an admin's shortcut.
    member = member_token(conn, headers)
    mheaders = {"X-Auth-Token": member, "Accept": "application/json"}

    def get_as_member(path):
        return get(path, mheaders)

    # A marker half way through the default order.
    _, body = get("/v2/images?limit=1&sort=name:asc&name=seed-%d" % (a.images // 2))
    images = json.loads(body)["images"]
    marker = images[0]["id"] if images else None

    cases = [
        ("list25", "/v2/images?limit=25", a.requests),
        ("list1000", "/v2/images?limit=1000", max(10, a.requests // 10)),
        ("list25 filtered+sorted", "/v2/images?limit=25&tag=seeded&status=active&sort=name:asc", a.requests),
        ("list25 property filter", "/v2/images?limit=25&os_distro=debian", a.requests),
    ]
    if marker:
        cases.append(("list25 after a marker half way", "/v2/images?limit=25&marker=" + marker, a.requests))
    cases.append(("list25 as a member of another project", "/v2/images?limit=25", a.requests, get_as_member))
    results = {}
    for case in cases:
        name, path, n = case[:3]
        fetch = case[3] if len(case) > 3 else get
        fetch(path)  # warm
        lat = [fetch(path)[0] for _ in range(n)]
        results[name] = {"p50_ms": round(pct(lat, 50) * 1000, 2), "p99_ms": round(pct(lat, 99) * 1000, 2),
                         "mean_ms": round(statistics.mean(lat) * 1000, 2), "requests": n}
    summary = {"images": a.images, "latency": results, "rss_MB": rss(a.server_pid)}
    text = json.dumps(summary, indent=1)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
