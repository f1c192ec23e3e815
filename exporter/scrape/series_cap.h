// Cardinality bound for per-workload series (--metrics.max-workloads), with counter semantics kept.
//
// A node with pod churn or thousands of cgroups must not make every scrape, the exporter's memory and
// Prometheus' TSDB grow without bound. Applied to the whole scrape after the collectors ran, on its rows
// (metric_sink.h), so it needs no help from them: a series is per-workload when it is a row of a per-workload
// family (the definition's first labels are namespace, pod, container, cgroup) that names a workload; a workload
// is its label set. Rows of other families, and a per-workload family's rows without a workload, are never
// touched.
//
// Rules (WorkloadCap keeps the state from scrape to scrape; the Scraper owns one and serialises scrapes):
//  - Slots. There are `max_workloads` slots. A workload seen for the first time takes a free slot if there is
//    one ("own": its series pass unchanged), else it is "overflowed". Newcomers of one scrape are served in
//    label order; earlier arrivals always come first, so a newcomer never takes a slot from a workload that has
//    one, whatever its name sorts like.
//  - Hysteresis. A workload missing from a scrape keeps its state (its slot, or its overflowed status and last
//    values) until it has been missing for `grace` (--metrics.workload-grace); one that comes back within it
//    continues as before. Only then is a slot freed, for the next newcomers.
//  - Overflowed for life. A workload once overflowed stays overflowed while it is remembered, even when slots
//    become free (promoting it would take its past out of the overflow counter: a decrease).
//  - Overflow series. Per family and remaining label set, the overflowed workloads' series are summed into one
//    series labelled cgroup="_overflow" (plus container="_overflow" for container-level series, kept apart
//    from pod-level ones; namespace and pod ""). Gauges are the sum of the current values of the overflowed
//    workloads in this scrape. Counters are an accumulator: each scrape adds, per overflowed workload's series,
//    its increase since the previous scrape (the whole value the first time, and after a decrease: a reset, as
//    Prometheus counts it). So a departed workload's last value stays carried, and the overflow counter never
//    decreases; once it exists it is written in every scrape (its family too, when no collector wrote it).
//  - Bounded memory. Per remembered overflowed workload: its counters' last values (forgotten with it, their
//    sum stays in the accumulator). Absent workloads are forgotten after `grace`, the oldest first beyond
//    `max_absent` overflowed ones; accumulators are bounded by `max_accumulators` (family x label set, which the
//    code, not the workloads, determines).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "scrape/metric_sink.h"

namespace epc {

inline constexpr const char* kOverflowCgroup = "_overflow";

struct CapStats {
  std::size_t workloads = 0;       // distinct workloads in the scrape
  std::size_t aggregated = 0;      // of those, folded into the overflow series
  std::size_t series_removed = 0;  // series replaced by overflow series (net; may be negative: 0 then)
};

class WorkloadCap {
 public:
  using Clock = std::chrono::steady_clock;
  struct Options {
    std::size_t max_workloads = 0;                    // 0: no limit, no state
    Clock::duration grace = std::chrono::minutes(5);  // absence before a workload is forgotten
    std::size_t max_absent = 16384;                   // absent overflowed workloads remembered at most
    std::size_t max_accumulators = 65536;             // overflow counter series at most
  };
  explicit WorkloadCap(Options options) : options_(options) {}

  CapStats apply(MetricSink& sink, Clock::time_point now);

  std::size_t remembered() const { return members_.size(); }  // for tests
  std::size_t own() const { return own_; }

 private:
  static constexpr std::uint32_t kNoAccumulator = 0xffffffffu;
  struct Member {
    bool own = false;
    Clock::time_point last_seen{};
    std::unordered_map<std::uint32_t, double> last;  // overflowed: accumulator index -> counter's last value
  };
  struct Accumulator {
    const MetricDef* def;
    bool container_level;
    std::string labels;  // the series' own labels, rendered
    double value = 0;
  };
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  Options options_;
  std::unordered_map<std::string, Member, Hash, std::equal_to<>> members_;  // by rendered label set
  std::size_t own_ = 0;
  std::vector<Accumulator> acc_;
  std::unordered_map<std::string, std::uint32_t> acc_index_;  // family + level + labels -> acc_
  struct CounterFamily {
    const MetricDef* def;
    std::vector<std::uint32_t> accumulators;
  };
  std::map<std::string_view, CounterFamily> acc_by_family_;  // by the definition's name (stable output order)
  bool acc_full_logged_ = false;

  std::uint32_t accumulator(const MetricDef& def, bool container_level, std::string_view labels);
};

// Writes sgx_exporter_workloads, sgx_exporter_workloads_aggregated and sgx_exporter_workloads_limit.
void add_cap_metrics(MetricSink& sink, const CapStats& stats, std::size_t max_workloads);

// Their definitions (docs/metrics.md).
const std::vector<const MetricDef*>& cap_metric_defs();

}  // namespace epc
