// /proc/cpuinfo flags and CPUID dumps (platform collector), then the SGX leaf decoding on the parsed dump.
#include "collectors/platform.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto text = as_text(data, size);
  (void)epc::parse_cpuinfo_flags(text);
  if (auto dump = epc::parse_cpuid_dump(text)) {
    auto reader = epc::make_dump_cpuid_reader(std::move(*dump));
    if (auto sgx = epc::read_sgx_cpuid(*reader)) FUZZ_CHECK(sgx->sections.size() <= 8);
  }
  return 0;
}
