// native: the workloads on plain process memory, the baseline every slowdown is measured against.
#pragma once

#include "backend.h"

namespace epcbench {

std::unique_ptr<Backend> make_native_backend(std::size_t reference_epc_bytes);

}  // namespace epcbench
