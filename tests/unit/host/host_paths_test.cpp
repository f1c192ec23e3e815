#include "host/host_paths.h"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>

#include "test_util.h"

namespace epc {
namespace {

// A node tree whose symlinks point out of it, the way a host's do (absolute) and the way an attacker's would
// (../..), next to an "outside" directory holding what must never be read through them.
struct EscapeTree {
  test::TempTree t;
  std::string root = (t.root() / "node").string();
  EscapeTree() {
    t.write("outside/secret", "root:$y$j9T$hash:19000:0:99999:7:::\n");
    t.write("node/etc/secret", "inside\n");
    t.write("node/sys/devices/system/node/node0/x86/sgx_total_bytes", "4096\n");
    t.write("node/var/log/pods/ns_pod_0b1f3f64-3b3a-4d43-9a9e-2ce6f8a54a2b/c/0.log", "");
    t.symlink(t.path("outside/secret").string(), "node/proc/cpuinfo");    // absolute: the root's own /outside...
    t.symlink("../../../outside/secret", "node/proc/self/cgroup");         // relative, climbing out
    t.symlink("/etc/secret", "node/proc/abs_inside");                    // a host's absolute link
    t.symlink("loop2", "node/loop1");
    t.symlink("loop1", "node/loop2");
    t.symlink("../../sys/devices", "node/proc/dev_link");
  }
};

void check_escapes(const std::function<int(std::string_view, int)>& open) {
  auto read = [&](std::string_view p) -> std::string {
    int fd = open(p, O_RDONLY);
    if (fd < 0) return "errno " + std::to_string(errno);
    char buf[256];
    ssize_t n = ::read(fd, buf, sizeof buf);
    ::close(fd);
    return std::string(buf, n > 0 ? static_cast<size_t>(n) : 0);
  };
  // An absolute link resolves inside the root: <root>/work/... does not exist there.
  EXPECT_EQ(read("/proc/cpuinfo"), "errno " + std::to_string(ENOENT));
  // ".." stops at the root: ../../../outside/secret from /proc/self is /outside/secret of the root: absent.
  EXPECT_EQ(read("proc/self/cgroup"), "errno " + std::to_string(ENOENT));
  EXPECT_EQ(read("/proc/abs_inside"), "inside\n");
  EXPECT_EQ(read("proc/dev_link/system/node/node0/x86/sgx_total_bytes"), "4096\n");
  EXPECT_EQ(read("../../outside/secret"), "errno " + std::to_string(ENOENT));
  EXPECT_EQ(read("loop1"), "errno " + std::to_string(ELOOP));
  EXPECT_EQ(read("etc/secret/x"), "errno " + std::to_string(ENOTDIR));
  int dir = open("/sys/devices/../devices/system", O_RDONLY | O_DIRECTORY);
  EXPECT_GE(dir, 0);
  if (dir >= 0) ::close(dir);
}

TEST(HostPaths, SymlinksResolveInsideTheRoot) {
  EscapeTree e;
  HostPaths paths(e.root);
  check_escapes([&](std::string_view p, int flags) { return paths.open(p, flags); });
  if (!paths.uses_openat2()) GTEST_LOG_(INFO) << "no openat2 here: the walk was checked (twice)";
}

TEST(HostPaths, TheWalkWithoutOpenat2ResolvesTheSame) {
  EscapeTree e;
  int root = ::open(e.root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(root, 0);
  check_escapes([&](std::string_view p, int flags) { return open_in_root(root, p, flags); });
  // O_NOFOLLOW on the last component: the link itself with O_PATH, ELOOP otherwise (as openat).
  int link = open_in_root(root, "proc/cpuinfo", O_PATH | O_NOFOLLOW);
  EXPECT_GE(link, 0);
  if (link >= 0) ::close(link);
  EXPECT_EQ(open_in_root(root, "proc/cpuinfo", O_RDONLY | O_NOFOLLOW), -1);
  EXPECT_EQ(errno, ELOOP);
  ::close(root);
}

TEST(HostPaths, ReadsNameTheFileNeverItsContent) {
  EscapeTree e;
  HostPaths paths(e.root);
  auto r = paths.read("/proc/cpuinfo");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find(e.root + "/proc/cpuinfo"), std::string::npos) << r.error().message;
  e.t.write("node/sys/devices/system/node/node1/x86/sgx_total_bytes", "root:$y$j9T$hash:19000\n");
  auto v = paths.read_u64("/sys/devices/system/node/node1/x86/sgx_total_bytes");
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error().message.find("root:"), std::string::npos) << v.error().message;
  EXPECT_EQ(*paths.read_u64("/sys/devices/system/node/node0/x86/sgx_total_bytes"), 4096u);
  auto names = paths.list("/var/log/pods");
  ASSERT_TRUE(names);
  EXPECT_EQ(names->size(), 1u);
  EXPECT_TRUE(paths.exists("/proc/cpuinfo"));  // the link itself is there
  EXPECT_FALSE(paths.exists("/proc/nothing"));
}

}  // namespace
}  // namespace epc
