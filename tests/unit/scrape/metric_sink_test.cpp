#include "scrape/metric_sink.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "sink_util.h"

namespace epc {
namespace {

constexpr MetricDef kBytes{.name = "sgx_test_bytes",
                           .type = MetricType::kGauge,
                           .unit = "bytes",
                           .help = "Bytes per workload.",
                           .labels = LabelNames::workload()};
constexpr MetricDef kEvents{.name = "sgx_test_events_total",
                            .type = MetricType::kCounter,
                            .help = "Events per workload and kind.",
                            .labels = LabelNames::workload({"kind"})};
constexpr MetricDef kNode{.name = "sgx_test_node_bytes", .type = MetricType::kGauge, .help = "Node total."};
constexpr MetricDef kProbe{.name = "sgx_test_probe",
                           .type = MetricType::kGauge,
                           .help = "A \\ back\nslash.",
                           .labels = {"probe", "reason"}};

WorkloadLabels pod(std::string name, std::string container = "") {
  return {"ns", std::move(name), std::move(container), ""};
}

TEST(MetricSink, WritesTheTextFormatFromRows) {
  MetricSink s;
  const WorkloadId a = s.workload(pod("a", "c"));
  const WorkloadId g = s.workload(WorkloadLabels{"", "", "", "system.slice/x.service"});
  s.add(kBytes, a, 4096);
  s.add(kEvents, a, {"ewb"}, 3);
  s.add(kNode, 68719476736.0);
  s.add(kBytes, g, 0.5);
  s.add(kProbe, {"ewb", "off: \"no\" driver\\"}, 0);
  s.add(kBytes, kNoWorkload, 1);  // a per-workload family's row of no workload: every workload label empty
  EXPECT_EQ(s.series_count(), 6u);
  EXPECT_EQ(s.text(),
            "# HELP sgx_test_bytes Bytes per workload.\n"
            "# TYPE sgx_test_bytes gauge\n"
            "sgx_test_bytes{namespace=\"ns\",pod=\"a\",container=\"c\",cgroup=\"\"} 4096\n"
            "sgx_test_bytes{namespace=\"\",pod=\"\",container=\"\",cgroup=\"system.slice/x.service\"} 0.5\n"
            "sgx_test_bytes{namespace=\"\",pod=\"\",container=\"\",cgroup=\"\"} 1\n"
            "# HELP sgx_test_events_total Events per workload and kind.\n"
            "# TYPE sgx_test_events_total counter\n"
            "sgx_test_events_total{namespace=\"ns\",pod=\"a\",container=\"c\",cgroup=\"\",kind=\"ewb\"} 3\n"
            "# HELP sgx_test_node_bytes Node total.\n"
            "# TYPE sgx_test_node_bytes gauge\n"
            "sgx_test_node_bytes 6.8719476736e+10\n"
            "# HELP sgx_test_probe A \\\\ back\\nslash.\n"
            "# TYPE sgx_test_probe gauge\n"
            "sgx_test_probe{probe=\"ewb\",reason=\"off: \\\"no\\\" driver\\\\\"} 0\n");
  // Decoded back.
  const auto* f = s.find("sgx_test_probe");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(s.labels_of(*f, f->rows[0]), (Labels{{"probe", "ewb"}, {"reason", "off: \"no\" driver\\"}}));
}

TEST(MetricSink, AWorkloadIsRenderedOnceAndSharedByEveryFamily) {
  MetricSink s;
  const WorkloadId a = s.workload(pod("a"));
  EXPECT_EQ(s.workload(pod("a")), a);
  EXPECT_NE(s.workload(pod("a", "c")), a);
  EXPECT_NE(a, kNoWorkload);
  EXPECT_EQ(s.workload_text(a), "namespace=\"ns\",pod=\"a\",container=\"\",cgroup=\"\"");
  EXPECT_FALSE(s.container_level(a));
  EXPECT_TRUE(s.container_level(s.workload(pod("a", "c"))));
  EXPECT_EQ(s.workload_count(), 3u);  // kNoWorkload, a, a/c
  // Values are escaped once, in the rendered set.
  const WorkloadId odd = s.workload(WorkloadLabels{"", "", "", "we\"ird\n"});
  EXPECT_EQ(s.workload_text(odd), "namespace=\"\",pod=\"\",container=\"\",cgroup=\"we\\\"ird\\n\"");
}

TEST(MetricSink, SeriesThatDoNotMatchTheirDefinitionThrow) {
  MetricSink s;
  EXPECT_THROW(s.add(kEvents, s.workload(pod("a")), 1), std::logic_error);            // kind missing
  EXPECT_THROW(s.add(kProbe, {"ewb"}, 1), std::logic_error);                           // reason missing
  EXPECT_THROW(s.add(kNode, {"x"}, 1), std::logic_error);                              // no labels defined
  EXPECT_THROW(s.add(kNode, s.workload(pod("a")), 1), std::logic_error);              // not per workload
  // Another definition of a name already written: the same shape is the same family, another one throws.
  static constexpr MetricDef kSame{.name = "sgx_test_bytes", .type = MetricType::kGauge,
                                   .labels = LabelNames::workload()};
  static constexpr MetricDef kOtherType{.name = "sgx_test_bytes", .type = MetricType::kCounter,
                                        .labels = LabelNames::workload()};
  static constexpr MetricDef kOtherLabels{.name = "sgx_test_bytes", .type = MetricType::kGauge,
                                          .labels = {"cgroup"}};
  s.add(kBytes, s.workload(pod("a")), 1);
  s.add(kSame, s.workload(pod("b")), 2);
  EXPECT_EQ(test::rows_of(s, "sgx_test_bytes"), 2u);
  EXPECT_EQ(s.families().size(), 1u);
  EXPECT_THROW(s.add(kOtherType, s.workload(pod("c")), 1), std::logic_error);
  EXPECT_THROW(s.add(kOtherLabels, {"/"}, 1), std::logic_error);
}

TEST(MetricSink, RollbackDropsWhatWasWrittenAfterTheMark) {
  MetricSink s;
  const WorkloadId a = s.workload(pod("a"));
  s.add(kBytes, a, 1);
  const auto m = s.mark();
  s.add(kBytes, s.workload(pod("b")), 2);
  s.add(kEvents, a, {"ewb"}, 3);
  s.add(kNode, 4);
  s.rollback(m);
  EXPECT_EQ(s.series_count(), 1u);
  EXPECT_EQ(s.families().size(), 1u);
  EXPECT_EQ(s.workload_count(), 2u);
  EXPECT_EQ(s.find("sgx_test_events_total"), nullptr);
  // Usable as before: b is a new workload again, the dropped families come back in write order.
  const WorkloadId b = s.workload(pod("b"));
  EXPECT_EQ(b, 2u);
  s.add(kNode, 5);
  s.add(kBytes, b, 6);
  EXPECT_EQ(test::value_exact(s, "sgx_test_bytes", {{"namespace", "ns"}, {"pod", "b"}}), 6);
  EXPECT_EQ(test::value_exact(s, "sgx_test_node_bytes", {}), 5);
  EXPECT_EQ(s.families()[1].def, &kNode);
}

TEST(MetricSink, ManySeries) {
  MetricSink s;
  for (int i = 0; i < 10000; ++i) s.add(kBytes, s.workload(pod("p" + std::to_string(i))), i);
  EXPECT_EQ(s.series_count(), 10000u);
  EXPECT_EQ(s.workload_count(), 10001u);
  EXPECT_EQ(test::value_exact(s, "sgx_test_bytes", {{"namespace", "ns"}, {"pod", "p9999"}}), 9999);
}

TEST(MetricSink, MovedSinkKeepsItsLabelSets) {
  MetricSink s;
  const WorkloadId a = s.workload(pod("a"));
  s.add(kBytes, a, 1);
  MetricSink moved = std::move(s);
  EXPECT_EQ(moved.workload(pod("a")), a);
  EXPECT_NE(moved.text().find("pod=\"a\""), std::string::npos);
}

}  // namespace
}  // namespace epc
