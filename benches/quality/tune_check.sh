#!/bin/sh
# The check of issue #12: `ials tune` on the train part only (its own
# validation split inside), the untouched test part scored once by
# evaluate.py (unseen test items count as misses); and, in one `ials eval`
# run on the same split, EASE against the tuned model (both through the same
# scorer, which drops test items unknown to training).
#
# usage: tune_check.sh QDATA PY [DATASETS] [SEEDS] [BUDGET]
#   QDATA: prep.py's output with DATASET/sS/{train,test}.csv;
#   PY: a python with numpy and scipy.  EASE=0 skips EASE.
# Output lines:
#   DATASET SEED tune R@20 NDCG@20 (evaluate.py) SECONDS K BINARY LOAD
#   (LOAD: the 1-minute load average before and after the tune; the
#   machine is shared, and a wall-clock budget buys less under load)
#   DATASET SEED ials-eval R@20 NDCG@20 (ials eval, tuned model)
#   DATASET SEED ease-eval R@20 NDCG@20 (ials eval, EASE λ)
set -eu
Q=$1; PY=$2; SETS=${3:-"ml-100k lastfm citeulike-a"}; SEEDS=${4:-"1 2 3"}; BUDGET=${5:-3m}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PEERS=$(cd "$ROOT/../shared/peers" 2>/dev/null && pwd || echo /work/shared/peers)
IALS=${IALS:-$ROOT/target/release/ials}
OUT=${OUT:-$Q/tune}
field() { sed -e "s/.*\"$1\": \([0-9.]*\).*/\1/"; }
# EASE λ per data set: the ones Table 1 of docs/results.md chose on a
# validation part of train (seed 42 split), never on these test parts.
ease_lambda() { case $1 in ml-100k) echo 200;; lastfm) echo 100;; citeulike-a) echo 30;; *) echo 200;; esac; }
for d in $SETS; do for s in $SEEDS; do
  tr=$Q/$d/s$s/train.csv; te=$Q/$d/s$s/test.csv; m=$OUT/$d-s$s
  mkdir -p "$OUT"
  l0=$(cut -d' ' -f1 /proc/loadavg)
  t0=$(date +%s)
  "$IALS" tune --input "$tr" --output "$m" --budget "$BUDGET" --threads 2 > "$m.log"
  t1=$(date +%s)
  l1=$(cut -d' ' -f1 /proc/loadavg)
  j=$("$PY" "$HERE/score.py" "$PEERS/evaluate.py" "$tr" "$te" "$m")
  k=$(grep -o '"factors": [0-9]*' "$m/best_params.json" | grep -o '[0-9]*')
  bin=$(grep -o '"binary_values": [a-z]*' "$m/tune.json" | sed 's/.*: //')
  echo "$d $s tune $(echo "$j" | field recall@20) $(echo "$j" | field ndcg@20) $((t1 - t0))s k=$k binary=$bin load=$l0/$l1"
  # EASE=1: EASE too (minutes a fit on 17k items); EASE=ml: only where
  # the catalogue is small (ml-100k); the tuned model is scored either way.
  if [ "${EASE:-1}" = 1 ] || { [ "${EASE:-1}" = ml ] && [ "$d" = ml-100k ]; }; then
    ease="--baseline ease --ease-lambda $(ease_lambda "$d")"
  else
    ease=""
  fi
  if [ "${EASE:-1}" != 0 ]; then
    # shellcheck disable=SC2086
    "$IALS" eval --train "$tr" --test "$te" $ease --model "$m" --json > "$m.eval.json"
    "$PY" - "$m.eval.json" "$d" "$s" <<'PYEOF'
import json, sys
rows = json.load(open(sys.argv[1]))
for r in rows:
    name = {"ease": "ease-eval"}.get(r["model"], "ials-eval")
    print(sys.argv[2], sys.argv[3], name, round(r["metrics"]["recall"], 4), round(r["metrics"]["ndcg"], 4))
PYEOF
  fi
done; done
