// Small string parsers shared by the collectors. Each takes text and returns a value or an error; none
// touches a file, so each is tested without one.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "host/result.h"

namespace epc {

std::string_view trim(std::string_view s);

// Decimal unsigned 64-bit integer; rejects signs, junk and overflow.
Result<unsigned long long> parse_u64(std::string_view s);

// Splits on any run of the given separators; empty fields are dropped.
std::vector<std::string_view> split_fields(std::string_view s, std::string_view seps = " \t");

// Splits into lines ("\n"; a trailing "\r" is removed); a final line without newline is kept.
std::vector<std::string_view> split_lines(std::string_view s);

}  // namespace epc
