// The memory this process may use: the lowest cgroup memory limit on the path of its own cgroup (v2 memory.max,
// v1 memory.limit_in_bytes; a Kubernetes container's limit is its cgroup's) and the machine's MemTotal, whichever is
// lower. Sizing caps by it (web/http_server.h: TLS connections) keeps a flood of clients from taking the process
// past its limit, where the kernel would kill it.
//
// Read from the process's own view (/proc/self/cgroup, /sys/fs/cgroup, /proc/meminfo under `root`, "/" in
// production), not under --path.rootfs: the limit is this process's, and in a container the host is mounted
// elsewhere while /sys/fs/cgroup is the container's own.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace epc {

struct MemoryLimit {
  std::uint64_t bytes = 0;
  std::string source;  // the file it came from, e.g. "/sys/fs/cgroup/kubepods.slice/.../memory.max"
};

std::optional<MemoryLimit> process_memory_limit(const std::string& root = "/");

// /proc/self/cgroup text -> the cgroup v2 path ("0::/a/b" -> "/a/b") and the v1 memory controller's path
// ("4:memory:/a" -> "/a"); empty when absent.
struct SelfCgroup {
  std::string v2, v1_memory;
};
SelfCgroup parse_self_cgroup(std::string_view text);

// A cgroup limit file's value: nullopt for "max" (v2) and for v1's "no limit" (PAGE_COUNTER_MAX pages, 2^63
// rounded down to a page: anything from 2^62 up), or for anything that is not a number.
std::optional<std::uint64_t> parse_memory_limit(std::string_view text);

}  // namespace epc
