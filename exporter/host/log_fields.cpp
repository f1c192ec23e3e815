#include "host/log_fields.h"

namespace epc {
namespace {

void append_clean(std::string& out, std::string_view v) {
  for (char c : v) out += (c == kLogFieldSep || c == kLogKeySep) ? '?' : c;
}

}  // namespace

std::string log_fields(std::string_view msg, std::initializer_list<LogField> fields) {
  return log_fields(msg, std::vector<LogField>(fields));
}

std::string log_fields(std::string_view msg, const std::vector<LogField>& fields) {
  std::string out;
  append_clean(out, msg);
  for (const auto& [key, value] : fields) {
    if (value.empty()) continue;  // a field without a value is left out
    out += kLogFieldSep;
    std::string k;
    for (char c : key) k += ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') ? c : '_';
    if (k.empty() || k == "ts" || k == "level" || k == "msg") k = "field_" + k;
    out += k;
    out += kLogKeySep;
    append_clean(out, value);
  }
  return out;
}

LogLine split_log_fields(std::string_view payload) {
  LogLine line;
  auto at = payload.find(kLogFieldSep);
  line.msg = payload.substr(0, at);
  while (at != std::string_view::npos) {
    auto next = payload.find(kLogFieldSep, at + 1);
    auto field = payload.substr(at + 1, next == std::string_view::npos ? std::string_view::npos : next - at - 1);
    auto eq = field.find(kLogKeySep);
    if (eq == std::string_view::npos)
      line.fields.emplace_back(field, std::string_view());
    else
      line.fields.emplace_back(field.substr(0, eq), field.substr(eq + 1));
    at = next;
  }
  return line;
}

}  // namespace epc
