#!/usr/bin/env bash
# Liang et al. 2018 / Rendle et al. 2022 preprocessing and strong-generalization
# split of a downloaded data set (see datasets/README.md).
#
# Usage: datasets/prepare.sh NAME
#   NAME: ml-20m (ratings > 3.5, users >= 5 movies, 10k + 10k held-out users)
#         msd    (songs >= 200 users, users >= 20 songs, 50k + 50k held-out users)
# Reads DATA_DIR (default data, as download.sh) and writes
# DATA_DIR/NAME-liang2018/{train,validation_fold_in,validation_eval,test_fold_in,test_eval}.csv
# and liang2018.json (settings and sizes). SEED (default 98765, the seed of
# the vae_cf code; our generator differs, so the users drawn differ too).
# IALS: the ials binary (default: cargo run --release --bin ials --).
set -euo pipefail
data="${DATA_DIR:-data}"
seed="${SEED:-98765}"
usage() { sed -n '5,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
[ $# -eq 1 ] || { usage >&2; exit 2; }
case "$1" in
  ml-20m) input="$data/ml-20m/ratings.csv" ;;
  msd) input="$data/train_triplets.txt" ;;
  -h|--help) usage; exit 0 ;;
  *) echo "unknown data set $1 (expected ml-20m or msd)" >&2; exit 2 ;;
esac
[ -f "$input" ] || { echo "$input not found: run datasets/download.sh ${1/msd/msd-taste} first" >&2; exit 1; }
if [ -n "${IALS:-}" ]; then
  ials=("$IALS")
else
  ials=(cargo run --quiet --release --bin ials --)
fi
"${ials[@]}" split --preset "$1" --input "$input" --output "$data/$1-liang2018" --seed "$seed"
