#include "collectors/ebpf.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <initializer_list>
#include <map>
#include <stdexcept>

#include "attribution/attribution.h"
#include "core/config.h"
#include "core/file_reader.h"
#include "core/host_paths.h"
#include "core/parse.h"
#include "epc_probes.h"

namespace epc {

namespace {

constexpr double kPage = 4096.0;

double gauge_pages(std::int64_t pages) { return pages > 0 ? static_cast<double>(pages) * kPage : 0.0; }

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  for (auto item : split_fields(s, ",")) out.emplace_back(item);
  return out;
}

class LiveSource : public EbpfSource {
 public:
  explicit LiveSource(const CollectorServices& s) {
    probes::Options o;
    const auto& paths = s.paths;
    o.kallsyms_path = paths.proc("kallsyms").string();
    o.proc_path = paths.proc().string();
    o.sys_path = paths.sys().string();
    const std::string& fentry = s.config.collector_flag("ebpf", "prefer-fentry");
    if (fentry != "true" && fentry != "false" && !fentry.empty())
      throw std::runtime_error("--collector.ebpf.prefer-fentry: expected true or false, got '" + fentry + "'");
    o.prefer_fentry = fentry != "false";
    o.disabled = split_list(s.config.collector_flag("ebpf", "disable-probes"));
    const auto& known = probes::hook_specs();
    for (const auto& d : o.disabled) {
      bool ok = std::any_of(known.begin(), known.end(), [&](const auto& h) { return d == h.name; });
      if (!ok) throw std::runtime_error("--collector.ebpf.disable-probes: unknown probe '" + d + "'");
    }
    probes_ = probes::Probes::start(o);
  }
  Result<probes::Snapshot> snapshot() override { return probes_->read(); }
  void forget_gone_cgroups(Attribution& a) override {
    std::size_t n = probes_->forget_gone_cgroups([&](std::uint64_t id) { return a.cgroup_path_for_id(id).has_value(); });
    if (n) spdlog::debug("ebpf: forgot {} gone cgroups", n);
  }

 private:
  std::unique_ptr<probes::Probes> probes_;
};

class ReplaySource : public EbpfSource {
 public:
  explicit ReplaySource(std::string path) : path_(std::move(path)) {}
  Result<probes::Snapshot> snapshot() override {
    auto text = read_file(path_);
    if (!text) return make_error("ebpf replay file: " + text.error().message, text.error().errno_value);
    auto snap = parse_ebpf_replay(*text);
    if (!snap) return make_error(path_ + ": " + snap.error().message);
    return snap;
  }

 private:
  std::string path_;
};

class EbpfCollector : public Collector {
 public:
  EbpfCollector(std::unique_ptr<EbpfSource> source, const CollectorServices& s)
      : source_(std::move(source)), paths_(s.paths), attribution_(s.attribution) {}

  Status collect(MetricSink& sink) override {
    auto snap = source_->snapshot();
    if (!snap) return snap.error();
    write_ebpf_metrics(*snap, attribution_, epc_capacity_bytes(paths_), sink);
    source_->forget_gone_cgroups(attribution_);
    return Status::Ok();
  }

 private:
  std::unique_ptr<EbpfSource> source_;
  const HostPaths& paths_;
  Attribution& attribution_;
};

}  // namespace

std::unique_ptr<EbpfSource> make_live_ebpf_source(const CollectorServices& services) {
  return std::make_unique<LiveSource>(services);
}

std::unique_ptr<EbpfSource> make_replay_ebpf_source(std::string path) {
  return std::make_unique<ReplaySource>(std::move(path));
}

std::optional<std::uint64_t> epc_capacity_bytes(const HostPaths& paths) {
  auto nodes = list_dir(paths.sys("devices/system/node"));
  if (!nodes) return std::nullopt;
  std::optional<std::uint64_t> total;
  for (const auto& n : *nodes) {
    if (n.rfind("node", 0) != 0) continue;
    auto v = read_u64_file(paths.sys("devices/system/node/" + n + "/x86/sgx_total_bytes"));
    if (v) total = total.value_or(0) + *v;
  }
  return total;
}

void write_ebpf_metrics(const probes::Snapshot& s, Attribution& attribution, std::optional<std::uint64_t> capacity,
                        MetricSink& sink) {
  for (const auto& p : s.probes)
    sink.gauge("sgx_exporter_probe_attached", "1 if the SGX probe is attached, 0 if not (see sgx_exporter_probe_info).",
               {{"probe", p.name}}, p.attached ? 1 : 0);
  for (const auto& p : s.probes)
    sink.info("sgx_exporter_probe_info", "SGX probe: hooked function, attach type and why it is off.",
              {{"probe", p.name}, {"function", p.function}, {"attach_type", p.attach_type}, {"reason", p.reason}});
  if (!s.any_attached()) return;  // no SGX probes: no data, not a failure

  // A metric is written only when the probes behind it are attached: a switched-off probe must not look like
  // "nothing happened" (0).
  auto on = [&](std::initializer_list<const char*> names) {
    for (const char* n : names) {
      bool found = false;
      for (const auto& p : s.probes) found = found || (p.name == n && p.attached);
      if (!found) return false;
    }
    return true;
  };

  // Per workload; cgroups that resolve to the same labels (e.g. unknown ones) are summed.
  std::map<Labels, probes::WorkloadCounters> per;
  for (const auto& w : s.workloads) {
    Workload wl = w.cgroup_path.empty() ? attribution.resolve_cgroup_id(w.cgroup_id)
                                        : attribution.resolve_cgroup_path(w.cgroup_path);
    per[wl.labels()] += w.counters;
  }
  using Counters = probes::WorkloadCounters;
  auto each = [&](bool enabled, auto&& fn) {
    if (enabled)
      for (const auto& [labels, c] : per) fn(labels, c);
  };
  const bool lifecycle = on({"encl_create", "encl_release"});
  each(lifecycle, [&](const Labels& l, const Counters& c) {
    sink.gauge("sgx_enclaves", "Live enclaves created by the workload.", l, c.enclaves > 0 ? c.enclaves : 0);
  });
  each(lifecycle, [&](const Labels& l, const Counters& c) {
    sink.gauge("sgx_enclave_size_bytes", "Sum of the declared sizes (SECS size) of the workload's live enclaves.", l,
               c.size_bytes > 0 ? static_cast<double>(c.size_bytes) : 0);
  });
  each(lifecycle && on({"epc_alloc", "epc_free"}), [&](const Labels& l, const Counters& c) {
    sink.gauge("sgx_epc_resident_bytes", "EPC held by the workload's enclaves now, incl. SECS and VA pages.", l,
               gauge_pages(c.resident_pages));
  });
  each(lifecycle && on({"ewb", "eldu"}), [&](const Labels& l, const Counters& c) {
    sink.gauge("sgx_epc_swapped_bytes", "Enclave pages evicted from EPC (EWB) and not loaded back.", l,
               gauge_pages(c.swapped_pages));
  });
  each(on({"ewb"}), [&](const Labels& l, const Counters& c) {
    sink.counter("sgx_epc_evicted_pages_total", "Enclave pages evicted from EPC (EWB).", l,
                 static_cast<double>(c.evicted_pages));
  });
  each(on({"eldu"}), [&](const Labels& l, const Counters& c) {
    sink.counter("sgx_epc_loaded_back_pages_total", "Evicted enclave pages loaded back into EPC (ELDU).", l,
                 static_cast<double>(c.loaded_back_pages));
  });
  each(on({"page_fault"}), [&](const Labels& l, const Counters& c) {
    sink.counter("sgx_enclave_page_faults_total", "Enclave page faults (sgx_vma_fault).", l,
                 static_cast<double>(c.page_faults));
  });
  each(on({"page_fault"}), [&](const Labels& l, const Counters& c) {
    sink.counter("sgx_enclave_page_fault_seconds_total", "Seconds spent in enclave page faults (EPC paging stall).",
                 l, static_cast<double>(c.page_fault_ns) / 1e9);
  });
  each(on({"epc_alloc"}), [&](const Labels& l, const Counters& c) {
    sink.counter("sgx_epc_alloc_failures_total", "Failed EPC page allocations.", l,
                 static_cast<double>(c.alloc_failures));
  });

  // A driver that did not initialise (no SGX CPU) has no sysfs capacity and 0 free pages: no EPC, not "EPC full".
  if (s.free_pages && (capacity || *s.free_pages > 0)) {
    double free_bytes = static_cast<double>(std::max<std::int64_t>(*s.free_pages, 0)) * kPage;
    sink.gauge("sgx_epc_free_bytes", "Free EPC of the node (the kernel's sgx_nr_free_pages).", {}, free_bytes);
    if (capacity)
      sink.gauge("sgx_epc_used_bytes", "EPC in use on the node (capacity - free).", {},
                 std::max(0.0, static_cast<double>(*capacity) - free_bytes));
  }
  if (on({"reclaim"})) {
    sink.counter("sgx_epc_reclaim_passes_total", "EPC reclaim passes (sgx_reclaim_pages) by reclaimer.",
                 {{"reclaimer", "ksgxd"}}, static_cast<double>(s.reclaim_ksgxd));
    sink.counter("sgx_epc_reclaim_passes_total", "EPC reclaim passes (sgx_reclaim_pages) by reclaimer.",
                 {{"reclaimer", "direct"}}, static_cast<double>(s.reclaim_direct));
  }
  if (on({"vepc_fault", "vepc_free", "epc_alloc", "epc_free"}))
    sink.gauge("sgx_vepc_bytes", "EPC handed to KVM guests through /dev/sgx_vepc.", {}, gauge_pages(s.vepc_pages));

  if (s.program_stats_enabled) {
    for (const auto& p : s.programs)
      sink.counter("sgx_exporter_bpf_program_runs_total", "Runs of the BPF program (kernel BPF stats).",
                   {{"program", p.program}}, static_cast<double>(p.run_count));
    for (const auto& p : s.programs)
      sink.counter("sgx_exporter_bpf_program_run_seconds_total", "Time spent in the BPF program (kernel BPF stats).",
                   {{"program", p.program}}, static_cast<double>(p.run_time_ns) / 1e9);
  }
  for (const auto& m : s.maps)
    sink.gauge("sgx_exporter_bpf_map_entries", "Entries in the BPF map now.", {{"map", m.map}},
               static_cast<double>(m.entries));
  for (const auto& m : s.maps)
    sink.gauge("sgx_exporter_bpf_map_max_entries", "Bound of the BPF map.", {{"map", m.map}},
               static_cast<double>(m.max_entries));
  for (const auto& [reason, n] : s.dropped)
    sink.counter("sgx_exporter_bpf_dropped_events_total", "Probe events not recorded, by reason.", {{"reason", reason}},
                 static_cast<double>(n));
}

std::unique_ptr<Collector> make_ebpf_collector_from(std::unique_ptr<EbpfSource> source,
                                                    const CollectorServices& services) {
  return std::make_unique<EbpfCollector>(std::move(source), services);
}

std::unique_ptr<Collector> make_ebpf_collector(const CollectorServices& services) {
  const std::string& replay = services.config.collector_flag("ebpf", "replay-file");
  if (!replay.empty()) {
    spdlog::warn("ebpf: replaying {} instead of probing the kernel (test/demo mode)", replay);
    return make_ebpf_collector_from(make_replay_ebpf_source(replay), services);
  }
  return make_ebpf_collector_from(make_live_ebpf_source(services), services);
}

}  // namespace epc
