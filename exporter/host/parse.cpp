#include "host/parse.h"

#include <charconv>

namespace epc {

std::string_view trim(std::string_view s) {
  constexpr std::string_view ws = " \t\r\n\f\v";
  auto b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  auto e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

Result<unsigned long long> parse_u64(std::string_view s) {
  if (s.empty()) return make_error("empty number");
  unsigned long long v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 10);
  // The text itself is not quoted: it may come from any file (a symlink's target), and files' contents stay out
  // of messages and logs.
  if (ec == std::errc::result_out_of_range) return make_error("number out of range (" + std::to_string(s.size()) + " digits)");
  if (ec != std::errc() || ptr != s.data() + s.size())
    return make_error("not an unsigned integer (" + std::to_string(s.size()) + " characters)");
  return v;
}

std::vector<std::string_view> split_fields(std::string_view s, std::string_view seps) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    i = s.find_first_not_of(seps, i);
    if (i == std::string_view::npos) break;
    auto j = s.find_first_of(seps, i);
    if (j == std::string_view::npos) j = s.size();
    out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

std::vector<std::string_view> split_lines(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    auto j = s.find('\n', i);
    if (j == std::string_view::npos) j = s.size();
    auto line = s.substr(i, j - i);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    out.push_back(line);
    i = j + 1;
  }
  return out;
}

}  // namespace epc
