// Every metric definition of the product: named as Prometheus names metrics, each defined once, and nothing written
// that is not one of them (so docs/metrics.md, generated from these groups, lists every family a scrape can hold).
#include "collectors/metric_groups.h"

#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "attribution/attribution.h"
#include "collectors/cgroup.h"
#include "collectors/ebpf.h"
#include "collectors/platform.h"
#include "host/file_reader.h"
#include "host/host_paths.h"
#include "scrape/scraper.h"

namespace epc {
namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

TEST(MetricDefinitions, NamedAsPrometheusNamesMetrics) {
  const std::regex name_re("(sgx|process)_[a-z0-9_]+[a-z0-9]");
  const std::regex label_re("[a-z][a-z0-9_]*");
  std::set<std::string_view> names;
  for (const auto& g : all_metric_groups()) {
    ASSERT_FALSE(g.defs.empty()) << g.id;
    for (const MetricDef* d : g.defs) {
      const std::string name(d->name);
      EXPECT_TRUE(names.insert(d->name).second) << name << " defined twice";
      EXPECT_TRUE(std::regex_match(name, name_re)) << name;
      // <namespace>_<subsystem>_<name>_<base unit>[_total]: counters end in _total, nothing else does.
      EXPECT_EQ(d->type == MetricType::kCounter, ends_with(name, "_total")) << name;
      const std::string_view stem = ends_with(name, "_total") ? d->name.substr(0, name.size() - 6) : d->name;
      if (!d->unit.empty()) {
        EXPECT_TRUE(ends_with(stem, "_" + std::string(d->unit))) << name << " does not end in its unit " << d->unit;
      }
      for (const char* unit : {"bytes", "seconds"})
        if (ends_with(stem, std::string("_") + unit)) {
          EXPECT_EQ(d->unit, unit) << name;
        }
      EXPECT_FALSE(d->help.empty()) << name;
      EXPECT_EQ(d->help.back(), '.') << name;
      std::set<std::string_view> labels;
      for (auto l : d->labels) {
        EXPECT_TRUE(std::regex_match(std::string(l), label_re)) << name << " label " << l;
        EXPECT_TRUE(labels.insert(l).second) << name << " label " << l << " twice";
      }
      for (std::size_t i = 0; d->labels.per_workload() && i < kWorkloadLabelNames.size(); ++i)
        EXPECT_EQ(d->labels[i], kWorkloadLabelNames[i]) << name;
    }
  }
}

// The families of a full scrape of the aks-dcsv3 node with the eBPF replay (every per-workload and per-enclave
// family, per-enclave bytes on) and the cap folding workloads: each one is a definition of a group.
TEST(MetricDefinitions, EveryFamilyWrittenIsDefinedInAGroup) {
  std::set<const MetricDef*> defined;
  for (const auto& g : all_metric_groups())
    for (const MetricDef* d : g.defs) defined.insert(d);

  const std::string root = std::string(EPC_FIXTURES) + "/aks-dcsv3";
  HostPaths paths(root);
  Attribution attribution(paths);
  // Descriptors kept open like the product (the cgroup collector's kept files).
  const CollectorServices services{paths, attribution, FdBudget{4096}};
  auto dump = read_file(root + "/cpuid.txt");
  ASSERT_TRUE(dump.ok());
  auto parsed = parse_cpuid_dump(*dump);
  ASSERT_TRUE(parsed.ok());
  std::vector<Scraper::Named> collectors;
  collectors.push_back({"platform", make_platform_collector_for_test(paths, make_dump_cpuid_reader(*parsed))});
  collectors.push_back({"cgroup", make_cgroup_collector(services)});
  EnclaveMetricsOptions enclaves;
  enclaves.per_enclave_bytes = true;
  collectors.push_back({"ebpf", make_ebpf_collector_from(
                                    make_replay_ebpf_source(std::string(EPC_FIXTURES) + "/ebpf/aks-dcsv3.txt"),
                                    services, enclaves)});
  Scraper scraper(std::move(collectors), [&attribution] { attribution.refresh(); });
  MetricSink sink = scraper.collect();
  WorkloadCap cap(WorkloadCap::Options{.max_workloads = 1});
  add_cap_metrics(sink, cap.apply(sink, WorkloadCap::Clock::now()), 1);
  std::set<std::string_view> written;
  for (const auto& f : sink.families()) {
    EXPECT_TRUE(defined.count(f.def)) << f.def->name << " is written but in no metric group";
    written.insert(f.def->name);
  }
  EXPECT_GT(written.size(), 40u);
  EXPECT_TRUE(written.count("sgx_enclave_info"));
  EXPECT_TRUE(written.count("sgx_cgroup_epc_usage_bytes"));
  EXPECT_TRUE(written.count("sgx_exporter_workloads_aggregated"));
  for (const auto& f : sink.families())
    EXPECT_EQ(sink.find(f.def->name), &f);
}

}  // namespace
}  // namespace epc
