#include "collectors/ebpf.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <map>

#include "attribution/attribution.h"
#include "host/file_reader.h"
#include "host/host_paths.h"
#include "host/log_fields.h"
#include "host/parse.h"
#include "epc_probes.h"

namespace epc {

namespace {

constexpr double kPage = 4096.0;

double gauge_pages(std::int64_t pages) { return pages > 0 ? static_cast<double>(pages) * kPage : 0.0; }

}  // namespace

void EbpfOptions::flags(FlagSet& f) {
  f.add_bool("prefer-fentry", "Attach with fentry/fexit where the kernel allows it, else with kprobes.", prefer_fentry);
  f.add_list("disable-probes", "PROBES",
             "Comma-separated probes to leave off, named as in sgx_exporter_probe_attached (docs/probes.md).",
             disable_probes, [](std::string_view name) -> Status {
               const auto& known = probes::hook_specs();
               if (std::none_of(known.begin(), known.end(), [&](const auto& h) { return name == h.name; })) {
                 std::string all;
                 for (const auto& h : known) all += std::string(all.empty() ? "" : ", ") + h.name;
                 return make_error("unknown probe '" + std::string(name) + "' (probes: " + all + ")");
               }
               return {};
             });
  f.add_string("replay-file", "FILE",
               "Test and demo seam: serve a recorded probe snapshot (text, re-read every scrape) instead of probing "
               "the kernel.",
               replay_file);
  f.add_string("pin-path", "PATH",
               "bpffs directory for the probes' pinned maps and links, which keep counting across exporter restarts "
               "and are taken over by the next instance of the same version; 'auto' is "
               "<path.rootfs>/sys/fs/bpf/epc_exporter, '' no pinning.",
               pin_path, [](std::string_view v) -> Status {
                 if (v == "auto" || v.empty() || v.front() == '/') return {};
                 return make_error("expected an absolute path, 'auto' or '', got '" + std::string(v) + "'");
               });
  f.add_bool("unpin", "Remove the pinned state (maps, links, their kprobe events) under the pin path and exit.",
             unpin);
  f.add_bool("discover",
             "At a start without pinned state, find the enclaves that already exist (BPF task iterators).", discover);
  f.add_string("layout-tag", "TAG",
               "Test seam: mixed into the pinned state's layout id (simulates an upgrade that changes it).",
               layout_tag);
  f.add_bool("per-enclave",
             "Also export each enclave's declared size and its resident and swapped EPC bytes "
             "(sgx_enclave_declared_size_bytes, sgx_enclave_epc_*_bytes).",
             per_enclave);
  f.add_uint("max-enclaves", "N",
             "Enclaves with per-enclave series (sgx_enclave_info and the rest), the oldest first; the others are "
             "counted in sgx_exporter_ebpf_enclave_series_dropped.",
             max_enclaves, 0, 65536);
  f.add_string("signers-file", "FILE",
               "File of '<MRSIGNER hex> <name>' lines: sgx_enclave_info{signer} names known signers.", signers_file);
}

Status EbpfOptions::validate() {
  signer_names.clear();
  if (signers_file.empty()) return {};
  auto text = read_file(signers_file, 1 << 20);
  if (!text) return make_error("--collector.ebpf.signers-file " + signers_file + ": " + text.error().message);
  auto names = parse_signers_file(*text);
  if (!names) return make_error("--collector.ebpf.signers-file " + signers_file + ": " + names.error().message);
  signer_names = std::move(*names);
  return {};
}

std::string resolved_pin_path(const EbpfOptions& o, const HostPaths& paths) {
  if (o.pin_path == "auto") return (paths.sys() / "fs/bpf/epc_exporter").string();
  return o.pin_path;
}

bool unpin_ebpf_state(const EbpfOptions& o, const HostPaths& paths) {
  const std::string path = resolved_pin_path(o, paths);
  if (path.empty()) {
    spdlog::error("--collector.ebpf.unpin: --collector.ebpf.pin-path is empty: nothing to remove");
    return false;
  }
  const probes::UnpinOutcome r = probes::unpin_all(path, paths.sys().string());
  if (!r.status) {
    spdlog::error("{}", log_fields("unpin: not everything was removed", {{"collector", "ebpf"},
                                                                         {"pin_path", path},
                                                                         {"removed", std::to_string(r.removed)},
                                                                         {"err", r.status.error().message}}));
    return false;
  }
  if (r.removed == 0) {
    spdlog::info("{}", log_fields("unpin: nothing was pinned", {{"collector", "ebpf"}, {"pin_path", path}}));
    return true;
  }
  spdlog::info("{}", log_fields("unpin: pinned state removed (the probes it kept attached are gone)",
                                {{"collector", "ebpf"}, {"pin_path", path}, {"removed", std::to_string(r.removed)}}));
  return true;
}

namespace {

class LiveSource : public EbpfSource {
 public:
  LiveSource(const CollectorServices& s, const EbpfOptions& eo) {
    probes::Options o;
    const auto& paths = s.paths;
    o.kallsyms_path = paths.proc("kallsyms").string();
    o.proc_path = paths.proc().string();
    o.sys_path = paths.sys().string();
    o.prefer_fentry = eo.prefer_fentry;
    o.disabled = eo.disable_probes;
    o.pin_path = resolved_pin_path(eo, paths);
    o.layout_tag = eo.layout_tag;
    o.discover = eo.discover;
    o.dev_path = paths.dev().string();
    probes_ = probes::Probes::start(o);
    for (const auto& st : probes_->states())
      spdlog::debug("{}", log_fields("probe", {{"collector", "ebpf"},
                                               {"probe", st.name},
                                               {"function", st.function},
                                               {"attach_type", st.attached ? st.attach_type : "off"},
                                               {"reason", st.reason}}));
  }
  Result<probes::Snapshot> snapshot() override { return probes_->read(); }
  void forget_gone_cgroups(Attribution& a) override {
    std::size_t n = probes_->forget_gone_cgroups([&](std::uint64_t id) { return a.cgroup_path_for_id(id).has_value(); });
    if (n)
      spdlog::debug("{}", log_fields("forgot gone cgroups", {{"collector", "ebpf"}, {"cgroups", std::to_string(n)}}));
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
  EbpfCollector(std::unique_ptr<EbpfSource> source, const CollectorServices& s, EnclaveMetricsOptions enclaves)
      : source_(std::move(source)), paths_(s.paths), attribution_(s.attribution), enclaves_(std::move(enclaves)) {}

  Status collect(MetricSink& sink) override {
    auto snap = source_->snapshot();
    if (!snap) return snap.error();
    write_ebpf_metrics(*snap, attribution_, epc_capacity_bytes(paths_), sink, &aggregator_, enclaves_);
    source_->forget_gone_cgroups(attribution_);
    return Status::Ok();
  }

 private:
  std::unique_ptr<EbpfSource> source_;
  const HostPaths& paths_;
  Attribution& attribution_;
  WorkloadAggregator aggregator_;
  EnclaveMetricsOptions enclaves_;
};

using Counters = probes::WorkloadCounters;

// The monotonic fields of WorkloadCounters (the COUNTER rows of probes/epc_workload.h), element-wise.
void max_counters(Counters& a, const Counters& b) {
  probes::for_each_counter(a, b, [](std::uint64_t& x, std::uint64_t y) { x = std::max(x, y); });
}
void add_counters(Counters& a, const Counters& b) {
  probes::for_each_counter(a, b, [](std::uint64_t& x, std::uint64_t y) { x += y; });
}
// a - b, element-wise, not below 0.
Counters sub_counters(const Counters& a, const Counters& b) {
  Counters r = a;
  probes::for_each_counter(r, b, [](std::uint64_t& x, std::uint64_t y) { x = x > y ? x - y : 0; });
  return r;
}

Labels unknown_labels() {
  Workload w;
  w.cgroup = "unknown";
  return w.labels();
}

const char* tf(bool b) { return b ? "true" : "false"; }

std::string hex_label(std::uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
  return b;
}

// The per-enclave series: sgx_enclave_info (initialised enclaves), creation time, optionally resident/swapped
// bytes; at most max_enclaves enclaves, the oldest first (a new enclave never takes an older one's series).
void write_enclave_metrics(const probes::Snapshot& s, Attribution& attribution, MetricSink& sink,
                           const EnclaveMetricsOptions& o, bool init_probe) {
  std::vector<const probes::EnclaveIdentity*> order;
  order.reserve(s.enclaves.size());
  for (const auto& e : s.enclaves) order.push_back(&e);
  std::sort(order.begin(), order.end(), [](const auto* a, const auto* b) {
    return a->created_unix != b->created_unix ? a->created_unix < b->created_unix : a->id < b->id;
  });
  const std::size_t shown = std::min(order.size(), o.max_enclaves);
  for (std::size_t i = 0; i < shown; ++i) {
    const auto& e = *order[i];
    std::optional<std::string> path;
    if (!e.cgroup_path.empty()) {
      path = e.cgroup_path;
    } else {
      path = attribution.cgroup_path_for_id(e.cgroup_id);
      if (!path && !e.recorded_path.empty()) path = e.recorded_path;
    }
    Labels l = path ? attribution.resolve_cgroup_path(*path).labels() : unknown_labels();
    l.emplace_back("enclave", e.id);
    // An enclave INIT has not made (or that failed INIT) runs nothing yet: no info. Discovered ones carry their
    // state; created ones need the INIT probe to know.
    if (e.initialized && (init_probe || e.source == "discovered")) {
      Labels info = l;
      const bool sig = !e.mrenclave.empty();
      auto it = o.signer_names.find(e.mrsigner);
      info.emplace_back("mrenclave", sig ? e.mrenclave : "unknown");
      info.emplace_back("mrsigner", sig ? e.mrsigner : "unknown");
      info.emplace_back("signer", it != o.signer_names.end() ? it->second : "");
      info.emplace_back("isv_prod_id", e.isv_prod_id ? std::to_string(*e.isv_prod_id) : "unknown");
      info.emplace_back("isv_svn", e.isv_svn ? std::to_string(*e.isv_svn) : "unknown");
      using I = probes::EnclaveIdentity;
      info.emplace_back("debug", tf(e.attributes & I::kAttrDebug));
      info.emplace_back("provision_key", tf(e.attributes & I::kAttrProvisionKey));
      info.emplace_back("mode64bit", tf(e.attributes & I::kAttrMode64Bit));
      info.emplace_back("kss", tf(e.attributes & I::kAttrKss));
      info.emplace_back("einittoken_key", tf(e.attributes & I::kAttrEinitTokenKey));
      // XFRM and MISCSELECT come from the SECS at creation: unknown for an enclave found at start-up.
      const bool secs = e.source != "discovered";
      info.emplace_back("xfrm", secs ? hex_label(e.xfrm) : "unknown");
      info.emplace_back("miscselect", secs ? hex_label(e.miscselect) : "unknown");
      info.emplace_back("source", e.source);
      sink.info("sgx_enclave_info",
                "A live, initialised enclave: its measurement (MRENCLAVE), signer (MRSIGNER), ISV fields and "
                "attributes.",
                info);
    }
    if (e.created_unix > 0)
      sink.gauge("sgx_enclave_created_timestamp_seconds",
                 "When the enclave was created (SGX_IOC_ENCLAVE_CREATE; for an enclave older than the exporter's "
                 "probes, when they found it), seconds since the epoch.",
                 l, e.created_unix);
    if (o.per_enclave_bytes) {
      sink.gauge("sgx_enclave_declared_size_bytes", "The enclave's declared size (SECS size, its ELRANGE).", l,
                 static_cast<double>(e.size_bytes));
      sink.gauge("sgx_enclave_epc_resident_bytes", "EPC held by the enclave now, incl. its SECS and VA pages.", l,
                 gauge_pages(e.resident_pages));
      sink.gauge("sgx_enclave_epc_swapped_bytes", "The enclave's pages evicted from EPC and not loaded back.", l,
                 gauge_pages(e.swapped_pages));
    }
  }
  sink.gauge("sgx_exporter_ebpf_enclave_series_dropped",
             "Live enclaves beyond --collector.ebpf.max-enclaves that have no per-enclave series.", {},
             static_cast<double>(order.size() - shown));
}

}  // namespace

bool is_lower_hex(std::string_view s, std::size_t digits) {
  return s.size() == digits && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

Result<std::map<std::string, std::string>> parse_signers_file(std::string_view text) {
  std::map<std::string, std::string> out;
  std::size_t lineno = 0;
  for (auto raw : split_lines(text)) {
    ++lineno;
    auto err = [&](const std::string& m) { return make_error("line " + std::to_string(lineno) + ": " + m); };
    auto line = trim(raw);
    if (line.empty() || line.front() == '#') continue;
    auto f = split_fields(line);
    if (f.size() != 2) return err("expected '<MRSIGNER> <name>', got " + std::to_string(f.size()) + " fields");
    std::string mr(f[0]);
    std::transform(mr.begin(), mr.end(), mr.begin(), [](unsigned char c) { return std::tolower(c); });
    if (!is_lower_hex(mr, 64)) return err("MRSIGNER must be 64 hex digits");
    const auto name = f[1];
    const bool name_ok = !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || std::strchr("._:/@+-", c) != nullptr;
    });
    if (!name_ok) return err("name must be 1-64 characters of A-Z a-z 0-9 . _ : / @ + -");
    if (!out.emplace(mr, std::string(name)).second) return err("MRSIGNER " + mr + " named twice");
  }
  return out;
}

EnclaveMetricsOptions enclave_metrics_options(const EbpfOptions& options) {
  EnclaveMetricsOptions o;
  o.per_enclave_bytes = options.per_enclave;
  o.max_enclaves = options.max_enclaves;
  o.signer_names = options.signer_names;
  return o;
}

std::map<Labels, Counters> WorkloadAggregator::update(const std::vector<Input>& inputs,
                                                      std::chrono::steady_clock::time_point now) {
  std::map<Labels, Counters> out;
  std::map<std::string, Input> merged;  // a key twice (replay files may list a cgroup twice): summed
  for (const auto& in : inputs) {
    auto [it, fresh] = merged.try_emplace(in.key, in);
    if (!fresh) it->second.counters += in.counters;
  }
  std::map<std::string, const Input*> present;
  for (const auto& [key, in] : merged) present[key] = &in;

  // Cgroups that left: their counters stay with their labels.
  for (auto it = cgroups_.begin(); it != cgroups_.end();) {
    if (present.count(it->first)) {
      ++it;
      continue;
    }
    auto& ls = labels_[it->second.labels];
    add_counters(ls.retired, sub_counters(it->second.high, it->second.base));
    if (ls.last_reported == std::chrono::steady_clock::time_point{}) ls.last_reported = now;
    it = cgroups_.erase(it);
  }

  for (const auto& [key, in] : present) {
    auto [it, fresh] = cgroups_.try_emplace(key);
    CgroupState& cs = it->second;
    if (fresh) {
      cs.labels = in->labels.value_or(unknown_labels());
      cs.known = in->labels.has_value();
    } else if (in->labels && (!cs.known || *in->labels != cs.labels)) {
      // Resolved to other labels: what it counted so far stays with the old ones.
      auto& old = labels_[cs.labels];
      add_counters(old.retired, sub_counters(cs.high, cs.base));
      if (old.last_reported == std::chrono::steady_clock::time_point{}) old.last_reported = now;
      cs.base = cs.high;
      cs.labels = *in->labels;
      cs.known = true;
    }
    max_counters(cs.high, in->counters);
    Counters& o = out[cs.labels];
    probes::for_each_gauge(o, in->counters, [](std::int64_t& x, std::int64_t y) { x += y; });
    add_counters(o, sub_counters(cs.high, cs.base));
  }

  for (auto& [labels, o] : out) {
    auto& ls = labels_[labels];
    add_counters(o, ls.retired);
    max_counters(ls.high, o);
    probes::for_each_counter(o, ls.high, [](std::uint64_t& x, std::uint64_t y) { x = y; });
    ls.last_reported = now;
  }

  // Label sets with nothing present: kept for the retention, then forgotten (oldest first beyond the bound).
  for (auto it = labels_.begin(); it != labels_.end();) {
    if (!out.count(it->first) && now - it->second.last_reported > retention_)
      it = labels_.erase(it);
    else
      ++it;
  }
  while (labels_.size() > max_label_sets_) {
    auto oldest = labels_.end();
    for (auto it = labels_.begin(); it != labels_.end(); ++it)
      if (!out.count(it->first) && (oldest == labels_.end() || it->second.last_reported < oldest->second.last_reported))
        oldest = it;
    if (oldest == labels_.end()) break;
    labels_.erase(oldest);
  }
  return out;
}

std::unique_ptr<EbpfSource> make_live_ebpf_source(const CollectorServices& services, const EbpfOptions& options) {
  return std::make_unique<LiveSource>(services, options);
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
                        MetricSink& sink, WorkloadAggregator* aggregator, const EnclaveMetricsOptions& enclaves) {
  for (const auto& p : s.probes)
    sink.gauge("sgx_exporter_probe_attached", "1 if the SGX probe is attached, 0 if not (see sgx_exporter_probe_info).",
               {{"probe", p.name}}, p.attached ? 1 : 0);
  for (const auto& p : s.probes)
    sink.info("sgx_exporter_probe_info", "SGX probe: hooked function, attach type and why it is off.",
              {{"probe", p.name}, {"function", p.function}, {"attach_type", p.attach_type}, {"reason", p.reason}});
  if (!s.any_attached()) return;  // no SGX probes: no data, not a failure

  // A metric is written only when the probes behind it (space-separated names) are attached: a switched-off probe
  // must not look like "nothing happened" (0).
  auto on = [&](std::string_view names) {
    for (auto n : split_fields(names, " ")) {
      bool found = false;
      for (const auto& p : s.probes) found = found || (p.name == n && p.attached);
      if (!found) return false;
    }
    return true;
  };

  // Per workload: cgroups that resolve to the same labels are summed, counters kept monotonic per label set.
  std::vector<WorkloadAggregator::Input> inputs;
  inputs.reserve(s.workloads.size());
  for (const auto& w : s.workloads) {
    WorkloadAggregator::Input in;
    in.counters = w.counters;
    if (w.cgroup_path.empty()) {
      in.key = "id:" + std::to_string(w.cgroup_id);
      // The live cgroup tree first; a cgroup already gone (a container that lived between two scrapes) by the
      // path the probes recorded at its first enclave.
      auto path = attribution.cgroup_path_for_id(w.cgroup_id);
      if (!path && !w.recorded_path.empty()) path = w.recorded_path;
      if (path) in.labels = attribution.resolve_cgroup_path(*path).labels();
    } else {
      in.key = "path:" + w.cgroup_path;
      in.labels = attribution.resolve_cgroup_path(w.cgroup_path).labels();
    }
    inputs.push_back(std::move(in));
  }
  WorkloadAggregator fresh;
  const auto per = (aggregator ? *aggregator : fresh).update(inputs, std::chrono::steady_clock::now());
  // A family per row of the workload table (probes/epc_workload.h), in its order, while its probes are attached.
  for (const auto& f : probes::kWorkloadFields) {
    if (!on(f.probes)) continue;
    for (const auto& [labels, c] : per) {
      if (f.gauge)
        sink.gauge(f.metric, f.help, labels, f.value(c));
      else
        sink.counter(f.metric, f.help, labels, f.value(c));
    }
  }
  const bool lifecycle = on(EPC_LIFECYCLE);
  if (lifecycle) write_enclave_metrics(s, attribution, sink, enclaves, on("encl_init"));

  // A driver that did not initialise (no SGX CPU) has no sysfs capacity and 0 free pages: no EPC, not "EPC full".
  if (s.free_pages && (capacity || *s.free_pages > 0)) {
    double free_bytes = static_cast<double>(std::max<std::int64_t>(*s.free_pages, 0)) * kPage;
    sink.gauge("sgx_epc_free_bytes", "Free EPC of the node (the kernel's sgx_nr_free_pages).", {}, free_bytes);
    if (capacity)
      sink.gauge("sgx_epc_used_bytes", "EPC in use on the node (capacity - free).", {},
                 std::max(0.0, static_cast<double>(*capacity) - free_bytes));
  }
  if (on("reclaim")) {
    sink.counter("sgx_epc_reclaim_passes_total", "EPC reclaim passes (sgx_reclaim_pages) by reclaimer.",
                 {{"reclaimer", "ksgxd"}}, static_cast<double>(s.reclaim_ksgxd));
    sink.counter("sgx_epc_reclaim_passes_total", "EPC reclaim passes (sgx_reclaim_pages) by reclaimer.",
                 {{"reclaimer", "direct"}}, static_cast<double>(s.reclaim_direct));
  }
  if (on("vepc_fault vepc_free epc_alloc epc_free"))
    sink.gauge("sgx_vepc_bytes", "EPC handed to KVM guests through /dev/sgx_vepc.", {}, gauge_pages(s.vepc_pages));
  if (on("vepc_fault epc_alloc"))
    sink.counter("sgx_vepc_alloc_failures_total", "Failed EPC page allocations for KVM guests (vEPC faults).", {},
                 static_cast<double>(s.vepc_alloc_failures));

  if (s.program_stats_enabled) {
    for (const auto& p : s.programs)
      sink.counter("sgx_exporter_bpf_program_runs_total", "Runs of the BPF program (kernel BPF stats).",
                   {{"program", p.program}}, static_cast<double>(p.run_count));
    for (const auto& p : s.programs)
      sink.counter("sgx_exporter_bpf_program_run_seconds_total", "Time spent in the BPF program (kernel BPF stats).",
                   {{"program", p.program}}, static_cast<double>(p.run_time_ns) / 1e9);
  }
  for (const auto& [program, n] : s.kretprobe_misses)
    sink.counter("sgx_exporter_kretprobe_missed_total",
                 "Returns of the hooked function the kretprobe missed (more calls in flight than its maxactive).",
                 {{"program", program}}, static_cast<double>(n));
  for (const auto& m : s.maps)
    sink.gauge("sgx_exporter_bpf_map_entries", "Entries in the BPF map now.", {{"map", m.map}},
               static_cast<double>(m.entries));
  for (const auto& m : s.maps)
    sink.gauge("sgx_exporter_bpf_map_max_entries", "Bound of the BPF map.", {{"map", m.map}},
               static_cast<double>(m.max_entries));
  for (const auto& [reason, n] : s.dropped)
    sink.counter("sgx_exporter_bpf_dropped_events_total", "Probe events not recorded, by reason.", {{"reason", reason}},
                 static_cast<double>(n));
  if (!s.state.discovery.empty()) {  // the live source (the replay has no state of its own)
    sink.gauge("sgx_exporter_ebpf_state_info",
               "How the probes' state came to be: pinned (survives exporter restarts), reused (taken over from an "
               "earlier instance, counters continued), discovery of enclaves older than the probes.",
               {{"pinned", s.state.pinned ? "true" : "false"},
                {"reused", s.state.reused ? "true" : "false"},
                {"discovery", s.state.discovery},
                {"layout", s.state.layout}},
               1);
    sink.gauge("sgx_exporter_ebpf_enclaves_tracked", "Live enclaves the probes track, by how they became known.",
               {{"origin", "created"}}, static_cast<double>(s.enclaves_created));
    sink.gauge("sgx_exporter_ebpf_enclaves_tracked", "Live enclaves the probes track, by how they became known.",
               {{"origin", "discovered"}}, static_cast<double>(s.enclaves_discovered));
    sink.gauge("sgx_exporter_ebpf_discovery_skipped",
               "Enclaves found at start-up that could not be read and stay untracked until they end.", {},
               static_cast<double>(s.discovery_skipped));
  }
}

std::unique_ptr<Collector> make_ebpf_collector_from(std::unique_ptr<EbpfSource> source,
                                                    const CollectorServices& services,
                                                    EnclaveMetricsOptions enclaves) {
  return std::make_unique<EbpfCollector>(std::move(source), services, std::move(enclaves));
}

std::unique_ptr<Collector> make_ebpf_collector(const CollectorServices& services, const EbpfOptions& options) {
  if (!options.signer_names.empty())
    spdlog::info("{}", log_fields("signer names read", {{"collector", "ebpf"},
                                                        {"file", options.signers_file},
                                                        {"names", std::to_string(options.signer_names.size())}}));
  if (!options.replay_file.empty()) {
    spdlog::warn("{}", log_fields("replaying a file instead of probing the kernel (test/demo mode: no number comes from this node)",
                                  {{"collector", "ebpf"}, {"file", options.replay_file}}));
    return make_ebpf_collector_from(make_replay_ebpf_source(options.replay_file), services,
                                    enclave_metrics_options(options));
  }
  return make_ebpf_collector_from(make_live_ebpf_source(services, options), services, enclave_metrics_options(options));
}

}  // namespace epc
