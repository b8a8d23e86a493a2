"""Seeds a Glance cloud with images of every kind, and compares two clouds' images.

  migrate_check.py seed CLOUD COUNT     COUNT images in CLOUD (clouds.yaml), as an admin:
                                        data or none, properties, tags, members with
                                        statuses, protected, hidden, deactivated
  migrate_check.py compare FROM TO      every image of FROM must be in TO, the same but
                                        for timestamps, links and the stores' own fields;
                                        prints one line per difference, then
                                        "N passed, N failed"
"""
import json
import os
import random
import sys

import openstack

SKIPPED = {"created_at", "updated_at", "self", "file", "schema", "direct_url", "locations", "stores"}


def connect(cloud):
    return openstack.connect(cloud=cloud)


def seed(cloud, count):
    conn = connect(cloud)
    # Keystone may be listed in another region than the image service.
    identity = connect(os.environ.get("MIGRATE_IDENTITY_CLOUD", cloud)).identity
    projects = {p.name: p.id for p in identity.projects()}
    owners = [projects[n] for n in ("demo", "alt", "admin") if n in projects]
    rng = random.Random(20261201)
    made = 0
    for i in range(count):
        kind = i % 10
        attrs = {
            "name": f"migrate-{i:04d}",
            "disk_format": rng.choice(["raw", "qcow2", "iso", "vmdk"]) if kind == 9 else "raw",
            "container_format": "bare",
            "visibility": ["private", "shared", "public", "community"][i % 4],
            "tags": [f"t{i % 7}", "migrate"],
            "min_disk": i % 5,
            "min_ram": (i % 3) * 512,
            "owner": owners[i % len(owners)],
            "os_distro": rng.choice(["cirros", "ubuntu", "rhel"]),
            "hw_cpu_cores": str(1 + i % 4),
            "migrate_index": str(i),
        }
        if kind == 3:
            attrs["os_hidden"] = True
        # The API's own requests: what a client sends is what Glance stores.
        image_id = conn.image.post("/images", json=attrs).json()["id"]
        if kind != 9:  # the tenth stays queued, without data
            data = os.urandom(rng.randint(1, 64) * 1024)
            if data[510:512] == b"\x55\xaa":
                data = data[:510] + b"\0\0" + data[512:]
            conn.image.put(f"/images/{image_id}/file", data=data,
                           headers={"Content-Type": "application/octet-stream"})
        if attrs["visibility"] == "shared":
            for member, status in zip(owners, ["accepted", "rejected", "pending"]):
                if member == attrs["owner"]:
                    continue
                conn.image.post(f"/images/{image_id}/members", json={"member": member})
                if status != "pending":
                    conn.image.put(f"/images/{image_id}/members/{member}", json={"status": status})
        if kind == 5:
            conn.image.patch(f"/images/{image_id}", data=json.dumps([{"op": "replace", "path": "/protected", "value": True}]),
                             headers={"Content-Type": "application/openstack-images-v2.1-json-patch"})
        if kind == 7 and kind != 9:
            conn.image.post(f"/images/{image_id}/actions/deactivate")
        made += 1
    print(f"{made} images in {cloud}")


def images(conn):
    seen = {}
    for hidden in (False, True):
        for image in conn.image.images(is_hidden=hidden, visibility="all"):
            seen[image.id] = image
    return seen


def shown(conn, image):
    """The image as `openstack image show -f json` gets it: the API's own JSON."""
    body = conn.image.get(f"/images/{image.id}").json()
    return {k: v for k, v in body.items() if k not in SKIPPED and not k.startswith("os_glance")}


def members(conn, image):
    if image.visibility != "shared":
        return []
    return sorted((m.member_id, m.status) for m in conn.image.members(image))


def compare(source_cloud, target_cloud):
    source, target = connect(source_cloud), connect(target_cloud)
    theirs = images(target)
    passed = failed = 0
    for image_id, image in sorted(images(source).items()):
        if image.status not in ("queued", "active", "deactivated"):
            continue
        problems = []
        if image_id not in theirs:
            problems.append("missing")
        else:
            a, b = shown(source, image), shown(target, theirs[image_id])
            for key in sorted(set(a) | set(b)):
                if a.get(key) != b.get(key):
                    problems.append(f"{key}: {a.get(key)!r} != {b.get(key)!r}")
            if members(source, image) != members(target, theirs[image_id]):
                problems.append(f"members: {members(source, image)} != {members(target, theirs[image_id])}")
        if problems:
            failed += 1
            print(f"FAIL {image_id} {image.name}: " + "; ".join(problems))
        else:
            passed += 1
    print(f"{passed} passed, {failed} failed")
    return failed == 0


if __name__ == "__main__":
    if sys.argv[1] == "seed":
        seed(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1] == "compare":
        sys.exit(0 if compare(sys.argv[2], sys.argv[3]) else 1)
    else:
        sys.exit(__doc__)
