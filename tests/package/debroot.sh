# Sourced by install_test.sh and systemd_test.sh: a clean Debian root made by mmdebstrap, cached under
# $EPC_DEBROOT_CACHE (default /var/cache/epc-exporter) as debroot-<hash of how it was made>, package lists kept so
# that apt can install into it again; the .debs apt fetches are cached beside it (debroot-<hash>-archives).
# debroot <suite> <comma-separated extra packages>: sets BASE and ARCHIVES, or skips (77) when mmdebstrap fails.
debroot() {
  local suite=$1 include=$2 cache=${EPC_DEBROOT_CACHE:-/var/cache/epc-exporter}
  local recipe="mmdebstrap --variant=apt --include=$include --skip=cleanup/apt/lists $suite v1"
  local key
  key=$(echo "$recipe" | sha256sum | cut -c1-12)
  BASE="$cache/debroot-$key"
  ARCHIVES="$cache/debroot-$key-archives"
  mkdir -p "$cache" "$ARCHIVES/partial"
  exec 9>"$cache/debroot-$key.lock"
  flock 9
  if [ ! -e "$BASE/.complete" ]; then
    echo "creating $BASE ($recipe)"
    rm -rf "$BASE.tmp" "$BASE"
    if ! mmdebstrap --variant=apt --include="$include" --skip=cleanup/apt/lists "$suite" "$BASE.tmp" \
        >"$cache/debroot-$key.log" 2>&1; then
      tail -20 "$cache/debroot-$key.log"
      rm -rf "$BASE.tmp"
      echo "SKIP: mmdebstrap $suite failed (no Debian mirror reachable?); log: $cache/debroot-$key.log"
      exit 77
    fi
    touch "$BASE.tmp/.complete"
    mv "$BASE.tmp" "$BASE"
  else
    echo "cached root $BASE"
  fi
  flock -u 9
}

# Run inside a private mount namespace: overlay <work>/root on BASE (writes go to <work>/upper), proc, the archive
# cache, resolv.conf, then `apt-get install` of <work>/pkg.deb (apt-get update and again if the cached lists are
# stale). usage: overlay_install <base> <archives> <work>
overlay_install() {
  local base=$1 archives=$2 work=$3
  local root=$work/root
  mount -t overlay overlay -o "lowerdir=$base,upperdir=$work/upper,workdir=$work/ovl" "$root"
  mount --bind "$archives" "$root/var/cache/apt/archives"
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  cp "$work/pkg.deb" "$root/tmp/pkg.deb"
  echo "== apt-get install /tmp/pkg.deb"
  if ! DEBIAN_FRONTEND=noninteractive LC_ALL=C chroot "$root" apt-get install -y --no-install-recommends /tmp/pkg.deb; then
    echo "== cached package lists stale? apt-get update, then again"
    LC_ALL=C chroot "$root" apt-get update
    DEBIAN_FRONTEND=noninteractive LC_ALL=C chroot "$root" apt-get install -y --no-install-recommends /tmp/pkg.deb
  fi
  umount "$root/var/cache/apt/archives"
}
