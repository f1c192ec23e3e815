// What the ebpf collector reads from its source: plain values, no libbpf types. The live source (Probes::read)
// and the replay source (exporter/collectors/ebpf_replay.cpp) both produce it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace epc::probes {

struct WorkloadCounters {
  std::int64_t enclaves = 0;
  std::int64_t size_bytes = 0;
  std::int64_t resident_pages = 0;
  std::int64_t swapped_pages = 0;
  std::uint64_t evicted_pages = 0;
  std::uint64_t loaded_back_pages = 0;
  std::uint64_t page_faults = 0;
  std::uint64_t page_fault_ns = 0;
  std::uint64_t alloc_failures = 0;
  std::int64_t va_pages = 0;           // gauge: VA pages (also in resident_pages)
  std::uint64_t fault_retries = 0;     // faults returned unmapped for want of an EPC page (retried)
  std::uint64_t init_failures = 0;     // failed SGX_IOC_ENCLAVE_INIT calls

  WorkloadCounters& operator+=(const WorkloadCounters& o) {
    enclaves += o.enclaves;
    size_bytes += o.size_bytes;
    resident_pages += o.resident_pages;
    swapped_pages += o.swapped_pages;
    evicted_pages += o.evicted_pages;
    loaded_back_pages += o.loaded_back_pages;
    page_faults += o.page_faults;
    page_fault_ns += o.page_fault_ns;
    alloc_failures += o.alloc_failures;
    va_pages += o.va_pages;
    fault_retries += o.fault_retries;
    init_failures += o.init_failures;
    return *this;
  }
};

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
