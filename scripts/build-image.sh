#!/usr/bin/env bash
# Builds the container image epc-exporter:<version> offline: no base image is pulled. The exporter is the one of
# the Debian package (scripts/build-deb.sh: Release, Debian's hardening flags, stripped); the runtime root holds
# exactly the packages of that .deb's Depends (dpkg-shlibdeps) and their dependencies, extracted by mmdebstrap
# from the Debian archive (no dpkg, apt or shell in the image), without docs, man pages, locales and iconv
# modules, with each package's copyright file and a dpkg status.d entry so image scanners see the versions.
# The root is cached as a tarball under $EPC_IMAGE_CACHE (default /var/cache/epc-exporter/image), keyed by the
# package list and this recipe; delete it to pick up Debian updates. The image is imported with `podman import`,
# entry point, user and OCI labels (version, revision, source, title, created) set with --change.
# Build output goes to stderr; the last line of stdout is the image reference.
# usage: scripts/build-image.sh [--push]
#   IMAGE_REPO   registry prefix, e.g. myregistry.azurecr.io/sgx (default none: epc-exporter:<version>, which podman
#                stores as localhost/epc-exporter:<version>); --push pushes the reference (podman login first)
#   SUITE (bookworm), BUILD_DIR, JOBS, SOURCE_URL (default: git remote origin), EPC_IMAGE_CACHE
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
suite=${SUITE:-bookworm}
cache=${EPC_IMAGE_CACHE:-/var/cache/epc-exporter/image}
push=false
log() { echo "build-image: $*" >&2; }
case "${1:-}" in
  --push) push=true ;;
  "") ;;
  *) log "usage: $0 [--push]"; exit 2 ;;
esac
for tool in mmdebstrap podman dpkg-deb tar sha256sum ldconfig; do
  command -v "$tool" >/dev/null || { log "$tool not found (scripts/install-deps.sh test installs it)"; exit 1; }
done
[ "$(id -u)" = 0 ] || { log "run as root (mmdebstrap extracts root-owned files; rootful podman)"; exit 1; }

deb=$("$top/scripts/build-deb.sh" | tail -1)
version=$(dpkg-deb -f "$deb" Version)
# Depends without version constraints, the first of any alternatives: "libc6 (>= 2.34), a | b" -> libc6,a
packages=$(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed 's/|.*//; s/(.*)//; s/[[:space:]]//g' | grep . | sort -u |
  paste -sd,)
revision=$(git -C "$top" rev-parse HEAD 2>/dev/null || echo unknown)
if [ "$revision" != unknown ] && [ -n "$(git -C "$top" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
  revision=$revision-dirty
fi
source_url=${SOURCE_URL:-$(git -C "$top" remote get-url origin 2>/dev/null || true)}
created=$(date -u -d "@$(git -C "$top" log -1 --format=%ct 2>/dev/null || date +%s)" +%Y-%m-%dT%H:%M:%SZ)
ref=${IMAGE_REPO:+${IMAGE_REPO%/}/}epc-exporter:$version

# ---- the runtime root, cached
# Bump v when the recipe below changes: the key is what makes a cached root trustworthy.
recipe="mmdebstrap --variant=extract --include=$packages $suite; strip docs,locale,man,gconv; status.d; passwd; no /dev; v2"
key=$(echo "$recipe" | sha256sum | cut -c1-16)
base=$cache/rootfs-$key.tar
mkdir -p "$cache"
exec 9>"$cache/rootfs-$key.lock"
flock 9
if [ ! -s "$base" ]; then
  log "creating $base ($recipe)"
  tmp=$(mktemp -d "$cache/rootfs-$key.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  # extract-hook: the downloaded .debs are still in the root's apt cache; record each as dpkg would
  # (status.d, the layout distroless images use and scanners read) and keep its copyright file.
  if ! mmdebstrap --variant=extract --include="$packages" \
      --extract-hook='mkdir -p "$1/var/lib/dpkg/status.d"; for d in "$1"/var/cache/apt/archives/*.deb; do
        p=$(dpkg-deb -f "$d" Package); { dpkg-deb -f "$d" Package Version Architecture Source Multi-Arch; echo "Status: install ok installed"; } >"$1/var/lib/dpkg/status.d/$p"; done' \
      "$suite" "$tmp/root" >"$tmp/mmdebstrap.log" 2>&1; then
    tail -20 "$tmp/mmdebstrap.log" >&2
    log "mmdebstrap $suite failed (no Debian mirror reachable?); log above"
    exit 1
  fi
  r=$tmp/root
  find "$r/usr/share/doc" -mindepth 2 ! -name copyright -delete 2>/dev/null || true
  find "$r/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
  rm -rf "$r"/usr/share/{locale,man,info,lintian,gdb,gcc,bug} "$r"/usr/lib/x86_64-linux-gnu/gconv \
    "$r"/etc/apt "$r"/etc/dpkg "$r"/var/cache/apt "$r"/var/lib/apt "$r"/var/log/* "$r"/etc/hostname "$r"/etc/resolv.conf \
    "$r"/etc/fstab
  find "$r/dev" -mindepth 1 -delete  # the runtime mounts /dev
  find "$r/var/lib/dpkg" -mindepth 1 -maxdepth 1 ! -name status.d -exec rm -rf {} +
  printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' >"$r/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$r/etc/group"
  echo 'include /etc/ld.so.conf.d/*.conf' >"$r/etc/ld.so.conf"
  ldconfig -r "$r"
  install -d -m 0755 "$r/host" "$r/root"
  install -d -m 1777 "$r/tmp"
  tar -C "$r" --sort=name --numeric-owner --owner=0 --group=0 --mtime=@0 \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime -cf "$tmp/rootfs.tar" .
  mv "$tmp/rootfs.tar" "$base"
  rm -rf "$tmp"
  trap - EXIT
else
  log "cached runtime root $base"
fi
flock -u 9

# ---- the image: the cached root plus the packaged binaries and their copyright file
work=$(mktemp -d "${TMPDIR:-/var/tmp}/epc-image.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/root"
tar -C "$work/root" -xf "$base"
# epc_bench too: deploy/validate/job.yaml runs `epc_bench --validate` from this image.
dpkg-deb --fsys-tarfile "$deb" |
  tar -C "$work/root" -x ./usr/bin/epc_exporter ./usr/bin/epctop ./usr/bin/epc_bench \
    ./usr/share/doc/epc-exporter/copyright
# The image's own loader and libraries, not the host's: every library the binaries need is in the root. epctop is
# there for `kubectl exec -it <pod> -- epctop` (it reads the exporter's /metrics on 127.0.0.1:9840).
chroot "$work/root" /usr/bin/epc_exporter --version >&2 || { log "the exporter does not run in the image root"; exit 1; }
chroot "$work/root" /usr/bin/epctop --version >&2 || { log "epctop does not run in the image root"; exit 1; }
chroot "$work/root" /usr/bin/epc_bench --help >/dev/null || { log "epc_bench does not run in the image root"; exit 1; }
old_id=$(podman image inspect --format '{{.Id}}' "$ref" 2>/dev/null || true)
# uid 0 in the container: deploy/README.md, "Container image" says why.
id=$(tar -C "$work/root" --sort=name --numeric-owner --owner=0 --group=0 --mtime="$created" -c . |
  podman import \
    --change 'ENTRYPOINT ["/usr/bin/epc_exporter"]' \
    --change 'CMD ["--path.rootfs=/host"]' \
    --change 'USER 0:0' \
    --change 'WORKDIR /' \
    --change 'EXPOSE 9840/tcp' \
    --change 'STOPSIGNAL SIGTERM' \
    --change "LABEL org.opencontainers.image.title=epc_exporter" \
    --change "LABEL org.opencontainers.image.description=\"Prometheus exporter for Intel SGX EPC usage and paging, per pod\"" \
    --change "LABEL org.opencontainers.image.version=$version" \
    --change "LABEL org.opencontainers.image.revision=$revision" \
    --change "LABEL org.opencontainers.image.created=$created" \
    ${source_url:+--change "LABEL org.opencontainers.image.source=$source_url"} \
    --change "LABEL org.opencontainers.image.ref.name=$version" \
    --message "epc_exporter $version ($revision), runtime from Debian $suite: $packages" \
    - "$ref" 2>&1 | tail -1)
[ -n "$source_url" ] || log "no git remote origin and no SOURCE_URL: label org.opencontainers.image.source left off"
if [ -n "$old_id" ] && [ "$old_id" != "$(podman image inspect --format '{{.Id}}' "$ref")" ]; then
  podman image rm "$old_id" >/dev/null 2>&1 || true
fi
size=$(podman image inspect --format '{{.Size}}' "$ref")
log "image $ref ${id#sha256:}: $((size / 1024 / 1024)) MiB ($size bytes); packages: $packages"
if $push; then
  podman push "$ref" >&2
fi
# The reference as podman names it (epc-exporter:0.1.0 is stored as localhost/epc-exporter:0.1.0).
podman image inspect --format '{{range .RepoTags}}{{println .}}{{end}}' "$ref" | grep -Fx -e "$ref" -e "localhost/$ref" | head -1
