#include "sim/sim_backend.h"

namespace epcbench {
namespace {

class SimBackend final : public Backend {
 public:
  explicit SimBackend(const BackendOptions& o) : opts_(o), why_(sim::sim_unavailable()) {}
  std::string name() const override { return "sim"; }
  std::optional<std::string> unavailable() const override { return why_; }
  std::size_t epc_bytes() const override { return opts_.model_epc_bytes; }
  Result<std::unique_ptr<Enclave>> create(const EnclaveConfig& cfg) override {
    if (why_) return make_error(*why_);
    if (!epc_) {
      sim::SimConfig c;
      c.epc_pages = opts_.model_epc_bytes / kPageSize;
      c.low_watermark = opts_.low_watermark_pages;
      c.high_watermark = opts_.high_watermark_pages;
      epc_ = sim::SimEpc::create(c);
    }
    auto e = epc_->create_enclave(cfg.heap_pages);
    if (!e) return e.error();
    return std::unique_ptr<Enclave>(std::move(e.value()));
  }

 private:
  BackendOptions opts_;
  std::optional<std::string> why_;
  std::shared_ptr<sim::SimEpc> epc_;
};

}  // namespace

std::unique_ptr<Backend> make_sim_backend(const BackendOptions& opts) { return std::make_unique<SimBackend>(opts); }

}  // namespace epcbench
