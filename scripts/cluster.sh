#!/usr/bin/env bash
# Glimpse at scale, on one machine: PostgreSQL, Keystone, two Glimpse API nodes sharing the
# database and an image store (a directory, or the object store CLUSTER_STORE_URL names),
# and HAProxy in front of them, all on 127.0.0.1.
#   cluster.sh up            start everything (created on first use; running nodes are
#                            restarted with the configuration as it is now); ends with
#                            the OS_* lines of a Keystone admin, the catalog's image
#                            endpoint being the load balancer (its `image_local`
#                            endpoint the first node, its `image_remote` the last)
#   cluster.sh down          stop what `up` started (CLUSTER_PURGE=1: delete its state too)
#   cluster.sh status        what runs, and each node's health
#   cluster.sh kill-node N   kill -9 node N (1 or 2), as a crash would
#   cluster.sh crash-idle-node N
#                            take node N out of the load balancer, wait until no request
#                            is in flight through it (10 s at most), then kill -9 it: a
#                            crash that no client sees, whatever HAProxy can replay
#   cluster.sh start-node N  start node N again (and back into the load balancer)
# Env: ENGINES_DIR ($TMPDIR/glimpse-engines) GLIMPSE_BIN (.build/debug/glimpse, built if
#      missing) LB_PORT (18090) NODE_PORTS ("18101 18102") PG_PORT (15432) KEYSTONE_PORT
#      (15001) CLUSTER_SETTINGS (more settings for the nodes' config file, `key = value`
#      lines, e.g. "require_format_match = false") CLUSTER_STORE_URL (the nodes' image
#      store, e.g. swift://…; a shared directory if unset) CLUSTER_NODE_CACHE (1: each
#      node keeps an image cache in its own directory)
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/engines/lib.sh"
CLUSTER_DIR="$ENGINES_DIR/cluster"
GLIMPSE_BIN="${GLIMPSE_BIN:-$ROOT/.build/debug/glimpse}"
LB_PORT="${LB_PORT:-18090}"; NODE_PORTS=(${NODE_PORTS:-18101 18102})
export PG_PORT="${PG_PORT:-15432}" KEYSTONE_PORT="${KEYSTONE_PORT:-15001}"
KEYSTONE_ADMIN_PASSWORD="${KEYSTONE_ADMIN_PASSWORD:-admin}"
LB_URL="http://127.0.0.1:$LB_PORT"; KEYSTONE_URL="http://127.0.0.1:$KEYSTONE_PORT/v3"
CONF="$CLUSTER_DIR/glimpse.conf"
LB_SOCKET="$ENGINES_DIR/haproxy/admin.sock"

admin_env() {
  cat <<ENV
export OS_AUTH_URL=$KEYSTONE_URL
export OS_IDENTITY_API_VERSION=3
export OS_USERNAME=admin
export OS_PASSWORD=$KEYSTONE_ADMIN_PASSWORD
export OS_PROJECT_NAME=admin
export OS_USER_DOMAIN_NAME=Default
export OS_PROJECT_DOMAIN_NAME=Default
export OS_REGION_NAME=RegionOne
ENV
}

# Engines already running before `up` are left running by `down`.
remember() { echo "$1" >> "$CLUSTER_DIR/started"; }
started() { grep -qx "$1" "$CLUSTER_DIR/started" 2>/dev/null; }

start_node() {
  local n="$1" port="${NODE_PORTS[$(($1 - 1))]}" dir="$CLUSTER_DIR/node$1"
  if running "$dir/pid"; then return 0; fi
  mkdir -p "$dir"
  local cache=()
  [ -f "$CLUSTER_DIR/node-cache" ] && cache=(--set "image_cache_dir=$dir/image-cache")
  setsid "$GLIMPSE_BIN" serve --config "$CONF" --port "$port" --data-dir "$dir" "${cache[@]}" \
    </dev/null >>"$dir/stdout.log" 2>>"$dir/server.log" &
  echo $! > "$dir/pid"
  wait_for curl -sf -m 2 "http://127.0.0.1:$port/healthcheck" || { tail -20 "$dir/server.log" >&2; return 1; }
  [ -S "$LB_SOCKET" ] && lb_command "set server glimpse/node$n state ready" >/dev/null
  log "node $n up on 127.0.0.1:$port"
}

# lb_command COMMAND: one command on HAProxy's admin socket; prints the answer.
lb_command() {
  python3 - "$LB_SOCKET" "$1" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
answer = b""
while chunk := s.recv(65536):
    answer += chunk
print(answer.decode(), end="")
PY
}

# In-flight requests through node N, from HAProxy's statistics (scur).
node_sessions() {
  lb_command "show stat" | awk -F, -v node="node$1" '$1 == "glimpse" && $2 == node { print $5 }'
}

crash_idle_node() {
  lb_command "set server glimpse/node$1 state maint" >/dev/null
  for _ in $(seq 50); do [ "$(node_sessions "$1")" = 0 ] && break; sleep 0.2; done
  kill -9 "$(cat "$CLUSTER_DIR/node$1/pid")"
  log "node $1 killed with $(node_sessions "$1") request(s) in flight"
}

up() {
  mkdir -p "$CLUSTER_DIR/secrets" "$CLUSTER_DIR/images"
  [ -x "$GLIMPSE_BIN" ] || (cd "$ROOT" && swift build --product glimpse >&2)
  port_free "$PG_PORT" && remember postgres
  local db_url; db_url="$(PG_DB=glimpse_cluster "$ROOT/scripts/engines/postgres.sh" up)"
  port_free "$KEYSTONE_PORT" && remember keystone
  GLANCE_SERVICE_PASSWORD=glance-secret "$ROOT/scripts/engines/keystone.sh" up >/dev/null
  # Secrets in files only the nodes read, never on a command line or in the config file.
  (umask 077; printf '%s\n' "$db_url?sslmode=disable" > "$CLUSTER_DIR/secrets/database-url"
   printf '%s\n' glance-secret > "$CLUSTER_DIR/secrets/keystone-password"
   printf '%s\n' "${CLUSTER_STORE_URL:-file://$CLUSTER_DIR/images}" > "$CLUSTER_DIR/secrets/store-url")
  if [ "${CLUSTER_NODE_CACHE:-0}" = 1 ]; then touch "$CLUSTER_DIR/node-cache"; else rm -f "$CLUSTER_DIR/node-cache"; fi
  cat > "$CONF" <<CONF
# Written by scripts/cluster.sh: two nodes, one database, one image store.
# docs/deploying.md explains each setting.
[DEFAULT]
public_url = $LB_URL
database_url_file = $CLUSTER_DIR/secrets/database-url
identity = keystone
keystone_url = $KEYSTONE_URL
keystone_service_user = glance
keystone_service_password_file = $CLUSTER_DIR/secrets/keystone-password
keystone_service_project = service
token_cache_time = 300
# Shared by every node: an object store, or a directory (NFS or the like between machines).
store_url_file = $CLUSTER_DIR/secrets/store-url
${CLUSTER_SETTINGS:-}
CONF
  for n in $(seq ${#NODE_PORTS[@]}); do
    stop_pidfile "$CLUSTER_DIR/node$n/pid"
    start_node "$n"
  done
  local backends=""; for p in "${NODE_PORTS[@]}"; do backends+="127.0.0.1:$p "; done
  running "$ENGINES_DIR/haproxy/haproxy.pid" || remember haproxy
  LB_PORT="$LB_PORT" LB_BACKENDS="$backends" "$ROOT/scripts/engines/haproxy.sh" up >/dev/null
  (eval "$(admin_env)"; export OPENSTACK="${KEYSTONE_VENV:-$ENGINES_DIR/keystone-venv}/bin/openstack"
   "$ROOT/scripts/keystone-register.sh" "$LB_URL" RegionOne >&2
   # The last node reached directly, as `image_remote`: Tempest's alternate_image_endpoint,
   # whose tests stage on one node and import or delete on another.
   SERVICE_TYPE=image_remote SERVICE_NAME=glance-remote "$ROOT/scripts/keystone-register.sh" \
     "http://127.0.0.1:${NODE_PORTS[-1]}" RegionOne >&2
   # The first node reached directly, as `image_local`: a client of one node's own state
   # (its image cache) through it, beside `image_remote`.
   SERVICE_TYPE=image_local SERVICE_NAME=glance-local "$ROOT/scripts/keystone-register.sh" \
     "http://127.0.0.1:${NODE_PORTS[0]}" RegionOne >&2)
  # Keystone's workers cache the catalog: new tokens name the image endpoint at once.
  "$ROOT/scripts/engines/keystone.sh" reload
  log "cluster up: images at $LB_URL, identity at $KEYSTONE_URL"
  admin_env
}

down() {
  for n in $(seq ${#NODE_PORTS[@]}); do stop_pidfile "$CLUSTER_DIR/node$n/pid"; done
  started haproxy && "$ROOT/scripts/engines/haproxy.sh" down
  started keystone && KEYSTONE_PURGE="${CLUSTER_PURGE:-0}" "$ROOT/scripts/engines/keystone.sh" down
  started postgres && PG_PURGE="${CLUSTER_PURGE:-0}" "$ROOT/scripts/engines/postgres.sh" down
  rm -f "$CLUSTER_DIR/started"
  [ "${CLUSTER_PURGE:-0}" = 1 ] && rm -rf "$CLUSTER_DIR"
  log "cluster down"
}

status() {
  local n port
  for n in $(seq ${#NODE_PORTS[@]}); do
    port="${NODE_PORTS[$((n - 1))]}"
    if running "$CLUSTER_DIR/node$n/pid"; then
      echo "node $n (127.0.0.1:$port): $(curl -s -m 5 "http://127.0.0.1:$port/healthcheck" | head -1)"
    else
      echo "node $n (127.0.0.1:$port): stopped"
    fi
  done
  echo "load balancer $LB_URL: $(curl -s -m 5 "$LB_URL/healthcheck" | head -1)"
  echo "keystone $KEYSTONE_URL: $(curl -s -m 5 -o /dev/null -w '%{http_code}' "$KEYSTONE_URL")"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  kill-node) kill -9 "$(cat "$CLUSTER_DIR/node${2:?node number}/pid")"; log "node $2 killed" ;;
  crash-idle-node) crash_idle_node "${2:?node number}" ;;
  start-node) start_node "${2:?node number}" ;;
  *) echo "usage: $0 up|down|status|kill-node N|crash-idle-node N|start-node N" >&2; exit 2 ;;
esac
