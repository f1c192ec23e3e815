// Prometheus text exposition format (0.0.4) parser: string in, samples or an error out. No I/O, the standard
// library only. The one parser of the project's C++ clients (epctop, epc_bench) and their tests.
// Bounded: the caller caps the body (epctop/fetch.h, bench/exporter_client.h); lines, labels and samples are
// capped here so that a hostile or broken page costs at most the cap, and the first problem is reported with its
// line number.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace promtext {

struct Sample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;  // in page order
  double value = 0;

  // The value of label `key`, or "" when absent (Prometheus treats an empty label as absent too).
  std::string_view label(std::string_view key) const;
};

struct ParseLimits {
  std::size_t max_line_bytes = 64 * 1024;
  std::size_t max_labels = 64;
  std::size_t max_samples = 500'000;
};

struct ParseError {
  std::size_t line = 0;  // 1-based; 0: the body as a whole
  std::string message;
  std::string what() const;  // "line 3: ..." or the message
};

using ParseResult = std::variant<std::vector<Sample>, ParseError>;

ParseResult parse_prometheus_text(std::string_view body, const ParseLimits& limits = {});

}  // namespace promtext
