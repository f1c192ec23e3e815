// Finds a symbol in the vDSO the kernel mapped into this process (AT_SYSINFO_EHDR), without libc help:
// __vdso_sgx_enter_enclave has no libc wrapper.
#pragma once

#include <string_view>

namespace epcbench::sgx {

// Address of the vDSO's dynamic symbol `name` (version ignored), or nullptr.
void* vdso_symbol(std::string_view name);

}  // namespace epcbench::sgx
