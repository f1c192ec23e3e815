// The ebpf collector: per-workload EPC residency and paging, node EPC and probe health, from the SGX probes
// (probes/). Split in two: a source yields a plain Snapshot (live: the BPF maps; replay: a committed text file,
// a test/demo seam selected by --collector.ebpf.replay-file), and write_ebpf_metrics() turns it into metrics
// with pod attribution.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "collectors/registry.h"
#include "scrape/metric_sink.h"
#include "host/result.h"
#include "epc_snapshot.h"

namespace epc {

class Attribution;
class HostPaths;

// --collector.ebpf.*: declared and checked here, next to the code they configure.
struct EbpfOptions {
  bool prefer_fentry = true;                // fentry/fexit where the kernel allows it, else kprobes
  std::vector<std::string> disable_probes;  // hook names (probes::hook_specs()) left off
  std::string replay_file;                  // test/demo seam: a recorded snapshot instead of the probes
  std::string pin_path = "auto";            // bpffs directory for pinned state; "auto": <rootfs>/sys/fs/bpf/epc_exporter
  bool unpin = false;                       // remove the pinned state and exit
  bool discover = true;                     // find the enclaves that exist at start (BPF task iterators)
  std::string layout_tag;                   // test seam: mixed into the pinned state's layout id
  bool per_enclave = false;                 // per-enclave resident/swapped bytes
  unsigned max_enclaves = 1000;             // enclaves with per-enclave series, oldest first
  std::string signers_file;                 // "<MRSIGNER> <name>" lines
  std::map<std::string, std::string> signer_names;  // read from signers_file by validate()

  void flags(FlagSet& f);
  // Reads and checks the signers file (a bad one stops the start with the line at fault).
  Status validate();
};

std::unique_ptr<Collector> make_ebpf_collector(const CollectorServices& services, const EbpfOptions& options);

class EbpfSource {
 public:
  virtual ~EbpfSource() = default;
  virtual Result<probes::Snapshot> snapshot() = 0;
  // Drops per-cgroup state of cgroups that are gone and hold nothing live (live source only).
  virtual void forget_gone_cgroups(Attribution&) {}
};

// --collector.ebpf.pin-path resolved ("auto": <path.rootfs>/sys/fs/bpf/epc_exporter; "": no pinning).
std::string resolved_pin_path(const EbpfOptions& options, const HostPaths& paths);
// --collector.ebpf.unpin: removes the pinned state (every layout) and its kprobe events; logs what it did (or that
// nothing was pinned). False when something could not be removed.
bool unpin_ebpf_state(const EbpfOptions& options, const HostPaths& paths);

// Live source: loads and attaches the probes (never fails; probes that cannot attach report why).
std::unique_ptr<EbpfSource> make_live_ebpf_source(const CollectorServices& services, const EbpfOptions& options);
// Replay source: reads and parses the file on every scrape.
std::unique_ptr<EbpfSource> make_replay_ebpf_source(std::string path);

// Replay file format, one record a line ('#' comments, blank lines ignored; key=value fields in any order):
//   probe <name> <function> <attach_type|-> attached|"off: <reason>"
//   workload <cgroup path> <field>=N ...   the fields of the workload table (probes/epc_workload.h: enclaves,
//            size_bytes, resident_pages, swapped_pages, evicted_pages, ...); a field left out is 0
//   node free_pages=N reclaim_ksgxd=N reclaim_direct=N vepc_pages=N vepc_alloc_failures=N
//   dropped <reason> N
//   map <name> entries=N max_entries=N
//   program <name> runs=N run_ns=N        (program stats are reported only when a program line exists)
//   enclave <cgroup path> id=<12 hex> state=initialized|created source=kernel|user|discovered|unavailable
//           mrenclave=<64 hex> mrsigner=<64 hex> isv_prod_id=N isv_svn=N attributes=0xN xfrm=0xN miscselect=0xN
//           size_bytes=N created=<unix seconds> resident_pages=N swapped_pages=N init_failures=N
//           (mrenclave, mrsigner and the isv fields may be left out: unknown)
Result<probes::Snapshot> parse_ebpf_replay(std::string_view text);

// Node EPC capacity: sum of sys/devices/system/node/node*/x86/sgx_total_bytes; nullopt when there is none.
std::optional<std::uint64_t> epc_capacity_bytes(const HostPaths& paths);

// Per-workload values from per-cgroup ones, such that a counter never goes back for a label set:
// - a cgroup keeps the labels it first resolved to once it is gone (no jump to cgroup="unknown"); a cgroup that
//   first resolved to other labels (unknown, or a pod uid before the kubelet named the pod) hands what it counted
//   so far to those labels and counts on under the new ones;
// - a cgroup that leaves the snapshot (gone, nothing live: forgotten by the probes) leaves its counters with its
//   label set, so a container restarting in the same pod (new cgroup, same labels) continues the sum;
// - per cgroup and per label set the high-water mark is kept (a scrape that missed a release for once).
// Gauges are the plain sums of the cgroups present. A label set with no cgroup present is not reported; its
// counters are kept for `retention` and continue if the labels come back within it.
class WorkloadAggregator {
 public:
  struct Input {
    std::string key;              // one cgroup: "id:<n>" or "path:<p>"
    std::optional<Labels> labels;  // nullopt: does not resolve (gone)
    probes::WorkloadCounters counters;
  };
  explicit WorkloadAggregator(std::chrono::seconds retention = std::chrono::hours(1), std::size_t max_label_sets = 65536)
      : retention_(retention), max_label_sets_(max_label_sets) {}
  std::map<Labels, probes::WorkloadCounters> update(const std::vector<Input>& inputs,
                                                    std::chrono::steady_clock::time_point now);
  std::size_t label_sets() const { return labels_.size(); }
  std::size_t cgroups() const { return cgroups_.size(); }

 private:
  struct CgroupState {
    Labels labels;
    bool known = false;
    probes::WorkloadCounters base;  // counters already handed to earlier labels
    probes::WorkloadCounters high;  // high-water of the cgroup's own counters
  };
  struct LabelState {
    probes::WorkloadCounters retired;  // counters of cgroups that left or moved away
    probes::WorkloadCounters high;     // high-water of the reported sum
    std::chrono::steady_clock::time_point last_reported;
  };
  std::chrono::seconds retention_;
  std::size_t max_label_sets_;
  std::map<std::string, CgroupState> cgroups_;
  std::map<Labels, LabelState> labels_;
};

// Per-enclave series (sgx_enclave_info and the rest, docs/metrics.md "Enclave identity").
struct EnclaveMetricsOptions {
  bool per_enclave_bytes = false;  // --collector.ebpf.per-enclave
  std::size_t max_enclaves = 1000;  // --collector.ebpf.max-enclaves: enclaves with per-enclave series, oldest first
  std::map<std::string, std::string> signer_names;  // MRSIGNER (64 hex) -> name (--collector.ebpf.signers-file)
};
// From the collector's options (validated).
EnclaveMetricsOptions enclave_metrics_options(const EbpfOptions& options);

// s is exactly `digits` lowercase hex digits (MRENCLAVE, MRSIGNER, enclave ids).
bool is_lower_hex(std::string_view s, std::size_t digits);

// Signers file: one "<MRSIGNER, 64 hex digits> <name>" a line; '#' comments and blank lines ignored; a name is 1-64
// characters of [A-Za-z0-9._:/@+-]. Errors name the line (a duplicate MRSIGNER is one).
Result<std::map<std::string, std::string>> parse_signers_file(std::string_view text);

// aggregator: the collector's state across scrapes; null = a fresh one (plain per-label-set sums).
void write_ebpf_metrics(const probes::Snapshot& snapshot, Attribution& attribution,
                        std::optional<std::uint64_t> capacity_bytes, MetricSink& sink,
                        WorkloadAggregator* aggregator = nullptr, const EnclaveMetricsOptions& enclaves = {});

std::unique_ptr<Collector> make_ebpf_collector_from(std::unique_ptr<EbpfSource> source,
                                                    const CollectorServices& services,
                                                    EnclaveMetricsOptions enclaves = {});

}  // namespace epc
