// SPDX-License-Identifier: GPL-2.0
/* Empty programs on a cheap system call (cloudflare/ebpf_exporter's benchmark/ method): what the attach mechanism
 * alone costs per call, for bench_probe_cost (tests/bpf/cost_parts.cpp). x86-64 syscall wrapper name, 4.17+. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

SEC("fentry/__x64_sys_getpid")
int fe_empty(void *ctx) { return 0; }

SEC("fexit/__x64_sys_getpid")
int fx_empty(void *ctx) { return 0; }

SEC("kprobe/__x64_sys_getpid")
int kp_empty(void *ctx) { return 0; }

SEC("kretprobe/__x64_sys_getpid")
int kr_empty(void *ctx) { return 0; }
