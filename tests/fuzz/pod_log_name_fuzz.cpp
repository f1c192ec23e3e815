// Names of the kubelet's log directories and links, and the label sanitiser every name goes through.
#include "attribution/names.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto text = as_text(data, size);
  if (auto d = epc::parse_pod_log_dir(text)) {
    FUZZ_CHECK(epc::is_k8s_name(d->namespace_name));
    FUZZ_CHECK(epc::is_pod_uid(d->pod_uid));
  }
  if (auto c = epc::parse_container_log_name(text)) FUZZ_CHECK(epc::is_container_id(c->container_id));
  FUZZ_CHECK(clean_utf8(epc::sanitize_label_value(text)));
  return 0;
}
