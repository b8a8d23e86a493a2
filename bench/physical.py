#!/usr/bin/env python3
"""The machine's limits that bound an image service, as JSON:

  md5 / sha512 hashing (one core, OpenSSL's `openssl speed` on 1 MiB blocks), in MiB/s,
  the data directory's disk (direct and synced writes, direct and cached reads),
  both digests and a direct write at once (what an upload does: its limit on this machine),
  loopback TCP (two processes, 1 MiB buffers).

usage: physical.py DATA_DIR [--out FILE]
"""
import json
import multiprocessing
import os
import re
import socket
import subprocess
import sys
import time

MiB = 1 << 20


def openssl_rate(algo):
    out = subprocess.run(["openssl", "speed", "-seconds", "3", "-bytes", str(MiB), "-evp", algo],
                         capture_output=True, text=True).stdout
    line = [l for l in out.splitlines() if l.startswith(algo)][-1]
    kbps = float(re.findall(r"([\d.]+)k", line)[-1])  # thousands of bytes per second
    return kbps * 1000 / MiB


def dd(args):
    out = subprocess.run(["dd"] + args, capture_output=True, text=True).stderr
    m = re.search(r"copied, ([\d.]+) s", out)
    return float(m.group(1))


def disk(data_dir):
    os.makedirs(data_dir, exist_ok=True)
    f = os.path.join(data_dir, "physical.bin")
    size_mib = 1024
    r = {}
    r["disk_write_direct_MiBps"] = size_mib / dd(["if=/dev/zero", "of=" + f, "bs=4M", "count=256", "oflag=direct"])
    r["disk_read_direct_MiBps"] = size_mib / dd(["if=" + f, "of=/dev/null", "bs=4M", "iflag=direct"])
    r["disk_write_synced_MiBps"] = size_mib / dd(["if=/dev/zero", "of=" + f, "bs=1M", "count=1024", "conv=fdatasync"])
    dd(["if=" + f, "of=/dev/null", "bs=1M"])  # warm the cache
    r["disk_read_cached_MiBps"] = size_mib / dd(["if=" + f, "of=/dev/null", "bs=1M"])
    os.unlink(f)
    return r


def hash_and_disk(data_dir):
    """What an upload does, by the standard tools, all at once: MD5 and SHA-512 on one core
    each (openssl speed, at the lower priority Glimpse hashes at) while dd writes 1 GiB with
    direct I/O. On a small machine the disk's driver competes with the hashing for the same
    cores, so this is the machine's limit for an upload, lower than either part alone."""
    f = os.path.join(data_dir, "physical-load.bin")
    procs = [subprocess.Popen(["nice", "-n", "5", "openssl", "speed", "-seconds", "4", "-bytes", str(MiB), "-evp", algo],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) for algo in ("md5", "sha512")]
    time.sleep(0.3)
    t = time.perf_counter()
    subprocess.run(["dd", "if=/dev/zero", "of=" + f, "bs=4M", "count=256", "oflag=direct"], capture_output=True)
    write = 1024 / (time.perf_counter() - t)
    rates = []
    for p, algo in zip(procs, ("md5", "sha512")):
        out = p.communicate()[0]
        line = [l for l in out.splitlines() if l.startswith(algo)][-1]
        rates.append(float(re.findall(r"([\d.]+)k", line)[-1]) * 1000 / MiB)
    os.unlink(f)
    return {"md5_while_writing_MiBps": rates[0], "sha512_while_writing_MiBps": rates[1],
            "disk_write_direct_while_hashing_MiBps": write, "upload_limit_MiBps": min(rates + [write])}


def _sink(port_q, total):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port_q.put(s.getsockname()[1])
    c, _ = s.accept()
    buf = bytearray(MiB)
    got = 0
    while got < total:
        n = c.recv_into(buf)
        if not n:
            break
        got += n
    c.close()


def loopback(total=4 << 30):
    q = multiprocessing.Queue()
    p = multiprocessing.Process(target=_sink, args=(q, total))
    p.start()
    port = q.get()
    s = socket.create_connection(("127.0.0.1", port))
    block = memoryview(bytes(MiB))
    t = time.perf_counter()
    sent = 0
    while sent < total:
        s.sendall(block)
        sent += MiB
    s.close()
    p.join()
    return total / (time.perf_counter() - t) / MiB


def main():
    data_dir = sys.argv[1] if len(sys.argv) > 1 else "."
    out = sys.argv[sys.argv.index("--out") + 1] if "--out" in sys.argv else None
    r = {"md5_MiBps": openssl_rate("md5"), "sha512_MiBps": openssl_rate("sha512")}
    # One core doing both digests, and two cores doing one each (the slower one bounds).
    r["hash_one_core_MiBps"] = 1 / (1 / r["md5_MiBps"] + 1 / r["sha512_MiBps"])
    r["hash_two_cores_MiBps"] = min(r["md5_MiBps"], r["sha512_MiBps"])
    r.update(disk(data_dir))
    r.update(hash_and_disk(data_dir))
    r["loopback_MiBps"] = loopback()
    r["cpu_count"] = os.cpu_count()
    r = {k: round(v, 1) if isinstance(v, float) else v for k, v in r.items()}
    text = json.dumps(r, indent=1)
    if out:
        with open(out, "w") as f:
            f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
