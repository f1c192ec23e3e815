#!/usr/bin/env bash
# Writes vmlinux.h for the BPF build: from the build host's BTF, else from a Debian kernel BTF in shared/kernels.
# The SGX structs are not taken from here (core_fixes.bpf.h declares them), so any recent x86-64 kernel's BTF works.
set -euo pipefail
bpftool=$1 out=$2 src_root=$3
tmp=$(mktemp)
trap 'rm -f "$tmp" "$tmp.btf"' EXIT
if [ -r /sys/kernel/btf/vmlinux ]; then
  "$bpftool" btf dump file /sys/kernel/btf/vmlinux format c > "$tmp"
else
  btf_xz=""
  for d in "$src_root/../shared/kernels" /work/shared/kernels; do
    f=$(ls "$d"/debian-6.1*.btf.xz 2>/dev/null | head -1 || true)
    if [ -n "$f" ]; then btf_xz=$f; break; fi
  done
  if [ -z "$btf_xz" ]; then
    echo "gen_vmlinux_h: no /sys/kernel/btf/vmlinux and no shared/kernels/debian-6.1*.btf.xz" >&2
    exit 1
  fi
  xz -dc "$btf_xz" > "$tmp.btf"
  "$bpftool" btf dump file "$tmp.btf" format c > "$tmp"
fi
mv "$tmp" "$out"
