#!/bin/sh
# ials (normal and uniform starts) against benfred/implicit 0.7 at implicit's
# own settings: as-given confidence, alpha 1, regularization 1, k 64,
# 15 iterations, CG (3 steps) and Cholesky, on seeded 20% per-user holdouts
# (`ials split --seed S` of prep.py's all.csv), scored by evaluate.py.
#
# usage: init_vs_implicit.sh QDATA PEERS_PY [DATASETS] [SEEDS]
#   QDATA: prep.py's output dir with DATASET/sS/{train,test}.csv;
#   PEERS_PY: a python with implicit numpy scipy pandas threadpoolctl.
# Output lines: dataset seed solver system recall@20 ndcg@20
set -eu
Q=$1; PY=$2; SETS=${3:-"ml-100k lastfm citeulike-a"}; SEEDS=${4:-"1 2 3"}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PEERS=$(cd "$ROOT/../shared/peers" 2>/dev/null && pwd || echo /work/shared/peers)
IALS=${IALS:-$ROOT/target/release/ials}
K=${K:-64}; REG=${REG:-1}; ALPHA=${ALPHA:-1}; IT=${IT:-15}
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
field() { sed -e "s/.*\"$1\": \([0-9.]*\).*/\1/"; }
for d in $SETS; do for s in $SEEDS; do for solver in cg cholesky; do
  tr=$Q/$d/s$s/train.csv; te=$Q/$d/s$s/test.csv
  cg=1; [ $solver = cholesky ] && cg=0
  "$PY" "$PEERS/implicit_run.py" "$tr" "$T/imp" $K $REG $ALPHA $IT $cg 2 >/dev/null
  j=$("$PY" "$PEERS/evaluate.py" "$tr" "$te" "$T/imp/U.npy" "$T/imp/V.npy" 20)
  echo "$d $s $solver implicit $(echo "$j" | field recall@20) $(echo "$j" | field ndcg@20)"
  for init in normal uniform; do
    "$IALS" fit --input "$tr" --output "$T/m" --factors $K --iterations $IT \
      --confidence as-given --alpha $ALPHA --regularization $REG --unobserved-weight 1 \
      --reg-exponent 0 --solver $solver --init $init --threads 2 --quiet
    j=$("$PY" "$HERE/score.py" "$PEERS/evaluate.py" "$tr" "$te" "$T/m")
    echo "$d $s $solver ials-$init $(echo "$j" | field recall@20) $(echo "$j" | field ndcg@20)"
  done
done; done; done
