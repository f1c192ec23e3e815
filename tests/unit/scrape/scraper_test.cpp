#include "scrape/scraper.h"

#include <gtest/gtest.h>

#include <stdexcept>

#include "sink_util.h"

namespace epc {
namespace {

constexpr MetricDef kTestBytes{
    .name = "sgx_test_bytes", .type = MetricType::kGauge, .help = "test", .labels = LabelNames::workload()};
constexpr MetricDef kTestTotal{.name = "sgx_test_total", .type = MetricType::kCounter, .help = "test"};
constexpr MetricDef kPartial{.name = "sgx_partial_bytes", .type = MetricType::kGauge, .help = "partial"};

class FixedCollector : public Collector {
 public:
  enum class Mode { kOk, kFail, kThrow, kPartialThenFail };
  explicit FixedCollector(Mode m) : mode_(m) {}
  Status collect(MetricSink& sink) override {
    ++calls;
    switch (mode_) {
      case Mode::kOk:
        sink.add(kTestBytes, sink.workload({"", "a", "", ""}), 42);
        sink.add(kTestTotal, calls);
        return {};
      case Mode::kFail: return make_error("garbage in file");
      case Mode::kThrow:
        sink.add(kTestBytes, sink.workload({"", "thrown", "", ""}), 1);
        throw std::runtime_error("boom");
      case Mode::kPartialThenFail:
        sink.add(kPartial, 1);
        sink.add(kTestBytes, sink.workload({"", "partial", "", ""}), 1);
        return make_error("half way");
    }
    return {};
  }
  int calls = 0;

 private:
  Mode mode_;
};

std::optional<double> value_for(const MetricSink& s, const std::string& name, const std::string& collector) {
  return test::value_with(s, name, {{"collector", collector}});
}

TEST(Scraper, FailingCollectorsDoNotFailTheScrape) {
  std::vector<Scraper::Named> cs;
  cs.push_back({"throws", std::make_unique<FixedCollector>(FixedCollector::Mode::kThrow)});
  cs.push_back({"good", std::make_unique<FixedCollector>(FixedCollector::Mode::kOk)});
  cs.push_back({"bad", std::make_unique<FixedCollector>(FixedCollector::Mode::kFail)});
  cs.push_back({"partial", std::make_unique<FixedCollector>(FixedCollector::Mode::kPartialThenFail)});
  Scraper s(std::move(cs), nullptr);
  auto sink = s.collect();
  EXPECT_EQ(value_for(sink, "sgx_exporter_collector_success", "good"), 1);
  EXPECT_EQ(value_for(sink, "sgx_exporter_collector_success", "bad"), 0);
  EXPECT_EQ(value_for(sink, "sgx_exporter_collector_success", "throws"), 0);
  EXPECT_EQ(value_for(sink, "sgx_exporter_collector_success", "partial"), 0);
  EXPECT_EQ(test::value_exact(sink, "sgx_test_bytes", {{"pod", "a"}}), 42);
  // What a failing collector wrote before failing is not served, nor its workloads.
  EXPECT_EQ(test::rows_of(sink, "sgx_test_bytes"), 1u);
  EXPECT_FALSE(test::has_family(sink, "sgx_partial_bytes"));
  EXPECT_EQ(sink.workload_count(), 2u);  // kNoWorkload and a
  EXPECT_TRUE(test::has_family(sink, "sgx_exporter_build_info"));
  EXPECT_EQ(test::rows_of(sink, "sgx_exporter_collector_duration_seconds"), 4u);
}

TEST(Scraper, CollectsFreshEveryTime) {
  std::vector<Scraper::Named> cs;
  cs.push_back({"good", std::make_unique<FixedCollector>(FixedCollector::Mode::kOk)});
  Scraper s(std::move(cs), nullptr);
  auto a = s.collect();
  auto b = s.collect();
  EXPECT_EQ(test::value_exact(a, "sgx_test_total", {}), 1);
  EXPECT_EQ(test::value_exact(b, "sgx_test_total", {}), 2);
  EXPECT_EQ(test::rows_of(b, "sgx_test_bytes"), 1u);
}

TEST(Scraper, RendersTheWholePipeline) {
  std::vector<Scraper::Named> cs;
  cs.push_back({"good", std::make_unique<FixedCollector>(FixedCollector::Mode::kOk)});
  Scraper::Options o;
  o.exporter_metrics = false;
  auto text = Scraper(std::move(cs), nullptr, o).render_within(std::chrono::seconds(5));
  ASSERT_TRUE(text);
  EXPECT_NE(text->find("# TYPE sgx_test_bytes gauge\nsgx_test_bytes{namespace=\"\",pod=\"a\",container=\"\",cgroup=\"\"} 42\n"),
            std::string::npos)
      << *text;
  EXPECT_NE(text->find("sgx_exporter_collector_success{collector=\"good\"} 1\n"), std::string::npos);
  EXPECT_NE(text->find("sgx_exporter_workloads 1\n"), std::string::npos);
  EXPECT_NE(text->find("sgx_exporter_workloads_limit 0\n"), std::string::npos);
}

}  // namespace
}  // namespace epc
