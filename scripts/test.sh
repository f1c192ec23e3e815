#!/usr/bin/env bash
# Installs what is missing, builds everything and runs every test suite through CTest.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$top/build}
"$top/scripts/install-deps.sh"
BUILD_DIR=$build "$top/scripts/build.sh" -DEPC_BUILD_TESTS=ON -DEPC_BUILD_BENCH=ON
cd "$build"
ctest --output-on-failure --timeout 1800 "$@"
