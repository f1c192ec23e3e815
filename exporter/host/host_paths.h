// One injectable root for every host path: nothing opens "/sys/..." directly. With --path.rootfs pointing
// at a fixture directory, that directory is a whole node.
//
// Files are opened with every symlink on the way resolved inside the root, as if it were "/" (open(), read(),
// list()): a symlink under --path.rootfs never leads out of it (a host's absolute links, e.g. var/log/containers
// -> /var/log/pods/..., land in the host's tree, not the container's), whatever the tree holds.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "host/file_reader.h"
#include "host/result.h"

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

  // Opens a host path ("/proc/cpuinfo", or relative to the root) with every symlink resolved inside the root:
  // openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) where the kernel has it (5.6+, and no seccomp profile refuses
  // it), else a walk of one component at a time that does the same. A descriptor (O_CLOEXEC added) or -1 with
  // errno (ELOOP: more than 40 symlinks).
  int open(std::string_view host_path, int flags) const;
  // read_file(), read_u64_file() and list_dir() of a host path opened so; errors name rootfs + host path.
  Result<std::string> read(std::string_view host_path, std::size_t limit = kDefaultReadLimit) const;
  Result<unsigned long long> read_u64(std::string_view host_path) const;
  Result<std::vector<std::string>> list(std::string_view host_path, std::size_t max_entries = 1 << 16) const;
  // Whether the host path names something (a symlink at its end is not followed).
  bool exists(std::string_view host_path) const;

  // Which of the two ways open() resolves (tests): true with openat2.
  bool uses_openat2() const;

 private:
  std::filesystem::path join(std::string_view base, std::string_view rel) const;
  std::filesystem::path rootfs_;
  struct Root;
  std::shared_ptr<Root> root_;  // the root's descriptor, shared by copies
};

// The walk open() falls back to (exposed for tests): opens path under the directory root_fd as if root_fd were
// "/": ".." never climbs above it, absolute symlinks restart from it, every component is opened with O_NOFOLLOW.
int open_in_root(int root_fd, std::string_view path, int flags);

}  // namespace epc
