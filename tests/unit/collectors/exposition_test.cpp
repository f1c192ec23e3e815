// The whole scrape of every fixture node, as the exporter renders it, passes tests/lib's exposition check
// (exposition_check.h): uncapped and with the workload cap folding all but two workloads (issue 23: the cap wrote
// every node-level series without labels, so families became duplicates), with the eBPF replay where the fixture
// has one.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "attribution/attribution.h"
#include "collectors/cgroup.h"
#include "collectors/ebpf.h"
#include "collectors/platform.h"
#include "host/file_reader.h"
#include "host/host_paths.h"
#include "scrape/scraper.h"
#include "exposition_check.h"

namespace epc {
namespace {

std::string fixture_page(const std::string& node, std::size_t max_workloads) {
  const std::string root = std::string(EPC_FIXTURES) + "/" + node;
  HostPaths paths(root);
  Attribution attribution(paths);
  const CollectorServices services{paths, attribution, FdBudget{4096}};
  std::vector<Scraper::Named> collectors;
  if (auto dump = read_file(root + "/cpuid.txt")) {
    if (auto parsed = parse_cpuid_dump(*dump))
      collectors.push_back({"platform", make_platform_collector_for_test(paths, make_dump_cpuid_reader(*parsed))});
  }
  collectors.push_back({"cgroup", make_cgroup_collector(services)});
  const std::string replay = std::string(EPC_FIXTURES) + "/ebpf/" + node + ".txt";
  if (std::filesystem::exists(replay)) {
    EnclaveMetricsOptions enclaves;
    enclaves.per_enclave_bytes = true;
    collectors.push_back({"ebpf", make_ebpf_collector_from(make_replay_ebpf_source(replay), services, enclaves)});
  }
  Scraper::Options options;
  options.max_workloads = max_workloads;
  Scraper scraper(std::move(collectors), [&attribution] { attribution.refresh(); }, options);
  return scraper.render_within(std::chrono::seconds(10)).value_or("");
}

TEST(Exposition, FixtureScrapesWithAndWithoutTheCapPassTheExpositionCheck) {
  for (const char* node : {"aks-dcsv3", "v1-docker", "no-sgx"}) {
    for (std::size_t cap : {std::size_t{0}, std::size_t{2}}) {
      const std::string page = fixture_page(node, cap);
      ASSERT_NE(page.find("sgx_exporter_collector_success"), std::string::npos) << node;
      if (std::string(node) == "aks-dcsv3") {
        EXPECT_NE(page.find("sgx_enclave_info{"), std::string::npos) << "the eBPF replay was not scraped";
      }
      EXPECT_TRUE(test::exposition_is_clean(page)) << node << " --metrics.max-workloads=" << cap << "\n" << page;
    }
  }
}

}  // namespace
}  // namespace epc
