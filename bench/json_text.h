// JSON text the bench tools write by hand (epc_bench --validate, the emu workload): strings quoted and escaped,
// numbers that are never NaN or infinite (null instead).
#pragma once

#include <cmath>
#include <cstdio>
#include <string>
#include <string_view>

namespace epcbench {

inline std::string json_quote(std::string_view s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      o += '\\';
      o += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", c);
      o += b;
    } else {
      o += c;
    }
  }
  return o + "\"";
}

inline std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  char b[40];
  std::snprintf(b, sizeof b, "%.10g", v);
  return b;
}

}  // namespace epcbench
