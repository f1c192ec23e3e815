#!/usr/bin/env bash
# lintian on the .deb of deb_build_test.sh and its -dbgsym package: the whole output is printed; errors (E:) fail
# the test, warnings and the rest do not. Then systemd-analyze verify on the unit as the package installs it, man
# page link included.
# usage: lintian_test.sh <deb dir>
set -euo pipefail
DIR=$1
. "$(dirname "$0")/common.sh"
need_tools "scripts/install-deps.sh installs it" lintian
need_deb "$DIR"
deb=$(cat "$DIR/deb-path")

dbgsym=${deb/epc-exporter_/epc-exporter-dbgsym_}
rc=0
out=$(lintian --display-info --pedantic --fail-on none "$deb" "$dbgsym" 2>&1) || rc=$?
echo "--- lintian $(lintian --version | awk '{print $2}') --display-info --pedantic $deb $dbgsym (exit $rc)"
echo "${out:-(no tags)}"
echo "---"
[ "$rc" = 0 ] || fail "lintian itself failed (exit $rc)"
if echo "$out" | grep -q '^E: '; then fail "lintian errors"; fi
echo "ok: no lintian errors ($(echo "$out" | grep -c '^W: ' || true) warnings)"

if command -v systemd-analyze >/dev/null && [ -d /lib/systemd/system ]; then
  root="$DIR/unpacked"
  rm -rf "$root"
  dpkg-deb -x "$deb" "$root"
  mkdir -p "$root/lib/systemd/system"
  cp -an /lib/systemd/system/. "$root/lib/systemd/system/"
  out=$(MANPATH="$root/usr/share/man" systemd-analyze verify --root="$root" epc-exporter.service 2>&1) ||
    fail "systemd-analyze verify on the package: $out"
  [ -z "$out" ] || fail "systemd-analyze verify on the package said: $out"
  echo "ok: systemd-analyze verify on the packaged unit, man:epc_exporter(1) found"
else
  echo "note: systemd-analyze not found, packaged unit not verified"
fi
