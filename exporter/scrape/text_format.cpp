#include "scrape/text_format.h"

#include <charconv>
#include <cmath>

namespace epc {

void append_value(std::string& out, double v) {
  // expfmt's writeFloat special cases (v == 0 holds for -0 too: written "0", as Go does).
  const char* special = v == 1 ? "1" : v == 0 ? "0" : v == -1 ? "-1" : std::isnan(v) ? "NaN"
                      : std::isinf(v) ? (v > 0 ? "+Inf" : "-Inf") : nullptr;
  if (special) {
    out += special;
    return;
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
  if (neg) out.push_back('-');
  if (exp < -4 || exp >= 6) {
    out.push_back(digits[0]);
    if (nd > 1) {
      out.push_back('.');
      out.append(digits + 1, static_cast<std::size_t>(nd - 1));
    }
    out.push_back('e');
    out.push_back(exp < 0 ? '-' : '+');
    const int a = exp < 0 ? -exp : exp;
    if (a < 10) out.push_back('0');  // at least two exponent digits
    char e[8];
    const auto er = std::to_chars(e, e + sizeof e, a);
    out.append(e, er.ptr);
    return;
  }
  const int dp = exp + 1;  // digits before the decimal point
  if (dp > 0) {
    for (int i = 0; i < dp; ++i) out.push_back(i < nd ? digits[i] : '0');
  } else {
    out.push_back('0');
  }
  if (nd > dp) {
    out.push_back('.');
    for (int i = dp; i < nd; ++i) out.push_back(i < 0 ? '0' : digits[i]);
  }
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
