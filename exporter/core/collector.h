// The one narrow interface every collector implements (after node_exporter's collector.Collector).
//
// A collector builds its metrics fresh on every scrape. It returns an error Status when it could not do its
// job (unreadable or garbage input): the scrape then reports sgx_exporter_collector_success{collector}=0 and
// the other collectors' metrics are served as usual. "No data here" (no SGX, no misc sgx_epc resource) is
// not a failure: write nothing and return Ok.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/metric_sink.h"
#include "core/result.h"

namespace epc {

class HostPaths;
class Attribution;
struct Config;

class Collector {
 public:
  virtual ~Collector() = default;
  virtual Status collect(MetricSink& sink) = 0;
};

// What a collector may use; everything outlives the collector.
struct CollectorServices {
  const Config& config;
  const HostPaths& paths;
  Attribution& attribution;
};

// A collector-specific flag: --collector.<collector>.<name>=<value>.
struct CollectorFlag {
  std::string name;
  std::string help;
  std::string default_value;
};

struct CollectorSpec {
  std::string name;
  bool enabled_by_default = true;
  std::string help;
  std::vector<CollectorFlag> flags;
  // May throw std::runtime_error for a configuration error (bad flag value): start-up fails with exit 2.
  std::function<std::unique_ptr<Collector>(const CollectorServices&)> make;
};

// Every collector of the product, in scrape order (exporter/collectors/registry.cpp).
const std::vector<CollectorSpec>& all_collectors();

}  // namespace epc
