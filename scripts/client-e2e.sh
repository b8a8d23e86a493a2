#!/usr/bin/env bash
# End-to-end checks of the `glimpse image` client against any cloud: Glimpse, or a real
# Keystone + Glance. Credentials from the OS_* environment (OS_AUTH_URL, OS_USERNAME, …); a
# second project for the sharing checks from ALT_OS_USERNAME, ALT_OS_PASSWORD,
# ALT_OS_PROJECT_NAME (same identity service and domains; skipped when unset).
# Prints "N passed, N failed".
# Env: GLIMPSE_BIN (.build/debug/glimpse)
set -u -o pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
G="${GLIMPSE_BIN:-$ROOT/.build/debug/glimpse}"
TMP="$(mktemp -d)"
RUN="e2e-$$-$RANDOM"
IDS=()
cleanup() {
  [ ${#IDS[@]} -gt 0 ] && "$G" image delete "${IDS[@]}" >/dev/null 2>&1
  rm -rf "$TMP"
}
trap cleanup EXIT
pass=0; fail=0
ok() { pass=$((pass + 1)); echo "PASS  $1"; }
bad() { fail=$((fail + 1)); echo "FAIL  $1${2:+: $2}"; }
# check NAME EXPECTED ACTUAL
check() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1" "expected [$2], got [$3]"; fi; }
field() { "$G" image show "$1" -f value -c "$2" 2>&1; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

head -c 3000000 /dev/urandom > "$TMP/img"
MD5="$(md5sum < "$TMP/img" | cut -d' ' -f1)"

# Create: from a file, from standard input (HTTP chunks under uWSGI's 1 MiB limit), queued.
FILE_ID="$("$G" image create --file "$TMP/img" --property e2e=file --tag "$RUN" "$RUN-b-file" -f value -c id 2>"$TMP/err")"
[ -n "$FILE_ID" ] && IDS+=("$FILE_ID")
check "create from a file: active" active "$(field "$FILE_ID" status)"
check "create from a file: the file's MD5" "$MD5" "$(field "$FILE_ID" checksum)"
STDIN_ID="$("$G" image create --file - --tag "$RUN" "$RUN-c-stdin" -f value -c id < "$TMP/img" 2>"$TMP/err")"
[ -n "$STDIN_ID" ] && IDS+=("$STDIN_ID")
check "create from standard input: active" active "$(field "$STDIN_ID" status)"
check "create from standard input: the data's MD5" "$MD5" "$(field "$STDIN_ID" checksum)"
QUEUED_ID="$("$G" image create --tag "$RUN" "$RUN-a-queued" -f value -c id 2>"$TMP/err")"
[ -n "$QUEUED_ID" ] && IDS+=("$QUEUED_ID")
check "create without data: queued" queued "$(field "$QUEUED_ID" status)"
check "show -f json of a queued image: no null values" "[]" \
  "$("$G" image show "$QUEUED_ID" -f json | json '[k for k, v in d.items() if v is None]')"

# Listing: every filter and sort runs on the server.
list() { "$G" image list --tag "$RUN" -f value -c Name "$@" 2>&1 | tr '\n' ' ' | sed 's/ $//'; }
check "list --tag, sorted by name" "$RUN-a-queued $RUN-b-file $RUN-c-stdin" "$(list)"
check "list --sort name:desc" "$RUN-c-stdin $RUN-b-file $RUN-a-queued" "$(list --sort name:desc)"
check "list --sort size:asc,name:asc (no size first)" "$RUN-a-queued $RUN-b-file $RUN-c-stdin" \
  "$(list --sort size:asc,name:asc)"
check "list --name" "$RUN-c-stdin" "$(list --name "$RUN-c-stdin")"
check "list --status queued" "$RUN-a-queued" "$(list --status queued)"
check "list --property" "$RUN-b-file" "$(list --property e2e=file)"
check "list --limit: one page" "$RUN-a-queued" "$(list --limit 1)"
check "list --marker: the page after" "$RUN-b-file" "$(list --limit 1 --marker "$QUEUED_ID")"
check "list --max-items over pages of one" "$RUN-a-queued $RUN-b-file" "$(list --max-items 2)"
check "list --long -f value: tags as a list" "['$RUN']" \
  "$("$G" image list --tag "$RUN" --name "$RUN-b-file" --long -f value -c Tags)"

# Changes.
"$G" image set --property color=blue --tag extra --min-ram 512 "$FILE_ID" >/dev/null 2>&1
check "set --property --tag --min-ram" "blue True 512" \
  "$("$G" image show "$FILE_ID" -f json | json '" ".join([d["properties"].get("color", "-"), str("extra" in d["tags"]), str(d["min_ram"])])')"
"$G" image unset --property color --tag extra "$FILE_ID" >/dev/null 2>&1
check "unset --property --tag" "- False" \
  "$("$G" image show "$FILE_ID" -f json | json '" ".join([d["properties"].get("color", "-"), str("extra" in d["tags"])])')"
"$G" image set --deactivate "$FILE_ID" >/dev/null 2>&1
check "set --deactivate" deactivated "$(field "$FILE_ID" status)"
"$G" image set --activate "$FILE_ID" >/dev/null 2>&1
check "set --activate" active "$(field "$FILE_ID" status)"

# Download: verified; a killed download resumes where it stopped.
head -c 200000000 /dev/urandom > "$TMP/big"
BIG_ID="$("$G" image create --file "$TMP/big" --tag "$RUN-big" "$RUN-big" -f value -c id 2>"$TMP/err")"
[ -n "$BIG_ID" ] && IDS+=("$BIG_ID")
"$G" image save --file "$TMP/saved" "$FILE_ID" 2>"$TMP/err"
if cmp -s "$TMP/img" "$TMP/saved"; then ok "save: the same bytes"; else bad "save: the same bytes" "$(cat "$TMP/err")"; fi
"$G" image save --file "$TMP/big-saved" "$BIG_ID" 2>/dev/null &
SAVER=$!
for _ in $(seq 200); do
  [ "$(stat -c %s "$TMP/big-saved.partial" 2>/dev/null || echo 0)" -gt 10000000 ] && break
  sleep 0.02
done
kill -9 "$SAVER" 2>/dev/null; wait "$SAVER" 2>/dev/null
partial="$(stat -c %s "$TMP/big-saved.partial" 2>/dev/null || echo 0)"
"$G" image save --file "$TMP/big-saved" "$BIG_ID" 2>"$TMP/err"
if [ "$partial" -gt 0 ] && [ "$partial" -lt 200000000 ] && cmp -s "$TMP/big" "$TMP/big-saved"; then
  ok "save resumed after a kill at $partial bytes: the same bytes"
else
  bad "save resumed after a kill" "partial=$partial $(cat "$TMP/err")"
fi

# Sharing with another project.
if [ -n "${ALT_OS_USERNAME:-}" ]; then
  alt() { env -u OS_CLOUD OS_USERNAME="$ALT_OS_USERNAME" OS_PASSWORD="$ALT_OS_PASSWORD" \
    OS_PROJECT_NAME="$ALT_OS_PROJECT_NAME" "$G" "$@"; }
  ALT_PROJECT="$(curl -s -H 'Content-Type: application/json' "${OS_AUTH_URL%/}/auth/tokens" -d '{"auth": {
    "identity": {"methods": ["password"], "password": {"user": {"name": "'"$ALT_OS_USERNAME"'",
      "domain": {"name": "'"${OS_USER_DOMAIN_NAME:-Default}"'"}, "password": "'"$ALT_OS_PASSWORD"'"}}},
    "scope": {"project": {"name": "'"$ALT_OS_PROJECT_NAME"'", "domain": {"name": "'"${OS_PROJECT_DOMAIN_NAME:-Default}"'"}}}}}' |
    json 'd["token"]["project"]["id"]')"
  "$G" image set --shared "$STDIN_ID" >/dev/null 2>&1
  "$G" image add project "$STDIN_ID" "$ALT_PROJECT" >/dev/null 2>"$TMP/err"
  check "add project: member pending" pending \
    "$("$G" image member list "$STDIN_ID" -f value -c Status 2>&1)"
  check "the member does not list a pending image" "" \
    "$(alt image list --name "$RUN-c-stdin" -f value -c Name 2>&1)"
  alt image set --accept "$STDIN_ID" >/dev/null 2>&1
  check "the member accepts: listed" "$RUN-c-stdin" "$(alt image list --name "$RUN-c-stdin" -f value -c Name 2>&1)"
  check "the member may not change it" 1 "$(alt image set --name x "$STDIN_ID" >/dev/null 2>&1; echo $?)"
fi

# Errors: exit 1 and one line.
"$G" image show "no-such-image-$RUN" >/dev/null 2>"$TMP/err"
rc=$?
check "show of an unknown image: exit 1, one line" "1 1" "$rc $(wc -l < "$TMP/err")"
OS_AUTH_URL=http://127.0.0.1:9/v3 env -u OS_CLOUD "$G" image list >/dev/null 2>"$TMP/err"
rc=$?
if [ "$rc" = 1 ] && grep -q "refused" "$TMP/err" && [ "$(wc -l < "$TMP/err")" = 1 ]; then
  ok "unreachable identity service: exit 1, one line saying refused"
else
  bad "unreachable identity service" "rc=$rc $(cat "$TMP/err")"
fi

# Delete.
"$G" image delete "$QUEUED_ID" "$FILE_ID" >/dev/null 2>&1
check "delete" "1 1" "$("$G" image show "$QUEUED_ID" >/dev/null 2>&1; echo -n "$? "; "$G" image show "$FILE_ID" >/dev/null 2>&1; echo $?)"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
