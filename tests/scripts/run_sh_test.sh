#!/usr/bin/env bash
# scripts/run.sh on a fresh Debian 12 root where Debian's node_exporter is installed and its service runs: it must
# install only what building and running the exporter (and epctop, epc_bench) needs, and never start, stop or
# reconfigure a service. It builds the product's programs, epc_bench included, and leaves a build directory that
# scripts/test.sh configured with its tests as it found it.
# apt-get, dpkg-query, systemctl, id and cmake are shims on PATH that record what they were asked; the "build"
# makes an exporter that prints its arguments. scripts/install-deps.sh test is checked the same way (it installs
# the test suite's packages, and touches no service either).
# Usage: run_sh_test.sh REPO WORKDIR
set -euo pipefail
repo=${1:?usage: run_sh_test.sh REPO WORKDIR}
work=${2:?usage: run_sh_test.sh REPO WORKDIR}
rm -rf "$work"
mkdir -p "$work/bin" "$work/log"
fail() { echo "FAIL: $*"; for f in "$work"/log/*; do echo "--- $f"; cat "$f"; done; exit 1; }

# The node: nothing of ours installed; prometheus-node-exporter installed, its service running.
cat > "$work/bin/dpkg-query" <<SHIM
#!/bin/sh
pkg=\$(eval echo "\\\${\$#}")
[ "\$pkg" = prometheus-node-exporter ] && { echo "install ok installed"; exit 0; }
echo "dpkg-query: no packages found matching \$pkg" >&2; exit 1
SHIM
cat > "$work/bin/apt-get" <<SHIM
#!/bin/sh
echo "\$*" >> "$work/log/apt-get"
SHIM
cat > "$work/bin/systemctl" <<SHIM
#!/bin/sh
echo "\$*" >> "$work/log/systemctl"
SHIM
cat > "$work/bin/id" <<'SHIM'
#!/bin/sh
echo 0
SHIM
# cmake: configure is recorded; a build makes BUILD_DIR/exporter/epc_exporter, which prints its arguments.
cat > "$work/bin/cmake" <<SHIM
#!/bin/sh
echo "\$*" >> "$work/log/cmake"
if [ "\$1" = --build ]; then
  mkdir -p "\$2/exporter"
  printf '#!/bin/sh\necho "exporter ran: \$*"\n' > "\$2/exporter/epc_exporter"
  chmod +x "\$2/exporter/epc_exporter"
fi
SHIM
chmod +x "$work/bin/"*
# npm is looked up with `command -v`: hide the host's.
export PATH="$work/bin:/usr/bin:/bin"
[ -x /usr/bin/npm ] && npm_on_host=1 || npm_on_host=0

out=$(BUILD_DIR="$work/build" "$repo/scripts/run.sh" --web.listen-address=127.0.0.1:1 2>&1) || fail "run.sh exited $?: $out"
grep -q '^exporter ran: --web.listen-address=127.0.0.1:1$' <<<"$out" || fail "run.sh did not start the exporter: $out"

# What it installed: the run set, nothing of the test suite's.
[ -f "$work/log/apt-get" ] || fail "run.sh installed nothing on a fresh root"
installed=$(sed -n 's/^install .*--no-install-recommends //p' "$work/log/apt-get" | tr ' ' '\n' | sort)
[ -n "$installed" ] || fail "no apt-get install line"
for test_only in qemu-system-x86 podman runc crun nodejs npm lintian mmdebstrap prometheus prometheus-node-exporter \
    googletest libgtest-dev libgmock-dev wrk tmux flex bison dwarves busybox-static help2man systemd-container; do
  grep -qx "$test_only" <<<"$installed" && fail "run.sh installed the test-only package $test_only"
done
for needed in cmake clang libbpf-dev bpftool prometheus-cpp-dev libboost-dev libspdlog-dev libssl-dev libbenchmark-dev; do
  grep -qx "$needed" <<<"$installed" || fail "run.sh did not install $needed, which the build needs"
done
# No service started, stopped, restarted, enabled, disabled or masked.
[ ! -s "$work/log/systemctl" ] || fail "run.sh called systemctl: $(cat "$work/log/systemctl")"
echo "ok: run.sh installed $(wc -l <<<"$installed") packages (none of the test suite's), called no systemctl, ran the exporter"

# What it built: a fresh directory configured without the test suites and with the benchmark (part of the product),
# and only the product's programs built.
configure=$(grep -- "-S $repo -B $work/build" "$work/log/cmake") || fail "run.sh did not configure $work/build"
grep -q -- "-DEPC_BUILD_BENCH=ON" <<<"$configure" || fail "run.sh configured without epc_bench: $configure"
grep -q -- "-DEPC_BUILD_TESTS=OFF" <<<"$configure" || fail "run.sh configured a fresh directory with the tests: $configure"
build=$(grep -- "^--build $work/build" "$work/log/cmake") || fail "run.sh built nothing"
for t in epc_exporter epctop epc_bench; do
  grep -q -- "--target $t" <<<"$build" || fail "run.sh did not build $t: $build"
done
[ "$(grep -o -- "--target" <<<"$build" | wc -l)" = 3 ] || fail "run.sh built more than the product: $build"
# A directory scripts/test.sh configured (a cache exists) keeps its tests: run.sh does not turn them off.
rm -f "$work/log/cmake"
mkdir -p "$work/tested" && echo "EPC_BUILD_TESTS:BOOL=ON" > "$work/tested/CMakeCache.txt"
BUILD_DIR="$work/tested" "$repo/scripts/run.sh" > /dev/null 2>&1 || fail "run.sh on a configured directory failed"
grep -q -- "-DEPC_BUILD_TESTS=OFF" "$work/log/cmake" && fail "run.sh turned the tests of a test.sh build directory off"
echo "ok: run.sh configures epc_bench in, builds epc_exporter, epctop and epc_bench only, and keeps test.sh's targets"

# install-deps.sh test: the test suite's packages too, still no service touched.
rm -f "$work/log/apt-get"
"$repo/scripts/install-deps.sh" test > "$work/log/install-test" 2>&1 || fail "install-deps.sh test exited $?"
installed=$(sed -n 's/^install .*--no-install-recommends //p' "$work/log/apt-get" | tr ' ' '\n' | sort)
for pkg in qemu-system-x86 podman lintian prometheus googletest cmake; do
  grep -qx "$pkg" <<<"$installed" || fail "install-deps.sh test did not install $pkg"
done
grep -qx prometheus-node-exporter <<<"$installed" && fail "install-deps.sh test reinstalled a present package"
[ ! -s "$work/log/systemctl" ] || fail "install-deps.sh test called systemctl: $(cat "$work/log/systemctl")"
"$repo/scripts/install-deps.sh" > /dev/null 2>&1 && fail "install-deps.sh without a set should be a usage error"
echo "ok: install-deps.sh test installs the test suite's packages and touches no service (npm on host: $npm_on_host)"
