// What the scrape pipeline takes from the command line (--metrics.*, --web.disable-exporter-metrics). Web, path,
// logging and collector options live with the code they configure (app/flags.h, each collector's file).
#pragma once

namespace epc {

struct Config {
  unsigned max_workloads = 1000;          // per-workload series beyond this many workloads are aggregated; 0: no cap
  unsigned workload_grace_ms = 300000;    // absence before a capped workload's slot is freed
  bool disable_exporter_metrics = false;  // no process_* (the sgx_exporter_* self metrics stay)
};

}  // namespace epc
