// A file descriptor with one owner: closed when its owner goes, moved never copied. The one fd owner of the tree
// (host, collectors, probes, bench): a descriptor is wrapped where it is made, so no error path forgets to close it.
#pragma once

#include <unistd.h>

#include <utility>

namespace epc {

class OwnedFd {
 public:
  OwnedFd() = default;
  explicit OwnedFd(int fd) : fd_(fd) {}
  OwnedFd(OwnedFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  OwnedFd& operator=(OwnedFd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  OwnedFd(const OwnedFd&) = delete;
  OwnedFd& operator=(const OwnedFd&) = delete;
  ~OwnedFd() { reset(); }

  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  // Hands the descriptor to a new owner (a library object that closes it); this one holds none after.
  int release() { return std::exchange(fd_, -1); }
  // Closes the descriptor now (close(2)'s result is not an error to act on for a read-only or a probe fd).
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace epc
