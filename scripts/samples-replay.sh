#!/usr/bin/env bash
# Replays the request/response pairs recorded from Glance 33 (../shared/reference/
# glance-samples, made by ../shared/bench/samples.py) against a fresh `glimpse serve`, as
# the same three callers (an admin, alice in p-alice, bob in p-bob, here with tokens of the
# built-in identity), and compares each answer's status with Glance's: one line per
# difference, then "N same, N known, N different" (known: on purpose, or what the replay
# cannot reproduce, each with its reason); only unknown differences fail it.
# Env: GLIMPSE_BIN (.build/debug/glimpse) SAMPLES (../shared/reference/glance-samples)
#      RECORDER (../shared/bench/samples.py)
set -u -o pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GLIMPSE_BIN="${GLIMPSE_BIN:-$ROOT/.build/debug/glimpse}"
SAMPLES="${SAMPLES:-$ROOT/../shared/reference/glance-samples}"
RECORDER="${RECORDER:-$ROOT/../shared/bench/samples.py}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/glimpse-samples.XXXXXX")"
SERVER=""
cleanup() {
  [ -n "$SERVER" ] && { kill "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null; }
  [ "${KEEP:-0}" = 1 ] && echo "kept $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT
port_free() { ! (echo > "/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
PORT="${PORT:-19560}"
while ! port_free "$PORT"; do PORT=$((PORT + 1)); done
BASE="http://127.0.0.1:$PORT"
PASSWORD="samples-admin-$$"
GLIMPSE_ADMIN_PASSWORD="$PASSWORD" "$GLIMPSE_BIN" serve --port "$PORT" --data-dir "$WORK/data" \
  >"$WORK/stdout" 2>"$WORK/server.log" &
SERVER=$!
for _ in $(seq 100); do curl -s -o /dev/null "$BASE/" && break; sleep 0.1; done

# token USER PASSWORD PROJECT: a project-scoped token.
token() {
  curl -s -D - -o /dev/null -H 'Content-Type: application/json' "$BASE/identity/v3/auth/tokens" -d "{\"auth\":
    {\"identity\": {\"methods\": [\"password\"], \"password\": {\"user\": {\"name\": \"$1\",
     \"domain\": {\"name\": \"Default\"}, \"password\": \"$2\"}}},
     \"scope\": {\"project\": {\"name\": \"$3\", \"domain\": {\"name\": \"Default\"}}}}}" |
    awk 'tolower($1) == "x-subject-token:" { print $2 }' | tr -d '\r'
}
api() { curl -s -H "X-Auth-Token: $ADMIN" -H 'Content-Type: application/json' "$@"; }
json_id() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]]["id"])' "$1"; }
ADMIN="$(token admin "$PASSWORD" admin)"
[ -n "$ADMIN" ] || { echo "no admin token"; tail -20 "$WORK/server.log"; exit 2; }
member_role="$(api "$BASE/identity/v3/roles?name=member" | python3 -c 'import json, sys; print(json.load(sys.stdin)["roles"][0]["id"])')"
declare -A PROJECT
PROJECT[admin-proj]="$(api "$BASE/identity/v3/auth/projects" | python3 -c 'import json, sys; print([p["id"] for p in json.load(sys.stdin)["projects"] if p["name"] == "admin"][0])')"
for user in alice bob; do
  project="$(api -X POST "$BASE/identity/v3/projects" -d "{\"project\": {\"name\": \"p-$user\"}}" | json_id project)"
  PROJECT[p-$user]="$project"
  id="$(api -X POST "$BASE/identity/v3/users" \
    -d "{\"user\": {\"name\": \"$user\", \"password\": \"$user-pw\", \"default_project_id\": \"$project\"}}" | json_id user)"
  api -X PUT "$BASE/identity/v3/projects/$project/users/$id/roles/$member_role" >/dev/null
done
ALICE="$(token alice alice-pw p-alice)"; BOB="$(token bob bob-pw p-bob)"

# The recorder names the callers' projects; here they are the ids the identity gave them.
sed -e "s/admin-proj/${PROJECT[admin-proj]}/g" -e "s/p-alice/${PROJECT[p-alice]}/g" \
  -e "s/p-bob/${PROJECT[p-bob]}/g" "$RECORDER" > "$WORK/samples.py"
python3 "$WORK/samples.py" --base "$BASE" --out "$WORK/out" \
  --admin-headers "X-Auth-Token: $ADMIN" --alice-headers "X-Auth-Token: $ALICE" \
  --bob-headers "X-Auth-Token: $BOB" >"$WORK/recorder.log" 2>&1 || { tail -20 "$WORK/recorder.log"; exit 2; }

# Differences on purpose, and what the replay cannot reproduce.
declare -A KNOWN=(
  [bad-json-array]="Glance answers a JSON array body with 500; Glimpse with 400"
  [bad-prop-nonstring]="Glimpse keeps custom properties of any JSON type; Glance takes strings only"
  [reader-only-create]="the recorder sends its own identity headers here, which Glimpse does not trust (401)"
  [member-without-reader-list]="the recorder sends its own identity headers here, which Glimpse does not trust (401)"
  [list-tag-limit-exact-next]="Glimpse links no next page after an exactly full last page: the recorder makes no call"
)
status() { awk '/^=== RESPONSE ===/ { getline; print $2; exit }' "$1"; }
same=0; known=0; different=0
# By name: the recorder's numbers shift where it makes a call only on some answers.
for recorded in "$SAMPLES"/[0-9]*.txt; do
  name="$(basename "$recorded" | sed 's/^[0-9]*-//')"
  replayed="$(ls "$WORK/out/"[0-9]*-"$name" 2>/dev/null | head -1)"
  want="$(status "$recorded")"; got="$( [ -n "$replayed" ] && status "$replayed")"
  if [ "$want" = "$got" ]; then
    same=$((same + 1))
  elif [ -n "${KNOWN[${name%.txt}]:-}" ]; then
    known=$((known + 1))
    echo "KNOWN ${name%.txt}: Glance $want, Glimpse ${got:-no call}: ${KNOWN[${name%.txt}]}"
  else
    different=$((different + 1))
    echo "DIFF  ${name%.txt}: Glance $want, Glimpse ${got:-missing}"
  fi
done
echo "$same same, $known known, $different different"
[ "$different" = 0 ]
