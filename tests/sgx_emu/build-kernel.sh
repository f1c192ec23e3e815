#!/usr/bin/env bash
# Builds (or finds in the cache) an SGX-emulating test kernel: Debian's linux-source-6.1 / linux-source-6.12, or the
# 5.15.100 tree in shared/kernels, with kernel/<series>.patch and kernel/emu.c applied and kernel/config merged
# into tinyconfig. The cache lives outside the repository and is keyed by (source version, patch, emu.c, config,
# the recipe version below), so a changed input builds a new kernel and an unchanged one is never rebuilt.
#
# Usage: build-kernel.sh 6.1|6.12|5.15     last line of stdout: the cache directory holding
#        bzImage, vmlinux.btf (raw BTF, for libbpf's btf_custom_path), System.map, config, build-seconds, release
# Env:   EPC_KERNEL_CACHE (default /var/cache/epc-exporter/kernels), EPC_SHARED_DIR (default <repo>/../shared,
#        else /work/shared)
# Exit:  0 built or cached, 1 build failed, 77 sources not available (offline, no cached package)
set -euo pipefail
# The whole script is one function, parsed before it runs: editing this file during a build cannot derail it.
main() {
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
series=${1:?usage: build-kernel.sh 6.1|6.12|5.15}
cache=${EPC_KERNEL_CACHE:-/var/cache/epc-exporter/kernels}
shared=${EPC_SHARED_DIR:-$top/../shared}
[ -d "$shared/kernels" ] || shared=/work/shared  # a clone outside the workplace layout
kdir=$here/kernel
mkdir -p "$cache/src"

log() { echo "build-kernel $series: $*" >&2; }

# The source: a file (Debian's .deb or the shared tarball) and its identity.
case $series in
  6.1 | 6.12)
    pkg=linux-source-$series
    deb=""
    ver=$(apt-cache policy "$pkg" 2>/dev/null | awk '/Candidate:/ {print $2}')
    if [ -z "$ver" ] || [ "$ver" = "(none)" ]; then
      apt-get update -qq >/dev/null 2>&1 || true
      ver=$(apt-cache policy "$pkg" 2>/dev/null | awk '/Candidate:/ {print $2}')
    fi
    if [ -n "$ver" ] && [ "$ver" != "(none)" ]; then
      deb=$(ls "$cache/src/${pkg}_${ver}_all.deb" 2>/dev/null || true)
      if [ -z "$deb" ]; then
        (cd "$cache/src" && apt-get download "$pkg=$ver" >/dev/null 2>&1) || true
        deb=$(ls "$cache/src/${pkg}_"*"_all.deb" 2>/dev/null | sort -V | tail -1 || true)
      fi
    fi
    [ -n "$deb" ] || deb=$(ls "$cache/src/${pkg}_"*"_all.deb" 2>/dev/null | sort -V | tail -1 || true)
    [ -n "$deb" ] || { log "cannot get $pkg (offline and nothing cached in $cache/src)"; exit 77; }
    source_id=$(basename "$deb")
    ;;
  5.15)
    tarball=$shared/kernels/linux-5.15.100-trimmed.tar.xz
    [ -f "$tarball" ] || { log "no $tarball"; exit 77; }
    source_id="$(basename "$tarball") $(stat -c %s "$tarball")"
    ;;
  *) log "unknown series (6.1, 6.12 or 5.15)"; exit 2 ;;
esac

patch=$kdir/$series.patch
[ -f "$patch" ] || { log "no patch $patch"; exit 1; }
# Bump when the build steps below change what ends up in the cache.
recipe=2
key=$( { echo "$source_id recipe $recipe"; cat "$patch" "$kdir/emu.c" "$kdir/config"; } | sha256sum | cut -c1-16)
out=$cache/$series-$key
if [ -f "$out/bzImage" ]; then
  log "cached ($out)"
  echo "$out"
  exit 0
fi

exec 9>"$cache/$series.lock"
flock 9
if [ -f "$out/bzImage" ]; then echo "$out"; exit 0; fi  # built by a concurrent run meanwhile

# The build tree is kept ($cache/tree-<series>, EPC_KERNEL_KEEP_TREE=0 removes it after a build): a later change
# of the patch, emu.c or the config is then an incremental build (the old patch reversed, the new one applied).
tree=$cache/tree-$series
buildlog=$cache/$series-last-build.log
start=$(date +%s)
src=""
if [ -f "$tree/.epc-source" ] && [ "$(cat "$tree/.epc-source")" = "$source_id" ] && [ -f "$tree/.epc-patch" ]; then
  src=$(cat "$tree/.epc-srcdir")
  if (cd "$src" && patch -R -p1 --quiet < "$tree/.epc-patch"); then
    log "incremental build in $src"
  else
    log "kept tree does not take the old patch back: extracting anew"
    src=""
  fi
fi
if [ -z "$src" ]; then
  rm -rf "$tree" && mkdir -p "$tree"
  log "extracting $source_id"
  case $series in
    5.15) tar -xJf "$tarball" -C "$tree" ;;
    *) dpkg-deb --fsys-tarfile "$deb" | tar -xO "./usr/src/$pkg.tar.xz" | xz -dc | tar -x -C "$tree" ;;
  esac
  src=$(find "$tree" -mindepth 1 -maxdepth 1 -type d | head -1)
  echo "$src" > "$tree/.epc-srcdir"
  echo "$source_id" > "$tree/.epc-source"
fi
cd "$src"
rm -f "$tree/.epc-patch"
patch -p1 --forward --quiet < "$patch"
cp "$patch" "$tree/.epc-patch"
cp "$kdir/emu.c" arch/x86/kernel/cpu/sgx/emu.c
log "configuring"
make -s tinyconfig >/dev/null
scripts/kconfig/merge_config.sh -m .config "$kdir/config" >/dev/null
make -s olddefconfig >/dev/null
missing=$(grep -E '^CONFIG_' "$kdir/config" | while read -r line; do grep -qxF "$line" .config || echo "$line"; done)
if [ -n "$missing" ]; then
  log "config options that did not survive olddefconfig:"; echo "$missing" >&2
  exit 1
fi
log "building bzImage with $(nproc) jobs"
if ! make -j"$(nproc)" bzImage > "$buildlog" 2>&1; then
  tail -40 "$buildlog" >&2
  log "build failed"
  exit 1
fi
grep -q ' sgx_emu_encls$' System.map || { log "emu.c is not in the kernel"; exit 1; }
tmp=$out.tmp
rm -rf "$tmp" && mkdir -p "$tmp"
cp arch/x86/boot/bzImage System.map "$tmp/"
cp .config "$tmp/config"
objcopy -O binary --only-section=.BTF vmlinux "$tmp/vmlinux.btf"
make -s kernelrelease > "$tmp/release"
echo $(( $(date +%s) - start )) > "$tmp/build-seconds"
rm -rf "$out" && mv "$tmp" "$out"
[ "${EPC_KERNEL_KEEP_TREE:-1}" = 1 ] || rm -rf "$tree"
log "built in $(cat "$out/build-seconds") s ($out)"
echo "$out"
}

main "$@"
exit
