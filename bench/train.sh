#!/usr/bin/env bash
# Training benchmark: Aisle's EASE against an independent numpy EASE (bench/ease_ref.py)
# on Amazon Beauty, same data, same protocol (leave-one-out, full ranking: per customer
# the last item is the test item, everything before it the history; history items are
# not ranked; ties at random). Imports beauty.txt into a scratch data directory
# (`aisle import --format=sequences`), trains with `aisle train --model=ease`, evaluates
# with `aisle eval --protocol loo --models ease`, runs the numpy reference, and prints a
# Markdown table: train seconds, HR@10, NDCG@10, HR@20, NDCG@20 of both, and the ratios
# Aisle / numpy of the train time and of NDCG@10.
#
# The reference's time only means something with an optimised BLAS: Debian's
# python3-numpy links libblas.so.3, which is OpenBLAS only when libopenblas0-pthread is
# installed (this script installs both; ease_ref.py reports the BLAS it really mapped and
# warns loudly when it is not OpenBLAS).
#
# Environment: BEAUTY (beauty.txt) [ROOT/../shared/datasets/amazon-beauty/beauty.txt],
# LAMBDA [100], ROUNDS [1] (train Aisle and numpy alternately ROUNDS times and keep the
# fastest of each; the numpy inverse takes about a minute on 2 cores), PYTHON
# [/usr/bin/python3, Debian's, which has numpy], plus BUILD_DIR / AISLE_BIN / BENCH_TMP
# (see lib.sh).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

BEAUTY=${BEAUTY:-$(dirname "$0")/../../shared/datasets/amazon-beauty/beauty.txt}
LAMBDA=${LAMBDA:-100}
ROUNDS=${ROUNDS:-1}
PYTHON=${PYTHON:-/usr/bin/python3}

if [ ! -r "$BEAUTY" ]; then
  echo "skip: Amazon Beauty not found at $BEAUTY (set BEAUTY=/path/to/beauty.txt)"
  exit 0
fi

# Debian's numpy and the OpenBLAS that libblas.so.3 should resolve to (as scripts/deps.sh
# installs packages: apt-get as root, else through sudo).
ensure_pkgs() {
  local p missing="" sudo=""
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
  done
  [ -z "$missing" ] && return 0
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "# installing:$missing" >&2
  export DEBIAN_FRONTEND=noninteractive
  # shellcheck disable=SC2086
  if ! $sudo apt-get update -qq || ! $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null; then
    die "could not install$missing (apt-get install$missing as root)"
  fi
}
ensure_pkgs python3-numpy libopenblas0-pthread
[ -x "$PYTHON" ] || die "$PYTHON not found (Debian's python3, with python3-numpy)"
"$PYTHON" -c 'import numpy' 2>/dev/null || die "$PYTHON cannot import numpy (apt-get install python3-numpy)"
ensure_built

# jget JSON KEY...: the value at KEY (then KEY of that ...) of a JSON object, "" when absent;
# a number key indexes a list; booleans print as true/false.
jget() {
  "$PYTHON" -c '
import json, sys
v = json.loads(sys.argv[1])
for k in sys.argv[2:]:
    try:
        v = v[int(k)] if isinstance(v, list) else v[k]
    except (KeyError, IndexError, ValueError, TypeError):
        v = ""
        break
print(str(v).lower() if isinstance(v, bool) else v)' "$@"
}
# ease_row JSON: the object of models[] whose model is "ease", "" when there is none.
ease_row() {
  "$PYTHON" -c '
import json, sys
try:
    d = json.loads(sys.argv[1])
except ValueError:
    sys.exit(0)
for m in d.get("models", []):
    if m.get("model") == "ease":
        print(json.dumps(m))
        break' "$1"
}
last_json() { grep '^{' "$1" | tail -1 || true; }
min() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "") print b; else if (b == "" || a + 0 <= b + 0) print a; else print b }'; }
fmt() { # fmt NUMBER [DIGITS]: "n/a" when NUMBER is empty
  if [ -n "$1" ]; then awk -v v="$1" -v d="${2:-4}" 'BEGIN { printf "%.*f\n", d, v }'; else echo "n/a"; fi
}

make_scratch
tmp=$SCRATCH
D=$tmp/data
machine_line
echo "# data: $BEAUTY ($(wc -l <"$BEAUTY") customers), lambda $LAMBDA, $ROUNDS round(s)"

t0=$(date +%s.%N)
"$AISLE_BIN" import --data "$D" --format=sequences --gap 10m --no-progress "$BEAUTY" >"$tmp/import.txt" 2>&1 || {
  cat "$tmp/import.txt" >&2
  die "aisle import failed"
}
echo "import: $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')s;" \
  "$(awk '$1 == "events" {$1 = ""; sub(/^ +/, ""); print "events " $0; exit}' "$tmp/import.txt")"

have_train=0
if "$AISLE_BIN" train --help >/dev/null 2>&1; then
  have_train=1
else
  echo "# aisle train is not available in $AISLE_BIN (not implemented yet, or an old build):" \
    "Aisle's row stays n/a; running the numpy reference alone"
fi

aisle_train="" aisle_json="" np_train="" np_json=""
for r in $(seq 1 "$ROUNDS"); do
  if [ $have_train = 1 ]; then
    if "$AISLE_BIN" train --data "$D" --model=ease --lambda "$LAMBDA" --json >"$tmp/train-$r.txt" 2>"$tmp/train-$r.err"; then
      aisle_json=$(last_json "$tmp/train-$r.txt")
      [ -n "$aisle_json" ] || aisle_json="{}"
      s=$(jget "$aisle_json" seconds)
      echo "round $r: aisle train --model=ease: ${s:-?} s" \
        "(model $(jget "$aisle_json" model), items $(jget "$aisle_json" items), users $(jget "$aisle_json" users))"
      [ -z "$s" ] || aisle_train=$(min "$aisle_train" "$s")
    else
      tail -20 "$tmp/train-$r.err" >&2
      echo "round $r: aisle train failed (status above); Aisle's row stays n/a"
      have_train=0
    fi
  fi
  "$PYTHON" "$BENCH_DIR/ease_ref.py" --data "$BEAUTY" --lambda "$LAMBDA" --json >"$tmp/ref-$r.json" 2>"$tmp/ref-$r.err" || {
    cat "$tmp/ref-$r.err" >&2
    die "bench/ease_ref.py failed"
  }
  grep -v -e '^#' -e '^numpy EASE' "$tmp/ref-$r.err" >&2 || true # the BLAS warning, if any
  np_json=$(last_json "$tmp/ref-$r.json")
  [ -n "$np_json" ] || die "bench/ease_ref.py printed no JSON"
  s=$(jget "$np_json" train_seconds)
  echo "round $r: $(grep -m1 '^numpy EASE' "$tmp/ref-$r.err" || echo "numpy EASE: train $s s")"
  np_train=$(min "$np_train" "$s")
done
echo "# numpy BLAS: $(jget "$np_json" blas)"
[ "$(jget "$np_json" openblas)" = true ] || echo "# WARNING: numpy is not using OpenBLAS; its train time means nothing"

ease=""
if [ $have_train = 1 ]; then
  if "$AISLE_BIN" eval --data "$D" --protocol loo --models ease --json >"$tmp/eval.txt" 2>"$tmp/eval.err"; then
    ease=$(ease_row "$(last_json "$tmp/eval.txt")")
    [ -n "$ease" ] || echo "# aisle eval printed no \"ease\" row: $(last_json "$tmp/eval.txt")"
  else
    tail -5 "$tmp/eval.err" >&2
    echo "# aisle eval --models ease failed (status above); Aisle's metrics stay n/a"
  fi
fi

echo
echo "| | train s | HR@10 | NDCG@10 | HR@20 | NDCG@20 |"
echo "|---|---|---|---|---|---|"
echo "| numpy EASE | $(fmt "$np_train" 2) | $(fmt "$(jget "$np_json" hr@10)") | $(fmt "$(jget "$np_json" ndcg@10)")" \
  "| $(fmt "$(jget "$np_json" hr@20)") | $(fmt "$(jget "$np_json" ndcg@20)") |"
e() { if [ -n "$ease" ]; then jget "$ease" "$1"; fi; }
echo "| Aisle EASE | $(fmt "$aisle_train" 2) | $(fmt "$(e hr@10)") | $(fmt "$(e ndcg@10)") | $(fmt "$(e hr@20)")" \
  "| $(fmt "$(e ndcg@20)") |"
echo
if [ -n "$aisle_train" ]; then
  echo "ratio Aisle/numpy train time = $(ratio "$aisle_train" "$np_train")"
else
  echo "ratio Aisle/numpy train time = n/a"
fi
if [ -n "$(e ndcg@10)" ]; then
  echo "ratio Aisle/numpy NDCG@10 = $(ratio "$(e ndcg@10)" "$(jget "$np_json" ndcg@10)" 3)"
else
  echo "ratio Aisle/numpy NDCG@10 = n/a"
fi
