#include "scrape/series_cap.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "scrape/metric_sink.h"

namespace epc {
namespace {

using namespace std::chrono_literals;
using Clock = WorkloadCap::Clock;

// One scrape: per pod a gauge and a counter (container-level), plus a plain cgroup and a node series.
std::vector<prometheus::MetricFamily> scrape(const std::map<std::string, double>& pods, bool with_cgroup = true) {
  MetricSink sink;
  for (const auto& [pod, v] : pods) {
    sink.gauge("sgx_epc_pod_bytes", "b", {{"namespace", "ns"}, {"pod", pod}, {"container", "c"}, {"cgroup", ""}}, 4096);
    sink.counter("sgx_epc_pod_evictions_total", "e",
                 {{"namespace", "ns"}, {"pod", pod}, {"container", "c"}, {"cgroup", ""}, {"type", "ewb"}}, v);
  }
  if (with_cgroup)
    sink.gauge("sgx_epc_cgroup_bytes", "b",
               {{"namespace", ""}, {"pod", ""}, {"container", ""}, {"cgroup", "system.slice/aesmd.service"}}, 8192);
  sink.gauge("sgx_epc_total_bytes", "t", {{"node", "0"}}, 1 << 30);
  return sink.take();
}

std::map<std::string, double> pods_of(int n, int from = 100, double v = 2) {
  std::map<std::string, double> out;
  for (int i = 0; i < n; ++i) out["pod-" + std::to_string(from + i)] = v;
  return out;
}

const prometheus::MetricFamily* family(const std::vector<prometheus::MetricFamily>& fams, const std::string& name) {
  for (const auto& f : fams)
    if (f.name == name) return &f;
  return nullptr;
}

// pod (or cgroup) label value -> summed value.
std::map<std::string, double> by_pod(const std::vector<prometheus::MetricFamily>& fams, const std::string& name) {
  std::map<std::string, double> out;
  const auto* f = family(fams, name);
  if (!f) return out;
  for (const auto& m : f->metric) {
    std::string key;
    for (const auto& l : m.label)
      if ((l.name == "pod" || l.name == "cgroup") && !l.value.empty()) key = l.value;
    out[key] += f->type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value;
  }
  return out;
}

std::set<std::string> own_pods(const std::vector<prometheus::MetricFamily>& fams) {
  std::set<std::string> out;
  for (const auto& [k, v] : by_pod(fams, "sgx_epc_pod_bytes"))
    if (k != kOverflowCgroup) out.insert(k);
  return out;
}

WorkloadCap cap_of(std::size_t n, Clock::duration grace = 10s) {
  return WorkloadCap(WorkloadCap::Options{.max_workloads = n, .grace = grace});
}

const Clock::time_point t0{};

TEST(SeriesCap, UnderTheLimitNothingChanges) {
  auto fams = scrape(pods_of(3));
  auto before = fams;
  auto cap = cap_of(4);
  auto st = cap.apply(fams, t0);
  EXPECT_EQ(st.workloads, 4u);  // 3 pods + 1 cgroup
  EXPECT_EQ(st.aggregated, 0u);
  ASSERT_EQ(fams.size(), before.size());
  for (std::size_t i = 0; i < fams.size(); ++i) EXPECT_EQ(fams[i].metric.size(), before[i].metric.size());
}

TEST(SeriesCap, OverflowIsSummedIntoOneSeriesPerFamilyAndLabelSet) {
  auto fams = scrape(pods_of(50));
  auto cap = cap_of(10);
  auto st = cap.apply(fams, t0);
  EXPECT_EQ(st.workloads, 51u);
  EXPECT_EQ(st.aggregated, 41u);
  auto bytes = by_pod(fams, "sgx_epc_pod_bytes");
  EXPECT_EQ(own_pods(fams).size(), 9u);  // the cgroup ("" namespace sorts first) took a slot
  ASSERT_TRUE(bytes.count(kOverflowCgroup));
  double total = 0;
  for (const auto& [k, v] : bytes) total += v;
  EXPECT_DOUBLE_EQ(total, 50 * 4096.0);  // nothing lost: the sum is preserved
  auto ev = by_pod(fams, "sgx_epc_pod_evictions_total");
  double evs = 0;
  for (const auto& [k, v] : ev) evs += v;
  EXPECT_DOUBLE_EQ(evs, 100.0);
  for (const auto& m : family(fams, "sgx_epc_pod_evictions_total")->metric) {
    bool has_type = false, container_overflow = false;
    for (const auto& l : m.label) {
      has_type |= l.name == "type" && l.value == "ewb";
      container_overflow |= l.name == "container" && l.value == kOverflowCgroup;
    }
    EXPECT_TRUE(has_type);
    bool is_overflow = false;
    for (const auto& l : m.label) is_overflow |= l.name == "cgroup" && l.value == kOverflowCgroup;
    EXPECT_EQ(is_overflow, container_overflow);  // container-level overflow kept apart
  }
  // The overflow series carry their family's label names, in the family's order.
  for (const auto& f : fams)
    for (const auto& m : f.metric) {
      ASSERT_EQ(m.label.size(), f.metric.front().label.size()) << f.name;
      for (std::size_t i = 0; i < m.label.size(); ++i) EXPECT_EQ(m.label[i].name, f.metric.front().label[i].name);
    }
  EXPECT_EQ(family(fams, "sgx_epc_total_bytes")->metric.size(), 1u);  // not per-workload: untouched
  EXPECT_EQ(family(fams, "sgx_epc_pod_bytes")->metric.size(), 10u);   // 9 own + 1 overflow
}

TEST(SeriesCap, ZeroMeansUnlimited) {
  auto cap = cap_of(0);
  auto c = scrape(pods_of(30));
  EXPECT_EQ(cap.apply(c, t0).aggregated, 0u);
  EXPECT_EQ(family(c, "sgx_epc_pod_bytes")->metric.size(), 30u);
  EXPECT_EQ(cap.remembered(), 0u);
}

TEST(SeriesCap, MembershipStableUnderANewcomerThatSortsFirst) {
  auto cap = cap_of(3);
  auto pods = pods_of(3, 500);  // pod-500..502
  auto a = scrape(pods, false);
  cap.apply(a, t0);
  const auto first = own_pods(a);
  ASSERT_EQ(first.size(), 3u);
  pods["pod-000"] = 7;  // sorts before all of them
  auto b = scrape(pods, false);
  auto st = cap.apply(b, t0 + 1s);
  EXPECT_EQ(own_pods(b), first);  // nobody lost their series
  EXPECT_EQ(st.aggregated, 1u);
  EXPECT_DOUBLE_EQ(by_pod(b, "sgx_epc_pod_evictions_total")[kOverflowCgroup], 7);
  // Stable from scrape to scrape.
  for (int i = 2; i < 10; ++i) {
    auto c = scrape(pods, false);
    cap.apply(c, t0 + std::chrono::seconds(i));
    EXPECT_EQ(own_pods(c), first);
  }
}

TEST(SeriesCap, DepartureFreesTheSlotOnlyAfterTheGrace) {
  auto cap = cap_of(2, 10s);
  auto s = [&](std::map<std::string, double> p, Clock::duration at) {
    auto f = scrape(p, false);
    cap.apply(f, t0 + at);
    return f;
  };
  EXPECT_EQ(own_pods(s({{"a", 1}, {"b", 1}}, 0s)), (std::set<std::string>{"a", "b"}));
  // b leaves; c arrives within the grace: b's slot is held, c is overflowed.
  auto f = s({{"a", 2}}, 1s);
  EXPECT_EQ(own_pods(f), (std::set<std::string>{"a"}));
  f = s({{"a", 3}, {"c", 5}}, 2s);
  EXPECT_EQ(own_pods(f), (std::set<std::string>{"a"}));
  EXPECT_DOUBLE_EQ(by_pod(f, "sgx_epc_pod_evictions_total")[kOverflowCgroup], 5);
  // b comes back within the grace: its slot again.
  f = s({{"a", 4}, {"b", 2}, {"c", 6}}, 5s);
  EXPECT_EQ(own_pods(f), (std::set<std::string>{"a", "b"}));
  EXPECT_DOUBLE_EQ(by_pod(f, "sgx_epc_pod_evictions_total")[kOverflowCgroup], 6);
  // b leaves for longer than the grace: its slot goes to the next newcomer d, not to c (overflowed for life).
  s({{"a", 5}, {"c", 7}}, 6s);
  f = s({{"a", 5}, {"c", 8}}, 14s);  // absent since 5 s, 9 s: still held
  EXPECT_EQ(cap.own(), 2u);
  f = s({{"a", 5}, {"c", 8}}, 15s);  // 10 s: freed, but c stays overflowed (no count of c twice)
  EXPECT_EQ(cap.own(), 1u);
  EXPECT_EQ(own_pods(f), (std::set<std::string>{"a"}));
  auto ev = by_pod(f, "sgx_epc_pod_evictions_total");
  EXPECT_DOUBLE_EQ(ev["a"] + ev[kOverflowCgroup], 5 + 8);
  EXPECT_EQ(ev.size(), 2u);
  f = s({{"a", 5}, {"c", 8}, {"d", 1}}, 16s);
  EXPECT_EQ(own_pods(f), (std::set<std::string>{"a", "d"}));
  EXPECT_DOUBLE_EQ(by_pod(f, "sgx_epc_pod_evictions_total")[kOverflowCgroup], 8);
  // c leaves: its last value stays carried; the overflow gauge drops (gauges are current values).
  f = s({{"a", 5}, {"d", 2}}, 17s);
  EXPECT_DOUBLE_EQ(by_pod(f, "sgx_epc_pod_evictions_total")[kOverflowCgroup], 8);
  EXPECT_EQ(by_pod(f, "sgx_epc_pod_bytes").count(kOverflowCgroup), 0u);
  // c comes back within the grace: continues from its last value (not counted twice).
  f = s({{"a", 5}, {"c", 9}, {"d", 2}}, 18s);
  EXPECT_DOUBLE_EQ(by_pod(f, "sgx_epc_pod_evictions_total")[kOverflowCgroup], 9);
  // A counter that goes back (reset) adds its new value, as Prometheus counts it.
  f = s({{"a", 5}, {"c", 1}, {"d", 2}}, 19s);
  EXPECT_DOUBLE_EQ(by_pod(f, "sgx_epc_pod_evictions_total")[kOverflowCgroup], 10);
  // Everyone overflowed gone and forgotten: the counter is still written, with its total.
  f = s({{"a", 5}, {"d", 2}}, 40s);
  EXPECT_DOUBLE_EQ(by_pod(f, "sgx_epc_pod_evictions_total")[kOverflowCgroup], 10);
  EXPECT_EQ(cap.remembered(), 2u);
}

TEST(SeriesCap, ChurnAcrossTheCapKeepsMembersAndBoundsSeries) {
  auto cap = cap_of(5, 3s);
  std::map<std::string, double> live;
  std::set<std::string> prev_own;
  int next = 0;
  for (int i = 0; i < 200; ++i) {
    // 4 to 9 live pods: across the cap of 5 both ways.
    if (live.size() < 4 || (live.size() < 9 && i % 3 != 0)) live["p" + std::to_string(next++)] = 0;
    if (live.size() > 6 && i % 2 == 0) live.erase(live.begin());
    for (auto& [k, v] : live) v += 1;
    auto f = scrape(live, false);
    auto st = cap.apply(f, t0 + std::chrono::seconds(i));
    auto own = own_pods(f);
    EXPECT_LE(own.size(), 5u);
    EXPECT_EQ(st.aggregated + own.size(), live.size());
    // Who had a slot and is still here keeps it.
    for (const auto& p : prev_own)
      if (live.count(p)) {
        EXPECT_TRUE(own.count(p)) << p << " lost its slot at scrape " << i;
      }
    prev_own = own;
    EXPECT_LE(family(f, "sgx_epc_pod_bytes")->metric.size(), 6u);
  }
  EXPECT_LE(cap.remembered(), 9u + 5u * 3u);  // live + absent within the grace
}

TEST(SeriesCap, OverflowCounterNeverDecreasesUnderRandomChurn) {
  std::mt19937 rng(1234);
  auto cap = cap_of(8, 5s);
  std::map<std::string, double> counters;  // every pod ever, its counter (continues when it comes back)
  std::set<std::string> live;
  double last_overflow = 0;
  bool overflowed_ever = false;
  int next = 0;
  for (int i = 0; i < 3000; ++i) {
    int r = static_cast<int>(rng() % 10);
    if (r < 3 && live.size() < 20) {
      std::string p = "w" + std::to_string(rng() % 1000 < 900 ? next++ : static_cast<int>(rng() % (next + 1)));
      live.insert(p);  // a new pod, or now and then one coming back
    } else if (r < 6 && !live.empty()) {
      auto it = live.begin();
      std::advance(it, rng() % live.size());
      live.erase(it);
    }
    std::map<std::string, double> now;
    for (const auto& p : live) {
      double& c = counters[p];
      if (rng() % 200 == 0) c = 0;  // a reset now and then
      c += static_cast<double>(rng() % 100);
      now[p] = c;
    }
    auto f = scrape(now, false);
    auto st = cap.apply(f, t0 + std::chrono::milliseconds(500 * i));  // scrapes every 0.5 s
    auto ev = by_pod(f, "sgx_epc_pod_evictions_total");
    auto gauge = by_pod(f, "sgx_epc_pod_bytes");
    double overflow = ev.count(kOverflowCgroup) ? ev[kOverflowCgroup] : 0;
    ASSERT_GE(overflow, last_overflow) << "overflow counter decreased at scrape " << i;
    if (overflowed_ever) {
      ASSERT_TRUE(ev.count(kOverflowCgroup)) << "overflow counter vanished at scrape " << i;
    }
    overflowed_ever |= ev.count(kOverflowCgroup) > 0;
    // It holds at least the current values of the overflowed workloads present; the gauge exactly those.
    double present_overflowed = 0;
    for (const auto& [p, v] : now)
      if (!ev.count(p)) present_overflowed += v;
    ASSERT_GE(overflow + 1e-6, present_overflowed);
    ASSERT_EQ(st.aggregated + (ev.size() - ev.count(kOverflowCgroup)), now.size());
    ASSERT_DOUBLE_EQ(gauge.count(kOverflowCgroup) ? gauge[kOverflowCgroup] : 0, 4096.0 * st.aggregated);
    ASSERT_LE(cap.own(), 8u);
    ASSERT_LE(cap.remembered(), 20u + 10u * 3u);  // live + absent within 5 s (10 scrapes, <= 3 departures each)
    last_overflow = overflow;
  }
  EXPECT_TRUE(overflowed_ever);
  EXPECT_GT(last_overflow, 0);
}

TEST(SeriesCap, AbsentOverflowedWorkloadsAreBounded) {
  WorkloadCap cap(WorkloadCap::Options{.max_workloads = 1, .grace = 1h, .max_absent = 3});
  for (int i = 0; i < 20; ++i) {
    auto f = scrape({{"keep", 1}, {"x" + std::to_string(i), 1}}, false);
    cap.apply(f, t0 + std::chrono::seconds(i));
  }
  EXPECT_LE(cap.remembered(), 1u + 1u + 3u);
}

// The cap changes per-workload series only: a series without a workload label (node-level, self metrics) keeps its
// labels and value through every scrape, whatever the cap, the churn or the families around it.
TEST(SeriesCap, SeriesWithoutAWorkloadLabelAreNeverChanged) {
  std::mt19937 rng(7);
  for (std::size_t limit : {std::size_t{0}, std::size_t{1}, std::size_t{2}, std::size_t{5}, std::size_t{40}}) {
    auto cap = cap_of(limit, 3s);
    for (int round = 0; round < 60; ++round) {
      MetricSink sink;
      const int pods = static_cast<int>(rng() % 12);
      for (int i = 0; i < pods; ++i) {
        const std::string pod = "pod-" + std::to_string(rng() % 20);
        sink.gauge("sgx_epc_resident_bytes", "r", {{"namespace", "ns"}, {"pod", pod}, {"container", "c"}, {"cgroup", ""}},
                   4096);
        sink.counter("sgx_epc_evicted_pages_total", "e",
                     {{"namespace", "ns"}, {"pod", pod}, {"container", "c"}, {"cgroup", ""}}, static_cast<double>(round));
      }
      // Node-level series, in a family of their own and mixed into a per-workload one.
      sink.gauge("sgx_epc_capacity_bytes", "c", {{"numa_node", "0"}}, 1 << 30);
      sink.gauge("sgx_epc_capacity_bytes", "c", {{"numa_node", "1"}}, 1 << 29);
      sink.gauge("sgx_exporter_collector_success", "s", {{"collector", "ebpf"}}, 1);
      sink.gauge("sgx_exporter_collector_success", "s", {{"collector", "platform"}}, round % 2);
      sink.info("sgx_platform_info", "i", {{"sgx1", "true"}, {"flc", "false"}});
      sink.gauge("sgx_epc_resident_bytes", "r", {{"namespace", ""}, {"pod", ""}, {"container", ""}, {"cgroup", ""}}, 123);
      auto fams = sink.take();
      // Every series without a workload label, by family, as written.
      std::map<std::string, std::vector<std::pair<std::vector<std::pair<std::string, std::string>>, double>>> before;
      auto node_level = [](const std::vector<prometheus::MetricFamily>& fs) {
        std::map<std::string, std::vector<std::pair<std::vector<std::pair<std::string, std::string>>, double>>> out;
        for (const auto& f : fs)
          for (const auto& m : f.metric) {
            std::vector<std::pair<std::string, std::string>> labels;
            bool workload = false;
            for (const auto& l : m.label) {
              labels.emplace_back(l.name, l.value);
              workload = workload || ((l.name == "pod" || l.name == "cgroup") && !l.value.empty());
            }
            if (workload) continue;
            out[f.name].emplace_back(labels, f.type == prometheus::MetricType::Counter ? m.counter.value
                                                                                        : m.gauge.value);
          }
        return out;
      };
      before = node_level(fams);
      cap.apply(fams, t0 + std::chrono::seconds(round));
      EXPECT_EQ(node_level(fams), before) << "limit " << limit << ", round " << round;
    }
  }
}

TEST(SeriesCap, SelfMetrics) {
  auto fams = scrape(pods_of(5));
  auto cap = cap_of(2);
  auto st = cap.apply(fams, t0);
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
