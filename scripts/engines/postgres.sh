#!/usr/bin/env bash
# A private PostgreSQL cluster on 127.0.0.1, from Debian's package (preinstalled on these
# machines; installed if missing).
#   postgres.sh up     start it (created on first use) and make sure the database and its
#                      owner exist; prints the database's URL
#   postgres.sh down   stop it; PG_PURGE=1 also deletes its data
#   postgres.sh installed  exit 0 if PostgreSQL is installed (installing it if it can)
# Env: PG_PORT (15432) PG_DB (glimpse) PG_USER (glimpse) PG_PASSWORD (glimpse)
#      PG_FAST (1: fsync off — test data only) PG_DIR ($ENGINES_DIR/postgres)
# Several databases can share one cluster: run `up` again with another PG_DB.
source "$(dirname "$0")/lib.sh"
PG_PORT="${PG_PORT:-15432}"; PG_DIR="${PG_DIR:-$ENGINES_DIR/postgres}"
PG_DB="${PG_DB:-glimpse}"; PG_USER="${PG_USER:-glimpse}"; PG_PASSWORD="${PG_PASSWORD:-glimpse}"
DATA="$PG_DIR/data"; SOCK="$PG_DIR/sock"
bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
PG_BIN="${PG_BIN:-$(bin)}"
# PostgreSQL refuses to run as root: as root, run it as the package's postgres user.
if [ "$(id -u)" = 0 ]; then AS=(runuser -u postgres --); else AS=(); fi

installed() {
  [ -n "$PG_BIN" ] || { apt_install postgresql && PG_BIN="$(bin)"; }
  [ -n "$PG_BIN" ] && [ -x "$PG_BIN/initdb" ]
}

up() {
  installed || { log "PostgreSQL is not installed and cannot be"; exit 1; }
  if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
  fi
  mkdir -p "$PG_DIR" "$SOCK"; chmod 755 "$PG_DIR"
  # The server's user must reach its directory through the engines' directory.
  chmod o+x "$ENGINES_DIR"
  [ "$(id -u)" = 0 ] && chown postgres "$PG_DIR" "$SOCK"
  if [ ! -s "$DATA/PG_VERSION" ]; then
    log "initdb $DATA"
    "${AS[@]}" "$PG_BIN/initdb" --no-sync -D "$DATA" -U postgres -E UTF8 --locale=C.UTF-8 \
      --auth-local=trust --auth-host=scram-sha-256 >"$PG_DIR/initdb.log" 2>&1 || { cat "$PG_DIR/initdb.log" >&2; exit 1; }
    {
      echo "listen_addresses = '127.0.0.1'"
      echo "port = $PG_PORT"
      echo "unix_socket_directories = '$SOCK'"
      echo "max_connections = 300"
      if [ "${PG_FAST:-1}" = 1 ]; then echo "fsync = off"; echo "synchronous_commit = off"; echo "full_page_writes = off"; fi
    } >> "$DATA/postgresql.auto.conf"
  fi
  if ! "${AS[@]}" "$PG_BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
    "${AS[@]}" "$PG_BIN/pg_ctl" -D "$DATA" -l "$PG_DIR/postgres.log" -w -t 60 start >/dev/null
  fi
  wait_for "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"
  "${AS[@]}" psql -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PG_PORT" -U postgres -d postgres <<SQL
SELECT 'CREATE ROLE "$PG_USER" LOGIN PASSWORD ''$PG_PASSWORD''' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_USER')\gexec
SELECT 'CREATE DATABASE "$PG_DB" OWNER "$PG_USER"' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$PG_DB')\gexec
SQL
  echo "postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB"
}

down() {
  if [ -s "$DATA/postmaster.pid" ] && [ -n "$PG_BIN" ]; then
    "${AS[@]}" "$PG_BIN/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null 2>&1 || true
  fi
  [ "${PG_PURGE:-0}" = 1 ] && rm -rf "$PG_DIR"
  log "PostgreSQL stopped"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  installed) installed ;;
  *) echo "usage: $0 up|down|installed" >&2; exit 2 ;;
esac
