#include "scrape/text_format.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>

namespace epc {
namespace {

std::string value(double v) {
  std::string out;
  append_value(out, v);
  return out;
}

// Go's own test vectors for strconv.FormatFloat(f, 'g', -1, 64) (src/strconv/ftoa_test.go), which expfmt's
// writeFloat calls for everything but its special cases.
TEST(TextFormat, ValuesAsGoFormatsThem) {
  const struct {
    double v;
    const char* want;
  } go[] = {
      {1, "1"},
      {20, "20"},
      {1234567.8, "1.2345678e+06"},
      {200000, "200000"},
      {2000000, "2e+06"},
      {0, "0"},
      {-1, "-1"},
      {12, "12"},
      {123456700, "1.234567e+08"},
      {1e23, "1e+23"},
      {99999999999999974834176.0, "9.999999999999997e+22"},
      {100000000000000008388608.0, "1.0000000000000001e+23"},
      {5e-324, "5e-324"},
      {-5e-324, "-5e-324"},
      {32, "32"},
      {2.2250738585072012e-308, "2.2250738585072014e-308"},
      {2.2250738585072011e-308, "2.225073858507201e-308"},
      {383260575764816448.0, "3.8326057576481645e+17"},
      {-5.8339553793802237e+23, "-5.8339553793802237e+23"},
  };
  for (const auto& t : go) EXPECT_EQ(value(t.v), t.want) << t.want;
}

// expfmt's special cases, and what the exporter writes most, reasoned from ftoa.go's %g rule for the shortest
// precision (%e when the exponent is < -4 or >= 6; the shortest digits that read back exactly).
TEST(TextFormat, ValuesTheExporterWrites) {
  EXPECT_EQ(value(-0.0), "0");
  EXPECT_EQ(value(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(value(-std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(value(-std::numeric_limits<double>::infinity()), "-Inf");
  // process_cpu_seconds_total at 7 ticks of 100 Hz: printf's %.16g wrote this double as 0.07000000000000001.
  EXPECT_EQ(value(7.0 / 100), "0.07");
  EXPECT_EQ(value(0.07000000000000001), "0.07");  // the same double
  EXPECT_EQ(value(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(value(4096), "4096");
  EXPECT_EQ(value(999999), "999999");
  EXPECT_EQ(value(1000000), "1e+06");
  EXPECT_EQ(value(2147483648.0), "2.147483648e+09");
  EXPECT_EQ(value(34359738368.0), "3.4359738368e+10");       // Go writes EPC capacities this way
  EXPECT_EQ(value(72057594037927936.0), "7.205759403792794e+16");  // 2^56: the 64-bit max enclave size
  EXPECT_EQ(value(18446744073709551615.0), "1.8446744073709552e+19");
  EXPECT_EQ(value(0.0001), "0.0001");
  EXPECT_EQ(value(0.00012345), "0.00012345");
  EXPECT_EQ(value(0.00001), "1e-05");
  EXPECT_EQ(value(1.5e-7), "1.5e-07");
  EXPECT_EQ(value(123.456), "123.456");
  EXPECT_EQ(value(-2.5), "-2.5");
  EXPECT_EQ(value(1e100), "1e+100");
  EXPECT_EQ(value(std::numeric_limits<double>::max()), "1.7976931348623157e+308");
  EXPECT_EQ(value(std::numeric_limits<double>::min()), "2.2250738585072014e-308");
}

// Any double: what is written reads back as the same double, in the form the %g rule picks, with no digit to
// spare (one digit less does not read back).
TEST(TextFormat, EveryValueReadsBackExactlyInTheShortestForm) {
  std::mt19937_64 rng(26);
  for (int i = 0; i < 200000; ++i) {
    double d;
    const std::uint64_t bits = rng();
    std::memcpy(&d, &bits, sizeof d);
    if (i % 2) d = static_cast<double>(rng() >> (rng() % 64));  // integers of every size, as counters are
    if (std::isnan(d) || std::isinf(d)) continue;
    const std::string s = value(d);
    ASSERT_EQ(std::strtod(s.c_str(), nullptr), d) << s;
    const auto e = s.find('e');
    int exp = 0;
    if (e != std::string::npos) {
      exp = std::atoi(s.c_str() + e + 1);
      ASSERT_TRUE(exp < -4 || exp >= 6) << s;
      ASSERT_GE(s.size() - e, 4u) << s;  // e±dd at least
    } else if (d != 0 && d != 1 && d != -1) {
      const double a = std::fabs(d);
      ASSERT_TRUE(a >= 1e-4 && a < 1e6) << s;
    }
  }
}

TEST(TextFormat, Escapes) {
  std::string l, h;
  append_label_value(l, "a\\b\"c\nd");
  EXPECT_EQ(l, "a\\\\b\\\"c\\nd");
  append_help(h, "a\\b\"c\nd");
  EXPECT_EQ(h, "a\\\\b\"c\\nd");
}

}  // namespace
}  // namespace epc
