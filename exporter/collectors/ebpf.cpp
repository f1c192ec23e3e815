#include "collectors/ebpf.h"

#include <sys/stat.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <initializer_list>
#include <map>
#include <unordered_map>

#include "attribution/attribution.h"
#include "host/file_reader.h"
#include "host/host_paths.h"
#include "host/log_fields.h"
#include "host/parse.h"
#include "epc_probes.h"
#include "metricnames/metric_names.h"

namespace epc {

namespace {

// ---- metric definitions ----

constexpr LabelNames kWorkload = LabelNames::workload();

// Per workload: one definition per row of the workload table (probes/epc_workload.h), in its order; the probes
// behind a family (MetricDef::probes): while one is off, the family is not written.
#define EPC_DEF_TYPE_GAUGE MetricType::kGauge
#define EPC_DEF_TYPE_COUNTER MetricType::kCounter
#define EPC_DEF(field, kind, where, metric_, help_, unit_, scale, probes_, doc_)                                 \
  MetricDef{.name = metric_, .type = EPC_DEF_TYPE_##kind, .unit = unit_, .help = help_, .labels = kWorkload, \
            .doc = doc_, .probes = probes_},
constexpr MetricDef kWorkloadDefs[] = {EPC_WORKLOAD_FIELDS(EPC_DEF)};
#undef EPC_DEF
static_assert(std::size(kWorkloadDefs) == std::size(probes::kWorkloadFields));

// Per enclave.
constexpr MetricDef kEnclaveInfo{
    .name = metric_names::kEnclaveInfo,
    .type = MetricType::kGauge,
    .help = "A live, initialised enclave: its measurement (MRENCLAVE), signer (MRSIGNER), ISV fields and attributes.",
    .labels = LabelNames::workload({"enclave", "mrenclave", "mrsigner", "signer", "isv_prod_id", "isv_svn", "debug",
                                    "provision_key", "mode64bit", "kss", "einittoken_key", "xfrm", "miscselect",
                                    "source"}),
    .doc = "1 per live, initialised enclave (EINIT succeeded); gone when the enclave is released",
    .probes = EPC_LIFECYCLE};
constexpr LabelNames kPerEnclave = LabelNames::workload({"enclave"});
constexpr MetricDef kEnclaveCreated{
    .name = "sgx_enclave_created_timestamp_seconds",
    .type = MetricType::kGauge,
    .unit = "seconds",
    .help = "When the enclave was created (SGX_IOC_ENCLAVE_CREATE; for an enclave older than the exporter's probes, "
            "when they found it), seconds since the epoch.",
    .labels = kPerEnclave,
    .doc = "unix time of the enclave's `SGX_IOC_ENCLAVE_CREATE` (for an enclave older than the probes: when start-up "
           "discovery found it)",
    .probes = EPC_LIFECYCLE};
constexpr MetricDef kEnclaveDeclared{
    .name = "sgx_enclave_declared_size_bytes",
    .type = MetricType::kGauge,
    .unit = "bytes",
    .help = "The enclave's declared size (SECS size, its ELRANGE).",
    .labels = kPerEnclave,
    .doc = "only with `--collector.ebpf.per-enclave`: the enclave's declared size (SECS size)",
    .probes = EPC_LIFECYCLE};
constexpr MetricDef kEnclaveResident{
    .name = "sgx_enclave_epc_resident_bytes",
    .type = MetricType::kGauge,
    .unit = "bytes",
    .help = "EPC held by the enclave now, incl. its SECS and VA pages.",
    .labels = kPerEnclave,
    .doc = "only with `--collector.ebpf.per-enclave` (off by default): EPC pages the enclave holds now × 4096 (its "
           "part of the workload's `sgx_epc_resident_bytes`)",
    .probes = EPC_LIFECYCLE};
constexpr MetricDef kEnclaveSwapped{
    .name = "sgx_enclave_epc_swapped_bytes",
    .type = MetricType::kGauge,
    .unit = "bytes",
    .help = "The enclave's pages evicted from EPC and not loaded back.",
    .labels = kPerEnclave,
    .doc = "only with `--collector.ebpf.per-enclave` (off by default): the enclave's pages evicted and not loaded back "
           "× 4096 (its part of `sgx_epc_swapped_bytes`)",
    .probes = EPC_LIFECYCLE};
constexpr MetricDef kEnclaveSeriesDropped{
    .name = "sgx_exporter_ebpf_enclave_series_dropped",
    .type = MetricType::kGauge,
    .help = "Live enclaves beyond --collector.ebpf.max-enclaves that have no per-enclave series.",
    .doc = "live enclaves beyond `--collector.ebpf.max-enclaves` that got no per-enclave series",
    .probes = EPC_LIFECYCLE};

// Node level.
constexpr MetricDef kFree{.name = metric_names::kEpcFree,
                          .type = MetricType::kGauge,
                          .unit = "bytes",
                          .help = "Free EPC of the node (the kernel's sgx_nr_free_pages).",
                          .doc = "the kernel's `sgx_nr_free_pages` × 4096"};
constexpr MetricDef kUsed{.name = metric_names::kEpcUsed,
                          .type = MetricType::kGauge,
                          .unit = "bytes",
                          .help = "EPC in use on the node (capacity - free).",
                          .doc = "capacity − free"};
constexpr MetricDef kReclaimPasses{.name = metric_names::kReclaimPasses,
                                   .type = MetricType::kCounter,
                                   .help = "EPC reclaim passes (sgx_reclaim_pages) by reclaimer.",
                                   .labels = {"reclaimer"},
                                   .doc = "`sgx_reclaim_pages` calls; reclaimer = ksgxd, direct",
                                   .probes = "reclaim"};
constexpr MetricDef kVepc{.name = metric_names::kVepc,
                          .type = MetricType::kGauge,
                          .unit = "bytes",
                          .help = "EPC handed to KVM guests through /dev/sgx_vepc.",
                          .doc = "EPC pages handed to KVM guests × 4096 (never in any workload's numbers)",
                          .probes = "vepc_fault vepc_free epc_alloc epc_free"};
constexpr MetricDef kVepcAllocFailures{
    .name = "sgx_vepc_alloc_failures_total",
    .type = MetricType::kCounter,
    .help = "Failed EPC page allocations for KVM guests (vEPC faults).",
    .doc = "failed EPC allocations of vEPC faults (not charged to the VMM's cgroup)",
    .probes = "vepc_fault epc_alloc"};

// Probe health.
constexpr MetricDef kProbeAttached{.name = metric_names::kProbeAttached,
                                   .type = MetricType::kGauge,
                                   .help = "1 if the SGX probe is attached, 0 if not (see sgx_exporter_probe_info).",
                                   .labels = {"probe"},
                                   .doc = "1 attached, 0 not"};
constexpr MetricDef kProbeInfo{.name = metric_names::kProbeInfo,
                               .type = MetricType::kGauge,
                               .help = "SGX probe: hooked function, attach type and why it is off.",
                               .labels = {"probe", "function", "attach_type", "reason"},
                               .doc = "1; why a probe is off"};
constexpr MetricDef kProgramRuns{.name = "sgx_exporter_bpf_program_runs_total",
                                 .type = MetricType::kCounter,
                                 .help = "Runs of the BPF program (kernel BPF stats).",
                                 .labels = {"program"},
                                 .doc = "kernel BPF stats (when enabled)"};
constexpr MetricDef kProgramSeconds{.name = "sgx_exporter_bpf_program_run_seconds_total",
                                    .type = MetricType::kCounter,
                                    .unit = "seconds",
                                    .help = "Time spent in the BPF program (kernel BPF stats).",
                                    .labels = {"program"},
                                    .doc = "kernel BPF stats (when enabled)"};
constexpr MetricDef kKretprobeMissed{
    .name = metric_names::kKretprobeMissed,
    .type = MetricType::kCounter,
    .help = "Returns of the hooked function the kretprobe missed (more calls in flight than its maxactive).",
    .labels = {"program"},
    .doc = "returns a kretprobe missed (more calls in flight than its maxactive), program e.g. `kr_eldu`; only for "
           "the kprobe flavor's kretprobes made through tracefs ([probes.md](probes.md))"};
constexpr MetricDef kMapEntries{
    .name = "sgx_exporter_bpf_map_entries",
    .type = MetricType::kGauge,
    .help = "Entries in the BPF map now.",
    .labels = {"map"},
    .doc = "entries now; map = encls, cgroups, cgroup_paths, inflight, va_pages, identities, init_pending"};
constexpr MetricDef kMapMaxEntries{.name = "sgx_exporter_bpf_map_max_entries",
                                   .type = MetricType::kGauge,
                                   .help = "Bound of the BPF map.",
                                   .labels = {"map"},
                                   .doc = "bound"};
constexpr MetricDef kDropped{.name = metric_names::kBpfDroppedEvents,
                             .type = MetricType::kCounter,
                             .help = "Probe events not recorded, by reason.",
                             .labels = {"reason"},
                             .doc = "events not recorded; reason = `enclave_map_full`, `cgroup_map_full`, "
                                    "`inflight_map_full`, `untracked_enclave`, `va_map_full`"};
constexpr MetricDef kStateInfo{
    .name = "sgx_exporter_ebpf_state_info",
    .type = MetricType::kGauge,
    .help = "How the probes' state came to be: pinned (survives exporter restarts), reused (taken over from an "
            "earlier instance, counters continued), discovery of enclaves older than the probes.",
    .labels = {"pinned", "reused", "discovery", "layout"},
    .doc = "1; live probes only ([probes.md](probes.md#restarts-pinned-state-and-start-up-discovery)). pinned "
           "(`true`: maps and links pinned in bpffs, they outlive the process), reused (`true`: taken over from an "
           "earlier instance, counters continued), discovery (`iterator`: enclaves older than the probes were "
           "searched at start; `not_needed`: state taken over; `unavailable`: could not search, reason in the log; "
           "`off`), layout (layout id, `\"\"` unpinned)"};
constexpr MetricDef kEnclavesTracked{
    .name = "sgx_exporter_ebpf_enclaves_tracked",
    .type = MetricType::kGauge,
    .help = "Live enclaves the probes track, by how they became known.",
    .labels = {"origin"},
    .doc = "live enclaves the probes track; origin = `created` (creation seen by the probes), `discovered` (found at "
           "start-up)"};
constexpr MetricDef kDiscoverySkipped{
    .name = "sgx_exporter_ebpf_discovery_skipped",
    .type = MetricType::kGauge,
    .help = "Enclaves found at start-up that could not be read and stay untracked until they end.",
    .doc = "enclaves found at start-up but left untracked (more than 2048 VA pages, or a read failed)"};


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
  Result<std::shared_ptr<const probes::Snapshot>> snapshot() override {
    return std::make_shared<const probes::Snapshot>(probes_->read());
  }
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
  Result<std::shared_ptr<const probes::Snapshot>> snapshot() override {
    struct stat st {};
    const bool stamped = ::stat(path_.c_str(), &st) == 0;
    const Stamp now_stamp{st.st_dev, st.st_ino, st.st_size, st.st_mtim, st.st_ctim};
    if (stamped && cached_ && now_stamp == stamp_ && settled(st)) return cached_;
    cached_.reset();
    auto text = read_file(path_, kReplayFileLimit);
    if (!text) return make_error("ebpf replay file: " + text.error().message, text.error().errno_value);
    auto snap = parse_ebpf_replay(*text);
    if (!snap) return make_error(path_ + ": " + snap.error().message);
    auto shared = std::make_shared<const probes::Snapshot>(std::move(*snap));
    if (stamped) {
      cached_ = shared;
      stamp_ = now_stamp;
    }
    return shared;
  }

 private:
  struct Stamp {
    dev_t dev = 0;
    ino_t ino = 0;
    off_t size = 0;
    timespec mtime{}, ctime{};
    bool operator==(const Stamp& o) const {
      return dev == o.dev && ino == o.ino && size == o.size && mtime.tv_sec == o.mtime.tv_sec &&
             mtime.tv_nsec == o.mtime.tv_nsec && ctime.tv_sec == o.ctime.tv_sec && ctime.tv_nsec == o.ctime.tv_nsec;
    }
  };
  // File times come from a coarse clock: a file rewritten in the same tick as the last read keeps its stamp.
  static bool settled(const struct stat& st) {
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    return now.tv_sec - st.st_mtim.tv_sec >= 2 && now.tv_sec - st.st_ctim.tv_sec >= 2;
  }

  std::string path_;
  Stamp stamp_;
  std::shared_ptr<const probes::Snapshot> cached_;
};

class EbpfCollector : public Collector {
 public:
  EbpfCollector(std::unique_ptr<EbpfSource> source, const CollectorServices& s, EnclaveMetricsOptions enclaves)
      : source_(std::move(source)), paths_(s.paths), attribution_(s.attribution), enclaves_(std::move(enclaves)) {}

  Status collect(MetricSink& sink) override {
    auto snap = source_->snapshot();
    if (!snap) return snap.error();
    write_ebpf_metrics(**snap, attribution_, epc_capacity_bytes(paths_), sink, &aggregator_, enclaves_, &labels_);
    source_->forget_gone_cgroups(attribution_);
    return Status::Ok();
  }

 private:
  std::unique_ptr<EbpfSource> source_;
  const HostPaths& paths_;
  Attribution& attribution_;
  WorkloadAggregator aggregator_;
  EnclaveMetricsOptions enclaves_;
  CgroupLabels labels_;
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

WorkloadLabels unknown_labels() {
  WorkloadLabels l;
  l.cgroup = "unknown";
  return l;
}

const char* tf(bool b) { return b ? "true" : "false"; }

std::string hex_label(std::uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
  return b;
}

// The per-enclave series: sgx_enclave_info (initialised enclaves), creation time, optionally resident/swapped
// bytes; at most max_enclaves enclaves, the oldest first (a new enclave never takes an older one's series).
void write_enclave_metrics(const probes::Snapshot& s, Attribution& attribution, CgroupLabels& labels,
                           MetricSink& sink, const EnclaveMetricsOptions& o, bool init_probe) {
  std::vector<const probes::EnclaveIdentity*> order;
  order.reserve(s.enclaves.size());
  for (const auto& e : s.enclaves) order.push_back(&e);
  std::sort(order.begin(), order.end(), [](const auto* a, const auto* b) {
    return a->created_unix != b->created_unix ? a->created_unix < b->created_unix : a->id < b->id;
  });
  const std::size_t shown = std::min(order.size(), o.max_enclaves);
  for (std::size_t i = 0; i < shown; ++i) {
    const auto& e = *order[i];
    const CgroupLabels::Entry* l = e.cgroup_path.empty() ? labels.of_id(attribution, e.cgroup_id, e.recorded_path)
                                                         : &labels.of_path(attribution, e.cgroup_path);
    const WorkloadId w = l ? sink.workload_rendered(l->text, !l->labels.container.empty())
                           : sink.workload(unknown_labels());
    // An enclave INIT has not made (or that failed INIT) runs nothing yet: no info. Discovered ones carry their
    // state; created ones need the INIT probe to know.
    if (e.initialized && (init_probe || e.source == "discovered")) {
      const bool sig = !e.mrenclave.empty();
      auto it = o.signer_names.find(e.mrsigner);
      using I = probes::EnclaveIdentity;
      // XFRM and MISCSELECT come from the SECS at creation: unknown for an enclave found at start-up.
      const bool secs = e.source != "discovered";
      const std::string isv_prod_id = e.isv_prod_id ? std::to_string(*e.isv_prod_id) : "unknown";
      const std::string isv_svn = e.isv_svn ? std::to_string(*e.isv_svn) : "unknown";
      const std::string xfrm = secs ? hex_label(e.xfrm) : "unknown";
      const std::string miscselect = secs ? hex_label(e.miscselect) : "unknown";
      sink.add(kEnclaveInfo, w,
               {e.id, sig ? std::string_view(e.mrenclave) : "unknown", sig ? std::string_view(e.mrsigner) : "unknown",
                it != o.signer_names.end() ? std::string_view(it->second) : "", isv_prod_id, isv_svn,
                tf(e.attributes & I::kAttrDebug), tf(e.attributes & I::kAttrProvisionKey),
                tf(e.attributes & I::kAttrMode64Bit), tf(e.attributes & I::kAttrKss),
                tf(e.attributes & I::kAttrEinitTokenKey), xfrm, miscselect, e.source},
               1);
    }
    if (e.created_unix > 0) sink.add(kEnclaveCreated, w, {e.id}, e.created_unix);
    if (o.per_enclave_bytes) {
      sink.add(kEnclaveDeclared, w, {e.id}, static_cast<double>(e.size_bytes));
      sink.add(kEnclaveResident, w, {e.id}, gauge_pages(e.resident_pages));
      sink.add(kEnclaveSwapped, w, {e.id}, gauge_pages(e.swapped_pages));
    }
  }
  sink.add(kEnclaveSeriesDropped, static_cast<double>(order.size() - shown));
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

std::map<WorkloadLabels, Counters> WorkloadAggregator::update(const std::vector<Input>& inputs,
                                                              std::chrono::steady_clock::time_point now) {
  std::map<WorkloadLabels, Counters> out;
  // The cgroups of this snapshot, each once: a key twice (replay files may list a cgroup twice) is summed, with
  // the first one's labels.
  struct Present {
    const Input* in;
    Counters counters;
  };
  std::vector<Present> present;
  present.reserve(inputs.size());
  std::unordered_map<std::string_view, std::size_t> index;
  index.reserve(inputs.size());
  for (const auto& in : inputs) {
    auto [it, fresh] = index.try_emplace(in.key, present.size());
    if (fresh)
      present.push_back({&in, in.counters});
    else
      present[it->second].counters += in.counters;
  }

  // Cgroups that left: their counters stay with their labels.
  for (auto it = cgroups_.begin(); it != cgroups_.end();) {
    if (index.count(it->first)) {
      ++it;
      continue;
    }
    auto& ls = labels_[it->second.labels];
    add_counters(ls.retired, sub_counters(it->second.high, it->second.base));
    if (ls.last_reported == std::chrono::steady_clock::time_point{}) ls.last_reported = now;
    it = cgroups_.erase(it);
  }

  for (const auto& [in, counters] : present) {
    auto it = cgroups_.find(in->key);
    const bool fresh = it == cgroups_.end();
    if (fresh) it = cgroups_.try_emplace(in->key).first;
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
    max_counters(cs.high, counters);
    Counters& o = out[cs.labels];
    probes::for_each_gauge(o, counters, [](std::int64_t& x, std::int64_t y) { x += y; });
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

void CgroupLabels::check_generation(Attribution& attribution) {
  if (const std::uint64_t g = attribution.generation(); g != generation_ || by_path_.size() >= 65536) {
    by_id_.clear();
    by_path_.clear();
    generation_ = g;
  }
}

const CgroupLabels::Entry& CgroupLabels::of_path(Attribution& attribution, std::string_view path) {
  check_generation(attribution);
  if (auto it = by_path_.find(path); it != by_path_.end()) return it->second;
  Entry e;
  e.labels = attribution.resolve_cgroup_path(path).labels();
  render_workload_labels(e.text, e.labels);
  return by_path_.emplace(std::string(path), std::move(e)).first->second;
}

const CgroupLabels::Entry* CgroupLabels::of_id(Attribution& attribution, std::uint64_t id,
                                               std::string_view recorded_path) {
  // The live cgroup tree first; a cgroup already gone (a container that lived between two scrapes) by the path
  // the probes recorded at its first enclave.
  check_generation(attribution);
  if (auto it = by_id_.find(id); it != by_id_.end()) return it->second;
  if (auto path = attribution.cgroup_path_for_id(id)) {
    const Entry* e = &of_path(attribution, *path);
    by_id_.emplace(id, e);
    return e;
  }
  if (!recorded_path.empty()) return &of_path(attribution, recorded_path);
  return nullptr;
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
                        MetricSink& sink, WorkloadAggregator* aggregator, const EnclaveMetricsOptions& enclaves,
                        CgroupLabels* labels) {
  for (const auto& p : s.probes) sink.add(kProbeAttached, {p.name}, p.attached ? 1 : 0);
  for (const auto& p : s.probes) sink.add(kProbeInfo, {p.name, p.function, p.attach_type, p.reason}, 1);
  if (!s.any_attached()) return;  // no SGX probes: no data, not a failure

  // A metric is written only when the probes behind it (MetricDef::probes) are attached: a switched-off probe must
  // not look like "nothing happened" (0).
  auto attached = [&](std::string_view names) {
    for (auto n : split_fields(names)) {
      bool found = false;
      for (const auto& p : s.probes) found = found || (p.name == n && p.attached);
      if (!found) return false;
    }
    return true;
  };
  auto on = [&](const MetricDef& def) { return attached(def.probes); };

  // Per workload: cgroups that resolve to the same labels are summed, counters kept monotonic per label set.
  CgroupLabels fresh_labels;
  CgroupLabels& cache = labels ? *labels : fresh_labels;
  std::vector<WorkloadAggregator::Input> inputs;
  inputs.reserve(s.workloads.size());
  for (const auto& w : s.workloads) {
    WorkloadAggregator::Input in;
    in.counters = w.counters;
    if (w.cgroup_path.empty()) {
      in.key = "id:" + std::to_string(w.cgroup_id);
      if (const auto* l = cache.of_id(attribution, w.cgroup_id, w.recorded_path)) in.labels = l->labels;
    } else {
      in.key = "path:" + w.cgroup_path;
      in.labels = cache.of_path(attribution, w.cgroup_path).labels;
    }
    inputs.push_back(std::move(in));
  }
  WorkloadAggregator fresh;
  const auto per = (aggregator ? *aggregator : fresh).update(inputs, std::chrono::steady_clock::now());
  // Each workload's label set rendered once, for every family below.
  std::vector<std::pair<WorkloadId, const probes::WorkloadCounters*>> rows;
  rows.reserve(per.size());
  for (const auto& [labels, c] : per) rows.emplace_back(sink.workload(labels), &c);
  // A family per row of the workload table (probes/epc_workload.h), in its order, while its probes are attached.
  for (std::size_t i = 0; i < std::size(kWorkloadDefs); ++i) {
    if (!on(kWorkloadDefs[i])) continue;
    const probes::WorkloadField& field = probes::kWorkloadFields[i];
    for (const auto& [w, c] : rows) sink.add(kWorkloadDefs[i], w, field.value(*c));
  }
  if (attached(EPC_LIFECYCLE))
    write_enclave_metrics(s, attribution, cache, sink, enclaves, attached("encl_init"));

  // A driver that did not initialise (no SGX CPU) has no sysfs capacity and 0 free pages: no EPC, not "EPC full".
  if (s.free_pages && (capacity || *s.free_pages > 0)) {
    double free_bytes = static_cast<double>(std::max<std::int64_t>(*s.free_pages, 0)) * kPage;
    sink.add(kFree, free_bytes);
    if (capacity) sink.add(kUsed, std::max(0.0, static_cast<double>(*capacity) - free_bytes));
  }
  if (on(kReclaimPasses)) {
    sink.add(kReclaimPasses, {"ksgxd"}, static_cast<double>(s.reclaim_ksgxd));
    sink.add(kReclaimPasses, {"direct"}, static_cast<double>(s.reclaim_direct));
  }
  if (on(kVepc)) sink.add(kVepc, gauge_pages(s.vepc_pages));
  if (on(kVepcAllocFailures)) sink.add(kVepcAllocFailures, static_cast<double>(s.vepc_alloc_failures));

  if (s.program_stats_enabled) {
    for (const auto& p : s.programs) sink.add(kProgramRuns, {p.program}, static_cast<double>(p.run_count));
    for (const auto& p : s.programs)
      sink.add(kProgramSeconds, {p.program}, static_cast<double>(p.run_time_ns) / 1e9);
  }
  for (const auto& [program, n] : s.kretprobe_misses) sink.add(kKretprobeMissed, {program}, static_cast<double>(n));
  for (const auto& m : s.maps) sink.add(kMapEntries, {m.map}, static_cast<double>(m.entries));
  for (const auto& m : s.maps) sink.add(kMapMaxEntries, {m.map}, static_cast<double>(m.max_entries));
  for (const auto& [reason, n] : s.dropped) sink.add(kDropped, {reason}, static_cast<double>(n));
  if (!s.state.discovery.empty()) {  // the live source (the replay has no state of its own)
    sink.add(kStateInfo, {tf(s.state.pinned), tf(s.state.reused), s.state.discovery, s.state.layout}, 1);
    sink.add(kEnclavesTracked, {"created"}, static_cast<double>(s.enclaves_created));
    sink.add(kEnclavesTracked, {"discovered"}, static_cast<double>(s.enclaves_discovered));
    sink.add(kDiscoverySkipped, static_cast<double>(s.discovery_skipped));
  }
}

std::span<const MetricDef> workload_metric_defs() { return kWorkloadDefs; }

std::vector<MetricGroup> ebpf_metrics() {
  MetricGroup workload{"ebpf-workload", {}};
  for (const auto& d : kWorkloadDefs) workload.defs.push_back(&d);
  return {std::move(workload),
          {"ebpf-enclave",
           {&kEnclaveInfo, &kEnclaveCreated, &kEnclaveDeclared, &kEnclaveResident, &kEnclaveSwapped,
            &kEnclaveSeriesDropped}},
          {"ebpf-node", {&kFree, &kUsed, &kReclaimPasses, &kVepc, &kVepcAllocFailures}},
          {"ebpf-health",
           {&kProbeAttached, &kProbeInfo, &kProgramRuns, &kProgramSeconds, &kMapEntries, &kMapMaxEntries, &kDropped,
            &kStateInfo, &kEnclavesTracked, &kDiscoverySkipped, &kKretprobeMissed}}};
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
