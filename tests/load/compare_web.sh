#!/usr/bin/env bash
# Two exporter builds side by side in one run (e.g. the CivetWeb server of an older commit and the current one):
# wrk throughput on /metrics (plain), RSS after the load, a TLS handshake storm (new TLS connections at a fixed
# rate for 10 s), and the slow-client scrape success of slow_clients_test.py. Prints one Markdown table.
# Not a CTest test: it measures, it does not judge.
# usage: compare_web.sh <label A> <epc_exporter A> <label B> <epc_exporter B> <fixture rootfs> [wrk seconds=15]
#        [TLS connections per second=400]
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOTFS=$5
SECS=${6:-15}
RATE=${7:-400}  # new TLS connections per second in the storm
WORK=$(mktemp -d)
trap 'stop_exporter; rm -rf "$WORK"' EXIT
EXPORTER=
. "$HERE/../security/common.sh"
command -v wrk >/dev/null || { echo "SKIP: wrk not installed"; exit 77; }
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/k.pem" -out "$WORK/c.pem" -days 2 -subj /CN=localhost \
  2>/dev/null
printf 'tls_server_config:\n  cert_file: %s\n  key_file: %s\n' "$WORK/c.pem" "$WORK/k.pem" >"$WORK/web.yml"

# storm <port> <per second> <seconds>: opens TLS connections at that rate, each does its handshake and closes.
storm() {
  python3 - "$@" <<'PY'
import socket, ssl, sys, threading, time
port, rate, secs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
lat, errs, lock = [], [0], threading.Lock()
def one():
    t0 = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            with ctx.wrap_socket(s, server_hostname="localhost"):
                pass
        with lock: lat.append(time.monotonic() - t0)
    except OSError:
        with lock: errs[0] += 1
threads, start = [], time.monotonic()
for i in range(int(rate * secs)):
    delay = start + i / rate - time.monotonic()
    if delay > 0:
        time.sleep(delay)  # pacing of the offered load
    t = threading.Thread(target=one); t.start(); threads.append(t)
for t in threads: t.join()
took = time.monotonic() - start
lat.sort()
p = lambda q: lat[min(len(lat) - 1, int(q * (len(lat) - 1)))] * 1000 if lat else float("nan")
print(f"{len(lat)}/{len(threads)} handshakes ({len(lat) / took:.0f}/s), p50 {p(.5):.0f} ms, p99 {p(.99):.0f} ms, {errs[0]} errors")
PY
}

row() {  # row <label> <binary>
  local label=$1 bin=$2 slow_res wrk_rps wrk_p99 wrk_err rss_idle rss_after storm_out slow_plain slow_tls key
  key=$(printf '%s' "$label" | tr -c 'A-Za-z0-9' _)
  EXPORTER=$bin
  start_exporter "$WORK/$key.log" --path.rootfs="$ROOTFS" --no-collector.ebpf --web.max-requests=40
  curl -sf -o /dev/null "http://127.0.0.1:$PORT/metrics"
  rss_idle=$(rss_kib "$PID")
  wrk -t2 -c32 -d"${SECS}s" --timeout 10s --latency -H 'Accept-Encoding: gzip' "http://127.0.0.1:$PORT/metrics" \
    >"$WORK/$key.wrk" 2>&1
  wrk_rps=$(awk '/^Requests\/sec/ {print $2}' "$WORK/$key.wrk")
  wrk_p99=$(awk '$1 == "99%" {print $2}' "$WORK/$key.wrk")
  wrk_err=$(grep -E 'Socket errors|Non-2xx' "$WORK/$key.wrk" | tr -s ' ' | paste -sd ';' || true)
  rss_after=$(rss_kib "$PID")
  stop_exporter
  start_exporter "$WORK/$key-tls.log" --path.rootfs="$ROOTFS" --no-collector.ebpf --web.config.file="$WORK/web.yml"
  storm_out=$(storm "$PORT" "$RATE" 10)
  stop_exporter
  python3 "$HERE/slow_clients_test.py" "$bin" "$ROOTFS" 15 1000 >"$WORK/$key.slow" 2>&1 || true
  slow_plain=$(sed -n 's/^plain epc_exporter : \([0-9]*\/[0-9]*\) scrapes.*(\([0-9.]* %\)).*/\1 (\2)/p' "$WORK/$key.slow")
  slow_tls=$(sed -n 's/^tls   epc_exporter : \([0-9]*\/[0-9]*\) scrapes.*(\([0-9.]* %\)).*/\1 (\2)/p' "$WORK/$key.slow")
  slow_res=$(sed -n 's/^\(plain\|tls  \) epc_exporter .*max threads \([0-9]*\), RSS \([0-9]*\) KiB.*/\2 threads, \3 KiB/p' "$WORK/$key.slow" | paste -sd ';' | sed 's/;/; /')
  echo "| $label | $wrk_rps | $wrk_p99 | ${wrk_err:-none} | $rss_idle / $rss_after | $storm_out | $slow_plain | $slow_tls | $slow_res |"
  sed -n 's/^\(plain\|tls  \) node_exporter: \([0-9]*\/[0-9]*\) scrapes.*(\([0-9.]* %\)).*/  (node_exporter in the same slow-client run, \1: \2 = \3)/p' "$WORK/$key.slow" >&2
}

echo "| server | wrk req/s (32 conns, gzip) | wrk p99 | wrk errors | RSS KiB idle / after wrk | TLS handshake storm, $RATE/s for 10 s | slow clients plain: scrapes OK within 1 s | slow clients TLS | slow-client runs: max threads, RSS (plain; TLS) |"
echo "|---|---|---|---|---|---|---|---|---|"
row "$1" "$2"
row "$3" "$4"
