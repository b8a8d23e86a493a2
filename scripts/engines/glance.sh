#!/usr/bin/env bash
# Real OpenStack Glance 33 (PyPI, in a venv) under uWSGI on 127.0.0.1, as devstack runs it:
# the other side of the benchmarks, and the image service of the reference cloud the client
# is tested against.
#   glance.sh up     install (once, 1–2 min), write its configuration, start it
#   glance.sh down   stop it (GLANCE_WIPE=1 also deletes its images and SQLite database)
# Env: GLANCE_HOME ($TMPDIR/glimpse-glance) GLANCE_PORT (9494) GLANCE_PROCESSES (2)
#      GLANCE_THREADS (1) GLANCE_HTTP (http: a connection per request as devstack; http11:
#      keep-alive) GLANCE_VERSION (glance==33.0.0) GLANCE_VENV ($GLANCE_HOME/venv)
#      GLANCE_DATABASE_URL (default SQLite in GLANCE_HOME; e.g.
#        postgresql+psycopg2://user:pass@127.0.0.1:5432/glance — psycopg2 is installed for it)
#      GLANCE_AUTH: headers (default: no token check; the identity comes from the headers
#        X-Identity-Status: Confirmed, X-Project-Id, X-User-Id, X-Roles, policy enforced)
#        or keystone (keystonemiddleware against KEYSTONE_URL with the service user
#        GLANCE_SERVICE_USER/GLANCE_SERVICE_PASSWORD of project service; tokens cached in
#        each worker as keystonemiddleware does without memcached)
#      GLANCE_STORE: where image data goes (glance_store 5.7, backend id = the store's name):
#        file (default: $GLANCE_HOME/data/images)
#        swift: GLANCE_SWIFT_CONTAINER (glance), large objects at glance_store's defaults
#          (5 GiB, 200 MiB segments). glance_store 5.7 signs in to Swift through Keystone v3
#          only (swift_store_auth_version accepts only 3), so either
#          - single tenant: GLANCE_SWIFT_AUTH_ADDRESS (a Keystone v3 URL),
#            GLANCE_SWIFT_USER (project:user) GLANCE_SWIFT_KEY, optional GLANCE_SWIFT_ENDPOINT
#            (the account URL instead of the catalog's); or
#          - GLANCE_SWIFT_MULTI_TENANT=1: each request's own token and account; clients send
#            X-Auth-Token (e.g. a tempauth token) and X-Service-Catalog, or GLANCE_SWIFT_ENDPOINT
#            (e.g. http://127.0.0.1:18080/v1/AUTH_test) names the account; a container
#            <container>_<image id> per image; no trusts (swift_store_use_trusts = False)
#        s3: GLANCE_S3_HOST (http://127.0.0.1:18080) GLANCE_S3_ACCESS_KEY (test:tester)
#          GLANCE_S3_SECRET_KEY (testing) GLANCE_S3_BUCKET (glance) GLANCE_S3_REGION (unset:
#          buckets are created without a LocationConstraint, as RGW wants); path-style URLs,
#          bucket created on the first PUT, multipart over 100 MiB in 10 MiB parts
#          (glance_store's defaults)
#        The store's client (python-swiftclient, boto3) is installed into the venv as needed.
set -euo pipefail
GH="${GLANCE_HOME:-${TMPDIR:-/tmp}/glimpse-glance}"
PORT="${GLANCE_PORT:-9494}"
AUTH="${GLANCE_AUTH:-headers}"
VENV="${GLANCE_VENV:-$GH/venv}"; ETC="$GH/etc"; STATE="$GH/state"; DATA="$GH/data"; LOGS="$GH/logs"
PIDFILE="$STATE/uwsgi.pid"
DB_URL="${GLANCE_DATABASE_URL:-sqlite:///$STATE/glance.sqlite}"
STORE="${GLANCE_STORE:-file}"

# The [glance_store] default and the image store's own section.
store_config() {
  case "$STORE" in
    file) cat <<CONF
[glance_store]
default_backend = fs
[fs]
filesystem_store_datadir = $DATA/images
CONF
    ;;
    swift)
      cat <<CONF
[glance_store]
default_backend = swift
[swift]
swift_store_container = ${GLANCE_SWIFT_CONTAINER:-glance}
swift_store_create_container_on_put = True
CONF
      if [ -n "${GLANCE_SWIFT_ENDPOINT:-}" ]; then echo "swift_store_endpoint = $GLANCE_SWIFT_ENDPOINT"; fi
      if [ "${GLANCE_SWIFT_MULTI_TENANT:-0}" = 1 ]; then
        printf '%s\n' "swift_store_multi_tenant = True" "swift_store_use_trusts = False"
      else
        cat <<CONF
swift_store_auth_address = ${GLANCE_SWIFT_AUTH_ADDRESS:?GLANCE_SWIFT_AUTH_ADDRESS: a Keystone v3 URL (or GLANCE_SWIFT_MULTI_TENANT=1)}
swift_store_user = ${GLANCE_SWIFT_USER:?GLANCE_SWIFT_USER (project:user)}
swift_store_key = ${GLANCE_SWIFT_KEY:?GLANCE_SWIFT_KEY}
CONF
      fi
    ;;
    s3)
      cat <<CONF
[glance_store]
default_backend = s3
[s3]
s3_store_host = ${GLANCE_S3_HOST:-http://127.0.0.1:18080}
s3_store_access_key = ${GLANCE_S3_ACCESS_KEY:-test:tester}
s3_store_secret_key = ${GLANCE_S3_SECRET_KEY:-testing}
s3_store_bucket = ${GLANCE_S3_BUCKET:-glance}
s3_store_create_bucket_on_put = True
s3_store_bucket_url_format = path
CONF
      # Unset by default: glance_store then creates buckets without a LocationConstraint,
      # which Ceph RGW needs (its zonegroup is not us-east-1).
      if [ -n "${GLANCE_S3_REGION:-}" ]; then echo "s3_store_region_name = $GLANCE_S3_REGION"; fi
    ;;
    *) echo "GLANCE_STORE must be file, swift or s3" >&2; exit 2 ;;
  esac
}

# What the store needs in the venv beyond glance: a module to import and what to install.
store_module() { case "$STORE" in swift) echo swiftclient ;; s3) echo boto3 ;; *) echo glance ;; esac; }
store_package() { case "$STORE" in swift) echo "glance_store[swift]" ;; s3) echo boto3 ;; esac; }

answers() { curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$PORT/" 2>/dev/null | grep -q '^300$'; }

up() {
  if [ -s "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null && answers; then
    echo "glance already running on 127.0.0.1:$PORT"; return 0
  fi
  if [ ! -x "$VENV/bin/uwsgi" ] || ! "$VENV/bin/python" -c 'import glance, psycopg2' 2>/dev/null; then
    echo "pip install ${GLANCE_VERSION:-glance==33.0.0} uwsgi psycopg2-binary into $VENV" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install -q "${GLANCE_VERSION:-glance==33.0.0}" uwsgi==2.0.31 psycopg2-binary
  fi
  if ! "$VENV/bin/python" -c "import $(store_module)" 2>/dev/null; then
    echo "pip install $(store_package) into $VENV (the $STORE store's client)" >&2
    "$VENV/bin/pip" install -q "$(store_package)"
  fi
  mkdir -p "$ETC" "$STATE/locks" "$DATA/images" "$DATA/staging" "$DATA/tasks" "$LOGS"
  local store_conf; store_conf="$(store_config)"
  cat > "$ETC/glance-api.conf" <<CONF
[DEFAULT]
log_file = $LOGS/glance-api.log
enabled_backends = $([ "$STORE" = file ] && echo fs || echo "$STORE"):$STORE
limit_param_default = 25
api_limit_max = 1000
image_size_cap = 1099511627776
node_staging_uri = file://$DATA/staging
enabled_import_methods = [glance-direct,web-download,copy-image]
[database]
connection = $DB_URL
$store_conf
[os_glance_staging_store]
filesystem_store_datadir = $DATA/staging
[os_glance_tasks_store]
filesystem_store_datadir = $DATA/tasks
[oslo_concurrency]
lock_path = $STATE/locks
[paste_deploy]
config_file = $ETC/glance-api-paste.ini
CONF
  case "$AUTH" in
    headers) echo "flavor = headers" >> "$ETC/glance-api.conf" ;;
    keystone) cat >> "$ETC/glance-api.conf" <<CONF
flavor = keystone
[keystone_authtoken]
www_authenticate_uri = ${KEYSTONE_URL:?KEYSTONE_URL}
auth_url = $KEYSTONE_URL
auth_type = password
user_domain_id = default
project_domain_id = default
project_name = service
username = ${GLANCE_SERVICE_USER:-glance}
password = ${GLANCE_SERVICE_PASSWORD:-glance-secret}
service_token_roles_required = true
CONF
    ;;
    *) echo "GLANCE_AUTH must be headers or keystone" >&2; exit 2 ;;
  esac
  # The wheel's paste file, plus a pipeline that trusts the identity headers (Glance's
  # context middleware without keystonemiddleware in front).
  "$VENV/bin/python" - "$VENV/etc/glance/glance-api-paste.ini" "$ETC/glance-api-paste.ini" "$STATE/healthcheck_disable" <<'PY'
import sys
src, dst, disable = sys.argv[1:4]
text = open(src).read()
keystone = "keystone = cors http_proxy_to_wsgi versionnegotiation osprofiler authtoken context rootapp"
text = text.replace(keystone, keystone + "\nheaders = cors http_proxy_to_wsgi versionnegotiation osprofiler context rootapp", 1)
text = text.replace("/etc/glance/healthcheck_disable", disable)
text += "\n[composite:glance-api-headers]\npaste.composite_factory = glance.api:root_app_factory\n/: api\n/healthcheck: healthcheck\n"
open(dst, "w").write(text)
PY
  cat > "$ETC/uwsgi.ini" <<INI
[uwsgi]
$([ "${GLANCE_HTTP:-http}" = http11 ] && echo http11-socket || echo http-socket) = 127.0.0.1:$PORT
module = glance.wsgi.api:application
virtualenv = $VENV
env = OS_GLANCE_CONFIG_DIR=$ETC
master = true
processes = ${GLANCE_PROCESSES:-2}
threads = ${GLANCE_THREADS:-1}
enable-threads = true
lazy-apps = true
thunder-lock = true
die-on-term = true
hook-master-start = unix_signal:15 gracefully_kill_them_all
buffer-size = 65535
http-auto-chunked = true
http-chunked-input = true
http-raw-body = true
socket-timeout = 30
listen = 100
pidfile = $PIDFILE
daemonize = $LOGS/uwsgi.log
need-app = true
INI
  # Glance's own schema migrations (idempotent).
  OS_GLANCE_CONFIG_DIR="$ETC" "$VENV/bin/glance-manage" --config-file "$ETC/glance-api.conf" db_sync \
    >"$LOGS/db_sync.log" 2>&1 || { tail -20 "$LOGS/db_sync.log" >&2; exit 1; }
  rm -f "$PIDFILE"
  "$VENV/bin/uwsgi" --ini "$ETC/uwsgi.ini"
  for _ in $(seq 240); do
    if answers; then echo "glance up on http://127.0.0.1:$PORT (pid $(cat "$PIDFILE"), database ${DB_URL%%:*}, auth $AUTH, store $STORE)"; return 0; fi
    sleep 0.5
  done
  tail -30 "$LOGS/uwsgi.log" "$LOGS/glance-api.log" >&2 || true
  exit 1
}

down() {
  if [ -s "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    local pid; pid="$(cat "$PIDFILE")"
    kill -TERM "$pid"
    for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL "$pid" 2>/dev/null || true
    pkill -KILL -f "uwsgi --ini $ETC/uwsgi.ini" 2>/dev/null || true
  fi
  rm -f "$PIDFILE"
  [ "${GLANCE_WIPE:-0}" = 1 ] && rm -rf "$STATE/glance.sqlite" "$DATA"
  return 0
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
