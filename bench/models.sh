#!/usr/bin/env bash
# Trained models at size: iALS time per iteration (conjugate gradient, as trained)
# against the exact per-row Cholesky solves of Hu et al. in the same run (the ratio),
# with memory; item-kNN training time; and the per-request cost of the iALS model as
# for_you uses it (fold-in + best 200 over every item) against an exact OpenBLAS scan,
# with the recall of the approximate index (bench-foldin). On Amazon Beauty when it is
# there, and on `aisle gen` data (default 100,000 items, 1,000,000 customers,
# 20,000,000 events).
#
# Environment: ITEMS, USERS, EVENTS (gen sizes), ITERATIONS [5], REF_ITERATIONS [2] (of
# the exact reference, which is slower), FACTORS [64], QUERIES [20000] (bench-foldin),
# GEN_DATA (reuse a data directory that holds the imported gen log instead of
# generating and importing), BEAUTY (beauty.txt), plus BUILD_DIR / AISLE_BIN / BENCH_TMP
# (see lib.sh). Needs about 4 GB of disk for the gen data and 3 GB of memory.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

ITEMS=${ITEMS:-100000}
USERS=${USERS:-1000000}
EVENTS=${EVENTS:-20000000}
ITERATIONS=${ITERATIONS:-5}
REF_ITERATIONS=${REF_ITERATIONS:-2}
FACTORS=${FACTORS:-64}
QUERIES=${QUERIES:-20000}
BEAUTY=${BEAUTY:-$ROOT/../shared/datasets/amazon-beauty/beauty.txt}
FOLDIN=$BUILD_DIR/bench/bench-foldin

ensure_built "$FOLDIN"
make_scratch
tmp=$SCRATCH
machine_line

# train_ials DIR LABEL CG_STEPS ITERATIONS: trains, prints "mean_s_per_iteration max_rss_mib".
train_ials() {
  local out=$tmp/train-$2.txt
  /usr/bin/time -f "rss_kb %M" "$AISLE_BIN" train --data "$1" --model ials --factors "$FACTORS" \
    --cg-steps "$3" --iterations "$4" --out "$tmp/$2.model" >"$out" 2>&1 || {
    cat "$out" >&2
    die "aisle train --model ials failed"
  }
  awk '/^ials: iteration/ {s += $(NF - 1); n++} /^rss_kb/ {r = $2}
       END {printf "%.3f %.0f\n", n ? s / n : 0, r / 1024}' "$out"
}

# bench_data DIR NAME TITLE: the iALS and kNN rows for one data set.
bench_data() {
  local d=$1 name=$2 title=$3 cg ref t0 knn_s cg_rss ref_rss
  read -r cg cg_rss < <(train_ials "$d" "$name-cg" 3 "$ITERATIONS")
  read -r ref ref_rss < <(train_ials "$d" "$name-exact" 0 "$REF_ITERATIONS")
  t0=$(date +%s.%N)
  "$AISLE_BIN" train --data "$d" --model knn --out "$tmp/$name-knn.model" >"$tmp/knn-$name.txt" 2>&1 ||
    die "aisle train --model knn failed"
  knn_s=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
  echo
  echo "## $title: $(grep -m1 '^read' "$tmp/train-$name-cg.txt")"
  echo
  echo "| iALS, $FACTORS factors | s per iteration | max RSS (MiB) |"
  echo "|---|---|---|"
  echo "| conjugate gradient, 3 steps per row (as trained) | $cg | $cg_rss |"
  echo "| reference: exact Cholesky solve per row (Hu et al.) | $ref | $ref_rss |"
  echo
  echo "ratio CG / exact time per iteration = $(ratio "$cg" "$ref")"
  echo "loss after iteration $REF_ITERATIONS: CG $(awk -v i="$REF_ITERATIONS/$ITERATIONS" '$3 == i {print $5}' \
    "$tmp/train-$name-cg.txt"), exact $(awk -v i="$REF_ITERATIONS/$REF_ITERATIONS" '$3 == i {print $5}' \
    "$tmp/train-$name-exact.txt"); CG after $ITERATIONS: $(grep -o '"loss":[0-9.e+]*' "$tmp/train-$name-cg.txt" | cut -d: -f2)"
  echo "item-kNN (100 neighbours): ${knn_s} s including reading the log"
}

if [ -r "$BEAUTY" ]; then
  "$AISLE_BIN" import --data "$tmp/beauty" --format=sequences --gap 10m --no-progress "$BEAUTY" >/dev/null ||
    die "aisle import of $BEAUTY failed"
  bench_data "$tmp/beauty" beauty "Amazon Beauty"
else
  echo "# skip Amazon Beauty: $BEAUTY not found"
fi

if [ -n "${GEN_DATA:-}" ]; then
  d=$GEN_DATA
  echo "# gen data: reusing $d"
else
  d=$tmp/gen-data
  "$AISLE_BIN" gen --out "$tmp/gen" --items "$ITEMS" --users "$USERS" --events "$EVENTS" >/dev/null ||
    die "aisle gen failed"
  "$AISLE_BIN" import --data "$d" --format ndjson --kind items --no-progress "$tmp/gen/items.ndjson" >/dev/null
  "$AISLE_BIN" import --data "$d" --format ndjson --no-progress "$tmp/gen/events.ndjson" >/dev/null
  rm -rf "$tmp/gen"
fi
bench_data "$d" gen "aisle gen, $ITEMS items, $USERS customers, $EVENTS events"

echo
echo "## Per request: fold-in + best 200 over every item (gen data's iALS model)"
for th in 1 2; do
  echo
  "$FOLDIN" "$tmp/gen-cg.model" "$QUERIES" 10 200 "$th"
done
