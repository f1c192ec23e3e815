// The command line in Prometheus exporter conventions (kingpin's, as node_exporter has them):
//   --name=value or --name value; booleans --name, --no-name, --name=true|false (never the next argument);
//   --collector.<name> / --no-collector.<name> switch a collector, --collector.disable-defaults turns all off first.
// Each flag is typed and bound to the struct it configures: web, paths and logging here, the scrape pipeline's in
// scrape/config.h, each collector's in its own file (collectors/registry.h). Errors are returned, never thrown:
// main() prints them and exits with status 2, before anything starts.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "collectors/registry.h"
#include "host/flag_set.h"
#include "host/result.h"
#include "scrape/config.h"

namespace epc {

// --web.*: what the HTTP layer is started with (web/http_server.h), and the web config file.
struct WebFlags {
  std::string listen_address = ":9840";
  std::string telemetry_path = "/metrics";
  std::string config_file;           // empty: plain HTTP, no auth
  unsigned max_requests = 40;        // concurrent requests served; more get 503
  unsigned max_connections = 4096;   // open connections; at the cap the oldest without a request goes
  unsigned request_timeout_ms = 10000;
};

struct ParsedFlags {
  enum class Action { kRun, kHelp, kVersion };
  Action action = Action::kRun;
  WebFlags web;
  std::string rootfs = "/";       // --path.rootfs
  std::string log_level = "info";
  std::string log_format = "logfmt";
  Config scrape;                  // --metrics.*, --web.disable-exporter-metrics
  // Every collector of the registry, in scrape order, with its options and whether it is on.
  std::vector<ConfiguredCollector> collectors;

  bool collector_enabled(std::string_view name) const;
  // A collector's typed options (null for an unknown name or another type).
  template <class Options>
  const Options* collector_options(std::string_view name) const {
    for (const auto& c : collectors)
      if (c.spec->name == name) return c.as<Options>();
    return nullptr;
  }
};

Result<ParsedFlags> parse_flags(const std::vector<std::string>& args, const std::vector<CollectorSpec>& collectors);

// What the parse alone cannot check, before anything starts: --path.rootfs is a directory, and each collector's
// own checks (files it names are readable and well-formed), enabled or not.
Status validate_flags(ParsedFlags& flags);

// --help: the flags grouped (web, paths, metrics, logging, collectors and each collector's own), wrapped at
// kUsageWidth columns.
inline constexpr std::size_t kUsageWidth = 100;
std::string usage(const std::vector<CollectorSpec>& collectors);

// The configuration in effect: every flag's name and value, and "collectors" (the enabled ones), for the debug log.
std::vector<std::pair<std::string, std::string>> resolved_flags(ParsedFlags& flags);

}  // namespace epc
