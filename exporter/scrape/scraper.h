// The scrape pipeline: runs the enabled collectors into one MetricSink (rows, metric_sink.h), adds the exporter's
// own metrics, applies the workload cap (series_cap.h) and writes the exposition text straight from the rows. A
// collector that fails or throws reports success 0 and what it wrote is dropped; the rest of the scrape is served
// as usual. Self metrics: sgx_exporter_* (build info, collector success and duration, workload cap) and, unless
// Options::exporter_metrics is off, the process's own process_* metrics. The web layer only carries the text to
// the client.
#pragma once

#include <chrono>
#include <filesystem>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "scrape/collector.h"
#include "scrape/process_metrics.h"
#include "scrape/series_cap.h"

namespace epc {

class Scraper final {
 public:
  struct Named {
    std::string name;
    std::unique_ptr<Collector> collector;
  };
  struct Options {
    std::size_t max_workloads = 0;  // --metrics.max-workloads; 0: no cap
    std::chrono::milliseconds workload_grace = std::chrono::minutes(5);  // --metrics.workload-grace
    // The exporter's own process_* metrics (process_metrics.h); --web.disable-exporter-metrics turns them off. As
    // node_exporter's flag (which drops promhttp_*, process_* and go_*), it leaves the sgx_exporter_* self metrics
    // on: they carry the product's health (collector success, workload cap), not the process's.
    bool exporter_metrics = true;
    std::filesystem::path proc = "/proc";  // where process_* are read (tests pass sample files)
  };
  // before_collect runs at the start of every scrape, before the collectors (main passes the attribution's
  // refresh: the kubelet log index is re-read once per scrape, not once per collector).
  Scraper(std::vector<Named> collectors, std::function<void()> before_collect, Options options);
  Scraper(std::vector<Named> collectors, std::function<void()> before_collect)
      : Scraper(std::move(collectors), std::move(before_collect), Options()) {}

  // The collectors and the sgx_exporter_* build, success and duration metrics, without the cap and process_*
  // (for tests). Scrapes are serialised (collectors keep caches); this waits without limit.
  MetricSink collect() const;

  // The whole pipeline: collect(), the workload cap and its self metrics, the process_* metrics (unless
  // Options::exporter_metrics is off), the exposition text (format 0.0.4). nullopt when another scrape did not
  // finish within `wait`. The cap keeps its state (slots, overflow counters) from one render to the next, under
  // the scrape lock.
  std::optional<std::string> render_within(std::chrono::milliseconds wait) const;

 private:
  void collect_locked(MetricSink& sink) const;

  std::vector<Named> collectors_;
  std::function<void()> before_collect_;
  Options options_;
  ProcessMetrics process_;
  mutable std::timed_mutex mu_;
  mutable WorkloadCap cap_;  // guarded by mu_
};

// Hands the heap's free pages back to the system (glibc's malloc_trim; nothing elsewhere). render_within() calls it
// after each scrape.
void release_free_memory();

// The sgx_exporter_* definitions the scraper writes (build info, collector success and duration).
const std::vector<const MetricDef*>& scraper_metric_defs();

}  // namespace epc
