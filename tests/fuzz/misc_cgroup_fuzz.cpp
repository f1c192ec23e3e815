// misc cgroup files (misc.capacity, misc.current, misc.max, misc.peak, misc.events) as the cgroup collector reads.
#include "collectors/cgroup.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto entries = epc::parse_misc_file(as_text(data, size));
  if (entries) {
    for (const auto& e : *entries) FUZZ_CHECK(!e.resource.empty());
    if (const auto* e = epc::find_misc_entry(*entries, "sgx_epc")) FUZZ_CHECK(e->resource == "sgx_epc");
  }
  return 0;
}
