#include "sgx/sgx_backend.h"

#include <asm/sgx.h>
#include <cpuid.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "host/owned_fd.h"
#include "sgx/enclave/encl_abi.h"
#include "sgx/image.h"
#include "sgx/vdso.h"

namespace epcbench {
namespace sgx {
namespace {

constexpr const char* kDevice = "/dev/sgx_enclave";
constexpr const char* kProvisionDevice = "/dev/sgx_provision";
constexpr unsigned kEenter = 2;
constexpr unsigned kEexit = 4;

using EnterFn = int (*)(unsigned long rdi, unsigned long rsi, unsigned long rdx, unsigned int function,
                        unsigned long r8, unsigned long r9, struct sgx_enclave_run* run);

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

class SgxEnclave final : public Enclave {
 public:
  SgxEnclave(int fd, std::uint8_t* base, Layout layout, EnterFn enter)
      : fd_(fd), base_(base), layout_(std::move(layout)), enter_(enter) {}
  ~SgxEnclave() override {
    if (base_ != nullptr) munmap(base_, layout_.encl_size);
  }
  std::size_t heap_pages() const override { return layout_.heap_pages; }

  Result<std::uint64_t> touch(std::span<const std::uint32_t> idx) override {
    encl_op op{};
    op.type = ENCL_OP_TOUCH;
    op.heap_offset = layout_.heap_offset;
    op.heap_pages = layout_.heap_pages;
    op.idx = reinterpret_cast<std::uint64_t>(idx.data());
    op.count = idx.size();
    if (Status st = enter(op); !st) return st.error();
    if (op.result == ENCL_BAD_INDEX) return make_error("page index out of the enclave heap");
    return op.result;
  }
  Status round_trip() override {
    encl_op op{};
    op.type = ENCL_OP_NOP;
    return enter(op);
  }
  EnclaveStats stats() const override { return {}; }  // the driver keeps no per-enclave counters; see exporter

 private:
  Status enter(encl_op& op) {
    sgx_enclave_run run{};
    run.tcs = reinterpret_cast<std::uint64_t>(base_) + layout_.segments.front().offset;
    int rc = enter_(reinterpret_cast<unsigned long>(&op), 0, 0, kEenter, 0, 0, &run);
    if (rc != 0) return make_error("__vdso_sgx_enter_enclave returned " + std::to_string(rc));
    if (run.function != kEexit) {
      char addr[24];
      std::snprintf(addr, sizeof addr, "0x%llx", static_cast<unsigned long long>(run.exception_addr));
      return make_error("enclave did not exit normally: ENCLU leaf " + std::to_string(run.function) +
                        ", exception vector " + std::to_string(run.exception_vector) + " at " + addr);
    }
    return Status::Ok();
  }
  epc::OwnedFd fd_;  // closed after the unmap: the last reference frees the enclave's EPC pages
  std::uint8_t* base_;
  Layout layout_;
  EnterFn enter_;
};

Result<std::unique_ptr<Enclave>> build_enclave(std::size_t heap_pages, EVP_PKEY* key, EnterFn enter) {
  auto lay = layout_from_elf(embedded_enclave_image(), heap_pages);
  if (!lay) return lay.error();
  auto b = create_enclave(std::move(lay.value()), key, {});
  if (!b) return b.error();
  BuiltEnclave& e = b.value();
  return std::unique_ptr<Enclave>(new SgxEnclave(e.fd, e.base, std::move(e.layout), enter));
}

class SgxBackend final : public Backend {
 public:
  explicit SgxBackend(std::size_t epc_fallback)
      : epc_(host_epc_bytes() ? host_epc_bytes() : epc_fallback) {
    if (auto why = sgx_unavailable()) why_ = "sgx backend skipped: " + *why + "; use --backend=sim for the software model";
    if (!why_) {
      auto k = load_private_key_pem(embedded_signing_key_pem());
      if (!k)
        why_ = "sgx backend: " + k.error().message;
      else
        key_ = std::move(k.value());
      enter_ = reinterpret_cast<EnterFn>(vdso_symbol("__vdso_sgx_enter_enclave"));
    }
  }
  std::string name() const override { return "sgx"; }
  std::optional<std::string> unavailable() const override { return why_; }
  std::size_t epc_bytes() const override { return epc_; }
  Result<std::unique_ptr<Enclave>> create(const EnclaveConfig& cfg) override {
    if (why_) return make_error(*why_);
    return build_enclave(cfg.heap_pages, key_.get(), enter_);
  }

 private:
  std::optional<std::string> why_;
  std::size_t epc_;
  Pkey key_;
  EnterFn enter_ = nullptr;
};

}  // namespace

Result<BuiltEnclave> create_enclave(Layout l, EVP_PKEY* key, const CreateOptions& opts) {
  if (opts.encl_size != 0) {
    if ((opts.encl_size & (opts.encl_size - 1)) != 0 || opts.encl_size < l.image_size)
      return make_error("ELRANGE size must be a power of two covering the image");
    l.encl_size = opts.encl_size;
  }
  if (opts.base != 0 && (opts.base & (l.encl_size - 1)) != 0) return make_error("ELRANGE base not aligned to its size");
  const std::uint64_t attributes =
      kAttrMode64Bit | (opts.debug ? kAttrDebug : 0) | (opts.provision_key ? kAttrProvisionKey : 0);
  SigstructOptions so;
  so.attributes = attributes;
  so.isvprodid = opts.isvprodid;
  so.isvsvn = opts.isvsvn;
  const Digest mrenclave = compute_mrenclave(l);
  Digest signed_hash = mrenclave;
  if (opts.wrong_measurement) signed_hash[0] ^= 0xff;
  Sigstruct sig;
  if (opts.presigned) {
    sig = *opts.presigned;
  } else {
    auto ss = make_sigstruct(signed_hash, key, so);
    if (!ss) return ss.error();
    sig = ss.value();
  }

  epc::OwnedFd fd(open(kDevice, O_RDWR | O_CLOEXEC));
  if (!fd) return make_error(errno_text(kDevice));
  std::uintptr_t base = 0;
  if (opts.base != 0) {
    void* area = mmap(reinterpret_cast<void*>(opts.base), l.encl_size, PROT_NONE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (area == MAP_FAILED) return make_error(errno_text("reserve ELRANGE at the requested base"));
    base = opts.base;
  } else {
    // ELRANGE must be naturally aligned to its size: reserve twice the size and trim.
    void* area = mmap(nullptr, l.encl_size * 2, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (area == MAP_FAILED) return make_error(errno_text("reserve ELRANGE"));
    auto a = reinterpret_cast<std::uintptr_t>(area);
    base = (a + l.encl_size - 1) & ~(l.encl_size - 1);
    if (base > a) munmap(area, base - a);
    munmap(reinterpret_cast<void*>(base + l.encl_size), a + l.encl_size - base);
  }
  auto fail = [&](std::string msg) {
    munmap(reinterpret_cast<void*>(base), l.encl_size);
    fd.reset();
    return make_error(std::move(msg));
  };

  auto secs = std::make_unique<Secs>();  // page aligned; only read during the ioctl
  std::memset(secs.get(), 0, sizeof(Secs));
  secs->size = l.encl_size;
  secs->base = base;
  secs->ssa_frame_size = l.ssa_frame_size;
  secs->attributes = attributes;
  secs->xfrm = kXfrmLegacy;
  sgx_enclave_create create{reinterpret_cast<std::uint64_t>(secs.get())};
  if (ioctl(fd.get(), SGX_IOC_ENCLAVE_CREATE, &create) != 0) return fail(errno_text("SGX_IOC_ENCLAVE_CREATE"));

  // Zero source for the heap: untouched anonymous memory reads as the shared zero page.
  void* zeros = nullptr;
  for (const Segment& s : l.segments) {
    const std::uint8_t* src = s.src;
    if (src == nullptr) {
      zeros = mmap(nullptr, s.size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (zeros == MAP_FAILED) return fail(errno_text("mmap zero source"));
      src = static_cast<const std::uint8_t*>(zeros);
    }
    alignas(64) Secinfo secinfo;
    std::memset(&secinfo, 0, sizeof secinfo);
    secinfo.flags = s.secinfo_flags;
    std::uint64_t done = 0;
    while (done < s.size) {
      sgx_enclave_add_pages add{};
      add.src = reinterpret_cast<std::uint64_t>(src + done);
      add.offset = s.offset + done;
      add.length = s.size - done;
      add.secinfo = reinterpret_cast<std::uint64_t>(&secinfo);
      add.flags = s.measure ? SGX_PAGE_MEASURE : 0;
      int rc = ioctl(fd.get(), SGX_IOC_ENCLAVE_ADD_PAGES, &add);
      done += add.count;  // the driver stops early on a pending signal: continue from there
      if ((rc != 0 && errno != EINTR && errno != EAGAIN) || (rc == 0 && add.count == 0)) {
        if (zeros != nullptr) munmap(zeros, s.size);
        return fail(errno_text("SGX_IOC_ENCLAVE_ADD_PAGES"));
      }
    }
    if (zeros != nullptr) {
      munmap(zeros, s.size);
      zeros = nullptr;
    }
  }
  if (opts.provision_key && opts.grant_provision) {
    epc::OwnedFd pfd(open(kProvisionDevice, O_RDONLY | O_CLOEXEC));
    if (!pfd) return fail(errno_text(kProvisionDevice));
    sgx_enclave_provision prov{};
    prov.fd = static_cast<std::uint64_t>(pfd.get());
    int prc = ioctl(fd.get(), SGX_IOC_ENCLAVE_PROVISION, &prov);
    int saved = errno;
    pfd.reset();
    errno = saved;
    if (prc != 0) return fail(errno_text("SGX_IOC_ENCLAVE_PROVISION"));
  }
  auto built = [&](std::string init_error) {
    BuiltEnclave b;
    b.fd = fd.release();  // the caller owns it from here
    b.base = reinterpret_cast<std::uint8_t*>(base);
    b.layout = std::move(l);
    b.mrenclave = mrenclave;
    b.attributes = attributes;
    b.init_error = std::move(init_error);
    b.sigstruct = sig;
    return b;
  };
  sgx_enclave_init init{reinterpret_cast<std::uint64_t>(&sig)};
  int rc = ioctl(fd.get(), SGX_IOC_ENCLAVE_INIT, &init);
  if (rc != 0) {
    std::string why = rc > 0 ? "SGX_IOC_ENCLAVE_INIT: EINIT error code " + std::to_string(rc)
                             : errno_text("SGX_IOC_ENCLAVE_INIT");
    if (!opts.keep_uninitialised) return fail(why);
    munmap(reinterpret_cast<void*>(base), l.encl_size);
    return built(std::move(why));
  }
  // Map after EADD: the pages' SECINFO permissions cap what a VMA may map.
  for (const Segment& s : l.segments) {
    void* m = mmap(reinterpret_cast<void*>(base + s.offset), s.size, s.prot, MAP_SHARED | MAP_FIXED, fd.get(), 0);
    if (m == MAP_FAILED) return fail(errno_text("mmap enclave segment"));
  }
  return built("");
}

std::optional<std::string> sgx_unavailable() {
  if (access(kDevice, F_OK) != 0)
    return std::string(kDevice) + " does not exist (no SGX on this host, or the in-kernel driver is not loaded)";
  if (vdso_symbol("__vdso_sgx_enter_enclave") == nullptr)
    return std::string("the vDSO has no __vdso_sgx_enter_enclave (kernel without CONFIG_X86_SGX)");
  epc::OwnedFd fd(open(kDevice, O_RDWR | O_CLOEXEC));
  if (!fd) return errno_text(kDevice);
  // Enclave pages are mapped executable: /dev must not be mounted noexec.
  void* p = mmap(nullptr, 4096, PROT_READ | PROT_EXEC, MAP_SHARED, fd.get(), 0);
  int saved = errno;
  fd.reset();
  if (p == MAP_FAILED) {
    errno = saved;
    return "cannot map " + std::string(kDevice) + " executable (" + errno_text("mmap") + "; is /dev mounted noexec?)";
  }
  munmap(p, 4096);
  return std::nullopt;
}

std::size_t host_epc_bytes() {
  std::size_t total = 0;
  std::error_code ec;
  for (const auto& d : std::filesystem::directory_iterator("/sys/devices/system/node", ec)) {
    std::ifstream f(d.path() / "x86/sgx_total_bytes");
    std::size_t v = 0;
    if (f >> v) total += v;
  }
  if (total > 0) return total;
  unsigned a, b, c, dd;
  if (__get_cpuid_max(0, nullptr) < 0x12) return 0;
  for (unsigned sub = 2; sub < 2 + 8; ++sub) {
    __cpuid_count(0x12, sub, a, b, c, dd);
    if ((a & 0xf) != 1) break;  // type 0: no more sections
    total += (std::size_t{c & 0xfffff000u}) | (std::size_t{dd & 0xfffffu} << 32);
  }
  return total;
}

}  // namespace sgx

std::unique_ptr<Backend> make_sgx_backend(std::size_t epc_bytes_fallback) {
  return std::make_unique<sgx::SgxBackend>(epc_bytes_fallback);
}

}  // namespace epcbench
