#!/usr/bin/env bash
# A real OpenStack image service to test the client against: Keystone (scripts/engines/
# keystone.sh, shared with scripts/cluster.sh when both run) and Glance 33 under uWSGI with
# keystonemiddleware, SQLite and a file store (scripts/engines/glance.sh), as devstack runs
# it. Glance is the catalog's image endpoint in region RefRegion, so a Keystone that also
# lists Glimpse (RegionOne) serves both.
#   reference-cloud.sh up     start it; prints `export OS_*` lines for user demo (project
#                             demo, member) and ALT_OS_* lines for user alt (project alt)
#   reference-cloud.sh down   stop Glance (Keystone too if this script started it)
# Env: ENGINES_DIR ($TMPDIR/glimpse-engines) KEYSTONE_PORT (15001) REF_GLANCE_PORT (19494)
#      KEYSTONE_VENV ($ENGINES_DIR/keystone-venv; its `openstack` CLI is used)
#      GLANCE_VENV ($ENGINES_DIR/glance-venv)
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/engines/lib.sh"
export KEYSTONE_PORT="${KEYSTONE_PORT:-15001}"
REF_DIR="$ENGINES_DIR/reference-cloud"
GLANCE_PORT="${REF_GLANCE_PORT:-19494}"
KEYSTONE_URL="http://127.0.0.1:$KEYSTONE_PORT/v3"
OPENSTACK="${KEYSTONE_VENV:-$ENGINES_DIR/keystone-venv}/bin/openstack"
REGION=RefRegion
glance() {
  GLANCE_HOME="$REF_DIR/glance" GLANCE_VENV="${GLANCE_VENV:-$ENGINES_DIR/glance-venv}" GLANCE_PORT="$GLANCE_PORT" \
    GLANCE_AUTH=keystone KEYSTONE_URL="$KEYSTONE_URL" GLANCE_SERVICE_PASSWORD=glance-secret \
    GLANCE_HTTP=http11 "$ROOT/scripts/engines/glance.sh" "$@"
}
# as_admin CMD...: runs CMD with the OS_* variables of Keystone's admin.
as_admin() {
  env -u OS_CLOUD OS_AUTH_URL="$KEYSTONE_URL" OS_IDENTITY_API_VERSION=3 OS_USERNAME=admin \
    OS_PASSWORD="${KEYSTONE_ADMIN_PASSWORD:-admin}" OS_PROJECT_NAME=admin OS_USER_DOMAIN_NAME=Default \
    OS_PROJECT_DOMAIN_NAME=Default PYTHONWARNINGS=ignore OPENSTACK="$OPENSTACK" "$@"
}
admin() { as_admin "$OPENSTACK" "$@"; }

up() {
  mkdir -p "$REF_DIR"
  port_free "$KEYSTONE_PORT" && touch "$REF_DIR/started-keystone"
  GLANCE_SERVICE_PASSWORD=glance-secret "$ROOT/scripts/engines/keystone.sh" up >/dev/null
  log "reference cloud: Glance 33 on 127.0.0.1:$GLANCE_PORT"
  glance up >&2
  admin region show "$REGION" >/dev/null 2>&1 || admin region create "$REGION" >/dev/null
  as_admin "$ROOT/scripts/keystone-register.sh" "http://127.0.0.1:$GLANCE_PORT" "$REGION" >&2
  local user
  for user in demo alt; do
    admin project show "$user" >/dev/null 2>&1 || admin project create --domain default "$user" >/dev/null
    admin user show "$user" >/dev/null 2>&1 ||
      admin user create --domain default --project "$user" --password "$user-secret" "$user" >/dev/null
    admin role add --user "$user" --user-domain default --project "$user" --project-domain default member
  done
  # Keystone's workers cache catalogs: new tokens name the endpoint at once.
  "$ROOT/scripts/engines/keystone.sh" reload
  cat <<ENV
export OS_AUTH_URL=$KEYSTONE_URL
export OS_IDENTITY_API_VERSION=3
export OS_USERNAME=demo
export OS_PASSWORD=demo-secret
export OS_PROJECT_NAME=demo
export OS_USER_DOMAIN_NAME=Default
export OS_PROJECT_DOMAIN_NAME=Default
export OS_REGION_NAME=$REGION
export ALT_OS_USERNAME=alt
export ALT_OS_PASSWORD=alt-secret
export ALT_OS_PROJECT_NAME=alt
ENV
}

down() {
  glance down
  if [ -e "$REF_DIR/started-keystone" ]; then "$ROOT/scripts/engines/keystone.sh" down; rm -f "$REF_DIR/started-keystone"; fi
  log "reference cloud down"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac
