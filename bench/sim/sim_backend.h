#pragma once

#include "backend.h"
#include "sim/sim_epc.h"

namespace epcbench {

// Every enclave the backend creates shares one model EPC (pods contending for the same EPC).
std::unique_ptr<Backend> make_sim_backend(const BackendOptions& opts);

}  // namespace epcbench
