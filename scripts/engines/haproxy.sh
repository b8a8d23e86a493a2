#!/usr/bin/env bash
# HAProxy (Debian's package) on 127.0.0.1 in front of Glimpse API nodes: least-connections
# balancing, active /healthcheck probes, and requests that found a node dead retried on
# another one.
#   haproxy.sh up     write the configuration and start (or reload) HAProxy
#   haproxy.sh down   stop it
# Env: LB_PORT (18090) LB_STATS_PORT (18092) LB_BACKENDS ("127.0.0.1:18101 127.0.0.1:18102")
#      LB_DIR ($ENGINES_DIR/haproxy) LB_HEALTH_CHECKS (1; 0: none — benchmarks of a backend
#      whose health check waits behind busy workers, as Glance's does)
source "$(dirname "$0")/lib.sh"
LB_PORT="${LB_PORT:-18090}"; LB_STATS_PORT="${LB_STATS_PORT:-18092}"
LB_BACKENDS="${LB_BACKENDS:-127.0.0.1:18101 127.0.0.1:18102}"
LB_DIR="${LB_DIR:-$ENGINES_DIR/haproxy}"; CFG="$LB_DIR/haproxy.cfg"; PIDFILE="$LB_DIR/haproxy.pid"

up() {
  apt_install haproxy
  mkdir -p "$LB_DIR"
  {
    cat <<CONF
global
    maxconn 4096
    stats socket $LB_DIR/admin.sock mode 600 level admin
defaults
    mode http
    option forwardfor
    timeout connect 2s
    # Image transfers of several GiB.
    timeout client 10m
    timeout server 10m
    timeout http-request 30s
    timeout http-keep-alive 30s
    # A request whose node refused the connection or died before answering goes to
    # another node (when it was small enough for HAProxy to keep a copy: not uploads).
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response response-timeout
frontend images
    bind 127.0.0.1:$LB_PORT
    default_backend glimpse
backend glimpse
    # Long transfers: least connections, not round robin.
    balance leastconn
    option httpchk GET /healthcheck
    http-check expect status 200
    default-server $([ "${LB_HEALTH_CHECKS:-1}" = 1 ] && echo "check inter 1s fall 2 rise 1")
CONF
    local i=0 b
    for b in $LB_BACKENDS; do i=$((i + 1)); echo "    server node$i $b"; done
    cat <<CONF
listen stats
    bind 127.0.0.1:$LB_STATS_PORT
    stats enable
    stats uri /
CONF
  } > "$CFG"
  haproxy -c -q -f "$CFG"
  if running "$PIDFILE"; then
    log "reloading HAProxy"
    haproxy -f "$CFG" -D -p "$PIDFILE" -sf "$(cat "$PIDFILE")" </dev/null >>"$LB_DIR/haproxy.log" 2>&1
  else
    log "starting HAProxy on 127.0.0.1:$LB_PORT"
    haproxy -f "$CFG" -D -p "$PIDFILE" </dev/null >>"$LB_DIR/haproxy.log" 2>&1
  fi
  wait_for curl -s -m 2 -o /dev/null "http://127.0.0.1:$LB_STATS_PORT/"
  echo "http://127.0.0.1:$LB_PORT"
}

down() {
  stop_pidfile "$PIDFILE"
  log "HAProxy stopped"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
