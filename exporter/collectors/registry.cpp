// The product's collectors, in scrape order. Adding a collector: one file with its options struct and a make_*
// factory, one entry here.
#include "collectors/registry.h"

#include "collectors/cgroup.h"
#include "collectors/ebpf.h"
#include "collectors/platform.h"

namespace epc {

std::size_t kept_fd_budget(std::size_t soft_limit, std::size_t max_connections) {
  const std::size_t taken = kFdReserve + max_connections;
  return soft_limit > taken ? soft_limit - taken : 0;
}

const std::vector<CollectorSpec>& all_collectors() {
  static const std::vector<CollectorSpec> specs = {
      CollectorSpec::make<PlatformOptions>("platform", true,
                                           "SGX capability, driver and EPC capacity (cpuinfo, CPUID 0x12, sysfs).",
                                           make_platform_collector),
      CollectorSpec::make<NoOptions>("cgroup", true,
                                     "EPC usage and limits from the misc cgroup controller's sgx_epc resource.",
                                     make_cgroup_collector),
      CollectorSpec::make<EbpfOptions>(
          "ebpf", true, "Per-pod EPC residency and paging from eBPF probes on the in-kernel SGX driver.",
          make_ebpf_collector),
  };
  return specs;
}

}  // namespace epc
