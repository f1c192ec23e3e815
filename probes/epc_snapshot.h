// What the ebpf collector reads from its source: plain values, no libbpf types. The live source (Probes::read)
// and the replay source (exporter/collectors/ebpf_replay.cpp) both produce it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "epc_workload.h"

namespace epc::probes {

// One workload's numbers: a member per row of the workload table (epc_workload.h), gauges signed, counters
// unsigned.
struct WorkloadCounters {
#define EPC_CXX_TYPE_GAUGE std::int64_t
#define EPC_CXX_TYPE_COUNTER std::uint64_t
#define EPC_CXX_MEMBER(field, kind, ...) EPC_CXX_TYPE_##kind field = 0;
  EPC_WORKLOAD_FIELDS(EPC_CXX_MEMBER)
#undef EPC_CXX_MEMBER

  WorkloadCounters& operator+=(const WorkloadCounters& o) {
#define EPC_CXX_ADD(field, ...) field += o.field;
    EPC_WORKLOAD_FIELDS(EPC_CXX_ADD)
#undef EPC_CXX_ADD
    return *this;
  }
};

// Calls fn(a.f, b.f) for every counter (COUNTER row: monotonic, std::uint64_t), resp. every gauge (GAUGE row,
// std::int64_t): element-wise max / add / subtract of the counters, sums of the gauges.
#define EPC_CXX_IF_COUNTER_COUNTER(field) fn(a.field, b.field);
#define EPC_CXX_IF_COUNTER_GAUGE(field)
#define EPC_CXX_IF_GAUGE_COUNTER(field)
#define EPC_CXX_IF_GAUGE_GAUGE(field) fn(a.field, b.field);
template <class Fn>
void for_each_counter(WorkloadCounters& a, const WorkloadCounters& b, Fn fn) {
#define EPC_CXX_EACH(field, kind, ...) EPC_CXX_IF_COUNTER_##kind(field)
  EPC_WORKLOAD_FIELDS(EPC_CXX_EACH)
#undef EPC_CXX_EACH
}
template <class Fn>
void for_each_gauge(WorkloadCounters& a, const WorkloadCounters& b, Fn fn) {
#define EPC_CXX_EACH(field, kind, ...) EPC_CXX_IF_GAUGE_##kind(field)
  EPC_WORKLOAD_FIELDS(EPC_CXX_EACH)
#undef EPC_CXX_EACH
}

// The rows of the workload table as values, for the code that treats every number alike: the replay keys, the
// metric writes.
struct WorkloadField {
  enum class Scale { kAsIs, kPagesToBytes, kNsToSeconds };
  const char* name;    // the member, and the replay file's key
  const char* metric;
  const char* help;
  Scale scale;
  const char* probes;  // hooks the metric needs, space-separated
  std::int64_t WorkloadCounters::*gauge;     // a GAUGE row: its member, else null
  std::uint64_t WorkloadCounters::*counter;  // a COUNTER row: its member, else null
  // The metric's value of a workload: scaled; a gauge below 0 (a scrape racing an event) is 0.
  double value(const WorkloadCounters& c) const {
    double v = gauge ? static_cast<double>(c.*gauge > 0 ? c.*gauge : 0) : static_cast<double>(c.*counter);
    switch (scale) {
      case Scale::kPagesToBytes: return v * 4096.0;
      case Scale::kNsToSeconds: return v / 1e9;
      case Scale::kAsIs: break;
    }
    return v;
  }
};
#define EPC_CXX_GAUGE_PTR_GAUGE(field) &WorkloadCounters::field
#define EPC_CXX_GAUGE_PTR_COUNTER(field) nullptr
#define EPC_CXX_COUNTER_PTR_GAUGE(field) nullptr
#define EPC_CXX_COUNTER_PTR_COUNTER(field) &WorkloadCounters::field
#define EPC_CXX_SCALE_AS_IS WorkloadField::Scale::kAsIs
#define EPC_CXX_SCALE_PAGES_TO_BYTES WorkloadField::Scale::kPagesToBytes
#define EPC_CXX_SCALE_NS_TO_SECONDS WorkloadField::Scale::kNsToSeconds
#define EPC_CXX_FIELD(field, kind, where, metric, help, scale, probes) \
  {#field, metric, help, EPC_CXX_SCALE_##scale, probes, EPC_CXX_GAUGE_PTR_##kind(field), EPC_CXX_COUNTER_PTR_##kind(field)},
inline constexpr WorkloadField kWorkloadFields[] = {EPC_WORKLOAD_FIELDS(EPC_CXX_FIELD)};
#undef EPC_CXX_FIELD

// One cgroup that created enclaves: by id (live) or by path (replay).
struct WorkloadEntry {
  std::uint64_t cgroup_id = 0;
  std::string cgroup_path;  // set by the replay source; the live one resolves ids through Attribution
  // Live source: the path the probes recorded when the cgroup created its first enclave ("/kubepods.slice/...";
  // empty when none was recorded). Used when the id no longer resolves (the cgroup is gone).
  std::string recorded_path;
  WorkloadCounters counters;
};

// One live enclave: what it is (issue "which enclaves run where"; probes/epc_identity.bpf.h).
struct EnclaveIdentity {
  std::string id;              // 12 hex digits, stable for the enclave's life (never a kernel address)
  std::uint64_t cgroup_id = 0;  // live source: the creating task's cgroup
  std::string cgroup_path;     // replay source
  std::string recorded_path;   // live source: the path the probes recorded for cgroup_id ("" when none)
  bool initialized = false;    // SGX_IOC_ENCLAVE_INIT succeeded (or the enclave was found initialised)
  // Where the SIGSTRUCT fields come from: "kernel" (the kernel's copy EINIT checked), "user" (the ioctl's user
  // buffer), "discovered" (found at start-up: the SIGSTRUCT is gone), "unavailable" (the reads failed).
  std::string source;
  std::string mrenclave;       // 64 lowercase hex digits, "" when unknown
  std::string mrsigner;        // SHA-256 of the signer's modulus, 64 hex digits, "" when unknown
  std::optional<std::uint16_t> isv_prod_id, isv_svn;
  std::uint64_t attributes = 0;  // SECS.ATTRIBUTES
  std::uint64_t xfrm = 0;
  std::uint32_t miscselect = 0;
  std::uint64_t size_bytes = 0;
  double created_unix = 0;     // seconds since the epoch; 0 when unknown
  std::int64_t resident_pages = 0;
  std::int64_t swapped_pages = 0;
  std::uint64_t init_failures = 0;  // failed INIT calls on this enclave

  static constexpr std::uint64_t kAttrDebug = 1u << 1, kAttrMode64Bit = 1u << 2, kAttrProvisionKey = 1u << 4,
                                 kAttrEinitTokenKey = 1u << 5, kAttrKss = 1u << 7;
};

struct ProbeState {
  std::string name;         // e.g. "epc_alloc"
  std::string function;     // kernel function hooked
  std::string attach_type;  // "fentry", "kprobe" or "" when off
  bool attached = false;
  std::string reason;       // why it is off ("" when attached)
};

struct ProgramStats {
  std::string program;
  std::uint64_t run_count = 0;
  std::uint64_t run_time_ns = 0;
};

// How the probes' state came to be (sgx_exporter_ebpf_state_info).
struct StateInfo {
  bool pinned = false;     // maps and links are pinned in bpffs: they outlive this process
  bool reused = false;     // an earlier instance's pinned state was taken over (counters continue)
  std::string discovery;   // "iterator": pre-existing enclaves were searched at start; "not_needed": reused
                           // state; "unavailable": could not search (reason logged); "off": by configuration
  std::string layout;      // layout id of the state ("" without pinning)
};

struct MapFill {
  std::string map;
  std::uint64_t entries = 0;
  std::uint64_t max_entries = 0;
};

struct Snapshot {
  std::vector<WorkloadEntry> workloads;
  std::vector<EnclaveIdentity> enclaves;  // live enclaves whose identity the probes hold
  std::optional<std::int64_t> free_pages;  // sgx_nr_free_pages, when it could be read
  std::uint64_t reclaim_ksgxd = 0;
  std::uint64_t reclaim_direct = 0;
  std::int64_t vepc_pages = 0;
  std::uint64_t vepc_alloc_failures = 0;
  std::map<std::string, std::uint64_t> dropped;  // reason -> events
  std::vector<ProbeState> probes;
  // Returns missed by each kretprobe program attached through tracefs (kprobe_profile), by program name.
  std::map<std::string, std::uint64_t> kretprobe_misses;
  bool program_stats_enabled = false;  // kernel.bpf_stats_enabled
  std::vector<ProgramStats> programs;
  std::vector<MapFill> maps;
  StateInfo state;
  std::uint64_t enclaves_created = 0;     // live enclaves whose creation the probes saw
  std::uint64_t enclaves_discovered = 0;  // live enclaves found at start-up (they existed before the probes)
  std::uint64_t discovery_skipped = 0;    // enclaves found at start-up but left untracked (too large, read failed)
  bool any_attached() const {
    for (const auto& p : probes)
      if (p.attached) return true;
    return false;
  }
};

// Names of enum epc_drop_reason, in order.
inline const char* const kDropReasons[] = {"enclave_map_full", "cgroup_map_full", "inflight_map_full",
                                           "untracked_enclave", "va_map_full"};

}  // namespace epc::probes
