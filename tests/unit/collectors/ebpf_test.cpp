// The ebpf collector above its source: replay-file parsing, snapshot -> metrics with pod attribution on the
// aks-dcsv3 fixture node, and the live source on a host without SGX (no data, not a failure).
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "attribution/attribution.h"
#include "collectors/ebpf.h"
#include "host/host_paths.h"
#include "host/parse.h"
#include "hooks.h"
#include "scrape/metric_sink.h"

namespace epc {
namespace {

const std::string kFixtures = EPC_FIXTURES;

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Value of the series of `name` whose labels include all of `want`; NaN-free: -1 when absent.
double value(std::vector<prometheus::MetricFamily>& fams, const std::string& name, const Labels& want) {
  for (const auto& f : fams) {
    if (f.name != name) continue;
    for (const auto& m : f.metric) {
      bool ok = true;
      for (const auto& [k, v] : want) {
        bool found = false;
        for (const auto& l : m.label) found = found || (l.name == k && l.value == v);
        ok = ok && found;
      }
      if (ok) return f.type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value;
    }
  }
  return -1;
}

bool has_family(std::vector<prometheus::MetricFamily>& fams, const std::string& name) {
  for (const auto& f : fams)
    if (f.name == name) return true;
  return false;
}

std::string kAllProbesForward();

// The families write_ebpf_metrics() gives for a replay text, attributed on a node without SGX or pods (a replay
// that does not parse fails the test and gives none).
std::vector<prometheus::MetricFamily> replayed_metrics(const std::string& replay) {
  auto snap = parse_ebpf_replay(replay);
  if (!snap.ok()) {
    ADD_FAILURE() << snap.error().message;
    return {};
  }
  HostPaths paths(kFixtures + "/no-sgx");
  Attribution attribution(paths);
  MetricSink sink;
  write_ebpf_metrics(*snap, attribution, std::nullopt, sink);
  return std::move(sink.families());
}

TEST(EbpfReplay, AksFixtureAttributesToPods) {
  auto snap = parse_ebpf_replay(slurp(kFixtures + "/ebpf/aks-dcsv3.txt"));
  ASSERT_TRUE(snap.ok()) << snap.error().message;
  HostPaths paths(kFixtures + "/aks-dcsv3");
  Attribution attribution(paths);
  MetricSink sink;
  write_ebpf_metrics(*snap, attribution, epc_capacity_bytes(paths), sink);
  auto& f = sink.families();
  const Labels db = {{"namespace", "sgx-apps"}, {"pod", "enclave-db-0"}, {"container", "db"}};
  EXPECT_EQ(value(f, "sgx_epc_resident_bytes", db), 2147483648.0);
  EXPECT_EQ(value(f, "sgx_epc_swapped_bytes", db), 131072.0 * 4096);
  EXPECT_EQ(value(f, "sgx_enclaves", db), 1);
  EXPECT_EQ(value(f, "sgx_enclave_size_bytes", db), 4294967296.0);
  EXPECT_EQ(value(f, "sgx_epc_evicted_pages_total", db), 901234);
  EXPECT_EQ(value(f, "sgx_epc_loaded_back_pages_total", db), 770162);
  EXPECT_EQ(value(f, "sgx_enclave_page_faults_total", db), 812345);
  EXPECT_DOUBLE_EQ(value(f, "sgx_enclave_page_fault_seconds_total", db), 61.23456789);
  const Labels web = {{"namespace", "sgx-apps"}, {"pod", "attest-web-7d9f8c6b5-xk2lp"}, {"container", "web"}};
  EXPECT_EQ(value(f, "sgx_enclaves", web), 2);
  const Labels quote = {{"namespace", "default"}, {"pod", "sgx-quote-job-9tq4z"}, {"container", "quote"}};
  EXPECT_EQ(value(f, "sgx_epc_alloc_failures_total", quote), 3);
  EXPECT_EQ(value(f, "sgx_epc_resident_bytes", {{"cgroup", "system.slice/aesmd.service"}}), 512.0 * 4096);
  EXPECT_EQ(value(f, "sgx_epc_free_bytes", {}), 16183552.0 * 4096);
  EXPECT_EQ(value(f, "sgx_epc_used_bytes", {}), 68719476736.0 - 16183552.0 * 4096);
  EXPECT_EQ(value(f, "sgx_vepc_bytes", {}), 1024.0 * 4096);
  EXPECT_EQ(value(f, "sgx_epc_reclaim_passes_total", {{"reclaimer", "ksgxd"}}), 56330);
  EXPECT_EQ(value(f, "sgx_exporter_probe_attached", {{"probe", "ewb"}}), 1);
  EXPECT_EQ(value(f, "sgx_exporter_probe_attached", {{"probe", "va_shrink"}}), 0);
  EXPECT_EQ(value(f, "sgx_exporter_probe_info",
                  {{"probe", "va_shrink"}, {"reason", "sgx_encl_shrink not in kallsyms (inlined or absent)"}}),
            1);
  EXPECT_EQ(value(f, "sgx_exporter_bpf_dropped_events_total", {{"reason", "untracked_enclave"}}), 17);
  EXPECT_EQ(value(f, "sgx_exporter_bpf_map_max_entries", {{"map", "encls"}}), 8192);
  EXPECT_EQ(value(f, "sgx_exporter_bpf_program_runs_total", {{"program", "fe_ewb"}}), 902434);
}

TEST(EbpfReplay, RejectsBrokenFiles) {
  const char* bad[] = {
      "",
      "# only a comment\n",
      "bogus record\n",
      "workload relative/path enclaves=1\n",
      "workload /a enclaves=x\n",
      "workload /a nosuchfield=1\n",
      "workload /a evicted_pages=-1\n",
      "probe ewb sgx_encl_ewb kprobe maybe\n",
      "probe ewb\n",
      "node free_pages=1 reclaim_ksgxd=\n",
      "dropped x\n",
      "map m entries=1 max_entries=1 extra\n",
      "\x01\x02\x03\xff\n",
  };
  for (const char* text : bad) {
    auto r = parse_ebpf_replay(text);
    EXPECT_FALSE(r.ok()) << "accepted: " << text;
  }
  auto r = parse_ebpf_replay("probe ewb f kprobe attached\n\nbogus\n");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("line 3"), std::string::npos) << r.error().message;
}

// Enclave identity on the fixture node: the inventory a security team reads (docs/metrics.md "Enclave identity").
TEST(EbpfReplay, AksFixtureEnclaveInventory) {
  auto snap = parse_ebpf_replay(slurp(kFixtures + "/ebpf/aks-dcsv3.txt"));
  ASSERT_TRUE(snap.ok()) << snap.error().message;
  ASSERT_EQ(snap->enclaves.size(), 3u);
  HostPaths paths(kFixtures + "/aks-dcsv3");
  Attribution attribution(paths);
  const std::string db_signer = "c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2";
  EnclaveMetricsOptions o;
  o.signer_names[db_signer] = "sgx-apps-release";
  MetricSink sink;
  write_ebpf_metrics(*snap, attribution, epc_capacity_bytes(paths), sink, nullptr, o);
  auto& f = sink.families();
  const Labels web = {{"namespace", "sgx-apps"}, {"pod", "attest-web-7d9f8c6b5-xk2lp"}, {"container", "web"}};
  Labels web_info = web;
  for (auto kv : Labels{{"enclave", "3a5f0c9e1b27"},
                        {"mrenclave", "9b1c0f4e2a7d6c5b8e3f1a0d9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b"},
                        {"mrsigner", db_signer}, {"signer", "sgx-apps-release"}, {"isv_prod_id", "1"},
                        {"isv_svn", "4"}, {"debug", "true"}, {"provision_key", "false"}, {"mode64bit", "true"},
                        {"kss", "false"}, {"einittoken_key", "false"}, {"xfrm", "0x3"}, {"miscselect", "0x0"},
                        {"source", "kernel"}})
    web_info.push_back(kv);
  EXPECT_EQ(value(f, "sgx_enclave_info", web_info), 1);
  EXPECT_EQ(value(f, "sgx_enclave_info", {{"cgroup", "system.slice/aesmd.service"}, {"provision_key", "true"},
                                          {"debug", "false"}, {"signer", ""}}),
            1);
  EXPECT_EQ(value(f, "sgx_enclave_created_timestamp_seconds", {{"enclave", "c0ffee123456"}}), 1764500000);
  EXPECT_EQ(value(f, "sgx_enclave_init_failures_total",
                  {{"namespace", "default"}, {"pod", "sgx-quote-job-9tq4z"}, {"container", "quote"}}),
            2);
  EXPECT_EQ(value(f, "sgx_enclave_init_failures_total", web), 0);
  EXPECT_FALSE(has_family(f, "sgx_enclave_epc_resident_bytes"));  // off by default
  EXPECT_EQ(value(f, "sgx_exporter_ebpf_enclave_series_dropped", {}), 0);

  // Per-enclave bytes on, and a cap of one enclave: the oldest keeps its series, the two others are counted.
  o.per_enclave_bytes = true;
  o.max_enclaves = 1;
  MetricSink capped;
  write_ebpf_metrics(*snap, attribution, epc_capacity_bytes(paths), capped, nullptr, o);
  auto& g = capped.families();
  EXPECT_EQ(value(g, "sgx_enclave_epc_resident_bytes", {{"enclave", "c0ffee123456"}}), 524288.0 * 4096);
  EXPECT_EQ(value(g, "sgx_enclave_declared_size_bytes", {{"enclave", "c0ffee123456"}}), 4294967296.0);
  EXPECT_EQ(value(g, "sgx_enclave_epc_swapped_bytes", {{"enclave", "c0ffee123456"}}), 131072.0 * 4096);
  EXPECT_EQ(value(g, "sgx_enclave_info", {{"enclave", "3a5f0c9e1b27"}}), -1);
  EXPECT_EQ(value(g, "sgx_exporter_ebpf_enclave_series_dropped", {}), 2);

  // Without the INIT probe nothing says an enclave was initialised: no info series (creation times stay).
  auto no_init = *snap;
  for (auto& p : no_init.probes)
    if (p.name == "encl_init") p.attached = false;
  MetricSink off;
  write_ebpf_metrics(no_init, attribution, epc_capacity_bytes(paths), off, nullptr, {});
  EXPECT_FALSE(has_family(off.families(), "sgx_enclave_info"));
  EXPECT_FALSE(has_family(off.families(), "sgx_enclave_init_failures_total"));
  EXPECT_TRUE(has_family(off.families(), "sgx_enclave_created_timestamp_seconds"));
}

// A discovered enclave (older than the probes): its SIGSTRUCT is gone, so the identity says "unknown"; an enclave
// whose INIT has not succeeded has no info series.
TEST(EbpfMetrics, DiscoveredAndUninitialisedEnclaves) {
  probes::Snapshot s;
  s.probes = {{"encl_create", "sgx_encl_create", "fentry", true, ""},
              {"encl_release", "sgx_encl_release", "fentry", true, ""},
              {"encl_init", "sgx_ioctl", "fentry", true, ""}};
  probes::EnclaveIdentity d;
  d.id = "aaaaaaaaaaaa";
  d.cgroup_path = "/system.slice/old.service";
  d.initialized = true;
  d.source = "discovered";
  d.attributes = probes::EnclaveIdentity::kAttrDebug | probes::EnclaveIdentity::kAttrMode64Bit;
  d.created_unix = 100;
  probes::EnclaveIdentity u = d;
  u.id = "bbbbbbbbbbbb";
  u.initialized = false;
  u.source = "kernel";
  s.enclaves = {d, u};
  HostPaths paths("/nonexistent-root");
  Attribution attribution(paths);
  MetricSink sink;
  write_ebpf_metrics(s, attribution, std::nullopt, sink, nullptr, {});
  auto& f = sink.families();
  EXPECT_EQ(value(f, "sgx_enclave_info", {{"cgroup", "system.slice/old.service"}, {"enclave", "aaaaaaaaaaaa"},
                                          {"mrenclave", "unknown"}, {"mrsigner", "unknown"},
                                          {"isv_prod_id", "unknown"}, {"debug", "true"}, {"xfrm", "unknown"},
                                          {"source", "discovered"}}),
            1);
  EXPECT_EQ(value(f, "sgx_enclave_info", {{"enclave", "bbbbbbbbbbbb"}}), -1);
  EXPECT_EQ(value(f, "sgx_enclave_created_timestamp_seconds", {{"enclave", "bbbbbbbbbbbb"}}), 100);
}

TEST(EbpfReplay, EnclaveRecordsAreStrict) {
  const std::string ok = "enclave /a id=0123456789ab state=initialized source=kernel";
  ASSERT_TRUE(parse_ebpf_replay(ok + "\n").ok()) << parse_ebpf_replay(ok + "\n").error().message;
  const char* bad[] = {
      "enclave relative id=0123456789ab state=initialized source=kernel\n",
      "enclave /a id=0123456789a state=initialized source=kernel\n",      // 11 digits
      "enclave /a id=0123456789AB state=initialized source=kernel\n",     // upper case
      "enclave /a id=0123456789ab state=running source=kernel\n",
      "enclave /a id=0123456789ab state=initialized source=guess\n",
      "enclave /a id=0123456789ab state=initialized source=kernel mrenclave=00\n",
      "enclave /a id=0123456789ab state=initialized source=kernel isv_svn=65536\n",
      "enclave /a id=0123456789ab state=initialized source=kernel attributes=6\n",
      "enclave /a id=0123456789ab state=initialized source=kernel nosuch=1\n",
      "enclave /a id=0123456789ab state=initialized source=kernel resident_pages=x\n",
      "workload /a init_failures=-1\n",
  };
  for (const char* text : bad) EXPECT_FALSE(parse_ebpf_replay(text).ok()) << "accepted: " << text;
}

TEST(SignersFile, NamesSignersAndRejectsWhatIsNotOne) {
  const std::string a(64, 'a'), b = std::string(63, 'B') + "C";
  auto r = parse_signers_file("# known signers\n\n" + a + " gramine-example-signer\n  " + b + "\tvendor/qe@1\n");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->size(), 2u);
  EXPECT_EQ(r->at(a), "gramine-example-signer");
  EXPECT_EQ(r->at(std::string(63, 'b') + "c"), "vendor/qe@1");  // MRSIGNER compared in lower case
  const std::string bad[] = {
      a + "\n",                                   // no name
      a + " two names\n",
      std::string(63, 'a') + " short\n",
      std::string(64, 'g') + " nothex\n",
      a + " bad\"quote\n",
      a + " " + std::string(65, 'n') + "\n",
      a + " one\n" + a + " again\n",             // named twice
  };
  for (const auto& text : bad) EXPECT_FALSE(parse_signers_file(text).ok()) << "accepted: " << text;
  auto dup = parse_signers_file("# c\n" + a + " one\n" + a + " again\n");
  ASSERT_FALSE(dup.ok());
  EXPECT_NE(dup.error().message.find("line 3"), std::string::npos) << dup.error().message;
}

// A container that lived and ended between two scrapes: its cgroup id no longer resolves in the cgroup tree, so
// the path the probes recorded at its first enclave names the pod and container. Without one: cgroup="unknown".
TEST(EbpfMetrics, GoneCgroupResolvesByTheRecordedPath) {
  auto snap = parse_ebpf_replay(kAllProbesForward());
  ASSERT_TRUE(snap.ok()) << snap.error().message;
  probes::WorkloadEntry gone;
  gone.cgroup_id = 0xfffffff0;  // no cgroup of the fixture has this inode
  gone.recorded_path =
      "/kubepods.slice/kubepods-pod3f1c2a9e_8b7d_4e6f_9a21_5c0d7e4b8a13.slice/"
      "cri-containerd-5b688557f410eb9e9cce89ece6103d27550fd3a24818bd49d8aaf460cf4be97e.scope";
  gone.counters.evicted_pages = 700;
  probes::WorkloadEntry unrecorded;
  unrecorded.cgroup_id = 0xfffffff1;
  unrecorded.counters.evicted_pages = 5;
  snap->workloads = {gone, unrecorded};
  HostPaths paths(kFixtures + "/aks-dcsv3");
  Attribution attribution(paths);
  MetricSink sink;
  write_ebpf_metrics(*snap, attribution, std::nullopt, sink);
  auto& f = sink.families();
  const Labels db = {{"namespace", "sgx-apps"}, {"pod", "enclave-db-0"}, {"container", "db"}};
  EXPECT_EQ(value(f, "sgx_epc_evicted_pages_total", db), 700);
  EXPECT_EQ(value(f, "sgx_epc_evicted_pages_total", {{"cgroup", "unknown"}}), 5);
}

TEST(EbpfMetrics, NoProbeAttachedMeansProbeHealthOnly) {
  auto f = replayed_metrics(
      "probe ewb sgx_encl_ewb - \"off: no SGX driver in this kernel\"\n"
      "workload /system.slice/x.service enclaves=1 resident_pages=5\n");
  EXPECT_EQ(value(f, "sgx_exporter_probe_attached", {{"probe", "ewb"}}), 0);
  EXPECT_FALSE(has_family(f, "sgx_epc_resident_bytes"));
  EXPECT_FALSE(has_family(f, "sgx_epc_free_bytes"));
}

// How the live source's state came to be: reported with the live source only (the replay has no state).
TEST(EbpfMetrics, StateInfoAndTrackedEnclavesByOrigin) {
  auto snap = parse_ebpf_replay(std::string(kAllProbesForward()));
  ASSERT_TRUE(snap.ok()) << snap.error().message;
  HostPaths paths(kFixtures + "/no-sgx");
  Attribution attribution(paths);
  {
    MetricSink sink;
    write_ebpf_metrics(*snap, attribution, std::nullopt, sink);
    EXPECT_FALSE(has_family(sink.families(), "sgx_exporter_ebpf_state_info")) << "replay: no state of its own";
  }
  snap->state = {true, true, "not_needed", "0123456789abcdef"};
  snap->enclaves_created = 2;
  snap->enclaves_discovered = 3;
  snap->discovery_skipped = 1;
  MetricSink sink;
  write_ebpf_metrics(*snap, attribution, std::nullopt, sink);
  auto& f = sink.families();
  EXPECT_EQ(value(f, "sgx_exporter_ebpf_state_info",
                  {{"pinned", "true"}, {"reused", "true"}, {"discovery", "not_needed"}, {"layout", "0123456789abcdef"}}),
            1);
  EXPECT_EQ(value(f, "sgx_exporter_ebpf_enclaves_tracked", {{"origin", "created"}}), 2);
  EXPECT_EQ(value(f, "sgx_exporter_ebpf_enclaves_tracked", {{"origin", "discovered"}}), 3);
  EXPECT_EQ(value(f, "sgx_exporter_ebpf_discovery_skipped", {}), 1);
}

const char* kAllProbes =
    "probe encl_create f kprobe attached\nprobe encl_release f kprobe attached\nprobe epc_alloc f kprobe attached\n"
    "probe epc_free f kprobe attached\nprobe ewb f kprobe attached\nprobe eldu f kprobe attached\n"
    "probe page_fault f kprobe attached\nprobe reclaim f kprobe attached\nprobe va_grow f kprobe attached\n"
    "probe va_shrink f kprobe attached\nprobe vepc_fault f kprobe attached\nprobe vepc_free f kprobe attached\n";

std::string kAllProbesForward() { return kAllProbes; }

// Every row of the workload table (probes/epc_workload.h) is a replay key and a family: a value given for that key
// alone comes out in the row's metric, as a gauge or a counter, in the metric's unit; switching off any probe the row
// names removes the family.
TEST(EbpfReplay, EveryTableRowIsAReplayKeyAndAFamily) {
  std::string all;
  for (const auto& h : probes::hook_specs()) all += std::string("probe ") + h.name + " f kprobe attached\n";
  const Labels a = {{"cgroup", "system.slice/a.service"}};
  for (const auto& row : probes::kWorkloadFields) {
    SCOPED_TRACE(row.name);
    const std::string workload = std::string("workload /system.slice/a.service ") + row.name + "=7\n";
    auto f = replayed_metrics(all + workload);
    const double want = row.scale == probes::WorkloadField::Scale::kPagesToBytes  ? 7.0 * 4096
                        : row.scale == probes::WorkloadField::Scale::kNsToSeconds ? 7e-9
                                                                                   : 7.0;
    EXPECT_DOUBLE_EQ(value(f, row.metric, a), want);
    for (const auto& fam : f) {
      if (fam.name == row.metric) {
        EXPECT_EQ(fam.type, row.gauge ? prometheus::MetricType::Gauge : prometheus::MetricType::Counter);
      }
    }
    for (auto probe : split_fields(row.probes, " ")) {
      std::string text = all;
      const std::string line = "probe " + std::string(probe) + " f kprobe attached";
      text.replace(text.find(line), line.size(), "probe " + std::string(probe) + " f - \"off: not in kallsyms\"");
      auto without = replayed_metrics(text + workload);
      EXPECT_FALSE(has_family(without, row.metric)) << probe << " off";
    }
  }
}

// A probe that is off removes the metrics it feeds (not zeros); the others stay.
TEST(EbpfMetrics, MetricsOfAnOffProbeAreAbsent) {
  std::string text = kAllProbes;
  text.replace(text.find("probe ewb f kprobe attached"), 27, "probe ewb f - \"off: not in kallsyms\"");
  text.replace(text.find("probe reclaim f kprobe attached"), 31, "probe reclaim f - \"off: not in kallsyms\"");
  text += "workload /system.slice/a.service enclaves=1 resident_pages=3 evicted_pages=2 page_faults=4\n";
  auto f = replayed_metrics(text);
  EXPECT_FALSE(has_family(f, "sgx_epc_evicted_pages_total"));
  EXPECT_FALSE(has_family(f, "sgx_epc_swapped_bytes"));
  EXPECT_FALSE(has_family(f, "sgx_epc_reclaim_passes_total"));
  // Residency needs ewb too: 5.15-5.18 free evicted pages without sgx_free_epc_page().
  EXPECT_FALSE(has_family(f, "sgx_epc_resident_bytes"));
  EXPECT_EQ(value(f, "sgx_enclaves", {{"cgroup", "system.slice/a.service"}}), 1);
  EXPECT_EQ(value(f, "sgx_enclave_page_faults_total", {{"cgroup", "system.slice/a.service"}}), 4);
  EXPECT_EQ(value(f, "sgx_vepc_bytes", {}), 0);
}

TEST(EbpfMetrics, NegativeGaugesClampAndSameLabelsAreSummed) {
  auto f = replayed_metrics(std::string(kAllProbes) +
      "workload /system.slice/a.service enclaves=1 resident_pages=-3 evicted_pages=2\n"
      "workload /system.slice/a.service enclaves=1 resident_pages=10 evicted_pages=5\n");
  const Labels a = {{"cgroup", "system.slice/a.service"}};
  EXPECT_EQ(value(f, "sgx_enclaves", a), 2);
  EXPECT_EQ(value(f, "sgx_epc_resident_bytes", a), 7.0 * 4096);
  EXPECT_EQ(value(f, "sgx_epc_evicted_pages_total", a), 7);
  EXPECT_FALSE(has_family(f, "sgx_epc_free_bytes"));  // never read: absent, not 0
}

// Audit point 11: VA pages are seen only by va_grow; without it resident bytes would silently lack them.
TEST(EbpfMetrics, ResidentNeedsVaGrowAndEwb) {
  for (const char* off : {"va_grow", "ewb"}) {
    std::string text = kAllProbes;
    std::string line = std::string("probe ") + off + " f kprobe attached";
    text.replace(text.find(line), line.size(), std::string("probe ") + off + " f - \"off: not in kallsyms\"");
    text += "workload /system.slice/a.service enclaves=1 resident_pages=3 va_pages=1\n";
    auto f = replayed_metrics(text);
    EXPECT_FALSE(has_family(f, "sgx_epc_resident_bytes")) << off;
    EXPECT_EQ(has_family(f, "sgx_epc_va_bytes"), std::string(off) != "va_grow") << off;
    EXPECT_TRUE(has_family(f, "sgx_enclaves")) << off;
  }
}

TEST(EbpfMetrics, VaBytesRetriesAndVepcFailures) {
  auto f = replayed_metrics(std::string(kAllProbes) +
      "workload /system.slice/a.service enclaves=1 resident_pages=10 va_pages=2 page_faults=9 fault_retries=4 "
      "page_fault_ns=1500000000\n"
      "node vepc_pages=3 vepc_alloc_failures=6\n");
  const Labels a = {{"cgroup", "system.slice/a.service"}};
  EXPECT_EQ(value(f, "sgx_epc_resident_bytes", a), 10.0 * 4096);
  EXPECT_EQ(value(f, "sgx_epc_va_bytes", a), 2.0 * 4096);
  EXPECT_EQ(value(f, "sgx_enclave_page_fault_retries_total", a), 4);
  EXPECT_DOUBLE_EQ(value(f, "sgx_enclave_page_fault_seconds_total", a), 1.5);
  EXPECT_EQ(value(f, "sgx_vepc_alloc_failures_total", {}), 6);
}

// ---- Audit point 7 (and 6's scrape race): per-label-set counters never go back ----

using Clock = std::chrono::steady_clock;
using Input = WorkloadAggregator::Input;

probes::WorkloadCounters evicted(std::uint64_t n, std::int64_t resident = 0) {
  probes::WorkloadCounters c;
  c.evicted_pages = n;
  c.page_fault_ns = n * 10;
  c.fault_retries = n / 2;
  c.resident_pages = resident;
  c.enclaves = resident > 0 ? 1 : 0;
  return c;
}

const Labels kPod = {{"namespace", "ns"}, {"pod", "db-0"}, {"container", "db"}};

TEST(WorkloadAggregator, ContainerRestartInTheSamePodContinuesTheSum) {
  WorkloadAggregator agg;
  auto t = Clock::now();
  auto out = agg.update({{"id:1", kPod, evicted(100, 50)}}, t);
  EXPECT_EQ(out[kPod].evicted_pages, 100u);
  // The container restarts: the old cgroup is gone (forgotten by the probes), a new one has the same labels.
  out = agg.update({{"id:2", kPod, evicted(5, 7)}}, t + std::chrono::seconds(15));
  EXPECT_EQ(out[kPod].evicted_pages, 105u);
  EXPECT_EQ(out[kPod].page_fault_ns, 1050u);
  EXPECT_EQ(out[kPod].fault_retries, 52u);
  EXPECT_EQ(out[kPod].resident_pages, 7);  // gauges: what is there now
  EXPECT_EQ(out[kPod].enclaves, 1);
  // Both present at once (old one still holding an enclave): summed.
  out = agg.update({{"id:2", kPod, evicted(6)}, {"id:3", kPod, evicted(1)}}, t + std::chrono::seconds(30));
  EXPECT_EQ(out[kPod].evicted_pages, 107u);
}

TEST(WorkloadAggregator, GoneCgroupKeepsItsLabelsInsteadOfTurningUnknown) {
  WorkloadAggregator agg;
  auto t = Clock::now();
  agg.update({{"id:1", kPod, evicted(100, 3)}}, t);
  // Its directory is gone but another process keeps the enclave: the id no longer resolves.
  auto out = agg.update({{"id:1", std::nullopt, evicted(120, 3)}}, t + std::chrono::seconds(15));
  EXPECT_EQ(out.size(), 1u);
  EXPECT_EQ(out[kPod].evicted_pages, 120u);
  EXPECT_EQ(out.count({{"namespace", ""}, {"pod", ""}, {"container", ""}, {"cgroup", "unknown"}}), 0u);
}

TEST(WorkloadAggregator, ScrapeRacingAReleaseIsClampedToTheHighWaterMark) {
  WorkloadAggregator agg;
  auto t = Clock::now();
  agg.update({{"id:1", kPod, evicted(100)}}, t);
  auto out = agg.update({{"id:1", kPod, evicted(90)}}, t + std::chrono::seconds(1));  // release missed once
  EXPECT_EQ(out[kPod].evicted_pages, 100u);
  out = agg.update({{"id:1", kPod, evicted(130)}}, t + std::chrono::seconds(2));
  EXPECT_EQ(out[kPod].evicted_pages, 130u);
}

TEST(WorkloadAggregator, LabelsResolvedLaterKeepBothSeriesMonotonic) {
  WorkloadAggregator agg;
  auto t = Clock::now();
  const Labels unknown = {{"namespace", ""}, {"pod", ""}, {"container", ""}, {"cgroup", "unknown"}};
  auto out = agg.update({{"id:1", std::nullopt, evicted(10)}, {"id:9", std::nullopt, evicted(4)}}, t);
  EXPECT_EQ(out[unknown].evicted_pages, 14u);
  // id:1 resolves now (cgroup tree rescanned): what it counted so far stays with "unknown".
  out = agg.update({{"id:1", kPod, evicted(15)}, {"id:9", std::nullopt, evicted(4)}}, t + std::chrono::seconds(1));
  EXPECT_EQ(out[kPod].evicted_pages, 5u);
  EXPECT_EQ(out[unknown].evicted_pages, 14u);
  // The pod is named later than its uid (kubelet log dir appeared): the same hand-over.
  const Labels named = {{"namespace", "ns"}, {"pod", "db-0-named"}, {"container", "db"}};
  out = agg.update({{"id:1", named, evicted(16)}, {"id:9", std::nullopt, evicted(4)}}, t + std::chrono::seconds(2));
  EXPECT_EQ(out[named].evicted_pages, 1u);
  EXPECT_EQ(out.count(kPod), 0u);  // nothing present under the old labels: not reported (kept for retention)
  out = agg.update({{"id:2", kPod, evicted(1)}, {"id:9", std::nullopt, evicted(4)}}, t + std::chrono::seconds(3));
  EXPECT_EQ(out[kPod].evicted_pages, 6u);  // 5 retired + 1
}

TEST(WorkloadAggregator, LabelSetsWithNothingPresentAreForgottenAfterTheRetention) {
  WorkloadAggregator agg(std::chrono::seconds(60), 2);
  auto t = Clock::now();
  agg.update({{"id:1", kPod, evicted(100)}}, t);
  auto out = agg.update({}, t + std::chrono::seconds(10));
  EXPECT_TRUE(out.empty());  // a gone pod's series stop appearing
  EXPECT_EQ(agg.label_sets(), 1u);
  out = agg.update({{"id:2", kPod, evicted(1)}}, t + std::chrono::seconds(20));
  EXPECT_EQ(out[kPod].evicted_pages, 101u);  // within the retention: continues
  agg.update({}, t + std::chrono::seconds(200));
  EXPECT_EQ(agg.label_sets(), 0u);
  EXPECT_EQ(agg.cgroups(), 0u);
  // Bounded: at most 2 label sets kept beyond the ones present.
  for (int i = 0; i < 5; ++i)
    agg.update({{"id:x" + std::to_string(i), Labels{{"cgroup", "c" + std::to_string(i)}}, evicted(1)}},
               t + std::chrono::seconds(300 + i));
  EXPECT_LE(agg.label_sets(), 2u);
}

// The collector keeps the aggregation across scrapes: a lower value in a later scrape is not reported.
TEST(EbpfCollector, CountersNeverGoBackAcrossScrapes) {
  const char* dir = "/tmp";
  std::string file = std::string(dir) + "/epc-ebpf-replay-" + std::to_string(::getpid()) + ".txt";
  auto scrape = [&](const std::string& workloads) { std::ofstream(file) << kAllProbes << workloads; };
  HostPaths paths(kFixtures + "/no-sgx");
  Attribution attribution(paths);
  scrape("workload /system.slice/a.service enclaves=1 resident_pages=3 evicted_pages=40\n");
  EbpfOptions options;
  options.replay_file = file;
  auto c = make_ebpf_collector(CollectorServices{paths, attribution}, options);
  MetricSink s1;
  ASSERT_TRUE(c->collect(s1).ok());
  EXPECT_EQ(value(s1.families(), "sgx_epc_evicted_pages_total", {{"cgroup", "system.slice/a.service"}}), 40);
  scrape("workload /system.slice/a.service enclaves=1 resident_pages=3 evicted_pages=30\n");
  MetricSink s2;
  ASSERT_TRUE(c->collect(s2).ok());
  EXPECT_EQ(value(s2.families(), "sgx_epc_evicted_pages_total", {{"cgroup", "system.slice/a.service"}}), 40);
  std::remove(file.c_str());
}

struct CollectorEnv {
  EbpfOptions options;
  HostPaths paths;
  Attribution attribution;
  explicit CollectorEnv(const std::string& root) : paths(root), attribution(paths) {}
  CollectorServices services() { return CollectorServices{paths, attribution}; }
};

TEST(EbpfCollector, MissingReplayFileFailsTheCollectorNotTheProcess) {
  CollectorEnv env(kFixtures + "/aks-dcsv3");
  env.options.replay_file = kFixtures + "/ebpf/does-not-exist.txt";
  auto c = make_ebpf_collector(env.services(), env.options);
  MetricSink sink;
  auto st = c->collect(sink);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("does-not-exist"), std::string::npos);
}

// Each flag is typed and checked when it is given: a bad value never reaches the collector.
Status give(EbpfOptions& o, const std::string& flag, const std::string& value) {
  FlagSet f("ebpf", "collector.ebpf.");
  o.flags(f);
  for (const auto& d : f.defs())
    if (d.name == "collector.ebpf." + flag) return d.set(value);
  return make_error("no flag " + flag);
}

TEST(EbpfOptions, BadValuesAreRefusedWhenGiven) {
  EbpfOptions o;
  EXPECT_FALSE(give(o, "prefer-fentry", "maybe").ok());
  EXPECT_FALSE(give(o, "per-enclave", "yes").ok());
  auto unknown = give(o, "disable-probes", "ewb,nosuchprobe");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message.find("nosuchprobe"), std::string::npos) << unknown.error().message;
  EXPECT_TRUE(o.disable_probes.empty());  // nothing stored from a refused value
  EXPECT_FALSE(give(o, "max-enclaves", "lots").ok());
  EXPECT_FALSE(give(o, "max-enclaves", "65537").ok());
  EXPECT_FALSE(give(o, "pin-path", "relative/dir").ok());
  EXPECT_EQ(o.pin_path, "auto");
  ASSERT_TRUE(give(o, "disable-probes", "ewb,eldu").ok());
  EXPECT_EQ(o.disable_probes, (std::vector<std::string>{"ewb", "eldu"}));
  ASSERT_TRUE(give(o, "max-enclaves", "10").ok());
  EXPECT_EQ(o.max_enclaves, 10u);
  ASSERT_TRUE(give(o, "per-enclave", "true").ok());
  EXPECT_TRUE(enclave_metrics_options(o).per_enclave_bytes);
  EXPECT_EQ(enclave_metrics_options(o).max_enclaves, 10u);
}

TEST(EbpfOptions, BadSignersFileIsAStartupError) {
  EbpfOptions o;
  EXPECT_TRUE(o.validate().ok());  // no file: nothing to read
  o.signers_file = kFixtures + "/ebpf/no-such-signers-file";
  EXPECT_FALSE(o.validate().ok());
  o.signers_file = kFixtures + "/ebpf/aks-dcsv3.txt";  // not a signers file
  auto s = o.validate();
  ASSERT_FALSE(s.ok()) << "a replay file was accepted as a signers file";
  EXPECT_NE(s.error().message.find("line "), std::string::npos) << s.error().message;
}

TEST(EbpfOptions, PinPathAutoIsUnderTheRoot) {
  EbpfOptions o;
  HostPaths paths("/host");
  EXPECT_EQ(resolved_pin_path(o, paths), "/host/sys/fs/bpf/epc_exporter");
  o.pin_path = "";
  EXPECT_EQ(resolved_pin_path(o, paths), "");
}

// On a kernel without the SGX driver (like the development machine) the live source reports every probe off,
// with the reason, and the collector succeeds.
TEST(EbpfCollector, LiveWithoutSgxReportsProbesOff) {
  if (std::system("grep -q ' sgx_encl_ewb$' /proc/kallsyms 2>/dev/null") == 0) GTEST_SKIP() << "this kernel has SGX";
  CollectorEnv env("/");
  auto c = make_ebpf_collector(env.services(), env.options);
  MetricSink sink;
  ASSERT_TRUE(c->collect(sink).ok());
  auto& f = sink.families();
  EXPECT_EQ(value(f, "sgx_exporter_probe_attached", {{"probe", "epc_alloc"}}), 0);
  EXPECT_FALSE(has_family(f, "sgx_epc_resident_bytes"));
  bool reason = false;
  for (const auto& fam : f)
    if (fam.name == "sgx_exporter_probe_info")
      for (const auto& m : fam.metric)
        for (const auto& l : m.label) reason = reason || (l.name == "reason" && !l.value.empty());
  EXPECT_TRUE(reason);
}

}  // namespace
}  // namespace epc
