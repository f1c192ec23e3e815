#include "tls_compat/ssl_compat.h"

#include <dlfcn.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <string>

namespace epc {

extern const unsigned char kSslShim[];
extern const std::size_t kSslShimSize;
extern const unsigned char kCryptoShim[];
extern const std::size_t kCryptoShimSize;

namespace {

Status load_blob(const char* name, const unsigned char* blob, std::size_t size) {
  int fd = ::memfd_create(name, MFD_CLOEXEC);
  if (fd < 0) return make_error(std::string("memfd_create: ") + std::strerror(errno), errno);
  std::size_t off = 0;
  while (off < size) {
    ssize_t n = ::write(fd, blob + off, size - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = errno;
      ::close(fd);
      return make_error(std::string("writing the OpenSSL shim: ") + std::strerror(err), err);
    }
    off += static_cast<std::size_t>(n);
  }
  std::string path = "/proc/self/fd/" + std::to_string(fd);
  // Kept loaded for the life of the process (never dlclose'd), so CivetWeb's lookups stay valid.
  // The fd stays open: glibc knows a loaded object by its path, and a reused fd number would make a later
  // dlopen of "/proc/self/fd/<n>" return the earlier shim.
  void* h = ::dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (!h) ::close(fd);
  if (!h) {
    const char* e = ::dlerror();
    return make_error(std::string("loading the OpenSSL shim: ") + (e ? e : "unknown error"));
  }
  return {};
}

Status load() {
  // No probing with dlopen("libssl.so", RTLD_NOLOAD) first: when that finds the real library through the
  // development symlink, glibc records "libssl.so" as one of its names and CivetWeb would get it, not the shim.
  if (auto s = load_blob("libcrypto.so", kCryptoShim, kCryptoShimSize); !s) return s;
  return load_blob("libssl.so", kSslShim, kSslShimSize);
}

}  // namespace

Status ensure_civetweb_ssl_compat() {
  static std::once_flag once;
  static Status result;
  std::call_once(once, [] { result = load(); });
  return result;
}

}  // namespace epc
