// How collectors are made: what each may use, its flags, and the list of every collector of the product.
// Above attribution/ (a collector resolves cgroups to workloads), below app/ (main and the flag parser read it).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "scrape/collector.h"

namespace epc {

class HostPaths;
class Attribution;
struct Config;

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
