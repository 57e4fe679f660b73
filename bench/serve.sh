#!/usr/bin/env bash
# The real-time recommendation engine at scale. With ITEMS items, USERS customers and
# EVENTS events from `aisle gen` loaded (default 100,000 / 1,000,000 / 20,000,000):
#
#  1. `aisle gen` writes the data set (NDJSON) into the scratch dir.
#  2. A fresh `aisle serve --fsync never` loads items, customers, then events through
#     POST /v1/items, /v1/users, /v1/events (NDJSON batches of BATCH lines, LOAD_CONNS
#     requests in flight; bench-post-ndjson); load time and records/s; GET /v1/stats
#     events.total must equal EVENTS, nothing rejected.
#  3. SIGTERM, start again on the same data dir with the default --fsync (always): replay
#     seconds and records/s from GET /v1/stats `replay`.
#  4. Memory from GET /v1/stats (profiles, bytes per profile, store and co-occurrence
#     bytes, RSS) and RSS growth per item and per customer measured during the load.
#  5. for_you throughput: GET /v1/users/<id>/recommendations?n=10 for ids picked uniformly
#     at random (fixed seed) from a sample of SAMPLE customers of users.ndjson
#     (foryou.lua), against nginx serving a static JSON file of the median response size,
#     requested through the same Lua code path; `wrk -t1 -cCONNECTIONS -dDURATION
#     --latency`, ROUNDS rounds alternating nginx/aisle, best of each, ratio aisle/nginx.
#     Then one run restricted to the sampled customers that have events (no cold start).
#     A check that answers are computed live: a purchase of a customer's top item removes
#     it from their next answer.
#  6. Latency at half of Aisle's maximum: bench-rate (open loop, fixed rate = 50% of the
#     best aisle req/s of step 5, latency from the scheduled send, no coordinated
#     omission) for RATE_SECONDS, RATE_ROUNDS rounds alternating with nginx at the same
#     rate (the floor of the generator and the machine); every round is printed, the
#     best and the median. Before them, bench-stall: how often the machine stops a
#     spinning thread, one thread and one per CPU (in a VM: the host's stalls).
#  7. Mixed load: WRITE_PCT% (10) POST /v1/events (one new event each: view, click,
#     add_to_cart, purchase of random sampled customers and items) and the rest for_you
#     GETs, closed loop (maximum) then open loop at 50% of that maximum; read and write
#     rates and latencies apart. Writes are durable (--fsync always, group commit).
#  8. A summary block and a Markdown section for BENCHMARKS.md.
#
# Everything shares the machine's cores (wrk or bench-rate beside the server): compare
# the ratios, not the absolute figures, across machines.
#
# Environment: ITEMS [100000], USERS [1000000], EVENTS [20000000], THREADS [2 per CPU],
# DURATION [10s], ROUNDS [2], CONNECTIONS [32], RATE_SECONDS [15], RATE_ROUNDS [3], MIXED_SECONDS [10],
# SAMPLE [20000], SEED [1], WRITE_PCT [10], MIXED_WRITE_CONNS [0: the mixed open-loop run's
# writes share the CONNECTIONS; N: writes are a stream of their own on N connections],
# BATCH [10000], LOAD_CONNS [2],
# GEN_DIR (reuse an `aisle gen` output of the same sizes instead of generating),
# PERF (set: a flat perf profile of the server during one more full-load for_you run),
# NGINX [/usr/sbin/nginx], plus BUILD_DIR / AISLE_BIN / BENCH_TMP / KEEP_TMP (see lib.sh).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

ITEMS=${ITEMS:-100000}
USERS=${USERS:-1000000}
EVENTS=${EVENTS:-20000000}
THREADS=${THREADS:-$((2 * $(nproc)))}
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-2}
CONNECTIONS=${CONNECTIONS:-32}
RATE_SECONDS=${RATE_SECONDS:-15}
RATE_ROUNDS=${RATE_ROUNDS:-3}
MIXED_SECONDS=${MIXED_SECONDS:-10}
SAMPLE=${SAMPLE:-20000}
SEED=${SEED:-1}
WRITE_PCT=${WRITE_PCT:-10}
MIXED_WRITE_CONNS=${MIXED_WRITE_CONNS:-0}
BATCH=${BATCH:-10000}
LOAD_CONNS=${LOAD_CONNS:-2}
GEN_DIR=${GEN_DIR:-}
NGINX=${NGINX:-/usr/sbin/nginx}

need_cmd wrk curl ss awk
[ -x "$NGINX" ] || die "$NGINX not found (scripts/deps.sh --bench installs nginx-light)"
POST=$BUILD_DIR/bench/bench-post-ndjson
RATE=$BUILD_DIR/bench/bench-rate
STALL=$BUILD_DIR/bench/bench-stall
ensure_built "$POST" "$RATE" "$STALL"

make_scratch
tmp=$SCRATCH
chmod 755 "$tmp"
# A private copy: the build tree may be rebuilt while this runs (and perf needs the file).
cp -p "$AISLE_BIN" "$tmp/aisle"
AISLE_BIN=$tmp/aisle
mkdir -p "$tmp/www" "$tmp/probe"
data=$tmp/data

now_s() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now_s)" 'BEGIN {printf "%.2f", b - a}'; }
mib() { awk -v b="$1" 'BEGIN {printf "%.1f", b / 1048576}'; }
gib() { awk -v b="$1" 'BEGIN {printf "%.2f", b / 1073741824}'; }
div() { awk -v a="$1" -v b="$2" -v d="${3:-0}" 'BEGIN { if (b + 0 == 0) print "n/a"; else printf "%.*f\n", d, a / b }'; }
# Thousands separators for the Markdown table.
fmt() { printf "%s" "$1" | awk '{ n = sprintf("%.0f", $1); s = ""; while (length(n) > 3) { s = "," substr(n, length(n) - 2) s; n = substr(n, 1, length(n) - 3) } print n s }'; }
# wrk prints 812.00us / 1.23ms / 1.02s: in ms.
to_ms() { printf "%s" "$1" | awk '{ v = $1; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) }
  else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 }; printf "%.3f", v }'; }
stats() { curl -s --max-time 30 "$1/v1/stats"; }
field() { printf '%s\n' "$1" | awk -v k="$2" '{ for (i = 1; i <= NF; i++) if (index($i, k "=") == 1) { v = substr($i, length(k) + 2); sub(/ms$/, "", v); print v; exit } }'; } # field LINE key
cpu_s() { awk -v t="$(getconf CLK_TCK)" '{print ($14 + $15) / t}' "/proc/$1/stat"; }

machine_line
echo "# aisle: $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown), binary built $(date -u -r "$AISLE_BIN" +%FT%TZ 2>/dev/null)"
la=$(cut -d' ' -f1 /proc/loadavg)
if awk -v l="$la" 'BEGIN {exit !(l > 1.0)}'; then
  echo "# WARNING: load average $la before the start (other work, or a run that just ended): latencies may suffer" >&2
fi
echo "# data: items=$ITEMS users=$USERS events=$EVENTS; aisle --threads $THREADS; scratch under $BENCH_TMP ($(df -PT "$BENCH_TMP" | awk 'NR==2 {print $2 " on " $1}'))"

# ---- 1. the data set ------------------------------------------------------------------
if [ -n "$GEN_DIR" ]; then
  gen=$GEN_DIR
  echo "gen: reusing $gen"
  gen_secs=n/a
else
  gen=$tmp/gen
  end_flag=()
  # gen's default period ends 2026-11-01; events more than 24 h ahead of the clock would be refused.
  if [ "$(date -u +%s)" -lt "$(date -u -d 2026-11-01T00:00:00Z +%s)" ]; then end_flag=(--end "$(date -u +%FT%TZ)"); fi
  t0=$(now_s)
  "$AISLE_BIN" gen --out "$gen" --items "$ITEMS" --users "$USERS" --events "$EVENTS" --seed "$SEED" "${end_flag[@]}" >"$tmp/gen.txt" 2>&1 ||
    { cat "$tmp/gen.txt" >&2; die "aisle gen failed"; }
  gen_secs=$(since "$t0")
  echo "gen: $(sed 's/^aisle gen: //' "$tmp/gen.txt") (${gen_secs}s)"
fi
for f in items users events; do [ -s "$gen/$f.ndjson" ] || die "missing $gen/$f.ndjson"; done
gen_bytes=$(cat "$gen"/{items,users,events}.ndjson | wc -c)
nusers_file=$(wc -l <"$gen/users.ndjson")

# ---- 2. load --------------------------------------------------------------------------
port=$(free_port)
start_aisle "$port" "$data" "$tmp/aisle-load.log" --threads "$THREADS" --fsync never
url="http://127.0.0.1:$port"
s0=$(stats "$url")
rss0=$(json_num "$s0" rss_bytes) store0=$(json_num "$s0" store_bytes)

load() { # load NAME PATH FILE: prints the tool's line, sets LOADED_SECS / LOADED_RPS
  local out
  out=$("$POST" -a "127.0.0.1:$port" -p "$2" -f "$3" -b "$BATCH" -c "$LOAD_CONNS") ||
    { echo "$out"; die "loading $1 failed"; }
  echo "load $1: ${out#post: }"
  [ "$(field "$out" rejected)" = 0 ] || die "$1: records were rejected"
  LOADED_SECS=$(field "$out" seconds) LOADED_RPS=$(field "$out" records_per_s)
}
t_load=$(now_s)
load items /v1/items "$gen/items.ndjson"
items_secs=$LOADED_SECS
s1=$(stats "$url")
load users /v1/users "$gen/users.ndjson"
users_secs=$LOADED_SECS users_rps=$LOADED_RPS
s2=$(stats "$url")
load events /v1/events "$gen/events.ndjson"
events_secs=$LOADED_SECS events_rps=$LOADED_RPS
load_secs=$(since "$t_load")
s3=$(stats "$url")
total=$(json_num "$s3" total)
echo "load: all in ${load_secs}s; events.total=$total items=$(json_num "$s3" items) users=$(json_num "$s3" users)" \
  "sessions=$(json_num "$s3" sessions) profiles=$(json_num "$s3" profiles)"
[ "$total" = "$EVENTS" ] || die "events.total=$total, expected $EVENTS"
rss1=$(json_num "$s1" rss_bytes) rss2=$(json_num "$s2" rss_bytes) rss3=$(json_num "$s3" rss_bytes)
store1=$(json_num "$s1" store_bytes) store2=$(json_num "$s2" store_bytes) store3=$(json_num "$s3" store_bytes)
item_rss=$(div $((rss1 - rss0)) "$ITEMS") user_rss=$(div $((rss2 - rss1)) "$USERS")
event_rss=$(div $((rss3 - rss2)) "$EVENTS" 1)
echo "load: RSS growth: items $(mib $((rss1 - rss0))) MiB ($item_rss B/item), customers $(mib $((rss2 - rss1))) MiB" \
  "($user_rss B/customer), events $(mib $((rss3 - rss2))) MiB ($event_rss B/event); RSS after load $(mib "$rss3") MiB"
echo "load: store_bytes growth: items $(div $((store1 - store0)) "$ITEMS") B/item, customers" \
  "$(div $((store2 - store1)) "$USERS") B/customer, events $(div $((store3 - store2)) "$EVENTS" 1) B/event"

# ---- 3. restart: replay ---------------------------------------------------------------
ts=$(now_s)
stop_pid "$AISLE_PID" "aisle (load)"
stop_secs=$(since "$ts")
logbytes=$(find "$data/log" -name '*.seg' -printf '%s\n' | awk '{s += $1} END {print s + 0}')
echo "stop: SIGTERM to exit ${stop_secs}s; log $(mib "$logbytes") MiB in $(find "$data/log" -name '*.seg' | wc -l) segments" \
  "($(div "$logbytes" "$((EVENTS + ITEMS + USERS))") B/record)"
port=$(free_port)
ts=$(now_s)
READY_TIMEOUT=600 start_aisle "$port" "$data" "$tmp/aisle.log" --threads "$THREADS"
apid=$AISLE_PID
ready_secs=$(since "$ts")
url="http://127.0.0.1:$port"
st=$(stats "$url")
replay=$(printf '%s' "$st" | grep -o '"replay":{[^}]*}')
replay_rec=$(json_num "$replay" records) replay_secs=$(json_num "$replay" seconds) replay_rps=$(json_num "$replay" records_per_s)
echo "replay: records=$replay_rec seconds=$replay_secs records_per_s=$replay_rps (start to /readyz seen by the script: ${ready_secs}s)" \
  "events.total=$(json_num "$st" total) --fsync always"
[ "$(json_num "$st" total)" = "$EVENTS" ] || die "after replay events.total=$(json_num "$st" total), expected $EVENTS"

# The load left gigabytes of dirty pages (gen output, a log written with --fsync never):
# write them back now, so that writeback does not run during the latency measurements.
ts=$(now_s)
sync
echo "sync: dirty pages written back in $(since "$ts")s; load average $(cut -d' ' -f1-3 /proc/loadavg)"

# ---- 4. memory ------------------------------------------------------------------------
profiles=$(json_num "$st" profiles) bpp=$(json_num "$st" bytes_per_profile) pbytes=$(json_num "$st" profile_bytes)
store=$(json_num "$st" store_bytes) cooc=$(json_num "$st" cooccurrence_bytes) rss=$(json_num "$st" rss_bytes)
nitems=$(json_num "$st" items)
echo "memory: profiles=$profiles bytes_per_profile=$bpp profile_bytes=$(mib "$pbytes")MiB store_bytes=$(mib "$store")MiB" \
  "cooccurrence_bytes=$(mib "$cooc")MiB rss=$(mib "$rss")MiB (after replay)"
echo "memory: co-occurrence $(div "$cooc" "$nitems") B/item; store $(div "$store" "$EVENTS" 1) B/event;" \
  "store not counted in profiles or co-occurrence $(mib $((store - pbytes - cooc))) MiB; RSS not in store_bytes $(mib $((rss - store))) MiB;" \
  "RSS $(div "$rss" "$USERS") B per customer (everything / customers)"

# ---- 5. for_you throughput against nginx ------------------------------------------------
# A uniform sample (selection sampling, fixed seed) of the customers of users.ndjson.
awk -v k="$SAMPLE" -v n="$nusers_file" -v seed="$SEED" 'BEGIN {srand(seed)}
  (n - NR + 1) > 0 && rand() < (k - sel) / (n - NR + 1) {
    if (match($0, /"user_id":"[^"]*"/)) { print substr($0, RSTART + 11, RLENGTH - 12); sel++ } }' \
  "$gen/users.ndjson" >"$tmp/ids.txt"
grep -o '"item_id":"[^"]*"' "$gen/items.ndjson" | cut -d'"' -f4 >"$tmp/items.txt"
nids=$(wc -l <"$tmp/ids.txt")
# Which sampled customers have events (the others get the cold-start answer).
awk -v u="$url" '{print "url = \"" u "/v1/users/" $1 "\""}' "$tmp/ids.txt" >"$tmp/users.curl"
curl -s --max-time 600 -K "$tmp/users.curl" -w '\n' |
  awk '{ id = ""; n = 0
    if (match($0, /"user_id":"[^"]*"/)) id = substr($0, RSTART + 11, RLENGTH - 12)
    if (match($0, /"total_events":[0-9]+/)) n = substr($0, RSTART + 15, RLENGTH - 15) + 0
    if (id != "" && n > 0) print id }' >"$tmp/ids-active.txt"
nactive=$(wc -l <"$tmp/ids-active.txt")
echo "for_you: sample of $nids customers from users.ndjson (seed $SEED); $nactive ($(div $((nactive * 100)) "$nids" 1)%) have events"
[ "$nactive" -gt 0 ] || die "no sampled customer has events"

# Response size: the median of 201 answers; nginx serves that very answer as a file.
head -201 "$tmp/ids.txt" | awk -v u="$url" -v d="$tmp/probe" \
  '{print "url = \"" u "/v1/users/" $1 "/recommendations?n=10\"\noutput = \"" d "/" NR ".json\""}' >"$tmp/probe.curl"
curl -s --max-time 300 -K "$tmp/probe.curl"
median_file=$(for f in "$tmp"/probe/*.json; do echo "$(wc -c <"$f") $f"; done | sort -n | awk '{a[NR] = $2} END {print a[int((NR + 1) / 2)]}')
cp "$median_file" "$tmp/www/rec.json"
printf '{"status":"ok"}' >"$tmp/www/healthz"
chmod 644 "$tmp/www/rec.json" "$tmp/www/healthz"
body_bytes=$(wc -c <"$tmp/www/rec.json")
sizes=$(for f in "$tmp"/probe/*.json; do wc -c <"$f"; done | sort -n | awk '{a[NR] = $1} END {print a[1], a[int((NR + 1) / 2)], a[NR]}')
nport=$(free_port)
while [ "$nport" = "$port" ]; do nport=$(free_port); done
start_nginx "$nport" "$tmp" "$THREADS"
npid=$NGINX_PID
nurl="http://127.0.0.1:$nport"
apath='/v1/users/{id}/recommendations?n=10' npath='/rec.json?user={id}&n=10'
curl -s -o /dev/null -D "$tmp/nginx.hdr" "$nurl/rec.json?user=x&n=10"
curl -s -o /dev/null -D "$tmp/aisle.hdr" "$url/v1/users/$(head -1 "$tmp/ids.txt")/recommendations?n=10"
echo "# for_you: answer sizes min/median/max $sizes bytes; nginx serves the median answer ($body_bytes bytes," \
  "$(curl -s -o /dev/null -w '%{content_type}' "$nurl/rec.json")); header bytes nginx $(wc -c <"$tmp/nginx.hdr"), aisle $(wc -c <"$tmp/aisle.hdr")"
echo "# for_you: wrk -t1 -c$CONNECTIONS -d$DURATION --latency -s foryou.lua, $ROUNDS rounds alternating nginx/aisle; best of each"

best_n=0 best_a=0 best_n_file="" best_a_file=""
for r in $(seq 1 "$ROUNDS"); do
  for who in nginx aisle; do
    out=$tmp/wrk-$who-$r.txt
    if [ $who = nginx ]; then u=$nurl p=$npath; else u=$url p=$apath; fi
    c0=$(cpu_s "$apid")
    wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --timeout 5s --latency -s "$BENCH_DIR/foryou.lua" "$u" -- \
      "$tmp/ids.txt" "$p" "$SEED" >"$out"
    cpu=""
    [ $who = aisle ] && cpu="aisle_cpu=$(awk -v a="$c0" -v b="$(cpu_s "$apid")" -v d="$(wrk_seconds "$out")" 'BEGIN {printf "%.0f%%", (b - a) / d * 100}')"
    rps=$(wrk_rps "$out")
    printf 'round %d %-5s req/s=%-10s p50=%-9s p99=%-9s %s %s\n' "$r" "$who" "$rps" "$(wrk_pct "$out" 50%)" \
      "$(wrk_pct "$out" 99%)" "$cpu" "$(wrk_errors "$out" | tr -s ' ' | tr '\n' ' ')"
    if [ $who = nginx ] && awk -v a="$rps" -v b="$best_n" 'BEGIN{exit !(a > b)}'; then best_n=$rps best_n_file=$out; fi
    if [ $who = aisle ] && awk -v a="$rps" -v b="$best_a" 'BEGIN{exit !(a > b)}'; then best_a=$rps best_a_file=$out; fi
  done
done
out=$tmp/wrk-aisle-active.txt
wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --timeout 5s --latency -s "$BENCH_DIR/foryou.lua" "$url" -- \
  "$tmp/ids-active.txt" "$apath" "$SEED" >"$out"
act_rps=$(wrk_rps "$out") act_p50=$(wrk_pct "$out" 50%) act_p99=$(wrk_pct "$out" 99%)
printf 'active aisle req/s=%-10s p50=%-9s p99=%-9s (only the %s sampled customers with events) %s\n' "$act_rps" "$act_p50" \
  "$act_p99" "$nactive" "$(wrk_errors "$out" | tr -s ' ' | tr '\n' ' ')"
n_p50=$(wrk_pct "$best_n_file" 50%) n_p99=$(wrk_pct "$best_n_file" 99%)
a_p50=$(wrk_pct "$best_a_file" 50%) a_p99=$(wrk_pct "$best_a_file" 99%)
fy_ratio=$(ratio "$best_a" "$best_n")
echo "best  nginx req/s=$best_n p50=$n_p50 p99=$n_p99"
echo "best  aisle req/s=$best_a p50=$a_p50 p99=$a_p99"
echo "ratio aisle/nginx req/s = $fy_ratio (goal >= 0.6); active-only / nginx = $(ratio "$act_rps" "$best_n")"

# Optional: where the server spends its time at full for_you load (flat profile; the
# release build has no frame pointers, so no call graphs).
if [ -n "${PERF:-}" ] && command -v perf >/dev/null 2>&1; then
  psecs=$(awk -v d="$DURATION" 'BEGIN {sub(/s$/, "", d); print d - 2}')
  wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --timeout 5s -s "$BENCH_DIR/foryou.lua" "$url" -- \
    "$tmp/ids.txt" "$apath" "$SEED" >"$tmp/wrk-perf.txt" &
  wpid=$!
  _bench_pids+=("$wpid")
  sleep 1
  perf record -q -F 2000 -p "$apid" -o "$tmp/perf.data" -- sleep "$psecs" >/dev/null 2>&1 || true
  wait "$wpid" || true
  echo "perf: aisle during for_you at full load ($(wrk_rps "$tmp/wrk-perf.txt") req/s under perf), top functions by self time:"
  perf report -i "$tmp/perf.data" --no-children --stdio --percent-limit 0.7 --sort symbol 2>/dev/null |
    grep -v '^#' | grep -v '^$' | head -40 | awk '{print "perf: " $1 " " $2 " " $3}' || true
fi

# Live, not cached: after a purchase of a customer's top item, the next answer lacks it.
live_user=$(head -1 "$tmp/ids-active.txt")
top=$(curl -s "$url/v1/users/$live_user/recommendations?n=10" | grep -o '"item_id":"[^"]*"' | awk -F'"' 'NR == 1 {print $4}')
curl -s -o /dev/null -X POST -H 'Content-Type: application/json' "$url/v1/events" \
  -d "{\"event_id\":\"serve-live-check-$$\",\"type\":\"purchase\",\"user_id\":\"$live_user\",\"item_id\":\"$top\",\"price\":1}"
if curl -s "$url/v1/users/$live_user/recommendations?n=10" | grep -q "\"item_id\":\"$top\""; then
  live="no: $top still answered to $live_user after its purchase"
  echo "WARNING: live check failed: $live" >&2
else
  live="yes ($live_user's top item $top is gone from the next answer after its purchase)"
fi
echo "live: computed per request: $live"

# ---- 6. latency at half of the maximum --------------------------------------------------
half=$(awk -v r="$best_a" 'BEGIN {printf "%.0f", r / 2}')
# First the machine's own floor: how often it stops a spinning thread, with one thread
# and with one per CPU (in a VM, the host not running a vCPU; a loaded machine sees more).
stall_1=$("$STALL" -t 1 -d 5) stall_all=$("$STALL" -t "$(nproc)" -d 5)
echo "$stall_1"
echo "$stall_all"
echo "# fixed rate: bench-rate -r $half (50% of the best aisle req/s) -c $CONNECTIONS -d $RATE_SECONDS -w 2, open loop," \
  "$RATE_ROUNDS rounds alternating aisle/nginx; load average $(cut -d' ' -f1-3 /proc/loadavg)"
rate_rows="" a_p99s="" n_p99s="" best_r="" best_p99=""
for r in $(seq 1 "$RATE_ROUNDS"); do
  curl -s "$url/metrics" >"$tmp/metrics.0"
  rate_a=$("$RATE" -a "127.0.0.1:$port" -f "$tmp/ids.txt" -P "$apath" -r "$half" -c "$CONNECTIONS" -d "$RATE_SECONDS" -w 2 -s "$((SEED + r))")
  curl -s "$url/metrics" >"$tmp/metrics.1"
  echo "$rate_a" | sed "s/^/round $r aisle  /"
  # The server's own time per answer (handler start to response, GET /metrics), the rest
  # of the latency above being the kernel's, the scheduler's and the generator's.
  srv=$(server_time "$tmp/metrics.0" "$tmp/metrics.1" recommendations)
  echo "round $r aisle  server time (bucket bounds, ms): $srv"
  rate_n=$("$RATE" -a "127.0.0.1:$nport" -f "$tmp/ids.txt" -P "$npath" -r "$half" -c "$CONNECTIONS" -d "$RATE_SECONDS" -w 2 -s "$((SEED + r))")
  echo "$rate_n" | sed "s/^/round $r nginx  /"
  ra=$(echo "$rate_a" | grep '^read:') rn=$(echo "$rate_n" | grep '^read:')
  a_p99s="$a_p99s $(field "$ra" p99)" n_p99s="$n_p99s $(field "$rn" p99)"
  rate_rows="$rate_rows| $r | $(field "$ra" p50) ms | $(field "$ra" p90) ms | **$(field "$ra" p99) ms** | $(field "$ra" p99.9) ms | $(field "$rn" p50) ms | $(field "$rn" p99) ms | $(field "$rn" p99.9) ms | ${srv#n=* } |
"
  if [ -z "$best_p99" ] || awk -v a="$(field "$ra" p99)" -v b="$best_p99" 'BEGIN{exit !(a < b)}'; then
    best_p99=$(field "$ra" p99) best_r=$r h_srv=$srv
    h_rps=$(field "$ra" rps) h_p50=$(field "$ra" p50) h_p90=$(field "$ra" p90) h_p99=$(field "$ra" p99) h_p999=$(field "$ra" p99.9) h_max=$(field "$ra" max)
    hn_p99=$(field "$rn" p99)
  fi
done
median() { echo "$1" | tr ' ' '\n' | grep . | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
med_a=$(median "$a_p99s") med_n=$(median "$n_p99s")
echo "rate: aisle p99 by round (ms):$a_p99s; median $med_a, best $best_p99 (round $best_r); nginx p99 by round:$n_p99s; median $med_n"
stop_pid "$npid" nginx

# ---- 7. mixed load ----------------------------------------------------------------------
echo "# mixed: $((100 - WRITE_PCT))% for_you GET + $WRITE_PCT% POST /v1/events (1 new event each, durable), closed loop -c $CONNECTIONS -d $MIXED_SECONDS"
ev0=$(json_num "$(stats "$url")" total)
mix_max=$("$RATE" -a "127.0.0.1:$port" -f "$tmp/ids.txt" -P "$apath" -i "$tmp/items.txt" -W "$WRITE_PCT" -r 0 \
  -c "$CONNECTIONS" -d "$MIXED_SECONDS" -w 1 -s "$((SEED + 1))")
echo "$mix_max" | sed 's/^/max    /'
mm=$(echo "$mix_max" | grep '^all:')
mix_half=$(awk -v r="$(field "$mm" rps)" 'BEGIN {printf "%.0f", r / 2}')
wpool=() wpool_md=""
if [ "$MIXED_WRITE_CONNS" -gt 0 ]; then
  wpool=(-p "$MIXED_WRITE_CONNS")
  wpool_md=" (writes a stream of their own on $MIXED_WRITE_CONNS more connections)"
fi
echo "# mixed: open loop at $mix_half req/s (50% of the mixed maximum) -d $RATE_SECONDS -w 2 ${wpool[*]}"
curl -s "$url/metrics" >"$tmp/metrics.2"
mix_rate=$("$RATE" -a "127.0.0.1:$port" -f "$tmp/ids.txt" -P "$apath" -i "$tmp/items.txt" -W "$WRITE_PCT" -r "$mix_half" \
  -c "$CONNECTIONS" -d "$RATE_SECONDS" -w 2 -s "$((SEED + 2))" "${wpool[@]}")
curl -s "$url/metrics" >"$tmp/metrics.3"
echo "$mix_rate" | sed 's/^/half   /'
mh_srv_r=$(server_time "$tmp/metrics.2" "$tmp/metrics.3" recommendations)
mh_srv_w=$(server_time "$tmp/metrics.2" "$tmp/metrics.3" events)
echo "half   server time (bucket bounds, ms): reads $mh_srv_r; writes (until durable) $mh_srv_w"
ev1=$(json_num "$(stats "$url")" total)
echo "mixed: events.total grew by $((ev1 - ev0)) during the mixed runs"
mr=$(echo "$mix_max" | grep '^read:') mw=$(echo "$mix_max" | grep '^write:')
hr=$(echo "$mix_rate" | grep '^read:') hw=$(echo "$mix_rate" | grep '^write:')
for v in mr mw hr hw; do [ "$(field "${!v}" non2xx)" = 0 ] || echo "WARNING: mixed $v: non-2xx answers" >&2; done

final=$(stats "$url")
stop_pid "$apid" aisle

# ---- 8. summary -------------------------------------------------------------------------
pass() { awk -v a="$1" -v b="$2" -v op="$3" 'BEGIN { ok = (op == "ge") ? (a + 0 >= b + 0) : (a + 0 <= b + 0); print ok ? "PASS" : "FAIL" }'; }
echo
echo "== summary: serve.sh items=$ITEMS users=$USERS events=$EVENTS =="
echo "load          items ${items_secs}s, customers ${users_secs}s ($(fmt "$users_rps")/s), events ${events_secs}s ($(fmt "$events_rps") events/s, --fsync never, batches of $BATCH, $LOAD_CONNS in flight)"
echo "replay        $replay_rec records in ${replay_secs}s = $(fmt "$replay_rps") records/s  [goal >= 1,000,000: $(pass "$replay_rps" 1000000 ge)]"
echo "memory        $(fmt "$profiles") profiles, $bpp B/profile  [goal <= 400: $(pass "$bpp" 400 le)]; co-occurrence $(fmt "$(div "$cooc" "$nitems")") B/item;" \
  "RSS growth $(fmt "$item_rss") B/item, $(fmt "$user_rss") B/customer record; RSS $(mib "$rss") MiB total after replay"
echo "for_you       aisle $(fmt "$best_a") req/s (p50 $a_p50, p99 $a_p99) vs nginx $(fmt "$best_n") req/s (p50 $n_p50, p99 $n_p99), ratio $fy_ratio  [goal >= 0.6: $(pass "$fy_ratio" 0.6 ge)]"
echo "              customers with events only: $(fmt "$act_rps") req/s (p50 $act_p50, p99 $act_p99); live per request: ${live%% *}"
echo "at 50% max    $(fmt "$h_rps") req/s, best of $RATE_ROUNDS rounds: p50 ${h_p50}ms p90 ${h_p90}ms p99 ${h_p99}ms p99.9 ${h_p999}ms max ${h_max}ms  [goal p99 <= 1 ms: $(pass "$h_p99" 1 le)]; nginx same round p99 ${hn_p99}ms"
echo "              p99 median of the rounds: aisle ${med_a}ms [$(pass "$med_a" 1 le)], nginx ${med_n}ms; rounds aisle${a_p99s}, nginx${n_p99s}"
echo "machine       $stall_1"
echo "              $stall_all"
echo "mixed max     reads $(fmt "$(field "$mr" rps)")/s p50 $(field "$mr" p50)ms p99 $(field "$mr" p99)ms; writes $(fmt "$(field "$mw" rps)")/s p50 $(field "$mw" p50)ms p99 $(field "$mw" p99)ms"
echo "mixed 50%     reads $(fmt "$(field "$hr" rps)")/s p50 $(field "$hr" p50)ms p99 $(field "$hr" p99)ms p99.9 $(field "$hr" p99.9)ms; writes $(fmt "$(field "$hw" rps)")/s p50 $(field "$hw" p50)ms p99 $(field "$hw" p99)ms p99.9 $(field "$hw" p99.9)ms"
echo "server time   at 50% max (best round): $h_srv; mixed 50% reads: $mh_srv_r; writes: $mh_srv_w"
echo "final stats   events.total=$(json_num "$final" total) profiles=$(json_num "$final" profiles) rss=$(mib "$(json_num "$final" rss_bytes)")MiB"

cat <<EOF

---- Markdown for BENCHMARKS.md ----
## Recommendations at scale — \`bench/serve.sh\`

\`aisle gen --items $(fmt "$ITEMS") --users $(fmt "$USERS") --events $(fmt "$EVENTS")\` ($(gib "$gen_bytes") GiB of NDJSON)
loaded through the API into \`aisle serve --threads $THREADS\`; load and generator share the machine's
$(nproc) cores with the server.

**Load and replay.** NDJSON batches of $(fmt "$BATCH") lines, $LOAD_CONNS requests in flight, \`--fsync never\`:

| | records | seconds | records/s |
|---|---|---|---|
| customers (\`POST /v1/users\`) | $(fmt "$USERS") | $users_secs | $(fmt "$users_rps") |
| events (\`POST /v1/events\`) | $(fmt "$EVENTS") | $events_secs | $(fmt "$events_rps") |
| **replay** after restart ($(mib "$logbytes") MiB of log) | $(fmt "$replay_rec") | $replay_secs | **$(fmt "$replay_rps")** (goal ≥ 1,000,000) |

**Memory** (\`GET /v1/stats\` after replay):

| | |
|---|---|
| profiles (customers with events and anonymous sessions) | $(fmt "$profiles") |
| **bytes per profile** | **$bpp** (goal ≤ 400; Metarank documents ~800 per user in Redis) |
| co-occurrence (co-view + co-purchase) | $(mib "$cooc") MiB, $(fmt "$(div "$cooc" "$nitems")") B per item |
| RSS growth while loading the catalog / the customer records (the first includes one-time allocations) | $(fmt "$item_rss") B per item / $(fmt "$user_rss") B per customer |
| store_bytes / RSS after replay | $(mib "$store") MiB / $(mib "$rss") MiB |

**\`for_you\` against nginx.** \`GET /v1/users/{id}/recommendations?n=10\` for customers picked
uniformly at random from a sample of $(fmt "$nids") (fixed seed; $(div $((nactive * 100)) "$nids" 0)% of them have events, the
others get the cold-start answer), computed per request; nginx serves a static JSON file of
the median answer's size ($body_bytes bytes) through the same wrk Lua script. \`wrk -t1 -c$CONNECTIONS -d$DURATION --latency\`,
$ROUNDS rounds alternating, best of each:

| | req/s | p50 | p99 |
|---|---|---|---|
| nginx, static file | $(fmt "$best_n") | $n_p50 | $n_p99 |
| aisle \`for_you\` | $(fmt "$best_a") | $a_p50 | $a_p99 |
| aisle \`for_you\`, customers with events only | $(fmt "$act_rps") | $act_p50 | $act_p99 |
| **ratio aisle / nginx** | **$fy_ratio** (goal ≥ 0.6) | | |

**Latency at half of the maximum** (\`bench/rate.c\`: open loop, fixed rate, latency from the
scheduled send time so stalls are not hidden; $RATE_SECONDS s after 2 s of warm-up), $(fmt "$half") req/s,
$RATE_ROUNDS rounds, each aisle then nginx's static file at the same rate (the floor of the generator and
the machine); server: aisle's own time per answer (\`GET /metrics\`, handler start to response,
Prometheus bucket bounds in ms):

| round | aisle p50 | p90 | p99 (goal ≤ 1 ms) | p99.9 | nginx p50 | p99 | p99.9 | server |
|---|---|---|---|---|---|---|---|---|
$rate_rows
p99 median of the rounds: aisle $med_a ms, nginx $med_n ms. The machine's own stalls
(\`bench-stall\`, a spinning thread's gaps, 5 s): one thread: $(echo "${stall_1#stall: }" | cut -d' ' -f5-7,9);
one per CPU: $(echo "${stall_all#stall: }" | cut -d' ' -f5-7,9).

**Mixed load**: $((100 - WRITE_PCT))% \`for_you\` + $WRITE_PCT% \`POST /v1/events\` (one new event per request,
durable: \`--fsync always\`, group commit), $CONNECTIONS connections:

| | reads/s | read p50 | read p99 | writes/s | write p50 | write p99 |
|---|---|---|---|---|---|---|
| closed loop (maximum) | $(fmt "$(field "$mr" rps)") | $(field "$mr" p50) ms | $(field "$mr" p99) ms | $(fmt "$(field "$mw" rps)") | $(field "$mw" p50) ms | $(field "$mw" p99) ms |
| open loop at $(fmt "$mix_half") req/s$wpool_md | $(fmt "$(field "$hr" rps)") | $(field "$hr" p50) ms | $(field "$hr" p99) ms | $(fmt "$(field "$hw" rps)") | $(field "$hw" p50) ms | $(field "$hw" p99) ms |

Server time in the open-loop mixed run: reads $mh_srv_r; writes, until durable, $mh_srv_w.
---- end ----
EOF
