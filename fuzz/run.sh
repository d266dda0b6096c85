#!/usr/bin/env bash
# Build the libFuzzer targets on stable Rust and run them.
#   fuzz/run.sh build                 build every target
#   fuzz/run.sh run TARGET [ARGS...]  fuzz TARGET from fuzz/corpus/TARGET
#                                     (libFuzzer ARGS, e.g. -runs=10000000)
#   fuzz/run.sh smoke [SECONDS]       a few seconds per target (default 5)
# New inputs found go to fuzz/work/TARGET (not committed); crashes to
# fuzz/artifacts/TARGET/. Only stable -C flags are used (SanitizerCoverage
# through -Cpasses=sancov-module), so no nightly toolchain is needed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
triple="$(rustc -vV | sed -n 's/^host: //p')"
export CARGO_TARGET_DIR="$here/target"
flags=(
  -Cpasses=sancov-module
  -Cllvm-args=-sanitizer-coverage-level=4
  -Cllvm-args=-sanitizer-coverage-inline-8bit-counters
  -Cllvm-args=-sanitizer-coverage-pc-table
  -Cllvm-args=-sanitizer-coverage-trace-compares
  --cfg fuzzing
)
build() {
  RUSTFLAGS="${flags[*]}" cargo build --release --manifest-path "$here/Cargo.toml" \
    --target "$triple" --bins
}
bin() { echo "$CARGO_TARGET_DIR/$triple/release/$1"; }
run() {
  local t="$1"; shift
  mkdir -p "$here/work/$t" "$here/artifacts/$t"
  local max=1024; [ "$t" = model ] && max=4096
  "$(bin "$t")" -artifact_prefix="$here/artifacts/$t/" -max_len=$max -rss_limit_mb=2048 \
    -timeout=10 "$@" "$here/work/$t" "$here/corpus/$t"
}
case "${1:-}" in
  build) build ;;
  run) shift; run "$@" ;;
  smoke)
    build
    for t in csv features idlist model; do run "$t" -max_total_time="${2:-5}"; done ;;
  *) sed -n '2,9p' "$0"; exit 2 ;;
esac
