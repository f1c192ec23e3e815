# Shared by the security and load test scripts: start the exporter on a free loopback port, wait for it, stop it.
# Source it; needs $EXPORTER (path of epc_exporter) and $WORK (scratch directory).

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

# start_exporter <log> <args...>: sets PID and PORT. Port 0 lets the kernel pick; the log names the port.
start_exporter() {
  local log=$1; shift
  "$EXPORTER" --web.listen-address=127.0.0.1:0 "$@" >"$log" 2>&1 &
  PID=$!
  PORT=
  for _ in $(seq 1 100); do
    PORT=$(sed -n 's/.*msg="listening address=[^ ]* port=\([0-9]*\).*/\1/p' "$log" | head -1)
    [ -n "$PORT" ] && return 0
    kill -0 "$PID" 2>/dev/null || { cat "$log" >&2; fail "exporter exited at start-up"; }
    sleep 0.1
  done
  cat "$log" >&2
  fail "exporter did not report its port"
}

stop_exporter() {
  if [ -n "${PID:-}" ] && kill -0 "$PID" 2>/dev/null; then
    kill "$PID"
    wait "$PID" 2>/dev/null || true
  fi
  PID=
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
