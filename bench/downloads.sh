#!/usr/bin/env bash
# The same 1 GiB file downloaded with curl from Glimpse, Glance and nginx, all three up at
# once and measured in turns (a round = each server once: cold, cached ×1, cached ×STREAMS),
# so that a change in the machine's load between rounds falls on every server alike. Keeps
# each server's best round per measurement: RESULTS/downloads-{glimpse,glance,nginx}.json.
#
#   bench/downloads.sh GLIMPSE_BINARY IMAGE_FILE RESULTS
# Env: WORK, PORT (9393), GLANCE_PORT (9494), GLANCE_HOME ($WORK/glance; installed if
#      missing), NGINX_PORT (9595), ROUNDS (3), SKIP_GLANCE.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
GLIMPSE="$1" IMAGE="$2" RESULTS="$3"
mkdir -p "$RESULTS"
WORK="${WORK:-${TMPDIR:-/tmp}/glimpse-bench}"
PORT="${PORT:-9393}" GLANCE_PORT="${GLANCE_PORT:-9494}" NGINX_PORT="${NGINX_PORT:-9595}"
ROUNDS="${ROUNDS:-3}"
export GLANCE_HOME="${GLANCE_HOME:-$WORK/glance}"
PASSWORD="downloads-$(date +%s)"
log() { printf '\n== %s\n' "$*" >&2; }
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
cleanup() {
  stop_glimpse
  "$HERE/nginx.sh" down "$WORK/nginx" || true
  [ -n "${SKIP_GLANCE:-}" ] || GLANCE_PORT="$GLANCE_PORT" "$ROOT/scripts/engines/glance.sh" down >/dev/null 2>&1 || true
  rm -rf "$WORK/downloads-glimpse"
}
trap cleanup EXIT

rm -rf "$WORK/downloads-glimpse"
start_glimpse "$GLIMPSE" "$WORK/downloads-glimpse"
TOKEN="$(glimpse_token)"
names=(glimpse nginx)
if [ -z "${SKIP_GLANCE:-}" ]; then
  GLANCE_PORT="$GLANCE_PORT" "$ROOT/scripts/engines/glance.sh" up >&2
  names=(glimpse glance nginx)
fi
NGINX_PID="$("$HERE/nginx.sh" up "$(dirname "$IMAGE")" "$NGINX_PORT" "$WORK/nginx")"

for round in $(seq "$ROUNDS"); do
  for name in "${names[@]}"; do
    log "round $round: $name"
    case "$name" in
      glimpse) args=(--base "http://127.0.0.1:$PORT" -H "X-Auth-Token: $TOKEN" --server-pid "$SERVER_PID") ;;
      glance) args=(--base "http://127.0.0.1:$GLANCE_PORT" -H 'X-Identity-Status: Confirmed' -H 'X-Project-Id: bench'
        -H 'X-User-Id: bench' -H 'X-Roles: admin,member,reader' --server-pidfile "$GLANCE_HOME/state/uwsgi.pid") ;;
      nginx) args=(--url "http://127.0.0.1:$NGINX_PORT/$(basename "$IMAGE")" --server-pid "$NGINX_PID") ;;
    esac
    python3 "$HERE/downloads.py" --name "$name" "${args[@]}" --file "$IMAGE" --repeat 1 \
      --out "$WORK/downloads-$name-$round.json"
  done
done

# Each server's best round per measurement, with every round's rate.
python3 - "$WORK" "$RESULTS" "$ROUNDS" "${names[@]}" <<'PY'
import json, sys
work, results, rounds, names = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
for name in names:
    runs = [json.load(open("%s/downloads-%s-%d.json" % (work, name, r))) for r in range(1, rounds + 1)]
    out = dict(runs[0], rounds=rounds, runs={})
    out["sha256_ok"] = all(r.get("sha256_ok") for r in runs)
    for key in runs[0]["runs"]:
        have = [r["runs"][key] for r in runs if key in r["runs"]]
        best = dict(max(have, key=lambda x: x["mib_per_s"]))
        best["runs_mib_per_s"] = [x["mib_per_s"] for x in have]
        best["server_cpu_s_per_gib_runs"] = [x["server_cpu_s_per_gib"] for x in have]
        out["runs"][key] = best
    json.dump(out, open("%s/downloads-%s.json" % (results, name), "w"), indent=1)
    print("%-8s " % name + "  ".join("%s %.0f MiB/s (%s)" % (k, v["mib_per_s"], v["runs_mib_per_s"]) for k, v in out["runs"].items()),
          file=sys.stderr)
PY
