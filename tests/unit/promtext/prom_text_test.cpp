// The Prometheus text parser epctop and epc_bench share (promtext/).
#include "promtext/prom_text.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace promtext;

namespace {

std::vector<Sample> ok(std::string_view body, const ParseLimits& l = {}) {
  auto r = parse_prometheus_text(body, l);
  if (auto* e = std::get_if<ParseError>(&r)) ADD_FAILURE() << "unexpected error: " << e->what();
  return r.index() == 0 ? std::get<0>(r) : std::vector<Sample>{};
}

std::string err(std::string_view body, const ParseLimits& l = {}) {
  auto r = parse_prometheus_text(body, l);
  if (r.index() == 0) return "no error";
  return std::get<ParseError>(r).what();
}

}  // namespace

TEST(PromText, SamplesLabelsCommentsAndValues) {
  auto s = ok("# HELP sgx_enclaves Live enclaves.\n# TYPE sgx_enclaves gauge\n"
              "sgx_enclaves{namespace=\"a\",pod=\"p\",container=\"c\"} 3\n"
              "\n"
              "sgx_epc_free_bytes 6.6287828992e+10\n"
              "x{l=\"q\\\"uo\\\\te\\nnl\"} -Inf 1700000000000\n"
              "y{a=\"1\",} NaN\n"
              "z +Inf\r\n");
  ASSERT_EQ(s.size(), 5u);
  EXPECT_EQ(s[0].name, "sgx_enclaves");
  EXPECT_EQ(s[0].label("pod"), "p");
  EXPECT_EQ(s[0].label("container"), "c");
  EXPECT_EQ(s[0].label("missing"), "");
  EXPECT_EQ(s[0].value, 3);
  EXPECT_EQ(s[1].value, 66287828992.0);
  EXPECT_TRUE(s[1].labels.empty());
  EXPECT_EQ(s[2].label("l"), "q\"uo\\te\nnl");
  EXPECT_TRUE(std::isinf(s[2].value) && s[2].value < 0);
  EXPECT_TRUE(std::isnan(s[3].value));
  EXPECT_TRUE(std::isinf(s[4].value) && s[4].value > 0);
}

TEST(PromText, HtmlIsRejectedWithTheLine) {
  EXPECT_EQ(err("<!DOCTYPE html>\n<html><body>hi</body></html>\n"),
            "line 1: not Prometheus text format: '<!DOCTYPE html>'");
}

TEST(PromText, TruncatedBodyIsAnError) {
  EXPECT_EQ(err("a 1\nb 2\nsgx_epc_free_bytes 66"), "line 3: response truncated (last line has no end of line)");
}

TEST(PromText, EmptyAndBinary) {
  EXPECT_EQ(err(""), "empty response");
  EXPECT_EQ(err(std::string_view("a 1\n\0\n", 6)), "binary data, not Prometheus text format");
}

TEST(PromText, BadSamples) {
  EXPECT_EQ(err("a{b=\"c} 1\n"), "line 1: unterminated value of label b");
  EXPECT_EQ(err("a{b=c} 1\n"), "line 1: expected '\"' after b=");
  EXPECT_EQ(err("a{1=\"c\"} 1\n"), "line 1: bad label name in 'a{1=\"c\"} 1'");
  EXPECT_EQ(err("a{b=\"1\",b=\"2\"} 1\n"), "line 1: duplicate label b");
  EXPECT_EQ(err("ok 1\na one\n"), "line 2: bad value 'one' for a");
  EXPECT_EQ(err("a\n"), "line 1: expected a value after a");
  EXPECT_EQ(err("a 1 2 3\n"), "line 1: trailing garbage after the value of a");
  EXPECT_EQ(err("a{b=\"\\x\"} 1\n"), "line 1: bad escape \\x in label b");
}

TEST(PromText, Limits) {
  ParseLimits l;
  l.max_line_bytes = 16;
  EXPECT_EQ(err("short 1\nthis_line_is_too_long 1\n", l), "line 2: line longer than 16 bytes");
  l = {};
  l.max_samples = 2;
  EXPECT_EQ(err("a 1\nb 2\nc 3\n", l), "line 3: more than 2 samples");
  l = {};
  l.max_labels = 1;
  EXPECT_EQ(err("a{x=\"1\",y=\"2\"} 1\n", l), "line 1: more than 1 labels");
}

TEST(PromText, HugeBodyOfGarbageFailsFastAtLineOne) {
  std::string big(8 * 1024 * 1024, 'x');
  big += '\n';
  EXPECT_EQ(err(big), "line 1: line longer than 65536 bytes");
}

TEST(PromText, OutOfRangeValueIsInfinity) {
  auto s = ok("a 1e999\nb -1e999\n");
  ASSERT_EQ(s.size(), 2u);
  EXPECT_TRUE(std::isinf(s[0].value) && s[0].value > 0);
  EXPECT_TRUE(std::isinf(s[1].value) && s[1].value < 0);
}

TEST(PromText, MalformedLabelSetsAndNames) {
  EXPECT_EQ(err("metric{a=\"b\" 1\n"), "line 1: expected ',' or '}' in 'metric{a=\"b\" 1'");
  EXPECT_EQ(err("{a=\"b\"} 1\n"), "line 1: not Prometheus text format: '{a=\"b\"} 1'");
  EXPECT_EQ(err("m{=\"x\"} 1\n"), "line 1: bad label name in 'm{=\"x\"} 1'");
  EXPECT_EQ(err("ok 1\nbroken{\n"), "line 2: bad label name in 'broken{'");
}

TEST(PromText, CommentOnlyPageHasNoSamples) { EXPECT_TRUE(ok("# just a comment\n\n   \n").empty()); }
