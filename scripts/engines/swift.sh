#!/usr/bin/env bash
# A one-node OpenStack Swift on 127.0.0.1 from Debian's packages (2.30): proxy, account,
# container and object servers and memcached; one replica on one device, a plain directory.
# The proxy serves the Swift API (tempauth at /auth/v1.0) and the S3 API (s3api: access key
# test:tester, secret testing, region us-east-1, path-style) on the same port.
#   swift.sh up        install (once), create (once) and start it; prints, one per line,
#                      NAME='value' settings for the tests (source them or eval them)
#   swift.sh down      stop it; SWIFT_PURGE=1 also deletes its configuration, rings and data
#   swift.sh installed exit 0 if Swift is installed (installing it if it can)
# Env: SWIFT_PORT (18080: the proxy) SWIFT_MEMCACHED_PORT (21211) SWIFT_PROXY_WORKERS (2)
#      SWIFT_BACKEND_PORTS (16010: account on it, container and object on the next two) or
#      SWIFT_ACCOUNT_PORT SWIFT_CONTAINER_PORT SWIFT_OBJECT_PORT; SWIFT_DIR ($ENGINES_DIR/swift)
#      SWIFT_KEYSTONE_URL (unset; e.g. http://127.0.0.1:15001/v3): Keystone tokens are
#        accepted too (authtoken + keystoneauth, accounts AUTH_<project id>; tempauth's
#        accounts are then TEMP_<name>), validated with the service user
#        SWIFT_KEYSTONE_USER (glance) / SWIFT_KEYSTONE_PASSWORD ($GLANCE_SERVICE_PASSWORD or
#        glance-secret) of project SWIFT_KEYSTONE_PROJECT (service), as keystone.sh creates;
#        the proxy is registered as the catalog's object-store endpoint (KEYSTONE_VENV's
#        openstack CLI, as Keystone's admin) and `up` prints GLIMPSE_TEST_SWIFT_KEYSTONE_URL
# tempauth users: test:tester / testing and glance:glance / glance (both account admins).
source "$(dirname "$0")/lib.sh"
SWIFT_DIR="${SWIFT_DIR:-$ENGINES_DIR/swift}"; SWIFT_PORT="${SWIFT_PORT:-18080}"
BASE="${SWIFT_BACKEND_PORTS:-16010}"
ACC_PORT="${SWIFT_ACCOUNT_PORT:-$BASE}"; CONT_PORT="${SWIFT_CONTAINER_PORT:-$((BASE + 1))}"
OBJ_PORT="${SWIFT_OBJECT_PORT:-$((BASE + 2))}"; MC_PORT="${SWIFT_MEMCACHED_PORT:-21211}"
KEYSTONE_URL="${SWIFT_KEYSTONE_URL:-}"
ETC="$SWIFT_DIR/etc"; DEV="$SWIFT_DIR/srv"; LOGS="$SWIFT_DIR/log"; PIDS="$SWIFT_DIR/pid"
PACKAGES=(swift-proxy swift-account swift-container swift-object python3-swiftclient memcached)
# The servers drop their privileges to this user once they have bound their ports.
if [ "$(id -u)" = 0 ]; then SWIFT_USER=swift; else SWIFT_USER="$(id -un)"; fi
# tempauth's accounts: with Keystone beside it, AUTH_ is Keystone's.
if [ -n "$KEYSTONE_URL" ]; then TEMPAUTH_PREFIX=TEMP; else TEMPAUTH_PREFIX=AUTH; fi

# With Keystone: this proxy as the catalog's object-store endpoint (once per port), so that
# a Keystone user finds its account (AUTH_<project id>) there, as in a cloud.
register_endpoint() {
  local os="${KEYSTONE_VENV:-$ENGINES_DIR/keystone-venv}/bin/openstack"
  local as_admin=(env OS_AUTH_URL="$KEYSTONE_URL" OS_IDENTITY_API_VERSION=3 OS_USERNAME=admin
    OS_PASSWORD="${KEYSTONE_ADMIN_PASSWORD:-admin}" OS_PROJECT_NAME=admin OS_USER_DOMAIN_NAME=Default
    OS_PROJECT_DOMAIN_NAME=Default)
  local url="http://127.0.0.1:$SWIFT_PORT/v1/AUTH_%(project_id)s" i
  "${as_admin[@]}" "$os" endpoint list --service object-store -f value -c URL 2>/dev/null | grep -qxF "$url" && return 0
  "${as_admin[@]}" "$os" service show object-store >/dev/null 2>&1 ||
    "${as_admin[@]}" "$os" service create --name swift object-store >/dev/null
  for i in public internal admin; do
    "${as_admin[@]}" "$os" endpoint create --region RegionOne object-store "$i" "$url" >/dev/null
  done
  log "registered $url as the object-store endpoint"
}

installed() {
  local pkgs=("${PACKAGES[@]}")
  [ -n "$KEYSTONE_URL" ] && pkgs+=(python3-keystonemiddleware)
  apt_install "${pkgs[@]}" || return 1
  [ -x /usr/bin/swift-proxy-server ] && command -v memcached >/dev/null
}

write_config() {
  cat > "$ETC/swift.conf" <<CONF
[swift-hash]
swift_hash_path_prefix = glimpse-test-prefix
swift_hash_path_suffix = glimpse-test-suffix
[storage-policy:0]
name = Policy-0
default = yes
CONF
  local kind port
  for kind in account container object; do
    case $kind in account) port=$ACC_PORT ;; container) port=$CONT_PORT ;; object) port=$OBJ_PORT ;; esac
    cat > "$ETC/$kind-server.conf" <<CONF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $port
workers = 1
user = $SWIFT_USER
swift_dir = $ETC
devices = $DEV
mount_check = false
log_name = $kind-server
[pipeline:main]
pipeline = healthcheck $kind-server
[app:$kind-server]
use = egg:swift#$kind
$([ $kind = object ] && printf '%s\n' "# 1 MiB rather than 64 KiB chunks: faster big objects." \
  "network_chunk_size = 1048576" "disk_chunk_size = 1048576")
[filter:healthcheck]
use = egg:swift#healthcheck
CONF
  done
  # s3api comes before the auth filters. With Keystone, keystoneauth runs before tempauth:
  # it marks every request without a Keystone identity anonymous, and tempauth then takes
  # over those that carry its own tokens (or S3 signatures). (A Keystone token on one of
  # tempauth's accounts is then 500, not 403: tempauth cannot read Keystone's identity.)
  local auth="tempauth"
  [ -n "$KEYSTONE_URL" ] && auth="authtoken keystoneauth tempauth"
  cat > "$ETC/proxy-server.conf" <<CONF
[DEFAULT]
bind_ip = 127.0.0.1
bind_port = $SWIFT_PORT
workers = ${SWIFT_PROXY_WORKERS:-2}
user = $SWIFT_USER
swift_dir = $ETC
log_name = proxy-server
[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats tempurl s3api $auth copy slo dlo proxy-logging proxy-server
[app:proxy-server]
use = egg:swift#proxy
# 1 MiB rather than 64 KiB chunks: a 1 GiB GET ~150 -> ~180 MB/s on two busy cores.
object_chunk_size = 1048576
client_chunk_size = 1048576
account_autocreate = true
[filter:tempauth]
use = egg:swift#tempauth
reseller_prefix = $TEMPAUTH_PREFIX
user_test_tester = testing .admin
user_glance_glance = glance .admin
[filter:s3api]
use = egg:swift#s3api
location = us-east-1
[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$MC_PORT
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:tempurl]
use = egg:swift#tempurl
[filter:copy]
use = egg:swift#copy
[filter:slo]
use = egg:swift#slo
[filter:dlo]
use = egg:swift#dlo
CONF
  [ -n "$KEYSTONE_URL" ] && cat >> "$ETC/proxy-server.conf" <<CONF
[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory
www_authenticate_uri = $KEYSTONE_URL
auth_url = $KEYSTONE_URL
auth_type = password
project_domain_id = default
user_domain_id = default
project_name = ${SWIFT_KEYSTONE_PROJECT:-service}
username = ${SWIFT_KEYSTONE_USER:-glance}
password = ${SWIFT_KEYSTONE_PASSWORD:-${GLANCE_SERVICE_PASSWORD:-glance-secret}}
memcached_servers = 127.0.0.1:$MC_PORT
# Tokens it cannot validate (tempauth's, S3 signatures) go on to the next filters.
delay_auth_decision = true
[filter:keystoneauth]
use = egg:swift#keystoneauth
reseller_prefix = AUTH_
operator_roles = admin, member
CONF
  return 0
}

# The three rings, built in one Python process: nine swift-ring-builder runs take ~7 times
# longer. Part power 6, one replica, one device.
build_rings() {
  /usr/bin/python3 - "$ETC" "$ACC_PORT" "$CONT_PORT" "$OBJ_PORT" <<'PY'
import sys
from swift.common.ring import RingBuilder
etc = sys.argv[1]
for kind, port in zip(("account", "container", "object"), map(int, sys.argv[2:5])):
    b = RingBuilder(6, 1, 1)
    b.add_dev({"region": 1, "zone": 1, "ip": "127.0.0.1", "port": port, "device": "sdb1", "weight": 1})
    b.rebalance()
    b.save(f"{etc}/{kind}.builder")
    b.get_ring().save(f"{etc}/{kind}.ring.gz")
PY
}

healthy() { curl -sf -m 2 -o /dev/null "http://127.0.0.1:$1/healthcheck"; }

up() {
  installed || { log "Swift is not installed and cannot be"; exit 1; }
  if [ "$SWIFT_USER" = swift ] && ! id swift >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/swift --shell /usr/sbin/nologin swift
  fi
  mkdir -p "$ETC" "$DEV/sdb1" "$LOGS" "$PIDS"
  # Swift keeps object metadata in user xattrs.
  python3 -c 'import os, sys; p = sys.argv[1] + "/.xattr-probe"; open(p, "w").close(); os.setxattr(p, "user.swift.probe", b"x" * 2048); os.remove(p)' \
    "$DEV/sdb1" || { log "the filesystem of $DEV has no user xattrs: Swift cannot store objects there"; exit 1; }
  write_config
  local ports="$ACC_PORT $CONT_PORT $OBJ_PORT"
  if [ ! -s "$ETC/object.ring.gz" ] || [ "$(cat "$ETC/ring-ports" 2>/dev/null)" != "$ports" ]; then
    log "swift: rings in $ETC"
    build_rings
    echo "$ports" > "$ETC/ring-ports"
  fi
  # The servers' user must reach its directory through the engines' directory.
  chmod o+x "$ENGINES_DIR"
  [ "$(id -u)" = 0 ] && chown -R "$SWIFT_USER" "$SWIFT_DIR"
  if ! running "$PIDS/memcached.pid"; then
    port_free "$MC_PORT" || { log "swift: 127.0.0.1:$MC_PORT is taken: cannot start memcached"; exit 1; }
    local as=(); [ "$(id -u)" = 0 ] && as=(-u "$SWIFT_USER")
    # tempauth keeps its tokens in memcached: without it every request is 401.
    setsid memcached -l 127.0.0.1 -p "$MC_PORT" -U 0 -m 64 "${as[@]}" \
      </dev/null >>"$LOGS/memcached.log" 2>&1 &
    echo $! > "$PIDS/memcached.pid"
  fi
  local s p
  for s in account container object proxy; do
    running "$PIDS/$s.pid" && continue
    p="$(sed -n 's/^bind_port = //p' "$ETC/$s-server.conf")"
    port_free "$p" || { log "swift: 127.0.0.1:$p is taken: cannot start swift-$s-server"; exit 1; }
    log "starting swift-$s-server$([ $s = proxy ] && echo " on 127.0.0.1:$SWIFT_PORT")"
    # -v: logs to stderr, into the log file (there is no syslog to send them to).
    setsid "/usr/bin/swift-$s-server" "$ETC/$s-server.conf" -v </dev/null >>"$LOGS/$s.log" 2>&1 &
    echo $! > "$PIDS/$s.pid"
  done
  for p in "$ACC_PORT" "$CONT_PORT" "$OBJ_PORT" "$SWIFT_PORT"; do
    wait_for healthy "$p" || { tail -n 20 "$LOGS"/*.log >&2; exit 1; }
  done
  local auth="http://127.0.0.1:$SWIFT_PORT/auth/v1.0" headers token url
  headers="$(curl -sf -m 10 -D - -o /dev/null -H 'X-Auth-User: test:tester' -H 'X-Auth-Key: testing' "$auth")" ||
    { log "tempauth gives no token (memcached on 127.0.0.1:$MC_PORT?)"; tail -n 20 "$LOGS/proxy.log" >&2; exit 1; }
  token="$(printf '%s\n' "$headers" | tr -d '\r' | sed -n 's/^[Xx]-[Aa]uth-[Tt]oken: //p')"
  url="$(printf '%s\n' "$headers" | tr -d '\r' | sed -n 's/^[Xx]-[Ss]torage-[Uu]rl: //p')"
  # The tests' container, which is also their S3 bucket (the same account).
  curl -sf -m 10 -o /dev/null -X PUT -H "X-Auth-Token: $token" "$url/glimpse" ||
    { log "cannot create the container glimpse"; exit 1; }
  echo "GLIMPSE_TEST_SWIFT_URL='swift://test%3Atester:testing@127.0.0.1:$SWIFT_PORT/auth/v1.0?container=glimpse'"
  if [ -n "$KEYSTONE_URL" ]; then
    register_endpoint
    local k="${KEYSTONE_URL#*://}"
    echo "GLIMPSE_TEST_SWIFT_KEYSTONE_URL='swift+keystone://${SWIFT_KEYSTONE_USER:-glance}:${SWIFT_KEYSTONE_PASSWORD:-${GLANCE_SERVICE_PASSWORD:-glance-secret}}@$k?project=${SWIFT_KEYSTONE_PROJECT:-service}&container=glimpse'"
  fi
  echo "GLIMPSE_TEST_S3_URL='s3://test%3Atester:testing@127.0.0.1:$SWIFT_PORT/glimpse?region=us-east-1&path_style=true'"
}

down() {
  local s
  # All of them at once, then wait for each.
  for s in proxy object container account memcached; do
    if running "$PIDS/$s.pid"; then kill "$(cat "$PIDS/$s.pid")" 2>/dev/null || true; fi
  done
  for s in proxy object container account memcached; do stop_pidfile "$PIDS/$s.pid"; done
  [ "${SWIFT_PURGE:-0}" = 1 ] && rm -rf "$SWIFT_DIR"
  log "Swift stopped"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  installed) installed ;;
  *) echo "usage: $0 up|down|installed" >&2; exit 2 ;;
esac
