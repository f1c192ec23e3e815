// Exporter in the loop: fetch the exporter's /metrics over plain HTTP (no new dependencies), parse it with the
// project's Prometheus text parser (promtext/), and pick the paging counters of one workload (docs/metrics.md
// label set).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backend.h"
#include "promtext/prom_text.h"

namespace epcbench {

using promtext::Sample;

struct HttpUrl {
  std::string host;
  std::uint16_t port = 80;
  std::string path = "/";
};
Result<HttpUrl> parse_http_url(std::string_view url);

// GET with connect/read timeouts and a body cap; only 200 is success.
Result<std::string> http_get(const HttpUrl& url, int timeout_ms = 3000, std::size_t max_bytes = 32u << 20);

// http_get + the parser: the exporter's samples, or an error saying which step failed ("exporter: ...").
Result<std::vector<Sample>> scrape(const HttpUrl& url, int timeout_ms = 3000);

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
