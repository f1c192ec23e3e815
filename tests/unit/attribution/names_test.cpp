#include "attribution/names.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace epc {
namespace {

TEST(PodLogDir, Parses) {
  auto p = parse_pod_log_dir("sgx-apps_enclave-db-0_3f1c2a9e-8b7d-4e6f-9a21-5c0d7e4b8a13");
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->namespace_name, "sgx-apps");
  EXPECT_EQ(p->pod, "enclave-db-0");
  EXPECT_EQ(p->pod_uid, "3f1c2a9e-8b7d-4e6f-9a21-5c0d7e4b8a13");
}

TEST(PodLogDir, StaticPodUidWithoutDashes) {
  auto p = parse_pod_log_dir("kube-system_etcd-node1_6ad9a2b0e8d6fa1a6b8f0d1b0f3e7c2b");
  ASSERT_TRUE(p.ok()) << p.error().message;
  EXPECT_EQ(p->pod, "etcd-node1");
}

TEST(PodLogDir, RejectsOddNames) {
  for (const char* bad : {"", "_", "__", "a_b", "a_b_c_d", "ns_pod_not-a-uid", "ns__3f1c2a9e-8b7d-4e6f-9a21-5c0d7e4b8a13",
                          "NS_pod_3f1c2a9e-8b7d-4e6f-9a21-5c0d7e4b8a13", "ns_pod_3f1c2a9e-8b7d-4e6f-9a21-5c0d7e4b8a1",
                          "ns_pod_3f1c2a9e_8b7d_4e6f_9a21_5c0d7e4b8a13", "ns_po d_3f1c2a9e-8b7d-4e6f-9a21-5c0d7e4b8a13",
                          ".._.._3f1c2a9e-8b7d-4e6f-9a21-5c0d7e4b8a1g"}) {
    EXPECT_FALSE(parse_pod_log_dir(bad).ok()) << bad;
  }
  std::string huge(100000, 'a');
  EXPECT_FALSE(parse_pod_log_dir(huge + "_" + huge + "_3f1c2a9e-8b7d-4e6f-9a21-5c0d7e4b8a13").ok());
  std::string binary("ns\0x_pod_3f1c2a9e-8b7d-4e6f-9a21-5c0d7e4b8a13", 44);
  EXPECT_FALSE(parse_pod_log_dir(binary).ok());
}

TEST(ContainerLogName, Parses) {
  std::string id(64, 'a');
  auto c = parse_container_log_name("attest-web-7d9f8c6b5-xk2lp_sgx-apps_sidecar-proxy-" + id + ".log");
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->pod, "attest-web-7d9f8c6b5-xk2lp");
  EXPECT_EQ(c->namespace_name, "sgx-apps");
  EXPECT_EQ(c->container, "sidecar-proxy");
  EXPECT_EQ(c->container_id, id);
}

TEST(ContainerLogName, RejectsOddNames) {
  std::string id(64, 'b');
  for (const std::string& bad : std::vector<std::string>{"", ".log", "pod_ns_c-" + id, "pod_ns_c-" + id + ".log.1",
                          "pod_ns_" + id + ".log", "pod_ns_c-xyz.log", "pod_ns_-" + id + ".log",
                          "pod_c-" + id + ".log", "a_b_c_d-" + id + ".log", "pod_ns_c-" + std::string(200, 'a') + ".log",
                          "Pod_ns_c-" + id + ".log"}) {
    EXPECT_FALSE(parse_container_log_name(bad).ok()) << bad;
  }
}

TEST(ProcCgroup, V2Only) {
  auto c = parse_proc_cgroup("0::/kubepods.slice/kubepods-pod1.slice/cri-containerd-abc.scope\n");
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->has_unified);
  EXPECT_EQ(pick_cgroup_path(*c), "/kubepods.slice/kubepods-pod1.slice/cri-containerd-abc.scope");
}

TEST(ProcCgroup, V1PrefersMiscThenMemory) {
  auto c = parse_proc_cgroup(
      "12:pids:/kubepods/burstable/podX/p\n"
      "11:memory:/kubepods/burstable/podX/m\n"
      "3:cpu,cpuacct:/kubepods/burstable/podX/c\n"
      "2:misc:/kubepods/burstable/podX/misc\n"
      "1:name=systemd:/system.slice/x\n"
      "0::/\n");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->v1.size(), 5u);
  EXPECT_EQ(pick_cgroup_path(*c), "/kubepods/burstable/podX/misc");
  auto m = parse_proc_cgroup("11:memory:/a/m\n3:cpu,cpuacct:/a/c\n");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(pick_cgroup_path(*m), "/a/m");
  auto cpu = parse_proc_cgroup("3:cpu,cpuacct:/a/c\n1:name=systemd:/s\n");
  ASSERT_TRUE(cpu.ok());
  EXPECT_EQ(pick_cgroup_path(*cpu), "/a/c");
}

TEST(ProcCgroup, HybridUsesDeepUnifiedPath) {
  auto c = parse_proc_cgroup("4:memory:/user.slice\n0::/user.slice/user-0.slice/session-1.scope\n");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(pick_cgroup_path(*c), "/user.slice/user-0.slice/session-1.scope");
}

TEST(ProcCgroup, PathWithColon) {
  auto c = parse_proc_cgroup("0::/a:b/c\n");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->unified, "/a:b/c");
}

TEST(ProcCgroup, Malformed) {
  for (const char* bad : {"", "\n\n", "garbage", "0:/x", "x::/y", "0::relative", "0::", "-1::/x",
                          "99999999999999999999999::/x"}) {
    EXPECT_FALSE(parse_proc_cgroup(bad).ok()) << bad;
  }
  // Truncated: a valid line then half a line.
  EXPECT_FALSE(parse_proc_cgroup("0::/a\n1:name=sys").ok());
}

TEST(Names, Predicates) {
  EXPECT_TRUE(is_pod_uid("3f1c2a9e-8b7d-4e6f-9a21-5c0d7e4b8a13"));
  EXPECT_TRUE(is_pod_uid("6ad9a2b0e8d6fa1a6b8f0d1b0f3e7c2b"));
  EXPECT_FALSE(is_pod_uid("3f1c2a9e-8b7d-4e6f-9a21-5c0d7e4b8a1"));
  EXPECT_FALSE(is_pod_uid("3f1c2a9e-8b7d-4e6f-9a21-5c0d7e4b8a1z"));
  EXPECT_FALSE(is_pod_uid("3f1c2a9e8b7d-4e6f-9a21-5c0d7e4b8a13-"));
  EXPECT_TRUE(is_container_id("0123456789ab"));
  EXPECT_FALSE(is_container_id("0123456789a"));
  EXPECT_FALSE(is_container_id(std::string(129, 'a')));
  EXPECT_TRUE(is_k8s_name("a.b-c"));
  EXPECT_FALSE(is_k8s_name("a_b"));
  EXPECT_FALSE(is_k8s_name(std::string(254, 'a')));
}

TEST(Names, SanitizeLabelValue) {
  EXPECT_EQ(sanitize_label_value("system.slice/foo.service"), "system.slice/foo.service");
  EXPECT_EQ(sanitize_label_value("a\nb\tc\x7f"), "a_b_c_");
  EXPECT_EQ(sanitize_label_value("caf\xc3\xa9"), "caf\xc3\xa9");
  EXPECT_EQ(sanitize_label_value("\xff\xfe"), "??");
  EXPECT_EQ(sanitize_label_value("\xc3"), "?");                  // truncated sequence
  EXPECT_EQ(sanitize_label_value("\xe0\x80\x80"), "???");        // overlong
  EXPECT_EQ(sanitize_label_value("\xed\xa0\x80"), "???");        // surrogate
  EXPECT_EQ(sanitize_label_value("\xf0\x9f\x98\x80"), "\xf0\x9f\x98\x80");
  EXPECT_EQ(sanitize_label_value(""), "");
}

}  // namespace
}  // namespace epc
