#!/bin/sh
# One epoch of in-batch softmax (id-only towers) in ials and in the PyTorch
# reference (../shared/peers/twotower_torch.py bench), same data, k, batch
# and threads, alternating in one run (issue #14's speed item).
#
# usage: speed.sh CSV TORCH_PY [REPEATS=2] [K=64] [B=1024] [THREADS=2]
# Prints one JSON line per run (the systems' own output) plus the 1-minute
# load average before each run.
set -eu
CSV=$1; PY=$2; REP=${3:-2}; K=${4:-64}; B=${5:-1024}; T=${6:-2}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PEERS=$(cd "$ROOT/../shared/peers" 2>/dev/null && pwd || echo /work/shared/peers)
BENCH=${BENCH:-$ROOT/target/release/examples/twotower_bench}
i=0
while [ "$i" -lt "$REP" ]; do
  echo "{\"load\": $(cut -d' ' -f1 /proc/loadavg)}"
  "$BENCH" "$CSV" --k "$K" --batch "$B" --threads "$T"
  echo "{\"load\": $(cut -d' ' -f1 /proc/loadavg)}"
  "$PY" "$PEERS/twotower_torch.py" bench "$CSV" --k "$K" --batch "$B" --threads "$T"
  i=$((i + 1))
done
