#include "scrape/exposition.h"

#include <gtest/gtest.h>

#include <prometheus/text_serializer.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <random>

#include "attribution/attribution.h"
#include "collectors/cgroup.h"
#include "collectors/platform.h"
#include "host/file_reader.h"
#include "host/host_paths.h"
#include "scrape/scraper.h"
#include "exposition_check.h"
#include "test_util.h"

namespace epc {
namespace {

std::string reference(const std::vector<prometheus::MetricFamily>& f) { return prometheus::TextSerializer().Serialize(f); }

// What the product's collectors write on a fixture node (the families the golden files are made from); with
// max_workloads the scrape as the exporter renders it with --metrics.max-workloads.
std::vector<prometheus::MetricFamily> fixture_families(const std::string& root,
                                                       std::optional<std::size_t> max_workloads = std::nullopt,
                                                       std::string* rendered = nullptr) {
  HostPaths paths(root);
  Attribution attribution(paths);
  std::vector<Scraper::Named> collectors;
  auto dump = read_file(root + "/cpuid.txt");
  if (dump) {
    auto parsed = parse_cpuid_dump(*dump);
    if (parsed) collectors.push_back({"platform", make_platform_collector_for_test(paths, make_dump_cpuid_reader(*parsed))});
  }
  collectors.push_back({"cgroup", make_cgroup_collector({paths, attribution})});
  Scraper::Options options;
  if (max_workloads) options.max_workloads = *max_workloads;
  Scraper scraper(std::move(collectors), [&attribution] { attribution.refresh(); }, options);
  if (rendered) *rendered = scraper.render_within(std::chrono::seconds(10)).value_or("");
  return scraper.Collect();
}

TEST(Exposition, SameBytesAsTextSerializerOnTheFixtureNodes) {
  for (const char* node : {"aks-dcsv3", "v1-docker", "no-sgx"}) {
    auto fams = fixture_families(std::string(EPC_FIXTURES) + "/" + node);
    ASSERT_FALSE(fams.empty()) << node;
    std::string want = reference(fams);
    EXPECT_EQ(text_exposition(fams), want) << node;
    EXPECT_NE(want.find("sgx_exporter_collector_success"), std::string::npos) << node;
    EXPECT_TRUE(test::exposition_is_clean(want)) << node;
  }
}

// The whole scrape of every fixture node, uncapped and with the workload cap folding all but two workloads (issue
// 23: the cap wrote every node-level series without labels, so families became duplicates), passes the check.
TEST(Exposition, FixtureScrapesWithAndWithoutTheCapPassTheExpositionCheck) {
  for (const char* node : {"aks-dcsv3", "v1-docker", "no-sgx"}) {
    for (std::size_t cap : {std::size_t{0}, std::size_t{2}}) {
      std::string page;
      fixture_families(std::string(EPC_FIXTURES) + "/" + node, cap, &page);
      ASSERT_NE(page.find("sgx_exporter_collector_success"), std::string::npos) << node;
      EXPECT_TRUE(test::exposition_is_clean(page)) << node << " --metrics.max-workloads=" << cap << "\n" << page;
    }
  }
}

TEST(Exposition, SameBytesAsTextSerializerOnAThousandSeries) {
  test::TempTree t;
  t.write("sys/fs/cgroup/cgroup.controllers", "misc\n");
  t.write("sys/fs/cgroup/misc.capacity", "sgx_epc 68719476736\n");
  t.write("sys/fs/cgroup/misc.current", "sgx_epc 1\n");
  t.write("sys/fs/cgroup/system.slice/misc.current", "sgx_epc 1\n");
  for (int i = 0; i < 300; ++i) {
    std::string svc = "sys/fs/cgroup/system.slice/app-" + std::to_string(i) + ".service/";
    t.write(svc + "misc.current", "sgx_epc " + std::to_string(4096ULL * (i + 1) * 7919) + "\n");
    t.write(svc + "misc.peak", "sgx_epc " + std::to_string(4096ULL << (i % 40)) + "\n");
    t.write(svc + "misc.max", i % 2 ? "sgx_epc max\n" : "sgx_epc 4096\n");
    t.write(svc + "misc.events", "sgx_epc.max " + std::to_string(i) + "\n");
  }
  auto fams = fixture_families(t.root().string());
  std::size_t series = 0;
  for (const auto& f : fams) series += f.metric.size();
  EXPECT_GT(series, 1000u);
  EXPECT_EQ(text_exposition(fams), reference(fams));
  EXPECT_TRUE(test::exposition_is_clean(text_exposition(fams)));
}

prometheus::ClientMetric with_labels(std::vector<std::pair<std::string, std::string>> labels) {
  prometheus::ClientMetric m;
  for (auto& [k, v] : labels) m.label.push_back({k, v});
  return m;
}

TEST(Exposition, SameBytesAsTextSerializerOnEdgeValues) {
  std::vector<double> values = {0.0,
                                -0.0,
                                1.0,
                                -1.0,
                                0.1,
                                1.0 / 3,
                                4096,
                                68719476736.0,
                                72057594037927936.0,
                                9007199254740993.0,
                                1e15,
                                1e16,
                                1e17,
                                123456789012345678.0,
                                1e-5,
                                1e-4,
                                5e-324,
                                std::numeric_limits<double>::min(),
                                std::numeric_limits<double>::max(),
                                std::numeric_limits<double>::lowest(),
                                std::numeric_limits<double>::infinity(),
                                -std::numeric_limits<double>::infinity(),
                                std::numeric_limits<double>::quiet_NaN(),
                                0.105710375,
                                18446744073709551615.0};
  std::mt19937_64 rng(14);
  for (int i = 0; i < 2000; ++i) {
    double d;
    std::uint64_t bits = rng();
    std::memcpy(&d, &bits, sizeof d);
    values.push_back(d);
    values.push_back(static_cast<double>(rng() >> (rng() % 64)));
    values.push_back(static_cast<double>(rng() % 1000000) / 1e6);
  }
  std::vector<prometheus::MetricFamily> fams;
  for (auto type : {prometheus::MetricType::Gauge, prometheus::MetricType::Counter, prometheus::MetricType::Untyped}) {
    prometheus::MetricFamily f;
    f.name = "sgx_test_value";
    f.help = "Help with \\ backslash and \"quotes\".";
    f.type = type;
    for (double v : values) {
      auto m = with_labels({{"pod", "a\\b\"c\nd"}, {"container", ""}, {"cgroup", "we ird_?.scope"}});
      m.gauge.value = m.counter.value = m.untyped.value = v;
      f.metric.push_back(std::move(m));
    }
    auto bare = prometheus::ClientMetric{};
    bare.gauge.value = 3;
    bare.timestamp_ms = 1700000000123;
    f.metric.push_back(bare);
    fams.push_back(std::move(f));
  }
  prometheus::MetricFamily no_help;
  no_help.name = "sgx_no_help";
  no_help.type = prometheus::MetricType::Gauge;
  no_help.metric.emplace_back();
  fams.push_back(no_help);
  prometheus::MetricFamily empty;
  empty.name = "sgx_empty_family";
  empty.help = "none";
  empty.type = prometheus::MetricType::Counter;
  fams.push_back(empty);

  prometheus::MetricFamily summary;
  summary.name = "sgx_test_seconds";
  summary.help = "summary";
  summary.type = prometheus::MetricType::Summary;
  auto sm = with_labels({{"probe", "x"}});
  sm.summary.sample_count = 17;
  sm.summary.sample_sum = 0.25;
  sm.summary.quantile = {{0.5, 0.01}, {0.99, 0.2}};
  summary.metric.push_back(sm);
  fams.push_back(summary);

  prometheus::MetricFamily hist;
  hist.name = "sgx_test_hist_seconds";
  hist.help = "histogram";
  hist.type = prometheus::MetricType::Histogram;
  auto hm = with_labels({});
  hm.histogram.sample_count = 9;
  hm.histogram.sample_sum = 1.5;
  hm.histogram.bucket = {{1, 0.001}, {4, 0.1}, {9, 10}};
  hist.metric.push_back(hm);
  auto hm2 = with_labels({{"a", "b"}});
  hm2.histogram.sample_count = 2;
  hm2.histogram.bucket = {{2, std::numeric_limits<double>::infinity()}};
  hist.metric.push_back(hm2);
  fams.push_back(hist);

  std::string got = text_exposition(fams);
  std::string want = reference(fams);
  ASSERT_EQ(got.size(), want.size());
  EXPECT_EQ(got, want);
  // And appending keeps what was there.
  std::string prefix = "# kept\n";
  append_text_exposition(prefix, fams);
  EXPECT_EQ(prefix, "# kept\n" + want);
}

}  // namespace
}  // namespace epc
