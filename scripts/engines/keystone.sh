#!/usr/bin/env bash
# OpenStack Keystone from PyPI (in a venv), served by gunicorn on 127.0.0.1: the identity
# service of a cloud, for running Glimpse with `identity = keystone`.
#   keystone.sh up     install (once), create (once) and start it; prints its v3 URL
#   keystone.sh reload restart its workers, dropping their caches (a new endpoint is in
#                      tokens' catalogs at once rather than after the cache's 60 s)
#   keystone.sh down   stop it; KEYSTONE_PURGE=1 also deletes its database and keys
# Env: KEYSTONE_PORT (15001) KEYSTONE_ADMIN_PASSWORD (admin) KEYSTONE_DIR ($ENGINES_DIR/keystone)
#      KEYSTONE_VENV ($ENGINES_DIR/keystone-venv) KEYSTONE_WORKERS (2)
#      GLANCE_SERVICE_PASSWORD (glance-secret): password of the `glance` service user
# It has: user admin (project admin, role admin); roles admin, member, reader, service;
# project service with user glance (roles admin and service: it may validate tokens).
source "$(dirname "$0")/lib.sh"
KEYSTONE_DIR="${KEYSTONE_DIR:-$ENGINES_DIR/keystone}"; VENV="${KEYSTONE_VENV:-$ENGINES_DIR/keystone-venv}"
PORT="${KEYSTONE_PORT:-15001}"; ADMIN_PASSWORD="${KEYSTONE_ADMIN_PASSWORD:-admin}"
URL="http://127.0.0.1:$PORT"; CONF="$KEYSTONE_DIR/keystone.conf"; PIDFILE="$KEYSTONE_DIR/gunicorn.pid"
# Keystone warns about eventlet at every start.
export PYTHONWARNINGS=ignore

up() {
  if [ ! -x "$VENV/bin/keystone-manage" ] || [ ! -x "$VENV/bin/gunicorn" ]; then
    log "pip install keystone gunicorn into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q keystone gunicorn python-openstackclient >&2
  fi
  mkdir -p "$KEYSTONE_DIR"/{fernet-keys,credential-keys,log}
  if [ ! -s "$CONF" ]; then
    cat > "$CONF" <<CONF
[DEFAULT]
log_file = $KEYSTONE_DIR/log/keystone.log
[database]
connection = sqlite:///$KEYSTONE_DIR/keystone.db
[token]
provider = fernet
expiration = 3600
[fernet_tokens]
key_repository = $KEYSTONE_DIR/fernet-keys
[fernet_receipts]
key_repository = $KEYSTONE_DIR/fernet-keys
[credential]
key_repository = $KEYSTONE_DIR/credential-keys
[cache]
# Without a cache each validation runs hundreds of queries (over a second on SQLite).
# The cache is per worker: a revoked token can stay valid in another worker for up to
# expiration_time.
enabled = true
backend = dogpile.cache.memory
expiration_time = 60
[identity]
# bcrypt's minimum cost: fast password checks, for test clouds only.
password_hash_rounds = 4
CONF
  fi
  local manage=("$VENV/bin/keystone-manage" --config-file "$CONF") seed=0
  if [ ! -e "$KEYSTONE_DIR/.created" ]; then
    log "keystone: database, keys, bootstrap"
    "${manage[@]}" db_sync
    "${manage[@]}" fernet_setup --keystone-user "$(id -un)" --keystone-group "$(id -gn)"
    "${manage[@]}" credential_setup --keystone-user "$(id -un)" --keystone-group "$(id -gn)"
    "${manage[@]}" bootstrap --bootstrap-password "$ADMIN_PASSWORD" --bootstrap-admin-url "$URL/v3" \
      --bootstrap-internal-url "$URL/v3" --bootstrap-public-url "$URL/v3" --bootstrap-region-id RegionOne
    seed=1
  fi
  if ! running "$PIDFILE"; then
    log "starting Keystone on $URL"
    # Keystone reads sys.argv with oslo.config: gunicorn gets no arguments, only this file.
    cat > "$KEYSTONE_DIR/gunicorn.conf.py" <<GUNICORN
wsgi_app = "keystone.wsgi.api:application"
bind = "127.0.0.1:$PORT"
workers = ${KEYSTONE_WORKERS:-2}
timeout = 120
daemon = True
pidfile = "$PIDFILE"
accesslog = "$KEYSTONE_DIR/log/access.log"
errorlog = "$KEYSTONE_DIR/log/gunicorn.log"
raw_env = ["OS_KEYSTONE_CONFIG_FILES=$CONF"]
GUNICORN
    # Its own session and stdio: a daemon holding the caller's pipe would hang CI steps.
    (cd "$KEYSTONE_DIR" && OS_KEYSTONE_CONFIG_FILES="$CONF" setsid "$VENV/bin/gunicorn" \
      </dev/null >>"$KEYSTONE_DIR/log/gunicorn.stdio" 2>&1)
  fi
  WAIT_SECS=120 wait_for curl -sf -m 5 "$URL/v3"
  if [ "$seed" = 1 ]; then
    log "keystone: roles and the glance service user"
    "$VENV/bin/python" - "$URL/v3" "$ADMIN_PASSWORD" "${GLANCE_SERVICE_PASSWORD:-glance-secret}" <<'PY'
import json, sys, urllib.request
base, admin_pw, glance_pw = sys.argv[1:4]
def call(method, path, body=None, token=None):
    headers = {"Content-Type": "application/json"}
    if token: headers["X-Auth-Token"] = token
    req = urllib.request.Request(base + path, method=method, headers=headers,
                                 data=json.dumps(body).encode() if body else None)
    with urllib.request.urlopen(req) as r:
        data = r.read()
        return r.headers, json.loads(data) if data else None
headers, _ = call("POST", "/auth/tokens", {"auth": {"identity": {"methods": ["password"], "password": {"user": {
    "name": "admin", "domain": {"id": "default"}, "password": admin_pw}}},
    "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}})
token = headers["X-Subject-Token"]
def ensure(kind, name, extra):
    _, found = call("GET", f"/{kind}?name={name}", token=token)
    if found[kind]: return found[kind][0]["id"]
    return call("POST", f"/{kind}", {kind[:-1]: {"name": name, **extra}}, token)[1][kind[:-1]]["id"]
roles = {r: ensure("roles", r, {}) for r in ("admin", "member", "reader", "service")}
service = ensure("projects", "service", {"domain_id": "default"})
glance = ensure("users", "glance", {"domain_id": "default", "password": glance_pw})
for r in ("admin", "service"):
    call("PUT", f"/projects/{service}/users/{glance}/roles/{roles[r]}", token=token)
PY
    touch "$KEYSTONE_DIR/.created"
  fi
  echo "$URL/v3"
}

down() {
  stop_pidfile "$PIDFILE"
  [ "${KEYSTONE_PURGE:-0}" = 1 ] && rm -rf "$KEYSTONE_DIR"
  log "Keystone stopped"
}

reload() {
  running "$PIDFILE" || { log "Keystone is not running"; return 1; }
  kill -HUP "$(cat "$PIDFILE")"
  sleep 1
  WAIT_SECS=60 wait_for curl -sf -m 5 "$URL/v3"
}

case "${1:-}" in
  up) up ;;
  reload) reload ;;
  down) down ;;
  *) echo "usage: $0 up|reload|down" >&2; exit 2 ;;
esac
