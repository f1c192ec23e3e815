// One injectable root for every host path: nothing opens "/sys/..." directly. With --path.rootfs pointing
// at a fixture directory, that directory is a whole node.
#pragma once

#include <filesystem>
#include <string_view>

namespace epc {

class HostPaths {
 public:
  explicit HostPaths(std::filesystem::path rootfs = "/");

  const std::filesystem::path& rootfs() const { return rootfs_; }

  // Resolves an absolute host path ("/sys/devices/...") or a relative one under the root.
  std::filesystem::path resolve(std::string_view host_path) const;

  std::filesystem::path sys(std::string_view rel = {}) const { return join("sys", rel); }
  std::filesystem::path proc(std::string_view rel = {}) const { return join("proc", rel); }
  std::filesystem::path dev(std::string_view rel = {}) const { return join("dev", rel); }
  std::filesystem::path cgroup(std::string_view rel = {}) const { return join("sys/fs/cgroup", rel); }
  std::filesystem::path pod_logs(std::string_view rel = {}) const { return join("var/log/pods", rel); }
  std::filesystem::path container_logs(std::string_view rel = {}) const { return join("var/log/containers", rel); }

 private:
  std::filesystem::path join(std::string_view base, std::string_view rel) const;
  std::filesystem::path rootfs_;
};

}  // namespace epc
