// The ebpf collector: per-workload EPC residency and paging, node EPC and probe health, from the SGX probes
// (probes/). Split in two: a source yields a plain Snapshot (live: the BPF maps; replay: a committed text file,
// a test/demo seam selected by --collector.ebpf.replay-file), and write_ebpf_metrics() turns it into metrics
// with pod attribution.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "core/collector.h"
#include "core/result.h"
#include "epc_snapshot.h"

namespace epc {

class Attribution;

std::unique_ptr<Collector> make_ebpf_collector(const CollectorServices& services);

class EbpfSource {
 public:
  virtual ~EbpfSource() = default;
  virtual Result<probes::Snapshot> snapshot() = 0;
  // Drops per-cgroup state of cgroups that are gone and hold nothing live (live source only).
  virtual void forget_gone_cgroups(Attribution&) {}
};

// Live source: loads and attaches the probes (never fails; probes that cannot attach report why).
std::unique_ptr<EbpfSource> make_live_ebpf_source(const CollectorServices& services);
// Replay source: reads and parses the file on every scrape.
std::unique_ptr<EbpfSource> make_replay_ebpf_source(std::string path);

// Replay file format, one record a line ('#' comments, blank lines ignored; key=value fields in any order):
//   probe <name> <function> <attach_type|-> attached|"off: <reason>"
//   workload <cgroup path> enclaves=N size_bytes=N resident_pages=N swapped_pages=N evicted_pages=N
//            loaded_back_pages=N page_faults=N page_fault_ns=N alloc_failures=N
//   node free_pages=N reclaim_ksgxd=N reclaim_direct=N vepc_pages=N
//   dropped <reason> N
//   map <name> entries=N max_entries=N
//   program <name> runs=N run_ns=N        (program stats are reported only when a program line exists)
Result<probes::Snapshot> parse_ebpf_replay(std::string_view text);

// Node EPC capacity: sum of sys/devices/system/node/node*/x86/sgx_total_bytes; nullopt when there is none.
std::optional<std::uint64_t> epc_capacity_bytes(const HostPaths& paths);

void write_ebpf_metrics(const probes::Snapshot& snapshot, Attribution& attribution,
                        std::optional<std::uint64_t> capacity_bytes, MetricSink& sink);

std::unique_ptr<Collector> make_ebpf_collector_from(std::unique_ptr<EbpfSource> source,
                                                    const CollectorServices& services);

}  // namespace epc
