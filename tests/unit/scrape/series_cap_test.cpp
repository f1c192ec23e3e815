#include "scrape/series_cap.h"

#include <gtest/gtest.h>

#include <map>

#include "scrape/metric_sink.h"

namespace epc {
namespace {

std::vector<prometheus::MetricFamily> scrape(int pods) {
  MetricSink sink;
  for (int i = 0; i < pods; ++i) {
    std::string pod = "pod-" + std::to_string(100 + i);
    sink.gauge("sgx_epc_pod_bytes", "b", {{"namespace", "ns"}, {"pod", pod}, {"container", "c"}}, 4096);
    sink.counter("sgx_epc_pod_evictions_total", "e", {{"namespace", "ns"}, {"pod", pod}, {"container", "c"}, {"type", "ewb"}}, 2);
  }
  sink.gauge("sgx_epc_cgroup_bytes", "b", {{"cgroup", "system.slice/aesmd.service"}}, 8192);
  sink.gauge("sgx_epc_total_bytes", "t", {{"node", "0"}}, 1 << 30);
  return sink.take();
}

std::map<std::string, double> by_pod(const prometheus::MetricFamily& f) {
  std::map<std::string, double> out;
  for (const auto& m : f.metric) {
    std::string key;
    for (const auto& l : m.label)
      if (l.name == "pod" || l.name == "cgroup") key = l.value;
    out[key] += f.type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value;
  }
  return out;
}

TEST(SeriesCap, UnderTheLimitNothingChanges) {
  auto fams = scrape(3);
  auto before = fams;
  auto st = apply_workload_cap(fams, 4);
  EXPECT_EQ(st.workloads, 4u);  // 3 pods + 1 cgroup
  EXPECT_EQ(st.aggregated, 0u);
  ASSERT_EQ(fams.size(), before.size());
  for (std::size_t i = 0; i < fams.size(); ++i) EXPECT_EQ(fams[i].metric.size(), before[i].metric.size());
}

TEST(SeriesCap, OverflowIsSummedIntoOneSeriesPerFamilyAndLabelSet) {
  auto fams = scrape(50);
  auto st = apply_workload_cap(fams, 10);
  EXPECT_EQ(st.workloads, 51u);
  EXPECT_EQ(st.aggregated, 41u);
  auto bytes = by_pod(fams[0]);
  // 10 kept workloads in label order ("ns" < "" sorts the cgroup first: its namespace is empty).
  std::size_t kept = 0;
  for (const auto& [k, v] : bytes) kept += k != kOverflowCgroup;
  EXPECT_LE(kept, 10u);
  ASSERT_TRUE(bytes.count(kOverflowCgroup));
  double total = 0;
  for (const auto& [k, v] : bytes) total += v;
  EXPECT_DOUBLE_EQ(total, 50 * 4096.0);  // nothing lost: the sum is preserved
  // Counters keep their other labels (type) and their sum.
  auto ev = by_pod(fams[1]);
  double evs = 0;
  for (const auto& [k, v] : ev) evs += v;
  EXPECT_DOUBLE_EQ(evs, 100.0);
  for (const auto& m : fams[1].metric) {
    bool has_type = false;
    for (const auto& l : m.label) has_type |= l.name == "type" && l.value == "ewb";
    EXPECT_TRUE(has_type);
  }
  // Series without workload labels are untouched.
  EXPECT_EQ(fams[3].metric.size(), 1u);
  // Bounded output: at most limit + 1 series per family and label set.
  EXPECT_LE(fams[0].metric.size(), 11u);
}

TEST(SeriesCap, StableAcrossScrapesAndZeroMeansUnlimited) {
  auto a = scrape(30), b = scrape(30);
  apply_workload_cap(a, 5);
  apply_workload_cap(b, 5);
  EXPECT_EQ(by_pod(a[0]), by_pod(b[0]));
  auto c = scrape(30);
  EXPECT_EQ(apply_workload_cap(c, 0).aggregated, 0u);
  EXPECT_EQ(c[0].metric.size(), 30u);
}

TEST(SeriesCap, SelfMetrics) {
  auto fams = scrape(5);
  auto st = apply_workload_cap(fams, 2);
  add_cap_metrics(fams, st, 2);
  std::map<std::string, double> self;
  for (const auto& f : fams)
    if (f.name.rfind("sgx_exporter_workloads", 0) == 0) self[f.name] = f.metric.at(0).gauge.value;
  EXPECT_EQ(self["sgx_exporter_workloads"], 6);
  EXPECT_EQ(self["sgx_exporter_workloads_aggregated"], 4);
  EXPECT_EQ(self["sgx_exporter_workloads_limit"], 2);
}

}  // namespace
}  // namespace epc
