// Build-time tool: writes a fresh RSA-3072 (e=3) enclave signing key as PEM. The key lives in the build tree
// only and is embedded into the benchmark binary; with flexible launch control any signer may launch.
#include <openssl/pem.h>

#include <cstdio>

#include "sgx/image.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT.pem\n", argv[0]);
    return 2;
  }
  auto key = epcbench::sgx::generate_signing_key();
  if (!key) {
    std::fprintf(stderr, "epc_sgx_keygen: %s\n", key.error().message.c_str());
    return 1;
  }
  FILE* f = std::fopen(argv[1], "w");
  if (f == nullptr) {
    std::perror(argv[1]);
    return 1;
  }
  bool ok = PEM_write_PrivateKey(f, key.value().get(), nullptr, nullptr, 0, nullptr, nullptr) == 1;
  ok = std::fclose(f) == 0 && ok;
  if (!ok) {
    std::fprintf(stderr, "epc_sgx_keygen: writing %s failed\n", argv[1]);
    return 1;
  }
  return 0;
}
