#!/usr/bin/env bash
# Builds the .deb with scripts/build-deb.sh into <deb dir>/build (a Release build of its own) and records its
# path in <deb dir>/deb-path for lintian_test.sh and install_test.sh (CTest fixture epc_deb).
# usage: deb_build_test.sh <source dir> <deb dir>
set -euo pipefail
TOP=$1
DIR=$2
. "$(dirname "$0")/common.sh"
need_tools "scripts/install-deps.sh installs it" dpkg-deb dpkg-shlibdeps help2man
mkdir -p "$DIR"
rm -f "$DIR/deb-path"
if ! BUILD_DIR="$DIR/build" "$TOP/scripts/build-deb.sh" >"$DIR/build-deb.out" 2>"$DIR/build-deb.log"; then
  tail -50 "$DIR/build-deb.log" >&2
  echo "FAIL: scripts/build-deb.sh failed; full log: $DIR/build-deb.log" >&2
  exit 1
fi
deb=$(tail -1 "$DIR/build-deb.out")
case $deb in /*.deb) ;; *) echo "FAIL: last line of stdout is not a .deb's absolute path: '$deb'" >&2; exit 1 ;; esac
[ -f "$deb" ] || { echo "FAIL: $deb does not exist" >&2; exit 1; }
grep '^build-deb: Depends:' "$DIR/build-deb.log" || true
dpkg-deb --info "$deb"
dpkg-deb --contents "$deb"
echo "$deb" >"$DIR/deb-path"
echo "ok: built $deb ($(du -h "$deb" | cut -f1))"
