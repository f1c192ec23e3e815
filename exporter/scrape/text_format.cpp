#include "scrape/text_format.h"

#include <charconv>
#include <cmath>

namespace epc {

char* write_value(char* out, double v) {
  // expfmt's writeFloat special cases (v == 0 holds for -0 too: written "0", as Go does).
  const char* special = v == 1 ? "1" : v == 0 ? "0" : v == -1 ? "-1" : std::isnan(v) ? "NaN"
                      : std::isinf(v) ? (v > 0 ? "+Inf" : "-Inf") : nullptr;
  if (special) {
    for (; *special; ++special) *out++ = *special;
    return out;
  }

  // The shortest round-trip digits: std::to_chars in scientific form without a precision gives them as
  // "[-]d[.ddd]e±xx" (the same digits as Go's Ryu-based ryuFtoaShortest: the shortest that read back exactly,
  // the closest to the value among those).
  char sci[32];
  const auto r = std::to_chars(sci, sci + sizeof sci, v, std::chars_format::scientific);
  const char* p = sci;
  const bool neg = *p == '-';
  if (neg) ++p;
  char digits[20];
  int nd = 0;
  for (; *p != 'e'; ++p)
    if (*p != '.') digits[nd++] = *p;
  ++p;  // 'e'
  int exp = 0;
  std::from_chars(*p == '+' ? p + 1 : p, r.ptr, exp);

  // Go's formatDigits for 'g' with the shortest precision: %e when exp < -4 || exp >= 6, digits as found;
  // %f otherwise, with exactly the digits after the point that the shortest form needs.
  if (neg) *out++ = '-';
  if (exp < -4 || exp >= 6) {
    *out++ = digits[0];
    if (nd > 1) {
      *out++ = '.';
      for (int i = 1; i < nd; ++i) *out++ = digits[i];
    }
    *out++ = 'e';
    *out++ = exp < 0 ? '-' : '+';
    const int a = exp < 0 ? -exp : exp;
    if (a < 10) *out++ = '0';  // at least two exponent digits
    return std::to_chars(out, out + 8, a).ptr;
  }
  const int dp = exp + 1;  // digits before the decimal point
  if (dp > 0) {
    for (int i = 0; i < dp; ++i) *out++ = i < nd ? digits[i] : '0';
  } else {
    *out++ = '0';
  }
  if (nd > dp) {
    *out++ = '.';
    for (int i = dp; i < nd; ++i) *out++ = i < 0 ? '0' : digits[i];
  }
  return out;
}

void append_value(std::string& out, double v) {
  char buf[kMaxValueChars];
  out.append(buf, write_value(buf, v));
}

namespace {

template <bool kQuote>
void append_escaped(std::string& out, std::string_view v) {
  std::size_t start = 0;
  for (std::size_t i = 0; i < v.size(); ++i) {
    const char c = v[i];
    if (c != '\\' && c != '\n' && (!kQuote || c != '"')) continue;
    out.append(v.data() + start, i - start);
    out.push_back('\\');
    out.push_back(c == '\n' ? 'n' : c);
    start = i + 1;
  }
  out.append(v.data() + start, v.size() - start);
}

}  // namespace

void append_label_value(std::string& out, std::string_view v) { append_escaped<true>(out, v); }

void append_help(std::string& out, std::string_view help) { append_escaped<false>(out, help); }

}  // namespace epc
