// kretprobes made through tracefs with an explicit maxactive, and the housekeeping of their events.
//
// The kernel keeps `maxactive` return instances per kretprobe and misses the return of every call beyond them that
// is in flight at once. Created through the perf kprobe PMU (libbpf's way) it takes the default: max(10, 2 x
// possible CPUs) since 5.18, but on 5.15 kernels without CONFIG_PREEMPTION (PREEMPT_NONE or PREEMPT_VOLUNTARY, as
// Ubuntu's) only num_possible_cpus() (5.15 kernel/kprobes.c:2023-2028). sgx_vma_fault and sgx_encl_eldu sleep on the
// enclave's mutex and its backing pages, so more threads than CPUs are inside them under paging and returns were
// lost (the emulated 5.15 kernel, one CPU: 18,213 of 37,496 sgx_encl_eldu returns). A tracefs kretprobe event
// ("r<N>:group/event func") sets N.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "host/result.h"
#include "libbpf_owners.h"

namespace epc::probes {

inline constexpr int kKretprobeMaxactive = 1024;  // trace_kprobe's upper bound is 4096 (KRETPROBE_MAXACTIVE_MAX)
// Events of a running exporter are in group epc_exporter_<pid>; those of pinned state (they outlive the process) in
// epc_exporter_p<layout id> (pinned_state.h).
inline constexpr const char* kTracefsGroupPrefix = "epc_exporter_";
inline constexpr const char* kPinnedGroupPrefix = "epc_exporter_p";

struct TracefsKretprobe {
  std::string tracefs;  // directory with kprobe_events
  std::string group, event;
};

// The tracefs directory under sys_path whose kprobe_events we may write; "" when none.
std::string tracefs_dir(const std::string& sys_path);

// One write to a tracefs control file (kprobe_events takes a definition or a removal per write). The error carries
// the errno: EBUSY is an event still in use.
Status append_line(const std::string& path, const std::string& line);

// The events listed in <tracefs>/kprobe_events ("r1024:epc_exporter_123/kr_eldu sgx_encl_eldu"): group and event of
// each well-formed line.
struct KprobeEvent {
  std::string group, event;
  std::string removal() const { return "-:" + group + "/" + event + "\n"; }
};
std::vector<KprobeEvent> read_kprobe_events(const std::string& tracefs);

// Asks tracefs to delete the event (the kernel refuses while it is in use: EBUSY). Best effort: an event left
// behind is removed by the next instance (remove_stale_tracefs_events).
void remove_tracefs_event(const TracefsKretprobe& e);

// Removes from <tracefs>/kprobe_events the kretprobe events of exporters that died without removing them
// (SIGKILL, OOM): groups epc_exporter_<pid> whose pid is not alive under proc_path, and the group of our own pid
// (call it before making any: a container's exporter is pid 1 at every restart). Returns how many it asked to
// remove.
std::size_t remove_stale_tracefs_events(const std::string& tracefs, const std::string& proc_path);

// The kretprobe program `prog` on `func` with maxactive = kKretprobeMaxactive; an error when tracefs refuses, and
// the caller falls back to the PMU (default maxactive). `made` is the event it made.
Result<LinkPtr> attach_kretprobe_tracefs(bpf_program* prog, const std::string& func, const std::string& tracefs,
                                         const std::string& group, TracefsKretprobe& made);

// Returns missed by each of our kretprobe events (kprobe_profile), by program (event) name.
std::map<std::string, std::uint64_t> kretprobe_misses(const std::vector<TracefsKretprobe>& events);

}  // namespace epc::probes
