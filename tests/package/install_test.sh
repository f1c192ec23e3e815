#!/usr/bin/env bash
# Installs the .deb of deb_build_test.sh into a clean Debian bookworm root and runs the installed binary there.
# The root is mmdebstrap --variant=apt (plus init-system-helpers, which the maintainer scripts use when present),
# cached under $EPC_DEBROOT_CACHE (default /var/cache/epc-exporter) as debroot-<hash of how it was made>, and
# used through an overlay in a private mount namespace, so the cache stays clean. `apt-get install ./x.deb`
# resolves the Depends from Debian's archive (the .debs it fetches are cached beside the root): the binary
# running afterwards proves the Depends complete. Then: `epc_exporter --version`; `epc_bench --validate` (no SGX
# in the root: exit 77 with one line); a run on the fixture node
# scraped once (a known metric must be there); SIGTERM, exit status 0. No systemd in the root: the unit is
# installed, never started (unit_verify_test.sh checks it).
# usage: install_test.sh <deb dir> <fixture rootfs> <work dir>
set -euo pipefail
. "$(dirname "$0")/common.sh"
deb_root_test_args "$@"

need_root_and_mount_ns "chroot, mounts"
need_tools "scripts/install-deps.sh installs it" mmdebstrap chroot curl flock
need_deb "$DIR"
deb=$(cat "$DIR/deb-path")
version=$(dpkg-deb -f "$deb" Version)

# 1. the cached base root
. "$(dirname "$0")/debroot.sh"
debroot "$SUITE" init-system-helpers

# 2. install and run, in a private mount namespace: overlay on the base, fixture at its own path
rm -rf "$WORK"
mkdir -p "$WORK/upper" "$WORK/ovl" "$WORK/root"
cp "$deb" "$WORK/pkg.deb"
cat >"$WORK/inside.sh" <<'INSIDE'
set -euo pipefail
base=$1 archives=$2 work=$3 fixture=$4 helpers=$5
root=$work/root
. "$helpers"
overlay_install "$base" "$archives" "$work"
mount -t proc proc "$root/proc"
mkdir -p "$root$fixture"
mount --bind -o ro "$fixture" "$root$fixture"
echo "== installed"
chroot "$root" dpkg-query -W -f='${Status} ${Version}\n' epc-exporter
chroot "$root" dpkg-query -W -f='${Conffiles}\n' epc-exporter
ls -l "$root/usr/bin/epc_exporter" "$root/lib/systemd/system/epc-exporter.service" "$root/etc/default/epc-exporter" \
  "$root/usr/share/man/man1/epc_exporter.1.gz" "$root/usr/bin/epctop" "$root/usr/share/man/man1/epctop.1.gz"
[ ! -e "$root/etc/systemd/system/multi-user.target.wants/epc-exporter.service" ] || { echo "unit enabled on install"; exit 3; }
echo "== version"
chroot "$root" /usr/bin/epc_exporter --version
chroot "$root" /usr/bin/epctop --version
echo "== validate"
ls -l "$root/usr/bin/epc_bench" "$root/usr/share/man/man1/epc_bench.1.gz"
rc=0
chroot "$root" /usr/bin/epc_bench --validate --validate-out=/tmp 2>&1 || rc=$?
echo "validate exit $rc"
echo "== run"
exec chroot "$root" /usr/bin/epc_exporter --path.rootfs="$fixture" --collector.platform.cpuid-file="$fixture/cpuid.txt" \
  --no-collector.ebpf --web.listen-address=127.0.0.1:0
INSIDE
log="$(realpath "$WORK")/exporter.log"
: >"$log"
# unshare and chroot exec, they do not fork: $! ends up being the exporter itself.
unshare --mount --propagation private bash "$WORK/inside.sh" "$BASE" "$ARCHIVES" "$(realpath "$WORK")" "$FIXTURE" \
  "$(realpath "$(dirname "$0")/debroot.sh")" >"$log" 2>&1 &
PID=$!
trap 'kill "$PID" 2>/dev/null || true' EXIT
dump() { echo "--- $log" >&2; cat "$log" >&2; }

# Event-driven: poll for the port the exporter logs; apt may take a while on a cold archive cache.
deadline=$((SECONDS + 300))
PORT=
while [ -z "$PORT" ]; do
  PORT=$(sed -n 's/.*msg=listening address=[^ ]* port=\([0-9]*\).*/\1/p' "$log" | head -1)
  [ -n "$PORT" ] && break
  kill -0 "$PID" 2>/dev/null || { wait "$PID" || true; dump; fail "install or start-up failed (log: $log)"; }
  [ $SECONDS -lt $deadline ] || { dump; fail "no port within 300 s (log: $log)"; }
  sleep 0.2
done
sed -n '/^== installed/,/^== run/p' "$log"
grep -qF "version $version " "$log" || { dump; fail "--version does not say $version"; }
grep -qx "epctop $version" "$log" || { dump; fail "epctop is not installed or does not run with the package's Depends"; }
pass "installed with its Depends from $SUITE, --version says $version, epctop runs"
# No SGX in the root (no /dev/sgx_enclave): the one clear line and exit 77, nothing else.
sed -n '/^== validate/,/^== run/p' "$log" | grep -qx 'validate exit 77' || { dump; fail "epc_bench --validate: exit not 77"; }
[ "$(sed -n '/^== validate/,/^== run/p' "$log" | grep -c '^epc_bench --validate: no SGX on this node: ')" = 1 ] ||
  { dump; fail "epc_bench --validate: not the one 'no SGX on this node' line"; }
[ "$(sed -n '/^== validate/,/^validate exit/p' "$log" | grep -vc -e '^== validate' -e '^validate exit' -e '^-rwx' -e '^-rw-')" = 1 ] ||
  { dump; fail "epc_bench --validate printed more than one line without SGX"; }
pass "epc_bench installed; --validate without SGX: exit 77 with one line"

curl -sf --max-time 10 "http://127.0.0.1:$PORT/metrics" -o "$WORK/metrics.prom" || { dump; fail "scrape failed"; }
grep -q '^sgx_epc_capacity_bytes{' "$WORK/metrics.prom" || { dump; fail "no sgx_epc_capacity_bytes in the scrape"; }
check_exposition "$WORK/metrics.prom"
grep -q '^sgx_exporter_collector_success{collector="platform"} 1' "$WORK/metrics.prom" ||
  { dump; fail "platform collector did not succeed"; }
pass "scraped $(grep -c '^sgx_' "$WORK/metrics.prom") sgx_ samples on port $PORT"

kill -TERM "$PID"
rc=0
wait "$PID" || rc=$?
trap - EXIT
[ "$rc" = 0 ] || { dump; fail "exit status $rc after SIGTERM"; }
grep -q 'msg="shutting down" signal=15' "$log" || { dump; fail "no shutdown log line"; }
pass "SIGTERM: exit status 0"
