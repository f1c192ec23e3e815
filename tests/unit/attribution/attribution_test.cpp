#include "attribution/attribution.h"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include "host/host_paths.h"
#include "test_util.h"

namespace epc {
namespace {

const std::string kUid = "3f1c2a9e-8b7d-4e6f-9a21-5c0d7e4b8a13";
const std::string kUidU = "3f1c2a9e_8b7d_4e6f_9a21_5c0d7e4b8a13";
const std::string kId(64, 'c');

struct Case {
  std::string path;
  std::string qos, container_id, runtime;
  bool monitor = false;
};

TEST(ParseKubepodsCgroup, Layouts) {
  const Case cases[] = {
      // cgroup v2 / systemd driver, the three QoS classes, containerd
      {"/kubepods.slice/kubepods-pod" + kUidU + ".slice/cri-containerd-" + kId + ".scope", "guaranteed", kId, "containerd"},
      {"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + kUidU + ".slice/cri-containerd-" + kId + ".scope",
       "burstable", kId, "containerd"},
      {"kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + kUidU + ".slice/cri-containerd-" + kId + ".scope",
       "besteffort", kId, "containerd"},
      // CRI-O, its monitor, and crun's "container" sub-cgroup
      {"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + kUidU + ".slice/crio-" + kId + ".scope",
       "burstable", kId, "cri-o"},
      {"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + kUidU + ".slice/crio-" + kId + ".scope/container",
       "burstable", kId, "cri-o"},
      {"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + kUidU + ".slice/crio-conmon-" + kId + ".scope",
       "burstable", kId, "cri-o", true},
      // docker with the systemd driver
      {"/kubepods.slice/kubepods-pod" + kUidU + ".slice/docker-" + kId + ".scope", "guaranteed", kId, "docker"},
      // cgroupfs driver (v1 or v2): bare ids, crio-<id>
      {"/kubepods/pod" + kUid + "/" + kId, "guaranteed", kId, ""},
      {"/kubepods/burstable/pod" + kUid + "/" + kId, "burstable", kId, ""},
      {"kubepods/besteffort/pod" + kUid + "/" + kId + "/", "besteffort", kId, ""},
      {"/kubepods/besteffort/pod" + kUid + "/crio-" + kId, "besteffort", kId, "cri-o"},
      // pod-level cgroups
      {"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + kUidU + ".slice", "burstable", "", ""},
      {"/kubepods/pod" + kUid, "guaranteed", "", ""},
      // kind / nested: kubelet.slice above, or a runtime's own cgroup above
      {"/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod" + kUidU +
           ".slice/cri-containerd-" + kId + ".scope",
       "besteffort", kId, "containerd"},
      {"/docker/" + std::string(64, 'e') + "/kubepods/burstable/pod" + kUid + "/" + kId, "burstable", kId, ""},
      // an unknown name under a pod is kept apart from the pod
      {"/kubepods/pod" + kUid + "/something-else", "guaranteed", "something-else", ""},
      // double slashes
      {"//kubepods//pod" + kUid + "//" + kId, "guaranteed", kId, ""},
  };
  for (const auto& c : cases) {
    auto k = parse_kubepods_cgroup(c.path);
    ASSERT_TRUE(k.has_value()) << c.path;
    EXPECT_EQ(k->pod_uid, kUid) << c.path;
    EXPECT_EQ(k->qos, c.qos) << c.path;
    EXPECT_EQ(k->container_id, c.container_id) << c.path;
    EXPECT_EQ(k->runtime, c.runtime) << c.path;
    EXPECT_EQ(k->runtime_monitor, c.monitor) << c.path;
    EXPECT_TRUE(is_kubepods_path(c.path)) << c.path;
  }
}

TEST(ParseKubepodsCgroup, StaticPodUidAndUpperCase) {
  auto k = parse_kubepods_cgroup("/kubepods/pod6AD9A2B0E8D6FA1A6B8F0D1B0F3E7C2B");
  ASSERT_TRUE(k.has_value());
  EXPECT_EQ(k->pod_uid, "6ad9a2b0e8d6fa1a6b8f0d1b0f3e7c2b");
}

TEST(ParseKubepodsCgroup, NotAPod) {
  for (const std::string& p : std::vector<std::string>{std::string(""), std::string("/"), std::string("/kubepods.slice"),
                        std::string("/kubepods.slice/kubepods-burstable.slice"), std::string("/kubepods/besteffort"),
                        std::string("/system.slice/containerd.service"), std::string("/user.slice/user-0.slice"),
                        "/kubepods/podnot-a-uid/" + kId, "/kubepods.slice/kubepods-pod" + kUid.substr(1) + ".slice",
                        std::string("/kubepods.slice/kubepods-podman.slice"), std::string("/kubepods/weird/pod" + kUid),
                        "/system.slice/pod" + kUid, std::string(100000, '/'), std::string(100000, 'k')}) {
    EXPECT_FALSE(parse_kubepods_cgroup(p).has_value()) << p.substr(0, 100);
  }
  EXPECT_TRUE(is_kubepods_path("/kubepods.slice/kubepods-burstable.slice"));
  EXPECT_TRUE(is_kubepods_path("kubepods/besteffort"));
  EXPECT_FALSE(is_kubepods_path("/system.slice/kubepods-ish.service"));
}

// A workload's label set: always the four names, "" where one does not apply.
Labels wl(const std::string& ns, const std::string& pod, const std::string& container, const std::string& cgroup) {
  return {{"namespace", ns}, {"pod", pod}, {"container", container}, {"cgroup", cgroup}};
}

TEST(Workload, Labels) {
  Workload k8s;
  k8s.namespace_name = "ns";
  k8s.pod = "p";
  k8s.pod_uid = kUid;
  k8s.container = "c";
  k8s.container_id = kId;
  EXPECT_EQ(k8s.labels(), (wl("ns", "p", "c", "")));
  k8s.container.clear();
  EXPECT_EQ(k8s.labels(), (wl("ns", "p", kId.substr(0, 12), "")));
  k8s.container_id.clear();
  EXPECT_EQ(k8s.labels(), (wl("ns", "p", "", "")));
  Workload unnamed;
  unnamed.pod_uid = kUid;
  EXPECT_EQ(unnamed.labels(), (wl("", kUid, "", "")));
  Workload plain;
  plain.cgroup = "system.slice/foo.service";
  EXPECT_EQ(plain.labels(), (wl("", "", "", "system.slice/foo.service")));
  EXPECT_EQ(Workload{}.labels(), (wl("", "", "", "/")));
}

TEST(Attribution, AksFixture) {
  HostPaths paths(EPC_FIXTURES "/aks-dcsv3");
  Attribution a(paths);
  a.refresh();
  auto w = a.resolve_cgroup_path(
      "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podb7e4d2c1_6a5f_4b3e_8d9c_0f1e2a3b4c5d.slice/"
      "cri-containerd-1380b4121cf2a35ad9c468803078fe278e5a09d4358b776fbb6b8229b824747a.scope");
  EXPECT_EQ(w.namespace_name, "sgx-apps");
  EXPECT_EQ(w.pod, "attest-web-7d9f8c6b5-xk2lp");
  EXPECT_EQ(w.pod_uid, "b7e4d2c1-6a5f-4b3e-8d9c-0f1e2a3b4c5d");
  EXPECT_FALSE(w.container.empty());
  EXPECT_TRUE(w.container == "web" || w.container == "sidecar-proxy") << w.container;
  EXPECT_EQ(w.container_id, "1380b4121cf2a35ad9c468803078fe278e5a09d4358b776fbb6b8229b824747a");

  auto pod = a.resolve_cgroup_path("/kubepods.slice/kubepods-pod3f1c2a9e_8b7d_4e6f_9a21_5c0d7e4b8a13.slice");
  EXPECT_EQ(pod.labels(), (wl("sgx-apps", "enclave-db-0", "", "")));

  // No log directory names this pod: the uid stands in.
  auto unnamed = a.resolve_cgroup_path("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podd4c3b2a1_0f9e_4d8c_b7a6_958473625140.slice");
  EXPECT_EQ(unnamed.labels(), (wl("", "d4c3b2a1-0f9e-4d8c-b7a6-958473625140", "", "")));

  auto svc = a.resolve_cgroup_path("/system.slice/aesmd.service");
  EXPECT_EQ(svc.labels(), (wl("", "", "", "system.slice/aesmd.service")));
  EXPECT_EQ(a.resolve_cgroup_path("/").labels(), (wl("", "", "", "/")));
  EXPECT_FALSE(svc.is_kubernetes());
}

TEST(Attribution, V1DockerFixture) {
  HostPaths paths(EPC_FIXTURES "/v1-docker");
  Attribution a(paths);
  a.refresh();
  auto w = a.resolve_cgroup_path(
      "kubepods/pod5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d/d363f0f1c8dd8814cd6b2cb41fa8638c2bf1699855e6a275534cd6736ce5f445");
  EXPECT_EQ(w.labels(), (wl("confidential", "redis-sgx-0", "redis", "")));
}

TEST(Attribution, NoLogDirectories) {
  test::TempTree t;
  HostPaths paths(t.root());
  Attribution a(paths);
  a.refresh();
  auto w = a.resolve_cgroup_path("/kubepods/pod" + kUid + "/" + kId);
  EXPECT_EQ(w.labels(), (wl("", kUid, kId.substr(0, 12), "")));
}

TEST(Attribution, RefreshPicksUpNewAndGonePods) {
  test::TempTree t;
  t.mkdir("var/log/pods");
  t.mkdir("var/log/containers");
  HostPaths paths(t.root());
  Attribution a(paths);
  a.refresh();
  std::string path = "/kubepods/burstable/pod" + kUid + "/" + kId;
  EXPECT_EQ(a.resolve_cgroup_path(path).pod, "");

  t.write("var/log/pods/ns1_web-0_" + kUid + "/app/0.log", "");
  t.symlink("/var/log/pods/ns1_web-0_" + kUid + "/app/0.log", "var/log/containers/web-0_ns1_app-" + kId + ".log");
  // Junk next to the real entries is skipped.
  t.write("var/log/pods/not_a_pod_dir_name/x", "");
  t.write("var/log/containers/garbage.log", "");
  t.write("var/log/containers/\xff\xfe.log", "");
  a.refresh();
  auto w = a.resolve_cgroup_path(path);
  EXPECT_EQ(w.labels(), (wl("ns1", "web-0", "app", "")));

  t.remove("var/log/pods/ns1_web-0_" + kUid);
  t.remove("var/log/containers/web-0_ns1_app-" + kId + ".log");
  a.refresh();
  EXPECT_EQ(a.resolve_cgroup_path(path).labels(), (wl("", kUid, kId.substr(0, 12), "")));
}

TEST(Attribution, UnexpectedEntriesInLogDirs) {
  test::TempTree t;
  // A file where a directory is expected, and a directory full of odd names.
  t.write("var/log/pods", "not a directory");
  t.mkdir("var/log/containers/subdir_ns_c-" + kId + ".log");
  HostPaths paths(t.root());
  Attribution a(paths);
  a.refresh();
  auto w = a.resolve_cgroup_path("/kubepods/pod" + kUid + "/" + kId);
  EXPECT_EQ(w.pod_uid, kUid);
  EXPECT_EQ(w.pod, "subdir");  // the link name is what counts, whatever the entry is
}

TEST(Attribution, CgroupIdLookupAndInvalidation) {
  test::TempTree t;
  t.write("sys/fs/cgroup/cgroup.controllers", "misc\n");
  t.mkdir("sys/fs/cgroup/system.slice/a.service");
  HostPaths paths(t.root());
  Attribution a(paths);
  a.refresh();
  struct stat st {};
  ASSERT_EQ(::stat(t.path("sys/fs/cgroup/system.slice/a.service").c_str(), &st), 0);
  EXPECT_EQ(a.cgroup_path_for_id(st.st_ino), "/system.slice/a.service");
  EXPECT_EQ(a.resolve_cgroup_id(st.st_ino).labels(), (wl("", "", "", "system.slice/a.service")));
  ASSERT_EQ(::stat(t.path("sys/fs/cgroup").c_str(), &st), 0);
  EXPECT_EQ(a.cgroup_path_for_id(st.st_ino), "/");

  // A cgroup created after the scan: found once per refresh, not on every miss.
  t.mkdir("sys/fs/cgroup/kubepods/pod" + kUid);
  ASSERT_EQ(::stat(t.path("sys/fs/cgroup/kubepods/pod" + kUid).c_str(), &st), 0);
  EXPECT_EQ(a.cgroup_path_for_id(st.st_ino), std::nullopt);
  a.refresh();
  EXPECT_EQ(a.cgroup_path_for_id(st.st_ino), "/kubepods/pod" + kUid);
  EXPECT_EQ(a.resolve_cgroup_id(st.st_ino).pod_uid, kUid);

  EXPECT_EQ(a.resolve_cgroup_id(0xffffffffffffULL).labels(), (wl("", "", "", "unknown")));
}

TEST(Attribution, HybridHierarchyIdLookup) {
  test::TempTree t;
  t.mkdir("sys/fs/cgroup/memory/x");
  t.write("sys/fs/cgroup/unified/cgroup.controllers", "");
  t.mkdir("sys/fs/cgroup/unified/system.slice");
  HostPaths paths(t.root());
  Attribution a(paths);
  struct stat st {};
  ASSERT_EQ(::stat(t.path("sys/fs/cgroup/unified/system.slice").c_str(), &st), 0);
  EXPECT_EQ(a.cgroup_path_for_id(st.st_ino), "/system.slice");
}

TEST(Attribution, NoCgroupTree) {
  test::TempTree t;
  HostPaths paths(t.root());
  Attribution a(paths);
  EXPECT_EQ(a.cgroup_path_for_id(1), std::nullopt);
}

TEST(Attribution, PidLookup) {
  test::TempTree t;
  t.write("proc/42/cgroup", "0::/kubepods/besteffort/pod" + kUid + "/" + kId + "\n");
  t.write("proc/43/cgroup", "\x01\x02garbage");
  t.write("proc/44/cgroup", "");
  t.write("var/log/pods/ns1_job-x_" + kUid + "/main/0.log", "");
  t.symlink("dangling", "var/log/containers/job-x_ns1_main-" + kId + ".log");
  HostPaths paths(t.root());
  Attribution a(paths);
  a.refresh();
  EXPECT_EQ(a.cgroup_path_for_pid(42), "/kubepods/besteffort/pod" + kUid + "/" + kId);
  EXPECT_EQ(a.resolve_pid(42).labels(), (wl("ns1", "job-x", "main", "")));
  EXPECT_EQ(a.cgroup_path_for_pid(43), std::nullopt);
  EXPECT_EQ(a.cgroup_path_for_pid(44), std::nullopt);
  EXPECT_EQ(a.cgroup_path_for_pid(45), std::nullopt);
  EXPECT_EQ(a.cgroup_path_for_pid(-1), std::nullopt);
  EXPECT_EQ(a.resolve_pid(45).labels(), (wl("", "", "", "unknown")));

  // The pid cache lives until the next refresh: a reused pid is re-read then.
  t.write("proc/42/cgroup", "0::/system.slice/other.service\n");
  EXPECT_EQ(a.cgroup_path_for_pid(42), "/kubepods/besteffort/pod" + kUid + "/" + kId);
  a.refresh();
  EXPECT_EQ(a.cgroup_path_for_pid(42), "/system.slice/other.service");
}

TEST(Attribution, HugeProcCgroupFileIsRejected) {
  test::TempTree t;
  t.write("proc/7/cgroup", "0::/" + std::string(200000, 'a') + "\n");
  HostPaths paths(t.root());
  Attribution a(paths);
  EXPECT_EQ(a.cgroup_path_for_pid(7), std::nullopt);
}

TEST(Attribution, CacheIsBoundedAndConsistent) {
  test::TempTree t;
  HostPaths paths(t.root());
  Attribution a(paths);
  a.refresh();
  for (int i = 0; i < 70000; ++i) {
    auto w = a.resolve_cgroup_path("/system.slice/s" + std::to_string(i) + ".service");
    ASSERT_EQ(w.cgroup, "system.slice/s" + std::to_string(i) + ".service");
  }
  EXPECT_EQ(a.resolve_cgroup_path("/system.slice/s1.service").cgroup, "system.slice/s1.service");
}

}  // namespace
}  // namespace epc
