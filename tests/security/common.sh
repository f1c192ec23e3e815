# Shared by the security and load test scripts: start the exporter on a free loopback port, wait for it, stop it.
# Source it; needs $EXPORTER (path of epc_exporter) and $WORK (scratch directory).

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

# check_exposition <file>...: each scraped page through tests/lib's exposition check (prom_text.py: parses, no
# duplicate series, one set of label names per family); fails the test naming the problems.
EPC_TESTLIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../lib" && pwd)
check_exposition() {
  python3 "$EPC_TESTLIB_DIR/prom_text.py" "$@" || fail "exposition check failed: $*"
}

# listening_port <log>: the port from the exporter's "listening" line, "" while there is none (or no log yet).
listening_port() {
  [ -f "$1" ] || return 0
  sed -n 's/.*msg=listening address=[^ ]* port=\([0-9]*\).*/\1/p' "$1" | head -1
}

# wait_listening <log> <pid> [seconds]: sets PORT once the exporter logs its listening line. Event-driven with a
# generous deadline (a loaded CI machine or a sanitizer build starts slowly); fails with the log's absolute path
# if the exporter exits first or the deadline passes.
wait_listening() {
  local log=$1 pid=$2 deadline=$((SECONDS + ${3:-60}))
  PORT=
  while :; do
    PORT=$(listening_port "$log")
    [ -n "$PORT" ] && return 0
    kill -0 "$pid" 2>/dev/null || { echo "--- $log" >&2; cat "$log" >&2; fail "exporter exited at start-up (log: $log)"; }
    [ $SECONDS -lt "$deadline" ] || { echo "--- $log" >&2; cat "$log" >&2; fail "exporter not listening within ${3:-60} s (log: $log)"; }
    sleep 0.1
  done
}

# start_exporter <log> <args...>: sets PID and PORT. Port 0 lets the kernel pick; the log names the port.
# The log is made absolute and created before the exporter starts: the background job opens its redirection only
# once it runs, so a relative or not-yet-created log raced the first read on a loaded machine.
start_exporter() {
  local log
  log=$(realpath -m "$1"); shift
  : >"$log"
  "$EXPORTER" --web.listen-address=127.0.0.1:0 "$@" >"$log" 2>&1 &
  PID=$!
  wait_listening "$log" "$PID"
}

stop_exporter() {
  if [ -n "${PID:-}" ] && kill -0 "$PID" 2>/dev/null; then
    kill "$PID"
    wait "$PID" 2>/dev/null || true
  fi
  PID=
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
