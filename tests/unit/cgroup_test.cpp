#include "collectors/cgroup.h"

#include <gtest/gtest.h>

#include <functional>

#include "attribution/attribution.h"
#include "core/config.h"
#include "core/host_paths.h"
#include "test_util.h"

namespace epc {
namespace {

const std::string kUid = "3f1c2a9e-8b7d-4e6f-9a21-5c0d7e4b8a13";
const std::string kId(64, 'c');

const prometheus::MetricFamily* family(MetricSink& sink, const std::string& name) {
  for (const auto& f : sink.families())
    if (f.name == name) return &f;
  return nullptr;
}

std::optional<double> value_of(MetricSink& sink, const std::string& name, const Labels& labels) {
  const auto* f = family(sink, name);
  if (!f) return std::nullopt;
  for (const auto& m : f->metric) {
    Labels l;
    for (const auto& p : m.label) l.emplace_back(p.name, p.value);
    if (l == labels) return f->type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value;
  }
  return std::nullopt;
}

TEST(MiscFile, Parses) {
  auto e = parse_misc_file("sev 0\nsgx_epc 4096\nsev_es max\n");
  ASSERT_TRUE(e.ok());
  ASSERT_EQ(e->size(), 3u);
  EXPECT_EQ(find_misc_entry(*e, "sgx_epc")->value, 4096u);
  EXPECT_FALSE(find_misc_entry(*e, "sev_es")->value.has_value());
  EXPECT_EQ(find_misc_entry(*e, "tdx"), nullptr);
  auto ev = parse_misc_file("sgx_epc.max 17\n");
  ASSERT_TRUE(ev.ok());
  EXPECT_EQ(find_misc_entry(*ev, "sgx_epc.max")->value, 17u);
  auto empty = parse_misc_file("");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
  EXPECT_TRUE(parse_misc_file("\n\n").ok());
  auto big = parse_misc_file("sgx_epc 18446744073709551615\n");
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(find_misc_entry(*big, "sgx_epc")->value, 18446744073709551615ULL);
}

TEST(MiscFile, Malformed) {
  for (const char* bad : {"sgx_epc\n", "sgx_epc 1 2\n", "sgx_epc -1\n", "sgx_epc 1.5\n", "sgx_epc MAX\n",
                          "sgx_epc 18446744073709551616\n", "sgx_epc 12abc\n", "\x01\x02\x03\x04", "sgx_epc 4096\nsgx_e"}) {
    EXPECT_FALSE(parse_misc_file(bad).ok()) << bad;
  }
  std::string huge(1 << 20, '1');
  EXPECT_FALSE(parse_misc_file("sgx_epc " + huge).ok());
}

struct Harness {
  explicit Harness(std::string root) : paths(std::move(root)), attribution(paths) {}
  Config config;
  HostPaths paths;
  Attribution attribution;
  std::unique_ptr<Collector> make() { return make_cgroup_collector({config, paths, attribution}); }
  Status collect(MetricSink& sink) {
    attribution.refresh();
    return make()->collect(sink);
  }
};

TEST(CgroupCollector, AksFixture) {
  Harness h(EPC_FIXTURES "/aks-dcsv3");
  MetricSink sink;
  auto s = h.collect(sink);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(value_of(sink, "sgx_cgroup_epc_capacity_bytes", {}), 64.0 * (1ULL << 30));
  const Labels db = {{"namespace", "sgx-apps"}, {"pod", "enclave-db-0"}, {"container", "db"}};
  EXPECT_EQ(value_of(sink, "sgx_cgroup_epc_usage_bytes", db), 2.0 * (1ULL << 30));
  EXPECT_EQ(value_of(sink, "sgx_cgroup_epc_limit_bytes", db), 4.0 * (1ULL << 30));
  EXPECT_EQ(value_of(sink, "sgx_cgroup_epc_peak_bytes", db), 3.0 * (1ULL << 30));
  EXPECT_EQ(value_of(sink, "sgx_cgroup_epc_max_events_total", db), 0);
  const Labels web = {{"namespace", "sgx-apps"}, {"pod", "attest-web-7d9f8c6b5-xk2lp"}, {"container", "web"}};
  EXPECT_EQ(value_of(sink, "sgx_cgroup_epc_max_events_total", web), 17);
  // Pod level, without a limit.
  const Labels db_pod = {{"namespace", "sgx-apps"}, {"pod", "enclave-db-0"}};
  EXPECT_EQ(value_of(sink, "sgx_cgroup_epc_usage_bytes", db_pod), 2.0 * (1ULL << 30));
  EXPECT_EQ(value_of(sink, "sgx_cgroup_epc_limit_bytes", db_pod), std::nullopt);
  // Containers and pods that never touched EPC are not reported; QoS slices and inner cgroups neither.
  EXPECT_EQ(value_of(sink, "sgx_cgroup_epc_usage_bytes",
                     {{"namespace", "sgx-apps"}, {"pod", "attest-web-7d9f8c6b5-xk2lp"}, {"container", "sidecar-proxy"}}),
            std::nullopt);
  EXPECT_EQ(value_of(sink, "sgx_cgroup_epc_usage_bytes", {{"cgroup", "kubepods.slice"}}), std::nullopt);
  EXPECT_EQ(value_of(sink, "sgx_cgroup_epc_usage_bytes", {{"cgroup", "system.slice"}}), std::nullopt);
  EXPECT_EQ(value_of(sink, "sgx_cgroup_epc_usage_bytes", {{"cgroup", "system.slice/containerd.service"}}), std::nullopt);
  EXPECT_EQ(value_of(sink, "sgx_cgroup_epc_usage_bytes", {{"cgroup", "system.slice/aesmd.service"}}), 2.0 * (1 << 20));
  // The node total; the pod without a log directory by uid.
  EXPECT_TRUE(value_of(sink, "sgx_cgroup_epc_usage_bytes", {{"cgroup", "/"}}).has_value());
  EXPECT_TRUE(value_of(sink, "sgx_cgroup_epc_usage_bytes", {{"pod", "d4c3b2a1-0f9e-4d8c-b7a6-958473625140"}}).has_value());
  // Every series of a family has distinct labels.
  for (const auto& f : sink.families()) {
    std::set<std::vector<std::string>> seen;
    for (const auto& m : f.metric) {
      std::vector<std::string> key;
      for (const auto& l : m.label) key.push_back(l.name + "=" + l.value);
      EXPECT_TRUE(seen.insert(key).second) << f.name;
    }
  }
}

TEST(CgroupCollector, V1Fixture) {
  Harness h(EPC_FIXTURES "/v1-docker");
  MetricSink sink;
  auto s = h.collect(sink);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(value_of(sink, "sgx_cgroup_epc_capacity_bytes", {}), 0x5d80000);
  const Labels redis = {{"namespace", "confidential"}, {"pod", "redis-sgx-0"}, {"container", "redis"}};
  EXPECT_EQ(value_of(sink, "sgx_cgroup_epc_usage_bytes", redis), 16.0 * (1 << 20));
  EXPECT_EQ(value_of(sink, "sgx_cgroup_epc_limit_bytes", redis), 32.0 * (1 << 20));
  EXPECT_EQ(family(sink, "sgx_cgroup_epc_peak_bytes"), nullptr);  // this kernel has no misc.peak
  EXPECT_EQ(family(sink, "sgx_cgroup_epc_max_events_total"), nullptr);
  // A plain docker container outside Kubernetes keeps its cgroup path.
  EXPECT_EQ(value_of(sink, "sgx_cgroup_epc_limit_bytes",
                     {{"cgroup", "docker/942bb6ee81422744729fee83e3455071452b9a6c22ced746aa5a3c9a8528a172"}}),
            8.0 * (1 << 20));
  EXPECT_EQ(value_of(sink, "sgx_cgroup_epc_usage_bytes", {{"cgroup", "docker"}}), std::nullopt);  // inner cgroup
}

TEST(CgroupCollector, NoSgxEpcResourceIsNoData) {
  Harness h(EPC_FIXTURES "/no-sgx");
  MetricSink sink;
  auto s = h.collect(sink);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(sink.series_count(), 0u);

  test::TempTree t;  // no cgroup tree at all
  Harness empty(t.root().string());
  MetricSink sink2;
  ASSERT_TRUE(empty.collect(sink2).ok());
  EXPECT_EQ(sink2.series_count(), 0u);

  test::TempTree amd;  // misc controller with other resources only
  amd.write("sys/fs/cgroup/cgroup.controllers", "misc\n");
  amd.write("sys/fs/cgroup/misc.capacity", "sev 509\nsev_es 0\n");
  Harness h3(amd.root().string());
  MetricSink sink3;
  ASSERT_TRUE(h3.collect(sink3).ok());
  EXPECT_EQ(sink3.series_count(), 0u);
}

TEST(CgroupCollector, HybridUnifiedHierarchy) {
  test::TempTree t;
  t.mkdir("sys/fs/cgroup/memory");
  t.write("sys/fs/cgroup/unified/cgroup.controllers", "misc\n");
  t.write("sys/fs/cgroup/unified/misc.capacity", "sgx_epc 8192\n");
  t.write("sys/fs/cgroup/unified/a.service/misc.current", "sgx_epc 4096\n");
  t.write("sys/fs/cgroup/unified/a.service/misc.max", "sgx_epc 4096\n");
  Harness h(t.root().string());
  MetricSink sink;
  auto s = h.collect(sink);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(value_of(sink, "sgx_cgroup_epc_usage_bytes", {{"cgroup", "a.service"}}), 4096);
  EXPECT_EQ(value_of(sink, "sgx_cgroup_epc_limit_bytes", {{"cgroup", "a.service"}}), 4096);
}

TEST(CgroupCollector, CgroupsWithoutMiscFilesAndOddNames) {
  test::TempTree t;
  t.write("sys/fs/cgroup/cgroup.controllers", "misc\n");
  t.write("sys/fs/cgroup/misc.capacity", "sgx_epc 8192\n");
  // Controller off below this cgroup: no misc files, subtree not read.
  t.write("sys/fs/cgroup/user.slice/cgroup.procs", "");
  t.write("sys/fs/cgroup/user.slice/x/misc.current", "garbage that is never read\n");
  // A limit without usage is reported (a zero limit denies EPC).
  t.write("sys/fs/cgroup/deny.service/misc.current", "sgx_epc 0\n");
  t.write("sys/fs/cgroup/deny.service/misc.max", "sgx_epc 0\n");
  t.write("sys/fs/cgroup/deny.service/misc.events", "sgx_epc.max 3\n");
  // Odd directory names become sanitized labels.
  t.write("sys/fs/cgroup/we ird\n\xff.scope/misc.current", "sgx_epc 4096\n");
  // A pod cgroup with an unexpected child name, and CRI-O's conmon (skipped).
  std::string pod = "sys/fs/cgroup/kubepods/besteffort/pod" + kUid;
  t.write("sys/fs/cgroup/misc.current", "sgx_epc 16384\n");
  t.write("sys/fs/cgroup/kubepods/misc.current", "sgx_epc 4096\n");
  t.write("sys/fs/cgroup/kubepods/besteffort/misc.current", "sgx_epc 4096\n");
  t.write(pod + "/misc.current", "sgx_epc 4096\n");
  t.write(pod + "/mystery/misc.current", "sgx_epc 4096\n");
  t.write(pod + "/crio-conmon-" + kId + ".scope/misc.current", "sgx_epc 4096\n");
  Harness h(t.root().string());
  MetricSink sink;
  auto s = h.collect(sink);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(value_of(sink, "sgx_cgroup_epc_limit_bytes", {{"cgroup", "deny.service"}}), 0);
  EXPECT_EQ(value_of(sink, "sgx_cgroup_epc_max_events_total", {{"cgroup", "deny.service"}}), 3);
  EXPECT_EQ(value_of(sink, "sgx_cgroup_epc_usage_bytes", {{"cgroup", "we ird_?.scope"}}), 4096);
  EXPECT_EQ(value_of(sink, "sgx_cgroup_epc_usage_bytes", {{"pod", kUid}}), 4096);
  EXPECT_EQ(value_of(sink, "sgx_cgroup_epc_usage_bytes", {{"pod", kUid}, {"container", "mystery"}}), 4096);
  EXPECT_EQ(family(sink, "sgx_cgroup_epc_usage_bytes")->metric.size(), 5u);  // root, deny, weird, pod, mystery
}

TEST(CgroupCollector, BadInputsFailTheCollector) {
  struct Bad {
    const char* what;
    std::function<void(test::TempTree&)> make;
  };
  const std::string c = "sys/fs/cgroup/a.service/";
  std::vector<Bad> bads = {
      {"garbage capacity", [](test::TempTree& t) { t.write("sys/fs/cgroup/misc.capacity", "sgx_epc lots\n"); }},
      {"garbage current", [&](test::TempTree& t) { t.write(c + "misc.current", "\x01\x02\x03 \x04\n"); }},
      {"truncated current", [&](test::TempTree& t) { t.write(c + "misc.current", "sgx_epc"); }},
      {"enormous current", [&](test::TempTree& t) { t.write(c + "misc.current", std::string(200000, '7')); }},
      {"current is a directory", [&](test::TempTree& t) { t.mkdir(c + "misc.current"); }},
      {"garbage max",
       [&](test::TempTree& t) {
         t.write(c + "misc.current", "sgx_epc 1\n");
         t.write(c + "misc.max", "sgx_epc unlimited\n");
       }},
      {"garbage events",
       [&](test::TempTree& t) {
         t.write(c + "misc.current", "sgx_epc 1\n");
         t.write(c + "misc.events", "sgx_epc.max -3\n");
       }},
  };
  for (auto& b : bads) {
    test::TempTree t;
    t.write("sys/fs/cgroup/cgroup.controllers", "misc\n");
    if (b.what != std::string("garbage capacity")) t.write("sys/fs/cgroup/misc.capacity", "sgx_epc 8192\n");
    b.make(t);
    Harness h(t.root().string());
    MetricSink sink;
    auto s = h.collect(sink);
    EXPECT_FALSE(s.ok()) << b.what;
    if (!s.ok()) {
      EXPECT_NE(s.error().message.find("/"), std::string::npos) << b.what << ": " << s.error().message;
    }
  }
}

TEST(CgroupCollector, DeepTreeIsBounded) {
  test::TempTree t;
  t.write("sys/fs/cgroup/cgroup.controllers", "misc\n");
  t.write("sys/fs/cgroup/misc.capacity", "sgx_epc 8192\n");
  t.write("sys/fs/cgroup/misc.current", "sgx_epc 4096\n");
  std::string rel = "sys/fs/cgroup";
  for (int i = 0; i < 40; ++i) {
    rel += "/d";
    t.write(rel + "/misc.current", "sgx_epc 4096\n");
  }
  Harness h(t.root().string());
  MetricSink sink;
  auto s = h.collect(sink);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_GE(family(sink, "sgx_cgroup_epc_usage_bytes")->metric.size(), 2u);  // root + the depth-capped leaf
}

TEST(CgroupCollector, SeriesOfRemovedPodsDisappear) {
  test::TempTree t;
  t.write("sys/fs/cgroup/cgroup.controllers", "misc\n");
  t.write("sys/fs/cgroup/misc.capacity", "sgx_epc 8192\n");
  std::string pod = "sys/fs/cgroup/kubepods/pod" + kUid;
  t.write("sys/fs/cgroup/kubepods/misc.current", "sgx_epc 4096\n");
  t.write(pod + "/misc.current", "sgx_epc 4096\n");
  Harness h(t.root().string());
  auto c = h.make();
  MetricSink one;
  h.attribution.refresh();
  ASSERT_TRUE(c->collect(one).ok());
  EXPECT_TRUE(value_of(one, "sgx_cgroup_epc_usage_bytes", {{"pod", kUid}}).has_value());
  t.remove(pod);
  MetricSink two;
  h.attribution.refresh();
  ASSERT_TRUE(c->collect(two).ok());
  EXPECT_FALSE(value_of(two, "sgx_cgroup_epc_usage_bytes", {{"pod", kUid}}).has_value());
}

}  // namespace
}  // namespace epc
