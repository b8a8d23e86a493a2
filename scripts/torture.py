#!/usr/bin/env python3
"""Crash-and-soak driver for scripts/torture.sh (standard library only; HTTP through
bench/bench.py's Client).

crash: N cycles of kill -9 of a `glimpse serve` under mixed load from several clients
(uploads of random data of varied sizes, downloads checked against the digests recorded at
upload, property updates, deletes), restarting the server after each kill. Every write the
server acknowledged is recorded; at the end every image is checked against that record
(status, size, checksum, os_hash_value, the downloaded bytes, properties; deleted images
gone), `glimpse admin fsck` sweeps, and the bytes on disk must be exactly the active
images' bytes (orphaned bytes: 0).

soak: mixed load from many clients for a given time, sampling the server's RSS and open file
descriptors from /proc every few seconds.

Prints a JSON summary on stdout; exits 1 if any check failed.
"""
import argparse
import hashlib
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
from bench import Client, log  # noqa: E402

PASSWORD = "torture-secret"
PATCH_CT = "application/openstack-images-v2.1-json-patch"
# Upload sizes: many small, some of a few MiB (a kill lands in the middle of those).
SIZES = [0, 1, 4096, 65536, 300_000, 1 << 20, 3 << 20, 8 << 20]


class Digests:
    """MD5 and SHA-512 at once, for Client.download_stream's hasher."""

    def __init__(self):
        self.md5, self.sha = hashlib.md5(), hashlib.sha512()

    def update(self, b):
        self.md5.update(b)
        self.sha.update(b)


class Server:
    """One `glimpse serve` process on a data directory."""

    running = []  # killed at exit, whatever ends the run

    def __init__(self, binary, data_dir, port, settings, log_path):
        self.binary, self.data_dir, self.port = binary, data_dir, port
        self.settings, self.log_path = settings, log_path
        self.proc = None

    def start(self, timeout=60):
        args = [self.binary, "serve", "--data-dir", self.data_dir, "--port", str(self.port),
                "--log-level", "warning"]
        for s in self.settings:
            args += ["--set", s]
        env = dict(os.environ, GLIMPSE_ADMIN_PASSWORD=PASSWORD, GLIMPSE_PASSWORD_HASH_ROUNDS="1000")
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env)
        Server.running.append(self.proc)
        deadline = time.time() + timeout
        c = Client("http://127.0.0.1:%d" % self.port, {}, timeout=2)
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("glimpse serve exited with %s; see %s" % (self.proc.returncode, self.log_path))
            try:
                if c.request("GET", "/healthcheck")[0] == 200:
                    c.close()
                    return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError("glimpse serve did not answer within %ds" % timeout)

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill9()

    def rss_and_fds(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            rss = next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmRSS:"))
        return rss, len(os.listdir("/proc/%d/fd" % self.proc.pid))


def token(base):
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": PASSWORD}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
    st, h, data = Client(base, {}).request("POST", "/identity/v3/auth/tokens", body)
    if st != 201:
        raise RuntimeError("token: %s %s" % (st, data[:200]))
    return h["x-subject-token"]


class Ledger:
    """What the server acknowledged, per image: the writes that must survive any crash.
    A write in flight when the server died may or may not have happened: its possible
    outcomes are kept as alternatives until the next acknowledged write."""

    def __init__(self):
        self.lock = threading.Lock()
        self.images = {}  # id -> {"data": (size, md5, sha) | None, "maybe_data": [...],
        #                          "props": {k: v}, "maybe_props": {k: set}, "deleted": bool,
        #                          "maybe_deleted": bool}
        self.acked = 0

    def created(self, iid):
        with self.lock:
            self.acked += 1
            self.images[iid] = {"data": None, "maybe_data": [], "props": {}, "maybe_props": {},
                                "deleted": False, "maybe_deleted": False}

    def attempt(self, iid, kind, value):
        with self.lock:
            e = self.images[iid]
            if kind == "data":
                e["maybe_data"].append(value)
            elif kind == "prop":
                e["maybe_props"].setdefault(value[0], set()).add(value[1])
            else:
                e["maybe_deleted"] = True

    def ack(self, iid, kind, value):
        with self.lock:
            self.acked += 1
            e = self.images[iid]
            if kind == "data":
                e["data"], e["maybe_data"] = value, []
            elif kind == "prop":
                e["props"][value[0]] = value[1]
                e["maybe_props"].pop(value[0], None)
            else:
                e["deleted"] = True


class Load:
    """Client threads running mixed operations until stopped; each works on images of its
    own, so that their outcomes do not depend on each other."""

    def __init__(self, base, tok, clients, ledger, crash, max_images=12, sizes=SIZES):
        self.base, self.tok, self.ledger, self.crash = base, tok, ledger, crash
        self.max_images, self.sizes = max_images, sizes
        self.stop_ev = threading.Event()
        self.lock = threading.Lock()
        self.ops = 0
        self.errors = 0
        self.error_samples = []
        self.corrupt = []
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True) for i in range(clients)]

    def start(self):
        for t in self.threads:
            t.start()

    def stop(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join()

    def error(self, what):
        with self.lock:
            self.errors += 1
            if len(self.error_samples) < 10:
                self.error_samples.append(what)

    def run(self, n):
        rnd = random.Random(n * 7919 + int(time.time()))
        c = Client(self.base, {"X-Auth-Token": self.tok}, timeout=120)
        mine = []  # this client's images that have acknowledged data
        while not self.stop_ev.is_set():
            op = rnd.choices(["upload", "download", "patch", "delete"], [4, 4, 2, 1])[0]
            if op != "upload" and not mine:
                op = "upload"
            if op == "upload" and len(mine) >= self.max_images:
                op = "delete"
            try:
                getattr(self, op)(c, rnd, mine)
                with self.lock:
                    self.ops += 1
            except (OSError, http.client.HTTPException) as e:
                # The server was killed under the request (crash phase): its outcome is open.
                c.close()
                if not self.crash:
                    self.error("%s: %s" % (op, e))
                time.sleep(0.05)

    def check(self, op, st, ok, data=b""):
        if st in ok:
            return True
        if not (self.crash and isinstance(st, str)):
            self.error("%s: %s %s" % (op, st, data[:160]))
        return False

    def upload(self, c, rnd, mine):
        st, _, data = c.request("POST", "/v2/images", {
            "name": "torture", "disk_format": "raw", "container_format": "bare"})
        if not self.check("create", st, (201,), data):
            return
        iid = json.loads(data)["id"]
        self.ledger.created(iid)
        blob = rnd.randbytes(rnd.choice(self.sizes))
        if blob[510:512] == b"\x55\xaa":
            # A partition table's signature (one upload in 65,536): the random entries after
            # it fail the format inspector's safety checks, as Glance's would (415).
            blob = blob[:510] + b"\x00" + blob[511:]
        record = (len(blob), hashlib.md5(blob).hexdigest(), hashlib.sha512(blob).hexdigest())
        self.ledger.attempt(iid, "data", record)
        st, data, _ = c.upload_stream("/v2/images/%s/file" % iid, len(blob), blob or b"", chunked=not blob)
        if self.check("upload", st, (204,), data):
            self.ledger.ack(iid, "data", record)
            mine.append((iid, record))

    def download(self, c, rnd, mine):
        iid, (size, md5, sha) = rnd.choice(mine)
        d = Digests()
        st, got = c.download_stream("/v2/images/%s/file" % iid, hasher=d)
        if not self.check("download", st, (200, 204)):
            return
        if got != size and self.crash:
            return  # cut short by a kill (http.client reports an early end as the end)
        if (got, d.md5.hexdigest(), d.sha.hexdigest()) != (size, md5, sha):
            with self.lock:
                self.corrupt.append(iid)

    def patch(self, c, rnd, mine):
        iid, _ = rnd.choice(mine)
        value = str(rnd.randrange(1 << 30))
        self.ledger.attempt(iid, "prop", ("torture_value", value))
        st, _, data = c.request("PATCH", "/v2/images/" + iid, json.dumps(
            [{"op": "add", "path": "/torture_value", "value": value}]).encode(), {"Content-Type": PATCH_CT})
        if self.check("patch", st, (200,), data):
            self.ledger.ack(iid, "prop", ("torture_value", value))

    def delete(self, c, rnd, mine):
        # Once asked, the image is no longer this client's to use: a delete cut by a kill
        # may have happened (the ledger keeps both outcomes open).
        iid, _ = mine.pop(rnd.randrange(len(mine)))
        self.ledger.attempt(iid, "delete", None)
        st, _, data = c.request("DELETE", "/v2/images/" + iid)
        if self.check("delete", st, (204,), data):
            self.ledger.ack(iid, "delete", None)


def verify(base, tok, ledger):
    """Checks every image of the ledger against what the server acknowledged."""
    c = Client(base, {"X-Auth-Token": tok}, timeout=120)
    problems, verified = [], 0
    for iid, e in ledger.images.items():
        st, _, data = c.request("GET", "/v2/images/" + iid)
        if e["deleted"]:
            if st != 404:
                problems.append("%s: deleted (acknowledged) but %s" % (iid, st))
            continue
        if st == 404:
            if not e["maybe_deleted"]:
                problems.append("%s: lost (404)" % iid)
            continue
        if st != 200:
            problems.append("%s: GET %s" % (iid, st))
            continue
        image = json.loads(data)
        for k, v in e["props"].items():
            if image.get(k) != v and image.get(k) not in e["maybe_props"].get(k, ()):
                problems.append("%s: property %s is %r, acknowledged %r" % (iid, k, image.get(k), v))
        possible = ([e["data"]] if e["data"] else []) + e["maybe_data"]
        if image["status"] == "active":
            record = (image["size"], image["checksum"], image["os_hash_value"])
            if record not in possible:
                problems.append("%s: active with %r, not a data written" % (iid, record))
                continue
            d = Digests()
            st, got = c.download_stream("/v2/images/%s/file" % iid, hasher=d)
            if (st if record[0] else 200, got, d.md5.hexdigest(), d.sha.hexdigest()) != (200,) + record:
                problems.append("%s: download %s gave %d bytes with other digests" % (iid, st, got))
            else:
                verified += 1
        elif e["data"]:
            problems.append("%s: data acknowledged but status %s" % (iid, image["status"]))
        elif image["status"] != "queued":
            problems.append("%s: upload not acknowledged, status %s (not queued)" % (iid, image["status"]))
    return verified, problems


def active_bytes(base, tok):
    """Count and total size of the active images, through the API."""
    c = Client(base, {"X-Auth-Token": tok})
    count, total, path = 0, 0, "/v2/images?limit=1000"
    while path:
        st, _, data = c.request("GET", path)
        page = json.loads(data)
        for i in page["images"]:
            if i["status"] == "active":
                count, total = count + 1, total + (i["size"] or 0)
        path = page.get("next")
    return count, total


def files_on_disk(root):
    count, total = 0, 0
    for d, _, names in os.walk(root):
        for n in names:
            count, total = count + 1, total + os.path.getsize(os.path.join(d, n))
    return count, total


def fsck(binary, data_dir, settings):
    args = [binary, "admin", "fsck", "--data-dir", data_dir, "--log-level", "error"]
    for s in settings:
        args += ["--set", s]
    r = subprocess.run(args, capture_output=True, text=True)
    lines = r.stdout.strip().splitlines()
    summary = lines[-1] if lines else r.stderr.strip()
    kinds = {k: sum(1 for l in lines if l.startswith(k)) for k in (
        "abandoned upload", "orphaned pending data", "orphaned committed data", "damaged image")}
    return r.returncode, summary, kinds


def crash_phase(a, summary):
    data_dir = os.path.join(a.work, "crash")
    settings = ["upload_lease_seconds=4"]
    server = Server(a.bin, data_dir, a.port, settings, os.path.join(a.work, "crash.log"))
    base = "http://127.0.0.1:%d" % a.port
    server.start()
    tok = token(base)
    ledger = Ledger()
    load = Load(base, tok, a.clients, ledger, crash=True)
    load.start()
    rnd = random.Random(1)
    restarts = []
    for i in range(a.kills):
        time.sleep(rnd.uniform(0.5, 2.5))
        server.kill9()
        t0 = time.time()
        server.start()
        restarts.append(time.time() - t0)
        if (i + 1) % 10 == 0:
            log("crash: %d kills, %d acknowledged writes" % (i + 1, ledger.acked))
    time.sleep(1)
    load.stop()
    # Uploads cut by the last kill are undone once their leases run out.
    time.sleep(6)
    verified, problems = verify(base, tok, ledger)
    problems += ["download during load did not match: %s" % i for i in load.corrupt]
    active_count, active_total = active_bytes(base, tok)
    server.stop()
    # The sweep on demand, with no grace: the server is stopped, nothing is in flight.
    grace = settings + ["orphan_grace_seconds=0"]
    rc, swept, found = fsck(a.bin, data_dir, grace)
    if rc != 0:
        problems.append("fsck: exit %d: %s" % (rc, swept))
    _, after, _ = fsck(a.bin, data_dir, grace)
    if "orphaned objects removed: 0 (0 bytes); damaged images: 0" not in after:
        problems.append("a second fsck still found something: " + after)
    problems += ["error under load: %s" % e for e in load.error_samples]
    files, disk = files_on_disk(os.path.join(data_dir, "images"))
    orphaned = disk - active_total
    if orphaned != 0 or files != active_count:
        problems.append("on disk %d files, %d bytes; active images %d, %d bytes" % (
            files, disk, active_count, active_total))
    summary["crash"] = {
        "kills": a.kills, "restarts_ok": len(restarts), "restart_max_s": round(max(restarts or [0]), 2),
        "acknowledged_writes": ledger.acked, "images": len(ledger.images), "images_verified": verified,
        "active_images": active_count, "active_bytes": active_total, "fsck_sweep": swept, "fsck_found": found,
        "fsck_after": after, "files_on_disk": files, "orphaned_bytes": orphaned,
        "ops": load.ops, "load_errors": load.errors, "problems": problems[:20], "problem_count": len(problems),
    }
    return not problems


def soak_phase(a, summary):
    data_dir = os.path.join(a.work, "soak")
    server = Server(a.bin, data_dir, a.port, [], os.path.join(a.work, "soak.log"))
    base = "http://127.0.0.1:%d" % a.port
    server.start()
    tok = token(base)
    load = Load(base, tok, a.soak_clients, Ledger(), crash=False, max_images=8,
                sizes=[0, 1, 4096, 65536, 300_000, 1 << 20, 4 << 20])
    # Warm up for a few seconds, then take the starting figures.
    load.start()
    time.sleep(min(10, a.soak_seconds / 10))
    samples = [server.rss_and_fds()]
    t_end = time.time() + a.soak_seconds
    while time.time() < t_end:
        time.sleep(min(a.sample_seconds, max(0.1, t_end - time.time())))
        samples.append(server.rss_and_fds())
    load.stop()
    samples.append(server.rss_and_fds())
    server.stop()
    rss = [s[0] for s in samples]
    fds = [s[1] for s in samples]
    # RSS under load at 0, 25, 50, 75 and 100 % of the soak (the last sample is after it).
    under_load = rss[:-1]
    trend = [round(under_load[min(len(under_load) - 1, len(under_load) * q // 4)] / 2**20, 1) for q in range(5)]
    summary["soak"] = {
        "seconds": a.soak_seconds, "clients": a.soak_clients, "ops": load.ops, "errors": load.errors,
        "error_samples": load.error_samples, "corrupt_downloads": len(load.corrupt),
        "rss_start_mib": round(rss[0] / 2**20, 1), "rss_end_mib": round(rss[-1] / 2**20, 1),
        "rss_peak_mib": round(max(rss) / 2**20, 1), "fds_start": fds[0], "fds_end": fds[-1],
        "fds_peak": max(fds), "samples": len(samples), "rss_trend_mib": trend,
    }
    return load.errors == 0 and not load.corrupt


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin", required=True)
    p.add_argument("--work", required=True, help="a temporary directory of this run's own")
    p.add_argument("--port", type=int, default=19471)
    p.add_argument("--kills", type=int, default=100)
    p.add_argument("--clients", type=int, default=4, help="clients during the kills")
    p.add_argument("--soak-seconds", type=int, default=1800)
    p.add_argument("--soak-clients", type=int, default=16)
    p.add_argument("--sample-seconds", type=float, default=5)
    a = p.parse_args()
    summary = {}
    ok = True
    try:
        if a.kills > 0:
            ok = crash_phase(a, summary) and ok
        if a.soak_seconds > 0:
            ok = soak_phase(a, summary) and ok
    finally:
        for proc in Server.running:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    summary["ok"] = ok
    print(json.dumps(summary, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
