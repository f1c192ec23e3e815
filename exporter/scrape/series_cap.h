// Cardinality bound for per-workload series (--metrics.max-workloads).
//
// A node with pod churn or thousands of cgroups must not make every scrape, the exporter's memory and
// Prometheus' TSDB grow without bound. Applied to the whole scrape after the collectors ran, so it needs no help
// from them: a series is per-workload when it carries a "pod" or "cgroup" label (Workload::labels()). The first
// `max_workloads` workloads in label order keep their series; the series of the others are summed, per family
// and remaining label set, into one series labelled cgroup="_overflow" (plus container="_overflow" for
// container-level series, which stay apart from pod-level ones). Self metrics say how many were folded.
#pragma once

#include <cstddef>
#include <vector>

#include <prometheus/metric_family.h>

namespace epc {

inline constexpr const char* kOverflowCgroup = "_overflow";

struct CapStats {
  std::size_t workloads = 0;   // distinct workloads in the scrape
  std::size_t aggregated = 0;  // of those, folded into the overflow series
  std::size_t series_removed = 0;  // series replaced by overflow series (net)
};

// max_workloads 0: no limit.
CapStats apply_workload_cap(std::vector<prometheus::MetricFamily>& families, std::size_t max_workloads);

// Appends sgx_exporter_workloads, sgx_exporter_workloads_aggregated and sgx_exporter_workloads_limit.
void add_cap_metrics(std::vector<prometheus::MetricFamily>& families, const CapStats& stats,
                     std::size_t max_workloads);

}  // namespace epc
