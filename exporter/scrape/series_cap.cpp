#include "scrape/series_cap.h"

#include <algorithm>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <unordered_set>

namespace epc {
namespace {

bool is_workload_label(const std::string& name) {
  return name == "namespace" || name == "pod" || name == "container" || name == "cgroup";
}

// "" when the series is not per-workload.
std::string workload_key(const prometheus::ClientMetric& m) {
  std::string_view ns, pod, container, cgroup;
  bool any = false;
  for (const auto& l : m.label) {
    if (l.name == "namespace") ns = l.value;
    else if (l.name == "pod") pod = l.value, any = true;
    else if (l.name == "container") container = l.value;
    else if (l.name == "cgroup") cgroup = l.value, any = true;
  }
  if (!any) return {};
  std::string key;
  key.reserve(ns.size() + pod.size() + container.size() + cgroup.size() + 4);
  key.append(ns).push_back('\x1f');
  key.append(pod).push_back('\x1f');
  key.append(container).push_back('\x1f');
  key.append(cgroup).push_back('\x1f');  // never empty, so "" keeps meaning "not per-workload"
  return key;
}

double& value_of(prometheus::ClientMetric& m, prometheus::MetricType t) {
  switch (t) {
    case prometheus::MetricType::Counter: return m.counter.value;
    case prometheus::MetricType::Gauge: return m.gauge.value;
    default: return m.untyped.value;
  }
}

prometheus::MetricFamily gauge_family(const char* name, const char* help, double v) {
  prometheus::MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = prometheus::MetricType::Gauge;
  prometheus::ClientMetric m;
  m.gauge.value = v;
  f.metric.push_back(std::move(m));
  return f;
}

}  // namespace

CapStats apply_workload_cap(std::vector<prometheus::MetricFamily>& families, std::size_t max_workloads) {
  CapStats stats;
  // Counted in a hash set (a scrape of thousands of series does this every time); sorted only when the cap cuts.
  std::unordered_set<std::string> distinct;
  std::size_t series = 0;
  for (const auto& f : families) series += f.metric.size();
  distinct.reserve(series);
  for (const auto& f : families)
    for (const auto& m : f.metric)
      if (auto k = workload_key(m); !k.empty()) distinct.insert(std::move(k));
  stats.workloads = distinct.size();
  if (max_workloads == 0 || distinct.size() <= max_workloads) return stats;
  std::set<std::string> keys(std::make_move_iterator(distinct.begin()), std::make_move_iterator(distinct.end()));

  // Keep the first max_workloads keys in order: stable from scrape to scrape while the set is unchanged.
  auto cut = keys.begin();
  std::advance(cut, static_cast<std::ptrdiff_t>(max_workloads));
  const std::string& first_dropped = *cut;
  stats.aggregated = keys.size() - max_workloads;

  for (auto& f : families) {
    if (f.type == prometheus::MetricType::Histogram || f.type == prometheus::MetricType::Summary) {
      // Not summable field by field here; the product has none per workload. Drop the overflow ones.
      std::size_t before = f.metric.size();
      std::erase_if(f.metric, [&](const prometheus::ClientMetric& m) {
        auto k = workload_key(m);
        return !k.empty() && k >= first_dropped;
      });
      stats.series_removed += before - f.metric.size();
      continue;
    }
    std::vector<prometheus::ClientMetric> kept;
    // Remaining labels (sorted by name) -> summed overflow series.
    std::map<std::vector<std::pair<std::string, std::string>>, prometheus::ClientMetric> overflow;
    std::size_t folded = 0;
    for (auto& m : f.metric) {
      auto k = workload_key(m);
      if (k.empty() || k < first_dropped) {
        kept.push_back(std::move(m));
        continue;
      }
      ++folded;
      // Container-level series stay apart from pod-level ones (a pod's series already sum its containers').
      std::vector<std::pair<std::string, std::string>> rest;
      bool container_level = false;
      for (const auto& l : m.label) {
        if (!is_workload_label(l.name)) rest.emplace_back(l.name, l.value);
        else if (l.name == "container" && !l.value.empty()) container_level = true;
      }
      rest.emplace_back("cgroup", kOverflowCgroup);
      if (container_level) rest.emplace_back("container", kOverflowCgroup);
      std::sort(rest.begin(), rest.end());
      auto [it, inserted] = overflow.try_emplace(rest);
      if (inserted) {
        for (const auto& [n, v] : rest) {
          prometheus::ClientMetric::Label l;
          l.name = n;
          l.value = v;
          it->second.label.push_back(std::move(l));
        }
      }
      value_of(it->second, f.type) += value_of(m, f.type);
    }
    if (folded == 0) continue;
    for (auto& [labels, m] : overflow) kept.push_back(std::move(m));
    stats.series_removed += folded - overflow.size();
    f.metric = std::move(kept);
  }
  return stats;
}

void add_cap_metrics(std::vector<prometheus::MetricFamily>& families, const CapStats& stats,
                     std::size_t max_workloads) {
  families.push_back(gauge_family("sgx_exporter_workloads",
                                  "Distinct workloads (pods, containers, cgroups) with series in this scrape.",
                                  static_cast<double>(stats.workloads)));
  families.push_back(gauge_family(
      "sgx_exporter_workloads_aggregated",
      "Workloads beyond --metrics.max-workloads whose series were summed into cgroup=\"_overflow\" in this scrape.",
      static_cast<double>(stats.aggregated)));
  families.push_back(gauge_family("sgx_exporter_workloads_limit",
                                  "The --metrics.max-workloads setting (0: no limit).",
                                  static_cast<double>(max_workloads)));
}

}  // namespace epc
