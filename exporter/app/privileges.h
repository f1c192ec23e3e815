// Least privilege after start-up. The exporter needs root-level capabilities only to load and attach its BPF
// probes (CAP_BPF, CAP_PERFMON or CAP_SYS_ADMIN) and to read kallsyms addresses while probing; once the
// collectors are built it holds the BPF object and map fds, and reading the misc cgroup files, sysfs,
// /proc/<pid>/cgroup and the kubelet's log directories needs no capability; reading maps through held fds needs
// none on Linux 6.5+ (CAP_BPF before, see steady_state_capabilities). So every other capability is dropped from the effective, permitted, inheritable, ambient and bounding sets, and
// no_new_privs is set, before the HTTP server starts its threads (capabilities are per thread; threads created
// afterwards inherit the empty sets).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "host/result.h"

namespace epc {

struct CapabilityState {
  unsigned long long effective = 0, permitted = 0, inheritable = 0, bounding = 0, ambient = 0;
  bool no_new_privs = false;
};

// The calling thread's capability sets, from /proc/thread-self/status.
Result<CapabilityState> read_capability_state();

// Drops every capability except those in `keep` (capability numbers, e.g. CAP_NET_BIND_SERVICE) and sets
// no_new_privs. Works unprivileged too (then there is nothing to drop and the bounding set stays as it is).
// Fails when another thread of the process already exists (it would keep its capabilities) unless
// allow_threads is set.
Status drop_capabilities(const std::vector<int>& keep = {}, bool allow_threads = false);

// What the steady state still needs. Only one case: before Linux 6.5 every bpf() command, map lookups through
// fds the process already holds included, failed with EPERM without CAP_BPF (or CAP_SYS_ADMIN) while
// kernel.unprivileged_bpf_disabled was non-zero (Debian and most distributions default to 2). So CAP_BPF is kept
// when BPF objects are held, the kernel is older than 6.5 and the sysctl is set; nothing otherwise.
std::vector<int> steady_state_capabilities(std::string_view kernel_release, int unprivileged_bpf_disabled,
                                           bool holds_bpf_objects);

// True when one of the process's fds is a BPF program, map or link (anon_inode:bpf-*).
bool process_holds_bpf_objects();

// kernel.unprivileged_bpf_disabled, or 2 when unreadable (the safe assumption).
int unprivileged_bpf_disabled();

// "0" or a list of names, e.g. "cap_net_bind_service".
std::string capability_names(unsigned long long mask);

}  // namespace epc
