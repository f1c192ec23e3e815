#include "model.h"

#include <gtest/gtest.h>

using namespace epctop;

namespace {

Snapshot snap(const std::string& body, double t) {
  auto p = parse_prometheus_text(body);
  EXPECT_EQ(p.index(), 0u) << (p.index() ? std::get<ParseError>(p).what() : "");
  auto s = make_snapshot(std::get<0>(p), t);
  EXPECT_EQ(s.index(), 0u) << (s.index() ? std::get<std::string>(s) : "");
  return std::get<Snapshot>(s);
}

const Row* find(const Rows& r, const std::string& name) {
  for (const auto& row : r.rows)
    if (row.name == name) return &row;
  return nullptr;
}

const char* kTwoContainers =
    "sgx_enclaves{namespace=\"ns\",pod=\"p\",container=\"a\"} 1\n"
    "sgx_enclaves{namespace=\"ns\",pod=\"p\",container=\"b\"} 2\n"
    "sgx_epc_resident_bytes{namespace=\"ns\",pod=\"p\",container=\"a\"} 4096\n"
    "sgx_epc_resident_bytes{namespace=\"ns\",pod=\"p\",container=\"b\"} 8192\n"
    "sgx_epc_evicted_pages_total{namespace=\"ns\",pod=\"p\",container=\"a\"} 100\n"
    "sgx_epc_evicted_pages_total{namespace=\"ns\",pod=\"p\",container=\"b\"} 1000\n"
    "sgx_enclaves{cgroup=\"system.slice/aesmd.service\"} 3\n"
    "sgx_epc_reclaim_passes_total{reclaimer=\"ksgxd\"} 10\n"
    "sgx_epc_reclaim_passes_total{reclaimer=\"direct\"} 1\n";

}  // namespace

TEST(EpctopModel, RejectsAPageWithoutSgxSeries) {
  auto p = std::get<0>(parse_prometheus_text("node_load1 0.5\nnode_load5 0.4\n"));
  auto s = make_snapshot(p, 0);
  ASSERT_EQ(s.index(), 1u);
  EXPECT_EQ(std::get<std::string>(s), "no sgx_* series in the page: not an epc_exporter /metrics (2 series, e.g. node_load1)");
}

TEST(EpctopModel, CounterRateHandlesResets) {
  EXPECT_DOUBLE_EQ(counter_rate(100, 300, 2), 100);
  EXPECT_DOUBLE_EQ(counter_rate(300, 50, 2), 25);  // reset: 50 counted since
  EXPECT_DOUBLE_EQ(counter_rate(1, 2, 0), 0);
}

TEST(EpctopModel, ContainerAndPodLevels) {
  Snapshot a = snap(kTwoContainers, 10);
  Rows c = build_rows(a, nullptr, Level::Container);
  ASSERT_EQ(c.rows.size(), 3u);
  ASSERT_TRUE(find(c, "ns/p/a"));
  EXPECT_EQ(find(c, "ns/p/a")->resident, 4096);
  EXPECT_FALSE(find(c, "ns/p/a")->evict_rate.has_value());  // one scrape: no rate
  ASSERT_TRUE(find(c, "system.slice/aesmd.service"));
  EXPECT_TRUE(find(c, "system.slice/aesmd.service")->is_cgroup);

  Rows p = build_rows(a, nullptr, Level::Pod);
  ASSERT_EQ(p.rows.size(), 2u);
  const Row* pod = find(p, "ns/p");
  ASSERT_TRUE(pod);
  EXPECT_EQ(pod->enclaves, 3);
  EXPECT_EQ(pod->resident, 12288);
  EXPECT_EQ(pod->ns, "ns");
}

TEST(EpctopModel, RatesPerSeriesThenSummedWithReset) {
  Snapshot a = snap(kTwoContainers, 10);
  std::string body = kTwoContainers;
  // a: +200 in 4 s; b: restarted (reset) and counted 40 since; reclaim ksgxd +8.
  body.replace(body.find("} 100\n"), 6, "} 300\n");
  body.replace(body.find("} 1000\n"), 7, "} 40\n");
  body.replace(body.find("\"ksgxd\"} 10"), 11, "\"ksgxd\"} 18");
  Snapshot b = snap(body, 14);
  Rows c = build_rows(b, &a, Level::Container);
  EXPECT_DOUBLE_EQ(*find(c, "ns/p/a")->evict_rate, 50);
  EXPECT_DOUBLE_EQ(*find(c, "ns/p/b")->evict_rate, 10);
  Rows p = build_rows(b, &a, Level::Pod);
  EXPECT_DOUBLE_EQ(*find(p, "ns/p")->evict_rate, 60);  // not (340-1100)/4: each series' own rate
  NodeInfo n = node_info(b, &a);
  EXPECT_DOUBLE_EQ(*n.reclaim_ksgxd_rate, 2);
  EXPECT_DOUBLE_EQ(*n.reclaim_direct_rate, 0);
}

TEST(EpctopModel, NodeInfo) {
  Snapshot a = snap(
      "sgx_platform_info{cpu_sgx=\"1\",cpu_sgx_lc=\"1\",sgx1=\"1\",sgx2=\"0\",driver=\"in-kernel\"} 1\n"
      "sgx_epc_capacity_bytes{numa_node=\"1\"} 200\n"
      "sgx_epc_capacity_bytes{numa_node=\"0\"} 100\n"
      "sgx_epc_free_bytes 250\n"
      "sgx_exporter_probe_attached{probe=\"a\"} 1\n"
      "sgx_exporter_probe_attached{probe=\"b\"} 0\n"
      "sgx_exporter_collector_success{collector=\"ebpf\"} 0\n"
      "sgx_exporter_collector_success{collector=\"platform\"} 1\n",
      0);
  NodeInfo n = node_info(a, nullptr);
  EXPECT_EQ(n.driver, "in-kernel");
  EXPECT_TRUE(n.sgx1 && n.flc && !n.sgx2);
  ASSERT_EQ(n.capacity.size(), 2u);
  EXPECT_EQ(n.capacity[0].first, "0");
  EXPECT_EQ(*n.capacity_total, 300);
  EXPECT_EQ(*n.free, 250);
  EXPECT_EQ(n.probes_attached, 1);
  EXPECT_EQ(n.probes_total, 2);
  ASSERT_EQ(n.failed_collectors.size(), 1u);
  EXPECT_EQ(n.failed_collectors[0], "ebpf");
  EXPECT_FALSE(n.has_reclaim);
}

TEST(EpctopModel, EnclaveIdentityAndEnclaveLevel) {
  const char* body =
      "sgx_enclaves{namespace=\"ns\",pod=\"p\",container=\"a\"} 2\n"
      "sgx_epc_resident_bytes{namespace=\"ns\",pod=\"p\",container=\"a\"} 8192\n"
      "sgx_enclave_info{namespace=\"ns\",pod=\"p\",container=\"a\",mrenclave=\"aaaaaaaaaaaaaaaa11\",mrsigner=\"ssss\",isv_svn=\"3\",debug=\"false\"} 1\n"
      "sgx_enclave_info{namespace=\"ns\",pod=\"p\",container=\"a\",mrenclave=\"bbbbbbbbbbbbbbbb22\",mrsigner=\"ssss\",isv_svn=\"4\",debug=\"true\"} 1\n"
      "sgx_epc_resident_bytes{namespace=\"ns\",pod=\"p\",container=\"a\",mrenclave=\"aaaaaaaaaaaaaaaa11\"} 4096\n";
  Snapshot a = snap(body, 0);
  Rows c = build_rows(a, nullptr, Level::Container);
  EXPECT_TRUE(c.has_identity);
  ASSERT_EQ(c.rows.size(), 1u);
  EXPECT_EQ(c.rows[0].resident, 8192);  // the per-enclave series is not added to the container's
  EXPECT_EQ(c.rows[0].mrenclave, "2 ids");
  EXPECT_EQ(c.rows[0].mrsigner, "ssss");
  EXPECT_EQ(c.rows[0].debug, "mix");  // one debug enclave, one production enclave
  Rows e = build_rows(a, nullptr, Level::Enclave);
  EXPECT_TRUE(e.has_enclave_series);
  ASSERT_EQ(e.rows.size(), 2u);
  const Row* r = find(e, "ns/p/a/aaaaaaaaaaaa");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->resident, 4096);
  EXPECT_EQ(r->enclaves, 1);
  EXPECT_EQ(r->isv_svn, "3");
  EXPECT_EQ(r->debug, "no");  // the exporter writes debug="false"
  EXPECT_EQ(find(e, "ns/p/a/bbbbbbbbbbbb")->debug, "yes");
  // The name's parts: the pod, then container and enclave.
  EXPECT_EQ(r->ns, "ns");
  EXPECT_EQ(r->pod, "p");
  EXPECT_EQ(r->rest, "a/aaaaaaaaaaaa");
  EXPECT_FALSE(find(e, "ns/p/a/bbbbbbbbbbbb")->resident.has_value());
}

TEST(EpctopModel, NoIdentityNoEnclaveLevel) {
  Snapshot a = snap(kTwoContainers, 0);
  Rows e = build_rows(a, nullptr, Level::Enclave);
  EXPECT_FALSE(e.has_identity);
  EXPECT_FALSE(e.has_enclave_series);
  EXPECT_TRUE(e.rows.empty());
}

TEST(EpctopModel, CgroupUsageFallbackTakesEachLevelsOwnSeries) {
  Snapshot a = snap(
      "sgx_cgroup_epc_usage_bytes{cgroup=\"/\"} 999\n"
      "sgx_cgroup_epc_usage_bytes{namespace=\"ns\",pod=\"p\"} 300\n"
      "sgx_cgroup_epc_usage_bytes{namespace=\"ns\",pod=\"p\",container=\"a\"} 100\n"
      "sgx_cgroup_epc_usage_bytes{namespace=\"ns\",pod=\"p\",container=\"b\"} 200\n",
      0);
  Rows p = build_rows(a, nullptr, Level::Pod);
  EXPECT_TRUE(p.resident_from_cgroup);
  ASSERT_EQ(p.rows.size(), 1u);
  EXPECT_EQ(p.rows[0].resident, 300);
  Rows c = build_rows(a, nullptr, Level::Container);
  ASSERT_EQ(c.rows.size(), 2u);
  EXPECT_EQ(find(c, "ns/p/b")->resident, 200);
}
