#!/usr/bin/env bash
# The packaged unit under a real systemd: a clean bookworm root with systemd (cached, debroot.sh), the .deb
# installed with apt-get, booted with systemd-nspawn (systemd as the container's PID 1; the host needs none).
# The unit is enabled and given, through drop-ins, the fixture node as --path.rootfs, TLS with a root-only key
# passed by LoadCredential= (the path deploy/README.md documents) and its output in a file. Checked: the
# exporter runs as a non-root transient user, has dropped its capabilities (the unit's bounding set still shows),
# no_new_privs, seccomp on; an HTTPS scrape serves a known metric under MemoryDenyWriteExecute=yes, with no
# executable mapping of anonymous or memfd origin; `systemctl stop` ends it with status 0. nspawn runs with the unit's four
# capabilities added (CAP_SYS_RESOURCE only where the host has it) and bpf, perf_event_open allowed.
# usage: systemd_test.sh <deb dir> <fixture rootfs> <work dir>
set -euo pipefail
. "$(dirname "$0")/common.sh"
deb_root_test_args "$@"

need_root_and_mount_ns "mounts, systemd-nspawn"
need_tools "scripts/install-deps.sh installs it" mmdebstrap systemd-nspawn chroot curl flock openssl python3 nsenter
need_deb "$DIR"
deb=$(cat "$DIR/deb-path")

. "$(dirname "$0")/debroot.sh"
debroot "$SUITE" systemd,systemd-sysv,dbus

rm -rf "$WORK"
mkdir -p "$WORK/upper" "$WORK/ovl" "$WORK/root" "$WORK/out" "$WORK/etc"
cp "$deb" "$WORK/pkg.deb"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
  -keyout "$WORK/etc/server.key" -out "$WORK/etc/server.crt" 2>/dev/null
printf 'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n' >"$WORK/etc/web.yml"
chmod 0600 "$WORK/etc/server.key" "$WORK/etc/web.yml"
caps=CAP_BPF,CAP_PERFMON,CAP_SYSLOG
bnd=$(awk '/^CapBnd:/ {print $2}' /proc/self/status)
(( 0x$bnd >> 24 & 1 )) && caps=$caps,CAP_SYS_RESOURCE

# The fixture is bound at /srv/epc-fixture: at its own path it may lie under /tmp, which the unit's PrivateTmp=
# hides from the service.
cat >"$WORK/inside.sh" <<'INSIDE'
set -euo pipefail
base=$1 archives=$2 work=$3 fixture=$4 helpers=$5 port=$6 caps=$7
root=$work/root
. "$helpers"
overlay_install "$base" "$archives" "$work"
install -d -m 0700 "$root/etc/epc-exporter"
cp -p "$work/etc/"* "$root/etc/epc-exporter/"
echo "ARGS=\"--web.listen-address=127.0.0.1:$port --web.config.file=/run/credentials/epc-exporter.service/web.yml --path.rootfs=/srv/epc-fixture --collector.platform.cpuid-file=/srv/epc-fixture/cpuid.txt --no-collector.ebpf\"" \
  >"$root/etc/default/epc-exporter"
mkdir -p "$root/etc/systemd/system/epc-exporter.service.d"
cat >"$root/etc/systemd/system/epc-exporter.service.d/test.conf" <<CONF
[Service]
LoadCredential=web.yml:/etc/epc-exporter/web.yml
LoadCredential=server.crt:/etc/epc-exporter/server.crt
LoadCredential=server.key:/etc/epc-exporter/server.key
StandardOutput=append:/run/epc-test/exporter.log
StandardError=inherit
CONF
chroot "$root" systemctl enable epc-exporter.service
echo "== boot"
exec systemd-nspawn -q -D "$root" -b --register=no --keep-unit --capability="$caps" \
  --system-call-filter="bpf perf_event_open" --bind="$work/out:/run/epc-test" --bind-ro="$fixture:/srv/epc-fixture"
INSIDE
boot_log="$WORK/nspawn.log"
log="$WORK/out/exporter.log"
unshare --mount --propagation private bash "$WORK/inside.sh" "$BASE" "$ARCHIVES" "$WORK" "$FIXTURE" \
  "$(realpath "$(dirname "$0")/debroot.sh")" "$port" "$caps" >"$boot_log" 2>&1 &
NSPAWN=$!
stop_container() {
  kill -TERM "$NSPAWN" 2>/dev/null || return 0
  local deadline=$((SECONDS + 60))
  while kill -0 "$NSPAWN" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
  kill -KILL "$NSPAWN" 2>/dev/null || true
  wait "$NSPAWN" 2>/dev/null || true
}
trap stop_container EXIT
dump() { for f in "$boot_log" "$log"; do echo "--- $f" >&2; [ -f "$f" ] && tail -60 "$f" >&2; done; }

# Event-driven: poll for the exporter's listening line; apt and the boot take a while on a cold cache.
deadline=$((SECONDS + 300))
until [ -f "$log" ] && grep -q 'msg=listening address=' "$log"; do
  if ! kill -0 "$NSPAWN" 2>/dev/null; then
    wait "$NSPAWN" || true
    if grep -q '^== boot' "$boot_log"; then dump; skip "systemd-nspawn could not boot a container here (log: $boot_log)"; fi
    dump; fail "installing the package failed (log: $boot_log)"
  fi
  [ $SECONDS -lt $deadline ] || { dump; fail "exporter not listening within 300 s (logs: $boot_log, $log)"; }
  sleep 0.2
done
pass "booted, epc-exporter.service started (log: $log)"

pid=$(pgrep -f "^/usr/bin/epc_exporter --web.listen-address=127.0.0.1:$port " | head -1)
[ -n "$pid" ] || { dump; fail "no exporter process"; }
st=/proc/$pid/status
uid=$(awk '/^Uid:/ {print $2}' "$st")
[ "$uid" != 0 ] || fail "runs as uid 0"
for f in CapEff CapPrm CapAmb; do
  [ "$(awk -v f="$f:" '$1 == f {print $2}' "$st")" = 0000000000000000 ] || fail "$f not empty after start-up"
done
[ "$(awk '/^NoNewPrivs:/ {print $2}' "$st")" = 1 ] || fail "no_new_privs not set"
[ "$(awk '/^Seccomp:/ {print $2}' "$st")" = 2 ] || fail "no seccomp filter"
grep -q 'msg=capabilities effective=0 permitted=0 bounding=[^ ]*cap_bpf no_new_privs=true' "$log" ||
  { dump; fail "capability line missing or unexpected"; }
pass "uid $uid, capabilities dropped ($(grep -o 'bounding=[^ ]*' "$log" | head -1) left in the bounding set), no_new_privs, seccomp"

curl -sf --max-time 10 --cacert "$WORK/etc/server.crt" "https://127.0.0.1:$port/metrics" -o "$WORK/metrics.prom" ||
  { dump; fail "HTTPS scrape failed"; }
grep -q '^sgx_epc_capacity_bytes{' "$WORK/metrics.prom" || { dump; fail "no sgx_epc_capacity_bytes in the scrape"; }
check_exposition "$WORK/metrics.prom"
bad=$(awk '$2 ~ /x/ && (NF < 6 || $6 ~ /^\/memfd:/ || $NF == "(deleted)")' "/proc/$pid/maps")
[ -z "$bad" ] || fail "executable mapping of anonymous or memfd origin: $bad"
pass "HTTPS scrape under MemoryDenyWriteExecute=yes, key by LoadCredential="

pid1=$(pgrep -P "$NSPAWN" | head -1)
[ -n "$pid1" ] || pid1=$(pgrep -P "$(pgrep -P "$NSPAWN" | head -1)" | head -1)
nsenter -t "$pid1" -a systemctl stop epc-exporter.service
status=$(nsenter -t "$pid1" -a systemctl show -p ExecMainStatus --value epc-exporter.service)
grep -q 'msg="shutting down" signal=15' "$log" || { dump; fail "no shutdown log line"; }
[ "$status" = 0 ] || { dump; fail "exit status $status after systemctl stop"; }
pass "systemctl stop: exit status 0"
