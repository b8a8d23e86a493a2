#!/usr/bin/env bash
# Compares `glimpse image list/show -f json` with `openstack image list/show -f json` for the
# same images on a running server: the same keys, the same values.
# Auth from the OS_* environment. Needs HARNESS_VENV with python-openstackclient.
set -u -o pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GLIMPSE_BIN="${GLIMPSE_BIN:-$ROOT/.build/debug/glimpse}"
HARNESS_VENV="${HARNESS_VENV:-$ROOT/.venv-conformance}"
OS="$HARNESS_VENV/bin/openstack"
PY="$HARNESS_VENV/bin/python"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
pass=0; fail=0
check() { if "$PY" - "$@"; then pass=$((pass+1)); echo "PASS  $1"; else fail=$((fail+1)); echo "FAIL  $1"; fi; }

head -c 100000 /dev/urandom > "$TMP/img"
NAME="cli-compare-$$"
ID=$("$OS" image create --file "$TMP/img" --disk-format raw --container-format bare --property k=v --tag t "$NAME" -f value -c id) || { echo "0 passed, 1 failed"; exit 1; }
"$OS" image list -f json > "$TMP/osc-list.json"
"$GLIMPSE_BIN" image list -f json > "$TMP/glimpse-list.json"
"$OS" image list --long -f json > "$TMP/osc-long.json"
"$GLIMPSE_BIN" image list --long -f json > "$TMP/glimpse-long.json"
"$OS" image show "$ID" -f json > "$TMP/osc-show.json"
"$GLIMPSE_BIN" image show "$ID" -f json > "$TMP/glimpse-show.json"
"$GLIMPSE_BIN" image save --file "$TMP/saved" "$ID"
cmp -s "$TMP/img" "$TMP/saved" && { pass=$((pass+1)); echo "PASS  glimpse image save: identical bytes"; } || { fail=$((fail+1)); echo "FAIL  glimpse image save"; }

check "image list -f json: same keys and rows" "$TMP/osc-list.json" "$TMP/glimpse-list.json" <<'PYEOF'
import json, sys
a, b = json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
ok = [sorted(r.keys()) for r in a] == [sorted(r.keys()) for r in b] and sorted(map(json.dumps, a)) == sorted(map(json.dumps, b))
sys.exit(0 if ok else 1)
PYEOF
check "image list --long -f json: same keys and values" "$TMP/osc-long.json" "$TMP/glimpse-long.json" <<'PYEOF'
import json, sys
a, b = json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
key = lambda r: r["ID"]
sys.exit(0 if sorted(a, key=key) == sorted(b, key=key) else 1)
PYEOF
check "image show -f json: same keys and values" "$TMP/osc-show.json" "$TMP/glimpse-show.json" <<'PYEOF'
import json, sys
a, b = json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
if a != b:
    for k in sorted(set(a) | set(b)):
        if a.get(k) != b.get(k): print("   differs:", k, a.get(k), b.get(k))
sys.exit(0 if a == b else 1)
PYEOF
"$OS" image delete "$ID"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
