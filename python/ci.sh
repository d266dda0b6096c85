#!/usr/bin/env bash
# Python package CI: a virtual environment (target/py-venv, or $PY_VENV), the
# package built and installed from this checkout exactly as users do
# (`pip install ./python`), the CLI binary for the round-trip tests, pytest.
# Exits non-zero on any failure. benfred/implicit is installed too (a binary
# wheel) so that the compatibility tests compare numbers with it; where no
# wheel can be had they skip with a note. IALS_CI_IMPLICIT=0 leaves it out. Set
# CARGO_TARGET_DIR_PY to build the wheel in that cargo target directory (e.g. a
# warm cache); the CLI is built in $CARGO_TARGET_DIR (default target/).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
venv=${PY_VENV:-$root/target/py-venv}
python=${PYTHON:-python3}

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
py="$venv/bin/python"
"$py" -m pip install --quiet --upgrade pip
"$py" -m pip install --quiet maturin numpy scipy pytest pandas
# pyspark for the Spark tests (python/tests/test_spark.py; they skip with a
# note without it or without Java). IALS_CI_SPARK=0 leaves it out.
if [ "${IALS_CI_SPARK:-1}" = 1 ]; then
    "$py" -m pip install --quiet pyspark pyarrow \
        || echo "note: pyspark could not be installed; the Spark tests skip"
fi
if [ "${IALS_CI_IMPLICIT:-1}" = 1 ]; then
    "$py" -m pip install --quiet --only-binary implicit implicit \
        || echo "note: benfred/implicit could not be installed; the comparisons with it skip"
fi

# The package, built from the checkout (release, abi3 wheel).
if [ -n "${CARGO_TARGET_DIR_PY:-}" ]; then
    CARGO_TARGET_DIR=$CARGO_TARGET_DIR_PY "$py" -m pip install --quiet --force-reinstall --no-deps ./python
else
    "$py" -m pip install --quiet --force-reinstall --no-deps ./python
fi

# The CLI for the model-directory round trips (a no-op when up to date).
cargo build --release --bin ials --quiet
target_dir=${CARGO_TARGET_DIR:-target}
case $target_dir in /*) ;; *) target_dir=$root/$target_dir ;; esac
export IALS_BIN="$target_dir/release/ials"

# Spark binds to loopback only.
export SPARK_LOCAL_IP=127.0.0.1

# Run from outside the source tree so the installed package is the one tested.
cd "$root/python/tests"
OPENBLAS_NUM_THREADS=1 "$py" -m pytest -q -p no:cacheprovider .
