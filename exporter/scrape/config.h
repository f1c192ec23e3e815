// Everything the command line sets. Parsed by flags.cpp; read-only afterwards.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>

namespace epc {

struct Config {
  std::string listen_address = ":9840";
  std::string telemetry_path = "/metrics";
  std::string rootfs = "/";
  std::string log_level = "info";
  std::string log_format = "logfmt";
  std::string web_config_file;                 // empty: plain HTTP, no auth
  unsigned max_requests = 40;                  // concurrent requests served; more get 503
  unsigned request_timeout_ms = 10000;         // per request, slow clients are cut off
  unsigned max_connections = 4096;             // open connections; at the cap the oldest without a request goes
  unsigned workload_grace_ms = 300000;         // absence before a capped workload's slot is freed
  unsigned max_workloads = 1000;               // per-workload series beyond this many workloads are aggregated
  bool disable_exporter_metrics = false;       // --web.disable-exporter-metrics: no process_* (sgx_exporter_* stay)
  std::set<std::string> enabled_collectors;    // resolved: defaults plus --collector.X minus --no-collector.X
  // --collector.<collector>.<flag>=value, keyed "<collector>.<flag>"; defaults filled in.
  std::map<std::string, std::string> collector_flags;

  bool collector_enabled(const std::string& name) const { return enabled_collectors.count(name) != 0; }
  const std::string& collector_flag(const std::string& collector, const std::string& flag) const;
};

}  // namespace epc
