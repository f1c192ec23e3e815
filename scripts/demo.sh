#!/usr/bin/env bash
# What the exporter shows, in one command and without SGX: the exporter on the committed fixture node
# tests/fixtures/aks-dcsv3 (an AKS DCsv3-like node: 2 x 32 GiB of EPC, kubelet pods) with that node's CPUID dump and
# a replay of its probes' numbers whose counters advance every second, and epctop against it. Every metric family
# is served (per-enclave bytes included); THE NUMBERS ARE MADE UP (fixture and replay), as epctop's status line and
# the exporter's log say. Builds the exporter and epctop first, as scripts/run.sh does (installing what is missing
# when run as root). q quits epctop; the exporter and the replay writer stop with it.
#
# usage: scripts/demo.sh [--batch N] [--exporter BIN --epctop BIN]
#   --batch N     N epctop text snapshots, 1 s apart, to stdout (no terminal needed; tests/scripts/demo_test.sh)
#   --exporter, --epctop   use these binaries instead of building (BUILD_DIR as scripts/run.sh: default build/)
# The exporter listens on a free port of 127.0.0.1, printed at start for curl or a browser.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$top/build}
batch=0
exporter=""
epctop=""
while [ $# -gt 0 ]; do
  case $1 in
    --batch) batch=${2:?--batch needs a count}; shift 2 ;;
    --exporter) exporter=${2:?--exporter needs a path}; shift 2 ;;
    --epctop) epctop=${2:?--epctop needs a path}; shift 2 ;;
    *) echo "usage: $0 [--batch N] [--exporter BIN --epctop BIN]" >&2; exit 2 ;;
  esac
done
case $batch in '' | *[!0-9]*) echo "demo: --batch takes a number of snapshots" >&2; exit 2 ;; esac

if [ -z "$exporter" ] || [ -z "$epctop" ]; then
  if [ "$(id -u)" = 0 ]; then
    "$top/scripts/install-deps.sh" run
  else
    echo "demo: not root: no package is installed (scripts/install-deps.sh run lists what the build needs)" >&2
  fi
  configure=(-DEPC_BUILD_BENCH=ON)
  [ -f "$build/CMakeCache.txt" ] || configure+=(-DEPC_BUILD_TESTS=OFF)
  echo "demo: building epc_exporter and epctop in $build" >&2
  BUILD_DIR=$build TARGETS="epc_exporter epctop" "$top/scripts/build.sh" "${configure[@]}" >&2
  exporter=$build/exporter/epc_exporter
  epctop=$build/epctop/epctop
fi

fixture=$top/tests/fixtures/aks-dcsv3
recording=$top/tests/fixtures/ebpf/aks-dcsv3.txt
work=$(mktemp -d "${TMPDIR:-/tmp}/epc-demo.XXXXXX")
replay=$work/replay.txt
log=$work/exporter.log
exporter_pid=""
writer_pid=""
epctop_pid=""
stop() {
  [ -z "$epctop_pid" ] || kill "$epctop_pid" 2>/dev/null || true
  [ -z "$writer_pid" ] || kill "$writer_pid" 2>/dev/null || true
  [ -z "$exporter_pid" ] || { kill "$exporter_pid" 2>/dev/null || true; wait "$exporter_pid" 2>/dev/null || true; }
  rm -rf "$work"
}
trap stop EXIT
trap 'exit 130' INT TERM

# The replay's counters advance at these rates per second (the cgroup of each workload by a part of its path);
# gauges keep the recording's values. Made up, like the recording: a database that pages hard, a web front that
# pages a little, a job whose allocations fail now and then, ksgxd reclaiming.
advance='
BEGIN {
  R["pod3f1c2a9e,evicted_pages"] = 120; R["pod3f1c2a9e,loaded_back_pages"] = 95
  R["pod3f1c2a9e,page_faults"] = 310;   R["pod3f1c2a9e,page_fault_ns"] = 450000000
  R["pod3f1c2a9e,fault_retries"] = 3
  R["podb7e4d2c1,evicted_pages"] = 40;  R["podb7e4d2c1,loaded_back_pages"] = 38
  R["podb7e4d2c1,page_faults"] = 95;    R["podb7e4d2c1,page_fault_ns"] = 30000000
  R["podc0ffee00,page_faults"] = 6;     R["podc0ffee00,page_fault_ns"] = 100000
  R["podc0ffee00,alloc_failures"] = 0.1
  R["aesmd.service,page_faults"] = 1
  R["node,reclaim_ksgxd"] = 4;          R["node,reclaim_direct"] = 0.5
  R["program,runs"] = 500;              R["program,run_ns"] = 24000
  split("pod3f1c2a9e podb7e4d2c1 podc0ffee00 aesmd.service", workloads, " ")
}
$1 == "workload" || $1 == "node" || $1 == "program" {
  key = $1
  if ($1 == "workload") for (w in workloads) if (index($2, workloads[w])) key = workloads[w]
  for (i = 2; i <= NF; i++) {
    eq = index($i, "=")
    if (!eq) continue
    k = key "," substr($i, 1, eq - 1)
    if (k in R) $i = substr($i, 1, eq) sprintf("%.0f", substr($i, eq + 1) + int(R[k] * t))
  }
}
{ print }'
write_replay() {  # atomically: the exporter re-reads the file on every scrape
  awk -v t="$1" "$advance" "$recording" >"$replay.tmp" && mv -f "$replay.tmp" "$replay"
}
write_replay 0
start=$(date +%s)
(
  while :; do
    sleep 1
    write_replay $(( $(date +%s) - start ))
  done
) &
writer_pid=$!

"$exporter" --web.listen-address=127.0.0.1:0 --path.rootfs="$fixture" \
  --collector.platform.cpuid-file="$fixture/cpuid.txt" --collector.ebpf.replay-file="$replay" \
  --collector.ebpf.per-enclave >"$log" 2>&1 &
exporter_pid=$!
port=""
for _ in $(seq 200); do  # the port it bound is in its "listening" line; it starts in milliseconds
  port=$(sed -n 's/.*msg=listening .* port=\([0-9]*\).*/\1/p' "$log" | head -1)
  [ -n "$port" ] && break
  kill -0 "$exporter_pid" 2>/dev/null || { cat "$log" >&2; echo "demo: the exporter did not start" >&2; exit 1; }
  sleep 0.05
done
[ -n "$port" ] || { cat "$log" >&2; echo "demo: the exporter did not say which port it listens on" >&2; exit 1; }

note="DEMO: made-up numbers (fixture node, replayed probes)"
cat <<BANNER
demo: exporter http://127.0.0.1:$port/metrics on the fixture node tests/fixtures/aks-dcsv3, eBPF numbers replayed
demo: from tests/fixtures/ebpf/aks-dcsv3.txt with counters advancing every second: MADE-UP NUMBERS, no SGX used
demo: exporter log $log
BANNER
if [ "$batch" -gt 0 ]; then
  # In the background, so that a signal to this script ends the demo at once (the live view below needs the
  # terminal, so it runs in the foreground).
  "$epctop" --batch -n "$batch" -d 1 --note "$note" "127.0.0.1:$port" &
  epctop_pid=$!
  wait "$epctop_pid"
else
  echo "demo: epctop (q quits, h for help)"
  "$epctop" -d 1 --note "$note" "127.0.0.1:$port"
fi
