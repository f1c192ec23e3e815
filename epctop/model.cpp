#include "model.h"

#include <algorithm>
#include <cmath>
#include <set>

namespace epctop {

std::string series_id(const Sample& s) {
  auto labels = s.labels;
  std::sort(labels.begin(), labels.end());
  std::string id = s.name;
  id += '{';
  for (const auto& [k, v] : labels) {
    id += k;
    id += '=';
    id += v;
    id += '\x1f';  // cannot appear unescaped in a meaningful way; keeps "a=b,c" and "a=b" "c" apart
  }
  id += '}';
  return id;
}

std::variant<Snapshot, std::string> make_snapshot(std::vector<Sample> samples, double t) {
  bool sgx = false;
  for (const auto& s : samples)
    if (s.name.rfind("sgx_", 0) == 0) { sgx = true; break; }
  if (!sgx) {
    std::string msg = "no sgx_* series in the page: not an epc_exporter /metrics";
    if (!samples.empty()) msg += " (" + std::to_string(samples.size()) + " series, e.g. " + samples.front().name + ")";
    return msg;
  }
  Snapshot snap;
  snap.t = t;
  for (const auto& s : samples) snap.by_series[series_id(s)] = s.value;
  snap.samples = std::move(samples);
  return snap;
}

const char* level_name(Level l) {
  switch (l) {
    case Level::Pod: return "pod";
    case Level::Container: return "container";
    case Level::Enclave: return "enclave";
  }
  return "?";
}

double counter_rate(double prev, double cur, double dt) {
  if (!(dt > 0) || !std::isfinite(prev) || !std::isfinite(cur)) return 0;
  double delta = cur >= prev ? cur - prev : cur;
  return delta / dt;
}

namespace {

std::optional<double> prev_value(const Snapshot* prev, const Sample& s) {
  if (!prev) return std::nullopt;
  auto it = prev->by_series.find(series_id(s));
  if (it == prev->by_series.end()) return std::nullopt;
  return it->second;
}

void add(std::optional<double>& acc, double v) { acc = acc.value_or(0) + v; }

}  // namespace

NodeInfo node_info(const Snapshot& cur, const Snapshot* prev) {
  NodeInfo n;
  double dt = prev ? cur.t - prev->t : 0;
  for (const auto& s : cur.samples) {
    const std::string& m = s.name;
    if (m == "sgx_platform_info") {
      n.has_platform = true;
      n.driver = s.label("driver");
      n.sgx1 = s.label("sgx1") == "1";
      n.sgx2 = s.label("sgx2") == "1";
      n.flc = s.label("cpu_sgx_lc") == "1";
    } else if (m == "sgx_exporter_build_info") {
      n.version = s.label("version");
    } else if (m == "sgx_epc_capacity_bytes") {
      n.capacity.emplace_back(std::string(s.label("numa_node")), s.value);
      add(n.capacity_total, s.value);
    } else if (m == "sgx_epc_free_bytes") {
      if (!s.label("numa_node").empty()) n.free_numa.emplace_back(std::string(s.label("numa_node")), s.value);
      add(n.free, s.value);
    } else if (m == "sgx_epc_used_bytes") {
      add(n.used, s.value);
    } else if (m == "sgx_epc_reclaim_passes_total") {
      n.has_reclaim = true;
      auto p = prev_value(prev, s);
      if (!p) continue;
      double r = counter_rate(*p, s.value, dt);
      if (s.label("reclaimer") == "ksgxd") add(n.reclaim_ksgxd_rate, r);
      else if (s.label("reclaimer") == "direct") add(n.reclaim_direct_rate, r);
    } else if (m == "sgx_vepc_bytes") {
      add(n.vepc, s.value);
    } else if (m == "sgx_exporter_probe_attached") {
      ++n.probes_total;
      if (s.value == 1) ++n.probes_attached;
    } else if (m == "sgx_exporter_collector_success") {
      if (s.value != 1) n.failed_collectors.emplace_back(s.label("collector"));
    } else if (m == "sgx_exporter_workloads_aggregated") {
      n.workloads_aggregated = s.value;
    }
  }
  std::sort(n.capacity.begin(), n.capacity.end());
  std::sort(n.free_numa.begin(), n.free_numa.end());
  return n;
}

namespace {

enum class Field { None, Enclaves, Resident, Swapped, Evict, Loadback, Faults, Stall, CgroupUsage };

Field field_of(const std::string& name) {
  if (name == "sgx_enclaves") return Field::Enclaves;
  if (name == "sgx_epc_resident_bytes") return Field::Resident;
  if (name == "sgx_epc_swapped_bytes") return Field::Swapped;
  if (name == "sgx_epc_evicted_pages_total") return Field::Evict;
  if (name == "sgx_epc_loaded_back_pages_total") return Field::Loadback;
  if (name == "sgx_enclave_page_faults_total") return Field::Faults;
  if (name == "sgx_enclave_page_fault_seconds_total") return Field::Stall;
  if (name == "sgx_cgroup_epc_usage_bytes") return Field::CgroupUsage;
  return Field::None;
}

bool is_workload(const Sample& s) { return !s.label("pod").empty() || !s.label("cgroup").empty(); }

// The enclave a per-enclave series belongs to: its `enclave` label (an id) if the exporter gives one, else its
// measurement. "" for per-workload series.
std::string enclave_key(const Sample& s) {
  if (auto e = s.label("enclave"); !e.empty()) return std::string(e);
  return std::string(s.label("mrenclave"));
}

struct RowKey {
  std::string name, ns, pod, rest;
  bool is_cgroup = false;
};

RowKey workload_key(const Sample& s, Level level) {
  RowKey k;
  if (auto cg = s.label("cgroup"); !cg.empty() && s.label("pod").empty()) {
    k.name = cg;
    k.is_cgroup = true;
  } else {
    k.ns = s.label("namespace");
    k.pod = s.label("pod");
    if (level != Level::Pod && !s.label("container").empty()) k.rest = s.label("container");
  }
  if (level == Level::Enclave) {
    std::string e = enclave_key(s).substr(0, 12);
    if (k.is_cgroup) k.name += "/" + e;
    else k.rest += (k.rest.empty() ? "" : "/") + e;
  }
  if (!k.is_cgroup) k.name = (k.ns.empty() ? std::string("-") : k.ns) + "/" + k.pod + (k.rest.empty() ? "" : "/" + k.rest);
  return k;
}

struct Ids {
  std::set<std::string> mrenclave, mrsigner, isv_svn, debug;
};

std::string summarize(const std::set<std::string>& v) {
  if (v.empty()) return "";
  if (v.size() == 1) return *v.begin();
  return std::to_string(v.size()) + " ids";
}

// The exporter writes debug="true"|"false" (the SECS DEBUG attribute).
std::string summarize_debug(const std::set<std::string>& v) {
  if (v.empty()) return "";
  if (v.size() > 1) return "mix";
  if (*v.begin() == "true") return "yes";
  if (*v.begin() == "false") return "no";
  return *v.begin();
}

}  // namespace

Rows build_rows(const Snapshot& cur, const Snapshot* prev, Level level) {
  Rows out;
  out.has_rates = prev != nullptr;
  double dt = prev ? cur.t - prev->t : 0;
  bool has_resident = false;
  for (const auto& s : cur.samples) {
    if (s.name == "sgx_enclave_info") out.has_identity = true;
    if (s.name == "sgx_epc_resident_bytes") has_resident = true;
    if (is_workload(s) && !enclave_key(s).empty() && (s.name == "sgx_enclave_info" || field_of(s.name) != Field::None))
      out.has_enclave_series = true;
  }
  out.resident_from_cgroup = !has_resident;

  std::map<std::string, Row> rows;
  std::map<std::string, Ids> ids;
  auto row_for = [&](const Sample& s) -> Row& {
    RowKey k = workload_key(s, level);
    Row& r = rows[k.name];
    r.name = k.name;
    r.ns = k.ns;
    r.pod = k.pod;
    r.rest = k.rest;
    r.is_cgroup = k.is_cgroup;
    return r;
  };

  for (const auto& s : cur.samples) {
    if (!is_workload(s)) continue;
    bool per_enclave = !enclave_key(s).empty();
    if (s.name == "sgx_enclave_info") {
      if (!per_enclave) continue;
      // Identity columns: at pod/container level the workload's enclaves summarized; at enclave level the row's.
      Row& r = row_for(s);
      Ids& id = ids[r.name];
      if (auto v = s.label("mrenclave"); !v.empty()) id.mrenclave.emplace(v);
      if (auto v = s.label("mrsigner"); !v.empty()) id.mrsigner.emplace(v);
      if (auto v = s.label("isv_svn"); !v.empty()) id.isv_svn.emplace(v);
      if (auto v = s.label("debug"); !v.empty()) id.debug.emplace(v);
      if (level == Level::Enclave && s.value > 0) add(r.enclaves, s.value);
      continue;
    }
    Field f = field_of(s.name);
    if (f == Field::None) continue;
    // A level counts each thing once: per-workload series at pod/container level, per-enclave ones at enclave level.
    if ((level == Level::Enclave) != per_enclave) continue;
    if (f == Field::CgroupUsage) {
      if (!out.resident_from_cgroup || level == Level::Enclave) continue;
      if (s.label("cgroup") == "/") continue;  // the root: the node, not a workload
      // The cgroup collector writes a pod's series and each of its containers': take the level's own.
      bool container_series = !s.label("container").empty();
      if (!s.label("pod").empty() && container_series != (level == Level::Container)) continue;
    }
    Row& r = row_for(s);
    if (level == Level::Enclave && f == Field::Enclaves) {
      r.enclaves = s.value;  // the exporter's count overrides the info series' count
      continue;
    }
    std::optional<double> p;
    switch (f) {
      case Field::Enclaves: add(r.enclaves, s.value); break;
      case Field::Resident: add(r.resident, s.value); break;
      case Field::CgroupUsage: add(r.resident, s.value); break;
      case Field::Swapped: add(r.swapped, s.value); break;
      case Field::Evict:
      case Field::Loadback:
      case Field::Faults:
      case Field::Stall: {
        // Rates per series, then summed: a container that restarted or went away in a pod does not make the
        // pod's sum go down and look like a reset.
        p = prev_value(prev, s);
        if (!p) {
          // Touch the row so it exists; the rate stays unknown unless another series of the row has one.
          break;
        }
        double rate = counter_rate(*p, s.value, dt);
        if (f == Field::Evict) add(r.evict_rate, rate);
        if (f == Field::Loadback) add(r.loadback_rate, rate);
        if (f == Field::Faults) add(r.fault_rate, rate);
        if (f == Field::Stall) add(r.stall_rate, rate);
        break;
      }
      default: break;
    }
  }
  for (auto& [name, r] : rows) {
    if (auto it = ids.find(name); it != ids.end()) {
      r.mrenclave = summarize(it->second.mrenclave);
      r.mrsigner = summarize(it->second.mrsigner);
      r.isv_svn = summarize(it->second.isv_svn);
      r.debug = summarize_debug(it->second.debug);
    }
    out.rows.push_back(std::move(r));
  }
  return out;
}

}  // namespace epctop
