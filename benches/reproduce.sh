#!/usr/bin/env bash
# Reproduce the figures of BENCHMARKS.md: side-by-side runs against
# benfred/implicit 0.7.3 on the seeded 14.66M-interaction synthetic set, the
# scaling runs, and iALS++ blocks against CG at large k. Prints one JSON
# object per run (ials: `ials bench`; implicit: `implicit_run.py` plus the
# peak RSS of the whole job from /usr/bin/time).
#
# usage: benches/reproduce.sh [side|scaling|blocks|all]   (default: all)
# needs: a Python venv with implicit (see ../shared/BENCHMARKS.md) in $VENV.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-$HOME/peers-venv}
PEERS=${PEERS:-../shared/peers}
CSV=${CSV:-$HOME/synth_20m.csv}
OUT=${OUT:-$HOME/ials-bench-out}
mkdir -p "$OUT"
what=${1:-all}

cargo build --release --bin ials
IALS=target/release/ials

if [ ! -f "$CSV" ]; then
    "$VENV/bin/python" "$PEERS/synth.py" 138000 27000 20000000 "$CSV" --seed 11
fi

implicit() { # cg(1|0) -> JSON line with peak RSS
    local cg=$1 dir="$OUT/implicit-$1"
    /usr/bin/time -f '%M' -o "$OUT/rss" "$VENV/bin/python" "$PEERS/implicit_run.py" \
        "$CSV" "$dir" 64 0.05 1 3 "$cg" 2 | tail -1 |
        python3 -c "import json,sys; d=json.load(sys.stdin); d['peak_rss_mib']=int(open('$OUT/rss').read().split()[-1])/1024; print(json.dumps(d))"
}

if [ "$what" = side ] || [ "$what" = all ]; then
    # Same objective: c = alpha * r (as-given), alpha0 = 1, lambda = 0.05,
    # uniform [0, 0.01) initialization as implicit; 3 iterations, 2 threads.
    for rep in 1 2; do
        implicit 1
        $IALS bench --csv "$CSV" --solver cg --cg-steps 3 --iterations 3 --threads 2 \
            --init-uniform 0.01 --eval-factors "$OUT/implicit-1" 2>/dev/null
        implicit 0
        $IALS bench --csv "$CSV" --solver cholesky --iterations 3 --threads 2 \
            --init-uniform 0.01 --eval-factors "$OUT/implicit-0" 2>/dev/null
    done
fi

if [ "$what" = scaling ] || [ "$what" = all ]; then
    # Built-in generator (same recipe as synth.py), 138k x 27k.
    for draws in 1300000 6500000 20000000; do
        $IALS bench --draws $draws --factors 64 --solver cg --iterations 3 2>/dev/null
    done
    for k in 32 64 128 256 512; do
        $IALS bench --draws 6500000 --factors $k --solver cg --iterations 2 2>/dev/null
    done
fi

if [ "$what" = blocks ] || [ "$what" = all ]; then
    # Loss against cumulative seconds, from the same initialization.
    $IALS bench --draws 6500000 --factors 256 --solver cg --iterations 8 2>/dev/null
    for b in 16 32 64 128; do
        $IALS bench --draws 6500000 --factors 256 --solver block --block-size $b --iterations 4 2>/dev/null
    done
    $IALS bench --draws 6500000 --factors 512 --solver cg --iterations 6 2>/dev/null
    for b in 64 128; do
        $IALS bench --draws 6500000 --factors 512 --solver block --block-size $b --iterations 3 2>/dev/null
    done
fi
