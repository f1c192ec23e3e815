#include "scrape/metric_sink.h"

#include <stdexcept>

namespace epc {

prometheus::ClientMetric& MetricSink::add(std::string_view name, std::string_view help, prometheus::MetricType type,
                                          const Labels& labels) {
  auto it = index_.find(name);
  if (it == index_.end()) {
    it = index_.emplace(std::string(name), families_.size()).first;
    prometheus::MetricFamily f;
    f.name = std::string(name);
    f.help = std::string(help);
    f.type = type;
    families_.push_back(std::move(f));
  } else if (families_[it->second].type != type) {
    // Two collectors (or one twice) using one name with two types is a programming error.
    throw std::logic_error("metric " + std::string(name) + " written with two different types");
  }
  auto& fam = families_[it->second];
  if (!fam.metric.empty()) {
    // Every series of a family carries the family's label names, in one order (absent values are "").
    const auto& first = fam.metric.front().label;
    bool same = first.size() == labels.size();
    for (std::size_t i = 0; same && i < labels.size(); ++i) same = first[i].name == labels[i].first;
    if (!same) {
      auto names = [](auto&& list, auto&& name_of) {
        std::string out;
        for (const auto& l : list) out += (out.empty() ? "" : ",") + std::string(name_of(l));
        return "{" + out + "}";
      };
      throw std::logic_error("metric " + std::string(name) + " written with two label sets: " +
                             names(first, [](const auto& l) { return l.name; }) + " and " +
                             names(labels, [](const auto& l) { return l.first; }));
    }
  }
  auto& m = fam.metric.emplace_back();
  m.label.reserve(labels.size());
  for (const auto& [k, v] : labels) m.label.push_back({k, v});
  ++series_;
  return m;
}

void MetricSink::gauge(std::string_view name, std::string_view help, const Labels& labels, double value) {
  add(name, help, prometheus::MetricType::Gauge, labels).gauge.value = value;
}

void MetricSink::counter(std::string_view name, std::string_view help, const Labels& labels, double value) {
  add(name, help, prometheus::MetricType::Counter, labels).counter.value = value;
}

std::vector<std::string> MetricSink::absorb(std::vector<prometheus::MetricFamily>&& families) {
  std::vector<std::string> refused;
  for (auto& fam : families) {
    auto it = index_.find(fam.name);
    if (it == index_.end()) {
      series_ += fam.metric.size();
      index_.emplace(fam.name, families_.size());
      families_.push_back(std::move(fam));
      continue;
    }
    auto& mine = families_[it->second];
    auto names_differ = [&] {
      if (mine.metric.empty() || fam.metric.empty()) return false;
      const auto& a = mine.metric.front().label;
      const auto& b = fam.metric.front().label;
      if (a.size() != b.size()) return true;
      for (std::size_t i = 0; i < a.size(); ++i)
        if (a[i].name != b[i].name) return true;
      return false;
    };
    if (mine.type != fam.type || names_differ()) {
      refused.push_back(fam.name);
      continue;
    }
    series_ += fam.metric.size();
    mine.metric.insert(mine.metric.end(), std::make_move_iterator(fam.metric.begin()),
                       std::make_move_iterator(fam.metric.end()));
  }
  families.clear();
  return refused;
}

std::vector<prometheus::MetricFamily> MetricSink::take() {
  index_.clear();
  series_ = 0;
  return std::exchange(families_, {});
}

}  // namespace epc
