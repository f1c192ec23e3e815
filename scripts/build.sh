#!/usr/bin/env bash
# Configures and builds epc_exporter into build/ (or $BUILD_DIR). Extra arguments go to cmake's configure step.
# TARGETS="a b" builds only those targets (and what they need); default: everything the configuration has.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$top/build}
cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" "$@"
targets=()
for t in ${TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$build" -j"$(nproc)" "${targets[@]}"
