#include "host/host_paths.h"

namespace epc {

HostPaths::HostPaths(std::filesystem::path rootfs) : rootfs_(std::move(rootfs)) {
  if (rootfs_.empty()) rootfs_ = "/";
}

std::filesystem::path HostPaths::resolve(std::string_view host_path) const {
  while (!host_path.empty() && host_path.front() == '/') host_path.remove_prefix(1);
  if (host_path.empty()) return rootfs_;
  return rootfs_ / std::filesystem::path(host_path);
}

std::filesystem::path HostPaths::join(std::string_view base, std::string_view rel) const {
  auto p = rootfs_ / base;
  while (!rel.empty() && rel.front() == '/') rel.remove_prefix(1);
  if (!rel.empty()) p /= std::filesystem::path(rel);
  return p;
}

}  // namespace epc
