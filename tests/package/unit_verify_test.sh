#!/usr/bin/env bash
# systemd-analyze verify on deploy/systemd/epc-exporter.service, offline: against a staged root holding the
# host's systemd units, the unit and the real binary at /usr/bin/epc_exporter (the man page is checked on the
# package, by lintian_test.sh). Any message from verify fails the test. Then the hardening the package promises
# (deploy/README.md) is asserted line by line, and systemd-analyze security's exposure must stay at or below 3.0.
# usage: unit_verify_test.sh <epc_exporter> <unit file> <work dir>
set -euo pipefail
EXPORTER=$1
UNIT=$2
WORK=$3
. "$(dirname "$0")/common.sh"
need_tools "package systemd" systemd-analyze
[ -d /lib/systemd/system ] || { echo "SKIP: no /lib/systemd/system to stage the targets from"; exit 77; }

rm -rf "$WORK"
mkdir -p "$WORK/root/usr/bin" "$WORK/root/lib/systemd/system" "$WORK/root/etc/default"
cp -a /lib/systemd/system/. "$WORK/root/lib/systemd/system/"
install -m 0644 "$UNIT" "$WORK/root/lib/systemd/system/epc-exporter.service"
install -m 0755 "$EXPORTER" "$WORK/root/usr/bin/epc_exporter"
out=$(systemd-analyze verify --man=no --root="$WORK/root" epc-exporter.service 2>&1) || fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify said: $out"
pass "systemd-analyze verify: no complaints"

want=(
  "CapabilityBoundingSet=CAP_BPF CAP_PERFMON CAP_SYS_RESOURCE CAP_SYSLOG"
  "AmbientCapabilities=CAP_BPF CAP_PERFMON CAP_SYS_RESOURCE CAP_SYSLOG"
  "NoNewPrivileges=yes" "ProtectSystem=strict" "ProtectHome=yes" "PrivateTmp=yes" "ProtectKernelModules=yes"
  "ProtectControlGroups=yes" "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX"
  "SystemCallFilter=@system-service bpf perf_event_open" "SystemCallArchitectures=native" "LockPersonality=yes"
  "MemoryDenyWriteExecute=yes" "Restart=on-failure" "DynamicUser=yes"
  "EnvironmentFile=-/etc/default/epc-exporter" 'ExecStart=/usr/bin/epc_exporter $ARGS'
)
for line in "${want[@]}"; do
  grep -qxF "$line" "$UNIT" || fail "unit lacks the line '$line'"
done
# Each of these takes away something the exporter needs (the unit's comments say what).
for bad in ProtectKernelTunables ProtectKernelLogs PrivateDevices ProtectProc CAP_SYS_ADMIN; do
  ! grep -E "^[^#]*$bad" "$UNIT" >/dev/null || fail "unit sets $bad"
done
pass "${#want[@]} hardening lines present, none of the settings that break the exporter"

sec=$(systemd-analyze security --offline=yes --root="$WORK/root" epc-exporter.service 2>&1 | tail -1) || true
echo "$sec"
score=$(echo "$sec" | sed -n 's/.*epc-exporter.service: \([0-9.]*\) .*/\1/p')
[ -n "$score" ] || { echo "note: systemd-analyze security gave no exposure level (systemd < 250?)"; exit 0; }
awk -v s="$score" 'BEGIN { exit !(s <= 3.0) }' || fail "exposure $score above 3.0"
pass "exposure $score"
