#!/usr/bin/env bash
# Glimpse and real Glance, side by side on this machine, in one run.
#
#   bench/run.sh                 # everything: physical limits, Glimpse, Glance, 4 GiB, scaling
#   SKIP_GLANCE=1 bench/run.sh   # Glimpse only (no Glance install)
#   SCALING="10000 100000" bench/run.sh
#
# Both servers get an empty data directory on the same disk, SQLite metadata and a local
# file store, and the same load (bench/bench.py): version discovery, create, show, list
# (limit 25 and 1000 over a 10,000-image catalog, plain and with a filter and a sort),
# PATCH at 1 and 8 clients; upload and download of a 1 GiB image. Then Glimpse alone:
# cold start, a 4 GiB upload and download (peak RSS), and list latency over catalogs of
# SCALING images seeded straight into the store (`glimpse admin seed`).
#
# Then the 8-client metadata rows with wrk, and the same 1 GiB file downloaded with curl
# (cold, cached with 1 and 4 streams) from Glimpse, Glance and nginx (sendfile, a worker
# per core), all three up and measured in turns (bench/metadata_wrk.py, bench/downloads.sh;
# SKIP_C_DRIVERS=1 leaves them out).
#
# Results go to RESULTS (default bench/results/<date>): one JSON per part, summary.md,
# summary.json and chart.png (bench/report.py).
#
# Knobs: RESULTS, WORK (scratch dir for data, default $TMPDIR/glimpse-bench), PORT (9393),
# GLANCE_PORT (9494), NGINX_PORT (9595), GLANCE_HOME (default $WORK/glance, reused between runs: the pip
# install takes a minute or two), SCALING ("10000 100000 1000000"), SKIP_GLANCE, SKIP_4G, SKIP_C_DRIVERS,
# SKIP_SCALING, PHASES (bench.py phases), REPEAT (best-of for read-only phases and transfers, default 3),
# DOWNLOAD_ROUNDS (rounds of the curl downloads, default 7: a round is a minute, and on a busy day one server's
# rounds vary by half, so that three let one lucky round decide), BENCH_ARGS (extra bench.py arguments for both servers).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
STAMP="$(date -u +%Y-%m-%d)"
RESULTS="${RESULTS:-$HERE/results/$STAMP}"
WORK="${WORK:-${TMPDIR:-/tmp}/glimpse-bench}"
PORT="${PORT:-9393}"
GLANCE_PORT="${GLANCE_PORT:-9494}"
NGINX_PORT="${NGINX_PORT:-9595}"
SCALING="${SCALING:-10000 100000 1000000}"
REPEAT="${REPEAT:-3}"
DOWNLOAD_ROUNDS="${DOWNLOAD_ROUNDS:-7}"
BENCH_ARGS="${BENCH_ARGS:-}"
PASSWORD="bench-$(date +%s)"
mkdir -p "$RESULTS" "$WORK"
RESULTS="$(cd "$RESULTS" && pwd)"
log() { printf '\n== %s\n' "$*" >&2; }

# A venv for the report's chart (matplotlib); bench.py and friends need only the standard library.
PY="$WORK/venv/bin/python"
if [ ! -x "$PY" ]; then
  python3 -m venv "$WORK/venv"
  "$WORK/venv/bin/pip" install -q matplotlib || echo "(matplotlib unavailable: the report will have no chart)" >&2
fi

# The file every server sends in the curl downloads (random: no compression anywhere helps).
IMAGE_1G="$WORK/static/image-1g"
if [ -z "${SKIP_C_DRIVERS:-}" ] && [ ! -s "$IMAGE_1G" ]; then
  mkdir -p "$WORK/static"
  head -c 1073741824 /dev/urandom >"$IMAGE_1G"
fi
command -v wrk >/dev/null || [ -n "${SKIP_C_DRIVERS:-}" ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -q wrk >&2

log "release build"
(cd "$ROOT" && swift build -c release --product glimpse >&2)
GLIMPSE="$(cd "$ROOT" && swift build -c release --show-bin-path)/glimpse"

log "physical limits"
"$PY" "$HERE/physical.py" "$WORK/disk-probe" --out "$RESULTS/physical.json" >&2
rm -rf "$WORK/disk-probe"

# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
cleanup() {
  stop_glimpse
  if [ -z "${SKIP_GLANCE:-}" ]; then GLANCE_HOME="${GLANCE_HOME:-$WORK/glance}" GLANCE_PORT="$GLANCE_PORT" "$ROOT/scripts/engines/glance.sh" down >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

PHASES="${PHASES:-versions,create,seed,show,list25,list1000,list25fs,list1000fs,patch,upload,download}"

log "Glimpse: cold start on an empty data directory"
rm -rf "$WORK/glimpse-data"
start_glimpse "$GLIMPSE" "$WORK/glimpse-data"
cold_new=$STARTUP
stop_glimpse
start_glimpse "$GLIMPSE" "$WORK/glimpse-data"
cold=$STARTUP
printf '{"seconds": %.3f, "seconds_new_data_dir": %.3f, "note": "exec to the first answered GET /, existing and new data directory"}\n' \
  "$cold" "$cold_new" >"$RESULTS/coldstart.json"
cat "$RESULTS/coldstart.json" >&2

log "Glimpse: API and 1 GiB transfers"
TOKEN="$(glimpse_token)"
[ -n "$TOKEN" ] || { echo "no token from Glimpse" >&2; exit 1; }
# shellcheck disable=SC2086
python3 "$HERE/bench.py" --base "http://127.0.0.1:$PORT" --token "$TOKEN" --server-pid "$SERVER_PID" \
  --phases "$PHASES" --repeat "$REPEAT" --cold-download --out "$RESULTS/glimpse.json" $BENCH_ARGS >&2
if [ -z "${SKIP_C_DRIVERS:-}" ]; then
  log "Glimpse: metadata at 8 connections with wrk"
  MEMBER_TOKEN="$(glimpse_member_token)"
  python3 "$HERE/metadata_wrk.py" --name glimpse --base "http://127.0.0.1:$PORT" -H "X-Auth-Token: $TOKEN" \
    --member-header "X-Auth-Token: $MEMBER_TOKEN" --server-pid "$SERVER_PID" --out "$RESULTS/wrk-glimpse.json"
fi
stop_glimpse
rm -rf "$WORK/glimpse-data"

if [ -z "${SKIP_GLANCE:-}" ]; then
  log "Glance: install (first time) and start on an empty data directory"
  export GLANCE_HOME="${GLANCE_HOME:-$WORK/glance}"
  GLANCE_PORT="$GLANCE_PORT" GLANCE_WIPE=1 "$ROOT/scripts/engines/glance.sh" down >&2
  GLANCE_PORT="$GLANCE_PORT" "$ROOT/scripts/engines/glance.sh" up >&2
  log "Glance: API and 1 GiB transfers"
  # shellcheck disable=SC2086
  python3 "$HERE/bench.py" --base "http://127.0.0.1:$GLANCE_PORT" \
    -H 'X-Identity-Status: Confirmed' -H 'X-Project-Id: bench' -H 'X-User-Id: bench' -H 'X-Roles: admin,member,reader' \
    --server-pidfile "$GLANCE_HOME/state/uwsgi.pid" --phases "$PHASES" --repeat "$REPEAT" \
    --cold-download --out "$RESULTS/glance.json" $BENCH_ARGS >&2
  if [ -z "${SKIP_C_DRIVERS:-}" ]; then
    log "Glance: metadata at 8 connections with wrk"
    GLANCE_HEADERS=(-H 'X-Identity-Status: Confirmed' -H 'X-Project-Id: bench' -H 'X-User-Id: bench' -H 'X-Roles: admin,member,reader')
    python3 "$HERE/metadata_wrk.py" --name glance --base "http://127.0.0.1:$GLANCE_PORT" "${GLANCE_HEADERS[@]}" \
      --member-header 'X-Identity-Status: Confirmed' --member-header 'X-Project-Id: bench' \
      --member-header 'X-User-Id: bench-member' --member-header 'X-Roles: member,reader' \
      --server-pidfile "$GLANCE_HOME/state/uwsgi.pid" --out "$RESULTS/wrk-glance.json"
  fi
  GLANCE_PORT="$GLANCE_PORT" "$ROOT/scripts/engines/glance.sh" down >&2 || true
fi

if [ -z "${SKIP_C_DRIVERS:-}" ]; then
  log "1 GiB downloads with curl: Glimpse, Glance and nginx (sendfile, a worker per core) in turns"
  WORK="$WORK" PORT="$PORT" GLANCE_PORT="$GLANCE_PORT" NGINX_PORT="$NGINX_PORT" ROUNDS="$DOWNLOAD_ROUNDS" \
    "$HERE/downloads.sh" "$GLIMPSE" "$IMAGE_1G" "$RESULTS"
fi

if [ -z "${SKIP_4G:-}" ]; then
  log "Glimpse: 4 GiB upload and download (peak RSS)"
  rm -rf "$WORK/glimpse-data"
  start_glimpse "$GLIMPSE" "$WORK/glimpse-data"
  TOKEN="$(glimpse_token)"
  python3 "$HERE/bench.py" --base "http://127.0.0.1:$PORT" --token "$TOKEN" --server-pid "$SERVER_PID" \
    --phases upload,download --upload-size 4GiB --download-concurrency 1 --out "$RESULTS/glimpse-4g.json" >&2
  stop_glimpse
  rm -rf "$WORK/glimpse-data"
fi

if [ -z "${SKIP_SCALING:-}" ]; then
  rm -f "$RESULTS"/scaling-*.json
  for n in $SCALING; do
    log "Glimpse: list latency over $n images"
    rm -rf "$WORK/glimpse-data"
    # A first start creates the data directory and the admin; the seed goes straight
    # into the store; the measured server starts on the seeded catalog.
    start_glimpse "$GLIMPSE" "$WORK/glimpse-data"
    stop_glimpse
    "$GLIMPSE" admin seed --data-dir "$WORK/glimpse-data" --count "$n" >&2
    start_glimpse "$GLIMPSE" "$WORK/glimpse-data"
    TOKEN="$(glimpse_token)"
    python3 "$HERE/scaling.py" --base "http://127.0.0.1:$PORT" --token "$TOKEN" --server-pid "$SERVER_PID" \
      --images "$n" --out "$RESULTS/scaling-$n.json" >&2
    stop_glimpse
  done
  rm -rf "$WORK/glimpse-data"
fi

log "report"
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
  echo "glimpse: $(cd "$ROOT" && git describe --always --dirty 2>/dev/null || echo unknown)"
  echo "command: bench/run.sh"
} >"$RESULTS/run.txt"
"$PY" "$HERE/report.py" "$RESULTS"
echo "results: $RESULTS"
