#!/usr/bin/env python3
"""Times every list shape against a running Glimpse (a markdown table), or, with
--postgres-log where PostgreSQL's auto_explain writes, prints each shape's plan as
PostgreSQL ran it.

usage: list_plans.py --base URL --admin-token T --member-token T --owner-token T [--postgres-log FILE]
                     [--out FILE.json]
Driven by bench/list-plans.sh, which seeds the catalog and sets auto_explain up.
"""
import argparse
import http.client
import json
import os
import time
import urllib.parse

# (who, title, query); {marker} is the image in the middle of the seeded catalog, {middle} its
# creation time, {name} the name of the image a third of the way, {size} the median size,
# {owner} the seeded images' project, {checksum}/{os_hash} the seeded active images' ones.
# Every filter the API reads appears at least once, and every sort key in both directions.
SHAPES = [
    ("admin", "first page", "limit=25"),
    ("admin", "page from the middle (marker)", "limit=25&marker={marker}"),
    ("admin", "limit 1000", "limit=1000"),
    ("admin", "sort=name:asc", "limit=25&sort=name:asc"),
    ("admin", "sort=size:desc", "limit=25&sort=size:desc"),
    ("admin", "status=queued, sort_key=updated_at desc", "limit=25&status=queued&sort_key=updated_at&sort_dir=desc"),
    ("admin", "name=…", "limit=25&name={name}"),
    ("admin", "os_hidden=true", "limit=25&os_hidden=true"),
    ("admin", "os_distro=fedora (custom property)", "limit=25&os_distro=fedora"),
    ("admin", "tag=group-3", "limit=25&tag=group-3"),
    ("admin", "visibility=public", "limit=25&visibility=public"),
    ("admin", "disk_format=qcow2", "limit=25&disk_format=qcow2"),
    ("admin", "created_at=lt:{middle}", "limit=25&created_at=lt:{middle}"),
    ("admin", "size_min=…, sort=size:asc", "limit=25&size_min={size}&sort=size:asc"),
    ("member", "first page (another project)", "limit=25"),
    ("member", "visibility=private, status=queued, sort_key=updated_at desc",
     "limit=25&visibility=private&status=queued&sort_key=updated_at&sort_dir=desc"),
    ("member", "visibility=shared", "limit=25&visibility=shared"),
    # Every other sort key and direction.
    ("admin", "sort=name:desc", "limit=25&sort=name:desc"),
    ("admin", "sort=status:asc", "limit=25&sort=status:asc"),
    ("admin", "sort=status:desc", "limit=25&sort=status:desc"),
    ("admin", "sort=container_format:asc", "limit=25&sort=container_format:asc"),
    ("admin", "sort=container_format:desc", "limit=25&sort=container_format:desc"),
    ("admin", "sort=disk_format:asc", "limit=25&sort=disk_format:asc"),
    ("admin", "sort=disk_format:desc", "limit=25&sort=disk_format:desc"),
    ("admin", "sort=size:asc", "limit=25&sort=size:asc"),
    ("admin", "sort=id:asc", "limit=25&sort=id:asc"),
    ("admin", "sort=id:desc", "limit=25&sort=id:desc"),
    ("admin", "sort=created_at:asc", "limit=25&sort=created_at:asc"),
    ("admin", "sort=updated_at:asc", "limit=25&sort=updated_at:asc"),
    ("admin", "sort=updated_at:desc", "limit=25&sort=updated_at:desc"),
    ("member", "sort=name:asc (another project)", "limit=25&sort=name:asc"),
    # Every other filter.
    ("admin", "id=…", "limit=25&id={marker}"),
    ("admin", "name=in:…,…", "limit=25&name=in:{name},seed-1"),
    ("admin", "status=queued", "limit=25&status=queued"),
    ("admin", "owner=…", "limit=25&owner={owner}"),
    ("admin", "container_format=bare", "limit=25&container_format=bare"),
    ("admin", "checksum=…", "limit=25&checksum={checksum}"),
    ("admin", "os_hash_value=…", "limit=25&os_hash_value={os_hash}"),
    ("admin", "size=… (exact)", "limit=25&size={size}"),
    ("admin", "size_max=…", "limit=25&size_max={size}"),
    ("admin", "virtual_size_min=…", "limit=25&virtual_size_min={size}"),
    ("admin", "min_disk=7", "limit=25&min_disk=7"),
    ("admin", "min_ram_min=1024", "limit=25&min_ram_min=1024"),
    ("admin", "protected=true", "limit=25&protected=true"),
    ("admin", "created_at within one second", "limit=25&created_at=gte:{middle}&created_at=lte:{middle}"),
    ("admin", "updated_at=gt:{middle}", "limit=25&updated_at=gt:{middle}"),
    ("admin", "os_distro=cirros (a value no image has)", "limit=25&os_distro=cirros"),
    ("admin", "tag=group-3&tag=seeded", "limit=25&tag=group-3&tag=seeded"),
    ("admin", "visibility=shared, member_status=all", "limit=25&visibility=shared&member_status=all"),
    ("member", "visibility=shared, member_status=pending", "limit=25&visibility=shared&member_status=pending"),
    ("member", "tag=group-3 (another project)", "limit=25&tag=group-3"),
    # Where the better plan depends on how many images match (the store counts them first).
    ("admin", "tag=seeded (every image), sort=name:asc", "limit=25&tag=seeded&sort=name:asc"),
    ("admin", "tag=group-3, sort=updated_at:desc", "limit=25&tag=group-3&sort=updated_at:desc"),
    ("admin", "os_distro=fedora, sort=size:desc", "limit=25&os_distro=fedora&sort=size:desc"),
    ("admin", "disk_format=qcow2, sort=name:asc", "limit=25&disk_format=qcow2&sort=name:asc"),
    ("admin", "size_min=…, sort=name:asc", "limit=25&size_min={size}&sort=name:asc"),
    # A range whose matches lie far along the creation order (the seeded sizes and update
    # times grow with it): the creation-order summaries skip to them.
    ("admin", "updated_at=lt:{middle} (the older half)", "limit=25&updated_at=lt:{middle}"),
    ("admin", "size_min=…, sort=created_at:asc (the newer half)", "limit=25&size_min={size}&sort=created_at:asc"),
    ("member", "size_max=… (another project: the older public half)", "limit=25&size_max={size}"),
    # A range sorted by a key other than the creation time: the older half by size (a seek
    # into the size index), the newer half by update time (its matches come first in that
    # order), the older half by update time newest first (every newer image comes before the
    # first match, in either index), and the older half by name.
    ("admin", "size_max=…, sort=size:desc", "limit=25&size_max={size}&sort=size:desc"),
    ("admin", "size_min=…, sort=updated_at:desc (the newer half)", "limit=25&size_min={size}&sort=updated_at:desc"),
    ("admin", "size_max=…, sort=updated_at:desc (the older half)", "limit=25&size_max={size}&sort=updated_at:desc"),
    ("member", "size_max=…, sort=name:asc (another project: the older public half)",
     "limit=25&size_max={size}&sort=name:asc"),
    ("owner", "first page (a member of the project owning the catalog)", "limit=25"),
    ("owner", "sort=name:asc (the owning project)", "limit=25&sort=name:asc"),
    ("owner", "visibility=private, status=queued, sort_key=updated_at desc (the owning project)",
     "limit=25&visibility=private&status=queued&sort_key=updated_at&sort_dir=desc"),
    ("owner", "visibility=shared, status=queued, sort_key=updated_at desc (the owning project)",
     "limit=25&visibility=shared&status=queued&sort_key=updated_at&sort_dir=desc"),
    ("owner", "tag=group-3, sort=size:desc (the owning project)", "limit=25&tag=group-3&sort=size:desc"),
]


def get(base, token, path):
    u = urllib.parse.urlsplit(base)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    t0 = time.perf_counter()
    c.request("GET", path, headers={"X-Auth-Token": token, "Accept": "application/json"})
    r = c.getresponse()
    body = r.read()
    ms = (time.perf_counter() - t0) * 1000
    c.close()
    if r.status != 200:
        raise SystemExit("GET %s: %d %s" % (path, r.status, body[:300]))
    return ms, json.loads(body)


def plan_of(log, offset):
    """The last plan auto_explain logged after OFFSET for a query on the images table."""
    with open(log, errors="replace") as f:
        f.seek(offset)
        text = f.read()
    blocks, current = [], None
    for line in text.splitlines():
        if line[:1].isdigit():  # a new log line (the prefix starts with the time)
            current = [] if "plan:" in line else None
            if current is not None:
                blocks.append(current)
        elif current is not None:
            current.append(line.rstrip())
    for block in reversed(blocks):
        if any("FROM images i" in l for l in block):
            # The plan starts at its first node, after the query text; dedent it to there.
            lines = [l.replace("\t", "  ") for l in block]
            start = next(k for k, l in enumerate(lines) if l.lstrip().startswith(("Limit", "->")))
            indent = len(lines[start]) - len(lines[start].lstrip())
            return "\n".join(l[indent:] for l in lines[start:])
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--admin-token", required=True)
    ap.add_argument("--member-token", required=True, help="a member of another project")
    ap.add_argument("--owner-token", required=True, help="a member of the project owning the seeded images")
    ap.add_argument("--images", type=int, required=True, help="how many images glimpse admin seed made")
    ap.add_argument("--postgres-log")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--out")
    a = ap.parse_args()
    tokens = {"admin": a.admin_token, "member": a.member_token, "owner": a.owner_token}
    _, found = get(a.base, a.admin_token, "/v2/images?name=seed-%d" % (a.images // 2))
    middle = found["images"][0]
    values = {"marker": middle["id"], "middle": urllib.parse.quote(middle["created_at"]),
              "name": "seed-%d" % (a.images // 3), "size": (1 << 20) + a.images // 2,
              "owner": middle["owner"], "checksum": "0" * 32, "os_hash": "0" * 128}
    results = []
    for who, title, query in SHAPES:
        path = "/v2/images?" + query.format(**values)
        times = []
        for _ in range(a.repeat):
            ms, page = get(a.base, tokens[who], path)
            times.append(ms)
        plan = None
        if a.postgres_log:
            offset = os.path.getsize(a.postgres_log)
            get(a.base, tokens[who], path)
            time.sleep(0.3)
            plan = plan_of(a.postgres_log, offset)
        # The first request pays the counts a plan depends on; the store reuses them for 30 s.
        results.append({"who": who, "shape": title, "query": query, "first_ms": round(times[0], 2),
                        "best_ms": round(min(times), 2),
                        "median_ms": round(sorted(times)[len(times) // 2], 2), "images": len(page["images"]),
                        "plan": plan})
    if a.out:
        with open(a.out, "w") as f:
            json.dump(results, f, indent=1)
    if not a.postgres_log:
        print("| caller | shape | images | first ms | best ms | median ms |")
        print("|---|---|---|---|---|---|")
        for r in results:
            print("| %s | %s | %d | %.2f | %.2f | %.2f |" % (r["who"], r["shape"], r["images"], r["first_ms"],
                                                         r["best_ms"], r["median_ms"]))
    for r in results:
        if r["plan"]:
            print("\n**%s — %s** (`%s`)\n\n```\n%s\n```" % (r["who"], r["shape"], r["query"], r["plan"]))


if __name__ == "__main__":
    main()
