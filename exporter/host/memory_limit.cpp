#include "host/memory_limit.h"

#include "host/file_reader.h"
#include "host/parse.h"

namespace epc {

SelfCgroup parse_self_cgroup(std::string_view text) {
  SelfCgroup out;
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    auto c1 = line.find(':');
    auto c2 = c1 == std::string_view::npos ? c1 : line.find(':', c1 + 1);
    if (c2 == std::string_view::npos) continue;
    std::string_view controllers = line.substr(c1 + 1, c2 - c1 - 1), path = line.substr(c2 + 1);
    if (line.substr(0, c1) == "0" && controllers.empty()) {
      out.v2 = path;
      continue;
    }
    // v1: a comma-separated controller list, e.g. "memory" or "cpu,cpuacct".
    for (std::size_t pos = 0; pos <= controllers.size();) {
      auto comma = controllers.find(',', pos);
      if (controllers.substr(pos, comma == std::string_view::npos ? comma : comma - pos) == "memory") out.v1_memory = path;
      if (comma == std::string_view::npos) break;
      pos = comma + 1;
    }
  }
  return out;
}

std::optional<std::uint64_t> parse_memory_limit(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  auto v = parse_u64(text);
  if (!v || *v >= (std::uint64_t{1} << 62)) return std::nullopt;
  return *v;
}

namespace {

// The lowest limit in `file` of the cgroup at `path` and each of its ancestors (a cgroup is bounded by all of them;
// the top one is the namespace's root, where a container's own limit is found).
void lowest_on_path(const std::string& base, std::string path, const char* file, std::optional<MemoryLimit>& best) {
  if (path.empty() || path.front() != '/' || path.find("/..") != std::string::npos) return;
  for (;;) {
    std::string f = base + (path == "/" ? "" : path) + "/" + file;
    if (auto text = read_file(f, 4096)) {
      if (auto v = parse_memory_limit(*text); v && (!best || *v < best->bytes)) best = MemoryLimit{*v, f};
    }
    if (path == "/") return;
    auto slash = path.rfind('/');
    path = slash == 0 ? "/" : path.substr(0, slash);
  }
}

}  // namespace

std::optional<MemoryLimit> process_memory_limit(const std::string& root) {
  const std::string r = root == "/" ? "" : root;
  std::optional<MemoryLimit> best;
  if (auto meminfo = read_file(r + "/proc/meminfo", 64 * 1024)) {
    // "MemTotal:       24684480 kB"
    std::string_view m = *meminfo;
    if (m.substr(0, 9) == "MemTotal:") {
      m.remove_prefix(9);
      while (!m.empty() && m.front() == ' ') m.remove_prefix(1);
      if (auto kb = parse_u64(m.substr(0, m.find(' ')))) best = MemoryLimit{*kb * 1024, "/proc/meminfo MemTotal"};
    }
  }
  if (auto self = read_file(r + "/proc/self/cgroup", 64 * 1024)) {
    auto cg = parse_self_cgroup(*self);
    if (!cg.v2.empty()) lowest_on_path(r + "/sys/fs/cgroup", cg.v2, "memory.max", best);
    if (!cg.v1_memory.empty()) lowest_on_path(r + "/sys/fs/cgroup/memory", cg.v1_memory, "memory.limit_in_bytes", best);
  }
  if (best && !r.empty() && best->source.rfind(r, 0) == 0) best->source.erase(0, r.size());
  return best;
}

}  // namespace epc
