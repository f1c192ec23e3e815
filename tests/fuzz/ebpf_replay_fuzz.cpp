// The ebpf collector's replay format and the kallsyms parser the probes use at start-up.
#include <string>

#include "collectors/ebpf.h"
#include "epc_probes.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto text = as_text(data, size);
  (void)epc::parse_ebpf_replay(text);
  (void)epc::probes::parse_kallsyms(std::string(text));
  return 0;
}
