#!/usr/bin/env bash
# nginx (Debian's nginx-light) serving a directory on loopback, as the practical ceiling
# for downloads on this machine: a worker per core, sendfile on, no access log.
#   bench/nginx.sh up DIR PORT STATE_DIR    # prints the master's pid
#   bench/nginx.sh down STATE_DIR
set -euo pipefail
case "${1:-}" in
  up)
    dir="$(cd "$2" && pwd)" port="$3" state="$4"
    command -v nginx >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx-light >&2
    mkdir -p "$state"
    cat >"$state/nginx.conf" <<CONF
worker_processes auto;
pid $state/nginx.pid;
error_log $state/error.log warn;
daemon on;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    client_body_temp_path $state/body;
    proxy_temp_path $state/proxy;
    fastcgi_temp_path $state/fastcgi;
    uwsgi_temp_path $state/uwsgi;
    scgi_temp_path $state/scgi;
    server {
        listen 127.0.0.1:$port;
        root $dir;
    }
}
CONF
    # Workers run as nobody: the files must be readable by all.
    chmod -R a+rX "$dir"
    nginx -c "$state/nginx.conf" -p "$state" >&2
    for _ in $(seq 100); do [ -s "$state/nginx.pid" ] && break; sleep 0.05; done
    cat "$state/nginx.pid"
    ;;
  down)
    state="$2"
    if [ -s "$state/nginx.pid" ]; then
      kill -QUIT "$(cat "$state/nginx.pid")" 2>/dev/null || true
      for _ in $(seq 100); do [ -e "$state/nginx.pid" ] || break; sleep 0.05; done
    fi
    ;;
  *) echo "usage: $0 up DIR PORT STATE_DIR | down STATE_DIR" >&2; exit 2 ;;
esac
