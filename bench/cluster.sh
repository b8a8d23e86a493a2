#!/usr/bin/env bash
# Glimpse at scale against Glance at scale, on this machine, under the same load:
#   - two Glimpse nodes (release build) on PostgreSQL, identity = keystone, behind HAProxy
#     (scripts/cluster.sh);
#   - then Glance 33 (uWSGI, two worker processes, keystonemiddleware) on the same
#     PostgreSQL server and the same Keystone, behind the same HAProxy.
# Both are driven by bench/bench.py through the balancer with a Keystone token (an admin of
# project admin); CPU per operation sums the API processes, PostgreSQL and HAProxy. The
# balancer runs without health checks here: Glance answers its /healthcheck with the same
# busy workers, and checks that time out under load would take it out of service.
# The writes (create, the catalog) come first, then ANALYZE, as autovacuum would have done
# on a database in service, then the reads and PATCH.
#
#   bench/cluster.sh                      # results in bench/results/<date>-cluster
#   CONCURRENCY="8 32" CATALOG=2000 bench/cluster.sh
#
# Knobs: RESULTS, WORK (scratch, default $TMPDIR/glimpse-cluster-bench; Glance's venv is kept
# there between runs), CONCURRENCY ("8 32"), CATALOG (images listed, default 2000), REPEAT
# (best of, 3), PHASES, SKIP_GLANCE, BENCH_ARGS (extra bench.py arguments for both).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
RESULTS="${RESULTS:-$HERE/results/$(date -u +%Y-%m-%d)-cluster}"
WORK="${WORK:-${TMPDIR:-/tmp}/glimpse-cluster-bench}"
CONCURRENCY="${CONCURRENCY:-8 32}"; CATALOG="${CATALOG:-2000}"; REPEAT="${REPEAT:-3}"
WRITE_PHASES="${WRITE_PHASES:-create,seed}"
PHASES="${PHASES:-versions,seed,show,list25,list1000,list25fs,patch,upload,download}"
BENCH_ARGS="${BENCH_ARGS:-}"
mkdir -p "$RESULTS" "$WORK"
RESULTS="$(cd "$RESULTS" && pwd)"
log() { printf '\n== %s\n' "$*" >&2; }

# A private set of engines; PostgreSQL with fsync on, as in production.
export ENGINES_DIR="$WORK/engines" PG_FAST=0
export PG_PORT="${PG_PORT:-35432}" KEYSTONE_PORT="${KEYSTONE_PORT:-35001}"
export LB_HEALTH_CHECKS=0 LB_PORT="${LB_PORT:-38090}" LB_STATS_PORT="${LB_STATS_PORT:-38092}" NODE_PORTS="${NODE_PORTS:-38101 38102}"
GLANCE_PORT="${GLANCE_PORT:-38201}"
export GLANCE_HOME="$WORK/glance"
LB="http://127.0.0.1:$LB_PORT"

log "release build"
(cd "$ROOT" && swift build -c release --product glimpse >&2)
export GLIMPSE_BIN="$(cd "$ROOT" && swift build -c release --show-bin-path)/glimpse"

GLANCE="$ROOT/scripts/engines/glance.sh"
cleanup() {
  "$GLANCE" down >/dev/null 2>&1 || true
  CLUSTER_PURGE=1 "$ROOT/scripts/cluster.sh" down >/dev/null 2>&1 || true
}
trap cleanup EXIT

# keystone_token: a token of Keystone's admin, scoped to project admin.
keystone_token() {
  curl -s -D - -o /dev/null -H 'Content-Type: application/json' "http://127.0.0.1:$KEYSTONE_PORT/v3/auth/tokens" -d '{
    "auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin",
      "domain": {"id": "default"}, "password": "admin"}}},
      "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}' |
    awk 'tolower($1) == "x-subject-token:" { sub(/\r$/, "", $2); print $2 }'
}

# bench NAME DATABASE PID...: the load through the balancer, CPU summed over the PIDs' trees;
# writes to NAME-writes.json, then reads to NAME.json.
bench() {
  local name="$1" db="$2" pid args=(); shift 2
  for pid in "$@"; do args+=(--server-pid "$pid"); done
  local token; token="$(keystone_token)"
  [ -n "$token" ] || { echo "no token from Keystone" >&2; exit 1; }
  args+=(--base "$LB" --token "$token" --concurrency "$(echo $CONCURRENCY | tr ' ' ,)" --catalog "$CATALOG")
  # shellcheck disable=SC2086
  python3 "$HERE/bench.py" "${args[@]}" --phases "$WRITE_PHASES" --out "$RESULTS/$name-writes.json" $BENCH_ARGS >&2
  psql -X -q -h "$ENGINES_DIR/postgres/sock" -p "$PG_PORT" -U postgres -d "$db" -c ANALYZE
  # shellcheck disable=SC2086
  python3 "$HERE/bench.py" "${args[@]}" --phases "$PHASES" --repeat "$REPEAT" --out "$RESULTS/$name.json" $BENCH_ARGS >&2
}

engine_pids() {
  head -1 "$ENGINES_DIR/postgres/data/postmaster.pid"
  cat "$ENGINES_DIR/haproxy/haproxy.pid"
}

log "Glimpse: two nodes on PostgreSQL behind HAProxy"
"$ROOT/scripts/cluster.sh" up >/dev/null
bench glimpse glimpse_cluster $(cat "$ENGINES_DIR"/cluster/node*/pid) $(engine_pids)
for f in "$ENGINES_DIR"/cluster/node*/pid; do kill "$(cat "$f")"; done

if [ -z "${SKIP_GLANCE:-}" ]; then
  log "Glance 33: two uWSGI workers on PostgreSQL behind the same HAProxy"
  db_url="$(PG_DB=glance_bench "$ROOT/scripts/engines/postgres.sh" up)"
  GLANCE_PORT="$GLANCE_PORT" GLANCE_AUTH=keystone KEYSTONE_URL="http://127.0.0.1:$KEYSTONE_PORT/v3" \
    GLANCE_DATABASE_URL="postgresql+psycopg2://${db_url#postgres://}" "$GLANCE" up >&2
  LB_BACKENDS="127.0.0.1:$GLANCE_PORT" "$ROOT/scripts/engines/haproxy.sh" up >/dev/null
  # The balancer's health check sees Glance before the load starts.
  for _ in $(seq 50); do curl -sf -o /dev/null "$LB/healthcheck" && break; sleep 0.2; done
  bench glance glance_bench "$(cat "$GLANCE_HOME/state/uwsgi.pid")" $(engine_pids)
fi

log "report"
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
  echo "glimpse: $(cd "$ROOT" && git describe --always --dirty 2>/dev/null || echo unknown)"
  echo "command: CONCURRENCY=\"$CONCURRENCY\" CATALOG=$CATALOG REPEAT=$REPEAT bench/cluster.sh"
} >"$RESULTS/run.txt"
python3 "$HERE/cluster_report.py" "$RESULTS" | tee "$RESULTS/summary.md"
