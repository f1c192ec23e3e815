#!/usr/bin/env bash
# Installs the Debian 12 packages epc_exporter needs to build, run and test. Idempotent: only what is
# missing is installed, and `apt-get update` runs only when something is missing.
set -euo pipefail

PACKAGES=(
  # build
  build-essential cmake pkg-config git
  # exporter
  prometheus-cpp-dev libboost-dev libspdlog-dev libfmt-dev libssl-dev libyaml-dev libcrypt-dev
  # epctop (terminal view): ncurses screen, libcurl fetch; its tests drive it under tmux
  libncurses-dev libcurl4-openssl-dev tmux
  # BPF side
  clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev linux-libc-dev
  # tests and benchmarks
  googletest libgtest-dev libgmock-dev libbenchmark-dev libclang-rt-14-dev
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
if ! command -v npm >/dev/null 2>&1; then
  missing+=(npm)
fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
# Debian's prometheus and node-exporter packages start system services on install; the tests start their
# own instances on random loopback ports, so stop the packaged ones to keep ports and CPU free.
for svc in prometheus prometheus-node-exporter; do
  if command -v systemctl >/dev/null 2>&1; then systemctl stop "$svc" >/dev/null 2>&1 || true; fi
done
