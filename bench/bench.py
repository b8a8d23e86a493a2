#!/usr/bin/env python3
"""Implementation-neutral benchmark driver for Glance-v2-compatible image APIs.

(Glimpse's copy of ../shared/bench/bench.py, with the filtered and sorted list phases.)

Standard library only (http.client + threads). Point it at any server that
speaks the OpenStack Image API v2:

  # Glance started by start-glance.sh (trusted-header no-auth mode):
  python3 bench.py --base http://127.0.0.1:9292 \
      -H 'X-Identity-Status: Confirmed' -H 'X-Project-Id: bench' \
      -H 'X-User-Id: bench' -H 'X-Roles: admin,member,reader' \
      --server-pidfile state/uwsgi.pid --out results/glance.json

  # a server that takes a keystone token:
  python3 bench.py --base https://img.example:9292 --token "$OS_TOKEN"

Phases (--phases, comma separated, run in this order):
  versions  GET /                                  (framework floor)
  create    POST /v2/images  x --creates  at every --concurrency level
  seed      create until the catalog (images tagged --catalog-tag) has --catalog images
  show      GET /v2/images/{id} x --shows          (random ids from the catalog)
  list25    GET /v2/images?limit=25 x --lists25    (first page, default sort)
  list1000  GET /v2/images?limit=1000 x --lists1000
  list25fs, list1000fs  the same with a filter and a sort (tag=<catalog tag>&sort=name:asc)
  walk      page the whole catalog with limit=1000 following "next" (single client)
  patch     PATCH add /bench_prop (json-patch v2.1) x --patches on random ids
  upload    create + PUT /file of --upload-size bytes, streamed from a 1 MiB
            pattern (random bytes, regenerated never; never the whole image in
            memory); single stream, then checks size/checksum/os_hash_value
  download  GET /file of that image at every --download-concurrency level,
            bytes discarded (counted only); with --cold-download first once
            from a dropped page cache (as an image not read for a while)
  delete    DELETE the images created by this run's create phases (optional)

For every measured phase the JSON summary reports: ops, errors (+status
counts, first error bodies), wall seconds, rate (ops/s), latency
p50/p90/p99/max/mean in ms, MB/s for transfers, connections opened, and,
when --server-pid/--server-pidfile is given (server on this machine),
server CPU (cores busy, summed over the process tree) and RSS (peak / end,
summed over the tree), plus client CPU and "other" CPU on the machine
(from /proc/stat) as a noise indicator.

--repeat N re-runs the read-only measurements and keeps the fastest run (all
runs listed under "repeat"): on a shared, noisy machine the best of N is the
closest to uncontended capacity; server_cpu_ms_per_op is the noise-robust
cost metric.

Keep-alive is used when the server allows it; a server that answers
"Connection: close" (e.g. uwsgi http-socket) makes every request open a new
TCP connection, which is then part of the measured latency.
"""
import argparse
import hashlib
import http.client
import json
import os
import random
import socket
import ssl
import sys
import threading
import time
import urllib.parse
import uuid

PATCH_CT = "application/openstack-images-v2.1-json-patch"
MiB = 1024 * 1024


def log(*a):
    print("[%s]" % time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


def parse_size(s):
    s = s.strip().lower()
    mult = 1
    for suf, m in (("gib", 1 << 30), ("mib", 1 << 20), ("kib", 1 << 10),
                   ("g", 1 << 30), ("m", 1 << 20), ("k", 1 << 10)):
        if s.endswith(suf):
            mult, s = m, s[: -len(suf)]
            break
    return int(float(s) * mult)


def pct(sorted_vals, p):
    if not sorted_vals:
        return None
    k = (len(sorted_vals) - 1) * p / 100.0
    f = int(k)
    c = min(f + 1, len(sorted_vals) - 1)
    return sorted_vals[f] + (sorted_vals[c] - sorted_vals[f]) * (k - f)


# --------------------------------------------------------------------------- HTTP
class Client:
    """One HTTP/1.1 connection, reopened transparently when the server closes it."""

    def __init__(self, base, headers, timeout=300.0, insecure=False):
        u = urllib.parse.urlsplit(base)
        self.https = u.scheme == "https"
        self.host = u.hostname
        self.port = u.port or (443 if self.https else 80)
        self.prefix = u.path.rstrip("/")
        self.headers = dict(headers)
        self.timeout = timeout
        self.ctx = None
        if self.https:
            self.ctx = ssl.create_default_context()
            if insecure:
                self.ctx.check_hostname = False
                self.ctx.verify_mode = ssl.CERT_NONE
        self.conn = None
        self.opened = 0

    def _connect(self):
        if self.https:
            c = http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout,
                                            context=self.ctx)
        else:
            c = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        c.connect()
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.conn = c
        self.opened += 1

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except Exception:
                pass
            self.conn = None

    def _hdrs(self, extra):
        h = dict(self.headers)
        if extra:
            h.update(extra)
        return h

    def request(self, method, path, body=None, headers=None):
        """Returns (status, headers_dict_lower, body_bytes). Retries once if a
        reused keep-alive connection turns out to be dead."""
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            headers = dict(headers or {})
            headers.setdefault("Content-Type", "application/json")
        for attempt in (0, 1):
            reused = self.conn is not None
            if self.conn is None:
                self._connect()
            try:
                self.conn.request(method, self.prefix + path, body=body,
                                  headers=self._hdrs(headers))
                r = self.conn.getresponse()
                data = r.read()
                rh = {k.lower(): v for k, v in r.getheaders()}
                if r.will_close:
                    self.close()
                return r.status, rh, data
            except (http.client.RemoteDisconnected, BrokenPipeError,
                    ConnectionResetError, http.client.CannotSendRequest,
                    http.client.BadStatusLine):
                self.close()
                if attempt == 0 and reused:
                    continue
                raise

    def upload_stream(self, path, total, block, chunked=False, ctype="application/octet-stream",
                      piece=65536):
        """PUT `total` bytes made of repeats of `block` without materialising them.
        Chunked mode sends HTTP chunks of `piece` bytes (glanceclient uses 64 KiB;
        uwsgi's default chunked-input-limit rejects chunks >= 1 MiB)."""
        self.close()  # always a fresh connection for the big transfer
        self._connect()
        c = self.conn
        c.putrequest("PUT", self.prefix + path, skip_accept_encoding=True)
        for k, v in self._hdrs({"Content-Type": ctype}).items():
            c.putheader(k, v)
        if chunked:
            c.putheader("Transfer-Encoding", "chunked")
        else:
            c.putheader("Content-Length", str(total))
        c.endheaders()
        sent = 0
        mv = memoryview(block)
        step = piece if chunked else len(block)
        send_error = None
        try:
            while sent < total:
                off = sent % len(block)
                n = min(step, total - sent, len(block) - off)
                if chunked:
                    c.send(b"%x\r\n" % n + mv[off:off + n].tobytes() + b"\r\n")
                else:
                    c.send(mv[off:off + n])
                sent += n
            if chunked:
                c.send(b"0\r\n\r\n")
        except OSError as e:  # server gave up early; still try to read its answer
            send_error = "%s: %s" % (type(e).__name__, e)
        try:
            r = c.getresponse()
        except Exception as e:
            self.close()
            return "exc:%s" % type(e).__name__, (send_error or str(e)).encode(), sent
        data = r.read()
        st = r.status
        self.close()
        return st, data, sent

    def download_stream(self, path, bufsize=1 << 20, hasher=None):
        self.close()
        self._connect()
        self.conn.request("GET", self.prefix + path, headers=self._hdrs(None))
        r = self.conn.getresponse()
        buf = bytearray(bufsize)
        mv = memoryview(buf)
        got = 0
        while True:
            n = r.readinto(buf)
            if not n:
                break
            got += n
            if hasher is not None:
                hasher.update(mv[:n])
        st = r.status
        self.close()
        return st, got


def drop_page_cache():
    """Writes back and drops the kernel's page cache, so that the next read of the image
    comes from the disk whichever way the server wrote it. Needs root."""
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


# --------------------------------------------------------------------------- resource sampling
CLK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _read_stat(pid):
    with open("/proc/%d/stat" % pid) as f:
        s = f.read()
    rest = s[s.rfind(")") + 2:].split()
    # fields after comm: state(0) ppid(1) ... utime(11) stime(12) cutime(13) cstime(14) ... rss(21)
    return int(rest[1]), int(rest[11]) + int(rest[12]), int(rest[13]) + int(rest[14]), int(rest[21])


def _children_map():
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                ppid = _read_stat(int(d))[0]
            except (OSError, IndexError, ValueError):
                continue
            kids.setdefault(ppid, []).append(int(d))
    return kids


def _tree(roots):
    kids = _children_map()
    out, stack = [], list(roots)
    while stack:
        p = stack.pop()
        out.append(p)
        stack.extend(kids.get(p, []))
    return out


def _proc_total_busy():
    with open("/proc/stat") as f:
        parts = f.readline().split()[1:]
    v = list(map(int, parts))
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    return sum(v[:8]) - idle, sum(v[:8])


def server_pids(pids, pidfile):
    """The pids given, and the one a pidfile names (uWSGI's, nginx's master)."""
    pids = list(pids)
    if pidfile:
        with open(pidfile) as f:
            pids.append(int(f.read().split()[0]))
    return pids


class Sampler:
    """Samples RSS and CPU summed over the process trees of the server's root pids (several
    for a deployment: API nodes, database, load balancer)."""

    def __init__(self, pids, interval=0.25):
        self.pids = list(pids or [])
        self.pid = self.pids[0] if self.pids else None
        self.interval = interval
        self.lock = threading.Lock()
        self.tree = _tree(self.pids) if self.pids else []
        self.tree_t = time.time()
        self.peak = 0
        self.last = 0
        self.stop_ev = threading.Event()
        self.th = None
        if self.pids:
            self.th = threading.Thread(target=self._run, daemon=True)
            self.th.start()

    def cpu_ticks(self):
        if not self.pid:
            return 0
        tot = 0
        for p in self.tree:
            try:
                _, cpu, ccpu, _ = _read_stat(p)
                tot += cpu + (ccpu if p in self.pids else 0)
            except (OSError, IndexError, ValueError):
                pass
        return tot

    def rss(self):
        tot = 0
        for p in self.tree:
            try:
                tot += _read_stat(p)[3] * PAGE
            except (OSError, IndexError, ValueError):
                pass
        return tot

    def _run(self):
        while not self.stop_ev.wait(self.interval):
            if time.time() - self.tree_t > 2.0:
                self.tree = _tree(self.pids)
                self.tree_t = time.time()
            r = self.rss()
            with self.lock:
                self.last = r
                self.peak = max(self.peak, r)

    def reset_peak(self):
        with self.lock:
            self.peak = self.last = self.rss() if self.pid else 0

    def snapshot(self):
        return {"server_ticks": self.cpu_ticks(), "client": sum(os.times()[:2]),
                "sys": _proc_total_busy(), "t": time.time()}

    def report(self, a, b):
        wall = b["t"] - a["t"]
        busy = b["sys"][0] - a["sys"][0]
        total = b["sys"][1] - a["sys"][1]
        ncpu = os.cpu_count() or 1
        machine_cores = (busy / total * ncpu) if total else None
        client = (b["client"] - a["client"]) / wall if wall else None
        out = {"client_cpu_cores": round(client, 3) if client is not None else None,
               "machine_busy_cores": round(machine_cores, 3) if machine_cores is not None else None}
        if self.pid:
            srv = (b["server_ticks"] - a["server_ticks"]) / CLK / wall if wall else None
            out["server_cpu_cores"] = round(srv, 3)
            out["server_cpu_s"] = round((b["server_ticks"] - a["server_ticks"]) / CLK, 2)
            with self.lock:
                out["server_rss_peak_mb"] = round(self.peak / MiB, 1)
                out["server_rss_end_mb"] = round(self.rss() / MiB, 1)
            out["server_processes"] = len(self.tree)
            if machine_cores is not None:
                out["other_cpu_cores"] = round(max(0.0, machine_cores - srv - client), 3)
        return out


# --------------------------------------------------------------------------- runner
class Bench:
    def __init__(self, a):
        self.a = a
        self.headers = {}
        for h in a.header:
            k, v = h.split(":", 1)
            self.headers[k.strip()] = v.strip()
        if a.token:
            self.headers["X-Auth-Token"] = a.token
        self.headers.setdefault("Accept", "application/json")
        pids = server_pids(a.server_pid, a.server_pidfile)
        self.sampler = Sampler(pids)
        self.results = {}
        self.run_id = uuid.uuid4().hex[:8]
        self.created = []       # ids created by create phases (this run)
        self.catalog = []       # ids of catalog images
        self.big_image = None

    def client(self):
        return Client(self.a.base, self.headers, timeout=self.a.timeout, insecure=self.a.insecure)

    def measure(self, label, total, conc, make, ok=(200, 201, 202, 204), on_ok=None,
                max_seconds=None, repeat=1):
        """Run the measurement `repeat` times (read-only phases on a noisy
        machine); keep the fastest run and list all runs' rate/p50/p99."""
        runs = []
        for k in range(repeat):
            runs.append(self._measure_once(label, total, conc, make, ok, on_ok, max_seconds))
        if repeat > 1:
            best = max(runs, key=lambda r: r["rate_per_s"] or 0)
            best = dict(best)
            best["repeat"] = {"n": repeat, "picked": "fastest",
                              "rates": [r["rate_per_s"] for r in runs],
                              "p50s_ms": [r["lat_ms"]["p50"] for r in runs],
                              "p99s_ms": [r["lat_ms"]["p99"] for r in runs],
                              "server_cpu_ms_per_op": [r.get("server_cpu_ms_per_op") for r in runs],
                              "other_cpu_cores": [r.get("other_cpu_cores") for r in runs]}
            self.results[label]["c%d" % conc] = best
            return best
        return runs[0]

    # generic closed-loop measurement: `make(i, client)` -> (method, path, body, headers)
    def _measure_once(self, label, total, conc, make, ok=(200, 201, 202, 204), on_ok=None,
                      max_seconds=None):
        max_seconds = max_seconds or self.a.max_seconds
        lock = threading.Lock()
        nxt = [0]
        lat = [[] for _ in range(conc)]
        errs = {}
        err_samples = []
        clients = [self.client() for _ in range(conc)]
        bytes_in = [0] * conc
        deadline = [None]
        start_ev = threading.Event()

        def worker(w):
            cl = clients[w]
            start_ev.wait()
            while True:
                with lock:
                    i = nxt[0]
                    if i >= total or time.time() > deadline[0]:
                        return
                    nxt[0] += 1
                method, path, body, hdrs = make(i, cl)
                t0 = time.perf_counter()
                try:
                    st, rh, data = cl.request(method, path, body, hdrs)
                except Exception as e:  # network error counts as error
                    st, data = "exc:%s" % type(e).__name__, str(e).encode()
                dt = time.perf_counter() - t0
                lat[w].append(dt)
                bytes_in[w] += len(data) if isinstance(data, bytes) else 0
                if st in ok:
                    if on_ok:
                        on_ok(i, data)
                else:
                    with lock:
                        errs[str(st)] = errs.get(str(st), 0) + 1
                        if len(err_samples) < 3:
                            err_samples.append("%s %s -> %s %s" % (
                                method, path, st, data[:300].decode("utf-8", "replace")))

        ths = [threading.Thread(target=worker, args=(w,), daemon=True) for w in range(conc)]
        for t in ths:
            t.start()
        self.sampler.reset_peak()
        s0 = self.sampler.snapshot()
        deadline[0] = time.time() + max_seconds
        t0 = time.perf_counter()
        start_ev.set()
        for t in ths:
            t.join()
        wall = time.perf_counter() - t0
        s1 = self.sampler.snapshot()
        for c in clients:
            c.close()
        allv = sorted(x for l in lat for x in l)
        n = len(allv)
        res = {
            "ops": n, "concurrency": conc, "requested_ops": total,
            "errors": sum(errs.values()), "error_status": errs,
            "wall_s": round(wall, 3),
            "rate_per_s": round(n / wall, 2) if wall else None,
            "lat_ms": {"p50": _ms(pct(allv, 50)), "p90": _ms(pct(allv, 90)),
                       "p99": _ms(pct(allv, 99)), "max": _ms(allv[-1] if allv else None),
                       "mean": _ms(sum(allv) / n if n else None)},
            "resp_bytes_mean": int(sum(bytes_in) / n) if n else 0,
            "connections_opened": sum(c.opened for c in clients),
            "truncated_by_time": n < total,
        }
        if err_samples:
            res["error_samples"] = err_samples
        res.update(self.sampler.report(s0, s1))
        if n and res.get("server_cpu_s") is not None:
            # noise-robust: CPU time the server burnt per request
            res["server_cpu_ms_per_op"] = round(res["server_cpu_s"] * 1000.0 / n, 3)
        self.results.setdefault(label, {})["c%d" % conc] = res
        log("%-10s c=%-3d ops=%-6d err=%-4d %8.1f/s  p50=%7.2fms p99=%8.2fms  srv=%s cores rss=%s MB" % (
            label, conc, n, res["errors"], res["rate_per_s"] or 0, res["lat_ms"]["p50"] or 0,
            res["lat_ms"]["p99"] or 0, res.get("server_cpu_cores"), res.get("server_rss_peak_mb")))
        return res

    # ----------------------------------------------------------------- phases
    def image_body(self, i, prefix):
        return {"name": "%s-%s-%d" % (prefix, self.run_id, i), "disk_format": "raw",
                "container_format": "bare", "visibility": "private",
                "tags": [self.a.catalog_tag, "bench"], "min_ram": 0, "min_disk": 0,
                "bench_seq": str(i)}

    def ph_versions(self):
        for c in self.conc:
            self.measure("versions", self.a.versions, c,
                         lambda i, cl: ("GET", "/", None, None), ok=(200, 300),
                         repeat=self.a.repeat)

    def ph_create(self):
        lock = threading.Lock()

        def on_ok(i, data):
            iid = json.loads(data)["id"]
            with lock:
                self.created.append(iid)
        for c in self.conc:
            self.measure("create", self.a.creates, c,
                         lambda i, cl, c=c: ("POST", "/v2/images",
                                             self.image_body(i, "bc%d" % c), None),
                         ok=(201,), on_ok=on_ok)

    def list_catalog(self, record=False):
        """Walk the catalog tag with limit=1000; returns ids."""
        cl = self.client()
        ids, path, pages, lat = [], "/v2/images?limit=1000&tag=%s" % self.a.catalog_tag, 0, []
        s0 = self.sampler.snapshot()
        self.sampler.reset_peak()
        t0 = time.perf_counter()
        while path:
            t1 = time.perf_counter()
            st, rh, data = cl.request("GET", path)
            lat.append(time.perf_counter() - t1)
            if st != 200:
                raise RuntimeError("list failed: %s %s" % (st, data[:300]))
            doc = json.loads(data)
            ids.extend(im["id"] for im in doc["images"])
            pages += 1
            nx = doc.get("next")
            path = nx[len(cl.prefix):] if nx and cl.prefix and nx.startswith(cl.prefix) else nx
        wall = time.perf_counter() - t0
        s1 = self.sampler.snapshot()
        cl.close()
        if record:
            lat.sort()
            res = {"images": len(ids), "pages": pages, "wall_s": round(wall, 3),
                   "images_per_s": round(len(ids) / wall, 1) if wall else None,
                   "page_lat_ms": {"p50": _ms(pct(lat, 50)), "max": _ms(lat[-1])}}
            res.update(self.sampler.report(s0, s1))
            self.results["walk"] = {"c1": res}
            log("walk       %d images in %d pages, %.2fs (%.0f img/s)" % (
                len(ids), pages, wall, res["images_per_s"] or 0))
        return ids

    def ph_seed(self):
        c = self.a.seed_concurrency or max(self.conc)
        for rnd in range(5):  # failed creates (e.g. 500s) are simply retried
            have = self.list_catalog()
            need = self.a.catalog - len(have)
            log("seed: catalog has %d images tagged %s, creating %d" % (
                len(have), self.a.catalog_tag, max(0, need)))
            if need <= 0:
                break
            self.measure("seed_create" if rnd == 0 else "seed_create_retry%d" % rnd, need, c,
                         lambda i, cl, rnd=rnd: ("POST", "/v2/images",
                                                 self.image_body(i, "seed%d" % rnd), None),
                         ok=(201,), max_seconds=max(self.a.max_seconds, 3600))
        self.catalog = self.list_catalog()
        log("seed: catalog now %d images" % len(self.catalog))

    def ensure_catalog(self):
        if not self.catalog:
            self.catalog = self.list_catalog()
        if not self.catalog:
            raise SystemExit("no catalog images (run the seed phase)")

    def ph_show(self):
        self.ensure_catalog()
        rnd = random.Random(1)
        for c in self.conc:
            self.measure("show", self.a.shows, c,
                         lambda i, cl: ("GET", "/v2/images/%s" % rnd.choice(self.catalog), None, None),
                         ok=(200,), repeat=self.a.repeat)

    def ph_list25(self):
        self.ensure_catalog()
        for c in self.conc:
            self.measure("list25", self.a.lists25, c,
                         lambda i, cl: ("GET", "/v2/images?limit=25", None, None), ok=(200,),
                         repeat=self.a.repeat)

    def ph_list1000(self):
        self.ensure_catalog()
        for c in self.conc:
            self.measure("list1000", self.a.lists1000, c,
                         lambda i, cl: ("GET", "/v2/images?limit=1000", None, None), ok=(200,),
                         repeat=self.a.repeat)

    def _list_filtered(self, label, n, limit):
        """A page with a filter and a sort: the catalog tag, newest names last."""
        self.ensure_catalog()
        path = "/v2/images?limit=%d&tag=%s&sort=name:asc" % (limit, self.a.catalog_tag)
        for c in self.conc:
            self.measure(label, n, c, lambda i, cl: ("GET", path, None, None), ok=(200,), repeat=self.a.repeat)

    def ph_list25fs(self):
        self._list_filtered("list25fs", self.a.lists25, 25)

    def ph_list1000fs(self):
        self._list_filtered("list1000fs", self.a.lists1000, 1000)

    def ph_walk(self):
        self.catalog = self.list_catalog(record=True)

    def ph_patch(self):
        self.ensure_catalog()
        rnd = random.Random(2)
        hdr = {"Content-Type": PATCH_CT}
        for c in self.conc:
            self.measure("patch", self.a.patches, c,
                         lambda i, cl: ("PATCH", "/v2/images/%s" % rnd.choice(self.catalog),
                                        json.dumps([{"op": "add", "path": "/bench_prop",
                                                     "value": "v%d" % i}]).encode(), hdr),
                         ok=(200,))

    def _block(self):
        if self.a.upload_source == "zero":
            return bytes(MiB)
        return random.Random(42).randbytes(MiB)

    def ph_upload(self):
        size = parse_size(self.a.upload_size)
        block = self._block()
        log("upload: precomputing expected md5/sha512 of %d bytes (not timed)" % size)
        md5, sha = hashlib.md5(), hashlib.sha512()
        left = size
        while left:
            n = min(len(block), left)
            md5.update(block[:n]); sha.update(block[:n]); left -= n
        # Best of --repeat uploads, as for the other measurements; the others are deleted.
        runs = []
        for _ in range(max(1, self.a.repeat)):
            res, iid = self._upload_once(size, block, md5.hexdigest(), sha.hexdigest())
            if res["status"] not in (201, 204):
                self.results["upload"] = {"c1": res}
                log("upload FAILED: %s %s" % (res["status"], res["error"][:200]))
                return
            log("upload     %.1f MB/s (%d bytes, %.2fs) status=%s srv=%s cores rss=%s MB ok=%s/%s/%s" % (
                res["mb_per_s"], res["bytes"], res["wall_s"], res["status"], res.get("server_cpu_cores"),
                res.get("server_rss_peak_mb"), res.get("size_ok"), res.get("checksum_ok"),
                res.get("os_hash_ok")))
            runs.append((res, iid))
        best, best_id = max(runs, key=lambda r: r[0]["mb_per_s"])
        for res, iid in runs:
            if iid != best_id:
                self._delete_image(iid)
        best["runs_mb_per_s"] = [r["mb_per_s"] for r, _ in runs]
        peaks = [r.get("server_rss_peak_mb") for r, _ in runs if r.get("server_rss_peak_mb") is not None]
        if peaks:
            best["server_rss_peak_mb"] = max(peaks)
        self.results["upload"] = {"c1": best}
        self.big_image = (best_id, size, md5.hexdigest())

    def _delete_image(self, iid):
        cl = self.client()
        cl.request("DELETE", "/v2/images/%s" % iid)
        cl.close()

    def _upload_once(self, size, block, md5hex, shahex):
        cl = self.client()
        st, rh, data = cl.request("POST", "/v2/images", {
            "name": "bench-big-%s" % self.run_id, "disk_format": "raw",
            "container_format": "bare", "tags": ["bench-big"]})
        if st != 201:
            raise RuntimeError("create for upload failed %s %s" % (st, data[:300]))
        iid = json.loads(data)["id"]
        cl.close()
        self.sampler.reset_peak()
        s0 = self.sampler.snapshot()
        t0 = time.perf_counter()
        st, body, sent = cl.upload_stream("/v2/images/%s/file" % iid, size, block,
                                          chunked=self.a.chunked,
                                          piece=parse_size(self.a.chunk_size))
        wall = time.perf_counter() - t0
        s1 = self.sampler.snapshot()
        res = {"bytes": sent, "status": st, "wall_s": round(wall, 3),
               "mb_per_s": round(sent / MiB / wall, 1), "chunked": self.a.chunked,
               "source": self.a.upload_source}
        if st not in (201, 204):
            res["error"] = body[:500].decode("utf-8", "replace")
            return res, iid
        res.update(self.sampler.report(s0, s1))
        st2, rh, data = cl.request("GET", "/v2/images/%s" % iid)
        cl.close()
        if st2 == 200:
            im = json.loads(data)
            res["image_status"] = im.get("status")
            res["size_ok"] = im.get("size") == size
            res["checksum_ok"] = im.get("checksum") == md5hex
            res["os_hash_ok"] = (im.get("os_hash_algo") == "sha512" and im.get("os_hash_value") == shahex)
        return res, iid

    def _download_once(self, iid, size, md5hex, c):
        got = [0] * c
        sts = [None] * c
        lat = [0.0] * c
        verify = self.a.verify_download and c == 1

        def w(k):
            cl = self.client()
            h = hashlib.md5() if verify else None
            t0 = time.perf_counter()
            sts[k], got[k] = cl.download_stream("/v2/images/%s/file" % iid, hasher=h)
            lat[k] = time.perf_counter() - t0
            if h is not None:
                sts[k] = (sts[k], h.hexdigest() == md5hex)
        self.sampler.reset_peak()
        s0 = self.sampler.snapshot()
        t0 = time.perf_counter()
        ths = [threading.Thread(target=w, args=(k,)) for k in range(c)]
        for t in ths:
            t.start()
        for t in ths:
            t.join()
        wall = time.perf_counter() - t0
        s1 = self.sampler.snapshot()
        tot = sum(got)
        res = {"streams": c, "bytes": tot, "wall_s": round(wall, 3),
               "mb_per_s_aggregate": round(tot / MiB / wall, 1),
               "mb_per_s_per_stream_mean": round(sum(g / MiB / l for g, l in zip(got, lat) if l) / c, 1),
               "status": sts, "complete": all(g == size for g in got)}
        res.update(self.sampler.report(s0, s1))
        return res

    def ph_download(self):
        if not self.big_image and "upload" in self.results:
            log("download skipped: upload failed"); return
        if not self.big_image:
            raise SystemExit("download phase needs the upload phase in the same run")
        iid, size, md5hex = self.big_image
        levels = [("c%d" % c, c) for c in self.dconc]
        if self.a.cold_download:
            if drop_page_cache():
                levels.insert(0, ("cold", 1))
            else:
                log("download: cannot drop the page cache (needs root): no cold-cache measurement")
        for key, c in levels:
            # Like the read-only phases, keep the fastest of --repeat runs (a single 1 GiB
            # transfer is at the mercy of a noisy neighbour); peak RSS is the peak of all.
            runs = []
            for _ in range(max(1, self.a.repeat)):
                if key == "cold":
                    drop_page_cache()
                runs.append(self._download_once(iid, size, md5hex, c))
            res = max(runs, key=lambda r: r["mb_per_s_aggregate"])
            res["runs_mb_per_s"] = [r["mb_per_s_aggregate"] for r in runs]
            peaks = [r.get("server_rss_peak_mb") for r in runs if r.get("server_rss_peak_mb") is not None]
            if peaks:
                res["server_rss_peak_mb"] = max(peaks)
            self.results.setdefault("download", {})[key] = res
            log("download   %-4s %.1f MB/s aggregate (runs %s) complete=%s srv=%s cores rss=%s MB" % (
                key, res["mb_per_s_aggregate"], res["runs_mb_per_s"], res["complete"], res.get("server_cpu_cores"),
                res.get("server_rss_peak_mb")))
        if not self.a.keep_big:
            self._delete_image(iid)

    def ph_delete(self):
        ids = list(self.created)
        if not ids:
            log("delete: nothing created in this run"); return
        c = max(self.conc)
        self.measure("delete", len(ids), c,
                     lambda i, cl: ("DELETE", "/v2/images/%s" % ids[i], None, None), ok=(204,))

    def run(self):
        a = self.a
        self.conc = [int(x) for x in a.concurrency.split(",")]
        self.dconc = [int(x) for x in a.download_concurrency.split(",")]
        phases = [p.strip() for p in a.phases.split(",") if p.strip()]
        meta = {"base": a.base, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "run_id": self.run_id, "phases": phases, "concurrency": self.conc,
                "cpu_count": os.cpu_count(), "loadavg_start": os.getloadavg(),
                "python": sys.version.split()[0], "server_pids": self.sampler.pids,
                "args": {k: v for k, v in vars(a).items() if k not in ("token", "header")},
                "header_names": sorted(self.headers)}
        for p in phases:
            fn = getattr(self, "ph_" + p, None)
            if fn is None:
                raise SystemExit("unknown phase %s" % p)
            log("== phase %s" % p)
            fn()
        meta["loadavg_end"] = os.getloadavg()
        meta["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        return {"meta": meta, "results": self.results}


def _ms(v):
    return None if v is None else round(v * 1000.0, 3)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default="http://127.0.0.1:9292")
    ap.add_argument("-H", "--header", action="append", default=[],
                    help="extra request header 'Name: value' (repeatable)")
    ap.add_argument("--token", help="sent as X-Auth-Token")
    ap.add_argument("--insecure", action="store_true", help="https without verification")
    ap.add_argument("--phases", default="versions,create,seed,show,list25,list1000,walk,patch,upload,download")
    ap.add_argument("--concurrency", default="1,8", help="comma list of worker counts")
    ap.add_argument("--download-concurrency", default="1,4")
    ap.add_argument("--versions", type=int, default=2000)
    ap.add_argument("--creates", type=int, default=2000)
    ap.add_argument("--catalog", type=int, default=10000)
    ap.add_argument("--catalog-tag", default="benchcat")
    ap.add_argument("--seed-concurrency", type=int, default=0,
                    help="workers for seeding (default: max of --concurrency)")
    ap.add_argument("--shows", type=int, default=2000)
    ap.add_argument("--lists25", type=int, default=500)
    ap.add_argument("--lists1000", type=int, default=40)
    ap.add_argument("--patches", type=int, default=1000)
    ap.add_argument("--upload-size", default="1GiB")
    ap.add_argument("--upload-source", choices=["random", "zero"], default="random",
                    help="1 MiB pattern repeated: random bytes (default) or zeros")
    ap.add_argument("--chunked", action="store_true", help="upload with Transfer-Encoding: chunked")
    ap.add_argument("--chunk-size", default="64KiB", help="HTTP chunk size with --chunked")
    ap.add_argument("--verify-download", action="store_true",
                    help="md5 the single-stream download (costs client CPU)")
    ap.add_argument("--keep-big", action="store_true", help="do not delete the big image")
    ap.add_argument("--cold-download", action="store_true",
                    help="first download the image once more after dropping the page cache "
                         "(root only), reported as download 'cold'")
    ap.add_argument("--repeat", type=int, default=1,
                    help="repeat read-only measurements (versions/show/list*), the upload and "
                         "the downloads N times, report the fastest + all runs (noisy machines)")
    ap.add_argument("--max-seconds", type=float, default=300.0,
                    help="cap per measured phase/level; ops done so far are reported")
    ap.add_argument("--timeout", type=float, default=600.0)
    ap.add_argument("--server-pid", type=int, action="append", default=[],
                    help="server (master) pid on this machine; repeat to sum several processes' trees")
    ap.add_argument("--server-pidfile")
    ap.add_argument("--out", help="also write the JSON summary here")
    a = ap.parse_args()
    b = Bench(a)
    summary = b.run()
    txt = json.dumps(summary, indent=1)
    if a.out:
        os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
        with open(a.out, "w") as f:
            f.write(txt + "\n")
    print(txt)


if __name__ == "__main__":
    main()
