// Exporter in the loop: fetch the exporter's /metrics over plain HTTP (no new dependencies), parse the
// Prometheus text exposition format, and pick the paging counters of one workload (docs/metrics.md label set).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backend.h"

namespace epcbench {

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

// Parses the text format (version 0.0.4): comments, label escapes (\\ \" \n), NaN/+Inf/-Inf, optional
// timestamps. Any malformed line is an error naming the line number.
Result<std::vector<Sample>> parse_prometheus_text(std::string_view text);

struct HttpUrl {
  std::string host;
  std::uint16_t port = 80;
  std::string path = "/";
};
Result<HttpUrl> parse_http_url(std::string_view url);

// GET with connect/read timeouts and a body cap; only 200 is success.
Result<std::string> http_get(const HttpUrl& url, int timeout_ms = 3000, std::size_t max_bytes = 32u << 20);

// Which series are "ours": Kubernetes (namespace + pod, any container) or a plain cgroup path.
struct WorkloadSelector {
  std::string namespace_name, pod;  // both set: Kubernetes
  std::string cgroup;               // otherwise: cgroup label, e.g. "system.slice/foo.service" or "/"
  bool matches(const Sample& s) const;
  std::string describe() const;
};

// This process's cgroup v2 path in the exporter's label form (no leading slash; "/" for the root), from the
// "0::" line of /proc/self/cgroup text.
std::optional<std::string> cgroup_label_from_proc(std::string_view proc_self_cgroup);

struct ExporterCounts {
  double evicted = 0, loaded_back = 0, faults = 0;
  bool any_series = false;      // at least one of the three metrics had a series for the selector
  bool probes_attached = false; // some sgx_exporter_probe_attached == 1
};
ExporterCounts select_counts(const std::vector<Sample>& samples, const WorkloadSelector& sel);

}  // namespace epcbench
