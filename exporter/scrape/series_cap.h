// Cardinality bound for per-workload series (--metrics.max-workloads), with counter semantics kept.
//
// A node with pod churn or thousands of cgroups must not make every scrape, the exporter's memory and
// Prometheus' TSDB grow without bound. Applied to the whole scrape after the collectors ran, so it needs no help
// from them: a series is per-workload when it carries a "pod" or "cgroup" label (Workload::labels()); a
// workload is its namespace, pod, container and cgroup label values.
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
//    from pod-level ones). Gauges (and untyped) are the sum of the current values of the overflowed workloads
//    in this scrape. Counters are an accumulator: each scrape adds, per overflowed workload's series, its
//    increase since the previous scrape (the whole value the first time, and after a decrease: a reset, as
//    Prometheus counts it). So a departed workload's last value stays carried, and the overflow counter never
//    decreases; once it exists it is written in every scrape (its family too, when no collector wrote it). Histograms and summaries of
//    overflowed workloads are dropped (not summable here; the product has none per workload).
//  - Bounded memory. Per remembered overflowed workload: its counters' last values (forgotten with it, their
//    sum stays in the accumulator). Absent workloads are forgotten after `grace`, the oldest first beyond
//    `max_absent` overflowed ones; accumulators are bounded by `max_accumulators` (family x label set, which the
//    code, not the workloads, determines).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <prometheus/metric_family.h>

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

  CapStats apply(std::vector<prometheus::MetricFamily>& families, Clock::time_point now);

  std::size_t remembered() const { return members_.size(); }  // for tests
  std::size_t own() const { return own_; }

 private:
  using LabelPairs = std::vector<std::pair<std::string, std::string>>;
  static constexpr std::uint32_t kNoAccumulator = 0xffffffffu;
  struct Member {
    bool own = false;
    Clock::time_point last_seen{};
    std::unordered_map<std::uint32_t, double> last;  // overflowed: accumulator index -> counter's last value
  };
  struct Accumulator {
    std::string family;
    std::vector<prometheus::ClientMetric::Label> labels;
    double value = 0;
  };

  Options options_;
  std::unordered_map<std::string, Member> members_;
  std::size_t own_ = 0;
  std::vector<Accumulator> acc_;
  std::unordered_map<std::string, std::uint32_t> acc_index_;  // family + labels -> acc_
  struct CounterFamily {
    std::string help;
    std::vector<std::uint32_t> accumulators;
  };
  std::unordered_map<std::string, CounterFamily> acc_by_family_;
  bool acc_full_logged_ = false;

  std::uint32_t accumulator(const prometheus::MetricFamily& family, const LabelPairs& rest);
  void append_accumulators(const CounterFamily& fam, std::vector<prometheus::ClientMetric>& out) const;
};

// Appends sgx_exporter_workloads, sgx_exporter_workloads_aggregated and sgx_exporter_workloads_limit.
void add_cap_metrics(std::vector<prometheus::MetricFamily>& families, const CapStats& stats,
                     std::size_t max_workloads);

}  // namespace epc
