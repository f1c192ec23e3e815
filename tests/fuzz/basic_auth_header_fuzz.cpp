// The Authorization header parser and the strict base64 decoder: every request reaches them before any
// credential is known, so they see whatever a hostile client sends.
#include "web/basic_auth.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto text = as_text(data, size);
  if (auto decoded = epc::decode_base64(text)) FUZZ_CHECK(decoded->size() <= text.size() / 4 * 3);
  if (auto creds = epc::parse_basic_authorization(text)) {
    FUZZ_CHECK(creds->first.find(':') == std::string::npos);
    FUZZ_CHECK(creds->first.size() + creds->second.size() < text.size());
  }
  return 0;
}
