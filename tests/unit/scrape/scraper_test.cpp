#include "scrape/scraper.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace epc {
namespace {

class FixedCollector : public Collector {
 public:
  enum class Mode { kOk, kFail, kThrow, kPartialThenFail };
  explicit FixedCollector(Mode m) : mode_(m) {}
  Status collect(MetricSink& sink) override {
    ++calls;
    switch (mode_) {
      case Mode::kOk:
        sink.gauge("sgx_test_bytes", "test", {{"pod", "a"}}, 42);
        sink.counter("sgx_test_total", "test", {}, calls);
        return {};
      case Mode::kFail: return make_error("garbage in file");
      case Mode::kThrow: throw std::runtime_error("boom");
      case Mode::kPartialThenFail:
        sink.gauge("sgx_partial_bytes", "partial", {}, 1);
        return make_error("half way");
    }
    return {};
  }
  int calls = 0;

 private:
  Mode mode_;
};

const prometheus::MetricFamily* find(const std::vector<prometheus::MetricFamily>& fams, const std::string& name) {
  for (const auto& f : fams)
    if (f.name == name) return &f;
  return nullptr;
}

double value_for(const std::vector<prometheus::MetricFamily>& fams, const std::string& name, const std::string& label) {
  const auto* f = find(fams, name);
  if (!f) return -1;
  for (const auto& m : f->metric)
    for (const auto& l : m.label)
      if (l.value == label) return f->type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value;
  return -1;
}

TEST(Scraper, FailingCollectorsDoNotFailTheScrape) {
  std::vector<Scraper::Named> cs;
  cs.push_back({"good", std::make_unique<FixedCollector>(FixedCollector::Mode::kOk)});
  cs.push_back({"bad", std::make_unique<FixedCollector>(FixedCollector::Mode::kFail)});
  cs.push_back({"throws", std::make_unique<FixedCollector>(FixedCollector::Mode::kThrow)});
  cs.push_back({"partial", std::make_unique<FixedCollector>(FixedCollector::Mode::kPartialThenFail)});
  Scraper s(std::move(cs), nullptr);
  auto fams = s.Collect();
  EXPECT_EQ(value_for(fams, "sgx_exporter_collector_success", "good"), 1);
  EXPECT_EQ(value_for(fams, "sgx_exporter_collector_success", "bad"), 0);
  EXPECT_EQ(value_for(fams, "sgx_exporter_collector_success", "throws"), 0);
  EXPECT_EQ(value_for(fams, "sgx_exporter_collector_success", "partial"), 0);
  EXPECT_EQ(value_for(fams, "sgx_test_bytes", "a"), 42);
  // What a failing collector wrote before failing is not served.
  EXPECT_EQ(find(fams, "sgx_partial_bytes"), nullptr);
  ASSERT_NE(find(fams, "sgx_exporter_build_info"), nullptr);
  ASSERT_NE(find(fams, "sgx_exporter_collector_duration_seconds"), nullptr);
  EXPECT_EQ(find(fams, "sgx_exporter_collector_duration_seconds")->metric.size(), 4u);
}

TEST(Scraper, CollectsFreshEveryTime) {
  std::vector<Scraper::Named> cs;
  cs.push_back({"good", std::make_unique<FixedCollector>(FixedCollector::Mode::kOk)});
  Scraper s(std::move(cs), nullptr);
  auto a = s.Collect();
  auto b = s.Collect();
  EXPECT_EQ(find(a, "sgx_test_total")->metric[0].counter.value, 1);
  EXPECT_EQ(find(b, "sgx_test_total")->metric[0].counter.value, 2);
  EXPECT_EQ(find(b, "sgx_test_bytes")->metric.size(), 1u);
}

TEST(MetricSinkTypes, ConflictingTypesThrow) {
  MetricSink sink;
  sink.gauge("x", "h", {}, 1);
  EXPECT_THROW(sink.counter("x", "h", {}, 1), std::logic_error);
}

}  // namespace
}  // namespace epc
