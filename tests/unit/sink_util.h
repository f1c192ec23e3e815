// Reading a MetricSink's rows back in tests: a series by family name and labels, decoded from the rendered label
// sets (MetricSink::labels_of). Label matching drops empty labels first, as Prometheus stores a series.
#pragma once

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "scrape/metric_sink.h"

namespace epc::test {

// The series of a family: its non-empty labels (in the definition's order) and value.
inline std::vector<std::pair<Labels, double>> series_of(const MetricSink& sink, std::string_view family) {
  std::vector<std::pair<Labels, double>> out;
  const auto* f = sink.find(family);
  if (!f) return out;
  for (const auto& r : f->rows) {
    Labels l;
    for (auto& [k, v] : sink.labels_of(*f, r))
      if (!v.empty()) l.emplace_back(std::move(k), std::move(v));
    out.emplace_back(std::move(l), r.value);
  }
  return out;
}

// The value of the series whose non-empty labels are exactly `labels` (any order).
inline std::optional<double> value_exact(const MetricSink& sink, std::string_view family, Labels labels) {
  std::sort(labels.begin(), labels.end());
  for (auto& [l, v] : series_of(sink, family)) {
    std::sort(l.begin(), l.end());
    if (l == labels) return v;
  }
  return std::nullopt;
}

// The value of the first series whose labels include every pair of `want` ("" in want: the label is empty).
inline std::optional<double> value_with(const MetricSink& sink, std::string_view family, const Labels& want) {
  const auto* f = sink.find(family);
  if (!f) return std::nullopt;
  for (const auto& r : f->rows) {
    const Labels l = sink.labels_of(*f, r);
    bool ok = true;
    for (const auto& [k, v] : want) {
      bool found = false;
      for (const auto& [lk, lv] : l) found = found || (lk == k && lv == v);
      ok = ok && found;
    }
    if (ok) return r.value;
  }
  return std::nullopt;
}

inline std::size_t rows_of(const MetricSink& sink, std::string_view family) {
  const auto* f = sink.find(family);
  return f ? f->rows.size() : 0;
}

inline bool has_family(const MetricSink& sink, std::string_view family) { return rows_of(sink, family) > 0; }

}  // namespace epc::test
