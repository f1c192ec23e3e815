// sim: a software model of SGX EPC paging that runs on any Linux host.
//
// Each model enclave owns an anonymous region registered with userfaultfd (missing + write-protect modes). The
// model EPC is a page budget shared by every enclave of one SimEpc. A fault on a region page takes one page of
// the budget and maps the page with UFFDIO_COPY: zeroes on first touch, or the decrypted and verified copy from
// the backing store (ELDU). When the budget runs low, pages are evicted (EWB): write-protected (the model's
// EBLOCK/ETRACK: a concurrent writer blocks instead of losing its store), encrypted and MACed with AES-128-GCM
// into the backing store, then zapped with MADV_DONTNEED so the next touch faults again. The nonce is (page
// index, per-page version) and the version is kept in model-trusted memory (the VA slot analogue), so a
// modified, swapped or replayed backing page fails verification: the page is not mapped, the toucher gets an
// error (the kernel sends SIGBUS for a failed ELDU), and the enclave is marked failed.
//
// Reclaim follows the kernel's ksgxd (arch/x86/kernel/cpu/sgx/main.c): a background thread wakes when free
// pages drop below the low watermark and reclaims in batches until they reach the high watermark; an
// allocation that finds no free page reclaims one batch synchronously (direct reclaim). Victims are taken in
// FIFO order of mapping (the kernel ages pages by their accessed bit, which the model does not see).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "backend.h"
#include "host/owned_fd.h"

namespace epcbench::sim {

struct SimConfig {
  std::size_t epc_pages = 4096;
  std::size_t low_watermark = 0;   // 0 = min(32, max(2, epc_pages / 16)); the kernel uses 32
  std::size_t high_watermark = 0;  // 0 = 2 * low; the kernel uses 64
  std::size_t batch = 0;           // 0 = min(16, low); the kernel scans 16 pages per pass
  bool background_reclaim = true;  // false: direct reclaim only
};

struct SimStats {
  std::uint64_t faults = 0;        // missing faults served
  std::uint64_t first_touches = 0;
  std::uint64_t load_backs = 0;    // ELDU analogue
  std::uint64_t evictions = 0;     // EWB analogue
  std::uint64_t ksgxd_passes = 0;
  std::uint64_t direct_passes = 0;
  std::uint64_t integrity_errors = 0;
};

// Why the model cannot run here, or nullopt (probes userfaultfd with write-protect support).
std::optional<std::string> sim_unavailable();

class SimEnclave;

class SimEpc : public std::enable_shared_from_this<SimEpc> {
 public:
  static std::shared_ptr<SimEpc> create(SimConfig cfg);
  ~SimEpc();
  SimEpc(const SimEpc&) = delete;
  SimEpc& operator=(const SimEpc&) = delete;

  const SimConfig& config() const { return cfg_; }
  std::size_t free_pages() const;
  SimStats stats() const;
  // Blocks until the background reclaimer has nothing to do (free >= low or nothing left to evict).
  void wait_idle();
  // The model's bookkeeping is consistent: free + resident pages of all enclaves == EPC pages, every resident
  // page is on the reclaim list once, and counters agree (faults - evictions == resident). nullopt when so.
  Status check_accounting() const;

  Result<std::unique_ptr<SimEnclave>> create_enclave(std::size_t pages);

 private:
  friend class SimEnclave;
  explicit SimEpc(SimConfig cfg);
  void ksgxd_main();
  // All *_locked functions run with mu_ held.
  bool reserve_page_locked();  // takes one page of the budget, reclaiming directly if none is free
  void reclaim_locked(std::size_t n);
  void maybe_wake_ksgxd_locked();

  SimConfig cfg_;
  mutable std::mutex mu_;
  std::condition_variable ksgxd_cv_;
  std::condition_variable idle_cv_;
  std::size_t free_ = 0;
  bool ksgxd_busy_ = false;
  bool stop_ = false;
  std::deque<std::pair<SimEnclave*, std::uint32_t>> lru_;  // resident pages, oldest first
  std::vector<SimEnclave*> enclaves_;                       // live enclaves (for check_accounting)
  std::uint64_t faults_released_ = 0;                       // faults - evictions of destroyed enclaves
  SimStats stats_;
  std::thread ksgxd_;
};

class SimEnclave final : public Enclave {
 public:
  ~SimEnclave() override;
  std::size_t heap_pages() const override { return pages_; }
  Result<std::uint64_t> touch(std::span<const std::uint32_t> idx) override;
  EnclaveStats stats() const override;

  // Runs fn(base) on this thread with load-back failures turned into an error instead of a crash.
  Status guarded(const std::function<void(std::uint8_t* base)>& fn);
  bool failed() const { return failed_.load(); }
  bool resident(std::size_t idx) const;
  bool evicted(std::size_t idx) const;
  // The untrusted backing copy of an evicted page (ciphertext followed by the 16-byte tag), for tamper tests.
  std::span<std::uint8_t> backing_for_test(std::size_t idx);

 private:
  friend class SimEpc;
  enum class PageState : std::uint8_t { kAbsent, kResident, kEvicted, kPoisoned };
  SimEnclave(std::shared_ptr<SimEpc> epc, std::size_t pages);
  Status init();
  void handler_main();
  void handle_missing(std::uint32_t idx);
  void handle_wp(std::uint32_t idx);
  void evict_locked(std::uint32_t idx);
  void wake(std::uint32_t idx);

  std::shared_ptr<SimEpc> epc_;
  std::size_t pages_;
  std::uint8_t* base_ = nullptr;
  std::uint8_t* backing_ = nullptr;  // pages_ * (4096 + 16)
  epc::OwnedFd uffd_;
  epc::OwnedFd stop_fd_;
  std::vector<PageState> state_;
  std::vector<std::uint64_t> version_;  // model-trusted (VA slot analogue)
  std::uint8_t key_[16];
  void* cipher_ctx_ = nullptr;          // EVP_CIPHER_CTX*
  std::vector<std::uint8_t> bounce_;    // one page
  std::atomic<bool> failed_{false};
  std::atomic<std::uint64_t> faults_{0}, load_backs_{0}, evictions_{0};
  std::thread handler_;
};

}  // namespace epcbench::sim
