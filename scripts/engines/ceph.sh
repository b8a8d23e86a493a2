#!/usr/bin/env bash
# A one-node Ceph on 127.0.0.1 from Debian's packages (16.2 "pacific"): one monitor, one
# BlueStore OSD on a sparse file in its directory, and the RADOS Gateway (S3 API, beast
# frontend); no manager, cephx off, pools of one replica. The headers of librados and
# librbd (for building the RBD store) are installed with it.
#   ceph.sh up        install (once), create (once) and start it; prints, one per line,
#                     NAME='value' settings for the tests (source them or eval them)
#   ceph.sh down      stop it; CEPH_PURGE=1 also deletes the cluster
#   ceph.sh installed exit 0 if Ceph is installed (installing it if it can)
# Env: CEPH_MON_PORT (16789, messenger v1) CEPH_MON_V2_PORT (13300) CEPH_RGW_PORT (17480)
#      CEPH_OSD_PORTS (6800-6807: the OSD listens on four ports in this range)
#      CEPH_OSD_SIZE (21474836480: the OSD file's size; sparse, it grows with the data)
#      CEPH_DIR ($ENGINES_DIR/ceph)
# The monitor's ports are written into the cluster when it is created: to change them,
# delete it (CEPH_PURGE=1 ceph.sh down) first.
# It has: S3 user test (access key TESTACCESSKEY0000000, secret testsecret) with bucket
# glimpse; RBD pool images. A client needs only the printed CEPH_CONF, as user admin.
source "$(dirname "$0")/lib.sh"
CEPH_DIR="${CEPH_DIR:-$ENGINES_DIR/ceph}"; D="$CEPH_DIR"; CONF="$D/ceph.conf"; C=(-c "$CONF")
MON_PORT="${CEPH_MON_PORT:-16789}"; MON_V2_PORT="${CEPH_MON_V2_PORT:-13300}"
RGW_PORT="${CEPH_RGW_PORT:-17480}"; OSD_PORTS="${CEPH_OSD_PORTS:-6800-6807}"
ACCESS_KEY=TESTACCESSKEY0000000; SECRET_KEY=testsecret
PACKAGES=(ceph-mon ceph-osd radosgw ceph-common librados-dev librbd-dev)

installed() {
  apt_install "${PACKAGES[@]}" || return 1
  command -v ceph-mon >/dev/null && command -v ceph-osd >/dev/null && command -v radosgw >/dev/null
}

write_config() {
  cat > "$CONF" <<CONF
[global]
fsid = $1
mon host = [v2:127.0.0.1:$MON_V2_PORT,v1:127.0.0.1:$MON_PORT]
public addr = 127.0.0.1
public network = 127.0.0.0/8
ms bind ipv4 = true
ms bind ipv6 = false
ms bind port min = ${OSD_PORTS%-*}
ms bind port max = ${OSD_PORTS#*-}
auth cluster required = none
auth service required = none
auth client required = none
# Without cephx the "secure" messenger mode is impossible; radosgw asks for it by default
# and then retries its monitor session forever (get_initial_auth_request returned -13).
ms mon client mode = crc
ms client mode = crc
ms service mode = crc
ms cluster mode = crc
ms mon service mode = crc
ms mon cluster mode = crc
keyring = $D/keyring
run dir = $D/run
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon warn on insecure global id reclaim allowed = false
# The monitor stops when its disk has less than 5% free by default; test data only here.
mon data avail warn = 2
mon data avail crit = 1
[mon]
mon data = $D/mon.\$id
mon cluster log file = $D/log/cluster.log
log file = $D/log/\$name.log
admin socket = $D/run/\$name.asok
[osd]
osd data = $D/osd.\$id
# Messenger v2 only: four ports of the range rather than eight, leaving room for a rebind
# (which takes ports other than the ones in use).
ms bind msgr1 = false
osd objectstore = bluestore
bluestore block create = true
bluestore block size = ${CEPH_OSD_SIZE:-21474836480}
bluestore fsck on mkfs = false
osd memory target = 1073741824
osd op num shards = 2
osd op num threads per shard = 1
log file = $D/log/\$name.log
admin socket = $D/run/\$name.asok
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT
rgw data = $D/rgw
rgw thread pool size = 64
log file = $D/log/\$name.log
admin socket = $D/run/\$name.asok
CONF
}

running_daemon() { running "$D/run/$1.pid"; }

# start_daemon NAME PORT CMD...: starts a daemon (they detach themselves) unless it runs.
start_daemon() {
  local name="$1" port="$2"; shift 2
  running_daemon "$name" && return 0
  port_free "$port" || { log "ceph: 127.0.0.1:$port is taken: cannot start $name"; exit 1; }
  log "starting $name$([ "$name" = rgw.a ] && echo " on 127.0.0.1:$RGW_PORT")"
  setsid "$@" "${C[@]}" --pid-file "$D/run/$name.pid" </dev/null >>"$D/log/stdio.log" 2>&1
}

osd_up() { ceph "${C[@]}" --connect-timeout 5 osd dump 2>/dev/null | grep -q '^osd\.0 up'; }

# s3 METHOD PATH: a request to RGW signed with the test user's keys (AWS signature v4).
s3() {
  /usr/bin/python3 - "$1" "http://127.0.0.1:$RGW_PORT$2" "$ACCESS_KEY" "$SECRET_KEY" <<'PY'
import datetime, hashlib, hmac, sys, urllib.error, urllib.parse, urllib.request
method, url, ak, sk = sys.argv[1:5]
u = urllib.parse.urlsplit(url)
now = datetime.datetime.now(datetime.timezone.utc)
amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
payload = hashlib.sha256(b"").hexdigest()
headers = {"host": u.netloc, "x-amz-content-sha256": payload, "x-amz-date": amz_date}
signed = ";".join(sorted(headers))
canonical = "\n".join([method, u.path or "/", u.query, *(f"{k}:{headers[k]}" for k in sorted(headers)), "", signed, payload])
scope = f"{day}/us-east-1/s3/aws4_request"
to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
key = ("AWS4" + sk).encode()
for part in (day, "us-east-1", "s3", "aws4_request"):
    key = hmac.new(key, part.encode(), hashlib.sha256).digest()
headers["authorization"] = (f"AWS4-HMAC-SHA256 Credential={ak}/{scope}, SignedHeaders={signed}, "
                            f"Signature={hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()}")
try:
    with urllib.request.urlopen(urllib.request.Request(url, method=method, headers=headers), timeout=30) as r:
        print(r.status)
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode(errors="replace"), file=sys.stderr)
    sys.exit(1)
PY
}

up() {
  installed || { log "Ceph is not installed and cannot be"; exit 1; }
  mkdir -p "$D"/{run,log,mon.a,osd.0,rgw}
  local fsid
  fsid="$(awk '/^fsid/ {print $3}' "$CONF" 2>/dev/null || true)"
  [ -n "$fsid" ] || fsid="$(cat /proc/sys/kernel/random/uuid)"
  if [ -e "$D/mon.a/created" ] && [ "$(cat "$D/mon-ports")" != "$MON_V2_PORT $MON_PORT" ]; then
    log "ceph: the cluster in $D has its monitor on ports $(cat "$D/mon-ports"), not $MON_V2_PORT $MON_PORT: delete it (CEPH_PURGE=1 $0 down) or use those"
    exit 1
  fi
  write_config "$fsid"
  if [ ! -e "$D/mon.a/created" ]; then
    log "ceph: monitor store"
    monmaptool --create --clobber --fsid "$fsid" \
      --addv a "[v2:127.0.0.1:$MON_V2_PORT,v1:127.0.0.1:$MON_PORT]" "$D/monmap" >/dev/null
    ceph-authtool --create-keyring "$D/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
    rm -rf "$D/mon.a"/*
    ceph-mon "${C[@]}" --mkfs -i a --monmap "$D/monmap" --keyring "$D/keyring"
    echo "$MON_V2_PORT $MON_PORT" > "$D/mon-ports"
    touch "$D/mon.a/created"
  fi
  start_daemon mon.a "$MON_PORT" ceph-mon -i a
  wait_for ceph "${C[@]}" --connect-timeout 5 mon stat || { tail -n 20 "$D/log/mon.a.log" >&2; exit 1; }
  if [ ! -e "$D/osd.0/created" ]; then
    log "ceph: OSD (BlueStore on a sparse file)"
    local uuid; uuid="$(cat /proc/sys/kernel/random/uuid)"
    ceph "${C[@]}" osd new "$uuid" 0 >/dev/null
    ceph-osd "${C[@]}" -i 0 --mkfs --osd-uuid "$uuid" >>"$D/log/stdio.log" 2>&1 ||
      { tail -n 20 "$D/log/osd.0.log" >&2; exit 1; }
    ceph "${C[@]}" osd crush add-bucket localhost host >/dev/null 2>&1
    ceph "${C[@]}" osd crush move localhost root=default >/dev/null 2>&1
    ceph "${C[@]}" osd crush add osd.0 1.0 host=localhost >/dev/null 2>&1
    touch "$D/osd.0/created"
  fi
  if ! running_daemon osd.0; then
    log "starting osd.0 (ports $OSD_PORTS)"
    setsid ceph-osd "${C[@]}" -i 0 --pid-file "$D/run/osd.0.pid" </dev/null >>"$D/log/stdio.log" 2>&1
  fi
  wait_for osd_up || { tail -n 20 "$D/log/osd.0.log" >&2; exit 1; }
  if [ ! -e "$D/images-created" ]; then
    log "ceph: RBD pool images"
    ceph "${C[@]}" osd pool create images 8 >/dev/null 2>&1
    rbd "${C[@]}" pool init images
    touch "$D/images-created"
  fi
  start_daemon rgw.a "$RGW_PORT" radosgw -n client.rgw.a
  # Its first start creates its pools: slower.
  WAIT_SECS=120 wait_for curl -sf -m 2 -o /dev/null "http://127.0.0.1:$RGW_PORT/" ||
    { tail -n 20 "$D/log/client.rgw.a.log" >&2; exit 1; }
  if [ ! -e "$D/rgw/user-created" ]; then
    log "ceph: S3 user test"
    radosgw-admin "${C[@]}" user create --uid=test --display-name=test \
      --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" >/dev/null
    touch "$D/rgw/user-created"
  fi
  # The tests' bucket (creating it again is 200 too).
  s3 PUT /glimpse >/dev/null || { log "ceph: cannot create the bucket glimpse"; exit 1; }
  echo "GLIMPSE_TEST_RGW_URL='s3://$ACCESS_KEY:$SECRET_KEY@127.0.0.1:$RGW_PORT/glimpse?region=us-east-1&path_style=true'"
  echo "GLIMPSE_TEST_RBD_URL='rbd://images?conf=$CONF&user=admin'"
  echo "CEPH_CONF='$CONF'"
}

down() {
  local s
  for s in rgw.a osd.0 mon.a; do stop_pidfile "$D/run/$s.pid"; done
  [ "${CEPH_PURGE:-0}" = 1 ] && rm -rf "$D"
  log "Ceph stopped"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  installed) installed ;;
  *) echo "usage: $0 up|down|installed" >&2; exit 2 ;;
esac
