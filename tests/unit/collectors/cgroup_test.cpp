#include "collectors/cgroup.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/magic.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <sstream>

#include "attribution/attribution.h"
#include "host/host_paths.h"
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

// The series whose non-empty labels are exactly `labels` (as Prometheus stores it: empty labels dropped).
std::optional<double> value_of(MetricSink& sink, const std::string& name, const Labels& labels) {
  const auto* f = family(sink, name);
  if (!f) return std::nullopt;
  for (const auto& m : f->metric) {
    Labels l;
    for (const auto& p : m.label)
      if (!p.value.empty()) l.emplace_back(p.name, p.value);
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
  HostPaths paths;
  Attribution attribution;
  std::unique_ptr<Collector> make() { return make_cgroup_collector({paths, attribution}); }
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

// A misc file longer than one read (4 KiB) is read whole, across reads, up to the 64 KiB bound; beyond it the
// collector fails with the bound named, never with a part of the file.
TEST(CgroupCollector, LongMiscFilesAreReadWholeUpToTheirBound) {
  std::string lines;
  for (int i = 0; lines.size() < 3 * 4096 + 100; ++i) lines += "other_resource_" + std::to_string(i) + " 0\n";
  for (const bool over : {false, true}) {
    std::string text = lines;
    if (over)
      while (text.size() <= 64 * 1024) text += lines;
    test::TempTree t;
    t.write("sys/fs/cgroup/cgroup.controllers", "misc\n");
    t.write("sys/fs/cgroup/misc.capacity", "sgx_epc 8192\n");
    t.write("sys/fs/cgroup/a.service/misc.current", text + "sgx_epc 4096\n");
    Harness h(t.root().string());
    MetricSink sink;
    auto s = h.collect(sink);
    if (over) {
      ASSERT_FALSE(s.ok());
      EXPECT_NE(s.error().message.find("file larger than the 65536 byte limit"), std::string::npos)
          << s.error().message;
    } else {
      ASSERT_TRUE(s.ok()) << s.error().message;
      EXPECT_EQ(value_of(sink, "sgx_cgroup_epc_usage_bytes", {{"cgroup", "a.service"}}), 4096);
    }
  }
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

// Root opens any directory (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH); the exporter does not, once it has dropped its
// capabilities (app/privileges.h). This takes both out of the calling thread's effective set while it lives.
class WithoutDacOverride {
 public:
  WithoutDacOverride() {
    if (::syscall(SYS_capget, &hdr_, saved_) != 0) return;
    __user_cap_data_struct less[2] = {saved_[0], saved_[1]};
    less[0].effective &= ~((1u << CAP_DAC_OVERRIDE) | (1u << CAP_DAC_READ_SEARCH));
    active_ = ::syscall(SYS_capset, &hdr_, less) == 0;
  }
  ~WithoutDacOverride() {
    if (active_) ::syscall(SYS_capset, &hdr_, saved_);
  }

 private:
  __user_cap_header_struct hdr_{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct saved_[2]{};
  bool active_ = false;
};

// Issue 23: a cgroup directory the exporter may not open (EACCES) was dropped as if removed, with success 1 and
// nothing said. Now it is counted in every scrape it stays unreadable, logged once, and read again once it can be.
TEST(CgroupCollector, UnreadableCgroupDirectoryIsCountedAndLoggedOnce) {
  test::TempTree t;
  t.write("sys/fs/cgroup/cgroup.controllers", "misc\n");
  t.write("sys/fs/cgroup/misc.capacity", "sgx_epc 8192\n");
  t.write("sys/fs/cgroup/misc.current", "sgx_epc 8192\n");
  t.write("sys/fs/cgroup/open.service/misc.current", "sgx_epc 4096\n");
  t.write("sys/fs/cgroup/locked.slice/misc.current", "sgx_epc 4096\n");
  t.write("sys/fs/cgroup/locked.slice/app.service/misc.current", "sgx_epc 4096\n");
  const auto locked = t.path("sys/fs/cgroup/locked.slice");
  std::filesystem::permissions(locked, std::filesystem::perms::none);

  std::ostringstream log;
  auto old_logger = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::ostream_sink_mt>(log)));
  Harness h(t.root().string());
  auto c = h.make();
  std::vector<std::optional<double>> counted;
  {
    WithoutDacOverride as_the_exporter;
    for (int i = 0; i < 2; ++i) {
      h.attribution.refresh();
      MetricSink sink;
      auto st = c->collect(sink);
      ASSERT_TRUE(st.ok()) << st.error().message;
      counted.push_back(value_of(sink, "sgx_exporter_cgroups_unreadable", {}));
      EXPECT_EQ(value_of(sink, "sgx_cgroup_epc_usage_bytes", {{"cgroup", "open.service"}}), 4096);
      EXPECT_EQ(value_of(sink, "sgx_cgroup_epc_usage_bytes", {{"cgroup", "locked.slice/app.service"}}), std::nullopt);
    }
  }
  std::filesystem::permissions(locked, std::filesystem::perms::owner_all);
  h.attribution.refresh();
  MetricSink after;
  ASSERT_TRUE(c->collect(after).ok());
  spdlog::set_default_logger(old_logger);

  EXPECT_EQ(counted[0], 1);
  EXPECT_EQ(counted[1], 1);
  EXPECT_EQ(value_of(after, "sgx_exporter_cgroups_unreadable", {}), 0);
  EXPECT_EQ(value_of(after, "sgx_cgroup_epc_usage_bytes", {{"cgroup", "locked.slice/app.service"}}), 4096);
  std::string text = log.str();
  const std::string line = "cgroup directory not readable";
  ASSERT_NE(text.find(line), std::string::npos) << text;
  EXPECT_EQ(text.find(line, text.find(line) + 1), std::string::npos) << "logged more than once:\n" << text;
  EXPECT_NE(text.find("locked.slice"), std::string::npos);
  EXPECT_NE(text.find("Permission denied"), std::string::npos);
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
      // Issue 23: a symlinked misc file was followed wherever it led and its content quoted in the error.
      {"current is a symlink",
       [&](test::TempTree& t) {
         t.write("outside", "sgx_epc hunter2\n");
         t.symlink(t.path("outside").string(), c + "misc.current");
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
      // Which file and what is wrong, never what the file says.
      for (const char* content : {"lots", "hunter2", "unlimited", "-3"})
        EXPECT_EQ(s.error().message.find(content), std::string::npos) << b.what << ": " << s.error().message;
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


// The collector keeps descriptors across scrapes: what changes between scrapes must be what the next one reports.
struct KeptTree {
  KeptTree() {
    t.write("sys/fs/cgroup/cgroup.controllers", "misc\n");
    t.write("sys/fs/cgroup/misc.capacity", "sgx_epc 8192\n");
    t.write("sys/fs/cgroup/misc.current", "sgx_epc 8192\n");
    t.write("sys/fs/cgroup/kubepods/misc.current", "sgx_epc 4096\n");
    container(kId, 4096);
    age();
  }
  // Directories changed within the last seconds are always listed again (coarse clocks); dating them back
  // makes the collector rely on what it keeps (stamps, descriptors), which is what these tests check.
  void age() {
    auto when = std::filesystem::file_time_type::clock::now() - std::chrono::hours(1) + std::chrono::seconds(++ages_);
    for (const auto& e : std::filesystem::recursive_directory_iterator(t.path("sys/fs/cgroup")))
      if (e.is_directory()) std::filesystem::last_write_time(e.path(), when);
    std::filesystem::last_write_time(t.path("sys/fs/cgroup"), when);
  }
  int ages_ = 0;
  std::string pod() const { return "sys/fs/cgroup/kubepods/pod" + kUid; }
  std::string scope(const std::string& id) const { return pod() + "/" + id; }
  void container(const std::string& id, std::uint64_t use) {
    t.write(pod() + "/misc.current", "sgx_epc " + std::to_string(use) + "\n");
    t.write(scope(id) + "/misc.current", "sgx_epc " + std::to_string(use) + "\n");
    t.write(scope(id) + "/misc.max", "sgx_epc max\n");
  }
  test::TempTree t;
};

std::size_t open_fds() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

std::optional<double> container_usage(MetricSink& sink, const std::string& id) {
  return value_of(sink, "sgx_cgroup_epc_usage_bytes", {{"pod", kUid}, {"container", id.substr(0, 12)}});
}

TEST(CgroupCollectorKept, ValuesRewrittenInPlaceAreSeen) {
  KeptTree k;
  Harness h(k.t.root().string());
  auto c = h.make();
  MetricSink one;
  ASSERT_TRUE(c->collect(one).ok());
  EXPECT_EQ(container_usage(one, kId), 4096);
  // Same file, new content (cgroupfs files change under an open descriptor the same way).
  k.t.write(k.scope(kId) + "/misc.current", "sgx_epc 12288\n");
  k.age();
  MetricSink two;
  ASSERT_TRUE(c->collect(two).ok());
  EXPECT_EQ(container_usage(two, kId), 12288);
}

TEST(CgroupCollectorKept, ReplacedFileAndRecreatedCgroupAreReadAfresh) {
  KeptTree k;
  Harness h(k.t.root().string());
  auto c = h.make();
  MetricSink one;
  ASSERT_TRUE(c->collect(one).ok());
  ASSERT_EQ(container_usage(one, kId), 4096);
  // A new file renamed over the old one: a kept descriptor would still read the old inode.
  k.t.write(k.scope(kId) + "/misc.new", "sgx_epc 8192\n");
  k.age();
  std::filesystem::rename(k.t.path(k.scope(kId) + "/misc.new"), k.t.path(k.scope(kId) + "/misc.current"));
  k.age();
  MetricSink two;
  ASSERT_TRUE(c->collect(two).ok());
  EXPECT_EQ(container_usage(two, kId), 8192);
  // The container's cgroup removed and made again under the same name (a new directory, new files).
  k.t.remove(k.scope(kId));
  k.age();
  k.container(kId, 16384);
  k.age();
  MetricSink three;
  ASSERT_TRUE(c->collect(three).ok());
  EXPECT_EQ(container_usage(three, kId), 16384);
  // Removed for good: no series, also not from the descriptors kept of its files.
  k.t.remove(k.scope(kId));
  k.age();
  MetricSink four;
  ASSERT_TRUE(c->collect(four).ok());
  EXPECT_EQ(container_usage(four, kId), std::nullopt);
}

TEST(CgroupCollectorKept, CgroupsAndFilesAppearingLaterAreFound) {
  KeptTree k;
  const std::string other(64, 'd');
  k.t.mkdir(k.scope(other));  // the runtime made the directory; the kernel's files are not there yet
  k.age();
  Harness h(k.t.root().string());
  auto c = h.make();
  MetricSink one;
  ASSERT_TRUE(c->collect(one).ok());
  EXPECT_EQ(container_usage(one, other), std::nullopt);
  k.t.write(k.scope(other) + "/misc.current", "sgx_epc 4096\n");
  k.age();
  const std::string third(64, 'e');
  k.container(third, 8192);
  k.age();
  MetricSink two;
  ASSERT_TRUE(c->collect(two).ok());
  EXPECT_EQ(container_usage(two, other), 4096);
  EXPECT_EQ(container_usage(two, third), 8192);
  EXPECT_EQ(container_usage(two, kId), 4096);
}

TEST(CgroupCollectorKept, BadContentBehindAKeptDescriptorFailsAndRecovers) {
  KeptTree k;
  Harness h(k.t.root().string());
  auto c = h.make();
  MetricSink one;
  ASSERT_TRUE(c->collect(one).ok());
  for (const std::string& bad : {std::string("\x01\x02 garbage\n"), std::string(200000, '7'), std::string("sgx_epc")}) {
    k.t.write(k.scope(kId) + "/misc.current", bad);
    k.age();
    MetricSink sink;
    auto s = c->collect(sink);
    EXPECT_FALSE(s.ok()) << bad.substr(0, 20);
    if (!s.ok()) {
      EXPECT_NE(s.error().message.find("misc.current"), std::string::npos) << s.error().message;
    }
  }
  k.t.write(k.scope(kId) + "/misc.current", "sgx_epc 4096\n");
  k.age();
  MetricSink again;
  ASSERT_TRUE(c->collect(again).ok());
  EXPECT_EQ(container_usage(again, kId), 4096);
}

TEST(CgroupCollectorKept, DescriptorBudgetIsHeldAndBeyondItFilesAreReadAnyway) {
  KeptTree k;
  for (int i = 0; i < 20; ++i) k.container(std::string(63, 'a') + static_cast<char>('a' + i), 4096);
  k.age();
  Harness h(k.t.root().string());
  const std::size_t base = open_fds();
  std::string unlimited_text;
  {
    auto c = make_cgroup_collector({h.paths, h.attribution, FdBudget{1 << 20}});
    MetricSink sink;
    ASSERT_TRUE(c->collect(sink).ok());
    EXPECT_GT(open_fds(), base + 40);  // 21 containers' directories and files are kept
    unlimited_text = std::to_string(family(sink, "sgx_cgroup_epc_usage_bytes")->metric.size());
  }
  EXPECT_EQ(open_fds(), base);  // all closed with the collector
  for (std::size_t budget : {std::size_t{0}, std::size_t{7}}) {
    auto c = make_cgroup_collector({h.paths, h.attribution, FdBudget{budget}});
    for (int round = 0; round < 2; ++round) {
      MetricSink sink;
      ASSERT_TRUE(c->collect(sink).ok());
      EXPECT_LE(open_fds(), base + budget + (budget ? 0 : 1));  // the root's descriptor is always kept
      EXPECT_EQ(std::to_string(family(sink, "sgx_cgroup_epc_usage_bytes")->metric.size()), unlimited_text);
      EXPECT_EQ(container_usage(sink, std::string(63, 'a') + 't'), 4096);
    }
  }
  EXPECT_EQ(open_fds(), base);
}

}  // namespace
}  // namespace epc

namespace epc {
namespace {

// What the kept descriptors rely on where the tree is cgroupfs (kernfs), checked on this machine's own hierarchy:
// a new child cgroup raises the parent's link count (its mtime need not change), and a read through a removed
// cgroup's file descriptor fails with ENODEV instead of returning the old numbers.
TEST(CgroupfsAssumptions, NewChildChangesLinkCountRemovedCgroupReadsFailWithEnodev) {
  std::string base;
  for (const char* c : {"/sys/fs/cgroup", "/sys/fs/cgroup/pids", "/sys/fs/cgroup/cpu", "/sys/fs/cgroup/memory"}) {
    struct statfs sfs {};
    if (::statfs(c, &sfs) != 0) continue;
    if (sfs.f_type != CGROUP2_SUPER_MAGIC && sfs.f_type != CGROUP_SUPER_MAGIC) continue;
    if (::access(c, W_OK) != 0) continue;
    base = c;
    break;
  }
  if (base.empty()) GTEST_SKIP() << "no writable cgroup hierarchy here (needs root and a cgroupfs mount)";
  const std::string dir = base + "/epc_unit_kernfs_" + std::to_string(::getpid());
  struct stat before {}, after {};
  ASSERT_EQ(::stat(base.c_str(), &before), 0);
  if (::mkdir(dir.c_str(), 0755) != 0) GTEST_SKIP() << "cannot make a cgroup under " << base << ": " << std::strerror(errno);
  struct Remove {
    const std::string& d;
    ~Remove() { ::rmdir(d.c_str()); }  // also when an assertion below ends the test early
  } remove{dir};
  ASSERT_EQ(::stat(base.c_str(), &after), 0);
  EXPECT_EQ(after.st_nlink, before.st_nlink + 1);
  int fd = ::open((dir + "/cgroup.procs").c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  char buf[256];
  EXPECT_GE(::pread(fd, buf, sizeof buf, 0), 0);
  ASSERT_EQ(::rmdir(dir.c_str()), 0) << std::strerror(errno);
  errno = 0;
  EXPECT_LT(::pread(fd, buf, sizeof buf, 0), 0);
  EXPECT_EQ(errno, ENODEV);
  ::close(fd);
}

}  // namespace
}  // namespace epc

namespace epc {
namespace {
// One descriptor budget: the connection cap and the reserve come first, the collector keeps what is left.
TEST(CgroupCollectorKept, DescriptorBudgetLeavesRoomForTheConnectionCap) {
  EXPECT_EQ(kept_fd_budget(16384, 4096), 16384u - 4096 - kFdReserve);
  EXPECT_EQ(kept_fd_budget(4096 + kFdReserve, 4096), 0u);
  EXPECT_EQ(kept_fd_budget(1024, 4096), 0u);  // a cap fitted elsewhere never makes the budget wrap around
  EXPECT_EQ(kept_fd_budget(1 << 20, 1000), (1u << 20) - 1000 - kFdReserve);
}
}  // namespace
}  // namespace epc
