#!/usr/bin/env bash
# Load: many concurrent scrapers (wrk) against the real binary on loopback for a bounded time, on the aks-dcsv3
# fixture node. Fails on any socket error or non-2xx answer, on any page that fails tests/lib's exposition check
# (every page wrk receives: wrk_pages.lua hands their shapes to prom_text.py), or when RSS keeps growing after
# warm-up.
# Prints requests/s, latency percentiles and RSS (start, after warm-up, end, max).
# With LOAD_TLS=1 the exporter serves TLS with basic auth (self-signed certificate, bcrypt cost 10) and every
# wrk request carries the credentials.
# usage: load_test.sh <epc_exporter> <fixture rootfs> [seconds=20] [connections=32]
set -euo pipefail
EXPORTER=$1
ROOTFS=$2
SECS=${3:-20}
CONNS=${4:-32}
WORK=$(mktemp -d)
trap 'kill "${SAMPLER:-}" 2>/dev/null || true; stop_exporter; rm -rf "$WORK"' EXIT
. "$(dirname "$0")/../security/common.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
command -v wrk >/dev/null || { echo "SKIP: wrk not installed (scripts/install-deps.sh test installs it)"; exit 77; }

EXTRA=(); WRK_AUTH=(); CURL=(curl -sf); SCHEME=http
if [ "${LOAD_TLS:-0}" = 1 ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/k.pem" -out "$WORK/c.pem" -days 2 -subj /CN=localhost \
    2>/dev/null || fail "openssl"
  hash=$(python3 -W ignore -c "import crypt; print(crypt.crypt('s3cret', crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1024)))")
  printf 'tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\nbasic_auth_users:\n  prometheus: %s\n' "'$hash'" >"$WORK/web.yml"
  EXTRA=(--web.config.file="$WORK/web.yml")
  WRK_AUTH=(-H "Authorization: Basic $(printf prometheus:s3cret | base64)")
  CURL=(curl -sfk -u prometheus:s3cret); SCHEME=https
fi
start_exporter "$WORK/log" --path.rootfs="$ROOTFS" --web.max-requests=$((CONNS + 8)) "${EXTRA[@]}"
URL=$SCHEME://127.0.0.1:$PORT/metrics
"${CURL[@]}" -o "$WORK/first.prom" "$URL" || fail "first scrape failed"
check_exposition "$WORK/first.prom"
series=$(grep -vc '^#' "$WORK/first.prom")
rss0=$(rss_kib "$PID")

# RSS every 0.5 s while wrk runs.
( while kill -0 "$PID" 2>/dev/null; do echo "$(date +%s.%N) $(rss_kib "$PID")"; sleep 0.5; done ) >"$WORK/rss" &
SAMPLER=$!
mkdir "$WORK/pages"
WRK_PAGES_DIR="$WORK/pages" wrk -t2 -c"$CONNS" -d"${SECS}s" --timeout 10s --latency -s "$HERE/wrk_pages.lua" \
  "${WRK_AUTH[@]}" "$URL" >"$WORK/wrk" 2>&1 || { cat "$WORK/wrk"; fail "wrk failed"; }
kill "$SAMPLER" 2>/dev/null || true
cat "$WORK/wrk"

kill -0 "$PID" 2>/dev/null || fail "exporter died under load"
if grep -q 'Socket errors' "$WORK/wrk"; then fail "socket errors: $(grep 'Socket errors' "$WORK/wrk")"; fi
if grep -q 'Non-2xx' "$WORK/wrk"; then fail "$(grep 'Non-2xx' "$WORK/wrk")"; fi
reqs=$(awk '/requests in/ {print $1}' "$WORK/wrk")
rps=$(awk '/^Requests\/sec/ {print $2}' "$WORK/wrk")
p50=$(awk '$1 == "50%" {print $2}' "$WORK/wrk"); p99=$(awk '$1 == "99%" {print $2}' "$WORK/wrk")
[ "${reqs:-0}" -gt 0 ] || fail "no requests completed"
# Every page wrk got, through the exposition check (as its distinct shapes).
read -r _ pages _ other _ shapes <"$WORK/pages/counts.txt" || fail "wrk_pages.lua wrote no counts"
[ "$pages" = "$reqs" ] && [ "$other" = 0 ] || fail "wrk counted $reqs requests, the page check saw $pages pages and $other others"
check_exposition "$WORK"/pages/shape-*.prom >/dev/null
pass "all $pages pages wrk received ($shapes distinct shape(s)) pass the exposition check"

# Flat after warm-up: the first quarter is warm-up; afterwards RSS may not grow by more than 2 MiB (allocator
# noise) between the end of warm-up and the end of the run, nor exceed the warm-up level by more than 4 MiB.
n=$(wc -l <"$WORK/rss")
[ "$n" -ge 8 ] || fail "too few RSS samples ($n)"
warm_line=$((n / 4 + 1))
rss_warm=$(sed -n "${warm_line}p" "$WORK/rss" | awk '{print $2}')
rss_end=$(tail -1 "$WORK/rss" | awk '{print $2}')
rss_max_after=$(tail -n +"$warm_line" "$WORK/rss" | awk 'm < $2 {m = $2} END {print m}')
echo "load ($SCHEME): $reqs requests in ${SECS}s over $CONNS connections ($rps req/s), $series series per scrape," \
     "latency p50 $p50 p99 $p99; RSS KiB start $rss0, after warm-up $rss_warm, end $rss_end, max after warm-up $rss_max_after"
[ $((rss_end - rss_warm)) -le 2048 ] || fail "RSS grew by $((rss_end - rss_warm)) KiB after warm-up"
[ $((rss_max_after - rss_warm)) -le 4096 ] || fail "RSS peaked $((rss_max_after - rss_warm)) KiB above warm-up"
"${CURL[@]}" -o "$WORK/after.prom" "$URL" || fail "scrape after the load failed"
check_exposition "$WORK/after.prom"
echo "load_test: passed"
