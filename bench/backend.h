// One interface for the three benchmark backends (sgx, sim, native): a backend creates "enclaves" that own a
// heap of a given number of 4 KiB pages and touch those pages on request. Workloads (workloads.h) only see this
// interface, so the same access pattern runs on real EPC, on the software EPC model and on plain memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "host/result.h"

namespace epcbench {

inline constexpr std::size_t kPageSize = 4096;

// Recoverable errors are values, in the project's vocabulary (exporter/host/result.h).
using epc::Error;
using epc::make_error;
using epc::Result;
using epc::Status;

// Counters a backend can report for one enclave; fields a backend cannot observe stay nullopt.
struct EnclaveStats {
  std::optional<std::uint64_t> faults;      // page faults served (first touches and load-backs)
  std::optional<std::uint64_t> evictions;   // pages written out (EWB in SGX)
  std::optional<std::uint64_t> load_backs;  // pages brought back (ELDU in SGX)
};

class Enclave {
 public:
  virtual ~Enclave() = default;
  virtual std::size_t heap_pages() const = 0;
  // Touches heap page idx[i] for every i: reads and increments the first 8 bytes of the page. Returns the sum
  // of the values read (so the compiler cannot drop the touches) or an error (e.g. integrity failure on
  // load-back). Indices must be < heap_pages().
  virtual Result<std::uint64_t> touch(std::span<const std::uint32_t> idx) = 0;
  // One enclave entry and exit with no work (sgx only; others return an error).
  virtual Status round_trip() { return make_error("round trip is only defined for the sgx backend"); }
  virtual EnclaveStats stats() const = 0;
};

struct EnclaveConfig {
  std::size_t heap_pages = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  // nullopt when usable here; otherwise why not (the benchmark skips with this message).
  virtual std::optional<std::string> unavailable() const = 0;
  // The EPC size the workloads scale against: the real EPC (sgx), the model EPC (sim), or the model size the
  // native baseline is compared with.
  virtual std::size_t epc_bytes() const = 0;
  virtual Result<std::unique_ptr<Enclave>> create(const EnclaveConfig& cfg) = 0;
};

struct BackendOptions {
  std::size_t model_epc_bytes = 16u << 20;  // sim (and the native baseline's reference size)
  // sgx: the EPC size to plan working sets with when the host does not say (no sysfs sgx_total_bytes, no CPUID
  // leaf 0x12, e.g. a guest whose hypervisor hides it); 0 = the host's only.
  std::size_t sgx_epc_bytes = 0;
  std::size_t low_watermark_pages = 0;      // 0 = derived from the model size (see sim/sim_epc.h)
  std::size_t high_watermark_pages = 0;
};

// Factory: "sgx", "sim" or "native"; nullptr for an unknown name.
std::unique_ptr<Backend> make_backend(const std::string& name, const BackendOptions& opts);

}  // namespace epcbench
