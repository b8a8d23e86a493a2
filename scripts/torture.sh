#!/usr/bin/env bash
# Crash and soak: does Glimpse lose or corrupt anything when killed, and does it stay flat
# under hours of load? (Issue 13; the figures of one run are in docs/performance/torture.md.)
#   1. KILLS cycles of kill -9 of `glimpse serve` (embedded SQLite and file store, on a
#      temporary data directory) under mixed load from CRASH_CLIENTS clients: uploads of
#      random data of varied sizes, downloads checked against the digests, property updates,
#      deletes; restarted after each kill. Then every image is checked against the writes
#      the server acknowledged (none lost, none corrupted, downloads match MD5 and SHA-512),
#      `glimpse admin fsck` sweeps, and the bytes on disk must equal the active images'
#      (orphaned bytes 0).
#   2. SOAK_SECONDS of mixed load from SOAK_CLIENTS clients, sampling the server's RSS and
#      open file descriptors from /proc every SAMPLE_SECONDS.
# Prints a table of the figures; exits 1 if any check fails.
# Env: GLIMPSE_BIN (.build/release/glimpse if built, else .build/debug/glimpse, built if
#      missing) KILLS (100) CRASH_CLIENTS (4) SOAK_SECONDS (1800) SOAK_CLIENTS (16)
#      SAMPLE_SECONDS (5) PORT (19471) TORTURE_SUMMARY (a path to copy the JSON summary to)
#      KEEP=1 keeps the temporary directory (logs, data).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${GLIMPSE_BIN:-}" ]; then
  GLIMPSE_BIN="$ROOT/.build/release/glimpse"
  [ -x "$GLIMPSE_BIN" ] || GLIMPSE_BIN="$ROOT/.build/debug/glimpse"
fi
[ -x "$GLIMPSE_BIN" ] || (cd "$ROOT" && swift build --product glimpse >&2)
WORK="$(mktemp -d "${TMPDIR:-/tmp}/glimpse-torture-XXXXXX")"
cleanup() { [ "${KEEP:-0}" = 1 ] && echo "kept $WORK" >&2 || rm -rf "$WORK"; }
trap cleanup EXIT

status=0
python3 "$ROOT/scripts/torture.py" --bin "$GLIMPSE_BIN" --work "$WORK" --port "${PORT:-19471}" \
  --kills "${KILLS:-100}" --clients "${CRASH_CLIENTS:-4}" --soak-seconds "${SOAK_SECONDS:-1800}" \
  --soak-clients "${SOAK_CLIENTS:-16}" --sample-seconds "${SAMPLE_SECONDS:-5}" \
  >"$WORK/summary.json" || status=$?
[ -s "$WORK/summary.json" ] || { echo "torture: the driver failed (exit $status)" >&2; exit 1; }

python3 - "$WORK/summary.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
rows = []
if "crash" in s:
    c = s["crash"]
    rows += [("kill -9 cycles survived", "%d of %d (slowest restart %.2f s)" % (c["restarts_ok"], c["kills"], c["restart_max_s"])),
             ("acknowledged writes", c["acknowledged_writes"]),
             ("images verified (data and digests)", "%d (of %d active, %d created)" % (c["images_verified"], c["active_images"], c["images"])),
             ("operations / errors under the kills", "%d / %d" % (c["ops"], c["load_errors"])),
             ("fsck after the kills", c["fsck_sweep"]),
             ("  of which", ", ".join("%s: %d" % kv for kv in c["fsck_found"].items())),
             ("orphaned bytes after the sweep", c["orphaned_bytes"]),
             ("problems", c["problem_count"])]
if "soak" in s:
    k = s["soak"]
    rows += [("soak", "%d s at %d clients, %d operations" % (k["seconds"], k["clients"], k["ops"])),
             ("soak errors", k["errors"] + k["corrupt_downloads"]),
             ("RSS start / end / peak (MiB)", "%s / %s / %s" % (k["rss_start_mib"], k["rss_end_mib"], k["rss_peak_mib"])),
             ("RSS under load at 0/25/50/75/100 % (MiB)", " / ".join(map(str, k["rss_trend_mib"]))),
             ("open fds start / end / peak", "%d / %d / %d" % (k["fds_start"], k["fds_end"], k["fds_peak"]))]
w = max(len(r[0]) for r in rows)
print("| %s | %s |\n|%s|%s|" % ("figure".ljust(w), "value", "-" * (w + 2), "-------"))
for name, value in rows:
    print("| %s | %s |" % (name.ljust(w), value))
problems = s.get("crash", {}).get("problems", []) + s.get("soak", {}).get("error_samples", [])
for p in problems:
    print("  problem: %s" % p)
print("result: %s" % ("ok" if s["ok"] else "FAILED"))
PY
if [ -n "${TORTURE_SUMMARY:-}" ]; then cp "$WORK/summary.json" "$TORTURE_SUMMARY"; fi
exit "$status"
