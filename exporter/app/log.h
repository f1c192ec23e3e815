// Logging through spdlog, formatted as logfmt (default) or JSON lines, on stderr.
#pragma once

#include <string>
#include <string_view>

namespace epc {

// level: debug|info|warn|error; format: logfmt|json. Values were validated by the flag parser.
void setup_logging(const std::string& level, const std::string& format);

// Escapes one value for logfmt (quotes only when needed) or JSON (always quoted). Exposed for tests.
std::string logfmt_value(std::string_view v);
std::string json_string(std::string_view v);

// One line as the formatter writes it: ts, level, msg, then the payload's fields (host/log_fields.h) as logfmt
// key=value pairs or JSON keys. Exposed for tests.
std::string render_log_line(std::string_view payload, const std::string& ts, std::string_view level, bool json);

}  // namespace epc
