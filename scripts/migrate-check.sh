#!/usr/bin/env bash
# `glimpse image migrate` against a real Glance: seeds Glance 33 (the reference cloud, region
# RefRegion) with MIGRATE_IMAGES images of every kind, moves them into the Glimpse that the
# same Keystone lists in RegionOne (scripts/cluster.sh), kills the migration with kill -9
# a third of the way through, runs it again to the end and once more (nothing left to do),
# then compares every image on both sides: `openstack image list --long` and each image's
# record but for timestamps and links, its members and their statuses.
# Env: MIGRATE_IMAGES (60) HARNESS_VENV (openstack CLI and openstacksdk) GLIMPSE_BIN
#      (.build/debug/glimpse) KEYSTONE_PORT (15001) KEYSTONE_ADMIN_PASSWORD (admin)
set -u -o pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GLIMPSE_BIN="${GLIMPSE_BIN:-$ROOT/.build/debug/glimpse}"
VENV="${HARNESS_VENV:?HARNESS_VENV: a venv with the openstack CLI and openstacksdk}"
COUNT="${MIGRATE_IMAGES:-60}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/glimpse-migrate.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
cloud() {
  cat <<YAML
  $1:
    auth:
      auth_url: http://127.0.0.1:${KEYSTONE_PORT:-15001}/v3
      username: admin
      password: ${KEYSTONE_ADMIN_PASSWORD:-admin}
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
    region_name: $2
    identity_api_version: 3
YAML
}
{ echo "clouds:"; cloud glance RefRegion; cloud glimpse RegionOne; } > "$WORK/clouds.yaml"
# Only clouds.yaml names the clouds.
unset_os=($(env | awk -F= '/^OS_/ { print "-u " $1 }'))
run() { env "${unset_os[@]}" OS_CLIENT_CONFIG_FILE="$WORK/clouds.yaml" PYTHONWARNINGS=ignore "$@"; }
passed=0; failed=0
check() { if [ "$1" = 0 ]; then passed=$((passed + 1)); echo "PASS  $2"; else failed=$((failed + 1)); echo "FAIL  $2"; fi; }

MIGRATE_IDENTITY_CLOUD=glimpse run "$VENV/bin/python" "$ROOT/scripts/migrate_check.py" seed glance "$COUNT" || { echo "seeding Glance failed"; exit 2; }

# Interrupted: kill -9 once a third of the images are done.
# env execs the migration: the pid killed is the migration's.
env "${unset_os[@]}" OS_CLIENT_CONFIG_FILE="$WORK/clouds.yaml" \
  "$GLIMPSE_BIN" image migrate --from-cloud glance --to-cloud glimpse > "$WORK/first.log" 2>&1 &
pid=$!
for _ in $(seq 3000); do
  [ "$(grep -cE '^(copied|updated) ' "$WORK/first.log")" -ge $((COUNT / 3)) ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.02
done
kill -9 "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
echo "      killed after $(grep -cE '^(copied|updated) ' "$WORK/first.log") images were moved"

run "$GLIMPSE_BIN" image migrate --from-cloud glance --to-cloud glimpse > "$WORK/second.log" 2>&1
check $? "the migration run again finishes: $(tail -1 "$WORK/second.log")"
run "$GLIMPSE_BIN" image migrate --from-cloud glance --to-cloud glimpse > "$WORK/third.log" 2>&1
rc=$?; summary="$(tail -1 "$WORK/third.log")"
[[ $rc = 0 && "$summary" == "0 copied, 0 updated, "* ]]; check $? "a third run has nothing to do: $summary"

run "$VENV/bin/python" "$ROOT/scripts/migrate_check.py" compare glance glimpse > "$WORK/compare.log" 2>&1
check $? "every image the same on both sides: $(tail -1 "$WORK/compare.log")"
grep '^FAIL' "$WORK/compare.log" | head -10

# `openstack image list --long`, the migrated images only, sorted: identical.
list() {
  run "$VENV/bin/openstack" --os-cloud "$1" image list --long -f json |
    "$VENV/bin/python" -c 'import json, sys
rows = [r for r in json.load(sys.stdin) if (r.get("Name") or "").startswith("migrate-")]
print(json.dumps(sorted(rows, key=lambda r: r["ID"]), indent=1, sort_keys=True))'
}
list glance > "$WORK/glance.json"; list glimpse > "$WORK/glimpse.json"
diff -q "$WORK/glance.json" "$WORK/glimpse.json" >/dev/null && [ -s "$WORK/glance.json" ]
check $? "openstack image list --long: the same $(grep -c '"ID"' "$WORK/glance.json") rows on both sides"
diff "$WORK/glance.json" "$WORK/glimpse.json" | head -20
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
