#!/bin/sh
# The emulated guest's /init (tests/sgx_emu/run-scenario puts it into the initramfs). It lays out cgroups and
# kubelet log directories, starts the exporter, runs the workload, waits for ksgxd to go idle, scrapes, releases,
# scrapes again and sends every file back over ttyS1 (run-scenario's docstring lists them).
# What differs per scenario comes from files run-scenario writes next to it:
#   /init.env       variables (sourced): EXPORTER, EXPORTER_START, EXPORTER_FLAGS, PORT, ... (see run-scenario)
#   /setup.sh       the cgroup and kubelet log layout (sourced)
#   /pause-fifos.sh the exporter-restart pause FIFOs, opened on fds 4-9 of this shell (sourced)
#   /pauses.sh      what happens at each pause: stop/start the exporter (sourced)
# EXPORTER_FLAGS, WORKLOAD_FLAGS, BENCH_ARGS and VALIDATE_ARGS are shell-quoted word lists, expanded with eval.
export PATH=/bin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t debugfs nodev /sys/kernel/debug
mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null
mount -t cgroup2 none /sys/fs/cgroup
mount -t tmpfs tmpfs /tmp
. /init.env
ip link set lo up
echo "===SGX-EMU-INIT uptime=$(cut -d' ' -f1 /proc/uptime)==="
stty -F /dev/ttyS1 raw -echo 2>/dev/null
exec 3>/dev/ttyS1
emit() { echo "=====BEGIN $1=====" >&3; cat "$2" >&3 2>/dev/null; echo "=====END $1=====" >&3; }
finish() {
  dmesg > /tmp/dmesg.txt
  [ -f /tmp/exporter-$inst.log ] && cp /tmp/exporter-$inst.log /tmp/exporter.log
  for f in kernel-release emu-boot.txt metrics-start.txt emu-steady.txt metrics.txt emu-released.txt \
           metrics-released.txt workload.json workload.log exporter.log workload.rc timeline.txt clocksource dmesg.txt \
           exporter.rc kprobe-events-after-exit.txt unpin.rc unpin.log bpffs-after-unpin.txt \
           bench.txt bench.log bench.rc emu-bench-start.txt emu-bench.txt metrics-bench.txt \
           node-exporter.log scrape-bench.json scrape-bench.log \
           validate.json validate.md validate.log validate.rc validate-exporter.log emu-validate-start.txt \
           emu-validate.txt metrics-validate.txt; do
    [ -f /tmp/$f ] && emit $f /tmp/$f
  done
  [ -n "$scraper" ] && kill $scraper 2>/dev/null
  [ -n "$nepid" ] && kill $nepid 2>/dev/null
  for f in /tmp/exporter-*.log /tmp/exporter-*.rc /tmp/metrics-start-*.txt /tmp/emu-start-*.txt /tmp/scrapes/*.prom; do
    [ -f $f ] && emit $(echo ${f#/tmp/} | tr / :) $f
  done
  echo "=====DONE $1=====" >&3
  echo "===SGX-EMU-DONE $1==="
  reboot -f  # QEMU runs with -no-reboot: exits; poweroff would only halt (the test kernels have no ACPI)
}
mark() { echo "$1 $(cut -d' ' -f1 /proc/uptime)" >> /tmp/timeline.txt; echo "===SGX-EMU-$1==="; }
uname -r > /tmp/kernel-release
[ -r /sys/kernel/debug/sgx_emu/stats ] || { echo "no /sys/kernel/debug/sgx_emu/stats" > /tmp/workload.log; finish no-emu; }
cat /sys/kernel/debug/sgx_emu/stats > /tmp/emu-boot.txt
cat /sys/devices/system/clocksource/clocksource0/current_clocksource > /tmp/clocksource 2>/dev/null
mark init
[ "$BPF_STATS" = 1 ] && echo 1 > /proc/sys/kernel/bpf_stats_enabled
. /setup.sh
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
inst=-1
epid=""
# The pause FIFOs (fds 4-9) are held by this shell only: children get them closed, or a pause would never end.
# Instance $inst+1 of the exporter, with extra flags $1; up when its first scrape answers.
start_exporter() {
  inst=$((inst+1))
  cat /sys/kernel/debug/sgx_emu/stats > /tmp/emu-start-$inst.txt
  eval "exec /usr/bin/epc_exporter $EXPORTER_FLAGS $1" > /tmp/exporter-$inst.log 2>&1 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
  epid=$!
  i=0
  until wget -q -O /tmp/metrics-start-$inst.txt http://127.0.0.1:$PORT/metrics 2>/dev/null; do
    i=$((i+1)); [ $i -gt 900 ] && finish exporter-not-up
    kill -0 $epid 2>/dev/null || finish exporter-died
    sleep 0.2
  done
  [ -f /tmp/metrics-start.txt ] || cp /tmp/metrics-start-$inst.txt /tmp/metrics-start.txt
  mark exporter-up-$inst
  [ "$KEEP_SCRAPES" = 1 ] && keep_scrape
}
# A scrape's counter series, kept as /tmp/scrapes/<uptime>.prom (restart scenarios: prom_restarts.py reads them).
mkdir -p /tmp/scrapes
keep_scrape() {
  t=$(cut -d' ' -f1 /proc/uptime)
  wget -q -O - http://127.0.0.1:$PORT/metrics 2>/dev/null |
    grep -E '^sgx_(epc_(evicted|loaded_back)_pages|enclave_page_fault(s|_seconds))_total' > /tmp/scrapes/$t.prom
}
# Stops the running instance with signal $1 (after a last kept scrape); its exit status goes to exporter-<inst>.rc.
stop_exporter() {
  [ "$KEEP_SCRAPES" = 1 ] && keep_scrape
  kill -$1 $epid
  i=0
  while kill -0 $epid 2>/dev/null && [ $i -lt 300 ]; do i=$((i+1)); sleep 0.1; done
  if kill -0 $epid 2>/dev/null; then echo hung > /tmp/exporter-$inst.rc; kill -KILL $epid; else wait $epid; echo $? > /tmp/exporter-$inst.rc; fi
  mark exporter-stopped-$inst
}
# Waits until $2 enclaves stopped at pause $1 (or the workload ended).
wait_pause() {
  while [ "$(ls /tmp/pause-marks | grep -c "^$1\.")" -lt $2 ]; do
    kill -0 $wpid 2>/dev/null || break
    sleep 0.1
  done
  mark pause-$1
}
steady_idle() { /usr/bin/sgx_emu_workload idle --stable-ms $STABLE_MS --timeout-s 120 > /tmp/emu-idle-$1.txt; }
mkdir -p /tmp/pause-marks
. /pause-fifos.sh
if [ "$EXPORTER" = 1 ] && [ "$EXPORTER_START" = before ]; then
  start_exporter ""
fi
nepid=""
if [ "$NODE_EXPORTER" = 1 ]; then
  # Debian's prometheus-node-exporter, default collectors, scraped beside the exporter (scrape_bench).
  /usr/bin/prometheus-node-exporter --web.listen-address=127.0.0.1:$NE_PORT > /tmp/node-exporter.log 2>&1 \
    4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
  nepid=$!
  i=0
  until wget -q -O /dev/null http://127.0.0.1:$NE_PORT/metrics 2>/dev/null; do
    i=$((i+1)); [ $i -gt 600 ] && finish node-exporter-not-up
    kill -0 $nepid 2>/dev/null || finish node-exporter-died
    sleep 0.2
  done
  mark node-exporter-up
fi
if [ "$EXPORTER" = 1 ] && [ "$SCRAPE_EVERY" != 0 ]; then
  ( while :; do
      if [ "$KEEP_SCRAPES" = 1 ]; then keep_scrape; else wget -q -O /dev/null http://127.0.0.1:$PORT/metrics; fi
      sleep $SCRAPE_EVERY
    done ) 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
  scraper=$!
fi
mkfifo /tmp/release
eval "exec /usr/bin/sgx_emu_workload run --plan /plan.txt --out /tmp/workload.json --ready /tmp/ready --release /tmp/release \
  $WORKLOAD_FLAGS" > /tmp/workload.log 2>&1 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
wpid=$!
. /pauses.sh
while [ ! -f /tmp/ready ]; do
  kill -0 $wpid 2>/dev/null || break
  sleep 0.1
done
mark ready
[ -n "$scraper" ] && kill $scraper
/usr/bin/sgx_emu_workload idle --stable-ms $STABLE_MS --timeout-s 120 > /tmp/emu-steady.txt
mark steady-idle
[ "$EXPORTER" = 1 ] && wget -q -O /tmp/metrics.txt http://127.0.0.1:$PORT/metrics
mark scraped
if [ "$SCRAPE_BENCH" = 1 ]; then
  # Timed scrapes, alternating between the exporter and node_exporter, every enclave alive and ksgxd idle.
  targets="--target epc_exporter:$PORT:$epid"
  [ -n "$nepid" ] && targets="$targets --target node_exporter:$NE_PORT:$nepid"
  /usr/bin/sgx_emu_workload scrape $targets --rounds $SCRAPE_ROUNDS --warmup $SCRAPE_WARMUP \
    --out /tmp/scrape-bench.json > /tmp/scrape-bench.log 2>&1 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- || finish scrape-bench-failed
  mark scrape-bench
fi
echo release > /tmp/release &
wait $wpid
echo $? > /tmp/workload.rc
mark released
/usr/bin/sgx_emu_workload idle --stable-ms $STABLE_MS --timeout-s 120 > /tmp/emu-released.txt
mark released-idle
[ "$EXPORTER" = 1 ] && wget -q -O /tmp/metrics-released.txt http://127.0.0.1:$PORT/metrics
mark scraped-released
if [ "$BENCH" = 1 ]; then
  # epc_bench in its own cgroup (as a service would run), the exporter watching; then one more scrape.
  mkdir -p /sys/fs/cgroup/$BENCH_CGROUP
  cat /sys/kernel/debug/sgx_emu/stats > /tmp/emu-bench-start.txt
  ( echo 0 > /sys/fs/cgroup/$BENCH_CGROUP/cgroup.procs && eval "exec /usr/bin/$BENCH_BIN $BENCH_ARGS" ) \
    > /tmp/bench.txt 2> /tmp/bench.log 4>&- 5>&- 6>&- 7>&- 8>&- 9>&-
  echo $? > /tmp/bench.rc
  mark bench-done
  /usr/bin/sgx_emu_workload idle --stable-ms $STABLE_MS --timeout-s 120 > /tmp/emu-bench.txt
  [ "$EXPORTER" = 1 ] && wget -q -O /tmp/metrics-bench.txt http://127.0.0.1:$PORT/metrics
  mark scraped-bench
fi
if [ "$VALIDATE" = 1 ]; then
  # epc_bench --validate in its own cgroup against this guest's exporter (its workload found by that cgroup);
  # validate.json and validate.md land in /tmp. Then one more scrape.
  mkdir -p /sys/fs/cgroup/$VALIDATE_CGROUP
  cat /sys/kernel/debug/sgx_emu/stats > /tmp/emu-validate-start.txt
  ( echo 0 > /sys/fs/cgroup/$VALIDATE_CGROUP/cgroup.procs && eval "exec /usr/bin/epc_bench $VALIDATE_ARGS" ) \
    > /tmp/validate.log 2>&1 4>&- 5>&- 6>&- 7>&- 8>&- 9>&-
  echo $? > /tmp/validate.rc
  mark validate-done
  /usr/bin/sgx_emu_workload idle --stable-ms $STABLE_MS --timeout-s 120 > /tmp/emu-validate.txt
  [ "$EXPORTER" = 1 ] && wget -q -O /tmp/metrics-validate.txt http://127.0.0.1:$PORT/metrics
  mark scraped-validate
fi
if [ "$EXPORTER" = 1 ]; then
  # SIGTERM: the exporter must exit 0 (its pinned state stays, for the next instance); then --collector.ebpf.unpin
  # must remove the pinned state and every kprobe event it used.
  stop_exporter TERM
  cp /tmp/exporter-$inst.rc /tmp/exporter.rc
  /usr/bin/epc_exporter --collector.ebpf.unpin > /tmp/unpin.log 2>&1
  echo $? > /tmp/unpin.rc
  ls -a /sys/fs/bpf > /tmp/bpffs-after-unpin.txt 2>&1
  cat /sys/kernel/tracing/kprobe_events > /tmp/kprobe-events-after-exit.txt 2>/dev/null
fi
finish ok
