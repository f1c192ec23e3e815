// The Prometheus text exposition format (0.0.4) written straight into one string: the same bytes as
// prometheus-cpp's TextSerializer for every family type (tests/unit/scrape/exposition_test.cpp proves it), without
// an ostream, a locale or a temporary string per series. A scrape of thousands of series spends a fifth of its
// CPU time in TextSerializer (tests/perf), most of it in ostream insertion and double formatting.
#pragma once

#include <string>
#include <vector>

#include <prometheus/metric_family.h>

namespace epc {

// Appends the families to out.
void append_text_exposition(std::string& out, const std::vector<prometheus::MetricFamily>& families);

// The families as one response body.
std::string text_exposition(const std::vector<prometheus::MetricFamily>& families);

}  // namespace epc
