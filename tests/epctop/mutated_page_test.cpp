// epctop's parser, model and renderer together on random mutations of an exporter-like page.
#include <gtest/gtest.h>

#include <optional>
#include <random>

#include "model.h"
#include "render.h"

using namespace epctop;

// Random mutations of an exporter-like page: the parser returns samples or an error naming a line, and whatever it
// accepts goes through the model and the renderer without exceeding the screen. Deterministic (fixed seed).
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
