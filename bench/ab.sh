#!/usr/bin/env bash
# Two aisle binaries side by side on the same data: which one spends less server CPU per
# for_you answer. Both servers are up at once, each on its own copy of DATA_DIR; wrk
# drives one, then the other, for SECONDS each, the order alternating between rounds, so
# that what the host does meanwhile falls on both alike. A round's figure is the server's
# CPU time (user + system, /proc/PID/stat) over its requests. On a 2-core VM the
# absolute figures swing by 30% from minute to minute while the paired difference holds
# to about a microsecond: check the method with the same binary on both sides first,
# and run a comparison in both orders (A and B swapped): on the 2026-12-03 Intel VM side
# A came out 1-2 µs ahead whichever binary it ran.
#
#   bench/ab.sh BIN_A BIN_B DATA_DIR IDS_FILE [ROUNDS=16] [SECONDS=3]
#
# DATA_DIR: an imported data directory (e.g. serve.sh's, or `aisle import` of `aisle gen`
# output); IDS_FILE: customer ids, one per line. A_ARGS / B_ARGS: extra `aisle serve` flags.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

[ $# -ge 4 ] || die "usage: bench/ab.sh BIN_A BIN_B DATA_DIR IDS_FILE [ROUNDS] [SECONDS]"
BIN_A=$1 BIN_B=$2 DATA=$3 IDS=$4 ROUNDS=${5:-16} SECS=${6:-3}
[ -x "$BIN_A" ] && [ -x "$BIN_B" ] || die "both binaries must be executable"
[ -d "$DATA" ] || die "no data directory $DATA"
[ -s "$IDS" ] || die "no ids in $IDS"
need_cmd wrk curl
make_scratch
cp -r "$DATA" "$SCRATCH/a"
cp -r "$DATA" "$SCRATCH/b"

pa=$(free_port)
pb=$(free_port)
while [ "$pb" = "$pa" ]; do pb=$(free_port); done
# shellcheck disable=SC2086
READY_TIMEOUT=600 AISLE_BIN=$BIN_A start_aisle "$pa" "$SCRATCH/a" "$SCRATCH/a.log" --fsync never ${A_ARGS:-}
pid_a=$AISLE_PID
# shellcheck disable=SC2086
READY_TIMEOUT=600 AISLE_BIN=$BIN_B start_aisle "$pb" "$SCRATCH/b" "$SCRATCH/b.log" --fsync never ${B_ARGS:-}
pid_b=$AISLE_PID

hz=$(getconf CLK_TCK)
path='/v1/users/{id}/recommendations?n=10'
drive() { wrk -t1 -c32 -d"$2"s -s "$BENCH_DIR/foryou.lua" "http://127.0.0.1:$1" -- "$IDS" "$path"; }
drive "$pa" 5 >/dev/null
drive "$pb" 5 >/dev/null

echo "# ab: A=$BIN_A ${A_ARGS:-} B=$BIN_B ${B_ARGS:-}; $ROUNDS rounds of ${SECS}s each, wrk -t1 -c32, order alternating"
results=$SCRATCH/rounds.txt
: >"$results"
for r in $(seq "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then order="A B"; else order="B A"; fi
  for w in $order; do
    if [ "$w" = A ]; then port=$pa pid=$pid_a; else port=$pb pid=$pid_b; fi
    c0=$(cpu_ticks "$pid")
    out=$(drive "$port" "$SECS")
    c1=$(cpu_ticks "$pid")
    n=$(echo "$out" | awk '/requests in/ {print $1}')
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    us=$(awk -v c=$((c1 - c0)) -v n="$n" -v hz="$hz" 'BEGIN {printf "%.2f", c * 1e6 / hz / n}')
    echo "round $r $w req/s=$rps cpu_us_per_request=$us"
    echo "$r $w $rps $us" >>"$results"
  done
done
stop_pid "$pid_a" aisle-A
stop_pid "$pid_b" aisle-B

awk '
  function median(a, n,   i, j, t) {
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  { if ($2 == "A") { ca[$1] = $4; ra[$1] = $3 } else { cb[$1] = $4; rb[$1] = $3 } }
  END {
    for (r in ca) if (r in cb) { n++; d[n] = cb[r] - ca[r]; sum += d[n]; if (d[n] < 0) better++
      xa[n] = ca[r]; xb[n] = cb[r]; ya[n] = ra[r]; yb[n] = rb[r] }
    printf "A: median %.2f us of CPU per request, %.0f req/s\n", median(xa, n), median(ya, n)
    printf "B: median %.2f us of CPU per request, %.0f req/s\n", median(xb, n), median(yb, n)
    printf "B - A per round: median %+.2f us, mean %+.2f us; B spent less in %d of %d rounds\n",
      median(d, n), sum / n, better, n
  }' "$results"
