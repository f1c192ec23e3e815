// sgx: real enclaves on SGX hardware through the in-kernel driver (/dev/sgx_enclave ioctls) and the vDSO's
// __vdso_sgx_enter_enclave, with no SGX SDK. Skips with a reason where there is no SGX.
#pragma once

#include <optional>
#include <string>

#include "backend.h"

namespace epcbench {

std::unique_ptr<Backend> make_sgx_backend();

namespace sgx {
// Why real enclaves cannot run here (no device, no vDSO entry point, ...), or nullopt.
std::optional<std::string> sgx_unavailable();
// Total EPC from sysfs (sum over NUMA nodes), else CPUID leaf 0x12; 0 when unknown.
std::size_t host_epc_bytes();
}  // namespace sgx

}  // namespace epcbench
