// The exposition check of the C++ tests: the rules of tests/lib/prom_text.py (the Python tests' one check) for the
// unit tests that produce exposition text (serialised families, a rendered scrape, an HTTP /metrics body):
//   - a series is written once: no two samples with the same name and label set, compared as written and with
//     empty-valued labels dropped (Prometheus stores {a="",b="x"} as {b="x"} and keeps one of two such series);
//   - every series of a family carries the same label names (`le` of histogram buckets and `quantile` of summary
//     quantiles are structure, not labels);
//   - no label name twice in one series, no family typed twice, a family's samples together.
// Parsed with the project's C++ text-format parser (promtext/prom_text.h), so a page that does not parse fails too.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace epc::test {

// What breaks the rules, one line each; empty when the page is clean.
std::vector<std::string> exposition_problems(std::string_view page);

// For EXPECT_TRUE / ASSERT_TRUE: success, or a failure listing every problem.
::testing::AssertionResult exposition_is_clean(std::string_view page);

}  // namespace epc::test
