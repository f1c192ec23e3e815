// The web config parser (YAML subset of the exporter-toolkit format) on arbitrary bytes.
#include "web/web_config.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto cfg = epc::parse_web_config(as_text(data, size), "/etc/epc");
  if (cfg) {
    for (const auto& [user, hash] : cfg->basic_auth_users) {
      FUZZ_CHECK(!user.empty() && user.find(':') == std::string::npos);
      FUZZ_CHECK(epc::check_bcrypt_hash(hash).ok());
    }
    if (cfg->tls) FUZZ_CHECK(!cfg->tls->cert_file.empty() && !cfg->tls->key_file.empty());
    for (const auto& [name, value] : cfg->headers)
      for (char c : value) FUZZ_CHECK(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f);
  } else {
    FUZZ_CHECK(!cfg.error().message.empty());
  }
  return 0;
}
