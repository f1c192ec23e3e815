#include "app/flags.h"

#include <gtest/gtest.h>

#include <sstream>

namespace epc {
namespace {

// A collector's typed options as a collector declares them (collectors/registry.h).
struct TestOptions {
  unsigned max_depth = 8;
  bool unpin = false;
  std::string file;
  void flags(FlagSet& f) {
    f.add_uint("max-depth", "N", "How deep.", max_depth, 0, 100);
    f.add_bool("unpin", "An action.", unpin);
    f.add_string("file", "FILE", "A file that must exist.", file);
  }
  Status validate() {
    if (!file.empty() && file != "/exists") return make_error("--collector.cgroup.file " + file + ": missing");
    return {};
  }
};

std::unique_ptr<Collector> no_collector(const CollectorServices&, const TestOptions&) { return nullptr; }
std::unique_ptr<Collector> no_plain_collector(const CollectorServices&, const NoOptions&) { return nullptr; }

const std::vector<CollectorSpec>& specs() {
  static const std::vector<CollectorSpec> s = {
      CollectorSpec::make<NoOptions>("platform", true, "p", no_plain_collector),
      CollectorSpec::make<TestOptions>("cgroup", true, "c", no_collector),
      CollectorSpec::make<NoOptions>("extra", false, "e", no_plain_collector),
  };
  return s;
}

Result<ParsedFlags> parse(std::vector<std::string> args) { return parse_flags(args, specs()); }

const TestOptions& cgroup(const Result<ParsedFlags>& r) { return *r->collector_options<TestOptions>("cgroup"); }

TEST(Flags, Defaults) {
  auto r = parse({});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->action, ParsedFlags::Action::kRun);
  EXPECT_EQ(r->web.listen_address, ":9840");
  EXPECT_EQ(r->web.telemetry_path, "/metrics");
  EXPECT_EQ(r->rootfs, "/");
  EXPECT_TRUE(r->collector_enabled("platform"));
  EXPECT_TRUE(r->collector_enabled("cgroup"));
  EXPECT_FALSE(r->collector_enabled("extra"));
  EXPECT_EQ(cgroup(r).max_depth, 8u);
  EXPECT_EQ(r->web.max_connections, 4096u);
  EXPECT_FALSE(r->scrape.disable_exporter_metrics);
}

// As node_exporter's kingpin flag: bare sets it, =true/=false say which, --no- clears it; never takes the next
// argument as a value.
TEST(Flags, DisableExporterMetrics) {
  auto bare = parse({"--web.disable-exporter-metrics", "--path.rootfs", "/host"});
  ASSERT_TRUE(bare.ok()) << bare.error().message;
  EXPECT_TRUE(bare->scrape.disable_exporter_metrics);
  EXPECT_EQ(bare->rootfs, "/host");

  auto t = parse({"--web.disable-exporter-metrics=true"});
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_TRUE(t->scrape.disable_exporter_metrics);
  auto f = parse({"--web.disable-exporter-metrics=false"});
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_FALSE(f->scrape.disable_exporter_metrics);
  auto last = parse({"--web.disable-exporter-metrics", "--no-web.disable-exporter-metrics"});
  ASSERT_TRUE(last.ok()) << last.error().message;
  EXPECT_FALSE(last->scrape.disable_exporter_metrics);

  // A following non-flag argument is not its value.
  EXPECT_FALSE(parse({"--web.disable-exporter-metrics", "true"}).ok());
  EXPECT_FALSE(parse({"--web.disable-exporter-metrics=yes"}).ok());
  EXPECT_FALSE(parse({"--no-web.disable-exporter-metrics=true"}).ok());
  // --no- is only for boolean flags.
  EXPECT_FALSE(parse({"--no-web.listen-address"}).ok());
  EXPECT_NE(usage(specs()).find("--[no-]web.disable-exporter-metrics"), std::string::npos);
}

TEST(Flags, WorkloadCap) {
  auto d = parse({});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->scrape.max_workloads, 1000u);
  EXPECT_EQ(d->scrape.workload_grace_ms, 300000u);
  auto r = parse({"--metrics.max-workloads=4", "--metrics.workload-grace=3s"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->scrape.max_workloads, 4u);
  EXPECT_EQ(r->scrape.workload_grace_ms, 3000u);
  auto z = parse({"--metrics.workload-grace=0s"});  // a gone workload frees its slot at the next scrape
  ASSERT_TRUE(z.ok()) << z.error().message;
  EXPECT_EQ(z->scrape.workload_grace_ms, 0u);
}

TEST(Flags, MaxConnections) {
  auto r = parse({"--web.max-connections=100"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->web.max_connections, 100u);
}

TEST(Flags, BothValueForms) {
  auto r = parse({"--web.listen-address=127.0.0.1:1234", "--path.rootfs", "/host", "--log.format=json"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->web.listen_address, "127.0.0.1:1234");
  EXPECT_EQ(r->rootfs, "/host");
  EXPECT_EQ(r->log_format, "json");
}

TEST(Flags, CollectorSwitches) {
  auto r = parse({"--no-collector.cgroup", "--collector.extra", "--collector.cgroup.max-depth=3"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(r->collector_enabled("cgroup"));
  EXPECT_TRUE(r->collector_enabled("extra"));
  EXPECT_EQ(cgroup(r).max_depth, 3u);

  auto d = parse({"--collector.disable-defaults", "--collector.cgroup"});
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(d->collector_enabled("platform"));
  EXPECT_TRUE(d->collector_enabled("cgroup"));
  EXPECT_FALSE(d->collector_enabled("extra"));
}

// A collector's boolean is a boolean like any other: bare sets it, =true/=false say which, --no- clears it; a
// following "true" or "false" is not its value, and the error says how to write it.
TEST(Flags, BooleanCollectorFlag) {
  auto bare = parse({"--collector.cgroup.unpin"});
  ASSERT_TRUE(bare.ok()) << bare.error().message;
  EXPECT_TRUE(cgroup(bare).unpin);
  auto then = parse({"--collector.cgroup.unpin", "--path.rootfs=/host"});
  ASSERT_TRUE(then.ok()) << then.error().message;
  EXPECT_TRUE(cgroup(then).unpin);
  EXPECT_EQ(then->rootfs, "/host");
  auto spaced = parse({"--collector.cgroup.unpin", "false"});
  ASSERT_FALSE(spaced.ok());
  EXPECT_NE(spaced.error().message.find("--collector.cgroup.unpin=false"), std::string::npos) << spaced.error().message;
  EXPECT_FALSE(cgroup(parse({"--collector.cgroup.unpin=false"})).unpin);
  EXPECT_FALSE(cgroup(parse({"--collector.cgroup.unpin", "--no-collector.cgroup.unpin"})).unpin);
  auto yes = parse({"--collector.cgroup.unpin=yes"});
  ASSERT_FALSE(yes.ok());
  EXPECT_NE(yes.error().message.find("--collector.cgroup.unpin: 'yes' is not true or false"), std::string::npos)
      << yes.error().message;
  // Not boolean: a value is still required, and checked.
  EXPECT_FALSE(parse({"--collector.cgroup.max-depth"}).ok());
  EXPECT_FALSE(parse({"--collector.cgroup.max-depth=deep"}).ok());
  EXPECT_FALSE(parse({"--no-collector.cgroup.max-depth"}).ok());
}

// Checks that need a file run after the parse, on enabled and disabled collectors alike, before anything starts.
TEST(Flags, ValidateChecksTheRootAndEachCollector) {
  auto ok = parse({"--collector.cgroup.file=/exists"});
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(validate_flags(*ok).ok());
  auto missing = parse({"--no-collector.cgroup", "--collector.cgroup.file=/nope"});
  ASSERT_TRUE(missing.ok());
  auto s = validate_flags(*missing);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("/nope"), std::string::npos);
  auto root = parse({"--path.rootfs=/nonexistent-root"});
  ASSERT_TRUE(root.ok());
  EXPECT_FALSE(validate_flags(*root).ok());
}

// node_exporter keeps every --web.listen-address; this exporter serves one, so a second one is refused rather than
// silently replacing the first.
TEST(Flags, RepeatedListenAddressIsRefused) {
  auto r = parse({"--web.listen-address=:9840", "--web.listen-address", "127.0.0.1:9841"});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("given twice"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("127.0.0.1:9841"), std::string::npos) << r.error().message;
  // Other flags keep the last value, as before.
  auto last = parse({"--log.level=warn", "--log.level=debug"});
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(last->log_level, "debug");
}

TEST(Flags, ResolvedConfiguration) {
  auto r = parse({"--collector.cgroup.max-depth=3", "--no-collector.platform"});
  ASSERT_TRUE(r.ok());
  auto all = resolved_flags(*r);
  auto find = [&](const std::string& name) {
    for (const auto& [k, v] : all)
      if (k == name) return v;
    return std::string("<absent>");
  };
  EXPECT_EQ(find("collector.cgroup.max-depth"), "3");
  EXPECT_EQ(find("collector.cgroup.unpin"), "false");
  EXPECT_EQ(find("web.listen-address"), ":9840");
  EXPECT_EQ(find("metrics.workload-grace"), "5m");
  EXPECT_EQ(find("collectors"), "cgroup");
}

TEST(Flags, HelpAndVersion) {
  EXPECT_EQ(parse({"--help"})->action, ParsedFlags::Action::kHelp);
  EXPECT_EQ(parse({"-h"})->action, ParsedFlags::Action::kHelp);
  EXPECT_EQ(parse({"--version"})->action, ParsedFlags::Action::kVersion);
  std::string u = usage(specs());
  EXPECT_NE(u.find("--[no-]collector.cgroup"), std::string::npos);
  EXPECT_NE(u.find("--collector.cgroup.max-depth=N"), std::string::npos);
  EXPECT_NE(u.find("--[no-]collector.cgroup.unpin"), std::string::npos);
  EXPECT_NE(u.find("--web.listen-address=ADDRESS"), std::string::npos);
  EXPECT_EQ(u.find("=VALUE"), std::string::npos);
}

// --help as a new user reads it: grouped, every line within kUsageWidth columns, one way of writing defaults, and
// every flag it lists is one the parser takes.
TEST(Flags, HelpIsGroupedWrappedAndComplete) {
  const std::string u = usage(specs());
  std::size_t at = 0;
  for (const char* group : {"\nWeb:\n", "\nPaths:\n", "\nMetrics:\n", "\nLogging:\n", "\nCollectors:\n",
                            "\nCollector cgroup:\n"}) {
    auto next = u.find(group, at);
    EXPECT_NE(next, std::string::npos) << group << " missing or out of order in\n" << u;
    if (next != std::string::npos) at = next;
  }
  std::istringstream lines(u);
  std::string line;
  std::vector<std::string> flags;
  while (std::getline(lines, line)) {
    EXPECT_LE(line.size(), kUsageWidth) << line;
    EXPECT_EQ(line.find("Default:"), std::string::npos) << line;
    EXPECT_EQ(line.find("true or false"), std::string::npos) << line;
    if (line.rfind("  --", 0) == 0) flags.push_back(line.substr(2, line.find_first_of(" =", 2) - 2));
  }
  EXPECT_NE(u.find("(default: :9840)"), std::string::npos);
  EXPECT_NE(u.find("(default: off)"), std::string::npos);
  EXPECT_NE(u.find("(default: 5m)"), std::string::npos);
  ASSERT_GT(flags.size(), 15u);
  for (const std::string& f : flags) {
    if (f == "--version") continue;
    const bool boolean = f.rfind("--[no-]", 0) == 0;
    const std::string name = boolean ? "--" + f.substr(7) : f;
    auto r = parse({boolean || name == "--collector.disable-defaults" ? name : name + "=x"});
    // Accepted, or refused for its value: never an unknown flag.
    if (!r.ok()) {
      EXPECT_EQ(r.error().message.find("unknown"), std::string::npos) << f << ": " << r.error().message;
    }
  }
}

TEST(Flags, Rejections) {
  const std::vector<std::vector<std::string>> bad = {
      {"--nope"},
      {"positional"},
      {"-x"},
      {"--"},
      {"--collector.nope"},
      {"--no-collector.nope"},
      {"--collector.cgroup=yes"},
      {"--collector.cgroup.max-depth=101"},
      {"--collector.cgroup.unpin=1"},
      {"--web.disable-exporter-metrics", "true"},
      {"--collector.cgroup.unknown=1"},
      {"--no-collector.cgroup=1"},
      {"--web.listen-address=9840"},
      {"--web.listen-address=:99999"},
      {"--web.listen-address=::1:80"},
      {"--web.listen-address=:port"},
      {"--web.telemetry-path=metrics"},
      {"--web.telemetry-path=/"},
      {"--web.telemetry-path=/healthz"},
      {"--log.level=verbose"},
      {"--log.format=xml"},
      {"--web.max-requests=0"},
      {"--web.max-requests=-1"},
      {"--web.max-connections=0"},
      {"--web.max-connections=2000000"},
      {"--web.request-timeout=10"},
      {"--web.request-timeout=0s"},
      {"--metrics.workload-grace=5"},
      {"--metrics.workload-grace=2d"},
      {"--path.rootfs="},
      {"--path.rootfs"},  // value missing at the end
      {"--collector.disable-defaults=1"},
  };
  for (const auto& args : bad) {
    auto r = parse(args);
    EXPECT_FALSE(r.ok()) << "accepted: " << args[0];
    if (!r.ok()) {
      EXPECT_FALSE(r.error().message.empty());
    }
  }
}

TEST(Flags, IPv6ListenAddress) {
  auto r = parse({"--web.listen-address=[::1]:9840"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->web.listen_address, "[::1]:9840");
}

TEST(Flags, Durations) {
  EXPECT_EQ(*parse_duration_ms("10s"), 10000u);
  EXPECT_EQ(*parse_duration_ms("250ms"), 250u);
  EXPECT_EQ(*parse_duration_ms("1.5s"), 1500u);
  EXPECT_EQ(*parse_duration_ms("2m"), 120000u);
  EXPECT_FALSE(parse_duration_ms("10").ok());
  EXPECT_FALSE(parse_duration_ms("s").ok());
  EXPECT_FALSE(parse_duration_ms("10h").ok());
  EXPECT_FALSE(parse_duration_ms("1e400s").ok());
  EXPECT_FALSE(parse_duration_ms("99999999m").ok());
}

}  // namespace
}  // namespace epc
