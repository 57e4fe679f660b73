#!/usr/bin/env bash
# Sequence-model benchmark: Aisle's SASRec-style trainer (`aisle train --models sequence`)
# against an independent PyTorch one (bench/seq_ref.py: the same network, loss and Adam)
# on Amazon Beauty, same epochs, negatives, batch and threads. Imports beauty.txt into a
# scratch data directory (`aisle import --format=sequences`), trains Aisle with its
# per-epoch lines on stderr (`sequence: epoch E/N loss X [valid ndcg@10 Y hr@10 Z]  S s`),
# runs the reference (`epoch E/N loss X [valid ...]  S s`), and prints a Markdown table:
# mean and median seconds per epoch (training only: both leave validation out), target
# tokens per epoch, microseconds per token, last loss and validation NDCG@10 / HR@10; then
# the ratios Aisle / PyTorch of the seconds per epoch and per target token.
#
# The two do not train on the same tokens: the reference holds out each customer's last
# two items (test, validation: the SASRec protocol), Aisle only the last item of its
# validation sample (about VALID customers) and trains on the rest of the log, about a
# third more target tokens on Beauty. Hence the per-token ratio (Aisle's token count is
# computed from beauty.txt, the validation sample counted as VALID customers: within
# 0.1%). For the same reason losses and validation figures are only roughly comparable
# (different validation customers, and Aisle's histories are one item longer).
#
# Needs PyTorch for Debian's python3 (apt-get install python3-torch: Debian 12 has 1.13.1,
# CPU only); its matmuls go through libblas.so.3, which is OpenBLAS when
# libopenblas0-pthread is installed (seq_ref.py prints the BLAS it mapped and warns when it
# is not OpenBLAS).
#
# Environment: EPOCHS [3], NEGATIVES [256] (0: full softmax), THREADS [nproc] (Aisle's
# --train-threads, the reference's --threads), VALID [2000] (validation customers, both),
# SEED [42], MAXLEN [50] (both), BEAUTY (beauty.txt)
# [ROOT/../shared/datasets/amazon-beauty/beauty.txt], PYTHON [/usr/bin/python3], plus
# BUILD_DIR / AISLE_BIN / BENCH_TMP / KEEP_TMP (see lib.sh).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BEAUTY=${BEAUTY:-$(dirname "$0")/../../shared/datasets/amazon-beauty/beauty.txt}
EPOCHS=${EPOCHS:-3}
NEGATIVES=${NEGATIVES:-256}
THREADS=${THREADS:-$(nproc)}
VALID=${VALID:-2000}
SEED=${SEED:-42}
MAXLEN=${MAXLEN:-50}
PYTHON=${PYTHON:-/usr/bin/python3}

if [ ! -r "$BEAUTY" ]; then
  echo "skip: Amazon Beauty not found at $BEAUTY (set BEAUTY=/path/to/beauty.txt)"
  exit 0
fi
[ -x "$PYTHON" ] || die "$PYTHON not found (Debian's python3, with python3-torch)"
"$PYTHON" -c 'import torch' 2>/dev/null ||
  die "$PYTHON cannot import torch: install Debian's PyTorch (as root: apt-get install python3-torch libopenblas0-pthread; about 600 MB)"
ensure_built

# epoch_stats FILE PREFIX: "mean median last_loss last_ndcg last_hr epochs" over the lines
# of FILE that start with PREFIX ("epoch E/N loss X [valid ndcg@10 Y hr@10 Z]  S s");
# fields absent print as "".
epoch_stats() {
  awk -v pre="$2" '
    index($0, pre) == 1 && $NF == "s" {
      t[++n] = $(NF - 1)
      for (i = 1; i < NF; i++) {
        if ($i == "loss") loss = $(i + 1)
        if ($i == "ndcg@10") nd = $(i + 1)
        if ($i == "hr@10") hr = $(i + 1)
      }
    }
    END {
      if (n == 0) { print "|||||0"; exit }
      for (i = 1; i <= n; i++) s += t[i]
      for (i = 2; i <= n; i++) { v = t[i]; for (j = i - 1; j >= 1 && t[j] > v; j--) t[j + 1] = t[j]; t[j + 1] = v }
      med = n % 2 ? t[(n + 1) / 2] : (t[n / 2] + t[n / 2 + 1]) / 2
      printf "%.3f|%.3f|%s|%s|%s|%d\n", s / n, med, loss, nd, hr, n
    }' "$1"
}
fmt() { # fmt NUMBER [DIGITS]: "n/a" when NUMBER is empty
  if [ -n "$1" ]; then awk -v v="$1" -v d="${2:-4}" 'BEGIN { printf "%.*f\n", d, v }'; else echo "n/a"; fi
}
per_token_us() { # per_token_us SECONDS TOKENS
  if [ -n "$1" ] && [ -n "$2" ]; then awk -v s="$1" -v t="$2" 'BEGIN { if (t > 0) printf "%.2f\n", s / t * 1e6; else print "" }'; fi
}

make_scratch
tmp=$SCRATCH
D=$tmp/data
machine_line
echo "# data: $BEAUTY ($(wc -l <"$BEAUTY") customers); epochs $EPOCHS, negatives $NEGATIVES, threads $THREADS," \
  "validation customers $VALID, seed $SEED, L $MAXLEN"

# Target tokens per epoch. Reference: per customer min(n - 3, L) (n items; training =
# all but the last two). Aisle: min(n - 1, L), one fewer for each validation customer.
read -r ref_tokens aisle_tokens < <(awk -v L="$MAXLEN" -v V="$VALID" '
  { n = NF - 1; if (n >= 3) e++
    a = n - 1; if (a > L) a = L; if (a > 0) at += a
    r = n - 3; if (r > L) r = L; if (r > 0) rt += r }
  END { if (V > e) V = e; print rt, at - V }' "$BEAUTY")

t0=$(date +%s.%N)
"$AISLE_BIN" import --data "$D" --format=sequences --gap 10m --no-progress "$BEAUTY" >"$tmp/import.txt" 2>&1 || {
  cat "$tmp/import.txt" >&2
  die "aisle import failed"
}
echo "import: $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')s;" \
  "$(awk '$1 == "events" {$1 = ""; sub(/^ +/, ""); print "events " $0; exit}' "$tmp/import.txt")"

have_train=0
if "$AISLE_BIN" train --help 2>&1 | grep -q -- '--seq-epochs'; then
  have_train=1
else
  echo "# aisle train has no --seq-epochs in $AISLE_BIN (not implemented yet, or an old build):" \
    "Aisle's row stays n/a; running the PyTorch reference alone"
fi

if [ $have_train = 1 ]; then
  # --seq-patience 0: run every epoch, as the reference does.
  if "$AISLE_BIN" train --data "$D" --models sequence --seq-epochs "$EPOCHS" --seq-negatives "$NEGATIVES" \
    --seq-valid "$VALID" --seq-maxlen "$MAXLEN" --seq-patience 0 --seed "$SEED" --train-threads "$THREADS" \
    >"$tmp/train.txt" 2>"$tmp/train.err"; then
    grep -e '^sequence: epoch ' -e '^read ' "$tmp/train.err" | sed 's/^/aisle: /' || true
  else
    tail -20 "$tmp/train.err" >&2
    echo "# aisle train --models sequence failed (status above); Aisle's row stays n/a"
    have_train=0
  fi
fi

"$PYTHON" "$BENCH_DIR/seq_ref.py" --data "$BEAUTY" --epochs "$EPOCHS" --negatives "$NEGATIVES" \
  --threads "$THREADS" --valid-users "$VALID" --maxlen "$MAXLEN" --seed "$SEED" --eval-every 1 \
  >"$tmp/ref.txt" 2>"$tmp/ref.err" || {
  cat "$tmp/ref.err" "$tmp/ref.txt" >&2
  die "bench/seq_ref.py failed"
}
cat "$tmp/ref.err" >&2 # the BLAS warning, if any
grep -e '^#' -e '^epoch ' "$tmp/ref.txt" | sed 's/^/pytorch: /'

IFS='|' read -r r_mean r_med r_loss r_nd r_hr r_n < <(epoch_stats "$tmp/ref.txt" "epoch ")
[ "$r_n" -gt 0 ] || die "bench/seq_ref.py printed no epoch line"
a_mean="" a_med="" a_loss="" a_nd="" a_hr="" a_n=0
if [ $have_train = 1 ]; then
  IFS='|' read -r a_mean a_med a_loss a_nd a_hr a_n < <(epoch_stats "$tmp/train.err" "sequence: epoch ")
  [ "$a_n" -gt 0 ] || echo "# aisle train printed no 'sequence: epoch' line; Aisle's row stays n/a"
fi
r_us=$(per_token_us "$r_mean" "$ref_tokens")
a_us=$(per_token_us "$a_mean" "$aisle_tokens")

echo
echo "| | s/epoch (mean) | median | epochs | target tokens/epoch | us/token | last loss | valid NDCG@10 | valid HR@10 |"
echo "|---|---|---|---|---|---|---|---|---|"
echo "| PyTorch | $(fmt "$r_mean" 2) | $(fmt "$r_med" 2) | $r_n | $ref_tokens | $(fmt "$r_us" 2) | $(fmt "$r_loss")" \
  "| $(fmt "$r_nd") | $(fmt "$r_hr") |"
echo "| Aisle | $(fmt "$a_mean" 2) | $(fmt "$a_med" 2) | $a_n | ~$aisle_tokens | $(fmt "$a_us" 2) | $(fmt "$a_loss")" \
  "| $(fmt "$a_nd") | $(fmt "$a_hr") |"
echo
if [ -n "$a_mean" ]; then
  echo "ratio Aisle/PyTorch s per epoch = $(ratio "$a_mean" "$r_mean")"
  echo "ratio Aisle/PyTorch s per target token = $(ratio "$a_us" "$r_us")"
else
  echo "ratio Aisle/PyTorch s per epoch = n/a"
  echo "ratio Aisle/PyTorch s per target token = n/a"
fi
