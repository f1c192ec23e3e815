// Command-line flags in Prometheus exporter conventions (--web.listen-address=..., --collector.X / --no-collector.X).
// Both "--flag=value" and "--flag value" are accepted. Errors are returned, never thrown: main() prints them and
// exits with status 2.
#pragma once

#include <string>
#include <vector>

#include "collectors/registry.h"
#include "scrape/config.h"
#include "host/result.h"

namespace epc {

struct ParsedFlags {
  enum class Action { kRun, kHelp, kVersion };
  Action action = Action::kRun;
  Config config;
};

Result<ParsedFlags> parse_flags(const std::vector<std::string>& args, const std::vector<CollectorSpec>& collectors);

std::string usage(const std::vector<CollectorSpec>& collectors);

// "10s", "500ms", "2m", "1.5s" -> milliseconds. Bare numbers are rejected (the unit is required).
Result<unsigned> parse_duration_ms(const std::string& text);

}  // namespace epc
