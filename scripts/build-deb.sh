#!/usr/bin/env bash
# Builds the Debian package epc-exporter_<version>_<arch>.deb: a Release build of the programs (epc_exporter,
# epctop, epc_bench with its enclave inside the binary: `epc_bench --validate` checks the exporter on an SGX node;
# no tests) in build-deb/ (or $BUILD_DIR), stripped as dh_strip does, staged with the systemd unit and defaults of
# deploy/systemd/, man pages from their --help (help2man) and Depends from dpkg-shlibdeps, packed with dpkg-deb. The
# debug symbols go apart, as Debian ships them: epc-exporter-dbgsym_<version>_<arch>.deb beside it
# (/usr/lib/debug/.build-id/xx/yyyy.debug, found by gdb through the binaries' build ids). The version is the CMake
# project version. Build output goes to stderr; stdout has one line, the .deb's absolute path.
# usage: scripts/build-deb.sh    (BUILD_DIR, JOBS, DEB_MAINTAINER="Name <email>" override the defaults; EPC_REVISION
# names the source revision where the tree has no .git, e.g. in a container build)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(realpath -m "${BUILD_DIR:-$top/build-deb}")
jobs=${JOBS:-$(nproc)}
log() { echo "build-deb: $*" >&2; }

for tool in cmake dpkg-deb dpkg-shlibdeps dpkg-buildflags dpkg-architecture help2man gzip strip objcopy readelf; do
  command -v "$tool" >/dev/null || { log "$tool not found (scripts/install-deps.sh test installs it)"; exit 1; }
done

# Debian's hardening flags (what dpkg-buildpackage would pass); run from the source tree for -ffile-prefix-map.
cd "$top"
export DEB_BUILD_MAINT_OPTIONS=hardening=+all
cppflags=$(dpkg-buildflags --get CPPFLAGS)
cflags=$(dpkg-buildflags --get CFLAGS)
cxxflags=$(dpkg-buildflags --get CXXFLAGS)
ldflags=$(dpkg-buildflags --get LDFLAGS)
revision=${EPC_REVISION:-$(git -C "$top" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)}
log "configuring $build"
# No -Werror in a package build (Debian practice: a newer compiler's new warning must not break the package),
# even under CI=true; the main build gates warnings.
cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=Release -DEPC_BUILD_TESTS=OFF -DEPC_BUILD_BENCH=ON -DEPC_WERROR=OFF \
  -DEPC_REVISION="$revision" \
  -DCMAKE_C_FLAGS="$cppflags $cflags" -DCMAKE_CXX_FLAGS="$cppflags $cxxflags" \
  -DCMAKE_EXE_LINKER_FLAGS="$ldflags" -DCMAKE_SHARED_LINKER_FLAGS="$ldflags" -DCMAKE_MODULE_LINKER_FLAGS="$ldflags" >&2
# The programs the package ships, and where the build puts them.
declare -A programs=([epc_exporter]=exporter/epc_exporter [epctop]=epctop/epctop [epc_bench]=bench/epc_bench)
log "building ${!programs[*]}"
cmake --build "$build" -j"$jobs" $(printf -- '--target %s ' "${!programs[@]}") >&2

version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")
[ -n "$version" ] || { log "no CMAKE_PROJECT_VERSION in $build/CMakeCache.txt"; exit 1; }
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
# Reproducible: file times, gzip headers and the man page date come from the last commit.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$top" log -1 --format=%ct 2>/dev/null || date +%s)}
maintainer=${DEB_MAINTAINER:-"$(git -C "$top" config user.name 2>/dev/null || echo epc_exporter maintainers) <$(git -C "$top" config user.email 2>/dev/null || echo root@localhost)>"}
pkg=epc-exporter
bin="$build/exporter/epc_exporter"
"$bin" --version | grep -qF "version $version " || { log "$bin --version does not say $version"; exit 1; }
"$build/epctop/epctop" --version | grep -qxF "epctop $version" || { log "epctop --version does not say $version"; exit 1; }

stage="$build/deb/root"
dbgstage="$build/deb/dbgsym"
rm -rf "$build/deb"
mkdir -p "$stage/DEBIAN" "$dbgstage/DEBIAN"
doc="$stage/usr/share/doc/$pkg"
install -d "$stage/usr/bin" "$stage/lib/systemd/system" "$stage/etc/default" "$stage/usr/share/man/man1" "$doc"
# What dh_strip does with a -dbgsym package: the debug sections into /usr/lib/debug/.build-id/<xx>/<rest>.debug
# (compressed), the binary stripped and linked to that file.
build_ids=()
for name in "${!programs[@]}"; do
  built="$build/${programs[$name]}"
  id=$(readelf -n "$built" | sed -n 's/^ *Build ID: *//p')
  [ -n "$id" ] || { log "$built has no build id"; exit 1; }
  build_ids+=("$id")
  debug="$dbgstage/usr/lib/debug/.build-id/${id:0:2}/${id:2}.debug"
  install -d "$(dirname "$debug")"
  objcopy --only-keep-debug --compress-debug-sections "$built" "$debug"
  chmod 0644 "$debug"
  strip --remove-section=.comment --remove-section=.note --strip-unneeded -o "$stage/usr/bin/$name" "$built"
  objcopy --add-gnu-debuglink="$debug" "$stage/usr/bin/$name"
  chmod 0755 "$stage/usr/bin/$name"
done
install -m 0644 "$top/deploy/systemd/epc-exporter.service" "$stage/lib/systemd/system/epc-exporter.service"
install -m 0644 "$top/deploy/systemd/epc-exporter.default" "$stage/etc/default/epc-exporter"

# --version-string: help2man would take the name from "epc_exporter, version ..." with its comma.
help2man --no-info --section=1 --source="epc_exporter $version" --version-string="$version" \
  --name="Prometheus exporter for Intel SGX EPC usage and paging, per pod" \
  --include="$top/deploy/systemd/epc_exporter.h2m" "$stage/usr/bin/epc_exporter" >"$build/deb/epc_exporter.1"
gzip -9n <"$build/deb/epc_exporter.1" >"$stage/usr/share/man/man1/epc_exporter.1.gz"
help2man --no-info --section=1 --source="epc_exporter $version" --version-string="$version" \
  --name="live terminal view of an epc_exporter's EPC usage and paging" "$stage/usr/bin/epctop" >"$build/deb/epctop.1"
gzip -9n <"$build/deb/epctop.1" >"$stage/usr/share/man/man1/epctop.1.gz"
help2man --no-info --section=1 --source="epc_exporter $version" --version-string="$version" \
  --name="check the exporter on an SGX node (--validate); EPC paging cost benchmark" \
  "$stage/usr/bin/epc_bench" >"$build/deb/epc_bench.1"
gzip -9n <"$build/deb/epc_bench.1" >"$stage/usr/share/man/man1/epc_bench.1.gz"

changelog_date=$(date -u -R -d "@$SOURCE_DATE_EPOCH")
gzip -9n >"$doc/changelog.gz" <<CHANGELOG
$pkg ($version) unstable; urgency=medium

  * Built by scripts/build-deb.sh from git revision $revision.

 -- $maintainer  $changelog_date
CHANGELOG
years=$(git -C "$top" log --format=%cd --date=format:%Y 2>/dev/null | sort -u | sed -n '1p;$p' | uniq | paste -sd- || true)
years=${years:-$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y)}
cat >"$doc/copyright" <<COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: epc_exporter
Comment: The epc_exporter source tree carries no license file. Its BPF programs
 (probes/, embedded in /usr/bin/epc_exporter) are GPL-2.0, as their SPDX headers
 say; no license has been stated for the rest.

Files: *
Copyright: $years the epc_exporter authors
License: none-stated
 No license has been stated for these files.

Files: probes/*
Copyright: $years the epc_exporter authors
License: GPL-2
 This program is free software; you can redistribute it and/or modify it under
 the terms of the GNU General Public License version 2 as published by the Free
 Software Foundation.
 .
 On Debian systems, the complete text of the GNU General Public License version 2
 can be found in '/usr/share/common-licenses/GPL-2'.
COPYRIGHT

# Maintainer scripts: what dh_installsystemd writes for a unit that is neither enabled nor started on install
# (`systemctl enable --now epc-exporter` is the admin's call: the service loads BPF programs into the kernel), but
# restarted on upgrade when running, stopped on removal, and forgotten on purge.
cat >"$stage/DEBIAN/postinst" <<'SCRIPT'
#!/bin/sh
set -e
if [ "$1" = "configure" ] || [ "$1" = "abort-upgrade" ] || [ "$1" = "abort-deconfigure" ] || [ "$1" = "abort-remove" ]; then
	if command -v deb-systemd-helper >/dev/null; then
		# On upgrade, keep an enabled unit enabled; on a first install, was-enabled is true and would enable it.
		if deb-systemd-helper debian-installed epc-exporter.service &&
			deb-systemd-helper --quiet was-enabled epc-exporter.service; then
			deb-systemd-helper enable epc-exporter.service >/dev/null || true
		fi
		deb-systemd-helper update-state epc-exporter.service >/dev/null || true
	fi
	if [ -z "${DPKG_ROOT:-}" ] && [ -d /run/systemd/system ]; then
		systemctl --system daemon-reload >/dev/null || true
		if [ -n "$2" ] && command -v deb-systemd-invoke >/dev/null; then
			deb-systemd-invoke try-restart epc-exporter.service >/dev/null || true
		fi
	fi
fi
exit 0
SCRIPT
cat >"$stage/DEBIAN/prerm" <<'SCRIPT'
#!/bin/sh
set -e
if [ -z "${DPKG_ROOT:-}" ] && [ "$1" = remove ] && [ -d /run/systemd/system ] && command -v deb-systemd-invoke >/dev/null; then
	deb-systemd-invoke stop epc-exporter.service >/dev/null || true
fi
exit 0
SCRIPT
cat >"$stage/DEBIAN/postrm" <<'SCRIPT'
#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
	systemctl --system daemon-reload >/dev/null || true
fi
if [ "$1" = purge ] && command -v deb-systemd-helper >/dev/null; then
	deb-systemd-helper purge epc-exporter.service >/dev/null || true
fi
exit 0
SCRIPT
chmod 0755 "$stage/DEBIAN/postinst" "$stage/DEBIAN/prerm" "$stage/DEBIAN/postrm"
echo /etc/default/epc-exporter >"$stage/DEBIAN/conffiles"

# Depends: the shared libraries the binary links, as the Debian packages that provide them say.
mkdir -p "$build/deb/shlibs/debian"
printf 'Source: %s\n\nPackage: %s\nArchitecture: any\n' "$pkg" "$pkg" >"$build/deb/shlibs/debian/control"
depends=$(cd "$build/deb/shlibs" && dpkg-shlibdeps -O "$stage"/usr/bin/* | sed -n 's/^shlibs:Depends=//p')
[ -n "$depends" ] || { log "dpkg-shlibdeps found no dependencies"; exit 1; }

installed_size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat >"$stage/DEBIAN/control" <<CONTROL
Package: $pkg
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $installed_size
Depends: $depends
Section: net
Priority: optional
Description: Prometheus exporter for Intel SGX EPC usage and paging, per pod
 epc_exporter reports how much Enclave Page Cache (EPC) the SGX enclaves on a
 node hold, per Kubernetes pod and container, and how hard they are paging:
 eBPF probes on the in-kernel SGX driver, plus sysfs, CPUID and cgroup readers.
 .
 The package ships a hardened systemd unit, epc-exporter.service, which is not
 enabled on install; its flags are in /etc/default/epc-exporter. epctop is a
 live terminal view of an exporter's metrics, per pod, container or enclave.
 epc_bench --validate checks the exporter's numbers on an SGX node against
 enclaves it creates and pages itself.
CONTROL
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) \
  >"$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/md5sums" "$stage/DEBIAN/conffiles"
find "$stage" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

deb="$build/${pkg}_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >&2

# The -dbgsym package, as debhelper makes it: its doc directory a link to the package's.
install -d "$dbgstage/usr/share/doc"
ln -s "$pkg" "$dbgstage/usr/share/doc/$pkg-dbgsym"
cat >"$dbgstage/DEBIAN/control" <<CONTROL
Package: $pkg-dbgsym
Source: $pkg
Version: $version
Auto-Built-Package: debug-symbols
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $(du -sk --exclude=DEBIAN "$dbgstage" | cut -f1)
Depends: $pkg (= $version)
Section: debug
Priority: optional
Description: debug symbols for $pkg
Build-Ids: ${build_ids[*]}
CONTROL
(cd "$dbgstage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) \
  >"$dbgstage/DEBIAN/md5sums"
chmod 0644 "$dbgstage/DEBIAN/control" "$dbgstage/DEBIAN/md5sums"
find "$dbgstage" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
dbgsym="$build/${pkg}-dbgsym_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$dbgstage" "$dbgsym" >&2
log "Depends: $depends"
log "$(du -h "$deb" | cut -f1) $deb"
log "$(du -h "$dbgsym" | cut -f1) $dbgsym (debug symbols)"
echo "$deb"
