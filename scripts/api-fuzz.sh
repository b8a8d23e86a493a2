#!/usr/bin/env bash
# Checks the server against the OpenAPI description it publishes: validates
# Sources/GlimpseHTTP/OpenAPI/openapi.yaml (openapi-spec-validator), starts a server on a
# fresh data directory, and runs schemathesis on the document the server serves at
# GET /openapi.yaml, once as the admin and once as a project member, with a fixed example
# budget and seed. Fails on any server error (5xx, or a dropped connection) and on any
# answer the document does not describe (status, content type, headers, body schema).
#
# Environment:
#   GLIMPSE_BIN     the glimpse binary               [.build/debug/glimpse, built if missing]
#   FUZZ_VENV       venv for schemathesis            [./.venv-api-fuzz, created with pip if missing; a venv
#                   of its own, so that its pins do not move the conformance clients' (Tempest)]
#   CONFORMANCE     the shared conformance scripts   [../shared/conformance]
#   PORT            port for the server              [a free one from 19400]
#   MAX_EXAMPLES    test cases per operation, admin  [25]
#   MEMBER_EXAMPLES test cases per operation, member [10]
#   SEED            schemathesis's seed              [13]
#   KEEP_WORK=1     keep the work directory (server log, schemathesis output) for a look
set -u -o pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
GLIMPSE_BIN="${GLIMPSE_BIN:-$ROOT/.build/debug/glimpse}"
FUZZ_VENV="${FUZZ_VENV:-$ROOT/.venv-api-fuzz}"
CONFORMANCE="${CONFORMANCE:-$ROOT/../shared/conformance}"
MAX_EXAMPLES="${MAX_EXAMPLES:-25}"
MEMBER_EXAMPLES="${MEMBER_EXAMPLES:-10}"
SEED="${SEED:-13}"
SPEC="$ROOT/Sources/GlimpseHTTP/OpenAPI/openapi.yaml"

[ -x "$GLIMPSE_BIN" ] || swift build --product glimpse || exit 2
if [ ! -x "$FUZZ_VENV/bin/schemathesis" ] || [ ! -x "$FUZZ_VENV/bin/openapi-spec-validator" ]; then
  echo "== installing schemathesis and openapi-spec-validator into $FUZZ_VENV"
  [ -x "$FUZZ_VENV/bin/pip" ] || python3 -m venv "$FUZZ_VENV" || exit 2
  "$FUZZ_VENV/bin/pip" install -q schemathesis==4.32.5 openapi-spec-validator==0.9.0 || exit 2
fi

echo "== openapi-spec-validator"
"$FUZZ_VENV/bin/openapi-spec-validator" "$SPEC" || exit 1

WORK="$(mktemp -d /tmp/glimpse-api-fuzz.XXXXXX)"
SERVER=""
cleanup() {
  [ -n "$SERVER" ] && { kill "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null; }
  if [ "${KEEP_WORK:-0}" = 1 ]; then echo "work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

port_free() { ! (echo > "/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
PORT="${PORT:-19400}"
while ! port_free "$PORT"; do PORT=$((PORT + 1)); done
BASE="http://127.0.0.1:$PORT"
ADMIN_PASSWORD="api-fuzz-admin-$$"
GLIMPSE_ADMIN_PASSWORD="$ADMIN_PASSWORD" "$GLIMPSE_BIN" serve --port "$PORT" --data-dir "$WORK/data" \
  >"$WORK/stdout" 2>"$WORK/server.log" &
SERVER=$!
for _ in $(seq 1 100); do
  curl -s -o /dev/null "$BASE/" && break
  sleep 0.1
done
curl -s -o /dev/null "$BASE/" || { echo "server did not start"; cat "$WORK/server.log"; exit 2; }

# token USER PASSWORD PROJECT: a project-scoped token of the built-in identity.
token() {
  curl -s -D - -o /dev/null -H "Content-Type: application/json" "$BASE/identity/v3/auth/tokens" --data-binary \
    "{\"auth\": {\"identity\": {\"methods\": [\"password\"], \"password\": {\"user\": {\"name\": \"$1\",
      \"domain\": {\"id\": \"default\"}, \"password\": \"$2\"}}}, \"scope\": {\"project\": {\"name\": \"$3\",
      \"domain\": {\"id\": \"default\"}}}}}" | tr -d '\r' | awk -F': ' 'tolower($1) == "x-subject-token" {print $2}'
}
env OS_AUTH_URL="$BASE/identity/v3" OS_USERNAME=admin OS_PASSWORD="$ADMIN_PASSWORD" OS_PROJECT_NAME=admin \
  "$FUZZ_VENV/bin/python" "$CONFORMANCE/provision-tempest-accounts.py" secretpass >/dev/null || exit 2
ADMIN_TOKEN="$(token admin "$ADMIN_PASSWORD" admin)"
MEMBER_TOKEN="$(token tempest-member secretpass tempest-project)"
[ -n "$ADMIN_TOKEN" ] && [ -n "$MEMBER_TOKEN" ] || { echo "could not get the tokens"; exit 2; }

# Something to find: images in every state (queued, active, shared, deactivated) of the
# member's project and the admin's, and a metadata namespace. The document's image ids,
# namespaces and member ids are drawn from these most of the time, at random otherwise.
# call METHOD PATH TOKEN [BODY [CONTENT-TYPE]]: the answer's body.
call() {
  curl -s -X "$1" "$BASE$2" -H "X-Auth-Token: $3" -H "Content-Type: ${5:-application/json}" \
    ${4:+--data-binary "$4"}
}
id_of() { "$FUZZ_VENV/bin/python" -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
project_of() {
  curl -s "$BASE/identity/v3/auth/tokens" -H "X-Auth-Token: $1" -H "X-Subject-Token: $1" |
    "$FUZZ_VENV/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["token"]["project"]["id"])'
}
ADMIN_PROJECT="$(project_of "$ADMIN_TOKEN")"
MEMBER_PROJECT="$(project_of "$MEMBER_TOKEN")"
images=()
for owner in "$MEMBER_TOKEN" "$ADMIN_TOKEN"; do
  queued="$(call POST /v2/images "$owner" '{"name": "queued", "disk_format": "raw", "container_format": "bare", "os_distro": "x"}' | id_of id)"
  active="$(call POST /v2/images "$owner" '{"name": "active", "disk_format": "raw", "container_format": "bare", "tags": ["t"]}' | id_of id)"
  call PUT "/v2/images/$active/file" "$owner" "0123456789abcdef" application/octet-stream
  shared="$(call POST /v2/images "$owner" '{"name": "shared", "visibility": "shared", "disk_format": "raw", "container_format": "bare"}' | id_of id)"
  call PUT "/v2/images/$shared/file" "$owner" "shared data" application/octet-stream
  call POST "/v2/images/$shared/members" "$owner" "{\"member\": \"$ADMIN_PROJECT\"}" >/dev/null
  call POST "/v2/images/$shared/members" "$owner" "{\"member\": \"$MEMBER_PROJECT\"}" >/dev/null
  deactivated="$(call POST /v2/images "$owner" '{"name": "deactivated", "disk_format": "raw", "container_format": "bare"}' | id_of id)"
  call PUT "/v2/images/$deactivated/file" "$owner" "x" application/octet-stream
  call POST "/v2/images/$deactivated/actions/deactivate" "$owner"
  images+=("$queued" "$active" "$shared" "$deactivated")
done
call POST /v2/metadefs/namespaces "$ADMIN_TOKEN" '{"namespace": "fuzz", "visibility": "public"}' >/dev/null
call POST /v2/metadefs/namespaces/fuzz/objects "$ADMIN_TOKEN" '{"name": "o", "properties": {}}' >/dev/null
call POST /v2/metadefs/namespaces/fuzz/properties "$ADMIN_TOKEN" '{"name": "p", "title": "P", "type": "string"}' >/dev/null
call POST /v2/metadefs/namespaces/fuzz/tags/t "$ADMIN_TOKEN" >/dev/null
quoted() { printf '"%s", ' "$@" | sed 's/, $//'; }
cat > "$WORK/schemathesis.toml" <<TOML
[phases.coverage]
# Methods other than GET, HEAD, POST, PUT, PATCH and DELETE are 501 by design, as in Glance.
unexpected-methods = ["get", "put", "post", "delete", "patch"]

[dictionaries.images]
values = [$(quoted "${images[@]}")]
[dictionaries.namespaces]
values = ["fuzz"]
[dictionaries.projects]
values = [$(quoted "$ADMIN_PROJECT" "$MEMBER_PROJECT")]
[dictionaries.names]
values = ["o", "p", "t"]

[parameters]
"path.image_id" = { dictionary = "images", probability = 0.7 }
"path.namespace" = { dictionary = "namespaces", probability = 0.7 }
"path.name" = { dictionary = "names", probability = 0.5 }
"path.member_id" = { dictionary = "projects", probability = 0.5 }

"path.tenant_id" = { dictionary = "projects", probability = 0.8 }
TOML

# run NAME TOKEN EXAMPLES [OPTION...]: schemathesis on the served document, in the work
# directory (its example database off, so that a run depends on the seed only), with one
# worker: two threads make Python 3.11's ast module fail now and then ("AST constructor
# recursion depth mismatch", in hypothesis), which schemathesis reports as an error.
status=0
summary=()
run() {
  local name="$1" token="$2" examples="$3" started rc out
  shift 3
  started=$(date +%s)
  echo "== schemathesis as $name: $examples examples per operation, seed $SEED"
  (
    cd "$WORK" || exit 2
    SCHEMATHESIS_HOOKS="$ROOT/scripts/api_fuzz_hooks.py" "$FUZZ_VENV/bin/schemathesis" \
      --config-file "$WORK/schemathesis.toml" run "$BASE/openapi.yaml" --url "$BASE" \
      --header "X-Auth-Token: $token" \
      --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
      --max-examples "$examples" --seed "$SEED" --generation-database none --workers 1 \
      --request-timeout 30 --no-color "$@"
  ) >"$WORK/$name.out" 2>&1
  rc=$?
  out="$(cat "$WORK/$name.out")"
  echo "$out" | sed -n '/^====* \(ERRORS\|FAILURES\) =/,$p' | head -300
  echo "$out" | sed -n '/^====* SUMMARY =/,$p'
  summary+=("$name: $(echo "$out" | grep -E "generated" | tail -1 | sed 's/^ *//'); $(echo "$out" | tail -1 | tr -d '=' | sed 's/^ *//')")
  [ $rc -eq 0 ] || status=1
}
# Schemathesis feeds ids it has seen in answers back into requests: fuzzing identity
# administration, it disables and renames the projects and users of the tokens in use, and
# what follows gets 401s. So identity administration goes last, on its own.
IDENTITY_ADMIN='^/identity/v3/(projects|users|roles|domains)'
run admin "$ADMIN_TOKEN" "$MAX_EXAMPLES" --exclude-path-regex "$IDENTITY_ADMIN"
run member "$MEMBER_TOKEN" "$MEMBER_EXAMPLES"
run admin-identity "$ADMIN_TOKEN" "$MAX_EXAMPLES" --include-path-regex "$IDENTITY_ADMIN" \
  --phases examples,coverage,fuzzing

if grep -q " ERROR " "$WORK/server.log"; then
  echo "== errors in the server log"
  grep " ERROR " "$WORK/server.log" | head -20
  status=1
fi
echo
echo "== api-fuzz summary"
printf '%s\n' "${summary[@]}"
[ $status -eq 0 ] || { echo "== server log (tail)"; tail -30 "$WORK/server.log"; }
exit $status
