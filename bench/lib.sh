# Shared by bench/run.sh and bench/ab.sh: start a Glimpse server and get an admin token.
# Expects PORT, PASSWORD and WORK to be set.

SERVER_PID=""

# start_glimpse BIN DATA_DIR: starts a server, waits until it answers, sets SERVER_PID and
# STARTUP (seconds from exec to the first answered request).
start_glimpse() {
  local bin="$1" data="$2"
  local t0=$EPOCHREALTIME
  GLIMPSE_ADMIN_PASSWORD="$PASSWORD" "$bin" serve --data-dir "$data" --port "$PORT" --log-level warning \
    >"$WORK/glimpse.log" 2>&1 &
  SERVER_PID=$!
  until curl -s -o /dev/null "http://127.0.0.1:$PORT/"; do
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/glimpse.log" >&2; exit 1; }
    sleep 0.005
  done
  STARTUP=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }')
}

stop_glimpse() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}

# glimpse_token: an admin token from the server on PORT.
glimpse_token() {
  curl -s -D - -o /dev/null -H 'Content-Type: application/json' "http://127.0.0.1:$PORT/identity/v3/auth/tokens" -d '{
    "auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin",
      "domain": {"id": "default"}, "password": "'"$PASSWORD"'"}}},
      "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}' |
    awk 'tolower($1) == "x-subject-token:" { sub(/\r$/, "", $2); print $2 }'
}

# glimpse_member_token: a token of user bench-member, who holds the member role on the
# admin project (made on first use), from the server on PORT; needs TOKEN (an admin's).
glimpse_member_token() {
  local id="http://127.0.0.1:$PORT/identity/v3" auth=(-H "X-Auth-Token: $TOKEN" -H 'Content-Type: application/json')
  local first='import json, sys; print(next(iter(json.load(sys.stdin).values()))[0]["id"])'
  local project role user
  project="$(curl -s "${auth[@]}" "$id/projects?name=admin" | python3 -c "$first")"
  role="$(curl -s "${auth[@]}" "$id/roles?name=member" | python3 -c "$first")"
  user="$(curl -s "${auth[@]}" "$id/users?name=bench-member" | python3 -c "$first" 2>/dev/null)" ||
    user="$(curl -s "${auth[@]}" "$id/users" -d '{"user": {"name": "bench-member", "domain_id": "default",
      "password": "'"$PASSWORD"'"}}' | python3 -c 'import json, sys; print(json.load(sys.stdin)["user"]["id"])')"
  curl -s -o /dev/null "${auth[@]}" -X PUT "$id/projects/$project/users/$user/roles/$role"
  curl -s -D - -o /dev/null -H 'Content-Type: application/json' "$id/auth/tokens" -d '{
    "auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "bench-member",
      "domain": {"id": "default"}, "password": "'"$PASSWORD"'"}}},
      "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}' |
    awk 'tolower($1) == "x-subject-token:" { sub(/\r$/, "", $2); print $2 }'
}
