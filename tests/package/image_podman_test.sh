#!/usr/bin/env bash
# The container image of scripts/build-image.sh (built offline, or reused when nothing changed) run by podman the
# way the DaemonSet runs it: read-only root, every capability dropped but the ones deploy/README.md lists
# (CAP_SYS_RESOURCE only where this host has it to give), no_new_privs, a fixture node at /host with
# --path.rootfs=/host, the web config (TLS + bcrypt basic auth) mounted read-only, the eBPF collector fed by the
# fixture's replay snapshot. Checked: no shell, compiler, apt or dpkg in the image, and its size; an HTTPS scrape
# with basic auth passes `promtool check metrics` and carries the fixture's platform, cgroup and per-pod eBPF
# series, attributed to their pods; without credentials 401; the exporter dropped its capabilities; SIGTERM
# (`podman stop`) ends it with exit code 0 within a few seconds. Skips (77) only where podman cannot start a
# container here at all, or where the Debian mirror cannot be reached for a cold image cache.
# usage: image_podman_test.sh <source dir> <build dir for scripts/build-deb.sh> <fixture rootfs> <ebpf replay> <work>
set -euo pipefail
TOP=$1
BUILD=$2
FIXTURE=$(realpath "$3")
REPLAY=$(realpath "$4")
WORK=$(realpath -m "$5")
. "$(dirname "$0")/common.sh"

[ "$(id -u)" = 0 ] || skip "needs root (rootful podman, mmdebstrap; CI runs as root)"
need_tools "scripts/install-deps.sh installs it" podman mmdebstrap curl openssl python3 promtool
rm -rf "$WORK"
mkdir -p "$WORK/etc"

# ---- the image
if ! BUILD_DIR=$BUILD "$TOP/scripts/build-image.sh" >"$WORK/build-image.out" 2>"$WORK/build-image.log"; then
  tail -30 "$WORK/build-image.log" >&2
  grep -q 'mmdebstrap .* failed (no Debian mirror reachable?)' "$WORK/build-image.log" &&
    skip "mmdebstrap could not fetch the runtime packages (log: $WORK/build-image.log)"
  fail "scripts/build-image.sh failed (log: $WORK/build-image.log)"
fi
ref=$(tail -1 "$WORK/build-image.out")
version=$(sed -n 's/^project(epc_exporter VERSION \([0-9.]*\).*/\1/p' "$TOP/CMakeLists.txt")
[ "$ref" = "localhost/epc-exporter:$version" ] || fail "last line of stdout is '$ref', not localhost/epc-exporter:$version"
grep 'build-image: image ' "$WORK/build-image.log"
size=$(podman image inspect --format '{{.Size}}' "$ref")
pass "image $ref, $((size / 1024 / 1024)) MiB ($size bytes)"
labels=$(podman image inspect --format '{{json .Labels}}' "$ref")
for l in title version revision created; do
  grep -q "\"org.opencontainers.image.$l\":\"[^\"]" <<<"$labels" || fail "label org.opencontainers.image.$l missing: $labels"
done
grep -q "\"org.opencontainers.image.version\":\"$version\"" <<<"$labels" || fail "version label is not $version: $labels"
pass "OCI labels: $labels"

# ---- a runtime that can start a container here. Rootful podman's default RLIMIT_NOFILE/NPROC (1048576) may
# exceed the host's hard limits, and setrlimit then fails without CAP_SYS_RESOURCE; ask for 4096 (or the hard
# limit, if lower: the exporter needs a few dozen fds and threads). Seen here: nproc 65536 refused under a
# hard limit of 96363, 32768 accepted.
lim() { case $1 in unlimited) echo 4096 ;; *) echo $(( $1 < 4096 ? $1 : 4096 )) ;; esac; }
nofile=$(lim "$(ulimit -Hn)")
nproc=$(lim "$(ulimit -Hu)")
base_run=(--ulimit "nofile=$nofile:$nofile" --ulimit "nproc=$nproc:$nproc")
runtime=()
if ! podman run --rm --network=none "${base_run[@]}" "$ref" --version >"$WORK/probe.log" 2>&1; then
  # crun refuses hosts with hybrid cgroups ("cgroups in hybrid mode not supported"); runc does not.
  if podman run --rm --network=none --runtime runc "${base_run[@]}" "$ref" --version >"$WORK/probe-runc.log" 2>&1; then
    runtime=(--runtime runc)
    echo "info: default runtime failed ($(tail -1 "$WORK/probe.log")); using runc"
  else
    cat "$WORK/probe.log" "$WORK/probe-runc.log"
    skip "podman cannot start a container here with crun or runc (logs: $WORK/probe.log, $WORK/probe-runc.log)"
  fi
fi
grep -q "version $version " "$WORK/probe.log" "$WORK/probe-runc.log" 2>/dev/null || fail "--version in the image did not say $version"
pass "podman ${runtime[*]:-(default runtime)} with --ulimit nofile=$nofile nproc=$nproc"

# ---- what is (not) in the image
cid=$(podman create "${runtime[@]}" "$ref")
podman export "$cid" | tar -t | sed 's|^\./||' | sort >"$WORK/files.txt"
podman rm "$cid" >/dev/null
grep -qx 'usr/bin/epc_exporter' "$WORK/files.txt" || fail "no usr/bin/epc_exporter in the image"
grep -qx 'usr/bin/epctop' "$WORK/files.txt" || fail "no usr/bin/epctop in the image"
bad=$(grep -E '^(usr/)?(s?bin)/(sh|bash|dash|busybox|apt|apt-get|dpkg|gcc|cc|g\+\+|c\+\+|clang|ld|make|perl|python3)$' "$WORK/files.txt" || true)
[ -z "$bad" ] || fail "the runtime image carries: $bad"
grep -q '^usr/lib/gcc/\|^usr/include/' "$WORK/files.txt" && fail "compiler files or headers in the image"
pass "$(wc -l <"$WORK/files.txt") paths; no shell, compiler, headers, apt or dpkg"

# ---- web config: TLS and basic auth
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
  -keyout "$WORK/etc/server.key" -out "$WORK/etc/server.crt" 2>/dev/null
hash=$(python3 -W ignore -c "import crypt; print(crypt.crypt('s3cret', crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1024)))")
case $hash in \$2b\$10\$*) ;; *) fail "cannot make a bcrypt hash with python3 crypt: $hash" ;; esac
printf 'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  prometheus: %s\n' \
  "'$hash'" >"$WORK/etc/web.yml"
printf 's3cret\n' >"$WORK/etc/pw"  # epctop's password file, below
chmod 0600 "$WORK/etc/server.key" "$WORK/etc/web.yml" "$WORK/etc/pw"

# ---- the capability set of deploy/README.md
caps=(--cap-drop=ALL --cap-add=CAP_BPF --cap-add=CAP_PERFMON --cap-add=CAP_SYSLOG)
bnd=$(awk '/^CapBnd:/ {print $2}' /proc/self/status)
if (( 0x$bnd >> 24 & 1 )); then caps+=(--cap-add=CAP_SYS_RESOURCE)
else echo "info: this host's bounding set lacks CAP_SYS_RESOURCE: not added"; fi

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
name=epc-image-test-$$
cleanup() { podman rm -f -t 0 "$name" >/dev/null 2>&1 || true; }
trap cleanup EXIT
podman run -d --name "$name" "${runtime[@]}" "${base_run[@]}" --read-only "${caps[@]}" \
  --security-opt no-new-privileges -p "127.0.0.1:$port:9840" \
  -v "$FIXTURE:/host:ro" -v "$WORK/etc:/etc/epc-exporter:ro" -v "$REPLAY:/ebpf-replay.txt:ro" "$ref" \
  --path.rootfs=/host --web.config.file=/etc/epc-exporter/web.yml \
  --collector.platform.cpuid-file=/host/cpuid.txt --collector.ebpf.replay-file=/ebpf-replay.txt >/dev/null
dump() { podman logs "$name" 2>&1 | tail -40 >&2; }

# Event-driven: follow the container's log until the listening line (or the container ends).
podman logs -f "$name" >"$WORK/exporter.log" 2>&1 &
follower=$!
timeout 60 grep -m1 -q 'msg=listening address=' <(tail -n +1 -F "$WORK/exporter.log" 2>/dev/null) ||
  { kill "$follower" 2>/dev/null; dump; fail "exporter not listening within 60 s"; }
pass "started: $(grep -o 'msg=capabilities .*' "$WORK/exporter.log" | head -1)"
grep -q 'msg=capabilities effective=0 permitted=0 bounding=[^ ]* no_new_privs=true' "$WORK/exporter.log" ||
  { dump; fail "capabilities not dropped after start-up"; }
pid=$(podman inspect --format '{{.State.Pid}}' "$name")
for f in CapEff CapPrm CapAmb; do
  [ "$(awk -v f="$f:" '$1 == f {print $2}' "/proc/$pid/status")" = 0000000000000000 ] || fail "$f not empty after start-up"
done
[ "$(awk '/^NoNewPrivs:/ {print $2}' "/proc/$pid/status")" = 1 ] || fail "no_new_privs not set"
pass "capabilities dropped, no_new_privs, uid $(awk '/^Uid:/ {print $2}' "/proc/$pid/status")"

url=https://127.0.0.1:$port
code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$WORK/etc/server.crt" "$url/metrics" || true)
[ "$code" = 401 ] || { dump; fail "scrape without credentials: $code, not 401"; }
pass "without credentials: 401"
curl -sf --max-time 10 --cacert "$WORK/etc/server.crt" -u prometheus:s3cret "$url/metrics" -o "$WORK/metrics.prom" ||
  { dump; fail "HTTPS scrape with basic auth failed"; }
promtool check metrics <"$WORK/metrics.prom" || fail "promtool check metrics"
check_exposition "$WORK/metrics.prom"
pass "promtool check metrics: clean ($(grep -vc '^#' "$WORK/metrics.prom") series)"
# Series of the fixture node: EPC capacity from /host/sys, a container's misc sgx_epc usage from /host/sys/fs/cgroup
# named through /host/var/log/pods, and the replayed eBPF numbers of a pod; every collector succeeded.
for want in \
  'sgx_epc_capacity_bytes{numa_node="0"} 34359738368' \
  'sgx_cgroup_epc_usage_bytes{namespace="sgx-apps",pod="attest-web-7d9f8c6b5-xk2lp",container="web",cgroup=""} 268435456' \
  'sgx_exporter_collector_success{collector="platform"} 1' \
  'sgx_exporter_collector_success{collector="cgroup"} 1' \
  'sgx_exporter_collector_success{collector="ebpf"} 1'; do
  grep -qxF "$want" "$WORK/metrics.prom" || { dump; fail "missing from the scrape: $want"; }
done
grep -q '^sgx_epc_resident_bytes{namespace="sgx-apps",pod="enclave-db-0",container="db",cgroup=""} [1-9]' "$WORK/metrics.prom" ||
  fail "no per-pod eBPF series for sgx-apps/enclave-db-0"
pass "fixture series present: platform, cgroup, per-pod eBPF (replay), attributed to pods"

# epctop in the image as `kubectl exec -it <pod> -- epctop` runs it: beside the exporter, on its port, with the
# exporter's TLS and basic auth.
podman exec "$name" /usr/bin/epctop --once --tls.ca-file=/etc/epc-exporter/server.crt \
  --basic-auth.username=prometheus --basic-auth.password-file=/etc/epc-exporter/pw https://127.0.0.1:9840/metrics \
  >"$WORK/epctop.out" 2>&1 || { cat "$WORK/epctop.out" >&2; fail "epctop in the image failed"; }
grep -q '^sgx-apps/enclave-db-0/db ' "$WORK/epctop.out" ||
  { cat "$WORK/epctop.out" >&2; fail "epctop in the image shows no pod"; }
pass "epctop in the image: $(grep -c '^[a-z-]*/' "$WORK/epctop.out") workloads over HTTPS with basic auth"

# ---- SIGTERM
start=$SECONDS
podman stop -t 10 "$name" >/dev/null
status=$(podman wait "$name")
took=$((SECONDS - start))
kill "$follower" 2>/dev/null || true
grep -q 'msg="shutting down" signal=15' <(podman logs "$name" 2>&1) || { dump; fail "no shutdown log line"; }
[ "$status" = 0 ] || { dump; fail "exit code $status after SIGTERM"; }
[ "$took" -le 5 ] || fail "SIGTERM took ${took}s (podman stop's 10 s would have ended in SIGKILL)"
pass "SIGTERM: exit code 0 in ${took}s"
