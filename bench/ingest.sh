#!/usr/bin/env bash
# Durable ingest: events/s through POST /v1/events with batches of 1,000 events, each
# request answered only once its events are on disk (--fsync always, group commit).
# Then the same load with --fsync never for context, and the reference: the same bodies
# through the parser alone (bench-parse-only: Aisle's event reader, evt_parse_batch (read
# + validate) + evt_encode, no HTTP, lock, log or fsync), with 1 and THREADS threads.
# Prints durable events/s, parser-only events/s and their ratio (what the HTTP +
# durability path costs). Last, with 1 thread, jansson's parser alone on the same bodies
# (bench-parse-only -j: bat_parse builds the tree, nothing is validated), the parser the
# reader replaced, and the ratio aisle reader / jansson parse alone.
#
# Every request carries new event ids (see ingest.lua); at the end GET /v1/stats
# events.total is compared with what wrk's completed requests imply.
#
# Environment: DURATION [10s], THREADS (aisle --threads and parse-only threads) [nproc],
# WRK_THREADS [2], CONNECTIONS [8], PARSE_SECONDS [3], MODES [always never],
# plus BUILD_DIR / AISLE_BIN / BENCH_TMP (see lib.sh).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

DURATION=${DURATION:-10s}
THREADS=${THREADS:-$(nproc)}
WRK_THREADS=${WRK_THREADS:-2}
CONNECTIONS=${CONNECTIONS:-8}
PARSE_SECONDS=${PARSE_SECONDS:-3}
MODES=${MODES:-always never}
NBODIES=64
PER_BODY=1000

need_cmd wrk curl ss
GEN=$BUILD_DIR/bench/bench-gen-events
PARSE=$BUILD_DIR/bench/bench-parse-only
ensure_built "$GEN" "$PARSE"

make_scratch
tmp=$SCRATCH
bodies="$BENCH_DIR/out/bodies"
mkdir -p "$BENCH_DIR/out"
machine_line
echo "# $("$GEN" -o "$bodies" -b $NBODIES -e $PER_BODY)"
echo "# data dirs under $BENCH_TMP ($(df -PT "$BENCH_TMP" | awk 'NR==2 {print $2 " on " $1}'))"
echo "# ingest: wrk -t$WRK_THREADS -c$CONNECTIONS -d$DURATION -s bench/ingest.lua, POST /v1/events, $PER_BODY events/request; aisle --threads $THREADS"

declare -A EPS
for mode in $MODES; do
  port=$(free_port)
  start_aisle "$port" "$tmp/data-$mode" "$tmp/aisle-$mode.log" --threads "$THREADS" --fsync "$mode"
  out="$tmp/wrk-$mode.txt"
  wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$DURATION" --timeout 30s --latency -s "$BENCH_DIR/ingest.lua" \
    "http://127.0.0.1:$port/v1/events" -- "$bodies" $NBODIES >"$out"
  stats=$(curl -s --max-time 10 "http://127.0.0.1:$port/v1/stats")
  # Write-class syscalls the server made (write, writev, eventfd...): how well appends
  # are coalesced before they reach the log file.
  syscw=$(awk '/^syscw:/ {print $2}' "/proc/$AISLE_PID/io" 2>/dev/null || echo "?")
  stop_pid "$AISLE_PID" "aisle --fsync $mode"

  line=$(grep '^ingest:' "$out" || true)
  [ -n "$line" ] || { cat "$out" >&2; die "wrk printed no ingest summary"; }
  grep -E '^(status|rejections)' "$out" | head -3 >&2 || true
  accepted=$(echo "$line" | grep -o 'accepted=[0-9]*' | cut -d= -f2)
  other=$(echo "$line" | grep -o 'other=[0-9]*' | cut -d= -f2)
  dups=$(echo "$line" | grep -o 'duplicates=[0-9]*' | cut -d= -f2)
  reqs=$(wrk_requests "$out")
  secs=$(wrk_seconds "$out")
  eps=$(awk -v a="$accepted" -v s="$secs" 'BEGIN {printf "%.0f", a / s}')
  EPS[$mode]=$eps
  total=$(json_num "$stats" total)
  logb=$(json_num "$stats" bytes)
  echo "fsync=$mode: events/s=$eps (accepted $accepted in ${secs}s; requests=$reqs req/s=$(wrk_rps "$out")" \
    "p50=$(wrk_pct "$out" 50%) p99=$(wrk_pct "$out" 99%); non-200=$other duplicates=$dups)"
  echo "fsync=$mode: check: stats events.total=$total, completed requests x $PER_BODY=$((reqs * PER_BODY))" \
    "(difference $((total - reqs * PER_BODY)): requests in flight when wrk stopped, at most $((CONNECTIONS * PER_BODY)));" \
    "log bytes=$logb ($(ratio "$logb" "$total" 0) bytes/event)"
  echo "fsync=$mode: server write-class syscalls (syscw, /proc/PID/io)=$syscw ($(ratio "$syscw" "$reqs" 0) per request)"
  wrk_errors "$out" | sed "s/^/fsync=$mode: wrk: /"
done

p1=$("$PARSE" -t1 -d"$PARSE_SECONDS" "$bodies"/body-*.json)
echo "$p1"
pn_eps=""
if [ "$THREADS" -gt 1 ]; then
  pn=$("$PARSE" -t"$THREADS" -d"$PARSE_SECONDS" "$bodies"/body-*.json)
  echo "$pn"
  pn_eps=$(echo "$pn" | grep -o 'events_per_s=[0-9]*' | cut -d= -f2)
fi
p1_eps=$(echo "$p1" | grep -o 'events_per_s=[0-9]*' | cut -d= -f2)
pj=$("$PARSE" -j -t1 -d"$PARSE_SECONDS" "$bodies"/body-*.json)
echo "$pj"
pj_eps=$(echo "$pj" | grep -o 'events_per_s=[0-9]*' | cut -d= -f2)

echo "summary:"
for mode in $MODES; do
  echo "  durable ingest fsync=$mode: ${EPS[$mode]} events/s"
done
echo "  parser only, 1 thread:  $p1_eps events/s"
[ -n "$pn_eps" ] && echo "  parser only, $THREADS threads: $pn_eps events/s"
echo "  jansson parse alone, 1 thread: $pj_eps events/s"
for mode in $MODES; do
  echo "  ratio fsync=$mode / parser-only 1 thread = $(ratio "${EPS[$mode]}" "$p1_eps")"
  [ -n "$pn_eps" ] && echo "  ratio fsync=$mode / parser-only $THREADS threads = $(ratio "${EPS[$mode]}" "$pn_eps")"
done
if [ -n "${EPS[always]:-}" ] && [ -n "${EPS[never]:-}" ]; then
  echo "  ratio fsync=always / fsync=never = $(ratio "${EPS[always]}" "${EPS[never]}")"
fi
# Above 1: the reader (parse + validate + encode) is that many times faster than
# jansson building its tree alone, which the old path then validated and encoded too.
echo "  ratio aisle reader / jansson parse alone (1 thread) = $(ratio "$p1_eps" "$pj_eps")"
