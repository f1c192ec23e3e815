// Pod attribution: which Kubernetes pod and container (or which plain cgroup) a cgroup, cgroup id or pid
// belongs to. Names come from the kubelet's log directories under the root
// (var/log/pods/<namespace>_<pod>_<uid>/<container>/, var/log/containers/<pod>_<namespace>_<container>-<id>.log),
// so no API server access or kubelet credentials are needed.
//
// Shared by the cgroup collector (paths) and the ebpf collector (cgroup ids from bpf_get_current_cgroup_id()
// and pids).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "scrape/metric_sink.h"

namespace epc {

class HostPaths;

// Who a cgroup belongs to.
struct Workload {
  // Kubernetes identity; pod_uid is set for every cgroup under a kubepods hierarchy, names when the kubelet
  // log directories name it. container/container_id are empty for the pod-level cgroup.
  std::string namespace_name;
  std::string pod;
  std::string pod_uid;
  std::string container;
  std::string container_id;
  // Non-Kubernetes cgroups: the cgroup path without leading slash, e.g. "system.slice/foo.service";
  // "/" (the root) for the root cgroup.
  std::string cgroup;

  bool is_kubernetes() const { return !pod_uid.empty(); }

  // Label set used by every per-workload metric of the product (the contract dashboards and rules rely on), always
  // the four names namespace, pod, container, cgroup in this order, with "" where one does not apply:
  //   Kubernetes: namespace, pod, container   (container "" for pod-level cgroups;
  //                                            pod falls back to the pod uid when no log dir names it)
  //   otherwise:  cgroup
  Labels labels() const;

  friend bool operator==(const Workload&, const Workload&) = default;
};

// What the cgroup path alone tells (no file access). Handles cgroup v1 and v2, systemd and cgroupfs drivers,
// the QoS slices (guaranteed, burstable, besteffort) and the scope names of containerd ("cri-containerd-<id>.scope"
// or "<id>" under cgroupfs), CRI-O ("crio-<id>.scope", "crio-conmon-<id>.scope") and docker ("docker-<id>.scope",
// "<id>"). Returns nullopt when the path is not under a kubepods hierarchy.
struct KubepodsCgroup {
  std::string pod_uid;        // with dashes, as in the pod's metadata.uid
  std::string qos;            // "guaranteed", "burstable" or "besteffort"
  std::string container_id;   // empty for the pod-level cgroup
  std::string runtime;        // "containerd", "cri-o", "docker" or "" when the scope name does not say
  bool runtime_monitor = false;  // CRI-O's "crio-conmon-<id>.scope": the runtime's monitor, not the container
};
std::optional<KubepodsCgroup> parse_kubepods_cgroup(std::string_view cgroup_path);

// True when the path lies in a kubepods hierarchy (including the kubepods root and the QoS slices, for which
// parse_kubepods_cgroup returns nullopt because they belong to no single pod).
bool is_kubepods_path(std::string_view cgroup_path);

class Attribution {
 public:
  explicit Attribution(const HostPaths& paths);
  ~Attribution();
  Attribution(const Attribution&) = delete;
  Attribution& operator=(const Attribution&) = delete;

  // Re-reads the kubelet log directories if they changed (cheap when nothing changed). Call once per scrape.
  void refresh();

  // Changes whenever the names resolve_cgroup_path() hands out may have changed (the kubelet log index was
  // re-read): callers that keep labels across scrapes compare it.
  std::uint64_t generation() const;

  // cgroup path relative to the hierarchy root ("/kubepods.slice/..." or "kubepods/burstable/pod.../<id>").
  Workload resolve_cgroup_path(std::string_view cgroup_path);

  // cgroup v2 id (the cgroup directory's inode number, what bpf_get_current_cgroup_id() returns) -> path.
  // Cached; a miss rescans the cgroup v2 tree at most once per refresh().
  std::optional<std::string> cgroup_path_for_id(std::uint64_t cgroup_id);
  // pid -> cgroup path from proc/<pid>/cgroup (the v2 "0::" line, else the v1 line of a named controller).
  std::optional<std::string> cgroup_path_for_pid(int pid);

  // Unknown ids/pids resolve to a Workload with cgroup="unknown".
  Workload resolve_cgroup_id(std::uint64_t cgroup_id);
  Workload resolve_pid(int pid);

 private:
  struct Impl;
  Impl* impl_;
};

}  // namespace epc
