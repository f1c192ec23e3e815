// Pieces of the Prometheus text exposition format (0.0.4), byte for byte as prometheus/common's expfmt writes them
// (text_create.go: what the Go client, node_exporter and every Go exporter serve), so a scrape of this exporter
// reads like theirs: the same numbers, the same escapes.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace epc {

// A sample value as expfmt's writeFloat: 1, 0 (and -0), -1, NaN, +Inf and -Inf spelled out; anything else as Go's
// strconv.AppendFloat(f, 'g', -1, 64): the shortest digits that read back as the same double, in %e form
// (d.ddde±dd) when the decimal exponent is below -4 or at least 6 (Go's %g rule for the shortest precision,
// strconv/ftoa.go formatDigits: eprec = 6), plain decimals otherwise. So 4096 is "4096", 34359738368 is
// "3.4359738368e+10", 0.07 is "0.07", 1e-05 is "1e-05".
void append_value(std::string& out, double v);
// The same into a buffer of at least kMaxValueChars; returns the end of what it wrote.
inline constexpr std::size_t kMaxValueChars = 32;
char* write_value(char* out, double v);

// A label value between its quotes: backslash, double quote and newline escaped (\\, \", \n).
void append_label_value(std::string& out, std::string_view v);

// HELP text: backslash and newline escaped (\\, \n); quotes stay.
void append_help(std::string& out, std::string_view help);

}  // namespace epc
