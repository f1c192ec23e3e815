#!/usr/bin/env bash
# TLS and basic auth end to end, against the real binary: right credentials 200, wrong or missing 401, /healthz
# open for liveness probes, plain HTTP to the TLS port refused, client certificates enforced, protocol floor
# enforced, and bad setups (expired or mismatched certificate, missing file, plain-text password, unknown key)
# stop start-up with exit 2 and a message naming the problem, as does a protocol floor or ceiling of TLS 1.0/1.1,
# which OpenSSL 3 at its default security level cannot serve.
# The TLS-serving exporter must have no executable mapping of anonymous or memfd origin (/proc/PID/maps), and
# everything runs with vm.memfd_noexec=2 where the kernel has it (6.3+), in a pid namespace of the test's own: the
# setting is per pid namespace, so nothing else on the machine sees it.
# usage: tls_auth_test.sh <epc_exporter> <fixture rootfs>
set -euo pipefail
if [ -z "${EPC_TLS_TEST_NS:-}" ] && [ "$(id -u)" = 0 ] && [ -e /proc/sys/vm/memfd_noexec ] &&
   command -v unshare >/dev/null && unshare --pid --fork --mount-proc true 2>/dev/null; then
  EPC_TLS_TEST_NS=1 exec unshare --pid --fork --mount-proc "$0" "$@"
fi
EXPORTER=$1
ROOTFS=$2
WORK=$(mktemp -d)
NOEXEC_BEFORE=
restore_noexec() {
  if [ -n "$NOEXEC_BEFORE" ]; then echo "$NOEXEC_BEFORE" >/proc/sys/vm/memfd_noexec 2>/dev/null || true; fi
}
trap 'stop_exporter; restore_noexec; rm -rf "$WORK"' EXIT
. "$(dirname "$0")/common.sh"
cd "$WORK"

# --- vm.memfd_noexec=2: no memfd may be executable (MFD_EXEC refused, every memfd sealed non-executable)
if [ ! -e /proc/sys/vm/memfd_noexec ]; then
  echo "note: vm.memfd_noexec not set: this kernel has no such sysctl (6.3+); the maps check below still runs"
elif NOEXEC_BEFORE=$(cat /proc/sys/vm/memfd_noexec) && echo 2 >/proc/sys/vm/memfd_noexec 2>/dev/null; then
  where="system-wide, restored on exit"
  [ -n "${EPC_TLS_TEST_NS:-}" ] && where="in the pid namespace of this test only"
  pass "vm.memfd_noexec=2 (was $NOEXEC_BEFORE; $where)"
else
  NOEXEC_BEFORE=
  echo "note: vm.memfd_noexec not set: cannot write it (not root); the maps check below still runs"
fi

# no_anonymous_exec <pid>: no executable mapping without a file, of a memfd, or of a deleted file.
no_anonymous_exec() {
  local bad
  bad=$(awk '$2 ~ /x/ && (NF < 6 || $6 ~ /^\/memfd:/ || $NF == "(deleted)")' "/proc/$1/maps")
  [ -z "$bad" ] || fail "executable mapping of anonymous or memfd origin in the TLS-serving exporter:
$bad"
  pass "no executable anonymous or memfd mapping in /proc/$1/maps ($(awk '$2 ~ /x/' "/proc/$1/maps" | wc -l) executable mappings, all of files)"
}

# --- certificates: a CA, a server and a client certificate signed by it, an expired one, a stray key
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=epc-test-ca 2>/dev/null
sign() {  # sign <name> <cn> [startdate enddate]
  openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$2" 2>/dev/null
  printf '[ca]\ndefault_ca=d\n[d]\ndir=.\ndatabase=index.txt\nserial=serial\nnew_certs_dir=.\ndefault_md=sha256\npolicy=p\nunique_subject=no\ncopy_extensions=copy\n[p]\ncommonName=supplied\n[ext]\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n' >ca.cnf
  local dates=(-days 2)
  [ $# -ge 4 ] && dates=(-startdate "$3" -enddate "$4")
  openssl ca -batch -notext -config ca.cnf -extensions ext -cert ca.crt -keyfile ca.key -in "$1.csr" -out "$1.crt" \
    "${dates[@]}" >/dev/null 2>&1 || fail "openssl ca $1"
}
: >index.txt; echo 01 >serial
sign server localhost
sign client prometheus
sign expired localhost 20200101000000Z 20200102000000Z
openssl genrsa -out stray.key 2048 2>/dev/null

HASH=$(python3 -W ignore -c "import crypt; print(crypt.crypt('s3cret', crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1024)))")
case "$HASH" in \$2b\$10\$*) ;; *) fail "cannot make a bcrypt hash with python3 crypt: $HASH" ;; esac

cat >web.yml <<YML
tls_server_config:
  cert_file: server.crt
  key_file: server.key
basic_auth_users:
  prometheus: '$HASH'
YML

ARGS=(--path.rootfs="$ROOTFS" --no-collector.ebpf)
# code <curl args>: the HTTP status; a 200 from /metrics goes through the exposition check ("bad-page" when it fails).
code() {
  local c
  c=$(curl -s -o page.out -w '%{http_code}' --cacert ca.crt "$@" || true)
  if [ "$c" = 200 ] && [[ " $* " == */metrics\ * ]] && ! python3 "$EPC_TESTLIB_DIR/prom_text.py" page.out >/dev/null; then
    c=bad-page
  fi
  echo "$c"
}

# --- TLS + basic auth
start_exporter log1 "${ARGS[@]}" --web.config.file=web.yml
URL=https://localhost:$PORT
[ "$(code -u prometheus:s3cret "$URL/metrics")" = 200 ] || fail "right credentials not 200"
pass "right credentials: 200"
curl -s --cacert ca.crt -u prometheus:s3cret "$URL/metrics" -o body.prom
grep -q '^sgx_exporter_build_info' body.prom || fail "no metrics body"
check_exposition body.prom
[ "$(code -u prometheus:wrong "$URL/metrics")" = 401 ] || fail "wrong password not 401"
[ "$(code -u nobody:s3cret "$URL/metrics")" = 401 ] || fail "unknown user not 401"
[ "$(code "$URL/metrics")" = 401 ] || fail "missing credentials not 401"
[ "$(code "$URL/")" = 401 ] || fail "landing page without credentials not 401"
[ "$(code "$URL/nope")" = 401 ] || fail "unknown path without credentials not 401"
curl -s -D - -o /dev/null --cacert ca.crt "$URL/metrics" | grep -qi '^WWW-Authenticate: Basic' || fail "no WWW-Authenticate"
pass "wrong, unknown or missing credentials: 401 with WWW-Authenticate"
[ "$(code "$URL/healthz")" = 200 ] || fail "/healthz must stay open for liveness probes"
pass "/healthz without credentials: 200"
[ "$(code -u prometheus:s3cret -X POST "$URL/metrics")" = 405 ] || fail "POST /metrics not 405"
[ "$(code -u prometheus:s3cret "$URL/nope")" = 404 ] || fail "unknown path not 404"
pass "405 and 404 behind auth"
# Plain HTTP to the TLS port: no HTTP answer at all.
out=$(curl -s -m 5 -w '%{http_code}' "http://127.0.0.1:$PORT/healthz" 2>&1 || true)
case "$out" in *200*|*401*) fail "plain HTTP answered on the TLS port: $out" ;; esac
pass "plain HTTP to the TLS port refused (curl got '$out')"
# Certificate verification works from the client side (right name, right CA).
curl -s -o /dev/null "$URL/healthz" && fail "server certificate accepted without its CA"
pass "server certificate is the configured one"
no_anonymous_exec "$PID"
stop_exporter

# --- mutual TLS and a protocol floor
cat >mtls.yml <<YML
tls_server_config:
  cert_file: server.crt
  key_file: server.key
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: ca.crt
  min_version: TLS13
YML
start_exporter log2 "${ARGS[@]}" --web.config.file=mtls.yml
URL=https://localhost:$PORT
[ "$(code --cert client.crt --key client.key "$URL/metrics")" = 200 ] || fail "client certificate not accepted"
pass "client certificate signed by client_ca_file: 200"
[ "$(code "$URL/metrics")" = 000 ] || fail "no client certificate must fail the handshake"
[ "$(code --cert expired.crt --key expired.key "$URL/metrics")" = 000 ] || fail "expired client certificate accepted"
pass "no or expired client certificate: handshake refused"
[ "$(code --cert client.crt --key client.key --tls-max 1.2 "$URL/metrics")" = 000 ] || fail "TLS 1.2 accepted below min_version TLS13"
pass "TLS 1.2 refused with min_version TLS13"
no_anonymous_exec "$PID"
stop_exporter

# --- optional client certificates, a protocol ceiling, extra response headers
cat >optional.yml <<YML
tls_server_config:
  cert_file: server.crt
  key_file: server.key
  client_auth_type: VerifyClientCertIfGiven
  client_ca_file: ca.crt
  max_version: TLS12
http_server_config:
  headers:
    Strict-Transport-Security: max-age=31536000
    X-Frame-Options: deny
YML
start_exporter log3 "${ARGS[@]}" --web.config.file=optional.yml
URL=https://localhost:$PORT
[ "$(code "$URL/metrics")" = 200 ] || fail "VerifyClientCertIfGiven: no client certificate not 200"
[ "$(code --cert client.crt --key client.key "$URL/metrics")" = 200 ] || fail "VerifyClientCertIfGiven: good certificate not 200"
[ "$(code --cert expired.crt --key expired.key "$URL/metrics")" = 000 ] || fail "VerifyClientCertIfGiven: expired certificate accepted"
pass "VerifyClientCertIfGiven: none or a valid client certificate 200, an expired one refused"
[ "$(code --tlsv1.3 "$URL/metrics")" = 000 ] || fail "TLS 1.3 accepted above max_version TLS12"
pass "TLS 1.3 refused with max_version TLS12"
hdrs=$(curl -s -D - -o /dev/null --cacert ca.crt "$URL/metrics")
grep -qi '^Strict-Transport-Security: max-age=31536000' <<<"$hdrs" || fail "http_server_config.headers not sent: $hdrs"
grep -qi '^X-Frame-Options: deny' <<<"$hdrs" || fail "second configured header not sent"
grep -qi '^X-Content-Type-Options: nosniff' <<<"$hdrs" || fail "nosniff missing"
pass "http_server_config.headers sent with every response, beside nosniff"
no_anonymous_exec "$PID"
stop_exporter

# --- bad setups: exit 2, message names the problem
expect_start_error() {  # expect_start_error <name> <expected message part> <yaml>
  printf '%s\n' "$3" >"$1.yml"
  set +e
  timeout 20 "$EXPORTER" --web.listen-address=127.0.0.1:0 "${ARGS[@]}" --web.config.file="$1.yml" >"$1.log" 2>&1
  local rc=$?
  set -e
  [ $rc = 2 ] || { cat "$1.log" >&2; fail "$1: exit $rc, want 2"; }
  grep -q -- "$2" "$1.log" || { cat "$1.log" >&2; fail "$1: message lacks '$2'"; }
  pass "$1: exit 2, '$(grep -o -- "$2.*" "$1.log" | head -1 | cut -c1-90)'"
}
expect_start_error expired "certificate expired" "tls_server_config: {cert_file: expired.crt, key_file: expired.key}"
expect_start_error wrongkey "does not match" "tls_server_config: {cert_file: server.crt, key_file: stray.key}"
expect_start_error missing "nothere.crt" "tls_server_config: {cert_file: nothere.crt, key_file: server.key}"
expect_start_error notacert "cannot load certificate" "tls_server_config: {cert_file: web.yml, key_file: server.key}"
expect_start_error badca "client_ca_file" "tls_server_config: {cert_file: server.crt, key_file: server.key, client_ca_file: web.yml}"
expect_start_error plainpw "not a bcrypt hash" "basic_auth_users: {prometheus: s3cret}"
# TLS 1.0 and 1.1: accepted by OpenSSL's version bounds, then every such handshake failed (internal-error alert).
expect_start_error tls10 "min_version: TLS10 cannot be served" "tls_server_config: {cert_file: server.crt, key_file: server.key, min_version: TLS10}"
expect_start_error tls11 "min_version: TLS11 cannot be served" "tls_server_config: {cert_file: server.crt, key_file: server.key, min_version: TLS11, max_version: TLS11}"
expect_start_error typo "unknown key" "tls_server_confg: {cert_file: server.crt, key_file: server.key}"
expect_start_error yaml "YAML" "tls_server_config: [cert_file"
set +e
timeout 20 "$EXPORTER" --web.listen-address=127.0.0.1:0 "${ARGS[@]}" --web.config.file=/nonexistent.yml >nofile.log 2>&1
rc=$?
set -e
[ $rc = 2 ] && grep -q /nonexistent.yml nofile.log || fail "missing web config file: exit $rc"
pass "missing web config file: exit 2"
echo "tls_auth_test: all checks passed"
