#include "prom_text.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace epctop;

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

TEST(EpctopPromText, SamplesLabelsCommentsAndValues) {
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

TEST(EpctopPromText, HtmlIsRejectedWithTheLine) {
  EXPECT_EQ(err("<!DOCTYPE html>\n<html><body>hi</body></html>\n"),
            "line 1: not Prometheus text format: '<!DOCTYPE html>'");
}

TEST(EpctopPromText, TruncatedBodyIsAnError) {
  EXPECT_EQ(err("a 1\nb 2\nsgx_epc_free_bytes 66"), "line 3: response truncated (last line has no end of line)");
}

TEST(EpctopPromText, EmptyAndBinary) {
  EXPECT_EQ(err(""), "empty response");
  EXPECT_EQ(err(std::string_view("a 1\n\0\n", 6)), "binary data, not Prometheus text format");
}

TEST(EpctopPromText, BadSamples) {
  EXPECT_EQ(err("a{b=\"c} 1\n"), "line 1: unterminated value of label b");
  EXPECT_EQ(err("a{b=c} 1\n"), "line 1: expected '\"' after b=");
  EXPECT_EQ(err("a{1=\"c\"} 1\n"), "line 1: bad label name in 'a{1=\"c\"} 1'");
  EXPECT_EQ(err("a{b=\"1\",b=\"2\"} 1\n"), "line 1: duplicate label b");
  EXPECT_EQ(err("ok 1\na one\n"), "line 2: bad value 'one' for a");
  EXPECT_EQ(err("a\n"), "line 1: expected a value after a");
  EXPECT_EQ(err("a 1 2 3\n"), "line 1: trailing garbage after the value of a");
  EXPECT_EQ(err("a{b=\"\\x\"} 1\n"), "line 1: bad escape \\x in label b");
}

TEST(EpctopPromText, Limits) {
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

TEST(EpctopPromText, HugeBodyOfGarbageFailsFastAtLineOne) {
  std::string big(8 * 1024 * 1024, 'x');
  big += '\n';
  EXPECT_EQ(err(big), "line 1: line longer than 65536 bytes");
}

TEST(EpctopPromText, OutOfRangeValueIsInfinity) {
  auto s = ok("a 1e999\nb -1e999\n");
  ASSERT_EQ(s.size(), 2u);
  EXPECT_TRUE(std::isinf(s[0].value) && s[0].value > 0);
  EXPECT_TRUE(std::isinf(s[1].value) && s[1].value < 0);
}

// Random mutations of an exporter-like page: the parser returns samples or an error naming a line, and whatever it
// accepts goes through the model and the renderer without exceeding the screen. Deterministic (fixed seed).
#include <random>

#include "model.h"
#include "render.h"

TEST(EpctopPromText, MutatedPagesNeverBreakParserModelOrRenderer) {
  const std::string base =
      "# HELP sgx_enclaves x\n# TYPE sgx_enclaves gauge\n"
      "sgx_enclaves{namespace=\"ns\",pod=\"p\",container=\"c\"} 1\n"
      "sgx_epc_resident_bytes{namespace=\"ns\",pod=\"p\",container=\"c\"} 4096\n"
      "sgx_epc_evicted_pages_total{namespace=\"ns\",pod=\"p\",container=\"c\"} 10\n"
      "sgx_enclave_info{namespace=\"ns\",pod=\"p\",container=\"c\",mrenclave=\"ab\",mrsigner=\"cd\",isv_svn=\"1\",debug=\"false\"} 1\n"
      "sgx_enclaves{cgroup=\"system.slice/a.service\"} 2\n"
      "sgx_epc_capacity_bytes{numa_node=\"0\"} 1e9\nsgx_epc_free_bytes{numa_node=\"0\"} 5e8\n"
      "sgx_epc_reclaim_passes_total{reclaimer=\"ksgxd\"} 3\n";
  const char* tokens[] = {"{", "}", "\"", "\\", "=", ",", " ", "\n", "NaN", "+Inf", "-1e999", "\x01", "\xff", "#"};
  std::mt19937 rng(12345);
  std::optional<Snapshot> prev;
  int accepted = 0;
  for (int i = 0; i < 5000; ++i) {
    std::string b = base;
    int edits = 1 + static_cast<int>(rng() % 8);
    for (int e = 0; e < edits && !b.empty(); ++e) {
      std::size_t pos = rng() % b.size();
      switch (rng() % 3) {
        case 0: b[pos] = static_cast<char>(rng() % 256); break;
        case 1: b.erase(pos, 1 + rng() % 20); break;
        default: b.insert(pos, tokens[rng() % std::size(tokens)]); break;
      }
    }
    auto r = parse_prometheus_text(b);
    if (auto* err = std::get_if<ParseError>(&r)) {
      EXPECT_FALSE(err->message.empty());
      continue;
    }
    auto snap = make_snapshot(std::get<0>(r), i);
    if (snap.index() != 0) continue;
    ++accepted;
    Snapshot cur = std::get<Snapshot>(snap);
    for (Level l : {Level::Pod, Level::Container, Level::Enclave}) {
      Frame f;
      f.target = "t";
      f.cur = &cur;
      f.prev = prev ? &*prev : nullptr;
      ViewState v;
      v.level = l;
      Screen s = render(f, v, 80, 24);
      ASSERT_EQ(s.lines.size(), 24u);
      for (const auto& line : s.lines) {
        ASSERT_LE(line.size(), 80u);
        for (char c : line) ASSERT_TRUE(c >= 0x20 && c <= 0x7e) << "unprintable byte in: " << line;
      }
    }
    prev = std::move(cur);
  }
  EXPECT_GT(accepted, 100);  // the mutations leave enough valid pages to exercise model and renderer
}
