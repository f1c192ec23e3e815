#include "host/owned_fd.h"

#include <gtest/gtest.h>

#include <fcntl.h>

#include <utility>

namespace epc {
namespace {

bool is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

TEST(OwnedFd, ClosesOnceWhereverItWasMoved) {
  const int raw = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(raw, 0);
  {
    OwnedFd a(raw);
    OwnedFd b(std::move(a));
    EXPECT_FALSE(a);
    EXPECT_EQ(b.get(), raw);
    OwnedFd c;
    c = std::move(b);
    EXPECT_EQ(c.get(), raw);
    EXPECT_TRUE(is_open(raw));
  }
  EXPECT_FALSE(is_open(raw)) << "closed when its last owner went";
}

TEST(OwnedFd, ReleaseHandsItOverAndResetClosesOrReplaces) {
  const int first = ::open("/dev/null", O_RDONLY | O_CLOEXEC), second = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(first, 0);
  ASSERT_GE(second, 0);
  OwnedFd fd(first);
  fd.reset(second);
  EXPECT_FALSE(is_open(first));
  EXPECT_EQ(fd.release(), second);
  EXPECT_FALSE(fd);
  fd.reset();  // holds none: nothing to close
  EXPECT_TRUE(is_open(second)) << "released: no longer ours to close";
  ::close(second);
  OwnedFd assigned(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  const int held = assigned.get();
  assigned = OwnedFd();
  EXPECT_FALSE(is_open(held)) << "assigning another owner closes the one held";
}

}  // namespace
}  // namespace epc
