#include "sim/sim_epc.h"

#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "common/touch.h"

namespace epcbench::sim {
namespace {

constexpr std::size_t kTag = 16;
constexpr std::size_t kSlot = kPageSize + kTag;

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

int open_uffd() {
  // The userfaultfd(2) syscall needs vm.unprivileged_userfaultfd=1 or CAP_SYS_PTRACE; /dev/userfaultfd is the
  // other way in (Linux 6.1+). UFFD_USER_MODE_ONLY: the model only needs faults from user mode.
  int fd = static_cast<int>(syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY));
  if (fd >= 0) return fd;
  int saved = errno;
  if (epc::OwnedFd dev(open("/dev/userfaultfd", O_RDWR | O_CLOEXEC)); dev) {
    fd = ioctl(dev.get(), USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
    if (fd >= 0) return fd;
  }
  errno = saved;
  return -1;
}

// Load-back failures reach the toucher as SIGSEGV on a PROT_NONE page; the thread that is inside guarded()
// jumps back out of its access loop.
thread_local sigjmp_buf* tl_jump = nullptr;
thread_local std::uintptr_t tl_lo = 0, tl_hi = 0;

void on_fault_signal(int sig, siginfo_t* info, void*) {
  auto addr = reinterpret_cast<std::uintptr_t>(info->si_addr);
  if (tl_jump != nullptr && addr >= tl_lo && addr < tl_hi) siglongjmp(*tl_jump, 1);
  // Not ours: restore the default action; returning re-executes the access and the process dies as usual.
  signal(sig, SIG_DFL);
}

void install_signal_handlers() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_sigaction = on_fault_signal;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, nullptr);
    sigaction(SIGBUS, &sa, nullptr);
  });
}

void nonce_for(std::uint32_t idx, std::uint64_t version, std::uint8_t out[12]) {
  std::memcpy(out, &idx, 4);
  std::memcpy(out + 4, &version, 8);
}

}  // namespace

std::optional<std::string> sim_unavailable() {
  epc::OwnedFd fd(open_uffd());
  if (!fd) {
    std::string why = errno_text("userfaultfd");
    std::ifstream f("/proc/sys/vm/unprivileged_userfaultfd");
    int v = -1;
    if (f >> v && v == 0)
      why += " (vm.unprivileged_userfaultfd=0 and no CAP_SYS_PTRACE; run as root or set it to 1)";
    return "sim backend unavailable: " + why;
  }
  uffdio_api api{};
  api.api = UFFD_API;
  api.features = UFFD_FEATURE_PAGEFAULT_FLAG_WP;
  int rc = ioctl(fd.get(), UFFDIO_API, &api);
  int saved = errno;
  fd.reset();
  if (rc != 0) {
    errno = saved;
    return "sim backend unavailable: userfaultfd without write-protect support for anonymous memory (" +
           errno_text("UFFDIO_API") + "; needs Linux 5.7+)";
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------------------
// SimEpc

SimEpc::SimEpc(SimConfig cfg) : cfg_(cfg) {
  if (cfg_.epc_pages < 4) cfg_.epc_pages = 4;
  if (cfg_.low_watermark == 0) cfg_.low_watermark = std::min<std::size_t>(32, std::max<std::size_t>(2, cfg_.epc_pages / 16));
  if (cfg_.high_watermark == 0) cfg_.high_watermark = 2 * cfg_.low_watermark;
  cfg_.low_watermark = std::min(cfg_.low_watermark, cfg_.epc_pages / 2);
  cfg_.high_watermark = std::clamp(cfg_.high_watermark, cfg_.low_watermark, cfg_.epc_pages / 2);
  if (cfg_.batch == 0) cfg_.batch = std::min<std::size_t>(16, std::max<std::size_t>(1, cfg_.low_watermark));
  free_ = cfg_.epc_pages;
}

std::shared_ptr<SimEpc> SimEpc::create(SimConfig cfg) {
  std::shared_ptr<SimEpc> epc(new SimEpc(cfg));
  if (epc->cfg_.background_reclaim) epc->ksgxd_ = std::thread([p = epc.get()] { p->ksgxd_main(); });
  return epc;
}

SimEpc::~SimEpc() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  ksgxd_cv_.notify_all();
  if (ksgxd_.joinable()) ksgxd_.join();
}

std::size_t SimEpc::free_pages() const {
  std::lock_guard lk(mu_);
  return free_;
}

SimStats SimEpc::stats() const {
  std::lock_guard lk(mu_);
  return stats_;
}

void SimEpc::wait_idle() {
  std::unique_lock lk(mu_);
  idle_cv_.wait(lk, [&] {
    return !ksgxd_busy_ && (!cfg_.background_reclaim || free_ >= cfg_.low_watermark || lru_.empty());
  });
}

void SimEpc::maybe_wake_ksgxd_locked() {
  if (cfg_.background_reclaim && free_ < cfg_.low_watermark && !lru_.empty()) ksgxd_cv_.notify_one();
}

void SimEpc::ksgxd_main() {
  std::unique_lock lk(mu_);
  for (;;) {
    ksgxd_cv_.wait(lk, [&] { return stop_ || (free_ < cfg_.low_watermark && !lru_.empty()); });
    if (stop_) break;
    ksgxd_busy_ = true;
    while (!stop_ && free_ < cfg_.high_watermark && !lru_.empty()) {
      reclaim_locked(cfg_.batch);
      ++stats_.ksgxd_passes;
      // Let faults in between batches, as ksgxd does between passes.
      lk.unlock();
      std::this_thread::yield();
      lk.lock();
    }
    ksgxd_busy_ = false;
    idle_cv_.notify_all();
  }
  ksgxd_busy_ = false;
  idle_cv_.notify_all();
}

void SimEpc::reclaim_locked(std::size_t n) {
  for (std::size_t i = 0; i < n && !lru_.empty(); ++i) {
    auto [encl, idx] = lru_.front();
    lru_.pop_front();
    encl->evict_locked(idx);
  }
}

bool SimEpc::reserve_page_locked() {
  if (free_ == 0) {
    reclaim_locked(cfg_.batch);
    ++stats_.direct_passes;
  }
  if (free_ == 0) return false;
  --free_;
  maybe_wake_ksgxd_locked();
  return true;
}

Status SimEpc::check_accounting() const {
  std::lock_guard lk(mu_);
  std::size_t resident = 0;
  for (const SimEnclave* e : enclaves_)
    for (auto st : e->state_) resident += st == SimEnclave::PageState::kResident;
  std::string err;
  if (free_ + resident != cfg_.epc_pages)
    err += "free " + std::to_string(free_) + " + resident " + std::to_string(resident) + " != EPC pages " +
           std::to_string(cfg_.epc_pages) + "; ";
  if (lru_.size() != resident)
    err += "reclaim list holds " + std::to_string(lru_.size()) + " pages, resident " + std::to_string(resident) + "; ";
  std::vector<std::pair<const SimEnclave*, std::uint32_t>> seen(lru_.begin(), lru_.end());
  std::sort(seen.begin(), seen.end());
  if (std::adjacent_find(seen.begin(), seen.end()) != seen.end()) err += "a page is on the reclaim list twice; ";
  for (const auto& [e, idx] : lru_)
    if (e->state_[idx] != SimEnclave::PageState::kResident) {
      err += "a non-resident page is on the reclaim list; ";
      break;
    }
  if (stats_.faults - stats_.evictions - faults_released_ != resident)
    err += "faults - evictions != resident; ";
  if (err.empty()) return Status::Ok();
  return make_error(err);
}

Result<std::unique_ptr<SimEnclave>> SimEpc::create_enclave(std::size_t pages) {
  if (pages == 0) return make_error("heap of 0 pages");
  if (pages > (std::size_t{1} << 31)) return make_error("heap too large");
  std::unique_ptr<SimEnclave> e(new SimEnclave(shared_from_this(), pages));
  if (Status st = e->init(); !st) return st.error();
  std::lock_guard lk(mu_);
  enclaves_.push_back(e.get());
  return e;
}

// ---------------------------------------------------------------------------------------------------------
// SimEnclave

SimEnclave::SimEnclave(std::shared_ptr<SimEpc> epc, std::size_t pages)
    : epc_(std::move(epc)), pages_(pages), state_(pages, PageState::kAbsent), version_(pages, 0), bounce_(kPageSize) {}

Status SimEnclave::init() {
  install_signal_handlers();
  if (RAND_bytes(key_, sizeof key_) != 1) return make_error("RAND_bytes failed");
  cipher_ctx_ = EVP_CIPHER_CTX_new();
  if (cipher_ctx_ == nullptr) return make_error("EVP_CIPHER_CTX_new failed");

  void* p = mmap(nullptr, pages_ * kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return make_error(errno_text("mmap region"));
  base_ = static_cast<std::uint8_t*>(p);
  // 4 KiB granularity: a transparent huge page would make one fault map 512 pages.
  madvise(base_, pages_ * kPageSize, MADV_NOHUGEPAGE);
  p = mmap(nullptr, pages_ * kSlot, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return make_error(errno_text("mmap backing store"));
  backing_ = static_cast<std::uint8_t*>(p);

  uffd_.reset(open_uffd());
  if (!uffd_) return make_error(errno_text("userfaultfd"));
  uffdio_api api{};
  api.api = UFFD_API;
  api.features = UFFD_FEATURE_PAGEFAULT_FLAG_WP;
  if (ioctl(uffd_.get(), UFFDIO_API, &api) != 0) return make_error(errno_text("UFFDIO_API (write-protect)"));
  uffdio_register reg{};
  reg.range.start = reinterpret_cast<std::uintptr_t>(base_);
  reg.range.len = pages_ * kPageSize;
  reg.mode = UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_WP;
  if (ioctl(uffd_.get(), UFFDIO_REGISTER, &reg) != 0) return make_error(errno_text("UFFDIO_REGISTER"));
  stop_fd_.reset(eventfd(0, EFD_CLOEXEC));
  if (!stop_fd_) return make_error(errno_text("eventfd"));
  handler_ = std::thread([this] { handler_main(); });
  return Status::Ok();
}

SimEnclave::~SimEnclave() {
  if (handler_.joinable()) {
    std::uint64_t one = 1;
    (void)!write(stop_fd_.get(), &one, sizeof one);
    handler_.join();
  }
  {
    std::lock_guard lk(epc_->mu_);
    std::size_t resident = 0;
    for (auto s : state_) resident += s == PageState::kResident;
    epc_->free_ += resident;
    epc_->faults_released_ += resident;
    std::erase_if(epc_->lru_, [this](const auto& e) { return e.first == this; });
    std::erase(epc_->enclaves_, this);
    epc_->idle_cv_.notify_all();
  }
  uffd_.reset();
  stop_fd_.reset();
  if (base_ != nullptr) munmap(base_, pages_ * kPageSize);
  if (backing_ != nullptr) munmap(backing_, pages_ * kSlot);
  if (cipher_ctx_ != nullptr) EVP_CIPHER_CTX_free(static_cast<EVP_CIPHER_CTX*>(cipher_ctx_));
}

void SimEnclave::handler_main() {
  pollfd fds[2] = {{uffd_.get(), POLLIN, 0}, {stop_fd_.get(), POLLIN, 0}};
  for (;;) {
    int n = poll(fds, 2, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents != 0) return;
    uffd_msg msg;
    ssize_t r = read(uffd_.get(), &msg, sizeof msg);
    if (r != sizeof msg) continue;  // EAGAIN: another wakeup consumed it
    if (msg.event != UFFD_EVENT_PAGEFAULT) continue;
    std::uintptr_t addr = msg.arg.pagefault.address;
    std::uintptr_t lo = reinterpret_cast<std::uintptr_t>(base_);
    if (addr < lo || addr >= lo + pages_ * kPageSize) continue;
    auto idx = static_cast<std::uint32_t>((addr - lo) / kPageSize);
    if (msg.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP)
      handle_wp(idx);
    else
      handle_missing(idx);
  }
}

void SimEnclave::wake(std::uint32_t idx) {
  uffdio_range r{reinterpret_cast<std::uintptr_t>(base_) + std::uintptr_t{idx} * kPageSize, kPageSize};
  ioctl(uffd_.get(), UFFDIO_WAKE, &r);
}

void SimEnclave::handle_wp(std::uint32_t idx) {
  std::lock_guard lk(epc_->mu_);
  if (state_[idx] == PageState::kResident) {
    // Write-protected but not evicted (should not happen): lift the protection, which wakes the writer.
    uffdio_writeprotect wp{};
    wp.range = {reinterpret_cast<std::uintptr_t>(base_) + std::uintptr_t{idx} * kPageSize, kPageSize};
    wp.mode = 0;
    ioctl(uffd_.get(), UFFDIO_WRITEPROTECT, &wp);
    return;
  }
  // The writer raced an eviction that has completed since: it retries and takes a missing fault.
  wake(idx);
}

void SimEnclave::handle_missing(std::uint32_t idx) {
  std::lock_guard lk(epc_->mu_);
  PageState st = state_[idx];
  if (st == PageState::kResident || st == PageState::kPoisoned) {
    wake(idx);  // already mapped, or dead (PROT_NONE): the retry resolves or signals
    return;
  }
  if (!epc_->reserve_page_locked()) {
    // Nothing to evict and no free page: cannot happen while epc_pages >= 1 and every resident page is in the
    // LRU; fail the access rather than hang.
    failed_ = true;
    state_[idx] = PageState::kPoisoned;
    mprotect(base_ + std::size_t{idx} * kPageSize, kPageSize, PROT_NONE);
    wake(idx);
    return;
  }
  if (st == PageState::kEvicted) {
    auto* ctx = static_cast<EVP_CIPHER_CTX*>(cipher_ctx_);
    std::uint8_t nonce[12];
    nonce_for(idx, version_[idx], nonce);
    std::uint8_t* slot = backing_ + std::size_t{idx} * kSlot;
    int len = 0, fin = 0;
    bool ok = EVP_DecryptInit_ex(ctx, EVP_aes_128_gcm(), nullptr, key_, nonce) == 1 &&
              EVP_DecryptUpdate(ctx, nullptr, &len, nonce, sizeof nonce) == 1 &&  // AAD binds slot and version
              EVP_DecryptUpdate(ctx, bounce_.data(), &len, slot, kPageSize) == 1 &&
              EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, kTag, slot + kPageSize) == 1 &&
              EVP_DecryptFinal_ex(ctx, bounce_.data() + len, &fin) == 1;
    if (!ok) {
      // Never map unverified data: free the budget page, poison the page, fail the enclave.
      std::memset(bounce_.data(), 0, kPageSize);
      ++epc_->free_;
      ++epc_->stats_.integrity_errors;
      failed_ = true;
      state_[idx] = PageState::kPoisoned;
      mprotect(base_ + std::size_t{idx} * kPageSize, kPageSize, PROT_NONE);
      wake(idx);
      return;
    }
    ++epc_->stats_.load_backs;
    ++load_backs_;
  } else {
    std::memset(bounce_.data(), 0, kPageSize);
    ++epc_->stats_.first_touches;
  }
  // Account before UFFDIO_COPY wakes the toucher, so a reader of the counters after its access sees them.
  state_[idx] = PageState::kResident;
  epc_->lru_.emplace_back(this, idx);
  ++epc_->stats_.faults;
  ++faults_;
  uffdio_copy cp{};
  cp.dst = reinterpret_cast<std::uintptr_t>(base_) + std::uintptr_t{idx} * kPageSize;
  cp.src = reinterpret_cast<std::uintptr_t>(bounce_.data());
  cp.len = kPageSize;
  cp.mode = 0;
  if (ioctl(uffd_.get(), UFFDIO_COPY, &cp) != 0 && errno == EEXIST) wake(idx);
}

void SimEnclave::evict_locked(std::uint32_t idx) {
  std::uint8_t* page = base_ + std::size_t{idx} * kPageSize;
  // EBLOCK + ETRACK analogue: from here a store to the page blocks in the WP handler until the page is gone.
  uffdio_writeprotect wp{};
  wp.range = {reinterpret_cast<std::uintptr_t>(page), kPageSize};
  wp.mode = UFFDIO_WRITEPROTECT_MODE_WP;
  ioctl(uffd_.get(), UFFDIO_WRITEPROTECT, &wp);

  auto* ctx = static_cast<EVP_CIPHER_CTX*>(cipher_ctx_);
  std::uint64_t version = ++version_[idx];
  std::uint8_t nonce[12];
  nonce_for(idx, version, nonce);
  std::uint8_t* slot = backing_ + std::size_t{idx} * kSlot;
  int len = 0, fin = 0;
  bool ok = EVP_EncryptInit_ex(ctx, EVP_aes_128_gcm(), nullptr, key_, nonce) == 1 &&
            EVP_EncryptUpdate(ctx, nullptr, &len, nonce, sizeof nonce) == 1 &&
            EVP_EncryptUpdate(ctx, slot, &len, page, kPageSize) == 1 &&
            EVP_EncryptFinal_ex(ctx, slot + len, &fin) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, kTag, slot + kPageSize) == 1;
  if (!ok) std::memset(slot + kPageSize, 0, kTag);  // a bad tag: the load-back reports it instead of mapping garbage
  madvise(page, kPageSize, MADV_DONTNEED);
  state_[idx] = PageState::kEvicted;
  ++epc_->free_;
  ++epc_->stats_.evictions;
  ++evictions_;
}

Status SimEnclave::guarded(const std::function<void(std::uint8_t* base)>& fn) {
  if (failed_) return make_error("enclave failed earlier (integrity check failed on load-back)");
  sigjmp_buf jb;
  tl_lo = reinterpret_cast<std::uintptr_t>(base_);
  tl_hi = tl_lo + pages_ * kPageSize;
  if (sigsetjmp(jb, 1) != 0) {
    tl_jump = nullptr;
    return make_error(
        "integrity check failed on load-back: the backing copy of an evicted page does not verify (AES-GCM tag "
        "mismatch); the page was not mapped and the enclave is marked failed");
  }
  tl_jump = &jb;
  fn(base_);
  tl_jump = nullptr;
  return Status::Ok();
}

Result<std::uint64_t> SimEnclave::touch(std::span<const std::uint32_t> idx) {
  std::uint64_t sum = 0;
  Status st = guarded([&](std::uint8_t* base) { sum = touch_pages(base, idx); });
  if (!st) return st.error();
  return sum;
}

EnclaveStats SimEnclave::stats() const {
  EnclaveStats s;
  s.faults = faults_.load();
  s.load_backs = load_backs_.load();
  s.evictions = evictions_.load();
  return s;
}

bool SimEnclave::resident(std::size_t idx) const {
  std::lock_guard lk(epc_->mu_);
  return idx < pages_ && state_[idx] == PageState::kResident;
}

bool SimEnclave::evicted(std::size_t idx) const {
  std::lock_guard lk(epc_->mu_);
  return idx < pages_ && state_[idx] == PageState::kEvicted;
}

std::span<std::uint8_t> SimEnclave::backing_for_test(std::size_t idx) {
  return {backing_ + idx * kSlot, kSlot};
}

}  // namespace epcbench::sim
