#include "scrape/series_cap.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>

#include "host/log_fields.h"
#include "metricnames/metric_names.h"

namespace epc {
namespace {

constexpr MetricDef kWorkloads{
    .name = "sgx_exporter_workloads",
    .type = MetricType::kGauge,
    .help = "Distinct workloads (pods, containers, cgroups) with series in this scrape.",
    .doc = "distinct workloads (pods, containers, cgroups) with series in this scrape"};
constexpr MetricDef kWorkloadsAggregated{
    .name = metric_names::kWorkloadsAggregated,
    .type = MetricType::kGauge,
    .help = "Workloads of this scrape whose series are summed into cgroup=\"_overflow\" (no free slot of "
            "--metrics.max-workloads when they first appeared).",
    .doc = "workloads of this scrape summed into `cgroup=\"_overflow\"`: no free slot of `--metrics.max-workloads` "
           "when they first appeared (docs/security.md)"};
constexpr MetricDef kWorkloadsLimit{.name = "sgx_exporter_workloads_limit",
                                    .type = MetricType::kGauge,
                                    .help = "The --metrics.max-workloads setting (0: no limit).",
                                    .doc = "the `--metrics.max-workloads` setting (0: no limit)"};

}  // namespace

const std::vector<const MetricDef*>& cap_metric_defs() {
  static const std::vector<const MetricDef*> defs = {&kWorkloads, &kWorkloadsAggregated, &kWorkloadsLimit};
  return defs;
}

std::uint32_t WorkloadCap::accumulator(const MetricDef& def, bool container_level, std::string_view labels) {
  std::string key(def.name);
  key.push_back(container_level ? '\x1e' : '\x1d');
  key.append(labels);
  if (auto it = acc_index_.find(key); it != acc_index_.end()) return it->second;
  if (acc_.size() >= options_.max_accumulators) {
    if (!acc_full_logged_)
      spdlog::warn("{}", log_fields("workload cap: overflow counter series full; further ones are dropped",
                                    {{"limit", std::to_string(options_.max_accumulators)}}));
    acc_full_logged_ = true;
    return kNoAccumulator;
  }
  const auto idx = static_cast<std::uint32_t>(acc_.size());
  acc_.push_back({&def, container_level, std::string(labels), 0.0});
  acc_index_.emplace(std::move(key), idx);
  auto& fam = acc_by_family_.try_emplace(def.name, CounterFamily{&def, {}}).first->second;
  fam.accumulators.push_back(idx);
  return idx;
}

CapStats WorkloadCap::apply(MetricSink& sink, Clock::time_point now) {
  CapStats stats;
  // The workloads of this scrape: those a per-workload row names.
  const std::size_t n = sink.workload_count();
  std::vector<std::uint8_t> present(n, 0);
  for (const auto& f : sink.families())
    if (f.def->labels.per_workload())
      for (const auto& r : f.rows) present[r.workload] = 1;
  present[kNoWorkload] = 0;
  std::vector<WorkloadId> ids;
  for (WorkloadId w = 1; w < n; ++w)
    if (present[w]) ids.push_back(w);
  stats.workloads = ids.size();
  if (options_.max_workloads == 0) return stats;

  // 1. Who is back, who is new.
  std::vector<Member*> state(n, nullptr);  // element pointers of an unordered_map stay valid through inserts
  std::vector<WorkloadId> newcomers;
  std::unordered_set<const Member*> here;
  here.reserve(ids.size());
  for (WorkloadId w : ids) {
    if (auto it = members_.find(sink.workload_text(w)); it != members_.end()) {
      it->second.last_seen = now;
      state[w] = &it->second;
      here.insert(&it->second);
    } else {
      newcomers.push_back(w);
    }
  }
  // 2. Absent for the grace period: forgotten (a slot freed, or an overflowed workload's detail dropped: its
  // increases stay in the accumulators). Beyond max_absent absent overflowed ones, the oldest first.
  std::vector<std::pair<Clock::time_point, std::string>> absent_overflowed;
  for (auto it = members_.begin(); it != members_.end();) {
    if (here.count(&it->second)) {
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
  std::sort(newcomers.begin(), newcomers.end(),
            [&](WorkloadId a, WorkloadId b) { return sink.workload_text(a) < sink.workload_text(b); });
  for (WorkloadId w : newcomers) {
    Member m;
    m.last_seen = now;
    m.own = own_ < options_.max_workloads;
    if (m.own) ++own_;
    state[w] = &members_.emplace(std::string(sink.workload_text(w)), std::move(m)).first->second;
  }
  for (WorkloadId w : ids)
    if (!state[w]->own) ++stats.aggregated;
  if (stats.aggregated == 0 && acc_.empty()) return stats;

  // 4. Fold the overflowed workloads' rows.
  WorkloadId overflow[2] = {kNoWorkload, kNoWorkload};  // pod level, container level
  auto overflow_workload = [&](bool container_level) {
    WorkloadId& w = overflow[container_level ? 1 : 0];
    if (w == kNoWorkload)
      w = sink.workload(WorkloadLabels{"", "", container_level ? kOverflowCgroup : "", kOverflowCgroup});
    return w;
  };
  std::ptrdiff_t removed = 0;
  std::unordered_set<std::string_view> written;
  for (std::size_t fi = 0; fi < sink.families().size(); ++fi) {
    auto& f = sink.families()[fi];
    const MetricDef& def = *f.def;
    if (!def.labels.per_workload()) continue;  // node-level: never changed
    const bool counter = def.type == MetricType::kCounter;
    std::vector<MetricSink::Row> kept;
    kept.reserve(f.rows.size());
    std::map<std::pair<bool, std::string_view>, MetricSink::Row> current;  // gauges: level, labels -> summed row
    std::size_t folded = 0;
    for (const auto& r : f.rows) {
      if (r.workload == kNoWorkload || state[r.workload]->own) {
        kept.push_back(r);
        continue;
      }
      ++folded;
      const bool level = sink.container_level(r.workload);
      const std::string_view labels = sink.row_labels(r);
      if (counter) {
        std::uint32_t idx = accumulator(def, level, labels);
        const double v = r.value;
        if (idx == kNoAccumulator || !std::isfinite(v) || v < 0) continue;
        auto [last, fresh] = state[r.workload]->last.try_emplace(idx, 0.0);
        acc_[idx].value += v >= last->second ? v - last->second : v;  // a decrease is a reset: all of v is new
        last->second = v;
        continue;
      }
      auto [it, inserted] =
          current.try_emplace({level, labels}, MetricSink::Row{overflow_workload(level), r.labels_at, r.labels_len, 0.0});
      it->second.value += r.value;
    }
    std::size_t added = current.size();
    for (auto& [key, row] : current) kept.push_back(row);
    if (counter) {
      if (auto fam = acc_by_family_.find(def.name); fam != acc_by_family_.end()) {
        // Every accumulator of the family, members present or not: a counter that exists keeps being written.
        written.insert(def.name);
        added += fam->second.accumulators.size();
        for (std::uint32_t idx : fam->second.accumulators) {
          const auto [at, len] = sink.store_labels(acc_[idx].labels);
          kept.push_back({overflow_workload(acc_[idx].container_level), at, len, acc_[idx].value});
        }
      }
    }
    f.rows = std::move(kept);
    removed += static_cast<std::ptrdiff_t>(folded) - static_cast<std::ptrdiff_t>(added);
  }
  // Counter families no collector wrote in this scrape (all their workloads gone, a collector failed): their
  // overflow series still, so that they do not go stale and come back.
  for (const auto& [name, fam] : acc_by_family_) {
    if (written.count(name)) continue;
    for (std::uint32_t idx : fam.accumulators) {
      const auto [at, len] = sink.store_labels(acc_[idx].labels);
      sink.family(*fam.def).rows.push_back({overflow_workload(acc_[idx].container_level), at, len, acc_[idx].value});
    }
  }
  stats.series_removed = removed > 0 ? static_cast<std::size_t>(removed) : 0;
  return stats;
}

void add_cap_metrics(MetricSink& sink, const CapStats& stats, std::size_t max_workloads) {
  sink.add(kWorkloads, static_cast<double>(stats.workloads));
  sink.add(kWorkloadsAggregated, static_cast<double>(stats.aggregated));
  sink.add(kWorkloadsLimit, static_cast<double>(max_workloads));
}

}  // namespace epc
