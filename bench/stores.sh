#!/usr/bin/env bash
# Glimpse and Glance 33 with image data in object stores: OpenStack Swift (native API),
# Swift's S3 API (s3api) and Ceph RGW (S3), each skipped when it does not answer.
#
#   bench/stores.sh                 # ~35 min on two cores; Glance is installed the first time
#   STORES="swift s3" SKIP_GLANCE=1 bench/stores.sh
#
# For each store that answers, Glimpse (a release build, its own data directory and port,
# --set store_url=…) and Glance 33 (scripts/engines/glance.sh, GLANCE_AUTH=headers, two uWSGI
# workers) run side by side, on containers (buckets) of their own, and take turns:
#   1. a 1 GiB random file: PUT /v2/images/{id}/file, then GET …/file piped to sha512sum, then
#      GET …/file to /dev/null; MiB/s of each, the server's CPU time (utime + stime) and peak
#      RSS (VmHWM, reset through /proc/PID/clear_refs before each transfer; Glance: the sum of
#      its workers' and the largest worker's); the SHA-512 must match the file's and the
#      image's os_hash_value. Glimpse, Glance and the store itself (curl straight to it, on
#      presigned URLs for S3) in turn, REPEAT times; the best run counts;
#   2. an upload of the 1 GiB file killed mid-way (curl at RATE_LIMIT, killed once the store
#      lists the upload's data and 8 s have passed): within CLEAN_WAIT seconds the store must
#      hold nothing — no segments (Swift), no multipart uploads (S3: GET ?uploads) — and the
#      image must be back to queued;
#   3. Glimpse only: a 6 GiB sparse file (truncate -s 6G) up and down: same SHA-512, peak RSS
#      (the target: under 150 MB); on RGW only with 20 GiB free under /tmp and room in the
#      OSD below its nearfull ratio (asked of osd.0's admin socket). After each RGW round
#      `radosgw-admin gc process --include-all` frees the deleted data at once (RGW waits two
#      hours by default, and a full OSD blocks every write);
#   and after each server's images are deleted, its container (bucket) must be empty.
# glance_store 5.7 signs in to Swift only through Keystone v3, and the Swift here has
# tempauth only: Glance runs its Swift store multi-tenant (each request's own token and
# account; the bench sends a tempauth token as X-Auth-Token and names the account with
# swift_store_endpoint), which writes and reads through the same code as single-tenant.
#
# Results: RESULTS (bench/results/<date>-stores): stores.jsonl (one line per measurement),
# summary.md (bench/stores_report.py), glimpse-<store>.log, glance-<store>.log, run.txt.
# Scratch (the test files, data directories, Glance's home): a mktemp directory under
# TMPDIR, removed at the end (KEEP_WORK=1 keeps it). Containers and buckets are named
# bench-<run>-<server>-<store> and deleted at the end, with everything in them.
#
# Knobs: STORES ("swift s3 rgw"), REPEAT (3), PORT (9393: Glimpse), GLANCE_PORT (9494),
# SKIP_GLANCE, SKIP_BIG, SKIP_INTERRUPT, SIZE_MIB (1024: the random file), BIG_SIZE (6G),
# RATE_LIMIT (40M: curl's rate for the interrupted upload), CLEAN_WAIT (90), GLIMPSE (the
# binary; default: a release build in $ROOT/.build-release, built if missing), GLANCE_VENV
# (default: in the scratch directory; point it at a kept venv to skip the install),
# SWIFT_HOSTPORT (127.0.0.1:18080) SWIFT_USER (test:tester) SWIFT_KEY (testing),
# RGW_HOSTPORT (127.0.0.1:17480) RGW_ACCESS_KEY (TESTACCESSKEY0000000) RGW_SECRET_KEY
# (testsecret), CEPH_CONF (for radosgw-admin gc after the RGW runs; default
# /tmp/h-engines/ceph/ceph.conf if present).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
STAMP="$(date -u +%Y-%m-%d)"
RESULTS="${RESULTS:-$HERE/results/$STAMP-stores}"
STORES="${STORES:-swift s3 rgw}"
REPEAT="${REPEAT:-3}"
PORT="${PORT:-9393}"
GLANCE_PORT="${GLANCE_PORT:-9494}"
SIZE_MIB="${SIZE_MIB:-1024}"
BIG_SIZE="${BIG_SIZE:-6G}"
RATE_LIMIT="${RATE_LIMIT:-40M}"
CLEAN_WAIT="${CLEAN_WAIT:-90}"
SWIFT_HOSTPORT="${SWIFT_HOSTPORT:-127.0.0.1:18080}"
SWIFT_USER="${SWIFT_USER:-test:tester}"
SWIFT_KEY="${SWIFT_KEY:-testing}"
RGW_HOSTPORT="${RGW_HOSTPORT:-127.0.0.1:17480}"
RGW_ACCESS_KEY="${RGW_ACCESS_KEY:-TESTACCESSKEY0000000}"
RGW_SECRET_KEY="${RGW_SECRET_KEY:-testsecret}"
if [ -z "${CEPH_CONF:-}" ] && [ -s /tmp/h-engines/ceph/ceph.conf ]; then CEPH_CONF=/tmp/h-engines/ceph/ceph.conf; fi
PASSWORD="bench-$(date +%s)"
RUN="$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
mkdir -p "$RESULTS"
RESULTS="$(cd "$RESULTS" && pwd)"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/glimpse-stores.XXXXXX")"
JSONL="$RESULTS/stores.jsonl"
: >"$JSONL"
export GLANCE_VENV="${GLANCE_VENV:-$WORK/glance-venv}"
log() { printf '\n== %s\n' "$*" >&2; }
note() { printf '   %s\n' "$*" >&2; }

# --- the stores' own APIs (python3; boto3 for S3 when it is there) -------------------------
cat >"$WORK/objstore.py" <<'PY'
"""objstore.py check|pending|purge|direct KIND ENDPOINT USER KEY [NAME [FILE]]

KIND swift: ENDPOINT is host:port (tempauth at /auth/v1.0); NAME matches the container NAME
and every container NAME_* (segments, Glance's per-image containers).
KIND s3: ENDPOINT is host:port (path-style, SigV4, us-east-1); NAME is the bucket.
pending prints JSON: objects per container (swift) or objects and open multipart uploads (s3).
purge deletes everything under NAME and the containers (bucket) themselves.
direct puts FILE into NAME and gets it back with curl (presigned URLs on S3): the store's own
rate, printed as JSON; the object is deleted, the container (bucket) stays for purge."""
import json, subprocess, sys, urllib.error, urllib.parse, urllib.request

cmd, kind, endpoint, user, key = sys.argv[1:6]
name = sys.argv[6] if len(sys.argv) > 6 else None

def swift_auth():
    req = urllib.request.Request(f"http://{endpoint}/auth/v1.0", headers={"X-Auth-User": user, "X-Auth-Key": key})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.headers["X-Storage-Url"], r.headers["X-Auth-Token"]

def swift(method, url, token):
    req = urllib.request.Request(url, method=method, headers={"X-Auth-Token": token})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()

def swift_list(url, token, prefix=None):
    out, marker = [], ""
    while True:
        q = {"format": "json", "marker": marker}
        if prefix: q["prefix"] = prefix
        status, body = swift("GET", url + "?" + urllib.parse.urlencode(q), token)
        if status == 404: return out
        page = json.loads(body or b"[]") if status == 200 else []
        if not page: return out
        out += page
        marker = page[-1].get("name") or page[-1].get("subdir")

def s3():
    import boto3
    from botocore.config import Config
    return boto3.client("s3", endpoint_url=f"http://{endpoint}", aws_access_key_id=user,
                        aws_secret_access_key=key, region_name="us-east-1",
                        config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                                      retries={"max_attempts": 2}))

def s3_uploads(c):
    out, params = [], {"Bucket": name}
    while True:
        r = c.list_multipart_uploads(**params)
        out += [(u["Key"], u["UploadId"]) for u in r.get("Uploads", [])]
        if not r.get("IsTruncated"): return out
        params.update(KeyMarker=r["NextKeyMarker"], UploadIdMarker=r["NextUploadIdMarker"])

def s3_objects(c):
    out = []
    for page in c.get_paginator("list_objects_v2").paginate(Bucket=name):
        out += [o["Key"] for o in page.get("Contents", [])]
    return out

def curl_rate(args):
    """Runs curl with -w '%{http_code} %{time_total} %{size_upload} %{size_download}'; MiB/s."""
    out = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{time_total} %{size_upload} %{size_download}"] + args,
                         capture_output=True, text=True).stdout.split()
    code, t, up, down = out[0], float(out[1]), float(out[2]), float(out[3])
    if not code.startswith("2"): raise SystemExit(f"curl {args[-1][:80]}: HTTP {code}")
    return round(max(up, down) / 1048576 / t, 1)

def direct(put_url, get_url, headers):
    """The store's own rate: one PUT of the file and one GET of it, straight with curl."""
    h = sum((["-H", f"{k}: {v}"] for k, v in headers.items()), [])
    up = curl_rate(h + ["-H", "Expect:", "-T", sys.argv[7], put_url])
    down = curl_rate(h + [get_url])
    print(json.dumps({"upload_mibs": up, "download_mibs": down}))

if kind == "swift":
    storage, token = swift_auth()
    if cmd == "check":
        sys.exit(0 if swift("HEAD", storage, token)[0] in (200, 204) else 1)
    containers = [c["name"] for c in swift_list(storage, token, prefix=name)
                  if c["name"] == name or c["name"].startswith(name + "_")]
    if cmd == "pending":
        print(json.dumps({c: len(swift_list(storage + "/" + urllib.parse.quote(c), token)) for c in containers}))
    elif cmd == "purge":
        # Manifests first (their container sorts first), then the segments they name.
        for c in containers:
            curl = storage + "/" + urllib.parse.quote(c)
            for o in swift_list(curl, token):
                swift("DELETE", curl + "/" + urllib.parse.quote(o["name"]), token)
            swift("DELETE", curl, token)
        print(f"purged {len(containers)} container(s) {name}*")
    elif cmd == "direct":
        c = storage + "/" + urllib.parse.quote(name)
        swift("PUT", c, token)
        direct(c + "/direct", c + "/direct", {"X-Auth-Token": token})
        swift("DELETE", c + "/direct", token)
elif kind == "s3":
    c = s3()
    if cmd == "check":
        c.list_buckets()
        sys.exit(0)
    if cmd == "direct":
        try:
            c.create_bucket(Bucket=name)
        except Exception:
            pass
        url = lambda op: c.generate_presigned_url(op, Params={"Bucket": name, "Key": "direct"}, ExpiresIn=3600)
        direct(url("put_object"), url("get_object"), {})
        c.delete_object(Bucket=name, Key="direct")
        sys.exit(0)
    try:
        c.head_bucket(Bucket=name)
    except Exception:
        print(json.dumps({"bucket": False, "objects": 0, "uploads": 0}) if cmd == "pending" else "no bucket " + name)
        sys.exit(0)
    if cmd == "pending":
        print(json.dumps({"bucket": True, "objects": len(s3_objects(c)), "uploads": len(s3_uploads(c))}))
    elif cmd == "purge":
        for k, u in s3_uploads(c):
            c.abort_multipart_upload(Bucket=name, Key=k, UploadId=u)
        for k in s3_objects(c):
            c.delete_object(Bucket=name, Key=k)
        c.delete_bucket(Bucket=name)
        print("purged bucket " + name)
PY

# store_kind STORE: swift or s3; store_endpoint STORE; store_user/store_key STORE.
store_kind() { [ "$1" = swift ] && echo swift || echo s3; }
store_endpoint() { [ "$1" = rgw ] && echo "$RGW_HOSTPORT" || echo "$SWIFT_HOSTPORT"; }
store_user() { [ "$1" = rgw ] && echo "$RGW_ACCESS_KEY" || echo "$SWIFT_USER"; }
store_key() { [ "$1" = rgw ] && echo "$RGW_SECRET_KEY" || echo "$SWIFT_KEY"; }
objstore() { # objstore CMD STORE [NAME]
  local cmd="$1" store="$2"; shift 2
  python3 "$WORK/objstore.py" "$cmd" "$(store_kind "$store")" "$(store_endpoint "$store")" \
    "$(store_user "$store")" "$(store_key "$store")" "$@"
}
HAVE_BOTO3=0; python3 -c 'import boto3' 2>/dev/null && HAVE_BOTO3=1
# Whether the store answers (S3 ones need boto3 for the checks; without it they are skipped).
reachable() {
  if [ "$(store_kind "$1")" = s3 ] && [ "$HAVE_BOTO3" = 0 ]; then return 1; fi
  timeout 20 python3 "$WORK/objstore.py" check "$(store_kind "$1")" "$(store_endpoint "$1")" \
    "$(store_user "$1")" "$(store_key "$1")" >/dev/null 2>&1
}
# Names in the store for this run (a bucket name: lowercase, no underscore).
bucket() { echo "bench-$RUN-$1-$2"; }
urlq() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
glimpse_store_url() { # STORE
  local b; b="$(bucket glimpse "$1")"
  case "$1" in
    swift) echo "swift://$(urlq "$SWIFT_USER"):$(urlq "$SWIFT_KEY")@$SWIFT_HOSTPORT/auth/v1.0?container=$b&segment_size_mb=200" ;;
    s3) echo "s3://$(urlq "$SWIFT_USER"):$(urlq "$SWIFT_KEY")@$SWIFT_HOSTPORT/$b?region=us-east-1&path_style=true" ;;
    rgw) echo "s3://$(urlq "$RGW_ACCESS_KEY"):$(urlq "$RGW_SECRET_KEY")@$RGW_HOSTPORT/$b?region=us-east-1&path_style=true" ;;
  esac
}
swift_token() {
  curl -s -D - -o /dev/null -H "X-Auth-User: $SWIFT_USER" -H "X-Auth-Key: $SWIFT_KEY" "http://$SWIFT_HOSTPORT/auth/v1.0" |
    awk -v h="$1" 'tolower($1) == h ":" { sub(/\r$/, "", $2); print $2 }'
}

# --- servers -------------------------------------------------------------------------------
GLIMPSE_PID=""
GLANCE_STORE_UP=""
SERVER="" BASE="" AUTH_HEADERS=() GLIMPSE_HEADERS=() GLANCE_HEADERS=()
cleanup() {
  set +e
  if [ -n "$GLIMPSE_PID" ] && kill -0 "$GLIMPSE_PID" 2>/dev/null; then kill -TERM "$GLIMPSE_PID"; wait "$GLIMPSE_PID" 2>/dev/null; fi
  if [ -n "$GLANCE_STORE_UP" ]; then
    GLANCE_HOME="$WORK/glance-$GLANCE_STORE_UP" GLANCE_PORT="$GLANCE_PORT" "$ROOT/scripts/engines/glance.sh" down >/dev/null 2>&1
  fi
  for store in $STORES; do
    for server in glimpse glance direct; do
      if reachable "$store"; then objstore purge "$store" "$(bucket "$server" "$store")" >/dev/null 2>&1; fi
    done
  done
  case " $STORES " in *" rgw "*) rgw_gc rgw ;; esac
  if [ "${KEEP_WORK:-0}" = 1 ]; then echo "scratch kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

if [ -z "${GLIMPSE:-}" ]; then
  GLIMPSE="$ROOT/.build-release/release/glimpse"
  if [ ! -x "$GLIMPSE" ]; then
    log "release build (into $ROOT/.build-release)"
    (cd "$ROOT" && swift build -c release --product glimpse --scratch-path "$ROOT/.build-release" >&2)
  fi
fi

start_glimpse() { # STORE
  local store="$1" data="$WORK/glimpse-data-$1"
  rm -rf "$data"
  GLIMPSE_ADMIN_PASSWORD="$PASSWORD" "$GLIMPSE" serve --data-dir "$data" --port "$PORT" --log-level warning \
    --set "store_url=$(glimpse_store_url "$store")" >"$RESULTS/glimpse-$store.log" 2>&1 &
  GLIMPSE_PID=$!
  for _ in $(seq 600); do
    curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break
    kill -0 "$GLIMPSE_PID" 2>/dev/null || { tail -20 "$RESULTS/glimpse-$store.log" >&2; exit 1; }
    sleep 0.05
  done
  local token
  token="$(curl -s -D - -o /dev/null -H 'Content-Type: application/json' "http://127.0.0.1:$PORT/identity/v3/auth/tokens" -d '{
    "auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin",
      "domain": {"id": "default"}, "password": "'"$PASSWORD"'"}}},
      "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}' |
    awk 'tolower($1) == "x-subject-token:" { sub(/\r$/, "", $2); print $2 }')"
  [ -n "$token" ] || { echo "no token from Glimpse" >&2; exit 1; }
  GLIMPSE_HEADERS=(-H "X-Auth-Token: $token")
}
stop_glimpse() {
  if [ -n "$GLIMPSE_PID" ] && kill -0 "$GLIMPSE_PID" 2>/dev/null; then kill -TERM "$GLIMPSE_PID"; wait "$GLIMPSE_PID" 2>/dev/null || true; fi
  GLIMPSE_PID=""
}

start_glance() { # STORE
  local store="$1" b; b="$(bucket glance "$1")"
  export GLANCE_HOME="$WORK/glance-$store" GLANCE_PORT GLANCE_AUTH=headers
  local env=()
  case "$store" in
    swift)
      local storage token
      storage="$(swift_token x-storage-url)"; token="$(swift_token x-auth-token)"
      env=(GLANCE_STORE=swift GLANCE_SWIFT_MULTI_TENANT=1 GLANCE_SWIFT_ENDPOINT="$storage" GLANCE_SWIFT_CONTAINER="$b")
      GLANCE_HEADERS=(-H "X-Auth-Token: $token" -H 'X-Service-Catalog: []') ;;
    s3|rgw)
      env=(GLANCE_STORE=s3 GLANCE_S3_HOST="http://$(store_endpoint "$store")" GLANCE_S3_ACCESS_KEY="$(store_user "$store")"
        GLANCE_S3_SECRET_KEY="$(store_key "$store")" GLANCE_S3_BUCKET="$b")
      GLANCE_HEADERS=() ;;
  esac
  env "${env[@]}" "$ROOT/scripts/engines/glance.sh" up >&2
  GLANCE_STORE_UP="$store"
  GLANCE_HEADERS+=(-H 'X-Identity-Status: Confirmed' -H 'X-Project-Id: bench' -H 'X-User-Id: bench'
    -H 'X-Roles: admin,member,reader')
}

# use glimpse|glance: the server the next requests go to.
use() {
  SERVER="$1"
  if [ "$1" = glimpse ]; then BASE="http://127.0.0.1:$PORT" AUTH_HEADERS=("${GLIMPSE_HEADERS[@]}")
  else BASE="http://127.0.0.1:$GLANCE_PORT" AUTH_HEADERS=("${GLANCE_HEADERS[@]}"); fi
}
stop_glance() {
  GLANCE_HOME="$WORK/glance-$1" GLANCE_PORT="$GLANCE_PORT" "$ROOT/scripts/engines/glance.sh" down >&2 || true
  cp "$WORK/glance-$1/logs/glance-api.log" "$RESULTS/glance-$1.log" 2>/dev/null || true
  GLANCE_STORE_UP=""
}

# The processes whose memory counts: Glimpse's server; Glance's uWSGI workers.
server_pids() {
  if [ "$SERVER" = glimpse ]; then echo "$GLIMPSE_PID"; else pgrep -P "$(cat "$GLANCE_HOME/state/uwsgi.pid")"; fi
}
# cpu: the processes' CPU time so far (user + system), in clock ticks.
cpu() { local p; for p in $(server_pids); do awk '{ print $14 + $15 }' "/proc/$p/stat"; done | awk '{ s += $1 } END { print s + 0 }'; }
TICKS="$(getconf CLK_TCK)"
cpu_s() { awk -v a="$1" -v b="$2" -v t="$TICKS" 'BEGIN { printf "%.2f", (b - a) / t }'; }
reset_peaks() { local p; for p in $(server_pids); do echo 5 >"/proc/$p/clear_refs" 2>/dev/null || true; done; }
# peaks: "SUM_MIB MAX_MIB" of the processes' VmHWM since the last reset.
peaks() {
  local p; for p in $(server_pids); do awk '/^VmHWM/ { print $2 }' "/proc/$p/status"; done |
    awk '{ s += $1; if ($1 > m) m = $1 } END { printf "%.1f %.1f", s / 1024, m / 1024 }'
}

# --- the API ------------------------------------------------------------------------------
api() { curl -sS "${AUTH_HEADERS[@]}" "$@"; }
create_image() {
  api -H 'Content-Type: application/json' -d "{\"name\": \"$1\", \"disk_format\": \"raw\", \"container_format\": \"bare\"}" \
    "$BASE/v2/images" | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])'
}
image_field() { api "$BASE/v2/images/$1" | python3 -c 'import json, sys; print(json.load(sys.stdin).get(sys.argv[1]))' "$2"; }
delete_image() { api -o /dev/null -X DELETE "$BASE/v2/images/$1" || true; }
# upload ID FILE: prints "HTTP_CODE SECONDS BYTES".
upload() {
  api -o "$WORK/upload.out" -w '%{http_code} %{time_total} %{size_upload}\n' -X PUT \
    -H 'Content-Type: application/octet-stream' -H 'Expect:' -T "$2" "$BASE/v2/images/$1/file"
}
# download ID: prints "HTTP_CODE SECONDS BYTES SHA512".
download() {
  local sum w
  sum="$(api -w '%{stderr}%{http_code} %{time_total} %{size_download}\n' "$BASE/v2/images/$1/file" 2>"$WORK/dl.w" |
    sha512sum | cut -d' ' -f1)"
  w="$(tail -1 "$WORK/dl.w")"
  echo "$w $sum"
}
mibs() { awk -v b="$1" -v t="$2" 'BEGIN { printf "%.1f", (t > 0 ? b / 1048576 / t : 0) }'; }
record() { echo "$1" >>"$JSONL"; }

# idle: the server's RSS (sum and largest process) once started, before any transfer.
idle() {
  local rss
  rss="$(for p in $(server_pids); do awk '/^VmRSS/ { print $2 }' "/proc/$p/status"; done |
    awk '{ s += $1; if ($1 > m) m = $1 } END { printf "%.1f %.1f", s / 1024, m / 1024 }')"
  note "$SERVER/$store: RSS at rest ${rss% *} MiB"
  record "{\"server\": \"$SERVER\", \"store\": \"$store\", \"test\": \"idle\", \"rss_sum_mib\": ${rss% *}, \"rss_max_mib\": ${rss#* }}"
}

# transfer STORE FILE SHA TEST: one upload, one download piped to sha512sum and one to
# /dev/null; appends a JSON line.
transfer() {
  local store="$1" file="$2" sha="$3" test="$4" id up down null upeak dpeak npeak status hash ok=true c0 ucpu dcpu
  id="$(create_image "bench-$test")"
  reset_peaks; c0="$(cpu)"
  read -r code t bytes < <(upload "$id" "$file")
  ucpu="$(cpu_s "$c0" "$(cpu)")"; upeak="$(peaks)"
  [ "$code" = 204 ] || { ok=false; note "upload: HTTP $code $(head -c 300 "$WORK/upload.out")"; }
  status="$(image_field "$id" status)"; hash="$(image_field "$id" os_hash_value)"
  [ "$status" = active ] || { ok=false; note "image $id is $status after the upload"; }
  [ "$hash" = "$sha" ] || { ok=false; note "os_hash_value $hash, expected $sha"; }
  up="$(mibs "$bytes" "$t")"
  reset_peaks; c0="$(cpu)"
  read -r dcode dt dbytes dsum < <(download "$id")
  dcpu="$(cpu_s "$c0" "$(cpu)")"; dpeak="$(peaks)"
  [ "$dcode" = 200 ] || { ok=false; note "download: HTTP $dcode"; }
  [ "$dsum" = "$sha" ] || { ok=false; note "downloaded SHA-512 $dsum, expected $sha"; }
  down="$(mibs "$dbytes" "$dt")"
  reset_peaks
  read -r ncode nt nbytes < <(api -o /dev/null -w '%{http_code} %{time_total} %{size_download}\n' "$BASE/v2/images/$id/file")
  npeak="$(peaks)"
  [ "$ncode" = 200 ] && [ "$nbytes" = "$bytes" ] || { ok=false; note "download to /dev/null: HTTP $ncode, $nbytes bytes"; }
  null="$(mibs "$nbytes" "$nt")"
  delete_image "$id"
  note "$SERVER/$store $test: upload $up MiB/s (CPU $ucpu s, peak RSS ${upeak% *} MiB), download $down MiB/s to sha512sum (CPU $dcpu s, peak RSS ${dpeak% *} MiB), $null MiB/s to /dev/null; sha512 ok=$ok"
  record "{\"server\": \"$SERVER\", \"store\": \"$store\", \"test\": \"$test\", \"bytes\": $bytes, \"upload_s\": $t, \"upload_mibs\": $up, \"upload_cpu_s\": $ucpu, \"download_s\": $dt, \"download_mibs\": $down, \"download_cpu_s\": $dcpu, \"download_null_mibs\": $null, \"upload_rss_sum_mib\": ${upeak% *}, \"upload_rss_max_mib\": ${upeak#* }, \"download_rss_sum_mib\": ${dpeak% *}, \"download_rss_max_mib\": ${dpeak#* }, \"download_null_rss_sum_mib\": ${npeak% *}, \"download_null_rss_max_mib\": ${npeak#* }, \"sha512_ok\": $ok, \"image\": \"$id\"}"
}

# direct STORE: the store's own rate for the 1 GiB file (curl straight to it).
direct() {
  local r; r="$(objstore direct "$1" "$(bucket direct "$1")" "$WORK/1g.bin" || echo '')"
  [ -n "$r" ] || { note "$1: no direct measurement"; return 0; }
  note "$1 itself (curl): $r"
  record "{\"server\": \"direct\", \"store\": \"$1\", \"test\": \"1g\", \"result\": $r}"
}

# interrupted STORE: kills an upload of the 1 GiB file once the store holds some of it.
interrupted() {
  local store="$1" b id cpid seen=0 t0 clean="" left status elapsed
  b="$(bucket "$SERVER" "$store")"
  id="$(create_image bench-interrupted)"
  # curl itself in the background (not through api(), whose subshell would be killed instead).
  curl -sS "${AUTH_HEADERS[@]}" -o /dev/null --limit-rate "$RATE_LIMIT" -X PUT -H 'Content-Type: application/octet-stream' -H 'Expect:' \
    -T "$WORK/1g.bin" "$BASE/v2/images/$id/file" 2>/dev/null &
  cpid=$!
  # Until the store shows the upload's data (a segment or object on Swift, a multipart upload
  # on S3) and at least 8 s have passed (~300 MiB at 40M: mid-segment on Swift); at most 20 s
  # (a single-object PUT, as Glance's Swift store makes below 5 GiB, shows nothing until done).
  t0=$EPOCHREALTIME
  while :; do
    left="$(objstore pending "$store" "$b" || echo "{}")"
    [ "$(total "$left")" -gt 0 ] && seen=1
    elapsed="$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { print int(b - a) }')"
    if { [ "$seen" = 1 ] && [ "$elapsed" -ge 8 ]; } || [ "$elapsed" -ge 20 ] || ! kill -0 "$cpid" 2>/dev/null; then break; fi
    sleep 0.5
  done
  local killed=true rc=0
  kill -KILL "$cpid" 2>/dev/null || killed=false
  wait "$cpid" 2>/dev/null || rc=$?
  [ "$rc" = 137 ] || killed=false
  if [ "$killed" = false ]; then
    note "$SERVER/$store: the upload ended (curl $rc) before it could be killed: raise SIZE_MIB or lower RATE_LIMIT"
    record "{\"server\": \"$SERVER\", \"store\": \"$store\", \"test\": \"interrupted\", \"killed\": false}"
    delete_image "$id"
    return 0
  fi
  note "$SERVER/$store: upload killed after ${elapsed} s (the store held data: $seen: $left)"
  t0=$EPOCHREALTIME
  for _ in $(seq "$((CLEAN_WAIT * 2))"); do
    left="$(objstore pending "$store" "$b" || echo "{}")"
    if [ "$(total "$left")" = 0 ]; then
      clean="$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')"; break
    fi
    sleep 0.5
  done
  status="$(image_field "$id" status)"
  if [ -n "$clean" ]; then note "$SERVER/$store: clean $clean s after the kill; image $status"
  else note "$SERVER/$store: NOT clean $CLEAN_WAIT s after the kill: $left; image $status"; fi
  record "{\"server\": \"$SERVER\", \"store\": \"$store\", \"test\": \"interrupted\", \"killed\": true, \"store_had_data\": $([ $seen = 1 ] && echo true || echo false), \"clean_after_s\": ${clean:-null}, \"left\": $left, \"image_status\": \"$status\"}"
  delete_image "$id"
}

# total JSON: what `objstore pending` counted (objects, segments, uploads).
total() { python3 -c 'import json, sys; print(sum(v for k, v in json.loads(sys.argv[1]).items() if k != "bucket"))' "$1"; }

# leftovers STORE: after all the images are deleted, the container or bucket must be empty.
leftovers() {
  local left; left="$(objstore pending "$1" "$(bucket "$SERVER" "$1")" || echo '{"error": 1}')"
  note "$SERVER/$1: left in the store after deleting every image: $left"
  record "{\"server\": \"$SERVER\", \"store\": \"$1\", \"test\": \"leftovers\", \"left\": $left}"
}

# rgw_gc STORE: RGW keeps deleted data for two hours (rgw_gc_obj_min_wait) before its garbage
# collector frees it; runs after every round on RGW would fill a small OSD (the test
# cluster's is 20 GiB, and a full OSD blocks every write). So collect it now.
rgw_gc() {
  [ "$1" = rgw ] || return 0
  if [ -n "${CEPH_CONF:-}" ] && command -v radosgw-admin >/dev/null; then
    timeout 300 radosgw-admin -c "$CEPH_CONF" gc process --include-all >/dev/null 2>&1 ||
      note "radosgw-admin gc process failed: RGW frees deleted data only after two hours"
  fi
}

# rgw_room_gib: GiB the (one) OSD can still take below its nearfull ratio (85%), from its admin
# socket; -1 if that cannot be told.
rgw_room_gib() {
  local size alloc
  [ -n "${CEPH_CONF:-}" ] && command -v ceph >/dev/null || { echo -1; return; }
  size="$(timeout 20 ceph -c "$CEPH_CONF" daemon osd.0 config get bluestore_block_size 2>/dev/null |
    python3 -c 'import json, sys; print(int(json.load(sys.stdin)["bluestore_block_size"]))' 2>/dev/null)" || size=""
  alloc="$(timeout 20 ceph -c "$CEPH_CONF" daemon osd.0 perf dump 2>/dev/null |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["bluestore"]["bluestore_allocated"])' 2>/dev/null)" || alloc=""
  if [ -z "$size" ] || [ -z "$alloc" ]; then echo -1; else echo $(((size * 85 / 100 - alloc) >> 30)); fi
}

# --- the run ------------------------------------------------------------------------------
log "test files in $WORK"
head -c "$((SIZE_MIB << 20))" /dev/urandom >"$WORK/1g.bin"
SHA_1G="$(sha512sum "$WORK/1g.bin" | cut -d' ' -f1)"
if [ -z "${SKIP_BIG:-}" ]; then
  truncate -s "$BIG_SIZE" "$WORK/big.bin"
  SHA_BIG="$(sha512sum "$WORK/big.bin" | cut -d' ' -f1)"
fi

present=""
for store in $STORES; do
  if reachable "$store"; then present="$present $store"; else log "$store: not reachable (or no boto3 for S3): skipped"; fi
done
STORES="${present# }"
[ -n "$STORES" ] || { echo "no store answers" >&2; exit 1; }

SERVERS="glimpse"; [ -z "${SKIP_GLANCE:-}" ] && SERVERS="glimpse glance"
for store in $STORES; do
  log "$store: $(echo "$SERVERS" | sed 's/ / and /') up"
  start_glimpse "$store"
  note "Glimpse's store_url: $(glimpse_store_url "$store" | sed -E 's#//[^@]*@#//…@#')"
  [ -z "${SKIP_GLANCE:-}" ] && start_glance "$store"
  for server in $SERVERS; do use "$server"; idle; done

  log "$store: $SIZE_MIB MiB x $REPEAT, the servers and the store itself in turn"
  for i in $(seq "$REPEAT"); do
    for server in $SERVERS; do use "$server"; transfer "$store" "$WORK/1g.bin" "$SHA_1G" 1g; done
    direct "$store"
    rgw_gc "$store"
  done
  for server in $SERVERS; do use "$server"; leftovers "$store"; done

  if [ -z "${SKIP_INTERRUPT:-}" ]; then
    for server in $SERVERS; do
      log "$store: $server, an interrupted upload"
      use "$server"; interrupted "$store"
    done
  fi

  if [ -z "${SKIP_BIG:-}" ]; then
    skip=""
    if [ "$store" = rgw ]; then
      rgw_gc "$store"
      free_gib="$(df -BG --output=avail /tmp | tail -1 | tr -dc 0-9)"
      room="$(rgw_room_gib)"
      big_gib="$(( ($(stat -c %s "$WORK/big.bin") >> 30) + 1 ))"
      if [ "$free_gib" -lt 20 ]; then skip="/tmp has ${free_gib} GiB free, under 20"
      elif [ "$room" -lt 0 ]; then skip="the OSD's free space cannot be told (CEPH_CONF, admin socket of osd.0)"
      elif [ "$room" -lt "$big_gib" ]; then skip="the OSD has ${room} GiB below its nearfull ratio"; fi
    fi
    if [ -n "$skip" ]; then
      log "$store: Glimpse, $BIG_SIZE skipped ($skip)"
    else
      log "$store: Glimpse, a $BIG_SIZE sparse file"
      use glimpse; transfer "$store" "$WORK/big.bin" "$SHA_BIG" big
      leftovers "$store"
    fi
  fi

  stop_glimpse
  grep -E 'ERROR|WARNING|CRITICAL|error|warning' "$RESULTS/glimpse-$store.log" | head -20 | sed 's/^/   glimpse log: /' >&2 || true
  objstore purge "$store" "$(bucket glimpse "$store")" >&2 || true
  if [ -z "${SKIP_GLANCE:-}" ]; then
    stop_glance "$store"
    objstore purge "$store" "$(bucket glance "$store")" >&2 || true
  fi
  objstore purge "$store" "$(bucket direct "$store")" >&2 || true
  rgw_gc "$store"
done

{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
  echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "glimpse: $GLIMPSE, built $(stat -c %y "$GLIMPSE" | cut -d. -f1); tree now at $(cd "$ROOT" && git describe --always --dirty 2>/dev/null || echo unknown)"
  [ -x "$GLANCE_VENV/bin/pip" ] && echo "glance: $("$GLANCE_VENV/bin/pip" freeze 2>/dev/null | grep -i -E '^(glance|glance.store|python-swiftclient|boto3|uwsgi)==' | tr '\n' ' ')"
  echo "swift: $(swift-proxy-server --version 2>/dev/null || dpkg-query -W -f '${Version}' swift 2>/dev/null || echo unknown)"
  echo "ceph: $(radosgw --version 2>/dev/null | head -1 || echo unknown)"
  echo "stores: $STORES; repeat: $REPEAT; big: $BIG_SIZE"
  echo "command: GLIMPSE=$GLIMPSE GLANCE_VENV=$GLANCE_VENV STORES=\"$STORES\" REPEAT=$REPEAT SIZE_MIB=$SIZE_MIB BIG_SIZE=$BIG_SIZE PORT=$PORT GLANCE_PORT=$GLANCE_PORT bench/stores.sh"
} >"$RESULTS/run.txt"
python3 "$HERE/stores_report.py" "$RESULTS" | tee "$RESULTS/summary.md"
echo "results: $RESULTS" >&2
