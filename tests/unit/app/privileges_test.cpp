#include "app/privileges.h"

#include <linux/bpf.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
#include <thread>

namespace epc {
namespace {

// Runs fn in a forked child (capability changes must not leak into the test process); returns its exit code.
template <class F>
int in_child(F fn) {
  pid_t pid = fork();
  if (pid == 0) _exit(fn());
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 100;
}

TEST(Privileges, ReadsOwnState) {
  auto s = read_capability_state();
  ASSERT_TRUE(s) << s.error().message;
}

TEST(Privileges, CapabilityNames) {
  EXPECT_EQ(capability_names(0), "0");
  EXPECT_EQ(capability_names(1ULL << 10), "cap_net_bind_service");
  EXPECT_EQ(capability_names((1ULL << 21) | (1ULL << 39)), "cap_sys_admin,cap_bpf");
}

TEST(Privileges, DropsEverythingAndSetsNoNewPrivs) {
  auto s = read_capability_state();
  ASSERT_TRUE(s);
  if (s->effective == 0) GTEST_SKIP() << "needs capabilities to drop (run as root; CI does)";
  int rc = in_child([] {
    if (!drop_capabilities({}, true)) return 1;
    auto after = read_capability_state();
    if (!after) return 2;
    if (after->effective || after->permitted || after->inheritable || after->ambient || after->bounding) return 3;
    if (!after->no_new_privs) return 4;
    // Still works without capabilities: what the collectors read in the steady state.
    std::ifstream cg("/proc/1/cgroup"), mounts("/proc/self/mountinfo");
    std::string line;
    if (!std::getline(cg, line) || !std::getline(mounts, line)) return 5;
    // And what needs a capability is refused now: raising one back.
    if (drop_capabilities({21}, true) && read_capability_state()->effective != 0) return 6;
    return 0;
  });
  EXPECT_EQ(rc, 0);
}

TEST(Privileges, KeepsWhatItIsAskedToKeep) {
  auto s = read_capability_state();
  ASSERT_TRUE(s);
  if (!(s->permitted >> 10 & 1)) GTEST_SKIP() << "needs CAP_NET_BIND_SERVICE (run as root; CI does)";
  int rc = in_child([] {
    if (!drop_capabilities({10}, true)) return 1;
    auto after = read_capability_state();
    return after && after->effective == (1ULL << 10) && after->bounding == (1ULL << 10) ? 0 : 2;
  });
  EXPECT_EQ(rc, 0);
}

TEST(Privileges, RefusesWhenOtherThreadsWouldKeepTheirs) {
  int rc = in_child([] {
    std::thread t([] { sleep(1); });
    auto s = drop_capabilities({}, false);
    t.join();
    return s ? 1 : 0;
  });
  EXPECT_EQ(rc, 0);
}

}  // namespace
}  // namespace epc

namespace epc {
namespace {

TEST(Privileges, SteadyStateKeepsCapBpfOnlyWhereOldKernelsNeedIt) {
  const std::vector<int> bpf = {39};
  EXPECT_EQ(steady_state_capabilities("6.1.0-56-amd64", 2, true), bpf);   // Debian 12
  EXPECT_EQ(steady_state_capabilities("5.15.0-1064-azure", 1, true), bpf);
  EXPECT_EQ(steady_state_capabilities("6.4.16", 2, true), bpf);
  EXPECT_TRUE(steady_state_capabilities("6.5.0", 2, true).empty());
  EXPECT_TRUE(steady_state_capabilities("6.12.100+deb12-amd64", 2, true).empty());
  EXPECT_TRUE(steady_state_capabilities("10.0", 2, true).empty());
  EXPECT_TRUE(steady_state_capabilities("6.1.0", 0, true).empty());   // unprivileged bpf allowed
  EXPECT_TRUE(steady_state_capabilities("6.1.0", 2, false).empty());  // no BPF objects held
  EXPECT_EQ(steady_state_capabilities("garbage", 2, true), bpf);      // unknown: assume old
}

TEST(Privileges, SeesHeldBpfObjects) {
  // Nothing BPF is open in this test process yet.
  EXPECT_FALSE(process_holds_bpf_objects());
  bpf_attr attr{};
  attr.map_type = BPF_MAP_TYPE_ARRAY;
  attr.key_size = 4;
  attr.value_size = 8;
  attr.max_entries = 1;
  int fd = static_cast<int>(syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof attr));
  if (fd < 0) GTEST_SKIP() << "cannot create a BPF map here (needs root / CAP_BPF; CI has it)";
  EXPECT_TRUE(process_holds_bpf_objects());
  close(fd);
  EXPECT_FALSE(process_holds_bpf_objects());
}

}  // namespace
}  // namespace epc
