#!/usr/bin/env bash
# Two builds of Glimpse, A and B, under the same load on this machine, in alternating
# rounds: the metadata operations of bench.py (create, show, list 25 plain and with a
# filter and a sort, PATCH) at 1 and 8 clients over a 10,000-image catalog. Prints each
# operation's best rate, p99 and server CPU per operation, and B's ratio to A.
#
#   bench/ab.sh d5cb6a2 HEAD          # two git revisions (built from copies of their trees under $WORK)
#   A_BIN=/path/a B_BIN=/path/b bench/ab.sh
#
# Knobs: ROUNDS (2), WORK ($TMPDIR/glimpse-ab), PORT (9393), PHASES, RESULTS (bench/results/ab-<date>).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
WORK="${WORK:-${TMPDIR:-/tmp}/glimpse-ab}"
PORT="${PORT:-9393}"
ROUNDS="${ROUNDS:-2}"
PHASES="${PHASES:-create,seed,show,list25,list25fs,patch}"
RESULTS="${RESULTS:-$HERE/results/ab-$(date -u +%Y-%m-%d)}"
PASSWORD="ab-$(date +%s)"
mkdir -p "$WORK" "$RESULTS"
log() { printf '\n== %s\n' "$*" >&2; }

# build REV: a release binary of a git revision, built in a copy of its tree under $WORK.
build() {
  local rev="$1" dir
  dir="$WORK/src-$(git -C "$ROOT" rev-parse --short "$rev")"
  if [ ! -d "$dir" ]; then
    mkdir -p "$dir"
    git -C "$ROOT" archive "$rev" | tar -x -C "$dir"
  fi
  (cd "$dir" && swift build -c release --product glimpse >&2)
  echo "$(cd "$dir" && swift build -c release --show-bin-path)/glimpse"
}

if [ -z "${A_BIN:-}" ]; then A_BIN="$(build "${1:?give two revisions, or A_BIN and B_BIN}")"; fi
if [ -z "${B_BIN:-}" ]; then B_BIN="$(build "${2:?give two revisions, or A_BIN and B_BIN}")"; fi

# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
trap stop_glimpse EXIT

run() {
  local name="$1" bin="$2" round="$3" data="$WORK/data-$1"
  rm -rf "$data"
  start_glimpse "$bin" "$data"
  log "$name, round $round"
  python3 "$HERE/bench.py" --base "http://127.0.0.1:$PORT" --token "$(glimpse_token)" --server-pid "$SERVER_PID" \
    --phases "$PHASES" --repeat 3 --out "$RESULTS/$name-$round.json" >&2
  stop_glimpse
  rm -rf "$data"
}

for round in $(seq 1 "$ROUNDS"); do
  run a "$A_BIN" "$round"
  run b "$B_BIN" "$round"
done
python3 "$HERE/ab.py" "$RESULTS" | tee "$RESULTS/comparison.md"
