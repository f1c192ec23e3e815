#include "app/flags.h"

#include <gtest/gtest.h>

namespace epc {
namespace {

std::vector<CollectorSpec> specs() {
  return {
      {"platform", true, "p", {}, nullptr},
      {"cgroup", true, "c", {{"max-depth", "how deep", "8"}, {"unpin", "an action", "false"}}, nullptr},
      {"extra", false, "e", {}, nullptr},
  };
}

Result<ParsedFlags> parse(std::vector<std::string> args) { return parse_flags(args, specs()); }

TEST(Flags, Defaults) {
  auto r = parse({});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->action, ParsedFlags::Action::kRun);
  EXPECT_EQ(r->config.listen_address, ":9840");
  EXPECT_EQ(r->config.telemetry_path, "/metrics");
  EXPECT_EQ(r->config.rootfs, "/");
  EXPECT_TRUE(r->config.collector_enabled("platform"));
  EXPECT_TRUE(r->config.collector_enabled("cgroup"));
  EXPECT_FALSE(r->config.collector_enabled("extra"));
  EXPECT_EQ(r->config.collector_flag("cgroup", "max-depth"), "8");
  EXPECT_EQ(r->config.max_connections, 4096u);
  EXPECT_FALSE(r->config.disable_exporter_metrics);
}

// As node_exporter's kingpin flag: bare sets it, =true/=false say which, --no- clears it; never takes the next
// argument as a value.
TEST(Flags, DisableExporterMetrics) {
  auto bare = parse({"--web.disable-exporter-metrics", "--path.rootfs", "/host"});
  ASSERT_TRUE(bare.ok()) << bare.error().message;
  EXPECT_TRUE(bare->config.disable_exporter_metrics);
  EXPECT_EQ(bare->config.rootfs, "/host");

  auto t = parse({"--web.disable-exporter-metrics=true"});
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_TRUE(t->config.disable_exporter_metrics);
  auto f = parse({"--web.disable-exporter-metrics=false"});
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_FALSE(f->config.disable_exporter_metrics);
  auto last = parse({"--web.disable-exporter-metrics", "--no-web.disable-exporter-metrics"});
  ASSERT_TRUE(last.ok()) << last.error().message;
  EXPECT_FALSE(last->config.disable_exporter_metrics);

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
  EXPECT_EQ(d->config.max_workloads, 1000u);
  EXPECT_EQ(d->config.workload_grace_ms, 300000u);
  auto r = parse({"--metrics.max-workloads=4", "--metrics.workload-grace=3s"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->config.max_workloads, 4u);
  EXPECT_EQ(r->config.workload_grace_ms, 3000u);
  auto z = parse({"--metrics.workload-grace=0s"});  // a gone workload frees its slot at the next scrape
  ASSERT_TRUE(z.ok()) << z.error().message;
  EXPECT_EQ(z->config.workload_grace_ms, 0u);
}

TEST(Flags, MaxConnections) {
  auto r = parse({"--web.max-connections=100"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->config.max_connections, 100u);
}

TEST(Flags, BothValueForms) {
  auto r = parse({"--web.listen-address=127.0.0.1:1234", "--path.rootfs", "/host", "--log.format=json"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->config.listen_address, "127.0.0.1:1234");
  EXPECT_EQ(r->config.rootfs, "/host");
  EXPECT_EQ(r->config.log_format, "json");
}

TEST(Flags, CollectorSwitches) {
  auto r = parse({"--no-collector.cgroup", "--collector.extra", "--collector.cgroup.max-depth=3"});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(r->config.collector_enabled("cgroup"));
  EXPECT_TRUE(r->config.collector_enabled("extra"));
  EXPECT_EQ(r->config.collector_flag("cgroup", "max-depth"), "3");

  auto d = parse({"--collector.disable-defaults", "--collector.cgroup"});
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->config.enabled_collectors, (std::set<std::string>{"cgroup"}));
}

// A true/false collector flag given bare means true; with a value, or a value in the next argument, it is that.
TEST(Flags, BareBooleanCollectorFlag) {
  auto bare = parse({"--collector.cgroup.unpin"});
  ASSERT_TRUE(bare.ok()) << bare.error().message;
  EXPECT_EQ(bare->config.collector_flag("cgroup", "unpin"), "true");
  auto then = parse({"--collector.cgroup.unpin", "--path.rootfs=/host"});
  ASSERT_TRUE(then.ok()) << then.error().message;
  EXPECT_EQ(then->config.collector_flag("cgroup", "unpin"), "true");
  EXPECT_EQ(then->config.rootfs, "/host");
  auto spaced = parse({"--collector.cgroup.unpin", "false"});
  ASSERT_TRUE(spaced.ok()) << spaced.error().message;
  EXPECT_EQ(spaced->config.collector_flag("cgroup", "unpin"), "false");
  EXPECT_EQ(parse({"--collector.cgroup.unpin=false"})->config.collector_flag("cgroup", "unpin"), "false");
  // Not boolean: a value is still required.
  EXPECT_FALSE(parse({"--collector.cgroup.max-depth"}).ok());
}

TEST(Flags, HelpAndVersion) {
  EXPECT_EQ(parse({"--help"})->action, ParsedFlags::Action::kHelp);
  EXPECT_EQ(parse({"-h"})->action, ParsedFlags::Action::kHelp);
  EXPECT_EQ(parse({"--version"})->action, ParsedFlags::Action::kVersion);
  std::string u = usage(specs());
  EXPECT_NE(u.find("--[no-]collector.cgroup"), std::string::npos);
  EXPECT_NE(u.find("--collector.cgroup.max-depth=VALUE"), std::string::npos);
  EXPECT_NE(u.find("--web.listen-address"), std::string::npos);
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
  EXPECT_EQ(r->config.listen_address, "[::1]:9840");
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
