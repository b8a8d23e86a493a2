#!/usr/bin/env bash
# Compares `glimpse image list/show` with `openstack image list/show` for the same images
# (active, queued, with many properties) on a running server, in every output format
# (table, json, yaml, value), with --long and -c: the same text.
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
TAG="$NAME"
ID=$("$OS" image create --file "$TMP/img" --disk-format raw --container-format bare --property k=v --tag "$TAG" "$NAME-active" -f value -c id) || { echo "0 passed, 1 failed"; exit 1; }
# `openstack image create` without --file reads standard input when it is not a terminal.
QUEUED=$("$GLIMPSE_BIN" image create --disk-format qcow2 --container-format bare --tag "$TAG" "$NAME-queued" -f value -c id)
props=(); for i in $(seq 1 20); do props+=(--property "p$i=value $i"); done
MANY=$("$OS" image create --file "$TMP/img" --disk-format raw --container-format bare --tag "$TAG" --tag second "${props[@]}" "$NAME-many" -f value -c id)
"$GLIMPSE_BIN" image save --file "$TMP/saved" "$ID"
cmp -s "$TMP/img" "$TMP/saved" && { pass=$((pass+1)); echo "PASS  glimpse image save: identical bytes"; } || { fail=$((fail+1)); echo "FAIL  glimpse image save"; }

# same NAME ARGS...: `openstack image ARGS` and `glimpse image ARGS` print the same text.
same() {
  local name="$1"; shift
  "$OS" image "$@" > "$TMP/osc.out" 2>&1
  "$GLIMPSE_BIN" image "$@" > "$TMP/glimpse.out" 2>&1
  if diff -u "$TMP/osc.out" "$TMP/glimpse.out" > "$TMP/diff"; then
    pass=$((pass+1)); echo "PASS  $name"
  else
    fail=$((fail+1)); echo "FAIL  $name"; sed 's/^/      /' "$TMP/diff" | head -20
  fi
}
for format in table json yaml value; do
  same "image list -f $format" list --tag "$TAG" -f "$format"
  same "image list --long -f $format" list --tag "$TAG" --long -f "$format"
  for image in "$ID" "$QUEUED" "$MANY"; do
    same "image show -f $format ($("$OS" image show "$image" -f value -c name))" show "$image" -f "$format"
  done
done
same "image list --long -c Name -c Size -c Tags" list --tag "$TAG" --long -c Name -c Size -c Tags
same "image show -c name -c size -c properties" show "$MANY" -c name -c size -c properties
"$OS" image delete "$ID" "$QUEUED" "$MANY"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
