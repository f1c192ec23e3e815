// The enclave image: ELF PT_LOAD segments -> EADD regions, plus the heap; MRENCLAVE computed in software the
// way ECREATE/EADD/EEXTEND extend it (SDM Vol. 3D 34.x; same records as the kernel's SGX selftests); and
// SIGSTRUCT signed with RSA-3072, exponent 3.
#pragma once

#include <openssl/evp.h>

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "backend.h"
#include "sgx/sgx_arch.h"

namespace epcbench::sgx {

struct Segment {
  std::uint64_t offset = 0;         // from the enclave base
  std::uint64_t size = 0;           // bytes, page multiple
  std::uint64_t secinfo_flags = 0;  // SECINFO.FLAGS (page type << 8 | RWX)
  int prot = 0;                     // PROT_* for the host mapping
  bool measure = true;              // EEXTEND each page
  const std::uint8_t* src = nullptr;  // size bytes; nullptr = zero pages
};

struct Layout {
  std::vector<Segment> segments;  // in EADD order; TCS first, heap last
  std::uint64_t image_size = 0;   // end of the last segment
  std::uint64_t encl_size = 0;    // ELRANGE size: power of two >= image_size
  std::uint64_t heap_offset = 0;
  std::uint64_t heap_pages = 0;
  std::uint32_t ssa_frame_size = 1;
};

// Parses a static-pie enclave ELF (three PT_LOAD segments: TCS RW, text RX, data RW; see
// enclave/encl.lds) and appends a heap of heap_pages unmeasured RW pages. elf must outlive the layout.
Result<Layout> layout_from_elf(std::span<const std::uint8_t> elf, std::uint64_t heap_pages);

using Digest = std::array<std::uint8_t, 32>;
Digest compute_mrenclave(const Layout& layout);
// Lower-case hex, as sgx_enclave_info's mrenclave and mrsigner labels carry it.
std::string digest_hex(const Digest& d);

struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

Result<Pkey> load_private_key_pem(std::span<const std::uint8_t> pem);
// Generates an RSA-3072 key with public exponent 3 (what EINIT requires).
Result<Pkey> generate_signing_key();

struct SigstructOptions {
  std::uint64_t attributes = kAttrMode64Bit;
  std::uint64_t xfrm = kXfrmLegacy;
  std::uint32_t date_bcd = 0x20260101;
  std::uint16_t isvprodid = 0;
  std::uint16_t isvsvn = 0;
};

// MRSIGNER of the enclaves a key signs: SHA-256 of the 384-byte little-endian modulus, as SIGSTRUCT carries it.
Digest mrsigner_of(EVP_PKEY* key);

Result<Sigstruct> make_sigstruct(const Digest& mrenclave, EVP_PKEY* key, const SigstructOptions& opts = {});

// The embedded enclave image and the signing key generated at build time.
std::span<const std::uint8_t> embedded_enclave_image();
std::span<const std::uint8_t> embedded_signing_key_pem();

}  // namespace epcbench::sgx
