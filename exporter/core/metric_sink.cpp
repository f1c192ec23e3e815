#include "core/metric_sink.h"

#include <stdexcept>

namespace epc {

prometheus::ClientMetric& MetricSink::add(const std::string& name, const std::string& help,
                                          prometheus::MetricType type, const Labels& labels) {
  auto [it, inserted] = index_.try_emplace(name, families_.size());
  if (inserted) {
    prometheus::MetricFamily f;
    f.name = name;
    f.help = help;
    f.type = type;
    families_.push_back(std::move(f));
  } else if (families_[it->second].type != type) {
    // Two collectors (or one twice) using one name with two types is a programming error.
    throw std::logic_error("metric " + name + " written with two different types");
  }
  auto& fam = families_[it->second];
  prometheus::ClientMetric m;
  m.label.reserve(labels.size());
  for (const auto& [k, v] : labels) m.label.push_back({k, v});
  fam.metric.push_back(std::move(m));
  ++series_;
  return fam.metric.back();
}

void MetricSink::gauge(const std::string& name, const std::string& help, const Labels& labels, double value) {
  add(name, help, prometheus::MetricType::Gauge, labels).gauge.value = value;
}

void MetricSink::counter(const std::string& name, const std::string& help, const Labels& labels, double value) {
  add(name, help, prometheus::MetricType::Counter, labels).counter.value = value;
}

std::vector<prometheus::MetricFamily> MetricSink::take() {
  index_.clear();
  series_ = 0;
  return std::exchange(families_, {});
}

}  // namespace epc
