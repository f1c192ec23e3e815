#include "scrape/series_cap.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <string_view>
#include <unordered_set>

#include "host/log_fields.h"

namespace epc {
namespace {

using LabelPairs = std::vector<std::pair<std::string, std::string>>;

bool is_workload_label(const std::string& name) {
  return name == "namespace" || name == "pod" || name == "container" || name == "cgroup";
}

// "" when the series is not per-workload. A label with an empty value is absent (every series of a family carries
// the same label names; Prometheus drops the empty ones).
std::string workload_key(const prometheus::ClientMetric& m) {
  std::string_view ns, pod, container, cgroup;
  for (const auto& l : m.label) {
    if (l.name == "namespace") ns = l.value;
    else if (l.name == "pod") pod = l.value;
    else if (l.name == "container") container = l.value;
    else if (l.name == "cgroup") cgroup = l.value;
  }
  if (pod.empty() && cgroup.empty()) return {};
  std::string key;
  key.reserve(ns.size() + pod.size() + container.size() + cgroup.size() + 4);
  key.append(ns).push_back('\x1f');
  key.append(pod).push_back('\x1f');
  key.append(container).push_back('\x1f');
  key.append(cgroup).push_back('\x1f');  // never empty, so "" keeps meaning "not per-workload"
  return key;
}

// The overflow series' labels, the series' own names in their order: the non-workload ones as they are,
// cgroup="_overflow", container="_overflow" for container-level series (a pod's series already sum its
// containers'), the other workload labels empty.
LabelPairs overflow_labels(const prometheus::ClientMetric& m) {
  LabelPairs rest;
  bool container_level = false;
  for (const auto& l : m.label)
    if (l.name == "container" && !l.value.empty()) container_level = true;
  for (const auto& l : m.label) {
    if (!is_workload_label(l.name))
      rest.emplace_back(l.name, l.value);
    else if (l.name == "cgroup" || (l.name == "container" && container_level))
      rest.emplace_back(l.name, kOverflowCgroup);
    else
      rest.emplace_back(l.name, "");
  }
  return rest;
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

std::uint32_t WorkloadCap::accumulator(const prometheus::MetricFamily& family, const WorkloadCap::LabelPairs& rest) {
  std::string key = family.name;
  for (const auto& [n, v] : rest) key.append("\x1e").append(n).append("\x1f").append(v);
  if (auto it = acc_index_.find(key); it != acc_index_.end()) return it->second;
  if (acc_.size() >= options_.max_accumulators) {
    if (!acc_full_logged_)
      spdlog::warn("{}", log_fields("workload cap: overflow counter series full; further ones are dropped",
                                    {{"limit", std::to_string(options_.max_accumulators)}}));
    acc_full_logged_ = true;
    return kNoAccumulator;
  }
  Accumulator a;
  a.family = family.name;
  for (const auto& [n, v] : rest) {
    prometheus::ClientMetric::Label l;
    l.name = n;
    l.value = v;
    a.labels.push_back(std::move(l));
  }
  auto idx = static_cast<std::uint32_t>(acc_.size());
  acc_.push_back(std::move(a));
  acc_index_.emplace(std::move(key), idx);
  auto& fam = acc_by_family_[family.name];
  if (fam.help.empty()) fam.help = family.help;
  fam.accumulators.push_back(idx);
  return idx;
}

void WorkloadCap::append_accumulators(const CounterFamily& fam, std::vector<prometheus::ClientMetric>& out) const {
  for (std::uint32_t idx : fam.accumulators) {
    prometheus::ClientMetric m;
    m.label = acc_[idx].labels;
    m.counter.value = acc_[idx].value;
    out.push_back(std::move(m));
  }
}

CapStats WorkloadCap::apply(std::vector<prometheus::MetricFamily>& families, Clock::time_point now) {
  CapStats stats;
  // Counted in a hash set (a scrape of thousands of series does this every time).
  std::unordered_set<std::string> present;
  std::size_t series = 0;
  for (const auto& f : families) series += f.metric.size();
  present.reserve(series);
  for (const auto& f : families)
    for (const auto& m : f.metric)
      if (auto k = workload_key(m); !k.empty()) present.insert(std::move(k));
  stats.workloads = present.size();
  if (options_.max_workloads == 0) return stats;

  // 1. Who is back, who is new.
  std::vector<std::string> newcomers;
  for (const auto& k : present) {
    if (auto it = members_.find(k); it != members_.end())
      it->second.last_seen = now;
    else
      newcomers.push_back(k);
  }
  // 2. Absent for the grace period: forgotten (a slot freed, or an overflowed workload's detail dropped: its
  // increases stay in the accumulators). Beyond max_absent absent overflowed ones, the oldest first.
  std::vector<std::pair<Clock::time_point, std::string>> absent_overflowed;
  for (auto it = members_.begin(); it != members_.end();) {
    if (present.count(it->first)) {
      ++it;
      continue;
    }
    if (now - it->second.last_seen >= options_.grace) {
      if (it->second.own) --own_;
      it = members_.erase(it);
      continue;
    }
    if (!it->second.own) absent_overflowed.emplace_back(it->second.last_seen, it->first);
    ++it;
  }
  if (absent_overflowed.size() > options_.max_absent) {
    auto excess = static_cast<std::ptrdiff_t>(absent_overflowed.size() - options_.max_absent);
    std::nth_element(absent_overflowed.begin(), absent_overflowed.begin() + excess, absent_overflowed.end());
    for (auto it = absent_overflowed.begin(); it != absent_overflowed.begin() + excess; ++it) members_.erase(it->second);
  }
  // 3. Newcomers take the free slots, in label order within one scrape; the rest are overflowed for life.
  std::sort(newcomers.begin(), newcomers.end());
  for (auto& k : newcomers) {
    Member m;
    m.last_seen = now;
    m.own = own_ < options_.max_workloads;
    if (m.own) ++own_;
    members_.emplace(std::move(k), std::move(m));
  }
  for (const auto& k : present)
    if (!members_.at(k).own) ++stats.aggregated;
  if (stats.aggregated == 0 && acc_.empty()) return stats;

  // 4. Fold the overflowed workloads' series.
  std::ptrdiff_t removed = 0;
  std::unordered_set<std::string> written;
  for (auto& f : families) {
    const bool counter = f.type == prometheus::MetricType::Counter;
    const bool summable = counter || f.type == prometheus::MetricType::Gauge || f.type == prometheus::MetricType::Untyped;
    auto fam_acc = acc_by_family_.find(f.name);
    std::vector<prometheus::ClientMetric> kept;
    kept.reserve(f.metric.size());
    std::map<LabelPairs, prometheus::ClientMetric> current;  // gauges: remaining labels -> summed series
    std::size_t folded = 0;
    for (auto& m : f.metric) {
      auto k = workload_key(m);
      if (k.empty()) {
        kept.push_back(std::move(m));
        continue;
      }
      Member& member = members_.at(k);
      if (member.own) {
        kept.push_back(std::move(m));
        continue;
      }
      ++folded;
      if (!summable) continue;
      LabelPairs rest = overflow_labels(m);
      if (counter) {
        std::uint32_t idx = accumulator(f, rest);
        double v = m.counter.value;
        if (idx == kNoAccumulator || !std::isfinite(v) || v < 0) continue;
        auto [last, fresh] = member.last.try_emplace(idx, 0.0);
        acc_[idx].value += v >= last->second ? v - last->second : v;  // a decrease is a reset: all of v is new
        last->second = v;
        continue;
      }
      auto [it, inserted] = current.try_emplace(rest);
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
    if (fam_acc == acc_by_family_.end()) fam_acc = acc_by_family_.find(f.name);  // created in this scrape
    std::size_t added = current.size();
    for (auto& [labels, m] : current) kept.push_back(std::move(m));
    if (counter && fam_acc != acc_by_family_.end()) {
      // Every accumulator of the family, members present or not: a counter that exists keeps being written.
      written.insert(f.name);
      added += fam_acc->second.accumulators.size();
      append_accumulators(fam_acc->second, kept);
    }
    // Every series was moved into kept, the family's untouched ones (no workload label, own workloads) too.
    f.metric = std::move(kept);
    removed += static_cast<std::ptrdiff_t>(folded) - static_cast<std::ptrdiff_t>(added);
  }
  // Counter families no collector wrote in this scrape (all their workloads gone, a collector failed): their
  // overflow series still, so that they do not go stale and come back.
  for (const auto& [name, fam] : acc_by_family_) {
    if (written.count(name)) continue;
    prometheus::MetricFamily f;
    f.name = name;
    f.help = fam.help;
    f.type = prometheus::MetricType::Counter;
    append_accumulators(fam, f.metric);
    families.push_back(std::move(f));
  }
  stats.series_removed = removed > 0 ? static_cast<std::size_t>(removed) : 0;
  return stats;
}

void add_cap_metrics(std::vector<prometheus::MetricFamily>& families, const CapStats& stats,
                     std::size_t max_workloads) {
  families.push_back(gauge_family("sgx_exporter_workloads",
                                  "Distinct workloads (pods, containers, cgroups) with series in this scrape.",
                                  static_cast<double>(stats.workloads)));
  families.push_back(gauge_family(
      "sgx_exporter_workloads_aggregated",
      "Workloads of this scrape whose series are summed into cgroup=\"_overflow\" (no free slot of --metrics.max-workloads when they first appeared).",
      static_cast<double>(stats.aggregated)));
  families.push_back(gauge_family("sgx_exporter_workloads_limit",
                                  "The --metrics.max-workloads setting (0: no limit).",
                                  static_cast<double>(max_workloads)));
}

}  // namespace epc
