#!/usr/bin/env bash
# Proof 2: the kernel matrix. Boots Debian's 6.1 and 6.12 kernels (CONFIG_X86_SGX=y, BTF) under QEMU/TCG with an
# initramfs holding busybox and the real epc_exporter (plus the shared libraries it links), starts the exporter,
# scrapes /metrics inside the guest and prints it on the serial console. The host checks that every SGX probe
# reports sgx_exporter_probe_attached 1 and that `promtool check metrics` and tests/lib's exposition check (no
# duplicate series, one set of label names per family) accept the scrape, once with fentry/fexit
# (the default) and once with --collector.ebpf.prefer-fentry=false (kprobe/kretprobe).
# No CPU here or in QEMU has SGX: the probes attach to the driver's functions, which never fire.
#
# With GUEST_TEST (tests/bpf's bpf_accounting_test), the accounting tests also run inside each guest: the target
# kernel's verifier and BPF runtime execute the accounting, and the kernel's sgx_nr_free_pages is read.
#
# Usage: run.sh EXPORTER CACHE_DIR [OUT_DIR [GUEST_TEST]]   exit 0 pass, 1 fail, 77 skip (tools/packages unavailable)
TESTLIB=$(cd "$(dirname "$0")/../lib" && pwd)
# Env:   EPC_KERNELS="6.1 6.12" (which series), EPC_QEMU_TIMEOUT=180 (seconds per boot)
set -uo pipefail

exporter=${1:?usage: run.sh EXPORTER CACHE_DIR [OUT_DIR]}
cache=${2:?usage: run.sh EXPORTER CACHE_DIR [OUT_DIR]}
out=${3:-$(mktemp -d /tmp/epc-kernel-matrix.XXXXXX)}
guest_test=${4:-}
series=${EPC_KERNELS:-"6.1 6.12"}
timeout_s=${EPC_QEMU_TIMEOUT:-180}

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }

[ -x "$exporter" ] || fail "exporter binary not found: $exporter"
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 not installed (package qemu-system-x86)"
command -v cpio >/dev/null || skip "cpio not installed"
busybox=""
for b in /bin/busybox /usr/bin/busybox; do
  if [ -x "$b" ] && ! ldd "$b" >/dev/null 2>&1; then busybox=$b; break; fi  # static: ldd fails
done
[ -n "$busybox" ] || skip "no statically linked busybox (package busybox-static)"
promtool=$(command -v promtool || true)
mkdir -p "$cache" "$out"

# Current package name of a series, e.g. linux-image-6.1.0-50-amd64 / linux-image-6.12.117+deb12-amd64.
resolve() {
  local re
  case $1 in
    6.1) re='^linux-image-6\.1\.0-[0-9]+-amd64$' ;;
    6.12) re='^linux-image-6\.12\.[0-9]+\+deb12-amd64$' ;;
    *) return 1 ;;
  esac
  apt-cache search --names-only "$re" 2>/dev/null | awk '{print $1}' | sort -V | tail -1
}

# The cached .deb of a series, downloading it if needed.
fetch() {
  local s=$1 pkg deb
  pkg=$(resolve "$s")
  if [ -n "$pkg" ]; then
    deb=$(ls "$cache/${pkg}_"*.deb 2>/dev/null | head -1)
    if [ -z "$deb" ]; then
      (cd "$cache" && apt-get download "$pkg" >/dev/null 2>&1) || true
      deb=$(ls "$cache/${pkg}_"*.deb 2>/dev/null | head -1)
    fi
  fi
  if [ -z "${deb:-}" ] && [ "$(id -u)" = 0 ] && [ -z "${updated:-}" ]; then
    # Stale package lists name a kernel the mirror no longer has: refresh them once and resolve again.
    updated=1
    apt-get update -qq >/dev/null 2>&1 || true
    pkg=$(resolve "$s")
    [ -n "$pkg" ] && (cd "$cache" && apt-get download "$pkg" >/dev/null 2>&1)
    deb=$(ls "$cache/${pkg}_"*.deb 2>/dev/null | head -1)
  fi
  if [ -z "${deb:-}" ]; then  # offline: any cached package of the series
    local glob
    case $s in 6.1) glob='linux-image-6.1.0-*-amd64_*.deb' ;; 6.12) glob='linux-image-6.12.*+deb12-amd64_*.deb' ;; esac
    deb=$(ls $cache/$glob 2>/dev/null | sort -V | tail -1)
  fi
  echo "${deb:-}"
}

# initramfs: busybox, the exporter, its libraries and an /init that runs it and prints a scrape.
build_initramfs() {
  local root=$out/initramfs img=$out/initramfs.cpio.gz
  rm -rf "$root"
  mkdir -p "$root"/{bin,sbin,proc,sys,dev,tmp,etc,usr/bin,lib64,lib/x86_64-linux-gnu,usr/lib/x86_64-linux-gnu}
  cp "$busybox" "$root/bin/busybox"
  for a in sh mount mkdir cat ip sleep wget poweroff echo grep dmesg head; do ln -sf busybox "$root/bin/$a"; done
  cp "$exporter" "$root/usr/bin/epc_exporter"
  [ -n "$guest_test" ] && cp "$guest_test" "$root/usr/bin/guest_test"
  for bin in "$exporter" $guest_test; do
    ldd "$bin" | awk '/=>/ {print $3} /^\t\/lib/ {print $1}' | while read -r lib; do
      [ -f "$lib" ] && cp -L "$lib" "$root$lib" 2>/dev/null || cp -L "$lib" "$root/lib/x86_64-linux-gnu/" 2>/dev/null
    done
  done
  cp -L /lib64/ld-linux-x86-64.so.2 "$root/lib64/"
  echo "root:x:0:0:root:/:/bin/sh" > "$root/etc/passwd"
  cat > "$root/init" <<'INIT'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null
mount -t debugfs nodev /sys/kernel/debug 2>/dev/null
mount -t cgroup2 none /sys/fs/cgroup 2>/dev/null
ip link set lo up
echo "===KERNEL $(cat /proc/sys/kernel/osrelease)==="
# Twice: fentry/fexit preferred (the default), then kprobe/kretprobe only.
port=9840
for flavor in fentry kprobe; do
  extra=""
  [ $flavor = kprobe ] && extra="--collector.ebpf.prefer-fentry=false"
  /usr/bin/epc_exporter --web.listen-address=127.0.0.1:$port --log.level=info $extra > /tmp/exporter-$flavor.log 2>&1 &
  pid=$!
  i=0
  while [ $i -lt 60 ]; do
    wget -q -O /tmp/metrics-$flavor http://127.0.0.1:$port/metrics 2>/dev/null && break
    sleep 1; i=$((i+1))
  done
  kill $pid; sleep 1
  echo "===EXPORTER-LOG-BEGIN-$flavor==="
  cat /tmp/exporter-$flavor.log
  echo "===EXPORTER-LOG-END-$flavor==="
  echo "===METRICS-BEGIN-$flavor==="
  cat /tmp/metrics-$flavor 2>/dev/null
  echo "===METRICS-END-$flavor==="
  port=$((port+1))
done
if [ -x /usr/bin/guest_test ]; then
  echo "===GUEST-TEST-BEGIN==="
  /usr/bin/guest_test --gtest_color=no 2>&1
  echo "===GUEST-TEST rc=$?==="
fi
poweroff -f
INIT
  chmod +x "$root/init"
  (cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$img"
  echo "$img"
}

probes="encl_create encl_release epc_alloc epc_free ewb eldu page_fault reclaim va_grow va_shrink vepc_fault vepc_free
  encl_init encl_sigstruct"

initrd=$(build_initramfs) || fail "could not build the initramfs"
ran=0 failed=0
for s in $series; do
  deb=$(fetch "$s")
  if [ -z "$deb" ]; then
    echo "kernel $s: package not available (apt-get download failed, nothing cached in $cache)"
    continue
  fi
  kdir=$out/kernel-$s
  rm -rf "$kdir" && mkdir -p "$kdir" && dpkg-deb -x "$deb" "$kdir" || fail "dpkg-deb -x $deb"
  vmlinuz=$(ls "$kdir"/boot/vmlinuz-* | head -1)
  console=$out/console-$s.log
  echo "kernel $s: booting $(basename "$vmlinuz") ($(basename "$deb")) under QEMU/TCG"
  start=$(date +%s)
  timeout --kill-after=10 "$timeout_s" qemu-system-x86_64 -accel tcg -cpu max -m 1024 -smp 1 -nographic -no-reboot \
    -kernel "$vmlinuz" -initrd "$initrd" -append "console=ttyS0 panic=-1 quiet loglevel=3" > "$console" 2>&1
  rc=$?
  echo "kernel $s: QEMU exited $rc after $(( $(date +%s) - start )) s (console: $console)"
  ran=$((ran + 1))
  ok=1
  for flavor in fentry kprobe; do
    m=$out/metrics-$s-$flavor.txt
    tr -d '\r' < "$console" | sed -n "/===METRICS-BEGIN-$flavor===/,/===METRICS-END-$flavor===/p" | sed '1d;$d' > "$m"
    tr -d '\r' < "$console" | sed -n "/===EXPORTER-LOG-BEGIN-$flavor===/,/===EXPORTER-LOG-END-$flavor===/p" |
      sed '1d;$d' > "$out/exporter-$s-$flavor.log"
    if [ ! -s "$m" ]; then
      echo "kernel $s: FAIL ($flavor): no scrape on the console"; tail -30 "$console"; ok=0; continue
    fi
    attached=""
    for p in $probes; do
      line=$(grep -E "^sgx_exporter_probe_attached\{probe=\"$p\"\} " "$m" || true)
      info=$(grep -E "^sgx_exporter_probe_info\{probe=\"$p\"" "$m" | sed -E 's/.*attach_type="([^"]*)",reason="([^"]*)".*/\1 \2/')
      want=$flavor
      [ "$p" = encl_sigstruct ] && want=kprobe  # kprobe in both flavors (its argument is beyond fentry's reach)
      if [ "${line##* }" = "1" ] && [ "${info%% *}" = "$want" ]; then
        attached="$attached $p"
      else
        echo "kernel $s:   FAIL ($flavor) probe $p: ${line:-missing} ($info)"; ok=0
      fi
    done
    echo "kernel $s:   $flavor: attached:$attached"
    grep -q '^sgx_exporter_collector_success{collector="ebpf"} 1' "$m" ||
      { echo "kernel $s:   FAIL ($flavor) ebpf collector not successful"; ok=0; }
    grep -q '^sgx_exporter_bpf_map_max_entries{map="encls"} ' "$m" ||
      { echo "kernel $s:   FAIL ($flavor) maps not readable after the capability drop"; ok=0; }
    if python3 "$TESTLIB/prom_text.py" "$m" > "$out/exposition-$s-$flavor.txt" 2>&1; then
      echo "kernel $s:   $flavor: exposition check ok (no duplicate series, one set of label names per family)"
    else
      echo "kernel $s:   FAIL ($flavor) exposition check:"; cat "$out/exposition-$s-$flavor.txt"; ok=0
    fi
    if [ -n "$promtool" ]; then
      if promtool check metrics < "$m" > "$out/promtool-$s-$flavor.txt" 2>&1; then
        echo "kernel $s:   $flavor: promtool check metrics ok"
      else
        echo "kernel $s:   FAIL ($flavor) promtool check metrics:"; cat "$out/promtool-$s-$flavor.txt"; ok=0
      fi
    else
      echo "kernel $s:   promtool not installed: scrape format not checked"
    fi
    [ $ok = 1 ] || sed 's/^/    log: /' "$out/exporter-$s-$flavor.log" | head -40
  done
  if [ -n "$guest_test" ]; then
    tr -d '\r' < "$console" | sed -n '/===GUEST-TEST-BEGIN===/,/===GUEST-TEST rc=/p' > "$out/guest-test-$s.log"
    if grep -q '===GUEST-TEST rc=0===' "$out/guest-test-$s.log"; then
      echo "kernel $s:   accounting tests in the guest: $(grep -E '^\[  PASSED  \]' "$out/guest-test-$s.log")," \
        "$(grep -E '^sgx_nr_free_pages' "$out/guest-test-$s.log" || echo 'sgx_nr_free_pages not read')"
      grep -q '^sgx_nr_free_pages' "$out/guest-test-$s.log" || ok=0
    else
      echo "kernel $s:   FAIL accounting tests in the guest:"; grep -E 'FAILED|Failure|rc=' "$out/guest-test-$s.log" | head -20; ok=0
    fi
  fi
  [ $ok = 1 ] || failed=$((failed + 1))
done

[ $ran -gt 0 ] || skip "no kernel package could be had (offline and nothing in $cache)"
echo "kernel matrix: $ran booted, $failed failed (artifacts in $out)"
[ $failed -eq 0 ]
