#include "scrape/exposition.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string_view>

namespace epc {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// Doubles as prometheus-cpp writes them: classic locale, shortest of fixed/scientific at 16 significant digits
// (printf's %.16g), "Nan", "+Inf", "-Inf".
void put_double(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "Nan";
    return;
  }
  if (std::isinf(v)) {
    out += v < 0 ? "-Inf" : "+Inf";
    return;
  }
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general,
                         std::numeric_limits<double>::max_digits10 - 1);
  out.append(buf, r.ptr);
}

template <class Int>
void put_int(std::string& out, Int v) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void put_label_value(std::string& out, std::string_view v) {
  std::size_t start = 0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    char c = v[i];
    if (c != '\\' && c != '"' && c != '\n') continue;
    out.append(v.data() + start, i - start);
    out.push_back('\\');
    out.push_back(c == '\n' ? 'n' : c);
    start = i + 1;
  }
  out.append(v.data() + start, v.size() - start);
}

// name[suffix]{labels[,extra="value"]}<space>
template <class Extra>
void put_head(std::string& out, const MetricFamily& f, const ClientMetric& m, std::string_view suffix,
              std::string_view extra_name, Extra extra_value) {
  out += f.name;
  out += suffix;
  if (!m.label.empty() || !extra_name.empty()) {
    out.push_back('{');
    bool first = true;
    for (const auto& l : m.label) {
      if (!first) out.push_back(',');
      first = false;
      out += l.name;
      out += "=\"";
      put_label_value(out, l.value);
      out.push_back('"');
    }
    if (!extra_name.empty()) {
      if (!first) out.push_back(',');
      out += extra_name;
      out += "=\"";
      extra_value(out);
      out.push_back('"');
    }
    out.push_back('}');
  }
  out.push_back(' ');
}

void put_head(std::string& out, const MetricFamily& f, const ClientMetric& m, std::string_view suffix = {}) {
  put_head(out, f, m, suffix, {}, [](std::string&) {});
}

void put_tail(std::string& out, const ClientMetric& m) {
  if (m.timestamp_ms != 0) {
    out.push_back(' ');
    put_int(out, m.timestamp_ms);
  }
  out.push_back('\n');
}

// The _count and _sum series of a summary or a histogram.
void put_count_sum(std::string& out, const MetricFamily& f, const ClientMetric& m, std::uint64_t count, double sum) {
  put_head(out, f, m, "_count");
  put_int(out, count);
  put_tail(out, m);
  put_head(out, f, m, "_sum");
  put_double(out, sum);
  put_tail(out, m);
}

void put_family(std::string& out, const MetricFamily& f) {
  if (!f.help.empty()) {
    out += "# HELP ";
    out += f.name;
    out.push_back(' ');
    out += f.help;
    out.push_back('\n');
  }
  out += "# TYPE ";
  out += f.name;
  switch (f.type) {
    case MetricType::Counter: out += " counter\n"; break;
    case MetricType::Gauge: out += " gauge\n"; break;
    case MetricType::Summary: out += " summary\n"; break;
    case MetricType::Untyped: out += " untyped\n"; break;
    case MetricType::Histogram: out += " histogram\n"; break;
    default: out += " untyped\n"; break;
  }
  for (const auto& m : f.metric) {
    switch (f.type) {
      case MetricType::Counter:
        put_head(out, f, m);
        put_double(out, m.counter.value);
        put_tail(out, m);
        break;
      case MetricType::Gauge:
        put_head(out, f, m);
        put_double(out, m.gauge.value);
        put_tail(out, m);
        break;
      case MetricType::Untyped:
        put_head(out, f, m);
        put_double(out, m.untyped.value);
        put_tail(out, m);
        break;
      case MetricType::Summary: {
        put_count_sum(out, f, m, m.summary.sample_count, m.summary.sample_sum);
        for (const auto& q : m.summary.quantile) {
          put_head(out, f, m, {}, "quantile", [&](std::string& o) { put_double(o, q.quantile); });
          put_double(out, q.value);
          put_tail(out, m);
        }
        break;
      }
      case MetricType::Histogram: {
        put_count_sum(out, f, m, m.histogram.sample_count, m.histogram.sample_sum);
        double last = -std::numeric_limits<double>::infinity();
        for (const auto& b : m.histogram.bucket) {
          put_head(out, f, m, "_bucket", "le", [&](std::string& o) { put_double(o, b.upper_bound); });
          last = b.upper_bound;
          put_int(out, b.cumulative_count);
          put_tail(out, m);
        }
        if (last != std::numeric_limits<double>::infinity()) {
          put_head(out, f, m, "_bucket", "le", [](std::string& o) { o += "+Inf"; });
          put_int(out, m.histogram.sample_count);
          put_tail(out, m);
        }
        break;
      }
      default: break;
    }
  }
}

}  // namespace

void append_text_exposition(std::string& out, const std::vector<MetricFamily>& families) {
  std::size_t series = 0;
  for (const auto& f : families) series += f.metric.size();
  out.reserve(out.size() + series * 96 + families.size() * 160);  // about what the product's series take
  for (const auto& f : families) put_family(out, f);
}

std::string text_exposition(const std::vector<MetricFamily>& families) {
  std::string out;
  append_text_exposition(out, families);
  return out;
}

}  // namespace epc
