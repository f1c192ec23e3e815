// sgx: real enclaves on SGX hardware through the in-kernel driver (/dev/sgx_enclave ioctls) and the vDSO's
// __vdso_sgx_enter_enclave, with no SGX SDK. Skips with a reason where there is no SGX.
#pragma once

#include <optional>
#include <string>

#include "backend.h"
#include "sgx/image.h"

namespace epcbench {

// epc_bytes_fallback: the EPC size when the host reports none (BackendOptions::sgx_epc_bytes).
std::unique_ptr<Backend> make_sgx_backend(std::size_t epc_bytes_fallback = 0);

namespace sgx {
// Why real enclaves cannot run here (no device, no vDSO entry point, ...), or nullopt.
std::optional<std::string> sgx_unavailable();
// Total EPC from sysfs (sum over NUMA nodes), else CPUID leaf 0x12; 0 when unknown.
std::size_t host_epc_bytes();

// One enclave built through the driver's real ioctl sequence (CREATE, ADD_PAGES of every segment, INIT with a
// SIGSTRUCT signed by key) and mapped MAP_SHARED segment by segment, without entering it. The caller owns fd
// (closing it and unmapping [base, base + layout.encl_size) releases the enclave).
struct CreateOptions {
  std::uint64_t encl_size = 0;  // ELRANGE size, a power of two >= the image; 0: the smallest that fits
  std::uintptr_t base = 0;      // ELRANGE base (aligned to the size, mapped MAP_FIXED_NOREPLACE); 0: anywhere
  bool debug = false;           // SECS/SIGSTRUCT attribute DEBUG
  bool provision_key = false;   // attribute PROVISIONKEY
  // With provision_key: grant it through /dev/sgx_provision (SGX_IOC_ENCLAVE_PROVISION) before INIT; false
  // leaves it ungranted, and the driver refuses INIT (-EACCES).
  bool grant_provision = true;
  std::uint16_t isvprodid = 0;  // SIGSTRUCT ISVPRODID / ISVSVN
  std::uint16_t isvsvn = 0;
  // Sign an ENCLAVEHASH that is not the image's measurement: EINIT must refuse it (-EPERM).
  bool wrong_measurement = false;
  // A failed INIT is returned as a BuiltEnclave with init_error set, fd open and nothing mapped (the enclave
  // stays alive, uninitialised), not as an error.
  bool keep_uninitialised = false;
  // A SIGSTRUCT an earlier create_enclave returned (BuiltEnclave::sigstruct) for the same layout and options: INIT
  // uses it as is instead of signing again (RSA-3072 signing dominates a small enclave's creation under emulation).
  const Sigstruct* presigned = nullptr;
};
struct BuiltEnclave {
  int fd = -1;
  std::uint8_t* base = nullptr;
  Layout layout;
  Digest mrenclave{};      // the image's measurement (what the SIGSTRUCT signs unless wrong_measurement)
  std::uint64_t attributes = 0;  // SECS attributes
  std::string init_error;  // keep_uninitialised: why INIT failed ("" when it succeeded)
  Sigstruct sigstruct{};   // what INIT was given (CreateOptions::presigned for the next identical enclave)
};
Result<BuiltEnclave> create_enclave(Layout layout, EVP_PKEY* key, const CreateOptions& opts);
}  // namespace sgx

}  // namespace epcbench
