#!/usr/bin/env bash
# for_you latency while the trained models are swapped: Amazon Beauty with item-kNN,
# EASE (a 559 MiB model) and iALS loaded, an open-loop fixed-rate load of
# GET /v1/users/{id}/recommendations (bench-rate: latency from the scheduled send time,
# so a stall shows), once with nothing else going on (the reference) and once while
# POST /v1/admin/models/reload swaps the whole model set every SWAP_EVERY seconds. The
# ratio of the two p99s (and p99.9s) is what a swap costs a request. Then the same with
# reloads of unchanged files (kept, not read again), and with HOG=1 a diagnostic: an
# idle-class busy loop beside the server, to tell what any background work costs here.
#
# Environment: RATE [2000] req/s, DURATION [20] s, SWAP_EVERY [2] s, CONNECTIONS [16],
# BEAUTY (beauty.txt), plus BUILD_DIR / AISLE_BIN / BENCH_TMP (see lib.sh).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

RATE_RPS=${RATE:-2000}
DURATION=${DURATION:-20}
SWAP_EVERY=${SWAP_EVERY:-2}
CONNECTIONS=${CONNECTIONS:-16}
BEAUTY=${BEAUTY:-$ROOT/../shared/datasets/amazon-beauty/beauty.txt}
RATE=$BUILD_DIR/bench/bench-rate

if [ ! -r "$BEAUTY" ]; then
  echo "skip: Amazon Beauty not found at $BEAUTY (set BEAUTY=/path/to/beauty.txt)"
  exit 0
fi
ensure_built "$RATE"
need_cmd curl
make_scratch
tmp=$SCRATCH
D=$tmp/data
machine_line

"$AISLE_BIN" import --data "$D" --format=sequences --gap 10m --no-progress "$BEAUTY" >/dev/null
"$AISLE_BIN" train --data "$D" --model knn,ease,ials >"$tmp/train.txt" 2>&1 || {
  cat "$tmp/train.txt" >&2
  die "aisle train failed"
}
echo "# models: $(du -sh "$D/models" | cut -f1) in $D/models"
awk '{print "u" $1}' "$BEAUTY" >"$tmp/ids.txt"

port=$(free_port)
start_aisle "$port" "$D" "$tmp/aisle.log" --threads 2 --rank-cache-ms 1000
base="http://127.0.0.1:$port"
curl -fs "$base/v1/admin/models" | grep -q '"model":"ease"' || die "the server did not load the EASE model"

# run_rate LABEL: one bench-rate run; its output in $tmp/rate-LABEL.txt.
run_rate() {
  "$RATE" -a "127.0.0.1:$port" -f "$tmp/ids.txt" -P '/v1/users/{id}/recommendations?n=10' -r "$RATE_RPS" \
    -c "$CONNECTIONS" -d "$DURATION" -w 2 >"$tmp/rate-$1.txt" 2>&1 || die "bench-rate failed: $(cat "$tmp/rate-$1.txt")"
}
field() { awk -v k="$2=" '$1 == "read:" { for (i = 2; i <= NF; i++) if (index($i, k) == 1) { sub(k, "", $i); print $i } }' "$1"; }

run_rate quiet
# swaps MODE: reload every SWAP_EVERY s while bench-rate runs; MODE new: the files are
# touched first (a new modification time: all three read and checked again, as after a
# retraining); MODE same: unchanged files (kept, only the id maps are rebuilt).
swaps() {
  local end
  end=$(($(date +%s) + DURATION + 2))
  while [ "$(date +%s)" -lt "$end" ]; do
    [ "$1" = new ] && touch "$D"/models/*.model
    curl -fs -X POST "$base/v1/admin/models/reload" >/dev/null || echo "reload failed" >&2
    sleep "$SWAP_EVERY"
  done
}
gen0=$(json_num "$(curl -fs "$base/v1/admin/models")" generation)
swaps new &
swapper=$!
run_rate swapping
wait $swapper
gen1=$(json_num "$(curl -fs "$base/v1/admin/models")" generation)
swaps same &
swapper=$!
run_rate unchanged
wait $swapper
swaps=$((gen1 - gen0))
runs="quiet swapping unchanged"
if [ -n "${HOG:-}" ]; then
  # A diagnostic: a busy loop in the idle scheduling class (as the modeler thread runs),
  # doing nothing but take a core when the server leaves it idle.
  (chrt --idle 0 timeout $((DURATION + 3)) sh -c 'while :; do :; done') &
  hog=$!
  run_rate hog
  wait $hog || true
  runs="$runs hog"
fi

echo
echo "open loop at $RATE_RPS req/s, $CONNECTIONS connections, ${DURATION}s after 2s of warm-up; swapping: $swaps" \
  "swaps of the 3-model set (one every ${SWAP_EVERY}s, files new each time); unchanged: the same with files unchanged"
echo
echo "| for_you | req/s | p50 | p90 | p99 | p99.9 | max | non-2xx |"
echo "|---|---|---|---|---|---|---|---|"
for r in $runs; do
  f=$tmp/rate-$r.txt
  echo "| $r | $(field "$f" rps) | $(field "$f" p50) | $(field "$f" p90) | $(field "$f" p99) | $(field "$f" p99.9)" \
    "| $(field "$f" max) | $(field "$f" non2xx) |"
done
echo
num() { printf '%s' "$1" | sed 's/ms$//'; }
for r in $runs; do
  [ "$r" = quiet ] && continue
  echo "ratio $r / quiet: p99 = $(ratio "$(num "$(field "$tmp/rate-$r.txt" p99)")" "$(num "$(field "$tmp/rate-quiet.txt" p99)")")," \
    "p99.9 = $(ratio "$(num "$(field "$tmp/rate-$r.txt" p99.9)")" "$(num "$(field "$tmp/rate-quiet.txt" p99.9)")")"
done
