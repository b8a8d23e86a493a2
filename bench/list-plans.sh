#!/usr/bin/env bash
# List pages over a large catalog, on PostgreSQL or on the embedded default (SQLite): each
# list shape's time and, on PostgreSQL, its plan as PostgreSQL ran it (auto_explain, with
# actual rows and buffers), for the README. (SQLite's plans are checked shape by shape by
# Tests/GlimpseStoreTests/ListPlanTests.swift.)
#   bench/list-plans.sh                 # 1,000,000 images (seeded once, ~20 min; kept in WORK)
#   COUNT=10000 bench/list-plans.sh
#   ENGINE=sqlite COUNT=10000 bench/list-plans.sh
# Knobs: ENGINE (postgresql | sqlite), COUNT, WORK ($TMPDIR/glimpse-list-plans),
#        RESULTS (bench/results/<date>-plans[-sqlite]-COUNT), PG_PORT (35433), PORT (39393),
#        GLIMPSE (a release binary to time instead of building this checkout's), REPEAT (7).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
ENGINE="${ENGINE:-postgresql}"
COUNT="${COUNT:-1000000}"
WORK="${WORK:-${TMPDIR:-/tmp}/glimpse-list-plans}"
case "$ENGINE" in
  postgresql) SUFFIX="" ;;
  sqlite) SUFFIX="-sqlite" ;;
  *) echo "ENGINE must be postgresql or sqlite" >&2; exit 2 ;;
esac
RESULTS="${RESULTS:-$HERE/results/$(date -u +%Y-%m-%d)-plans$SUFFIX-$COUNT}"
export ENGINES_DIR="$WORK/engines" PG_PORT="${PG_PORT:-35433}"
PORT="${PORT:-39393}" PASSWORD=list-plans
DB="glimpse_plans_$COUNT"
# The PostgreSQL runs keep their data directory (the metadata is in the database); an
# SQLite catalog lives in its data directory, one per size.
DATA="$WORK/data$SUFFIX${SUFFIX:+-$COUNT}"
SEEDED="$WORK/seeded$SUFFIX-$COUNT"
mkdir -p "$WORK" "$RESULTS"
log() { printf '\n== %s\n' "$*" >&2; }

if [ -z "${GLIMPSE:-}" ]; then
  (cd "$ROOT" && swift build -c release --product glimpse >&2)
  GLIMPSE="$(cd "$ROOT" && swift build -c release --show-bin-path)/glimpse"
fi
if [ "$ENGINE" = postgresql ]; then
  GLIMPSE_DATABASE_URL="$(PG_DB="$DB" "$ROOT/scripts/engines/postgres.sh" up)?sslmode=disable"
  export GLIMPSE_DATABASE_URL
  SOCK="$ENGINES_DIR/postgres/sock" PG_LOG="$ENGINES_DIR/postgres/postgres.log"
  sql() { psql -X -q -At -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PG_PORT" -U postgres -d "$DB" -c "$1"; }
else
  unset GLIMPSE_DATABASE_URL
  sql() { :; }
fi

# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
trap 'stop_glimpse; sql "ALTER DATABASE $DB RESET ALL" >/dev/null 2>&1 || true' EXIT

if [ ! -e "$SEEDED" ]; then
  log "seeding $COUNT images ($ENGINE)"
  start_glimpse "$GLIMPSE" "$DATA"   # migrations and the admin
  stop_glimpse
  "$GLIMPSE" admin seed --data-dir "$DATA" --count "$COUNT" >&2
  # Done here rather than left to autovacuum, which would run beside the timing.
  sql "VACUUM"
  touch "$SEEDED"
fi
sql "ANALYZE"

start_glimpse "$GLIMPSE" "$DATA"
ADMIN="$(glimpse_token)"
# A member of another project: sees the public images only.
api() { curl -sf -H "X-Auth-Token: $ADMIN" -H 'Content-Type: application/json' "http://127.0.0.1:$PORT/identity/v3/$1" ${2:+-d "$2"}; }
if ! api "users?name=demo" | grep -q '"name": *"demo"'; then
  project="$(api projects '{"project": {"name": "demo", "domain_id": "default"}}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["project"]["id"])')"
  user="$(api users '{"user": {"name": "demo", "domain_id": "default", "password": "demo", "default_project_id": "'"$project"'"}}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["user"]["id"])')"
  role="$(api "roles?name=member" | python3 -c 'import json,sys; print(json.load(sys.stdin)["roles"][0]["id"])')"
  curl -sf -X PUT -H "X-Auth-Token: $ADMIN" "http://127.0.0.1:$PORT/identity/v3/projects/$project/users/$user/roles/$role"
fi
MEMBER="$(curl -s -D - -o /dev/null -H 'Content-Type: application/json' "http://127.0.0.1:$PORT/identity/v3/auth/tokens" -d '{
  "auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "demo", "domain": {"id": "default"}, "password": "demo"}}},
  "scope": {"project": {"name": "demo", "domain": {"id": "default"}}}}}' | awk 'tolower($1) == "x-subject-token:" { sub(/\r$/, "", $2); print $2 }')"

OWNER="$(TOKEN="$ADMIN" glimpse_member_token)"

log "timing every list shape over $COUNT images"
python3 "$HERE/list_plans.py" --base "http://127.0.0.1:$PORT" --admin-token "$ADMIN" --member-token "$MEMBER" --owner-token "$OWNER" --images "$COUNT" --repeat "${REPEAT:-7}" \
  --out "$RESULTS/timing.json" | tee "$RESULTS/timing.md"
stop_glimpse

if [ "$ENGINE" = postgresql ]; then
  log "plans (auto_explain)"
  sql "ALTER DATABASE $DB SET session_preload_libraries = 'auto_explain'"
  sql "ALTER DATABASE $DB SET auto_explain.log_min_duration = 0"
  sql "ALTER DATABASE $DB SET auto_explain.log_analyze = on"
  sql "ALTER DATABASE $DB SET auto_explain.log_buffers = on"
  start_glimpse "$GLIMPSE" "$DATA"
  python3 "$HERE/list_plans.py" --base "http://127.0.0.1:$PORT" --admin-token "$ADMIN" --member-token "$MEMBER" --owner-token "$OWNER" --images "$COUNT" \
    --postgres-log "$PG_LOG" --repeat 1 --out "$RESULTS/plans.json" > "$RESULTS/plans.md"
fi
echo "results: $RESULTS" >&2
