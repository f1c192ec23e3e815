// What a collector writes its samples into. Families are grouped by name, in first-seen order; labels are
// kept as given. Build everything fresh on every scrape: a series that is not written simply disappears.
#pragma once

#include <cstddef>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>
#include <prometheus/metric_type.h>

namespace epc {

using Labels = std::vector<std::pair<std::string, std::string>>;

class MetricSink {
 public:
  void gauge(const std::string& name, const std::string& help, const Labels& labels, double value);
  void counter(const std::string& name, const std::string& help, const Labels& labels, double value);
  // An "info" metric: a gauge of value 1 whose labels carry the information.
  void info(const std::string& name, const std::string& help, const Labels& labels) { gauge(name, help, labels, 1); }

  std::size_t series_count() const { return series_; }
  std::vector<prometheus::MetricFamily>& families() { return families_; }
  std::vector<prometheus::MetricFamily> take();

 private:
  prometheus::ClientMetric& add(const std::string& name, const std::string& help, prometheus::MetricType type,
                                const Labels& labels);
  std::vector<prometheus::MetricFamily> families_;
  std::unordered_map<std::string, std::size_t> index_;
  std::size_t series_ = 0;
};

}  // namespace epc
