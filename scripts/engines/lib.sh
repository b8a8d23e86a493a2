# Helpers shared by the engine scripts. Source it; don't run it.
# Every engine keeps its state under $ENGINES_DIR (default $TMPDIR/glimpse-engines) and
# listens on 127.0.0.1 only.
set -euo pipefail
ENGINES_DIR="${ENGINES_DIR:-${TMPDIR:-/tmp}/glimpse-engines}"
mkdir -p "$ENGINES_DIR"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# wait_for CMD...: retries a check every 0.2 s for up to $WAIT_SECS (60) seconds.
wait_for() {
  local tries=$(( ${WAIT_SECS:-60} * 5 ))
  until "$@" >/dev/null 2>&1; do
    tries=$((tries - 1))
    [ "$tries" -gt 0 ] || { log "gave up waiting for: $*"; return 1; }
    sleep 0.2
  done
}

# apt_install PKG...: installs the Debian packages not yet installed, without starting
# their daemons. Debian's python3-swiftclient ships /usr/bin/swift, which would shadow the
# Swift toolchain's `swift`: it is diverted to /usr/bin/openstack-swift first.
apt_install() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] || { log "need root to install ${missing[*]}"; return 1; }
  log "apt-get install ${missing[*]}"
  [ -n "${GLIMPSE_APT_UPDATED:-}" ] || { apt-get update -qq >&2; export GLIMPSE_APT_UPDATED=1; }
  dpkg-divert --list /usr/bin/swift 2>/dev/null | grep -q openstack-swift ||
    dpkg-divert --local --add --rename --divert /usr/bin/openstack-swift /usr/bin/swift >/dev/null
  local policy=/usr/sbin/policy-rc.d made=0
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; made=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  [ "$made" = 1 ] && rm -f "$policy"
  return 0
}

# running PIDFILE: whether the process in PIDFILE is alive.
running() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# stop_pidfile PIDFILE: TERM, wait up to 10 s, then KILL.
stop_pidfile() {
  local f="$1" pid
  [ -s "$f" ] || return 0
  pid="$(cat "$f")"
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}

# port_free PORT
port_free() { ! (echo > "/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
