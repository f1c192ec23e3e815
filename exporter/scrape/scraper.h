// The scrape pipeline: runs the enabled collectors, adds the exporter's own metrics, applies the workload cap
// (series_cap.h) and writes the exposition text (exposition.h). A collector that fails or throws reports success
// 0; the rest of the scrape is served as usual. Self metrics: sgx_exporter_* (build info, collector success and
// duration, workload cap) and, unless Options::exporter_metrics is off, the process's own process_* metrics
// (render_within only: Collect() and collect_within() hand out the collectors' families and sgx_exporter_*). The web layer only carries the text to the client.
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

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include "scrape/collector.h"
#include "scrape/process_metrics.h"
#include "scrape/series_cap.h"

namespace epc {

class Scraper final : public prometheus::Collectable {
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

  // prometheus::Collectable. Scrapes are serialised (collectors keep caches); this waits without limit.
  std::vector<prometheus::MetricFamily> Collect() const override;

  // Waits at most `wait` for a scrape running in another thread; nullopt when it did not finish in time.
  std::optional<std::vector<prometheus::MetricFamily>> collect_within(std::chrono::milliseconds wait) const;

  // The whole pipeline: collect_within(wait), the workload cap and its self metrics, the process_* metrics (unless
  // Options::exporter_metrics is off), the exposition text (format 0.0.4). nullopt when another scrape did not
  // finish within `wait`. The cap keeps its state (slots, overflow counters) from one render to the next, under
  // the scrape lock.
  std::optional<std::string> render_within(std::chrono::milliseconds wait) const;

 private:
  std::vector<prometheus::MetricFamily> collect_locked() const;

  std::vector<Named> collectors_;
  std::function<void()> before_collect_;
  Options options_;
  ProcessMetrics process_;
  mutable std::timed_mutex mu_;
  mutable WorkloadCap cap_;  // guarded by mu_
};

}  // namespace epc
