#!/usr/bin/env bash
# Installs what is missing, builds, and runs the exporter in the foreground on this node.
# Arguments are passed to epc_exporter, e.g. scripts/run.sh --web.listen-address=:9840
# Builds the product's programs only: epc_exporter, epctop and epc_bench. A new build directory is configured
# without the test suites (their packages are scripts/test.sh's); one that scripts/test.sh configured keeps its
# tests, so the two scripts can share build/ without removing each other's targets.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$top/build}
"$top/scripts/install-deps.sh" run
configure=(-DEPC_BUILD_BENCH=ON)
[ -f "$build/CMakeCache.txt" ] || configure+=(-DEPC_BUILD_TESTS=OFF)
BUILD_DIR=$build TARGETS="epc_exporter epctop epc_bench" "$top/scripts/build.sh" "${configure[@]}"
exec "$build/exporter/epc_exporter" "$@"
