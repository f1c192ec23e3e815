#include "native/native_backend.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>

#include "common/touch.h"

namespace epcbench {
namespace {

class NativeEnclave final : public Enclave {
 public:
  NativeEnclave(std::uint8_t* base, std::size_t pages) : base_(base), pages_(pages) {}
  ~NativeEnclave() override { munmap(base_, pages_ * kPageSize); }
  std::size_t heap_pages() const override { return pages_; }
  Result<std::uint64_t> touch(std::span<const std::uint32_t> idx) override { return touch_pages(base_, idx); }
  EnclaveStats stats() const override { return {}; }

 private:
  std::uint8_t* base_;
  std::size_t pages_;
};

class NativeBackend final : public Backend {
 public:
  explicit NativeBackend(std::size_t ref) : ref_(ref) {}
  std::string name() const override { return "native"; }
  std::optional<std::string> unavailable() const override { return std::nullopt; }
  std::size_t epc_bytes() const override { return ref_; }
  Result<std::unique_ptr<Enclave>> create(const EnclaveConfig& cfg) override {
    if (cfg.heap_pages == 0) return make_error("heap of 0 pages");
    // Populated up front, as an SGX heap is EADDed at build time: the baseline measures touches, not first faults.
    void* p = mmap(nullptr, cfg.heap_pages * kPageSize, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED)
      return make_error(std::string("mmap: ") + std::strerror(errno));
    return std::unique_ptr<Enclave>(new NativeEnclave(static_cast<std::uint8_t*>(p), cfg.heap_pages));
  }

 private:
  std::size_t ref_;
};

}  // namespace

std::unique_ptr<Backend> make_native_backend(std::size_t reference_epc_bytes) {
  return std::make_unique<NativeBackend>(reference_epc_bytes);
}

}  // namespace epcbench
