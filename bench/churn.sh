#!/usr/bin/env bash
# for_you under a catalog that grows while it is served: the mixed load (reads and
# events) with a new product among the writes, against the same load without new
# products, on one server, the two alternating round by round. What a new item costs
# the answers shows as the read rate's ratio and the server's CPU per request.
#
#   bench/churn.sh DATA_DIR IDS_FILE ITEMS_FILE [ROUNDS=3] [SECONDS=10]
#
# DATA_DIR: an imported data directory (copied first: the writes land in the copy);
# IDS_FILE: customer ids, ITEMS_FILE: item ids, one per line. WRITE_PCT [10]: the
# writes' share of requests; NEW_EVERY [1000]: every NEW_EVERY-th write is
# PUT /v1/items of a new product (0.01% of requests with the defaults); CONNECTIONS
# [32]. AISLE_BIN: the binary (default: the release build).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

[ $# -ge 3 ] || die "usage: bench/churn.sh DATA_DIR IDS_FILE ITEMS_FILE [ROUNDS] [SECONDS]"
DATA=$1 IDS=$2 ITEMS=$3 ROUNDS=${4:-3} SECS=${5:-10}
WRITE_PCT=${WRITE_PCT:-10} NEW_EVERY=${NEW_EVERY:-1000} CONNECTIONS=${CONNECTIONS:-32}
[ -d "$DATA" ] || die "no data directory $DATA"
[ -s "$IDS" ] && [ -s "$ITEMS" ] || die "no ids in $IDS or $ITEMS"
need_cmd curl
ensure_built
RATE=$BUILD_DIR/bench/bench-rate
make_scratch
cp -r "$DATA" "$SCRATCH/d"
port=$(free_port)
READY_TIMEOUT=600 start_aisle "$port" "$SCRATCH/d" "$SCRATCH/aisle.log" --fsync never
pid=$AISLE_PID

hz=$(getconf CLK_TCK)
path='/v1/users/{id}/recommendations?n=10'
load() { # load SEED [extra bench-rate flags]
  local seed=$1
  shift
  "$RATE" -a "127.0.0.1:$port" -f "$IDS" -P "$path" -i "$ITEMS" -W "$WRITE_PCT" -c "$CONNECTIONS" \
    -d "$SECS" -w 1 -s "$seed" "$@"
}
load 99 >/dev/null # warm-up

echo "# churn: $(machine_line); $ROUNDS rounds of ${SECS}s, closed loop -c $CONNECTIONS," \
  "$WRITE_PCT% writes, 'new': every ${NEW_EVERY}th write a new product; order alternating"
results=$SCRATCH/rounds.txt
: >"$results"
for r in $(seq "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then order="plain new"; else order="new plain"; fi
  for w in $order; do
    flags=()
    [ "$w" = new ] && flags=(-N "$NEW_EVERY")
    c0=$(cpu_ticks "$pid")
    out=$(load "$r" "${flags[@]}")
    c1=$(cpu_ticks "$pid")
    rd=$(echo "$out" | grep '^read:') wr=$(echo "$out" | grep '^write:')
    n=$(($(echo "$rd" | sed 's/.*count=\([0-9]*\).*/\1/') + $(echo "$wr" | sed 's/.*count=\([0-9]*\).*/\1/')))
    us=$(awk -v c=$((c1 - c0)) -v n="$n" -v hz="$hz" 'BEGIN {printf "%.2f", c * 1e6 / hz / n}')
    rps=$(echo "$rd" | sed 's/.*rps=\([0-9.]*\).*/\1/') p99=$(echo "$rd" | sed 's/.* p99=\([0-9.]*\).*/\1/')
    echo "round $r $w reads/s=$rps read_p99=${p99}ms cpu_us_per_request=$us $(echo "$out" | grep -o 'non2xx=[0-9]*' | paste -sd' ')"
    echo "$r $w $rps $p99 $us" >>"$results"
  done
done
stats=$(curl -s "http://127.0.0.1:$port/v1/stats")
items="$(json_num "$stats" items) ($(json_num "$stats" fresh_items) fresh)"
stop_pid "$pid" aisle
awk -v items="$items" '
  function median(a, n,   i, j, t) {
    for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
  }
  { k = $2 == "new"; n[k]++; rps[k, n[k]] = $3; p99[k, n[k]] = $4; cpu[k, n[k]] = $5 }
  END {
    for (k = 0; k <= 1; k++) {
      for (i = 1; i <= n[k]; i++) { a[i] = rps[k, i]; b[i] = p99[k, i]; c[i] = cpu[k, i] }
      mr[k] = median(a, n[k]); mp[k] = median(b, n[k]); mc[k] = median(c, n[k])
      printf "%-5s median reads/s %.0f, read p99 %.3f ms, %.2f us of server CPU per request\n",
        k ? "new" : "plain", mr[k], mp[k], mc[k]
    }
    printf "ratio new / plain: reads/s %.2f, CPU per request %.2f (items at the end: %s)\n",
      mr[1] / mr[0], mc[1] / mc[0], items
  }' "$results"
