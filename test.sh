#!/usr/bin/env bash
# The whole test suite: the Rust crate (unit, integration, README doctests),
# then the Python package (built into a virtual environment, pytest).
set -euo pipefail
cd "$(dirname "$0")"
cargo test --release
if [ -x python/ci.sh ]; then
  python/ci.sh
fi
