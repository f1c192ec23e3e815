#include "backend.h"
#include "native/native_backend.h"
#include "sgx/sgx_backend.h"
#include "sim/sim_backend.h"

namespace epcbench {

std::unique_ptr<Backend> make_backend(const std::string& name, const BackendOptions& opts) {
  if (name == "sim") return make_sim_backend(opts);
  if (name == "native") return make_native_backend(opts.model_epc_bytes);
  if (name == "sgx") return make_sgx_backend(opts.sgx_epc_bytes);
  return nullptr;
}

}  // namespace epcbench
