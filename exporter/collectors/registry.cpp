// The product's collectors, in scrape order. Adding a collector: one file with a make_* factory, one entry here.
#include "collectors/cgroup.h"
#include "collectors/ebpf.h"
#include "collectors/platform.h"
#include "collectors/registry.h"

namespace epc {

const std::vector<CollectorSpec>& all_collectors() {
  static const std::vector<CollectorSpec> specs = {
      {"platform", true, "SGX capability, driver and EPC capacity (cpuinfo, CPUID 0x12, sysfs)",
       {{"cpuid-file", "Test seam: read CPUID from this dump (format of `cpuid -1 -r`) instead of the CPU.", ""}},
       make_platform_collector},
      {"cgroup", true, "EPC usage and limits from the misc cgroup controller's sgx_epc resource", {},
       make_cgroup_collector},
      {"ebpf", true, "Per-pod EPC residency and paging from eBPF probes on the in-kernel SGX driver",
       {{"prefer-fentry", "Attach with fentry/fexit where the kernel supports it (else kprobes): true or false", "true"},
        {"disable-probes", "Comma-separated probes to leave off (names as in sgx_exporter_probe_attached)", ""},
        {"replay-file", "TEST/DEMO ONLY: serve a recorded probe snapshot (text file) instead of probing the kernel",
         ""},
        {"pin-path",
         "bpffs directory for the probes' pinned maps and links, which keep counting across exporter restarts and "
         "are taken over by the next instance of the same version; 'auto' = <path.sysfs>/fs/bpf/epc_exporter, '' "
         "= no pinning",
         "auto"},
        {"unpin", "Remove the pinned state (maps, links, their kprobe events) from --collector.ebpf.pin-path and exit",
         "false"},
        {"discover", "At start without pinned state, find the enclaves that already exist (BPF task iterators): "
                     "true or false",
         "true"},
        {"layout-tag", "TEST ONLY: mixed into the pinned state's layout id (simulates an upgrade that changes it)",
         ""},
        {"per-enclave", "Also export each enclave's resident and swapped EPC bytes (sgx_enclave_epc_*_bytes): "
                        "true or false",
         "false"},
        {"max-enclaves", "Enclaves with per-enclave series (sgx_enclave_info and the rest), the oldest first; the "
                         "others are counted in sgx_exporter_ebpf_enclave_series_dropped (0-65536)",
         "1000"},
        {"signers-file", "File of '<MRSIGNER hex> <name>' lines: sgx_enclave_info{signer} names known signers", ""}},
       make_ebpf_collector},
  };
  return specs;
}

}  // namespace epc
