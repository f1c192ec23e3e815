// Runs the enabled collectors on every scrape and adds the exporter's own metrics. A collector that fails or
// throws reports success 0; the rest of the scrape is served as usual.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include "core/collector.h"

namespace epc {

class Attribution;

class Scraper final : public prometheus::Collectable {
 public:
  struct Named {
    std::string name;
    std::unique_ptr<Collector> collector;
  };
  Scraper(std::vector<Named> collectors, Attribution* attribution);

  // prometheus::Collectable. Scrapes are serialised (collectors keep caches); this waits without limit.
  std::vector<prometheus::MetricFamily> Collect() const override;

  // Waits at most `wait` for a scrape running in another thread; nullopt when it did not finish in time.
  std::optional<std::vector<prometheus::MetricFamily>> collect_within(std::chrono::milliseconds wait) const;

 private:
  std::vector<prometheus::MetricFamily> collect_locked() const;

  std::vector<Named> collectors_;
  Attribution* attribution_;
  mutable std::timed_mutex mu_;
};

}  // namespace epc
