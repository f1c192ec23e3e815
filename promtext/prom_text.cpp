#include "promtext/prom_text.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>

namespace promtext {

std::string_view Sample::label(std::string_view key) const {
  for (const auto& [k, v] : labels)
    if (k == key) return v;
  return {};
}

std::string ParseError::what() const {
  return line == 0 ? message : "line " + std::to_string(line) + ": " + message;
}

namespace {

bool name_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':'; }
bool name_char(char c) { return name_start(c) || std::isdigit(static_cast<unsigned char>(c)); }
bool label_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool label_char(char c) { return label_start(c) || std::isdigit(static_cast<unsigned char>(c)); }

// A short, printable excerpt of a bad line for the message (a binary or HTML page must not garble the screen).
std::string excerpt(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 40)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  if (s.size() > 40) out += "...";
  return out;
}

bool parse_value(std::string_view s, double& out) {
  if (s == "+Inf" || s == "Inf") { out = std::numeric_limits<double>::infinity(); return true; }
  if (s == "-Inf") { out = -std::numeric_limits<double>::infinity(); return true; }
  if (s == "NaN") { out = std::numeric_limits<double>::quiet_NaN(); return true; }
  if (s.empty()) return false;
  if (s.front() == '+') s.remove_prefix(1);
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (ec == std::errc::result_out_of_range) {
    // 1e999 and the like: the format allows it; keep the sign.
    out = (s.front() == '-') ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
    return true;
  }
  return ec == std::errc() && p == s.data() + s.size();
}

// Parses one sample line; returns "" on success or the problem.
std::string parse_sample(std::string_view line, const ParseLimits& limits, Sample& s) {
  std::size_t i = 0;
  if (!name_start(line[0])) return "not Prometheus text format: '" + excerpt(line) + "'";
  while (i < line.size() && name_char(line[i])) ++i;
  s.name.assign(line.substr(0, i));
  if (i < line.size() && line[i] == '{') {
    ++i;
    for (;;) {
      while (i < line.size() && line[i] == ' ') ++i;
      if (i < line.size() && line[i] == '}') { ++i; break; }
      if (i >= line.size() || !label_start(line[i])) return "bad label name in '" + excerpt(line) + "'";
      std::size_t k0 = i;
      while (i < line.size() && label_char(line[i])) ++i;
      std::string key(line.substr(k0, i - k0));
      while (i < line.size() && line[i] == ' ') ++i;
      if (i >= line.size() || line[i] != '=') return "expected '=' after label " + key;
      ++i;
      while (i < line.size() && line[i] == ' ') ++i;
      if (i >= line.size() || line[i] != '"') return "expected '\"' after " + key + "=";
      ++i;
      std::string val;
      bool closed = false;
      while (i < line.size()) {
        char c = line[i++];
        if (c == '"') { closed = true; break; }
        if (c == '\\') {
          if (i >= line.size()) break;
          char e = line[i++];
          if (e == 'n') val += '\n';
          else if (e == '\\' || e == '"') val += e;
          else return "bad escape \\" + std::string(1, e) + " in label " + key;
        } else {
          val += c;
        }
      }
      if (!closed) return "unterminated value of label " + key;
      if (s.labels.size() >= limits.max_labels) return "more than " + std::to_string(limits.max_labels) + " labels";
      for (const auto& [k, v] : s.labels)
        if (k == key) return "duplicate label " + key;
      s.labels.emplace_back(std::move(key), std::move(val));
      while (i < line.size() && line[i] == ' ') ++i;
      if (i < line.size() && line[i] == ',') { ++i; continue; }
      if (i < line.size() && line[i] == '}') { ++i; break; }
      return "expected ',' or '}' in '" + excerpt(line) + "'";
    }
  }
  if (i >= line.size() || (line[i] != ' ' && line[i] != '\t')) return "expected a value after " + s.name;
  while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
  std::size_t v0 = i;
  while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
  if (!parse_value(line.substr(v0, i - v0), s.value))
    return "bad value '" + excerpt(line.substr(v0, i - v0)) + "' for " + s.name;
  while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
  if (i < line.size()) {  // optional timestamp (ms), an integer
    std::size_t t0 = i;
    if (line[i] == '-') ++i;
    while (i < line.size() && std::isdigit(static_cast<unsigned char>(line[i]))) ++i;
    if (i == t0 || i != line.size()) return "trailing garbage after the value of " + s.name;
  }
  return {};
}

}  // namespace

ParseResult parse_prometheus_text(std::string_view body, const ParseLimits& limits) {
  if (body.empty()) return ParseError{0, "empty response"};
  if (body.find('\0') != std::string_view::npos) return ParseError{0, "binary data, not Prometheus text format"};
  if (body.back() != '\n') {
    // The format ends every line with '\n'; a body cut off mid-line (a proxy timeout, a dropped connection
    // without Content-Length) must not yield a half sample with a wrong value.
    std::size_t lines = 1;
    for (char c : body) lines += (c == '\n');
    return ParseError{lines, "response truncated (last line has no end of line)"};
  }
  std::vector<Sample> out;
  std::size_t lineno = 0;
  std::size_t pos = 0;
  while (pos < body.size()) {
    std::size_t nl = body.find('\n', pos);
    std::string_view line = body.substr(pos, nl - pos);
    pos = nl + 1;
    ++lineno;
    if (line.size() > limits.max_line_bytes)
      return ParseError{lineno, "line longer than " + std::to_string(limits.max_line_bytes) + " bytes"};
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::size_t b = 0;
    while (b < line.size() && (line[b] == ' ' || line[b] == '\t')) ++b;
    line.remove_prefix(b);
    if (line.empty() || line[0] == '#') continue;  // HELP, TYPE and comments: the clients need the samples only
    if (out.size() >= limits.max_samples)
      return ParseError{lineno, "more than " + std::to_string(limits.max_samples) + " samples"};
    Sample s;
    if (std::string err = parse_sample(line, limits, s); !err.empty()) return ParseError{lineno, err};
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace promtext
