#include "scrape/metric_sink.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace epc {
namespace {

TEST(MetricSink, GroupsByNameInFirstSeenOrder) {
  MetricSink s;
  s.gauge("b", "help b", {{"x", "1"}}, 1);
  s.counter("a_total", "help a", {}, 5);
  s.gauge("b", "ignored help", {{"x", "2"}}, 2);
  s.info("c_info", "help c", {{"k", "v"}});
  EXPECT_EQ(s.series_count(), 4u);
  auto& f = s.families();
  ASSERT_EQ(f.size(), 3u);
  EXPECT_EQ(f[0].name, "b");
  EXPECT_EQ(f[0].help, "help b");
  EXPECT_EQ(f[0].type, prometheus::MetricType::Gauge);
  ASSERT_EQ(f[0].metric.size(), 2u);
  EXPECT_EQ(f[0].metric[1].gauge.value, 2);
  EXPECT_EQ(f[0].metric[1].label[0].value, "2");
  EXPECT_EQ(f[1].type, prometheus::MetricType::Counter);
  EXPECT_EQ(f[1].metric[0].counter.value, 5);
  EXPECT_EQ(f[2].metric[0].gauge.value, 1);
}

TEST(MetricSink, TypeClashThrows) {
  MetricSink s;
  s.gauge("m", "h", {}, 1);
  EXPECT_THROW(s.counter("m", "h", {}, 1), std::logic_error);
}

TEST(MetricSink, EverySeriesOfAFamilyCarriesTheSameLabelNames) {
  MetricSink s;
  s.gauge("m", "h", {{"namespace", "ns"}, {"pod", "p"}}, 1);
  s.gauge("m", "h", {{"namespace", ""}, {"pod", "q"}}, 1);  // an empty value is a value
  EXPECT_THROW(s.gauge("m", "h", {{"pod", "p"}}, 1), std::logic_error);
  EXPECT_THROW(s.gauge("m", "h", {{"pod", "p"}, {"namespace", "ns"}}, 1), std::logic_error);
  EXPECT_THROW(s.gauge("m", "h", {}, 1), std::logic_error);
  // Another sink's family with other names stays out.
  MetricSink other;
  other.gauge("m", "h", {{"cgroup", "/"}}, 1);
  EXPECT_EQ(s.absorb(other.take()), std::vector<std::string>{"m"});
  EXPECT_EQ(s.families()[0].metric.size(), 2u);
}

TEST(MetricSink, TakeEmpties) {
  MetricSink s;
  s.gauge("m", "h", {}, 1);
  auto f = s.take();
  EXPECT_EQ(f.size(), 1u);
  EXPECT_EQ(s.series_count(), 0u);
  EXPECT_TRUE(s.families().empty());
  s.counter("m", "h", {}, 1);  // a fresh sink: the old type is forgotten
  EXPECT_EQ(s.families()[0].type, prometheus::MetricType::Counter);
}

TEST(MetricSink, ManySeries) {
  MetricSink s;
  for (int i = 0; i < 10000; ++i) s.gauge("m", "h", {{"i", std::to_string(i)}}, i);
  EXPECT_EQ(s.series_count(), 10000u);
  EXPECT_EQ(s.families()[0].metric.size(), 10000u);
}

}  // namespace
}  // namespace epc
