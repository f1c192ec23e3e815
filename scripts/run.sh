#!/usr/bin/env bash
# Installs what is missing, builds, and runs the exporter in the foreground on this node.
# Arguments are passed to epc_exporter, e.g. scripts/run.sh --web.listen-address=:9840
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/install-deps.sh" run
EPC_BUILD_TESTS=OFF "$top/scripts/build.sh" -DEPC_BUILD_TESTS=OFF -DEPC_BUILD_BENCH=OFF
exec "${BUILD_DIR:-$top/build}/exporter/epc_exporter" "$@"
