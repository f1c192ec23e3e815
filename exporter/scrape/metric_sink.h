// What a collector writes its samples into. Families are grouped by name, in first-seen order; labels are
// kept as given, and every series of a family carries the same label names in the same order (a label without a
// value is written as "", as client_golang does; writing other names throws std::logic_error). Build everything fresh on every scrape: a series that is not written simply disappears.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
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
  // name and help are copied only when a family is first written (collectors pass literals per series).
  void gauge(std::string_view name, std::string_view help, const Labels& labels, double value);
  void counter(std::string_view name, std::string_view help, const Labels& labels, double value);
  // An "info" metric: a gauge of value 1 whose labels carry the information.
  void info(std::string_view name, std::string_view help, const Labels& labels) { gauge(name, help, labels, 1); }

  // Moves another sink's families in: a family new here is taken whole, one already here gets the other's
  // series appended. A family written with another type or other label names stays out (returns its name; empty
  // when none did).
  std::vector<std::string> absorb(std::vector<prometheus::MetricFamily>&& families);

  std::size_t series_count() const { return series_; }
  std::vector<prometheus::MetricFamily>& families() { return families_; }
  std::vector<prometheus::MetricFamily> take();

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  prometheus::ClientMetric& add(std::string_view name, std::string_view help, prometheus::MetricType type,
                                const Labels& labels);
  std::vector<prometheus::MetricFamily> families_;
  std::unordered_map<std::string, std::size_t, Hash, std::equal_to<>> index_;
  std::size_t series_ = 0;
};

}  // namespace epc
