#include "collectors/cgroup.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <unordered_set>
#include <utility>

#include "attribution/attribution.h"
#include "host/file_reader.h"
#include "host/log_fields.h"
#include "host/host_paths.h"
#include "host/owned_fd.h"
#include "host/parse.h"

namespace epc {
namespace {

constexpr std::string_view kResource = "sgx_epc";
constexpr std::size_t kMiscFileLimit = 64 * 1024;  // one line per misc resource; a few dozen bytes in practice
constexpr std::size_t kMaxCgroups = 100000;
constexpr int kMaxDepth = 32;

// What a malformed line looks like, never what it says: a misc file may be anything a symlink or a hostile
// tree puts there, and its content must not reach the log.
std::string shape_of(std::string_view line) {
  return std::to_string(split_fields(line).size()) + " fields in " + std::to_string(line.size()) + " bytes";
}

// A cgroup that disappeared between listing and reading (ENOENT, or ENODEV from kernfs) is not an error.
bool vanished(const Error& e) { return e.not_found() || e.errno_value == ENODEV || e.errno_value == ENOTDIR; }

// The misc files of one cgroup, in the order they are read.
enum MiscFile : int { kCurrent, kPeak, kMax, kEvents, kMiscFiles };
constexpr const char* kMiscNames[kMiscFiles] = {"misc.current", "misc.peak", "misc.max", "misc.events"};

// A file descriptor owned by the collector, counted against its budget of kept descriptors.
class KeptFd {
 public:
  KeptFd() = default;
  KeptFd(int fd, std::size_t* count) : fd_(fd), count_(count) { ++*count_; }
  KeptFd(KeptFd&& o) noexcept = default;  // the moved-from holds no descriptor and counts none
  KeptFd& operator=(KeptFd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::move(o.fd_);
      count_ = o.count_;
    }
    return *this;
  }
  ~KeptFd() { reset(); }
  int get() const { return fd_.get(); }
  explicit operator bool() const { return static_cast<bool>(fd_); }
  void reset() {
    if (!fd_) return;
    fd_.reset();
    --*count_;
  }

 private:
  OwnedFd fd_;
  std::size_t* count_ = nullptr;
};

// What a directory looked like when its children were last listed. On cgroupfs (kernfs) the link count is
// 2 + subdirectories (kernfs_refresh_inode) and the times change only when the kernel has attributes for the
// node; on ordinary file systems (fixture trees) every entry added or removed changes mtime and ctime.
struct DirStamp {
  ino_t ino = 0;
  nlink_t nlink = 0;
  timespec mtime{}, ctime{};
  bool operator==(const DirStamp& o) const {
    return ino == o.ino && nlink == o.nlink && mtime.tv_sec == o.mtime.tv_sec && mtime.tv_nsec == o.mtime.tv_nsec &&
           ctime.tv_sec == o.ctime.tv_sec && ctime.tv_nsec == o.ctime.tv_nsec;
  }
};

DirStamp stamp_of(const struct stat& st) { return {st.st_ino, st.st_nlink, st.st_mtim, st.st_ctim}; }

// One cgroup directory, kept from scrape to scrape: its descriptors, its children and the labels it resolved to.
struct Node {
  std::string name;  // path component; "" for the hierarchy root
  std::string rel;   // "" for the hierarchy root
  ino_t ino = 0;
  KeptFd dir;
  KeptFd files[kMiscFiles];
  bool listed = false;
  DirStamp stamp;
  std::vector<std::unique_ptr<Node>> children;  // sorted by name

  // From the path, fixed for the node's life.
  bool reportable = true;  // false: kubepods/QoS slice or runtime monitor, never a series of its own
  bool descend = true;     // false: a container's cgroup (everything below is in its numbers)

  // This scrape.
  bool gone = false;      // removed (or replaced) since it was listed
  bool has_misc = false;  // misc.current read
  std::uint64_t usage = 0;
  std::optional<std::uint64_t> limit, peak, events;

  // Labels, valid while Attribution::generation() is unchanged.
  std::uint64_t labels_generation = 0;
  bool kubernetes = false;
  Labels labels;
  std::string labels_key;  // the label set joined, for the duplicate check
  bool synced = false;     // within the current listing pass
};

enum class ReadOutcome { kOk, kAbsent, kVanished, kError };

class CgroupCollector final : public Collector {
 public:
  CgroupCollector(const HostPaths& paths, Attribution& attribution, std::size_t max_kept_fds)
      : paths_(paths), attribution_(attribution), max_kept_fds_(max_kept_fds) {}

  Status collect(MetricSink& sink) override {
    errors_.clear();
    error_count_ = 0;
    visited_ = 0;
    unreadable_ = 0;

    // The misc hierarchy: cgroup v2 at sys/fs/cgroup (or sys/fs/cgroup/unified on hybrid hosts), or the v1
    // misc controller at sys/fs/cgroup/misc. The first whose root lists sgx_epc in misc.capacity is used.
    std::vector<std::string> candidates;  // host paths, opened inside --path.rootfs (host/host_paths.h)
    if (paths_.exists("/sys/fs/cgroup/cgroup.controllers")) candidates.push_back("/sys/fs/cgroup");
    if (paths_.exists("/sys/fs/cgroup/unified/cgroup.controllers")) candidates.push_back("/sys/fs/cgroup/unified");
    candidates.push_back("/sys/fs/cgroup/misc");

    std::filesystem::path root;
    std::string root_host;
    std::uint64_t capacity = 0;
    for (const auto& c : candidates) {
      auto text = paths_.read(c + "/misc.capacity", kMiscFileLimit);
      if (!text) {
        if (vanished(text.error())) continue;
        return text.error();
      }
      auto entries = parse_misc_file(*text);
      if (!entries) return make_error(paths_.resolve(c + "/misc.capacity").string() + ": " + entries.error().message);
      if (const auto* e = find_misc_entry(*entries, kResource); e && e->value && *e->value > 0) {
        root = paths_.resolve(c);
        root_host = c;
        capacity = *e->value;
        break;
      }
    }
    if (root.empty()) {  // no sgx_epc misc resource on this kernel: no data
      tree_.reset();
      return Status::Ok();
    }

    sink.gauge("sgx_cgroup_epc_capacity_bytes", "EPC capacity of the node as the misc cgroup controller sees it "
               "(root misc.capacity, sgx_epc).", {}, static_cast<double>(capacity));

    if (!tree_ || root != root_) {
      tree_.reset();
      root_ = root;
      auto node = std::make_unique<Node>();
      OwnedFd root_fd(paths_.open(root_host, O_RDONLY | O_DIRECTORY));
      if (!root_fd) {
        int err = errno;
        return make_error("open " + root.string() + ": " + std::strerror(err), err);
      }
      struct stat st {};
      if (::fstat(root_fd.get(), &st) != 0) {
        int err = errno;
        return make_error("stat " + root.string() + ": " + std::strerror(err), err);
      }
      node->ino = st.st_ino;
      const int fd = root_fd.get();
      node->dir = KeptFd(root_fd.release(), &kept_);  // the root's descriptor is kept whatever the budget
      struct statfs sfs {};
      // On cgroupfs a removed cgroup's files fail with ENODEV and a new child changes the link count; other
      // file systems (fixture trees) are also checked for files replaced in a container's directory.
      kernfs_ = ::fstatfs(fd, &sfs) == 0 && (sfs.f_type == CGROUP2_SUPER_MAGIC || sfs.f_type == CGROUP_SUPER_MAGIC);
      tree_ = std::move(node);
    }
    sync(*tree_, -1, 0);
    if (visited_ > kMaxCgroups)
      return make_error("more than " + std::to_string(kMaxCgroups) + " cgroups under " + root.string());
    if (error_count_ > 0) {
      std::string msg = std::to_string(error_count_) + " misc cgroup file(s) unreadable or malformed";
      for (const auto& e : errors_) msg += "; " + e;
      return make_error(msg);
    }
    sink.gauge("sgx_exporter_cgroups_unreadable",
               "Cgroup directories of the misc hierarchy that could not be opened in this scrape (e.g. permission "
               "denied): their cgroups and everything below them are missing from the sgx_cgroup_* series; the log "
               "names each once.",
               {}, static_cast<double>(unreadable_));
    emit(sink);
    return Status::Ok();
  }

 private:
  void note_error(std::string msg) {
    ++error_count_;
    if (errors_.size() < 3) errors_.push_back(std::move(msg));
  }

  std::string shown(const Node& n, const char* name) const {
    return ((n.rel.empty() ? root_ : root_ / n.rel) / name).string();
  }

  bool may_keep() const { return kept_ < max_kept_fds_; }

  // Reads one misc file of the cgroup whose directory is open as dfd: pread at offset 0 on a kept descriptor
  // (cgroup files hand out their whole content from offset 0 on every read), else openat, pread and either keep
  // the descriptor or close it. `out` views `buf` or `big`.
  ReadOutcome read_misc(Node& n, int dfd, int which, char (&buf)[4096], std::string& big, std::string_view& out) {
    KeptFd& kept = n.files[which];
    OwnedFd tmp;
    int fd = kept.get();
    if (fd < 0) {
      // No symlink is followed (cgroupfs has none; one in a tree under --path.rootfs could lead anywhere).
      fd = ::openat(dfd, kMiscNames[which], O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | O_NOFOLLOW);
      if (fd < 0) {
        int err = errno;
        if (err == ENOENT || err == ENOTDIR) return ReadOutcome::kAbsent;
        if (err == ENODEV) return ReadOutcome::kVanished;
        note_error("open " + shown(n, kMiscNames[which]) + ": " + std::strerror(err));
        return ReadOutcome::kError;
      }
      if (may_keep() && n.dir)  // a file is kept only with its directory (whose stamp guards it)
        kept = KeptFd(fd, &kept_);
      else
        tmp.reset(fd);
    }
    // A short first read is the whole file and stays in buf; a file longer than any real misc file is gathered in
    // big, bounded.
    std::size_t in_buf = 0;
    bool gathered = false;
    const int err = pread_bounded(fd, 0, kMiscFileLimit, ReadMode::kSingleRecord, buf, [&](std::string_view block) {
      if (!gathered && block.size() < sizeof buf) {
        in_buf = block.size();
        return;
      }
      if (!gathered) big.clear();
      gathered = true;
      big.append(block);
    });
    if (err == EFBIG) {
      note_error(detail::read_error("read", shown(n, kMiscNames[which]), err, kMiscFileLimit).message);
      return ReadOutcome::kError;
    }
    if (err) {
      kept.reset();
      if (err == ENODEV || err == ENOENT) return ReadOutcome::kVanished;  // kernfs: the cgroup was removed
      note_error("read " + shown(n, kMiscNames[which]) + ": " + std::strerror(err));
      return ReadOutcome::kError;
    }
    out = gathered ? std::string_view(big) : std::string_view(buf, in_buf);
    return ReadOutcome::kOk;
  }

  // Reads and parses one misc file into the resource's value. kOk with *found = false: the file does not list
  // the resource.
  ReadOutcome read_value(Node& n, int dfd, int which, std::string_view resource, bool* found,
                         std::optional<std::uint64_t>* value) {
    char buf[4096];
    std::string big;
    std::string_view text;
    auto r = read_misc(n, dfd, which, buf, big, text);
    if (r != ReadOutcome::kOk) return r;
    auto v = scan_misc_file(text, resource);
    if (!v) {
      note_error(shown(n, kMiscNames[which]) + ": " + v.error().message);
      return ReadOutcome::kError;
    }
    *found = v->found;
    *value = v->value;
    return ReadOutcome::kOk;
  }

  // Closes every descriptor of a subtree that is no longer read.
  static void forget_children(Node& n) { n.children.clear(); }

  std::unique_ptr<Node> make_child(const Node& parent, std::string name, ino_t ino) {
    auto c = std::make_unique<Node>();
    c->rel = parent.rel.empty() ? name : parent.rel + "/" + name;
    c->name = std::move(name);
    c->ino = ino;
    // Cgroups never reported on their own (kubepods and QoS slices, CRI-O's conmon) need no more files;
    // below a container's cgroup (crun's "container" child) everything is already in the container's numbers.
    if (is_kubepods_path(c->rel)) {
      auto k = parse_kubepods_cgroup(c->rel);
      c->reportable = k && !k->runtime_monitor;
      if (k && !k->container_id.empty()) c->descend = false;
    }
    return c;
  }

  // Lists the child directories of dfd (kept or temporary) and merges them into n.children: a child of the same
  // name and inode keeps its descriptors, anything else starts afresh. Returns false when the listing failed.
  bool relist(Node& n, int dfd) {
    OwnedFd opened(::openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));  // its own offset, whatever dfd's use
    if (!opened) return false;
    DIR* d = ::fdopendir(opened.get());
    if (!d) return false;
    const int lfd = opened.release();  // closedir closes it
    struct Entry {
      std::string name;
      ino_t ino;
    };
    std::vector<Entry> found;
    while (dirent* e = ::readdir(d)) {
      std::string_view nm = e->d_name;
      if (nm == "." || nm == "..") continue;
      ino_t ino = e->d_ino;
      if (e->d_type == DT_UNKNOWN) {
        struct stat st {};
        if (::fstatat(lfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode)) continue;
        ino = st.st_ino;
      } else if (e->d_type != DT_DIR) {
        continue;
      }
      found.push_back({std::string(nm), ino});
    }
    ::closedir(d);
    std::sort(found.begin(), found.end(), [](const Entry& a, const Entry& b) { return a.name < b.name; });
    std::vector<std::unique_ptr<Node>> merged;
    merged.reserve(found.size());
    auto old = n.children.begin();
    for (auto& e : found) {
      while (old != n.children.end() && (*old)->name < e.name) ++old;
      if (old != n.children.end() && (*old)->name == e.name && (*old)->ino == e.ino && !(*old)->gone)
        merged.push_back(std::move(*old++));
      else
        merged.push_back(make_child(n, std::move(e.name), e.ino));
    }
    n.children = std::move(merged);  // the rest (removed or replaced) closes its descriptors here
    return true;
  }

  // Reads one cgroup and, where needed, its subtree. parent_fd is the parent's open directory (-1 for the root).
  void sync(Node& n, int parent_fd, int depth) {
    n.gone = false;
    n.has_misc = false;
    n.limit.reset();
    n.peak.reset();
    n.events.reset();
    n.usage = 0;
    if (++visited_ > kMaxCgroups) return;
    const bool is_root = n.rel.empty();

    OwnedFd tmp_dir;
    int dfd = n.dir.get();
    if (dfd < 0) {
      OwnedFd opened(::openat(parent_fd, n.name.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
      if (!opened) {
        int err = errno;
        if (err == ENOENT || err == ENOTDIR || err == ENODEV) {
          n.gone = true;  // removed meanwhile
          return;
        }
        // There but not readable (EACCES: a directory of another owner once the capabilities are dropped):
        // not "gone", which would hide it for good; kept in the tree, so the next scrape tries again.
        return unreadable(n, err);
      }
      if (!unreadable_logged_.empty()) unreadable_logged_.erase(n.rel);  // readable again: a recurrence is news
      struct stat st {};
      if (::fstat(opened.get(), &st) != 0 || st.st_ino != n.ino) {
        n.gone = true;  // replaced by another directory of the same name: its parent lists it afresh
        return;
      }
      dfd = opened.get();
      if (may_keep())
        n.dir = KeptFd(opened.release(), &kept_);
      else
        tmp_dir = std::move(opened);
    }

    // The directory's stamp: where it is listed (to see children come and go) and, on file systems other than
    // cgroupfs, everywhere: there a file replaced by another (rename) changes its directory, and the kept
    // descriptor would read the old one. cgroupfs never replaces a file.
    bool changed = false;
    DirStamp s;
    if (n.descend || !kernfs_) {
      struct stat st {};
      if (::fstat(dfd, &st) != 0) return vanish(n);
      s = stamp_of(st);
      changed = !n.listed || !(s == n.stamp) || recent(s);
      if (changed && !kernfs_)
        for (auto& f : n.files) f.reset();
    }

    bool found = false;
    std::optional<std::uint64_t> value;
    auto r = read_value(n, dfd, kCurrent, kResource, &found, &value);
    if (r == ReadOutcome::kVanished) {
      n.gone = true;
      return;
    }
    if (r != ReadOutcome::kOk && !is_root) {
      // No misc files here (the controller is off for this subtree), or a bad file (recorded).
      for (auto& f : n.files) f.reset();
      forget_children(n);
      return;
    }
    if (r == ReadOutcome::kOk) {
      n.has_misc = true;
      n.usage = found && value ? *value : 0;
      if (n.reportable) {
        r = read_value(n, dfd, kPeak, kResource, &found, &value);
        if (r == ReadOutcome::kVanished) return vanish(n);
        if (r == ReadOutcome::kOk) n.peak = found && value ? *value : 0;
        if (!is_root) {
          r = read_value(n, dfd, kMax, kResource, &found, &value);
          if (r == ReadOutcome::kVanished) return vanish(n);
          if (r == ReadOutcome::kOk && found) n.limit = value;  // nullopt for "max"
          r = read_value(n, dfd, kEvents, "sgx_epc.max", &found, &value);
          if (r == ReadOutcome::kVanished) return vanish(n);
          if (r == ReadOutcome::kOk) n.events = found && value ? *value : 0;
        }
      }
    }

    if (!n.descend || depth >= kMaxDepth) {
      if (changed) {
        n.stamp = s;
        n.listed = true;
      }
      return;
    }
    bool need = changed;
    // Two passes at most: a child found removed while it was read (kernfs: ENODEV) means the listing is stale
    // (on cgroupfs an added and a removed child leave the link count as it was).
    for (int pass = 0; pass < 2; ++pass) {
      if (need) {
        if (!relist(n, dfd)) return vanish(n);
        n.stamp = s;
        n.listed = true;
      }
      bool any_gone = false;
      for (auto& c : n.children) {
        if (visited_ > kMaxCgroups) return;
        if (pass > 0 && c->synced) continue;
        sync(*c, dfd, depth + 1);
        c->synced = true;
        any_gone |= c->gone;
      }
      if (!any_gone) break;
      need = true;
    }
    for (auto& c : n.children) c->synced = false;
    std::erase_if(n.children, [](const std::unique_ptr<Node>& c) { return c->gone; });
  }

  void unreadable(Node& n, int err) {
    ++unreadable_;
    forget_children(n);
    if (unreadable_logged_.size() >= kMaxCgroups) unreadable_logged_.clear();
    if (unreadable_logged_.insert(n.rel).second)
      spdlog::warn("{}", log_fields("cgroup directory not readable; its cgroups are not reported",
                                    {{"collector", "cgroup"}, {"path", (root_ / n.rel).string()},
                                     {"err", std::strerror(err)}}));
  }

  void vanish(Node& n) {
    n.gone = true;
    n.has_misc = false;
  }

  // Directory times come from a coarse clock: an entry added in the same tick as the listing would go unseen,
  // so a directory changed within the last seconds is listed again.
  static bool recent(const DirStamp& s) {
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    return now.tv_sec - s.mtime.tv_sec < 2;
  }

  void resolve_labels(Node& n, std::uint64_t generation) {
    if (n.labels_generation == generation && generation != 0) return;
    if (n.rel.empty()) {
      n.labels = Workload{}.labels();  // cgroup="/": the node's total, always reported
      n.kubernetes = false;
    } else {
      Workload w = attribution_.resolve_cgroup_path(n.rel);
      n.kubernetes = w.is_kubernetes();
      n.labels = w.labels();
    }
    n.labels_key.clear();
    for (const auto& [k, v] : n.labels) {
      n.labels_key.append(k).push_back('\x1f');
      n.labels_key.append(v).push_back('\x1e');
    }
    n.labels_generation = attribution_.generation();
  }

  // Pre-order, children in name order (stable output).
  void emit_node(Node& n, MetricSink& sink, std::uint64_t generation) {
    if (n.has_misc && n.reportable) {
      bool leaf = true;
      for (const auto& c : n.children)
        if (c->has_misc) leaf = false;
      bool used = n.usage > 0 || n.peak.value_or(0) > 0 || n.events.value_or(0) > 0 || n.limit.has_value();
      if (n.rel.empty() || used) {
        resolve_labels(n, generation);
        // Inner cgroups outside Kubernetes are sums of their leaves (kubepods slices were dropped above).
        if (n.rel.empty() || n.kubernetes || leaf) {
          if (!seen_.insert(n.labels_key).second) {
            spdlog::debug("{}", log_fields("cgroup maps to labels already reported, skipped",
                                           {{"collector", "cgroup"}, {"cgroup", n.rel}}));
          } else {
            sink.gauge("sgx_cgroup_epc_usage_bytes", "EPC charged to the cgroup (misc.current, sgx_epc).", n.labels,
                       static_cast<double>(n.usage));
            if (n.limit)
              sink.gauge("sgx_cgroup_epc_limit_bytes",
                         "EPC limit of the cgroup (misc.max, sgx_epc); absent when unlimited.", n.labels,
                         static_cast<double>(*n.limit));
            if (n.peak)
              sink.gauge("sgx_cgroup_epc_peak_bytes", "Highest EPC charge of the cgroup (misc.peak, sgx_epc).",
                         n.labels, static_cast<double>(*n.peak));
            if (n.events)
              sink.counter("sgx_cgroup_epc_max_events_total",
                           "Times an EPC charge in the cgroup or below hit a limit (misc.events, sgx_epc.max).",
                           n.labels, static_cast<double>(*n.events));
          }
        }
      }
    }
    for (auto& c : n.children) emit_node(*c, sink, generation);
  }

  void emit(MetricSink& sink) {
    seen_.clear();
    emit_node(*tree_, sink, attribution_.generation());
    seen_.clear();
  }

  const HostPaths& paths_;
  Attribution& attribution_;
  const std::size_t max_kept_fds_;
  std::size_t kept_ = 0;  // descriptors held in tree_ (declared before it: destroyed after it)
  std::unique_ptr<Node> tree_;
  bool kernfs_ = false;
  std::filesystem::path root_;  // of the misc hierarchy, for error messages
  std::unordered_set<std::string_view> seen_;
  std::vector<std::string> errors_;
  std::size_t unreadable_ = 0;                       // cgroup directories not opened in this scrape
  std::unordered_set<std::string> unreadable_logged_;  // logged once each, until readable again
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
      return make_error("line " + std::to_string(lineno) + ": expected '<resource> <value>', got " + shape_of(line));
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

Result<MiscValue> scan_misc_file(std::string_view text, std::string_view resource) {
  MiscValue out;
  int lineno = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    auto j = text.find('\n', i);
    if (j == std::string_view::npos) j = text.size();
    auto line = text.substr(i, j - i);
    i = j + 1;
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    auto t = trim(line);
    if (t.empty()) continue;
    auto sp = t.find_first_of(" \t");
    auto rest = sp == std::string_view::npos ? std::string_view{} : trim(t.substr(sp));
    if (sp == std::string_view::npos || rest.empty() || rest.find_first_of(" \t") != std::string_view::npos)
      return make_error("line " + std::to_string(lineno) + ": expected '<resource> <value>', got " + shape_of(line));
    std::optional<std::uint64_t> v;
    if (rest != "max") {
      auto n = parse_u64(rest);
      if (!n) return make_error("line " + std::to_string(lineno) + ": " + n.error().message);
      v = *n;
    }
    if (!out.found && t.substr(0, sp) == resource) {
      out.found = true;
      out.value = v;
    }
  }
  return out;
}

const MiscEntry* find_misc_entry(const std::vector<MiscEntry>& entries, std::string_view resource) {
  for (const auto& e : entries)
    if (e.resource == resource) return &e;
  return nullptr;
}

std::unique_ptr<Collector> make_cgroup_collector(const CollectorServices& services, const NoOptions&) {
  if (services.fds.keep == 0)
    spdlog::info("{}", log_fields("no descriptors kept open between scrapes: RLIMIT_NOFILE leaves none beside the "
                                  "connections",
                                  {{"collector", "cgroup"}}));
  return std::make_unique<CgroupCollector>(services.paths, services.attribution, services.fds.keep);
}

}  // namespace epc
