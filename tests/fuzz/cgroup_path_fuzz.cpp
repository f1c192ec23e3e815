// cgroup paths (kubepods hierarchies of every driver and runtime) and /proc/<pid>/cgroup contents.
#include "attribution/attribution.h"
#include "attribution/names.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto text = as_text(data, size);
  if (auto k = epc::parse_kubepods_cgroup(text)) {
    FUZZ_CHECK(epc::is_kubepods_path(text));
    FUZZ_CHECK(epc::is_pod_uid(k->pod_uid));
    // Leaf names a runtime did not write (e.g. with a newline) may still become the container id; they must
    // at least be clean label values and one path segment.
    FUZZ_CHECK(clean_utf8(k->container_id) && k->container_id.find('/') == std::string::npos);
  }
  if (auto pc = epc::parse_proc_cgroup(text)) (void)epc::pick_cgroup_path(*pc);
  return 0;
}
