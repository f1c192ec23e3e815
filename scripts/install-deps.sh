#!/usr/bin/env bash
# Installs the Debian 12 packages epc_exporter needs. Idempotent: only what is missing is installed, and
# `apt-get update` runs only when something is missing. Never starts, stops or reconfigures a service.
#
# Usage: install-deps.sh run    what building and running the exporter, epctop and epc_bench needs (scripts/run.sh)
#        install-deps.sh test   that, plus everything the test suites need (scripts/test.sh)
set -euo pipefail

set_=${1:-}
case $set_ in
  run | test) ;;
  *) echo "usage: install-deps.sh run|test" >&2; exit 2 ;;
esac

RUN_PACKAGES=(
  # build
  build-essential cmake pkg-config git
  # exporter
  prometheus-cpp-dev libboost-dev libspdlog-dev libfmt-dev libssl-dev libyaml-dev libcrypt-dev
  # epctop (terminal view, built with the exporter): ncurses screen, libcurl fetch
  libncurses-dev libcurl4-openssl-dev
  # epc_bench (enclave paging benchmark, part of the product): Google Benchmark
  libbenchmark-dev
  # BPF side: the probes are compiled and embedded at build time
  clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev linux-libc-dev
)
TEST_PACKAGES=(
  # unit tests, benchmarks; epctop's tests drive it under tmux
  googletest libgtest-dev libgmock-dev libclang-rt-14-dev tmux
  # the tests start their own Prometheus and node_exporter on free loopback ports (the packaged services are
  # left as they are)
  prometheus prometheus-node-exporter curl python3 wrk
  # rules, dashboards and manifest checks (tests/prometheus): YAML in python, the schema validator runs on node
  python3-yaml nodejs
  # kernel matrix: boot Debian kernels with SGX under QEMU
  qemu-system-x86 busybox-static cpio xz-utils kmod
  # SGX-emulating test kernels (tests/sgx_emu/build-kernel.sh): kernel build tools, pahole for BTF
  flex bison bc dwarves patch
  # Debian package (scripts/build-deb.sh) and its tests (tests/package): man page, lintian, a clean bookworm root,
  # systemd-analyze, systemd-nspawn (the unit under systemd as a container's PID 1), openssl (a test certificate)
  help2man lintian mmdebstrap systemd systemd-container openssl
  # container image (scripts/build-image.sh) and its test: podman, with runc beside crun (crun refuses hybrid
  # cgroup hosts)
  podman runc crun
)
PACKAGES=("${RUN_PACKAGES[@]}")
[ "$set_" = run ] || PACKAGES+=("${TEST_PACKAGES[@]}")

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: run as root (apt-get needs it)" >&2
  exit 1
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# Debian's nodejs ships without npm (package npm); NodeSource's nodejs includes it and conflicts with Debian's npm,
# so npm is asked for only where no npm command exists. The manifest validation test needs it.
if [ "$set_" = test ] && ! command -v npm >/dev/null 2>&1; then
  missing+=(npm)
fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages ($set_) present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
