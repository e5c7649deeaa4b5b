#!/usr/bin/env bash
# One `ketang load` run the way benches/RESULTS.md reports it: a release `ketang serve`
# pinned to core 0, the load tool pinned to core 1, 20 s, the JSON line printed last.
#
#   bash benches/load.sh N MAX_SUBSCRIBERS [MAX_FORWARDED_PPS|-] [ROOM_ID...]
#
# Demo data (4 live classes × 200 students) is made in $LOAD_BENCH_DATA
# (default /tmp/ketang-bench/data) on first use and refreshed so a session is open now.
set -euo pipefail
N=$1 MAX=$2 PPS=${3:--}
shift $(( $# < 3 ? $# : 3 ))
BIN=${LOAD_BENCH_BIN:-target/release/ketang}
DATA=${LOAD_BENCH_DATA:-/tmp/ketang-bench/data}
mkdir -p "$DATA"
KETANG_DATA_DIR=$DATA "$BIN" demo --classes 4 --students 200 >/dev/null
PORT=$(( 20000 + RANDOM % 20000 ))
ENV=(KETANG_DATA_DIR="$DATA" KETANG_MEDIA__MAX_SUBSCRIBERS="$MAX" KETANG_FACE__ENABLED=false
     KETANG_BACKUP__ENABLED=false RUST_LOG=error)
[ "$PPS" != "-" ] && ENV+=(KETANG_MEDIA__MAX_FORWARDED_PPS="$PPS")
env "${ENV[@]}" taskset -c 0 "$BIN" serve --listen "127.0.0.1:$PORT" >/dev/null 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$PORT/metrics" >/dev/null && break
  sleep 0.2
done
ROOMS=()
for r in "$@"; do ROOMS+=(--room "$r"); done
echo "load before: $(cat /proc/loadavg)" >&2
KETANG_DATA_DIR=$DATA taskset -c 1 "$BIN" load --url "http://127.0.0.1:$PORT" \
  --subscribers "$N" --seconds 20 "${ROOMS[@]}"
echo "load after: $(cat /proc/loadavg)" >&2
