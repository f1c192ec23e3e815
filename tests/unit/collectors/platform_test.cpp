#include "collectors/platform.h"

#include <gtest/gtest.h>

#include <map>

#include "attribution/attribution.h"
#include "host/host_paths.h"
#include "test_util.h"

namespace epc {
namespace {

double value_of(MetricSink& sink, const std::string& name, const Labels& labels) {
  for (const auto& f : sink.families()) {
    if (f.name != name) continue;
    for (const auto& m : f.metric) {
      Labels l;
      for (const auto& p : m.label) l.emplace_back(p.name, p.value);
      if (l == labels) return f.type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value;
    }
  }
  ADD_FAILURE() << "no series " << name;
  return -1;
}

std::size_t count_of(MetricSink& sink, const std::string& name) {
  for (const auto& f : sink.families())
    if (f.name == name) return f.metric.size();
  return 0;
}

TEST(CpuinfoFlags, Parses) {
  auto f = parse_cpuinfo_flags("processor\t: 0\nflags\t\t: fpu sgx avx sgx_lc\n\nprocessor\t: 1\nflags\t\t: fpu\n");
  ASSERT_TRUE(f.ok());
  EXPECT_TRUE(f->sgx);
  EXPECT_TRUE(f->sgx_lc);
  auto none = parse_cpuinfo_flags("processor : 0\nflags : fpu sgxx xsgx sgx_lcx\n");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->sgx);
  EXPECT_FALSE(none->sgx_lc);
  // arm64 style: no flags line at all is "no SGX", not an error.
  auto arm = parse_cpuinfo_flags("processor\t: 0\nFeatures\t: fp asimd\n");
  ASSERT_TRUE(arm.ok());
  EXPECT_FALSE(arm->sgx);
}

TEST(CpuinfoFlags, MalformedInputs) {
  EXPECT_FALSE(parse_cpuinfo_flags("").ok());
  EXPECT_FALSE(parse_cpuinfo_flags("garbage without separators\n").ok());
  EXPECT_FALSE(parse_cpuinfo_flags(std::string("flags : sgx\0\x01\x02", 15)).ok());
  // Truncated in the middle of the flags line: what is there counts.
  auto t = parse_cpuinfo_flags("processor : 0\nflags : fpu sg");
  ASSERT_TRUE(t.ok());
  EXPECT_FALSE(t->sgx);
  std::string huge = "flags : " + std::string(1 << 20, 'a') + " sgx\n";
  auto h = parse_cpuinfo_flags(huge);
  ASSERT_TRUE(h.ok());
  EXPECT_TRUE(h->sgx);
}

constexpr const char* kDump = R"(CPU:
   0x00000000 0x00: eax=0x0000001b ebx=0x756e6547 ecx=0x6c65746e edx=0x49656e69
   0x00000007 0x00: eax=0x00000000 ebx=0xd39fffff ecx=0x00405f4e edx=0xbc040412
   0x00000012 0x00: eax=0x00000403 ebx=0x00000000 ecx=0x00000000 edx=0x0000381f
   0x00000012 0x02: eax=0x80000001 ebx=0x00000040 ecx=0x00000001 edx=0x00000008
   0x00000012 0x03: eax=0x80000001 ebx=0x00000840 ecx=0x00000001 edx=0x00000008
   0x00000012 0x04: eax=0x00000000 ebx=0x00000000 ecx=0x00000000 edx=0x00000000
CPU 1:
   0x00000012 0x00: eax=0x00000000 ebx=0x00000000 ecx=0x00000000 edx=0x00000000
)";

TEST(CpuidDump, ParsesAndDecodes) {
  auto d = parse_cpuid_dump(kDump);
  ASSERT_TRUE(d.ok()) << d.error().message;
  EXPECT_EQ(d->size(), 6u);
  auto r = make_dump_cpuid_reader(*d);
  EXPECT_EQ(r->query(0x12, 0)->eax, 0x403u);  // the first CPU's entry wins
  auto sgx = read_sgx_cpuid(*r);
  ASSERT_TRUE(sgx.has_value());
  EXPECT_TRUE(sgx->sgx1);
  EXPECT_TRUE(sgx->sgx2);
  EXPECT_EQ(sgx->max_enclave_size_32, std::uint64_t{1} << 31);
  EXPECT_EQ(sgx->max_enclave_size_64, std::uint64_t{1} << 56);
  ASSERT_EQ(sgx->sections.size(), 2u);
  EXPECT_EQ(sgx->sections[0], (EpcSection{0x4080000000ULL, 32ULL << 30}));
  EXPECT_EQ(sgx->sections[1], (EpcSection{0x84080000000ULL, 32ULL << 30}));
}

TEST(CpuidDump, Malformed) {
  EXPECT_FALSE(parse_cpuid_dump("").ok());
  EXPECT_FALSE(parse_cpuid_dump("# only a comment\n").ok());
  EXPECT_FALSE(parse_cpuid_dump("garbage\n").ok());
  EXPECT_FALSE(parse_cpuid_dump("0x12 0x0: eax=0x1 ebx=0x0 ecx=0x0\n").ok());                // truncated
  EXPECT_FALSE(parse_cpuid_dump("0x12 0x0: eax=0x1 ebx=0x0 ecx=0x0 edx=0xZZ\n").ok());
  EXPECT_FALSE(parse_cpuid_dump("0x12 0x0: eax=0x100000000 ebx=0x0 ecx=0x0 edx=0x0\n").ok());  // > 32 bits
  EXPECT_FALSE(parse_cpuid_dump("0x12 0x0: ebx=0x1 eax=0x0 ecx=0x0 edx=0x0\n").ok());          // order
  EXPECT_FALSE(parse_cpuid_dump("18 0: eax=0x1 ebx=0x0 ecx=0x0 edx=0x0\n").ok());              // not hex
  EXPECT_FALSE(parse_cpuid_dump(std::string(1 << 20, '\xff')).ok());
}

class FakeCpuid : public CpuidReader {
 public:
  std::map<std::pair<std::uint32_t, std::uint32_t>, CpuidRegs> regs;
  std::optional<CpuidRegs> query(std::uint32_t leaf, std::uint32_t sub) override {
    auto it = regs.find({leaf, sub});
    if (it == regs.end()) return std::nullopt;
    return it->second;
  }
};

TEST(SgxCpuid, NoSgx) {
  FakeCpuid c;
  c.regs[{0, 0}] = {0x1b, 0, 0, 0};
  c.regs[{7, 0}] = {0, 0xfffffffb, 0, 0};  // bit 2 clear
  c.regs[{0x12, 0}] = {3, 0, 0, 0x381f};   // stale values behind a clear bit are ignored
  EXPECT_FALSE(read_sgx_cpuid(c).has_value());
  FakeCpuid old;
  old.regs[{0, 0}] = {0x0d, 0, 0, 0};  // max leaf below 0x12
  old.regs[{0x12, 0}] = {3, 0, 0, 0};
  EXPECT_FALSE(read_sgx_cpuid(old).has_value());
  FakeCpuid empty;
  EXPECT_FALSE(read_sgx_cpuid(empty).has_value());
}

TEST(SgxCpuid, SectionListBoundsAndOddTypes) {
  FakeCpuid c;
  c.regs[{0x12, 0}] = {1, 0, 0, 0x3f40};  // 2^64 (32-bit) is dropped, 2^63 kept
  for (std::uint32_t i = 2; i < 20; ++i) c.regs[{0x12, i}] = {0x1001, 0, 0x1001, 0};  // never terminated
  auto s = read_sgx_cpuid(c);
  ASSERT_TRUE(s.has_value());
  EXPECT_TRUE(s->sgx1);
  EXPECT_FALSE(s->sgx2);
  EXPECT_FALSE(s->max_enclave_size_32.has_value());
  EXPECT_EQ(s->max_enclave_size_64, std::uint64_t{1} << 63);
  EXPECT_EQ(s->sections.size(), 8u);  // SGX_MAX_EPC_SECTIONS
  c.regs[{0x12, 3}] = {0x1002, 0, 0x1001, 0};  // unknown type ends the list
  EXPECT_EQ(read_sgx_cpuid(c)->sections.size(), 1u);
}

TEST(Driver, Detection) {
  test::TempTree t;
  HostPaths paths(t.root());
  EXPECT_EQ(detect_sgx_driver(paths), "none");
  t.write("dev/isgx", "");
  EXPECT_EQ(detect_sgx_driver(paths), "isgx");
  t.write("dev/sgx/enclave", "");
  EXPECT_EQ(detect_sgx_driver(paths), "dcap");
  t.symlink("/nonexistent", "dev/sgx_enclave");  // dangling links count: the name is the device
  EXPECT_EQ(detect_sgx_driver(paths), "in-kernel");
}

struct Harness {
  explicit Harness(std::string root, std::string cpuid_file = "") : paths(std::move(root)), attribution(paths) {
    options.cpuid_file = std::move(cpuid_file);
  }
  PlatformOptions options;
  HostPaths paths;
  Attribution attribution;
  CollectorServices services() { return {paths, attribution}; }
};

TEST(PlatformCollector, AksFixture) {
  Harness h(EPC_FIXTURES "/aks-dcsv3", EPC_FIXTURES "/aks-dcsv3/cpuid.txt");
  auto c = make_platform_collector(h.services(), h.options);
  MetricSink sink;
  auto s = c->collect(sink);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(value_of(sink, "sgx_platform_info",
                     {{"cpu_sgx", "1"}, {"cpu_sgx_lc", "1"}, {"sgx1", "1"}, {"sgx2", "1"}, {"driver", "in-kernel"}}),
            1);
  EXPECT_EQ(value_of(sink, "sgx_epc_capacity_bytes", {{"numa_node", "0"}}), 32.0 * (1ULL << 30));
  EXPECT_EQ(value_of(sink, "sgx_epc_capacity_bytes", {{"numa_node", "1"}}), 32.0 * (1ULL << 30));
  EXPECT_EQ(count_of(sink, "sgx_epc_capacity_bytes"), 2u);
  EXPECT_EQ(count_of(sink, "sgx_epc_section_bytes"), 2u);
  EXPECT_EQ(value_of(sink, "sgx_platform_max_enclave_size_bytes", {{"mode", "64bit"}}), 72057594037927936.0);
}

TEST(PlatformCollector, CapacityFallsBackToCpuid) {
  Harness h(EPC_FIXTURES "/v1-docker", EPC_FIXTURES "/v1-docker/cpuid.txt");
  auto c = make_platform_collector(h.services(), h.options);
  MetricSink sink;
  ASSERT_TRUE(c->collect(sink).ok());
  EXPECT_EQ(value_of(sink, "sgx_epc_capacity_bytes", {{"numa_node", ""}}), 0x5d80000);
  EXPECT_EQ(value_of(sink, "sgx_platform_info",
                     {{"cpu_sgx", "1"}, {"cpu_sgx_lc", "1"}, {"sgx1", "1"}, {"sgx2", "0"}, {"driver", "dcap"}}),
            1);
}

TEST(PlatformCollector, NoSgxHostIsNotAFailure) {
  Harness h(EPC_FIXTURES "/no-sgx", EPC_FIXTURES "/no-sgx/cpuid.txt");
  auto c = make_platform_collector(h.services(), h.options);
  MetricSink sink;
  ASSERT_TRUE(c->collect(sink).ok());
  EXPECT_EQ(value_of(sink, "sgx_platform_info",
                     {{"cpu_sgx", "0"}, {"cpu_sgx_lc", "0"}, {"sgx1", "0"}, {"sgx2", "0"}, {"driver", "none"}}),
            1);
  EXPECT_EQ(count_of(sink, "sgx_epc_capacity_bytes"), 0u);
  EXPECT_EQ(count_of(sink, "sgx_epc_section_bytes"), 0u);
}

TEST(PlatformCollector, HardwareCpuid) {
  // The real CPU of this machine through the real reader: whatever it says, it must not fail.
  test::TempTree t;
  t.write("proc/cpuinfo", "processor : 0\nflags : fpu\n");
  Harness h(t.root().string());
  auto c = make_platform_collector(h.services(), h.options);
  MetricSink sink;
  ASSERT_TRUE(c->collect(sink).ok());
  EXPECT_EQ(count_of(sink, "sgx_platform_info"), 1u);
}

// Issue 23: without the host's /proc under --path.rootfs the collector said cpu_sgx="0" (no SGX flag seen),
// succeeded and logged nothing. Every host has /proc/cpuinfo: its absence is a failure that says what to fix.
TEST(PlatformCollector, MissingCpuinfoFailsTheCollectorAndSaysWhy) {
  test::TempTree t;
  t.write("sys/devices/system/node/node0/x86/sgx_total_bytes", "4096\n");
  Harness h(t.root().string());
  auto c = make_platform_collector_for_test(h.paths, nullptr);
  MetricSink sink;
  auto s = c->collect(sink);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("/proc/cpuinfo"), std::string::npos) << s.error().message;
  EXPECT_NE(s.error().message.find("--path.rootfs"), std::string::npos) << s.error().message;
}

// Issue 23: a symlink under --path.rootfs was followed out of it, and what it pointed to was read (and, on a parse
// error, quoted in the log). Now links resolve inside the root and no file's content reaches a message.
TEST(PlatformCollector, SymlinksOutOfTheRootAreNotFollowed) {
  test::TempTree t;
  t.write("outside/cpuinfo", "processor : 0\nflags : sgx sgx_lc\n");
  t.write("outside/secret", "hunter2-is-not-a-number\n");
  t.write("node/etc/cpuinfo", "processor : 0\nflags : fpu\n");
  t.symlink(t.path("outside/cpuinfo").string(), "node/proc/cpuinfo");  // absolute, out of the root
  t.symlink("../../../../../../../outside/secret", "node/sys/devices/system/node/node0/x86/sgx_total_bytes");
  Harness h((t.root() / "node").string());
  auto c = make_platform_collector_for_test(h.paths, nullptr);
  MetricSink sink;
  auto s = c->collect(sink);
  ASSERT_FALSE(s.ok()) << "the outside cpuinfo was read";  // <root>/work/.../outside/cpuinfo does not exist
  EXPECT_EQ(s.error().message.find("sgx"), std::string::npos) << s.error().message;
  // A host's own absolute link, inside the root, works: /proc/cpuinfo -> /etc/cpuinfo of the node.
  t.remove("node/proc/cpuinfo");
  t.symlink("/etc/cpuinfo", "node/proc/cpuinfo");
  MetricSink sink2;
  ASSERT_TRUE(c->collect(sink2).ok());  // the climbing link resolves to <root>/outside/secret: absent, skipped
  EXPECT_EQ(count_of(sink2, "sgx_epc_capacity_bytes"), 0u);
  EXPECT_EQ(count_of(sink2, "sgx_platform_info"), 1u);
  // And with that file there (inside the root), its content is refused without being quoted.
  t.write("node/outside/secret", "hunter2-is-not-a-number\n");
  MetricSink sink3;
  auto bad = c->collect(sink3);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message.find("hunter2"), std::string::npos) << bad.error().message;
}

TEST(PlatformCollector, BadInputsFailTheCollector) {
  const std::string good_cpuinfo = "processor : 0\nflags : sgx sgx_lc\n";
  struct Bad {
    const char* what;
    std::function<void(test::TempTree&)> make;
  };
  std::vector<Bad> bads = {
      {"garbage cpuinfo", [](test::TempTree& t) { t.write("proc/cpuinfo", std::string("\x7f" "ELF\x01\x02\x03", 7)); }},
      {"enormous cpuinfo", [](test::TempTree& t) { t.write("proc/cpuinfo", std::string(5 << 20, 'a')); }},
      {"cpuinfo is a directory", [](test::TempTree& t) { t.mkdir("proc/cpuinfo"); }},
      {"garbage sgx_total_bytes",
       [&](test::TempTree& t) {
         t.write("proc/cpuinfo", good_cpuinfo);
         t.write("sys/devices/system/node/node0/x86/sgx_total_bytes", "banana\n");
       }},
      {"negative sgx_total_bytes",
       [&](test::TempTree& t) {
         t.write("proc/cpuinfo", good_cpuinfo);
         t.write("sys/devices/system/node/node0/x86/sgx_total_bytes", "-1\n");
       }},
      {"enormous sgx_total_bytes",
       [&](test::TempTree& t) {
         t.write("proc/cpuinfo", good_cpuinfo);
         t.write("sys/devices/system/node/node0/x86/sgx_total_bytes", std::string(100000, '9'));
       }},
      {"sgx_total_bytes is a directory",
       [&](test::TempTree& t) {
         t.write("proc/cpuinfo", good_cpuinfo);
         t.mkdir("sys/devices/system/node/node0/x86/sgx_total_bytes");
       }},
  };
  for (auto& b : bads) {
    test::TempTree t;
    b.make(t);
    Harness h(t.root().string());
    auto c = make_platform_collector_for_test(h.paths, nullptr);
    MetricSink sink;
    auto s = c->collect(sink);
    EXPECT_FALSE(s.ok()) << b.what;
    if (!s.ok()) {
      EXPECT_FALSE(s.error().message.empty()) << b.what;
    }
  }
}

TEST(PlatformCollector, OddNodeDirectoryNamesAreSkipped) {
  test::TempTree t;
  t.write("proc/cpuinfo", "processor : 0\nflags : sgx\n");
  t.write("sys/devices/system/node/node0/x86/sgx_total_bytes", "1024\n");
  t.write("sys/devices/system/node/node10/x86/sgx_total_bytes", "4096\n");
  t.write("sys/devices/system/node/node2/x86/sgx_total_bytes", "2048\n");
  t.write("sys/devices/system/node/nodeX/x86/sgx_total_bytes", "banana\n");
  t.write("sys/devices/system/node/node/x86/sgx_total_bytes", "banana\n");
  t.write("sys/devices/system/node/node3", "a file, not a directory");
  t.mkdir("sys/devices/system/node/node4");  // a node without EPC
  t.write("sys/devices/system/node/possible", "0-4\n");
  Harness h(t.root().string());
  auto c = make_platform_collector_for_test(h.paths, nullptr);
  MetricSink sink;
  auto s = c->collect(sink);
  ASSERT_TRUE(s.ok()) << s.error().message;
  ASSERT_EQ(count_of(sink, "sgx_epc_capacity_bytes"), 3u);
  // Numeric order, not name order.
  const auto& fam = sink.families()[1];
  ASSERT_EQ(fam.name, "sgx_epc_capacity_bytes");
  EXPECT_EQ(fam.metric[0].label[0].value, "0");
  EXPECT_EQ(fam.metric[1].label[0].value, "2");
  EXPECT_EQ(fam.metric[2].label[0].value, "10");
}

TEST(PlatformCollector, CpuidFileFlag) {
  Harness missing(EPC_FIXTURES "/aks-dcsv3", "/nonexistent/cpuid.txt");
  auto refused = missing.options.validate();  // before anything starts
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("/nonexistent/cpuid.txt"), std::string::npos) << refused.error().message;

  test::TempTree t;
  t.write("cpuid.txt", "not a dump\n");
  Harness bad(EPC_FIXTURES "/aks-dcsv3", t.path("cpuid.txt").string());
  auto c = make_platform_collector(bad.services(), bad.options);
  MetricSink sink;
  EXPECT_FALSE(c->collect(sink).ok());
}

}  // namespace
}  // namespace epc
