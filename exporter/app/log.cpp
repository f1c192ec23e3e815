#include "app/log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <ctime>

#include "host/log_fields.h"

namespace epc {
namespace {

std::string timestamp(spdlog::log_clock::time_point tp) {
  auto secs = std::chrono::time_point_cast<std::chrono::seconds>(tp);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(tp - secs).count();
  std::time_t t = spdlog::log_clock::to_time_t(tp);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

const char* level_name(spdlog::level::level_enum l) {
  switch (l) {
    case spdlog::level::trace:
    case spdlog::level::debug: return "debug";
    case spdlog::level::info: return "info";
    case spdlog::level::warn: return "warn";
    default: return "error";
  }
}

class LineFormatter final : public spdlog::formatter {
 public:
  explicit LineFormatter(bool json) : json_(json) {}
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const std::string line = render_log_line(std::string_view(msg.payload.data(), msg.payload.size()),
                                             timestamp(msg.time), level_name(msg.level), json_);
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<LineFormatter>(json_); }

 private:
  bool json_;
};

}  // namespace

std::string render_log_line(std::string_view payload, const std::string& ts, std::string_view level, bool json) {
  const LogLine parts = split_log_fields(payload);
  // Appends only (GCC 12 at -O3 reports a false -Wrestrict on "literal" + std::string&&).
  std::string line;
  line.reserve(payload.size() + ts.size() + 64);
  if (json) {
    line += "{\"ts\":\"";
    line += ts;
    line += "\",\"level\":\"";
    line += level;
    line += "\",\"msg\":";
    line += json_string(parts.msg);
    for (const auto& [k, v] : parts.fields) {
      line += ',';
      line += json_string(k);
      line += ':';
      line += json_string(v);
    }
    line += "}\n";
  } else {
    line += "ts=";
    line += ts;
    line += " level=";
    line += level;
    line += " msg=";
    line += logfmt_value(parts.msg);
    for (const auto& [k, v] : parts.fields) {
      line += ' ';
      line += k;
      line += '=';
      line += logfmt_value(v);
    }
    line += '\n';
  }
  return line;
}

std::string json_string(std::string_view v) {
  std::string out = "\"";
  for (unsigned char c : v) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::string logfmt_value(std::string_view v) {
  bool quote = v.empty() || v.find_first_of(" =\"\\\n\r\t") != std::string_view::npos;
  if (!quote) {
    for (unsigned char c : v) quote = quote || c < 0x20;
  }
  return quote ? json_string(v) : std::string(v);
}

void setup_logging(const std::string& level, const std::string& format) {
  auto logger = spdlog::stderr_logger_mt("epc_exporter");
  logger->set_formatter(std::make_unique<LineFormatter>(format == "json"));
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level == "warn" ? "warning" : level));
  spdlog::flush_on(spdlog::level::info);
}

}  // namespace epc
