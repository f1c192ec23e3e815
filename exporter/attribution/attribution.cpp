#include "attribution/attribution.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cctype>
#include <chrono>
#include <ctime>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "attribution/names.h"
#include "host/file_reader.h"
#include "host/host_paths.h"
#include "host/log_fields.h"
#include "host/parse.h"

namespace epc {
namespace {

// Bounds: a node runs at most a few hundred pods; these leave room while keeping memory bounded.
constexpr std::size_t kMaxCachedPaths = 1 << 16;
constexpr std::size_t kMaxCachedPids = 1 << 16;
constexpr std::size_t kMaxCgroups = 200000;
constexpr int kMaxCgroupDepth = 32;
constexpr std::size_t kMaxLogEntries = 1 << 16;

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}
bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// "kubepods" (cgroupfs driver) or a systemd slice naming the kubepods tree ("kubepods.slice",
// "kubepods-burstable.slice", "kubelet-kubepods-besteffort-pod<uid>.slice" under kind's kubelet.slice, ...).
bool is_kubepods_component(std::string_view c) {
  return c == "kubepods" || (ends_with(c, ".slice") && c.find("kubepods") != std::string_view::npos);
}

// Scope or directory name of a container under its pod cgroup.
void parse_container_component(std::string_view c, KubepodsCgroup& out) {
  struct Form {
    std::string_view prefix, suffix, runtime;
    bool monitor;
  };
  static constexpr Form kForms[] = {
      {"cri-containerd-", ".scope", "containerd", false},
      {"crio-conmon-", ".scope", "cri-o", true},
      {"crio-", ".scope", "cri-o", false},
      {"docker-", ".scope", "docker", false},
      {"cri-containerd-", "", "containerd", false},
      {"crio-conmon-", "", "cri-o", true},
      {"crio-", "", "cri-o", false},
      {"docker-", "", "docker", false},
      {"", "", "", false},  // cgroupfs driver: the bare id (containerd or docker; the name does not say)
  };
  for (const auto& f : kForms) {
    if (!starts_with(c, f.prefix) || !ends_with(c, f.suffix) || c.size() < f.prefix.size() + f.suffix.size()) continue;
    auto id = c.substr(f.prefix.size(), c.size() - f.prefix.size() - f.suffix.size());
    if (!is_container_id(id)) continue;
    out.container_id = std::string(id);
    out.runtime = std::string(f.runtime);
    out.runtime_monitor = f.monitor;
    return;
  }
  // Something else under a pod (a runtime we do not know): keep the name so it stays apart from the pod.
  out.container_id = sanitize_label_value(c.substr(0, 128));
  out.runtime.clear();
}

std::string normalize_path(std::string_view p) {
  std::string out;
  for (auto c : split_fields(p, "/")) {
    if (!out.empty()) out.push_back('/');
    out.append(c);
  }
  return out;
}

struct DirStamp {
  bool exists = false;
  ino_t ino = 0;
  timespec mtime{};
  bool operator==(const DirStamp& o) const {
    return exists == o.exists && ino == o.ino && mtime.tv_sec == o.mtime.tv_sec && mtime.tv_nsec == o.mtime.tv_nsec;
  }
};

DirStamp stamp(const std::filesystem::path& dir) {
  struct stat st {};
  DirStamp s;
  if (::stat(dir.c_str(), &st) != 0) return s;
  s.exists = true;
  s.ino = st.st_ino;
  s.mtime = st.st_mtim;
  return s;
}

Workload unknown_workload() {
  Workload w;
  w.cgroup = "unknown";
  return w;
}

}  // namespace

bool is_kubepods_path(std::string_view cgroup_path) {
  if (cgroup_path.find("kubepods") == std::string_view::npos) return false;  // the common case, without splitting
  for (auto c : split_fields(cgroup_path, "/"))
    if (is_kubepods_component(c)) return true;
  return false;
}

std::optional<KubepodsCgroup> parse_kubepods_cgroup(std::string_view cgroup_path) {
  if (cgroup_path.find("kubepods") == std::string_view::npos) return std::nullopt;
  auto comps = split_fields(cgroup_path, "/");
  bool in_kubepods = false;
  std::string qos = "guaranteed";
  for (std::size_t i = 0; i < comps.size(); ++i) {
    auto c = comps[i];
    std::string uid;
    if (ends_with(c, ".slice") && c.find("kubepods") != std::string_view::npos) {
      // systemd driver: the slice name spells the whole path, e.g. kubepods-burstable-pod<uid_with_underscores>.slice
      in_kubepods = true;
      if (c.find("kubepods-burstable") != std::string_view::npos) qos = "burstable";
      if (c.find("kubepods-besteffort") != std::string_view::npos) qos = "besteffort";
      auto pos = c.rfind("-pod");
      if (pos == std::string_view::npos) continue;
      auto raw = c.substr(pos + 4, c.size() - pos - 4 - 6);
      uid.assign(raw);
      for (auto& ch : uid)
        if (ch == '_') ch = '-';
      if (!is_pod_uid(uid)) return std::nullopt;
    } else if (c == "kubepods") {
      in_kubepods = true;
      continue;
    } else if (in_kubepods && (c == "burstable" || c == "besteffort")) {
      qos = std::string(c);
      continue;
    } else if (in_kubepods && starts_with(c, "pod")) {
      uid.assign(c.substr(3));
      if (!is_pod_uid(uid)) return std::nullopt;
    } else if (in_kubepods) {
      return std::nullopt;  // an unexpected name inside the kubepods tree, above any pod
    } else {
      continue;  // above the kubepods tree (kubelet.slice, a nesting container runtime, ...)
    }
    KubepodsCgroup out;
    for (auto& ch : uid) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    out.pod_uid = std::move(uid);
    out.qos = qos;
    if (i + 1 < comps.size()) parse_container_component(comps[i + 1], out);
    return out;
  }
  return std::nullopt;
}

Labels Workload::labels() const {
  // Every label of the set, empty where it does not apply: a family's series all carry the same label names (as
  // client_golang writes them); Prometheus drops empty labels at ingestion, so stored series are unchanged.
  Labels l{{"namespace", ""}, {"pod", ""}, {"container", ""}, {"cgroup", ""}};
  if (!is_kubernetes()) {
    l[3].second = cgroup.empty() ? std::string("/") : cgroup;
    return l;
  }
  l[0].second = namespace_name;
  l[1].second = pod.empty() ? pod_uid : pod;
  if (!container.empty())
    l[2].second = container;
  else if (!container_id.empty())
    l[2].second = container_id.substr(0, 12);  // no log link names it (sandbox, just started)
  return l;
}

struct Attribution::Impl {
  explicit Impl(const HostPaths& p) : paths(p) {}

  struct PodName {
    std::string namespace_name, pod;
  };
  struct ContainerName {
    std::string namespace_name, pod, container;
  };

  const HostPaths& paths;
  std::mutex mu;

  DirStamp pods_stamp, containers_stamp;
  bool loaded = false;
  bool settled = false;  // false: a directory changed within the last seconds; re-read on the next refresh
  std::unordered_map<std::string, PodName> pods_by_uid;
  std::unordered_map<std::string, ContainerName> containers_by_id;
  std::uint64_t generation = 1;  // bumped on every re-read of the index

  std::unordered_map<std::string, Workload> by_path;
  std::unordered_map<std::uint64_t, std::string> path_by_id;
  bool id_scan_done = false;  // since the last refresh()
  std::unordered_map<int, std::string> path_by_pid;

  void reload_index() {
    ++generation;
    pods_by_uid.clear();
    containers_by_id.clear();
    by_path.clear();
    if (auto names = paths.list("/var/log/pods", kMaxLogEntries)) {
      for (const auto& n : *names) {
        auto p = parse_pod_log_dir(n);
        if (!p) {
          spdlog::debug("{}", log_fields("pod log directory skipped",
                                         {{"component", "attribution"}, {"err", p.error().message}}));
          continue;
        }
        pods_by_uid[p->pod_uid] = {p->namespace_name, p->pod};
      }
    } else if (!names.error().not_found()) {
      spdlog::warn("{}", log_fields("pod log directories not read",
                                    {{"component", "attribution"}, {"err", names.error().message}}));
    }
    if (auto names = paths.list("/var/log/containers", kMaxLogEntries)) {
      for (const auto& n : *names) {
        auto c = parse_container_log_name(n);
        if (!c) {
          spdlog::debug("{}", log_fields("container log name skipped",
                                         {{"component", "attribution"}, {"err", c.error().message}}));
          continue;
        }
        containers_by_id[c->container_id] = {c->namespace_name, c->pod, c->container};
      }
    } else if (!names.error().not_found()) {
      spdlog::warn("{}", log_fields("container log names not read",
                                    {{"component", "attribution"}, {"err", names.error().message}}));
    }
  }

  void refresh() {
    auto ps = stamp(paths.pod_logs());
    auto cs = stamp(paths.container_logs());
    if (!loaded || !settled || !(ps == pods_stamp) || !(cs == containers_stamp)) {
      reload_index();
      loaded = true;
      pods_stamp = ps;
      containers_stamp = cs;
      // Directory times have a coarse clock: an entry added in the same tick as our read would go unseen.
      timespec now{};
      ::clock_gettime(CLOCK_REALTIME, &now);
      auto recent = [&](const DirStamp& s) { return s.exists && now.tv_sec - s.mtime.tv_sec < 2; };
      settled = !recent(ps) && !recent(cs);
    }
    id_scan_done = false;
    path_by_pid.clear();
  }

  Workload resolve_path(std::string_view cgroup_path) {
    std::string key = normalize_path(cgroup_path);
    if (auto it = by_path.find(key); it != by_path.end()) return it->second;
    Workload w;
    if (auto k = parse_kubepods_cgroup(key)) {
      w.pod_uid = k->pod_uid;
      w.container_id = k->container_id;
      if (auto it = pods_by_uid.find(w.pod_uid); it != pods_by_uid.end()) {
        w.namespace_name = it->second.namespace_name;
        w.pod = it->second.pod;
      }
      if (!w.container_id.empty()) {
        if (auto it = containers_by_id.find(w.container_id); it != containers_by_id.end()) {
          w.container = it->second.container;
          if (w.pod.empty()) {
            w.namespace_name = it->second.namespace_name;
            w.pod = it->second.pod;
          }
        }
      }
    } else {
      w.cgroup = key.empty() ? std::string("/") : sanitize_label_value(key);
    }
    if (by_path.size() >= kMaxCachedPaths) by_path.clear();
    by_path.emplace(std::move(key), w);
    return w;
  }

  std::filesystem::path v2_root() const {
    std::error_code ec;
    if (std::filesystem::exists(paths.cgroup("cgroup.controllers"), ec)) return paths.cgroup();
    if (std::filesystem::exists(paths.cgroup("unified/cgroup.controllers"), ec)) return paths.cgroup("unified");
    return {};
  }

  void scan_ids() {
    path_by_id.clear();
    auto root = v2_root();
    if (root.empty()) return;
    struct stat st {};
    if (::stat(root.c_str(), &st) != 0) return;
    path_by_id[st.st_ino] = "/";
    std::size_t count = 1;
    // Iterative walk; each level opens the directory relative to its parent (fewer path lookups).
    struct Frame {
      std::string rel;
      int depth;
    };
    std::vector<Frame> stack{{"", 0}};
    while (!stack.empty()) {
      Frame f = std::move(stack.back());
      stack.pop_back();
      auto dir_path = f.rel.empty() ? root : root / f.rel;
      DIR* d = ::opendir(dir_path.c_str());
      if (!d) continue;
      int dfd = ::dirfd(d);
      while (dirent* e = ::readdir(d)) {
        std::string_view n = e->d_name;
        if (n == "." || n == "..") continue;
        if (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN) continue;
        struct stat cst {};
        if (::fstatat(dfd, e->d_name, &cst, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(cst.st_mode)) continue;
        std::string rel = f.rel.empty() ? std::string(n) : f.rel + "/" + std::string(n);
        path_by_id[cst.st_ino] = "/" + rel;
        if (++count >= kMaxCgroups) {
          spdlog::warn(
              "{}", log_fields("too many cgroups: id lookups are incomplete", {{"component", "attribution"},
                                                                               {"limit", std::to_string(kMaxCgroups)},
                                                                               {"root", root.string()}}));
          ::closedir(d);
          return;
        }
        if (f.depth + 1 < kMaxCgroupDepth) stack.push_back({std::move(rel), f.depth + 1});
      }
      ::closedir(d);
    }
  }

  std::optional<std::string> path_for_id(std::uint64_t id) {
    if (auto it = path_by_id.find(id); it != path_by_id.end()) return it->second;
    if (id_scan_done) return std::nullopt;
    id_scan_done = true;
    scan_ids();
    if (auto it = path_by_id.find(id); it != path_by_id.end()) return it->second;
    return std::nullopt;
  }

  std::optional<std::string> path_for_pid(int pid) {
    if (pid <= 0) return std::nullopt;
    if (auto it = path_by_pid.find(pid); it != path_by_pid.end()) return it->second;
    auto text = paths.read("/proc/" + std::to_string(pid) + "/cgroup", 64 * 1024);
    if (!text) return std::nullopt;
    auto parsed = parse_proc_cgroup(*text);
    if (!parsed) {
      spdlog::debug("attribution: pid {}: {}", pid, parsed.error().message);
      return std::nullopt;
    }
    auto path = pick_cgroup_path(*parsed);
    if (path_by_pid.size() >= kMaxCachedPids) path_by_pid.clear();
    path_by_pid[pid] = path;
    return path;
  }
};

Attribution::Attribution(const HostPaths& paths) : impl_(new Impl(paths)) {}
Attribution::~Attribution() { delete impl_; }

void Attribution::refresh() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->refresh();
}

std::uint64_t Attribution::generation() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->generation;
}

Workload Attribution::resolve_cgroup_path(std::string_view cgroup_path) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (!impl_->loaded) impl_->refresh();
  return impl_->resolve_path(cgroup_path);
}

std::optional<std::string> Attribution::cgroup_path_for_id(std::uint64_t cgroup_id) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->path_for_id(cgroup_id);
}

std::optional<std::string> Attribution::cgroup_path_for_pid(int pid) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->path_for_pid(pid);
}

Workload Attribution::resolve_cgroup_id(std::uint64_t cgroup_id) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (!impl_->loaded) impl_->refresh();
  auto p = impl_->path_for_id(cgroup_id);
  if (!p) return unknown_workload();
  return impl_->resolve_path(*p);
}

Workload Attribution::resolve_pid(int pid) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (!impl_->loaded) impl_->refresh();
  auto p = impl_->path_for_pid(pid);
  if (!p) return unknown_workload();
  return impl_->resolve_path(*p);
}

}  // namespace epc
