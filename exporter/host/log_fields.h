// Structured log fields. A log line's message and its key=value fields travel in one spdlog payload, separated by
// two ASCII control characters that app/log.cpp's formatter splits on: logfmt writes the fields as key=value
// after msg, JSON as keys of the line's object. So code on every layer logs fields without depending on the
// formatter, and `collector=cgroup err="..."` are fields a log pipeline can index, not text inside msg:
//
//   spdlog::error("{}", log_fields("collector failed", {{"collector", name}, {"err", status.error().message}}));
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace epc {

inline constexpr char kLogFieldSep = '\x1f';  // before each field
inline constexpr char kLogKeySep = '\x1e';    // between a field's key and its value

using LogField = std::pair<std::string_view, std::string_view>;

// A field whose value is empty is left out. Keys are reduced to [a-z0-9_] (anything else becomes '_'; "ts", "level" and
// "msg" get a "field_" prefix); the two separators inside a message or value become '?', so no input can forge a field.
std::string log_fields(std::string_view msg, std::initializer_list<LogField> fields);
// The same for fields known only at run time (the resolved configuration).
std::string log_fields(std::string_view msg, const std::vector<LogField>& fields);

struct LogLine {
  std::string_view msg;
  std::vector<LogField> fields;
};
// The payload split back (a payload without fields is all message).
LogLine split_log_fields(std::string_view payload);

}  // namespace epc
