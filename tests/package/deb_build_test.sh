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
# Shipped stripped, the debug symbols apart in the -dbgsym package under the binaries' build ids.
dbgsym=${deb/epc-exporter_/epc-exporter-dbgsym_}
[ -f "$dbgsym" ] || { echo "FAIL: no $dbgsym beside the package" >&2; exit 1; }
x="$DIR/contents"
rm -rf "$x" && mkdir -p "$x" && dpkg-deb -x "$deb" "$x/pkg" && dpkg-deb -x "$dbgsym" "$x/dbg"
for b in epc_exporter epctop; do
  f="$x/pkg/usr/bin/$b"
  [ -x "$f" ] || { echo "FAIL: no /usr/bin/$b in the package" >&2; exit 1; }
  if readelf -S "$f" | grep -qE '\.debug_|\.symtab'; then echo "FAIL: /usr/bin/$b is not stripped" >&2; exit 1; fi
  id=$(readelf -n "$f" | sed -n 's/^ *Build ID: *//p')
  debug="$x/dbg/usr/lib/debug/.build-id/${id:0:2}/${id:2}.debug"
  [ -f "$debug" ] && readelf -S "$debug" | grep -q '\.debug_info' ||
    { echo "FAIL: no debug info for /usr/bin/$b (build id $id) in $dbgsym" >&2; exit 1; }
  readelf -p .gnu_debuglink "$f" | grep -qF "${id:2}.debug" || { echo "FAIL: /usr/bin/$b has no debuglink" >&2; exit 1; }
  echo "ok: /usr/bin/$b stripped ($(du -h "$f" | cut -f1)); its debug symbols in the -dbgsym package ($(du -h "$debug" | cut -f1))"
done
dpkg-deb -f "$dbgsym" Depends | grep -qx "epc-exporter (= $(dpkg-deb -f "$deb" Version))" ||
  { echo "FAIL: $dbgsym does not depend on its package's version" >&2; exit 1; }
echo "$deb" >"$DIR/deb-path"
echo "ok: built $deb ($(du -h "$deb" | cut -f1)) and $(basename "$dbgsym") ($(du -h "$dbgsym" | cut -f1))"
