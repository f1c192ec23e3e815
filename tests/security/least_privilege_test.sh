#!/usr/bin/env bash
# Least privilege and read-only root file system, against the real binary started as root with every collector
# enabled: after start-up no thread holds any capability (effective, permitted, bounding, ambient), no_new_privs
# is set, and scrapes work on a root file system remounted read-only (private mount namespace).
# usage: least_privilege_test.sh <epc_exporter> <fixture rootfs>
set -euo pipefail
EXPORTER=$1
ROOTFS=$2
WORK=$(mktemp -d)
trap 'stop_exporter; rm -rf "$WORK"' EXIT
. "$(dirname "$0")/common.sh"
if [ "$(id -u)" != 0 ] || ! grep -q '^CapEff:.*[1-9a-f]' /proc/self/status; then
  echo "SKIP: needs root with capabilities (CI runs as root)"; exit 77
fi
if ! unshare --mount --propagation private true 2>/dev/null; then
  echo "SKIP: cannot create a mount namespace here"; exit 77
fi

# 1. capabilities of every thread after start-up
start_exporter "$WORK/log" --path.rootfs="$ROOTFS"
curl -sf -o "$WORK/first.prom" "http://127.0.0.1:$PORT/metrics" || fail "scrape failed"
check_exposition "$WORK/first.prom"
threads=0
for st in /proc/"$PID"/task/*/status; do
  threads=$((threads + 1))
  for f in CapEff CapPrm CapBnd CapAmb CapInh; do
    v=$(awk -v f="$f:" '$1 == f {print $2}' "$st")
    [ "$v" = 0000000000000000 ] || fail "$st: $f=$v"
  done
  [ "$(awk '$1 == "NoNewPrivs:" {print $2}' "$st")" = 1 ] || fail "$st: NoNewPrivs not set"
done
grep -q 'msg=capabilities effective=0 permitted=0 bounding=0 no_new_privs=true' "$WORK/log" || fail "no capability log line"
pass "all $threads threads: no capabilities, no_new_privs=1"
stop_exporter

# 2. read-only root file system (the log goes to a file opened outside the namespace)
unshare --mount --propagation private bash -c '
  mount -o remount,bind,ro / || exit 90
  touch /.epc-rofs-probe 2>/dev/null && exit 91
  exec "$0" --web.listen-address=127.0.0.1:0 --path.rootfs="$1"' "$EXPORTER" "$ROOTFS" >"$WORK/rolog" 2>&1 &
PID=$!
wait_listening "$WORK/rolog" "$PID"
for i in 1 2 3; do
  curl -sf "http://127.0.0.1:$PORT/metrics" -o "$WORK/ro.prom" || fail "scrape $i failed on a read-only root"
  check_exposition "$WORK/ro.prom" >/dev/null
done
grep -q '^sgx_exporter_collector_success' "$WORK/ro.prom" || fail "no collector metrics on a read-only root"
# Read-only must be real inside: the exporter's mount namespace has / read-only.
grep -E '^[0-9]+ [0-9]+ [^ ]+ / / ro[, ]' /proc/"$PID"/mountinfo >/dev/null || fail "root was not read-only for the exporter"
pass "3 scrapes served with / mounted read-only"
echo "least_privilege_test: all checks passed"
