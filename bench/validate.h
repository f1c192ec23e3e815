// epc_bench --validate: on an SGX node, check the exporter's numbers against a workload whose every page the
// bench knows, and measure on that node what is otherwise only modelled (the probes' overhead, the cost of a page
// swap). Writes validate.json and validate.md (docs/benchmarking.md, "Validate on your SGX node").
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "exporter_client.h"

namespace epcbench::validate {

inline constexpr const char* kDefaultExporterUrl = "http://127.0.0.1:9840/metrics";

struct Options {
  HttpUrl exporter;
  WorkloadSelector selector;       // this process's series: its cgroup, or its pod
  std::string attach_cmd, detach_cmd;  // the overhead's on/off switch; empty: a private exporter instance
  std::string out_dir = ".";
  int overhead_rounds = 5;         // attached/detached pairs
  std::size_t epc_bytes_fallback = 0;  // --sgx-epc-mib, where the host reports no EPC size
};

// Exit status: 0 pass, 1 fail or incomplete (validate.json says which), 77 no SGX on this node.
int run(const Options& opts);

// How the node was recognised as the SGX-emulating test kernel ("" on anything else): its boot parameter
// sgx_emu_epc= (the emulated EPC's size and place), or its debugfs statistics.
std::string emulation_marker(std::string_view proc_cmdline, bool emu_debugfs_exists);

// Page counts of the two phases, from the node's EPC (pages) and the EPC free when the run starts.
struct Plan {
  std::uint64_t image_pages = 0;   // EADDed pages of the enclave image besides its heap (TCS, code, data)
  std::uint64_t below_heap = 0;    // heap pages of each of the 2 enclaves of the below-EPC phase
  std::uint64_t over_heap = 0;     // heap pages of each of the 2 enclaves added for the oversubscribed phase
  std::uint64_t below_total = 0;   // EPC pages the below-EPC phase holds (enclave pages + SECS + VA)
  std::uint64_t over_total = 0;    // EPC pages both phases' enclaves hold together (about 2x the EPC)
};
// Below EPC: half the free EPC; oversubscribed: twice the EPC in all. Zero heap pages: the EPC is too small.
Plan plan_for(std::uint64_t epc_pages, std::uint64_t free_pages, std::uint64_t image_pages);
// EPC pages an enclave of `added` EADDed pages holds: those, its SECS and its Version Array pages (the driver takes
// a VA page whenever SECS + pages so far is a multiple of 512: sgx_encl_grow()).
std::uint64_t va_pages_for(std::uint64_t added);
std::uint64_t epc_pages_for(std::uint64_t added);

}  // namespace epcbench::validate
