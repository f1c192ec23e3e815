#include "collectors/cgroup.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>

#include "attribution/attribution.h"
#include "core/file_reader.h"
#include "core/host_paths.h"
#include "core/parse.h"

namespace epc {
namespace {

constexpr std::string_view kResource = "sgx_epc";
constexpr std::size_t kMiscFileLimit = 64 * 1024;  // one line per misc resource; a few dozen bytes in practice
constexpr std::size_t kMaxCgroups = 100000;
constexpr int kMaxDepth = 32;

std::string clip(std::string_view s) {
  std::string out(s.substr(0, 60));
  for (auto& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  return out;
}

// A cgroup that disappeared between listing and reading (ENOENT, or ENODEV from kernfs) is not an error.
bool vanished(const Error& e) { return e.not_found() || e.errno_value == ENODEV || e.errno_value == ENOTDIR; }

struct Record {
  std::string rel;  // "" for the hierarchy root
  std::uint64_t usage = 0;
  std::optional<std::uint64_t> limit;  // nullopt: "max" or no misc.max (root)
  std::optional<std::uint64_t> peak;
  std::optional<std::uint64_t> events;
  bool leaf = true;        // no child cgroup with misc files
  bool reportable = true;  // false: kubepods/QoS slice or runtime monitor, never a series of its own
};

class CgroupCollector final : public Collector {
 public:
  CgroupCollector(const HostPaths& paths, Attribution& attribution) : paths_(paths), attribution_(attribution) {}

  Status collect(MetricSink& sink) override {
    errors_.clear();
    error_count_ = 0;
    visited_ = 0;

    // The misc hierarchy: cgroup v2 at sys/fs/cgroup (or sys/fs/cgroup/unified on hybrid hosts), or the v1
    // misc controller at sys/fs/cgroup/misc. The first whose root lists sgx_epc in misc.capacity is used.
    std::vector<std::filesystem::path> candidates;
    std::error_code ec;
    if (std::filesystem::exists(paths_.cgroup("cgroup.controllers"), ec)) candidates.push_back(paths_.cgroup());
    if (std::filesystem::exists(paths_.cgroup("unified/cgroup.controllers"), ec))
      candidates.push_back(paths_.cgroup("unified"));
    candidates.push_back(paths_.cgroup("misc"));

    std::filesystem::path root;
    std::uint64_t capacity = 0;
    for (const auto& c : candidates) {
      auto text = read_file(c / "misc.capacity", kMiscFileLimit);
      if (!text) {
        if (vanished(text.error())) continue;
        return text.error();
      }
      auto entries = parse_misc_file(*text);
      if (!entries) return make_error((c / "misc.capacity").string() + ": " + entries.error().message);
      if (const auto* e = find_misc_entry(*entries, kResource); e && e->value && *e->value > 0) {
        root = c;
        capacity = *e->value;
        break;
      }
    }
    if (root.empty()) return Status::Ok();  // no sgx_epc misc resource on this kernel: no data

    sink.gauge("sgx_cgroup_epc_capacity_bytes", "EPC capacity of the node as the misc cgroup controller sees it "
               "(root misc.capacity, sgx_epc).", {}, static_cast<double>(capacity));

    std::vector<Record> records;
    root_ = root;
    int fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
      int err = errno;
      return make_error("open " + root.string() + ": " + std::strerror(err), err);
    }
    walk(fd, "", 0, records);
    if (visited_ > kMaxCgroups)
      return make_error("more than " + std::to_string(kMaxCgroups) + " cgroups under " + root.string());
    if (error_count_ > 0) {
      std::string msg = std::to_string(error_count_) + " misc cgroup file(s) unreadable or malformed";
      for (const auto& e : errors_) msg += "; " + e;
      return make_error(msg);
    }
    emit(records, sink);
    return Status::Ok();
  }

 private:
  void note_error(std::string msg) {
    ++error_count_;
    if (errors_.size() < 3) errors_.push_back(std::move(msg));
  }

  // One path component to look up per file (openat on the cgroup's directory fd), bounded, one read per file.
  Result<std::string> read_at(int dirfd, const char* name, const std::string& rel) const {
    return read_file_at(
        dirfd, name, [&] { return ((rel.empty() ? root_ : root_ / rel) / name).string(); }, kMiscFileLimit,
        ReadMode::kSingleRecord);
  }

  // Reads and parses one misc file; nullopt when absent (sets *absent) or bad (recorded as an error).
  std::optional<std::vector<MiscEntry>> read_misc(int dirfd, const char* name, const std::string& rel, bool* absent) {
    *absent = false;
    auto text = read_at(dirfd, name, rel);
    if (!text) {
      if (vanished(text.error())) {
        *absent = true;
      } else {
        note_error(text.error().message);
      }
      return std::nullopt;
    }
    auto entries = parse_misc_file(*text);
    if (!entries) {
      note_error(((rel.empty() ? root_ : root_ / rel) / name).string() + ": " + entries.error().message);
      return std::nullopt;
    }
    return std::move(*entries);
  }

  // Pre-order walk in name order (stable output) over an open directory fd (closed here); returns whether this
  // cgroup has misc files.
  bool walk(int dfd, const std::string& rel, int depth, std::vector<Record>& records) {
    struct Closer {
      int fd;
      DIR* d = nullptr;
      ~Closer() {
        if (d)
          ::closedir(d);
        else
          ::close(fd);
      }
    } closer{dfd};
    if (++visited_ > kMaxCgroups) return false;
    bool absent = false;
    auto current = read_misc(dfd, "misc.current", rel, &absent);
    bool is_root = rel.empty();
    if (!current && !is_root) return !absent;  // no misc files here: the controller is off for this subtree
    std::size_t index = records.size();
    bool descend = depth < kMaxDepth;
    if (current) {
      Record r;
      r.rel = rel;
      if (const auto* e = find_misc_entry(*current, kResource); e && e->value) r.usage = *e->value;
      // Cgroups never reported on their own (kubepods and QoS slices, CRI-O's conmon) need no more files;
      // below a container's cgroup (crun's "container" child) everything is already in the container's numbers.
      bool reportable = true;
      if (!is_root && is_kubepods_path(rel)) {
        auto k = parse_kubepods_cgroup(rel);
        reportable = k && !k->runtime_monitor;
        if (k && !k->container_id.empty()) descend = false;
      }
      r.reportable = reportable;
      if (reportable) {
        if (auto peak = read_misc(dfd, "misc.peak", rel, &absent)) {
          const auto* e = find_misc_entry(*peak, kResource);
          r.peak = e && e->value ? *e->value : 0;
        }
        if (!is_root) {
          if (auto max = read_misc(dfd, "misc.max", rel, &absent)) {
            const auto* e = find_misc_entry(*max, kResource);
            if (e) r.limit = e->value;  // nullopt for "max"
          }
          if (auto events = read_misc(dfd, "misc.events", rel, &absent)) {
            const auto* e = find_misc_entry(*events, "sgx_epc.max");
            r.events = e && e->value ? *e->value : 0;
          }
        }
      }
      records.push_back(std::move(r));
    }
    if (!descend) return true;
    closer.d = ::fdopendir(dfd);  // lists only where needed: a DIR costs a 32 KiB buffer and two syscalls
    if (!closer.d) return true;
    bool has_children = false;
    for (const auto& name : child_dirs(closer.d)) {
      int cfd = ::openat(dfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
      if (cfd < 0) continue;  // removed meanwhile
      has_children |= walk(cfd, rel.empty() ? name : rel + "/" + name, depth + 1, records);
      if (visited_ > kMaxCgroups) break;
    }
    if (current) records[index].leaf = !has_children;
    return true;
  }

  static std::vector<std::string> child_dirs(DIR* d) {
    std::vector<std::string> out;
    const int dfd = ::dirfd(d);
    while (dirent* e = ::readdir(d)) {
      std::string_view n = e->d_name;
      if (n == "." || n == "..") continue;
      if (e->d_type == DT_UNKNOWN) {
        struct stat st {};
        if (::fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode)) continue;
      } else if (e->d_type != DT_DIR) {
        continue;
      }
      out.emplace_back(n);
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  void emit(const std::vector<Record>& records, MetricSink& sink) {
    std::set<Labels> seen;
    for (const auto& r : records) {
      if (!r.reportable) continue;
      bool used = r.usage > 0 || r.peak.value_or(0) > 0 || r.events.value_or(0) > 0 || r.limit.has_value();
      Labels labels;
      if (r.rel.empty()) {
        labels = {{"cgroup", "/"}};  // the node's total, always reported
      } else {
        if (!used) continue;
        Workload w = attribution_.resolve_cgroup_path(r.rel);
        // Inner cgroups outside Kubernetes are sums of their leaves (kubepods slices were dropped above).
        if (!w.is_kubernetes() && !r.leaf) continue;
        labels = w.labels();
      }
      if (!seen.insert(labels).second) {
        spdlog::debug("cgroup: {} maps to labels already reported, skipped", r.rel);
        continue;
      }
      sink.gauge("sgx_cgroup_epc_usage_bytes", "EPC charged to the cgroup (misc.current, sgx_epc).", labels,
                 static_cast<double>(r.usage));
      if (r.limit)
        sink.gauge("sgx_cgroup_epc_limit_bytes", "EPC limit of the cgroup (misc.max, sgx_epc); absent when unlimited.",
                   labels, static_cast<double>(*r.limit));
      if (r.peak)
        sink.gauge("sgx_cgroup_epc_peak_bytes", "Highest EPC charge of the cgroup (misc.peak, sgx_epc).", labels,
                   static_cast<double>(*r.peak));
      if (r.events)
        sink.counter("sgx_cgroup_epc_max_events_total",
                     "Times an EPC charge in the cgroup or below hit a limit (misc.events, sgx_epc.max).", labels,
                     static_cast<double>(*r.events));
    }
  }

  const HostPaths& paths_;
  Attribution& attribution_;
  std::filesystem::path root_;  // of the misc hierarchy, for error messages
  std::vector<std::string> errors_;
  std::size_t error_count_ = 0;
  std::size_t visited_ = 0;
};

}  // namespace

Result<std::vector<MiscEntry>> parse_misc_file(std::string_view text) {
  std::vector<MiscEntry> out;
  int lineno = 0;
  for (auto line : split_lines(text)) {
    ++lineno;
    if (trim(line).empty()) continue;
    auto f = split_fields(line);
    if (f.size() != 2)
      return make_error("line " + std::to_string(lineno) + ": expected '<resource> <value>', got '" + clip(line) + "'");
    MiscEntry e;
    e.resource = std::string(f[0]);
    if (f[1] != "max") {
      auto v = parse_u64(f[1]);
      if (!v) return make_error("line " + std::to_string(lineno) + ": " + v.error().message);
      e.value = *v;
    }
    out.push_back(std::move(e));
  }
  return out;
}

const MiscEntry* find_misc_entry(const std::vector<MiscEntry>& entries, std::string_view resource) {
  for (const auto& e : entries)
    if (e.resource == resource) return &e;
  return nullptr;
}

std::unique_ptr<Collector> make_cgroup_collector(const CollectorServices& services) {
  return std::make_unique<CgroupCollector>(services.paths, services.attribution);
}

}  // namespace epc
