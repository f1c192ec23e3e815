#!/usr/bin/env bash
# TLS and basic auth end to end, against the real binary: right credentials 200, wrong or missing 401, /healthz
# open for liveness probes, plain HTTP to the TLS port refused, client certificates enforced, protocol floor
# enforced, and bad setups (expired or mismatched certificate, missing file, plain-text password, unknown key)
# stop start-up with exit 2 and a message naming the problem.
# usage: tls_auth_test.sh <epc_exporter> <fixture rootfs>
set -euo pipefail
EXPORTER=$1
ROOTFS=$2
WORK=$(mktemp -d)
trap 'stop_exporter; rm -rf "$WORK"' EXIT
. "$(dirname "$0")/common.sh"
cd "$WORK"

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
code() { curl -s -o /dev/null -w '%{http_code}' --cacert ca.crt "$@" || true; }

# --- TLS + basic auth
start_exporter log1 "${ARGS[@]}" --web.config.file=web.yml
URL=https://localhost:$PORT
[ "$(code -u prometheus:s3cret "$URL/metrics")" = 200 ] || fail "right credentials not 200"
pass "right credentials: 200"
curl -s --cacert ca.crt -u prometheus:s3cret "$URL/metrics" | grep -q '^sgx_exporter_build_info' || fail "no metrics body"
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
expect_start_error typo "unknown key" "tls_server_confg: {cert_file: server.crt, key_file: server.key}"
expect_start_error yaml "YAML" "tls_server_config: [cert_file"
set +e
timeout 20 "$EXPORTER" --web.listen-address=127.0.0.1:0 "${ARGS[@]}" --web.config.file=/nonexistent.yml >nofile.log 2>&1
rc=$?
set -e
[ $rc = 2 ] && grep -q /nonexistent.yml nofile.log || fail "missing web config file: exit $rc"
pass "missing web config file: exit 2"
echo "tls_auth_test: all checks passed"
