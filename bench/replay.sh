#!/usr/bin/env bash
# Replay (start-up) speed: loads EVENTS events into a fresh data directory through
# POST /v1/events (1,000 per request, --fsync never to load fast), stops aisle with
# SIGTERM, starts it again on the same directory and reads GET /v1/stats replay
# (records, seconds, records_per_s) once /readyz answers 200. Prints the log size on
# disk. Reference: bench-log-scan over the same segments (read + CRC32C + evt_decode,
# no state built), so that replay / log-scan is the share left after st_apply.
#
# Environment: EVENTS [2000000], THREADS [nproc], LOAD_TIMEOUT seconds [300],
# plus BUILD_DIR / AISLE_BIN / BENCH_TMP (see lib.sh).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

EVENTS=${EVENTS:-2000000}
THREADS=${THREADS:-$(nproc)}
LOAD_TIMEOUT=${LOAD_TIMEOUT:-300}
NBODIES=64
PER_BODY=1000

need_cmd wrk curl ss
GEN=$BUILD_DIR/bench/bench-gen-events
SCAN=$BUILD_DIR/bench/bench-log-scan
ensure_built "$GEN" "$SCAN"

make_scratch
tmp=$SCRATCH
data="$tmp/data"
bodies="$BENCH_DIR/out/bodies"
mkdir -p "$BENCH_DIR/out"
machine_line
echo "# $("$GEN" -o "$bodies" -b $NBODIES -e $PER_BODY)"
echo "# data dir under $BENCH_TMP ($(df -PT "$BENCH_TMP" | awk 'NR==2 {print $2 " on " $1}'))"

# Load: 2 wrk threads, one connection each, each stopping after its share of requests.
requests=$(((EVENTS + PER_BODY - 1) / PER_BODY))
per_thread=$(((requests + 1) / 2))
port=$(free_port)
start_aisle "$port" "$data" "$tmp/aisle-load.log" --threads "$THREADS" --fsync never
url="http://127.0.0.1:$port"
t0=$(date +%s.%N)
# wrk sleeps its whole -d even after the script stopped every thread, so watch
# events.total and interrupt it (SIGINT makes it print its summary) once it is reached.
wrk -t2 -c2 -d"${LOAD_TIMEOUT}s" --timeout 60s -s "$BENCH_DIR/ingest.lua" "$url/v1/events" -- \
  "$bodies" $NBODIES $per_thread >"$tmp/wrk-load.txt" &
wpid=$!
_bench_pids+=("$wpid")
want=$((per_thread * 2 * PER_BODY))
total=0
while kill -0 "$wpid" 2>/dev/null; do
  total=$(json_num "$(curl -s --max-time 10 "$url/v1/stats")" total)
  [ "${total:-0}" -ge "$want" ] && break
  sleep 0.5
done
t1=$(date +%s.%N)
kill -INT "$wpid" 2>/dev/null || true
wait "$wpid" || true
stats=$(curl -s --max-time 10 "$url/v1/stats")
total=$(json_num "$stats" total)
grep '^ingest:' "$tmp/wrk-load.txt" | sed 's/^/load: wrk /' || true
[ "${total:-0}" -ge "$EVENTS" ] || { cat "$tmp/wrk-load.txt" >&2; die "loaded only ${total:-0} of $EVENTS events"; }
echo "load: $total events in $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}')s" \
  "($(awk -v n="$total" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", n / (b - a)}') events/s, --fsync never)"

ts=$(date +%s.%N)
stop_pid "$AISLE_PID" "aisle (load)"
echo "stop: SIGTERM to exit $(awk -v a="$ts" -v b="$(date +%s.%N)" 'BEGIN {printf "%.2f", b - a}')s"

logbytes=$(find "$data/log" -name '*.seg' -printf '%s\n' | awk '{s += $1} END {print s + 0}')
alloc=$(du -s --block-size=1 "$data/log" | awk '{print $1}')
nseg=$(find "$data/log" -name '*.seg' | wc -l)
echo "log on disk: $logbytes bytes ($(awk -v b="$logbytes" 'BEGIN {printf "%.1f", b / 1048576}') MiB) in $nseg segments," \
  "$(ratio "$logbytes" "$total" 0) bytes/event; du: $(awk -v b="$alloc" 'BEGIN {printf "%.1f", b / 1048576}') MiB allocated"

# Reference first, so both read the segments from a warm page cache.
scan=$("$SCAN" "$data/log")
echo "$scan"
scan_rps=$(echo "$scan" | grep -o 'records_per_s=[0-9]*' | cut -d= -f2)

port=$(free_port)
ts=$(date +%s.%N)
start_aisle "$port" "$data" "$tmp/aisle-replay.log" --threads "$THREADS"
te=$(date +%s.%N)
stats=$(curl -s --max-time 10 "http://127.0.0.1:$port/v1/stats")
replay=$(printf '%s' "$stats" | grep -o '"replay":{[^}]*}')
rec=$(json_num "$replay" records)
secs=$(json_num "$replay" seconds)
rps=$(json_num "$replay" records_per_s)
rss=$(json_num "$stats" rss_bytes)
echo "replay: records=$rec seconds=$secs records_per_s=$rps (start to /readyz 200 seen by the script:" \
  "$(awk -v a="$ts" -v b="$te" 'BEGIN {printf "%.2f", b - a}')s); events.total=$(json_num "$stats" total)" \
  "rss=$(awk -v b="$rss" 'BEGIN {printf "%.0f", b / 1048576}')MiB"
echo "replay MB/s=$(awk -v b="$logbytes" -v s="$secs" 'BEGIN {printf "%.0f", b / s / 1e6}')"
echo "ratio replay / log-scan records/s = $(ratio "$rps" "$scan_rps")"
stop_pid "$AISLE_PID" "aisle (replay)"
