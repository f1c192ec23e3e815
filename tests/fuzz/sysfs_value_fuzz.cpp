// Parsers of single sysfs/procfs values and of line/field splitting (host/parse.h), used by every collector.
#include <string>

#include "host/parse.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto text = as_text(data, size);
  auto t = epc::trim(text);
  FUZZ_CHECK(t.size() <= text.size());
  if (auto v = epc::parse_u64(t)) {
    // Round trip: a number accepted is exactly its decimal text (leading zeros aside).
    auto digits = t.find_first_not_of('0') == std::string_view::npos ? std::string_view("0")
                                                                      : t.substr(t.find_first_not_of('0'));
    FUZZ_CHECK(std::to_string(*v) == digits);
  }
  std::size_t total = 0;
  for (auto line : epc::split_lines(text)) {
    FUZZ_CHECK(line.find('\n') == std::string_view::npos);
    total += line.size();
    for (auto f : epc::split_fields(line)) FUZZ_CHECK(!f.empty() && f.find_first_of(" \t") == std::string_view::npos);
  }
  FUZZ_CHECK(total <= text.size());
  return 0;
}
