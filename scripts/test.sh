#!/usr/bin/env bash
# Installs what is missing, builds everything and runs every test suite: the main build's CTest suites (unit,
# end-to-end, BPF, kernel matrix, Prometheus rules and queries, bench smoke), then the hardened stage
# (AddressSanitizer + UBSan build of the unit and end-to-end suites, bounded fuzzing runs).
# Arguments go to the main ctest run (e.g. -R golden, -L unit).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$top/build}
"$top/scripts/install-deps.sh"
BUILD_DIR=$build "$top/scripts/build.sh" -DEPC_BUILD_TESTS=ON -DEPC_BUILD_BENCH=ON
(cd "$build" && ctest --output-on-failure --timeout 1800 "$@")
if [ $# -eq 0 ] && [ -x "$top/scripts/test-hardened.sh" ] && [ "${EPC_SKIP_HARDENED:-0}" != 1 ]; then
  "$top/scripts/test-hardened.sh"
fi
