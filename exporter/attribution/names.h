// Parsers for the names attribution reads: kubelet log directory and link names, /proc/<pid>/cgroup.
// Each takes text and returns a value or an error; none touches a file.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "host/result.h"

namespace epc {

// var/log/pods/<namespace>_<pod>_<uid>
struct PodLogDir {
  std::string namespace_name;
  std::string pod;
  std::string pod_uid;
};
Result<PodLogDir> parse_pod_log_dir(std::string_view name);

// var/log/containers/<pod>_<namespace>_<container>-<container id>.log
struct ContainerLogName {
  std::string pod;
  std::string namespace_name;
  std::string container;
  std::string container_id;
};
Result<ContainerLogName> parse_container_log_name(std::string_view name);

// /proc/<pid>/cgroup: "<hierarchy id>:<controllers>:<path>" per line; "0::<path>" is cgroup v2.
struct ProcCgroup {
  bool has_unified = false;
  std::string unified;                                     // path of the "0::" line
  std::vector<std::pair<std::string, std::string>> v1;     // controllers ("cpu,cpuacct", "name=systemd") -> path
};
Result<ProcCgroup> parse_proc_cgroup(std::string_view text);

// The path attribution uses: the v2 path, unless it is "/" while a v1 hierarchy (misc, memory, cpu, pids,
// name=systemd, in that order) places the process deeper (v1 hosts with an unused unified hierarchy).
std::string pick_cgroup_path(const ProcCgroup& cg);

// A Kubernetes pod uid: 36 characters (8-4-4-4-12 hex) or the 32 hex characters of static pods.
bool is_pod_uid(std::string_view s);
// A container id as runtimes write it: 12 to 128 lower- or upper-case hex digits.
bool is_container_id(std::string_view s);
// A Kubernetes object name or namespace (DNS-1123 characters), at most 253 characters.
bool is_k8s_name(std::string_view s);

// A label value that is valid UTF-8 without control characters: invalid bytes become '?', controls '_'.
std::string sanitize_label_value(std::string_view s);

}  // namespace epc
