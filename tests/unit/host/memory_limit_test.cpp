#include "host/memory_limit.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace epc {
namespace {

TEST(MemoryLimit, ParsesProcSelfCgroup) {
  auto v2 = parse_self_cgroup("0::/kubepods.slice/kubepods-burstable.slice/cri-containerd-ab.scope\n");
  EXPECT_EQ(v2.v2, "/kubepods.slice/kubepods-burstable.slice/cri-containerd-ab.scope");
  EXPECT_EQ(v2.v1_memory, "");
  auto hybrid = parse_self_cgroup("12:cpu,cpuacct:/x\n4:memory:/process_api/d14\n1:name=systemd:/\n0::/\n");
  EXPECT_EQ(hybrid.v1_memory, "/process_api/d14");
  EXPECT_EQ(hybrid.v2, "/");
  EXPECT_EQ(parse_self_cgroup("5:blkio,memory:/docker/9f\n").v1_memory, "/docker/9f");
  EXPECT_EQ(parse_self_cgroup("garbage\n\n3:memoryx:/no\n").v1_memory, "");
}

TEST(MemoryLimit, ParsesLimitFiles) {
  EXPECT_EQ(parse_memory_limit("134217728\n"), 134217728u);
  EXPECT_FALSE(parse_memory_limit("max\n"));
  EXPECT_FALSE(parse_memory_limit("9223372036854771712\n"));  // cgroup v1: no limit
  EXPECT_FALSE(parse_memory_limit(""));
  EXPECT_FALSE(parse_memory_limit("12 MiB"));
}

TEST(MemoryLimit, TheLowestLimitOnTheCgroupPathOrMemTotal) {
  test::TempTree t;
  t.write("proc/meminfo", "MemTotal:        2048000 kB\nMemFree:  1 kB\n");
  // No cgroup limit anywhere: the machine's memory.
  t.write("proc/self/cgroup", "0::/system.slice/epc-exporter.service\n");
  t.write("sys/fs/cgroup/system.slice/epc-exporter.service/memory.max", "max\n");
  auto l = process_memory_limit(t.root().string());
  ASSERT_TRUE(l);
  EXPECT_EQ(l->bytes, 2048000u * 1024);
  EXPECT_EQ(l->source, "/proc/meminfo MemTotal");
  // A limit on an ancestor bounds the cgroup (a Kubernetes pod's limit is on the pod's slice).
  t.write("sys/fs/cgroup/system.slice/memory.max", "268435456\n");
  l = process_memory_limit(t.root().string());
  ASSERT_TRUE(l);
  EXPECT_EQ(l->bytes, 268435456u);
  EXPECT_EQ(l->source, "/sys/fs/cgroup/system.slice/memory.max");
  // Its own, lower: that one.
  t.write("sys/fs/cgroup/system.slice/epc-exporter.service/memory.max", "134217728\n");
  EXPECT_EQ(process_memory_limit(t.root().string())->bytes, 134217728u);
  // In a container's cgroup namespace its own cgroup is the root of what it sees.
  t.write("proc/self/cgroup", "0::/\n");
  t.write("sys/fs/cgroup/memory.max", "100663296\n");
  EXPECT_EQ(process_memory_limit(t.root().string())->bytes, 100663296u);
}

TEST(MemoryLimit, CgroupV1MemoryHierarchy) {
  test::TempTree t;
  t.write("proc/meminfo", "MemTotal:        2048000 kB\n");
  t.write("proc/self/cgroup", "4:memory:/kubepods/pod1/c1\n0::/\n");
  t.write("sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n");
  t.write("sys/fs/cgroup/memory/kubepods/pod1/c1/memory.limit_in_bytes", "134217728\n");
  auto l = process_memory_limit(t.root().string());
  ASSERT_TRUE(l);
  EXPECT_EQ(l->bytes, 134217728u);
  EXPECT_EQ(l->source, "/sys/fs/cgroup/memory/kubepods/pod1/c1/memory.limit_in_bytes");
  // A path that tries to climb out of the hierarchy is not followed.
  t.write("proc/self/cgroup", "4:memory:/../../etc\n");
  EXPECT_EQ(process_memory_limit(t.root().string())->source, "/proc/meminfo MemTotal");
}

}  // namespace
}  // namespace epc
