// platform collector: SGX capability and driver of the node.
//   proc/cpuinfo flags (sgx, sgx_lc); CPUID leaf 0x12 (SGX1/SGX2, max enclave size, EPC sections) through an
//   injectable reader; which driver's device nodes exist under dev/; EPC capacity per NUMA node from
//   sys/devices/system/node/node<N>/x86/sgx_total_bytes (CPUID EPC sections as fallback).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "collectors/registry.h"
#include "host/result.h"

namespace epc {

// --collector.platform.*
struct PlatformOptions {
  std::string cpuid_file;  // test and demo seam: CPUID from a dump instead of the instruction

  void flags(FlagSet& f);
  Status validate();
};

std::unique_ptr<Collector> make_platform_collector(const CollectorServices& services, const PlatformOptions& options);

// ---- parsers and the CPUID seam (exposed for tests) ----

struct CpuFlags {
  bool sgx = false;
  bool sgx_lc = false;
};
// /proc/cpuinfo: the first "flags" line. Text without any "key : value" line, or binary data, is an error.
Result<CpuFlags> parse_cpuinfo_flags(std::string_view cpuinfo);

struct CpuidRegs {
  std::uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
  friend bool operator==(const CpuidRegs&, const CpuidRegs&) = default;
};

class CpuidReader {
 public:
  virtual ~CpuidReader() = default;
  // nullopt when the leaf is not available (beyond the maximum leaf, or not in a dump).
  virtual std::optional<CpuidRegs> query(std::uint32_t leaf, std::uint32_t subleaf) = 0;
};

// The cpuid instruction of the CPU the exporter runs on.
std::unique_ptr<CpuidReader> make_hardware_cpuid_reader();

// A CPUID dump in the format of `cpuid -1 -r` ("   0x00000012 0x02: eax=0x... ebx=0x... ecx=0x... edx=0x...").
// Blank lines, "#" comments and "CPU ..." headers are skipped; for several CPUs the first entry of a leaf wins.
using CpuidDump = std::map<std::pair<std::uint32_t, std::uint32_t>, CpuidRegs>;
Result<CpuidDump> parse_cpuid_dump(std::string_view text);
std::unique_ptr<CpuidReader> make_dump_cpuid_reader(CpuidDump dump);

struct EpcSection {
  std::uint64_t base = 0;
  std::uint64_t size = 0;
  friend bool operator==(const EpcSection&, const EpcSection&) = default;
};
struct SgxCpuid {
  bool sgx1 = false;
  bool sgx2 = false;
  std::optional<std::uint64_t> max_enclave_size_32;  // bytes
  std::optional<std::uint64_t> max_enclave_size_64;  // bytes
  std::vector<EpcSection> sections;
};
// Leaf 7 EBX bit 2 says whether SGX exists; then leaf 0x12 subleaf 0 and the EPC sections from subleaf 2 on
// (type 0 ends the list, at most 8 sections as in the kernel's SGX_MAX_EPC_SECTIONS). nullopt: no SGX.
std::optional<SgxCpuid> read_sgx_cpuid(CpuidReader& reader);

// Which SGX driver's device nodes exist: "in-kernel" (sgx_enclave), "dcap" (sgx/enclave), "isgx" or "none".
std::string detect_sgx_driver(const HostPaths& paths);

// For tests: a collector with a given CPUID reader.
std::unique_ptr<Collector> make_platform_collector_for_test(const HostPaths& paths, std::unique_ptr<CpuidReader> cpuid);

}  // namespace epc
