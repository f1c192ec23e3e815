#include "epc_probes.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <spdlog/spdlog.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include <openssl/evp.h>
#include <time.h>

#include "epc.h"
#include "epc.skel.h"
#include "host/file_reader.h"
#include "host/log_fields.h"
#include "host/owned_fd.h"
#include "host/parse.h"

namespace epc::probes {

namespace {

int libbpf_log(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (level == LIBBPF_DEBUG && !spdlog::should_log(spdlog::level::trace)) return 0;
  // A verifier log comes in one call: its end (the reason) matters most. One buffer for the process (not
  // thread_local: that would take 64 KiB of static TLS from every thread's stack, the web server's included).
  static std::mutex mu;
  static char buf[65536];
  std::lock_guard<std::mutex> lock(mu);
  int n = std::vsnprintf(buf, sizeof(buf), fmt, args);
  if (n <= 0) return 0;
  std::string_view line(buf, std::min<std::size_t>(static_cast<std::size_t>(n), sizeof(buf) - 1));
  while (!line.empty() && (line.back() == '\n' || line.back() == ' ')) line.remove_suffix(1);
  spdlog::debug("libbpf: {}", line);
  return 0;
}

void install_libbpf_log() {
  static std::once_flag once;
  std::call_once(once, [] { libbpf_set_print(libbpf_log); });
}

bool path_exists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::exists(path, ec);
}

// /proc/kallsyms is 10 MiB and more on a distribution kernel with its modules: streamed line by line under a cap
// far above that (never held whole at start-up); only the lines mentioning "sgx" go to the parser.
constexpr std::size_t kKallsymsLimit = 256u << 20;

Result<KallsymsInfo> read_kallsyms(const std::string& path) {
  std::string lines;
  Status read = for_each_line(path, kKallsymsLimit, [&](std::string_view line) {
    if (line.find("sgx") != std::string_view::npos) lines.append(line).push_back('\n');
  });
  if (!read) return read.error();
  return parse_kallsyms(lines);
}

// tracefs listings (kprobe_events, kprobe_profile): a line per event, ours among any other tool's.
constexpr std::size_t kTracefsListLimit = 16u << 20;

std::string errstr(int err) { return std::system_category().message(err < 0 ? -err : err); }

void log_probe_off(const ProbeState& st) {
  spdlog::warn(
      "{}", log_fields("probe off",
                       {{"collector", "ebpf"}, {"probe", st.name}, {"function", st.function}, {"reason", st.reason}}));
}

// Owners of libbpf objects: every one is released by its deleter, in the order its owner's members say.
struct SkelDeleter {
  void operator()(epc_bpf* s) const { epc_bpf__destroy(s); }
};
// Destroying a pinned link only closes our fd: the link stays attached while its pin exists.
struct LinkDeleter {
  void operator()(bpf_link* l) const { bpf_link__destroy(l); }
};
struct BtfDeleter {
  void operator()(struct btf* b) const { btf__free(b); }
};
using SkelPtr = std::unique_ptr<epc_bpf, SkelDeleter>;
using LinkPtr = std::unique_ptr<bpf_link, LinkDeleter>;
using BtfPtr = std::unique_ptr<struct btf, BtfDeleter>;

// The BTF the CO-RE relocations and the fentry choice look at: Options::btf_custom_path, else the running kernel's.
BtfPtr load_btf(const std::string& custom_path) {
  struct btf* b = custom_path.empty() ? btf__load_vmlinux_btf() : btf__parse(custom_path.c_str(), nullptr);
  if (b && libbpf_get_error(b)) b = nullptr;
  return BtfPtr(b);
}

}  // namespace

int btf_function_arity(const struct btf* btf, const char* fn) {
  if (!btf) return -1;
  int id = btf__find_by_name_kind(btf, fn, BTF_KIND_FUNC);
  if (id <= 0) return -1;
  const btf_type* func = btf__type_by_id(btf, id);
  if (!func) return -1;
  const btf_type* proto = btf__type_by_id(btf, func->type);
  if (!proto || !btf_is_func_proto(proto)) return -1;
  return btf_vlen(proto);
}

std::string encl_grow_fexit_variant(const struct btf* btf) {
  switch (btf_function_arity(btf, "sgx_encl_grow")) {
    case 2: return "fx_va_grow";   // (struct sgx_encl *, bool reclaim): SGX2 series, 6.0+
    case 1: return "fx_va_grow1";  // (struct sgx_encl *): 5.15
    default: return "";
  }
}

bool KallsymsInfo::has_function(const std::string& name) const {
  for (const auto& f : functions)
    if (f == name) return true;
  return false;
}

bool KallsymsInfo::has_renamed(const std::string& name) const {
  for (const auto& f : functions)
    if (f.size() > name.size() && f.compare(0, name.size(), name) == 0 && f[name.size()] == '.') return true;
  return false;
}

KallsymsInfo parse_kallsyms(const std::string& text) {
  KallsymsInfo info;
  info.readable = true;
  for (std::string_view line : split_lines(text)) {
    const auto fields = split_fields(line, " \t");
    if (fields.size() < 3 || fields[1].size() != 1) continue;
    const std::string addr(fields[0]), type(fields[1]), name(fields[2]);
    if (name.rfind("sgx_", 0) != 0 && name.rfind("__sgx_", 0) != 0) continue;
    char t = type[0];
    if (t == 't' || t == 'T') {
      info.any_sgx = true;
      info.functions.push_back(name);
    } else if ((name == "sgx_nr_free_pages" && (t == 'b' || t == 'B' || t == 'd' || t == 'D')) ||
               (name == "sgx_encl_fops" && (t == 'r' || t == 'R' || t == 'd' || t == 'D'))) {
      errno = 0;
      char* end = nullptr;
      unsigned long long a = std::strtoull(addr.c_str(), &end, 16);
      if (errno == 0 && end && *end == '\0')
        (name == "sgx_nr_free_pages" ? info.nr_free_pages_addr : info.encl_fops_addr) = a;
    }
  }
  return info;
}

namespace {
// kretprobes with an explicit maxactive, through tracefs. The kernel keeps `maxactive` return instances per
// kretprobe and misses the return of every call beyond them that is in flight at once. Created through the perf
// kprobe PMU (libbpf's way) it takes the default: max(10, 2 x possible CPUs) since 5.18, but on 5.15 kernels
// without CONFIG_PREEMPTION (PREEMPT_NONE or PREEMPT_VOLUNTARY, as Ubuntu's) only num_possible_cpus()
// (5.15 kernel/kprobes.c:2023-2028). sgx_vma_fault and sgx_encl_eldu sleep on the enclave's mutex and its backing
// pages, so more threads than CPUs are inside them under paging and returns were lost (the emulated 5.15 kernel,
// one CPU: 18,213 of 37,496 sgx_encl_eldu returns). A tracefs kretprobe event ("r<N>:group/event func") sets N.
constexpr int kKretprobeMaxactive = 1024;  // trace_kprobe's upper bound is 4096 (KRETPROBE_MAXACTIVE_MAX)
constexpr const char* kTracefsGroupPrefix = "epc_exporter_";

struct TracefsKretprobe {
  std::string tracefs;  // directory with kprobe_events
  std::string group, event;
};

// One write to a tracefs control file (kprobe_events takes a definition or a removal per write). The error carries
// the errno: EBUSY is an event still in use.
Status append_line(const std::string& path, const std::string& line) {
  OwnedFd fd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
  if (fd.get() < 0) return make_error("opening " + path + ": " + std::strerror(errno), errno);
  ssize_t n = ::write(fd.get(), line.data(), line.size());
  if (n < 0) return make_error("writing " + path + ": " + std::strerror(errno), errno);
  if (n != static_cast<ssize_t>(line.size())) return make_error("writing " + path + ": short write", EIO);
  return Status::Ok();
}

// Asks tracefs to delete the event (the kernel refuses while it is in use: EBUSY). Best effort: an event left
// behind is removed by the next instance (remove_stale_tracefs_events).
void remove_tracefs_event(const TracefsKretprobe& e) {
  if (Status st = append_line(e.tracefs + "/kprobe_events", "-:" + e.group + "/" + e.event + "\n"); !st)
    spdlog::debug("{}",
                  log_fields("kprobe event not removed",
                             {{"collector", "ebpf"}, {"event", e.group + "/" + e.event}, {"err", st.error().message}}));
}

std::string tracefs_dir(const std::string& sys_path) {
  for (const char* d : {"/kernel/tracing", "/kernel/debug/tracing"}) {
    std::string dir = sys_path + d;
    if (::access((dir + "/kprobe_events").c_str(), W_OK) == 0) return dir;
  }
  return {};
}

// The events listed in <tracefs>/kprobe_events ("r1024:epc_exporter_123/kr_eldu sgx_encl_eldu"): group and event of
// each well-formed line.
struct KprobeEvent {
  std::string group, event;
  std::string removal() const { return "-:" + group + "/" + event + "\n"; }
};
std::vector<KprobeEvent> read_kprobe_events(const std::string& tracefs) {
  std::vector<KprobeEvent> out;
  auto text = read_file(tracefs + "/kprobe_events", kTracefsListLimit);
  if (!text) return out;
  for (std::string_view line : split_lines(*text)) {
    auto colon = line.find(':'), slash = line.find('/'), space = line.find(' ');
    if (colon == std::string::npos || slash == std::string::npos || space == std::string::npos || slash > space ||
        colon > slash)
      continue;
    out.push_back({std::string(line.substr(colon + 1, slash - colon - 1)),
                   std::string(line.substr(slash + 1, space - slash - 1))});
  }
  return out;
}

}  // namespace

std::size_t remove_stale_tracefs_events(const std::string& tracefs, const std::string& proc_path) {
  std::vector<std::string> stale;
  for (const auto& ev : read_kprobe_events(tracefs)) {
    const std::string& group = ev.group;
    if (group.rfind(kTracefsGroupPrefix, 0) != 0) continue;
    std::string pid = group.substr(std::strlen(kTracefsGroupPrefix));
    if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) continue;
    // Our own pid's group cannot be ours yet (this runs before any event is made): it is a dead instance's that
    // had the same pid, as every restart of a container whose exporter is its pid 1 does.
    if (pid != std::to_string(::getpid()) && ::access((proc_path + "/" + pid).c_str(), F_OK) == 0) continue;
    stale.push_back(ev.removal());
  }
  for (const auto& s : stale)
    if (Status st = append_line(tracefs + "/kprobe_events", s); !st)
      spdlog::debug("{}",
                    log_fields("stale kprobe event not removed", {{"collector", "ebpf"}, {"err", st.error().message}}));
  if (!stale.empty())
    spdlog::info("{}", log_fields("removed kprobe events left by exporters no longer running",
                                  {{"collector", "ebpf"}, {"events", std::to_string(stale.size())}}));
  return stale.size();
}

namespace {

// The kretprobe program `prog` on `func` with maxactive = kKretprobeMaxactive; an error when tracefs refuses, and
// the caller falls back to the PMU (default maxactive).
Result<LinkPtr> attach_kretprobe_tracefs(bpf_program* prog, const std::string& func, const std::string& tracefs,
                                         const std::string& group, TracefsKretprobe& made) {
  made = {tracefs, group, bpf_program__name(prog)};
  const std::string def = "r" + std::to_string(kKretprobeMaxactive) + ":" + made.group + "/" + made.event + " " +
                          func + "\n";
  if (Status st = append_line(tracefs + "/kprobe_events", def); !st) return st.error();
  auto undo = [&](std::string what, int err) {
    remove_tracefs_event(made);
    return make_error(std::move(what) + ": " + errstr(err), err);
  };
  const std::string id_path = tracefs + "/events/" + made.group + "/" + made.event + "/id";
  auto id = parse_u64(trim(read_first_line(id_path)));
  if (!id) return undo("reading " + id_path, ENOENT);
  perf_event_attr attr{};
  attr.size = sizeof(attr);
  attr.type = PERF_TYPE_TRACEPOINT;
  attr.config = *id;
  attr.sample_period = 1;
  attr.wakeup_events = 1;
  OwnedFd pfd(static_cast<int>(::syscall(__NR_perf_event_open, &attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC)));
  if (pfd.get() < 0) return undo("perf_event_open", errno);
  LinkPtr l(bpf_program__attach_perf_event(prog, pfd.get()));
  if (!l) {
    const int err = errno;
    pfd.reset();
    return undo("attaching to the perf event", err);
  }
  pfd.release();  // the link owns it from here
  return l;
}
}  // namespace

// One attached program, for its run counts: the skeleton's fd, or (taken over from a pinned link) one we own.
struct AttachedProgram {
  std::string name;
  int fd = -1;
  OwnedFd owned;
};

// Members go in reverse order: the links (a pinned link stays attached: only our fd goes), then the programs
// taken over from pinned links, then the skeleton with its programs and maps. The kretprobe events go between the
// links and the rest (the kernel refuses to remove an event in use).
struct Probes::Obj {
  SkelPtr skel;
  std::vector<AttachedProgram> attached_progs;
  std::vector<TracefsKretprobe> tracefs_events;  // removed after their links, unless the links are pinned
  bool keep_tracefs_events = false;
  std::vector<LinkPtr> links;
  ~Obj() {
    links.clear();
    if (!keep_tracefs_events)
      for (const auto& e : tracefs_events) remove_tracefs_event(e);
  }
};

namespace {
// Whether the kernel's BTF has the task_file (5.8+) and task_vma (5.12+) iterator types the start-up discovery
// programs attach to.
void iterator_types(const struct btf* vmlinux, bool& file, bool& vma) {
  file = vmlinux && btf__find_by_name_kind(vmlinux, "bpf_iter__task_file", BTF_KIND_STRUCT) > 0;
  vma = vmlinux && btf__find_by_name_kind(vmlinux, "bpf_iter__task_vma", BTF_KIND_STRUCT) > 0;
}

// ---- pinned state (docs/probes.md, "Restarts") ----
// <pin_path>/<layout id>/map_<name> for every map of the object, link_<program> for every attached program. A
// kretprobe made through tracefs for pinned state is in group epc_exporter_p<layout id> (not a pid's group: it
// outlives the process), removed when the state is.
constexpr const char* kPinnedGroupPrefix = "epc_exporter_p";

bool is_bpffs(const std::string& path) {
  struct statfs st{};
  return ::statfs(path.c_str(), &st) == 0 && st.f_type == BPF_FS_MAGIC;
}

// The entries of a pin directory, sorted; none when it cannot be listed (absent: nothing pinned).
std::vector<std::string> list_pins(const std::string& dir) { return list_dir(dir).value_or({}); }

// The first failure of a removal that goes on past it (what can be removed is).
void note_failure(Status& status, const std::string& what, int err) {
  if (status) status = make_error(what + ": " + std::strerror(err), err);
}

// Removes a layout directory: its pins (links detach when their last reference goes), then itself. Counts the pins
// removed; the status holds the first failure.
UnpinOutcome remove_layout_dir(const std::string& dir) {
  UnpinOutcome out;
  for (const auto& name : list_pins(dir)) {
    if (::unlink((dir + "/" + name).c_str()) == 0)
      ++out.removed;
    else
      note_failure(out.status, "removing " + dir + "/" + name, errno);
  }
  if (::rmdir(dir.c_str()) != 0 && errno != ENOENT) note_failure(out.status, "removing " + dir, errno);
  return out;
}

// Removes the kretprobe events of pinned state of the given layout ids ("" = every layout). The kernel frees a link
// (and closes its perf event) after an RCU grace period once its last pin is gone; until then tracefs refuses with
// EBUSY, so a refused event is asked again for up to 5 s. Returns how many are left.
std::size_t remove_pinned_tracefs_events(const std::string& tracefs, const std::string& only_layout) {
  if (tracefs.empty()) return 0;
  std::vector<std::string> ours;
  for (const auto& ev : read_kprobe_events(tracefs)) {
    if (ev.group.rfind(kPinnedGroupPrefix, 0) != 0) continue;
    if (!only_layout.empty() && ev.group != kPinnedGroupPrefix + only_layout) continue;
    ours.push_back(ev.removal());
  }
  for (int round = 0; !ours.empty(); ++round) {
    std::vector<std::string> busy;
    for (const auto& s : ours) {
      Status st = append_line(tracefs + "/kprobe_events", s);
      if (st) continue;
      if (st.error().errno_value == EBUSY && round < 100) {
        busy.push_back(s);
      } else {
        spdlog::warn(
            "{}",
            log_fields("kprobe event of removed pinned state not removed",
                       {{"collector", "ebpf"}, {"event", s.substr(2, s.size() - 3)}, {"err", st.error().message}}));
        return ours.size();
      }
    }
    ours.swap(busy);
    if (!ours.empty()) ::usleep(50'000);
  }
  return 0;
}

}  // namespace

std::string layout_id(const std::string& tag) {
  std::size_t size = 0;
  const auto* bytes = static_cast<const unsigned char*>(epc_bpf__elf_bytes(&size));
  std::uint64_t h = 1469598103934665603ULL;  // FNV-1a: a content id, not a security check
  auto mix = [&](unsigned char c) {
    h ^= c;
    h *= 1099511628211ULL;
  };
  for (std::size_t i = 0; i < size; ++i) mix(bytes[i]);
  for (char c : tag) mix(static_cast<unsigned char>(c));
  char out[17];
  std::snprintf(out, sizeof(out), "%016llx", static_cast<unsigned long long>(h));
  return out;
}

UnpinOutcome unpin_all(const std::string& pin_path, const std::string& sys_path) {
  UnpinOutcome out;
  struct stat st{};
  if (::stat(pin_path.c_str(), &st) != 0) {
    if (errno != ENOENT) out.status = make_error(pin_path + ": " + std::strerror(errno), errno);
    return out;
  }
  for (const auto& layout : list_pins(pin_path)) {
    UnpinOutcome one = remove_layout_dir(pin_path + "/" + layout);
    out.removed += one.removed;
    if (out.status && !one.status) out.status = one.status;
  }
  if (::rmdir(pin_path.c_str()) != 0 && errno != ENOENT) note_failure(out.status, "removing " + pin_path, errno);
  if (std::size_t left = remove_pinned_tracefs_events(tracefs_dir(sys_path), ""); left && out.status)
    out.status = make_error(std::to_string(left) + " kprobe events of the pinned state could not be removed");
  return out;
}

namespace {
// kprobe_profile: "<group>/<event> <hits> <misses>" per kprobe event (ours: the tracefs kretprobes).
std::map<std::string, std::uint64_t> kretprobe_misses(const std::vector<TracefsKretprobe>& events) {
  std::map<std::string, std::uint64_t> out;
  if (events.empty()) return out;
  auto text = read_file(events.front().tracefs + "/kprobe_profile", kTracefsListLimit);
  if (!text) return out;
  const auto fields = split_fields(*text, " \t\n");
  for (std::size_t i = 0; i + 2 < fields.size(); i += 3) {
    auto hits = parse_u64(fields[i + 1]), misses = parse_u64(fields[i + 2]);
    if (!hits || !misses) break;
    for (const auto& e : events)
      if (fields[i] == e.group + "/" + e.event || fields[i] == e.event) out[e.event] = *misses;
  }
  return out;
}
}  // namespace

Probes::~Probes() = default;

std::unique_ptr<Probes> Probes::start(const Options& options) {
  auto p = start_once(options, true);
  if (!p->reuse_failed_) return p;
  spdlog::warn("{}",
               log_fields("taking over the pinned state failed; starting with fresh state", {{"collector", "ebpf"}}));
  p.reset();
  return start_once(options, false);  // removes the unusable state and its kprobe events, as for a mismatch
}

// ---- start-up: detect, choose, pins, load, attach ----

Detection detect(const Options& options) {
  Detection d;
  if (options.mode == Mode::kRun) {
    if (auto read = read_kallsyms(options.kallsyms_path)) d.kallsyms = std::move(*read);
    d.btf = !options.btf_custom_path.empty() || path_exists("/sys/kernel/btf/vmlinux");
    d.kprobes = path_exists(options.sys_path + "/bus/event_source/devices/kprobe/type") ||
                path_exists(options.sys_path + "/kernel/tracing/kprobe_events") ||
                path_exists(options.sys_path + "/kernel/debug/tracing/kprobe_events");
    d.root = ::geteuid() == 0;
    BtfPtr btf = d.btf ? load_btf(options.btf_custom_path) : nullptr;
    d.tracing = btf && libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_TRACING, nullptr) == 1;
    for (const auto& s : hook_specs())
      if (btf && btf__find_by_name_kind(btf.get(), s.function, BTF_KIND_FUNC) > 0) d.btf_functions.insert(s.function);
    d.grow_fexit = encl_grow_fexit_variant(btf.get());
    iterator_types(d.tracing ? btf.get() : nullptr, d.iter_file, d.iter_vma);
    // /dev/sgx_enclave's device number as the kernel writes it (MKDEV: major << 20 | minor).
    struct stat st{};
    if (::stat((options.dev_path + "/sgx_enclave").c_str(), &st) == 0 && S_ISCHR(st.st_mode))
      d.enclave_rdev = (major(st.st_rdev) << 20) | minor(st.st_rdev);
  } else if (options.mode == Mode::kLoadCheck) {
    // The iterators are tracing programs: they load where the running kernel has BTF and the iterator types.
    if (BtfPtr vmlinux = load_btf("")) iterator_types(vmlinux.get(), d.iter_file, d.iter_vma);
  } else if (!options.kallsyms_path.empty()) {  // kTestOnly: the free-pages reader still gets its address
    if (auto read = read_kallsyms(options.kallsyms_path)) d.kallsyms = std::move(*read);
  }
  return d;
}

std::vector<HookChoice> choose(const Detection& d, const Options& options) {
  const auto& specs = hook_specs();
  std::vector<HookChoice> out(specs.size());
  if (options.mode == Mode::kLoadCheck) {
    for (auto& c : out) c.how = Choice::kKprobe;
    return out;
  }
  if (options.mode != Mode::kRun) return out;  // kTestOnly: maps and the on-demand program only
  std::string all_off;
  if (!d.kallsyms.readable)
    all_off = "cannot read " + options.kallsyms_path;
  else if (!d.kallsyms.any_sgx)
    all_off = "no SGX driver in this kernel (no sgx_* function in kallsyms)";
  else if (!d.btf)
    all_off = "kernel has no BTF (/sys/kernel/btf/vmlinux): CO-RE needs CONFIG_DEBUG_INFO_BTF";
  else if (!d.root)
    all_off = "not root: loading BPF programs needs CAP_BPF and CAP_PERFMON";
  if (!all_off.empty()) {
    for (auto& c : out) c.reason = all_off;
    return out;
  }
  for (std::size_t i = 0; i < specs.size(); ++i) {
    auto& c = out[i];
    const std::string fn = specs[i].function;
    const bool disabled =
        std::find(options.disabled.begin(), options.disabled.end(), specs[i].name) != options.disabled.end();
    if (disabled) {
      c.reason = "disabled by configuration";
    } else if (!d.kallsyms.has_function(fn)) {
      c.reason = d.kallsyms.has_renamed(fn) ? fn + " only exists as a compiler clone (.isra/.constprop/.part)"
                                            : fn + " not in kallsyms (inlined or absent)";
    } else if (options.prefer_fentry && specs[i].fentry && d.tracing && d.btf_functions.count(fn) &&
               (i != hook::va_grow || !d.grow_fexit.empty())) {
      c.how = Choice::kFentry;
    } else if (d.kprobes) {
      c.how = Choice::kKprobe;
    } else {
      c.reason = "no kprobes (no kprobe PMU or tracefs kprobe_events) and no fentry for " + fn;
    }
  }
  return out;
}

namespace {
// Pins every map of the object in pin_dir (map_<name>). false: one could not be pinned (logged).
bool pin_maps(bpf_object* obj, const std::string& pin_dir) {
  bpf_map* m;
  bpf_object__for_each_map(m, obj) {
    if (bpf_map__is_internal(m)) continue;
    if (bpf_map__pin(m, (pin_dir + "/map_" + bpf_map__name(m)).c_str()) != 0) {
      spdlog::warn("{}", log_fields("pinning a map failed: state is not pinned, a restart starts over",
                                    {{"collector", "ebpf"}, {"map", bpf_map__name(m)}, {"err", errstr(errno)}}));
      return false;
    }
  }
  return true;
}

// One hook attached: its entry program, then its return program, with their links (links[k] is progs[k]'s) and
// the tracefs events made for its kretprobe.
struct HookLinks {
  std::vector<bpf_program*> progs;
  std::vector<LinkPtr> links;
  std::vector<TracefsKretprobe> events;
};

// Attaches the hook's programs of one flavor; the kretprobe through tracefs (maxactive), through the PMU where
// tracefs refuses. On failure nothing stays attached, and the error is the reason the probe is off.
Result<HookLinks> attach_hook(const HookPrograms& hp, bool fentry, const std::string& grow_fexit,
                              const std::string& function, const std::string& tracefs, const std::string& group) {
  bpf_program* fx = hp.fx;
  if (fentry && hp.fx_alt && grow_fexit == bpf_program__name(hp.fx_alt)) fx = hp.fx_alt;
  HookLinks out;
  for (bpf_program* prog : {fentry ? hp.fe : hp.kp, fentry ? fx : hp.kr}) {
    if (!prog) continue;
    LinkPtr l;
    if (!fentry && prog == hp.kr && !tracefs.empty()) {
      TracefsKretprobe made;
      if (auto r = attach_kretprobe_tracefs(prog, function, tracefs, group, made)) {
        l = std::move(r.value());
        out.events.push_back(made);
      } else {
        spdlog::warn(
            "{}",
            log_fields("kretprobe through tracefs failed; attaching with the kernel's default maxactive",
                       {{"collector", "ebpf"}, {"program", bpf_program__name(prog)}, {"err", r.error().message}}));
      }
    }
    if (!l) l.reset(bpf_program__attach(prog));
    if (!l) {
      const int err = errno;
      out.links.clear();  // before their events: the kernel refuses to remove an event in use
      for (const auto& e : out.events) remove_tracefs_event(e);
      return make_error(std::string("attaching ") + bpf_program__name(prog) + " failed: " + errstr(err), err);
    }
    out.progs.push_back(prog);
    out.links.push_back(std::move(l));
  }
  return out;
}
}  // namespace

// What start_once() carries from one step to the next.
struct Probes::Plan {
  Detection host;
  std::vector<Choice> choice;  // per hook; load() turns fentry into kprobe when the kernel refuses fentry
  // Programs this instance attaches (kRun), with their hook's index; program names are <kp|kr|fe|fx>_<hook name>
  // (programs_of checks them against the skeleton), the va_grow fexit is the chosen variant.
  std::vector<std::pair<std::size_t, std::string>> want_links;
  std::string pin_dir;  // our layout's directory when pinning
  bool reuse = false;   // take over the pinned state in pin_dir
};

void Probes::all_off(const std::string& reason) {
  for (auto& st : states_)
    if (!st.attached && st.reason.empty()) st.reason = reason;
}

std::unique_ptr<Probes> Probes::start_once(const Options& options, bool allow_reuse) {
  install_libbpf_log();
  std::unique_ptr<Probes> p(new Probes());
  p->stats_enabled_path_ = options.proc_path + "/sys/kernel/bpf_stats_enabled";
  p->boot_id_ = read_first_line(options.proc_path + "/sys/kernel/random/boot_id");
  const auto& specs = hook_specs();
  Plan plan;
  plan.host = detect(options);
  const std::vector<HookChoice> chosen = choose(plan.host, options);
  for (std::size_t i = 0; i < specs.size(); ++i) {
    p->states_.push_back(ProbeState{specs[i].name, specs[i].function, "", false, chosen[i].reason});
    plan.choice.push_back(chosen[i].how);
  }
  if (options.mode == Mode::kRun) {
    if (plan.choice[hook::va_grow] == Choice::kFentry)
      spdlog::info("{}",
                   log_fields("sgx_encl_grow return read", {{"collector", "ebpf"}, {"program", plan.host.grow_fexit}}));
    if (std::all_of(plan.choice.begin(), plan.choice.end(), [](Choice c) { return c == Choice::kOff; })) {
      const auto& states = p->states_;
      const bool same = std::all_of(states.begin(), states.end(),
                                    [&](const ProbeState& st) { return st.reason == states.front().reason; });
      if (same) {
        spdlog::info("{}", log_fields("no probe attached", {{"collector", "ebpf"}, {"reason", states.front().reason}}));
      } else {
        for (const auto& st : states) log_probe_off(st);
      }
      return p;
    }
  }
  for (std::size_t i = 0; i < specs.size(); ++i) {
    if (plan.choice[i] == Choice::kOff) continue;
    const bool f = plan.choice[i] == Choice::kFentry;
    const std::string n = specs[i].name;
    plan.want_links.emplace_back(i, (f ? "fe_" : "kp_") + n);
    if (specs[i].has_return)
      plan.want_links.emplace_back(i, f && i == hook::va_grow ? plan.host.grow_fexit : (f ? "fx_" : "kr_") + n);
  }
  if (options.mode == Mode::kRun && !options.pin_path.empty()) p->prepare_pins(options, allow_reuse, plan);
  if (!p->load(options, plan) || options.mode != Mode::kRun) return p;
  if (plan.reuse)
    p->adopt_pinned(options, plan);
  else
    p->attach(options, plan);
  return p;
}

// Pinned state: take over an earlier instance's (same layout id, same programs attached), else start fresh.
void Probes::prepare_pins(const Options& options, bool allow_reuse, Plan& plan) {
  state_.layout = layout_id(options.layout_tag);
  const std::string parent = options.pin_path.substr(0, options.pin_path.find_last_of('/'));
  if (is_bpffs(parent)) ::mkdir(options.pin_path.c_str(), 0700);  // only ever made on a BPF filesystem
  if (!is_bpffs(options.pin_path)) {
    spdlog::warn("{}", log_fields("pin path not on a mounted, writable BPF filesystem: state is not pinned, a restart "
                                  "starts over",
                                  {{"collector", "ebpf"}, {"pin_path", options.pin_path}, {"bpffs", parent}}));
    state_.layout.clear();
    return;
  }
  const std::string tracefs = tracefs_dir(options.sys_path);
  plan.pin_dir = options.pin_path + "/" + state_.layout;
  auto have = list_pins(plan.pin_dir);
  if (!have.empty()) {
    std::set<std::string> links, maps;
    for (const auto& h : have) {
      if (h.rfind("link_", 0) == 0) links.insert(h.substr(5));
      if (h.rfind("map_", 0) == 0) maps.insert(h.substr(4));
    }
    std::set<std::string> want;
    for (const auto& wl : plan.want_links) want.insert(wl.second);
    if (allow_reuse && links == want && !maps.empty()) {
      plan.reuse = true;
    } else {
      const Status removed = remove_layout_dir(plan.pin_dir).status;
      remove_pinned_tracefs_events(tracefs, state_.layout);
      spdlog::info("{}", log_fields("pinned state attaches other probes than this configuration: starting fresh",
                                    {{"collector", "ebpf"},
                                     {"pin_dir", plan.pin_dir},
                                     {"err", removed ? "" : removed.error().message}}));
    }
  }
  if (::mkdir(plan.pin_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    spdlog::warn("{}", log_fields("cannot make the pin directory: state is not pinned",
                                  {{"collector", "ebpf"}, {"pin_dir", plan.pin_dir}, {"err", std::strerror(errno)}}));
    plan.pin_dir.clear();
    state_.layout.clear();
    plan.reuse = false;
  }
}

// Opens the skeleton, sets what loads, reuses the pinned maps, loads. If the start-up iterators are refused, loads
// without them; if a fentry program is refused, falls back to kprobes for all hooks once. false: nothing loaded
// (every probe off with the reason), or the pinned maps cannot be taken over (reuse_failed_).
bool Probes::load(const Options& options, Plan& plan) {
  const Detection& d = plan.host;
  auto& choice = plan.choice;
  bool seeds_refused = false;
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto obj = std::make_unique<Obj>();
    LIBBPF_OPTS(bpf_object_open_opts, open_opts);
    if (!options.btf_custom_path.empty()) open_opts.btf_custom_path = options.btf_custom_path.c_str();
    obj->skel.reset(epc_bpf__open_opts(&open_opts));
    if (!obj->skel) {
      load_status_ = make_error("opening the BPF object failed: " + errstr(errno), errno);
      break;
    }
    obj->skel->rodata->nr_free_pages_addr = d.kallsyms.nr_free_pages_addr;
    obj->skel->rodata->sgx_encl_fops_addr = d.kallsyms.encl_fops_addr;
    obj->skel->rodata->sgx_enclave_rdev = d.enclave_rdev;
    if (plan.reuse) {  // the maps of the pinned state, before load: our programs read and write the same maps
      bpf_map* m;
      bpf_object__for_each_map(m, obj->skel->obj) {
        if (bpf_map__is_internal(m)) continue;
        OwnedFd fd(bpf_obj_get((plan.pin_dir + "/map_" + bpf_map__name(m)).c_str()));  // reuse_fd takes a copy
        if (fd.get() < 0 || bpf_map__reuse_fd(m, fd.get()) != 0) {
          spdlog::warn("{}", log_fields("pinned map unusable",
                                        {{"collector", "ebpf"}, {"map", bpf_map__name(m)}, {"err", errstr(errno)}}));
          reuse_failed_ = true;
          return false;
        }
      }
    }
    auto progs = programs_of(obj->skel.get());
    for (std::size_t i = 0; i < progs.size(); ++i) {
      const bool k = !plan.reuse && choice[i] == Choice::kKprobe, f = !plan.reuse && choice[i] == Choice::kFentry;
      bpf_program__set_autoload(progs[i].kp, k);
      if (progs[i].kr) bpf_program__set_autoload(progs[i].kr, k);
      if (progs[i].fe) bpf_program__set_autoload(progs[i].fe, f);
      if (progs[i].fx_alt) {
        bpf_program__set_autoload(progs[i].fx, f && d.grow_fexit == bpf_program__name(progs[i].fx));
        bpf_program__set_autoload(progs[i].fx_alt, f && d.grow_fexit == bpf_program__name(progs[i].fx_alt));
      } else if (progs[i].fx) {
        bpf_program__set_autoload(progs[i].fx, f);
      }
    }
    bpf_program__set_autoload(obj->skel->progs.epc_event_repeat, options.load_bench_program);
    const bool seed = !seeds_refused && (options.mode == Mode::kLoadCheck ||
                                         (options.mode == Mode::kRun && !plan.reuse && options.discover &&
                                          (d.kallsyms.encl_fops_addr != 0 || d.enclave_rdev != 0)));
    bpf_program__set_autoload(obj->skel->progs.seed_task_file, seed && d.iter_file);
    bpf_program__set_autoload(obj->skel->progs.seed_task_vma, seed && d.iter_vma);
    int err = epc_bpf__load(obj->skel.get());
    if (err == 0) {
      obj_ = std::move(obj);
      load_status_ = Status::Ok();
      break;
    }
    load_status_ = make_error(
        "loading the BPF object failed: " + errstr(err) + " (libbpf's log at --log.level=debug)", err < 0 ? -err : err);
    if (seed && (d.iter_file || d.iter_vma) && options.mode == Mode::kRun) {
      spdlog::warn("{}", log_fields("start-up iterators refused; loading without them: enclaves older than the probes "
                                    "stay untracked",
                                    {{"collector", "ebpf"}, {"err", errstr(err)}}));
      seeds_refused = true;
      continue;
    }
    bool had_fentry = false;
    for (auto& c : choice)
      if (c == Choice::kFentry) {
        had_fentry = true;
        c = Choice::kKprobe;
      }
    if (!had_fentry) break;
    spdlog::warn("{}", log_fields("fentry/fexit programs refused; retrying with kprobes",
                                  {{"collector", "ebpf"}, {"err", errstr(err)}}));
  }
  if (!obj_) {
    spdlog::warn("{}", log_fields("BPF object not loaded", {{"collector", "ebpf"}, {"err", load_error()}}));
    all_off(load_error());
    return false;
  }
  return true;
}

// The pinned links stay attached; we hold them (and their programs, for the stats).
void Probes::adopt_pinned(const Options& options, Plan& plan) {
  const std::string tracefs = tracefs_dir(options.sys_path);
  if (!tracefs.empty()) remove_stale_tracefs_events(tracefs, options.proc_path);
  std::size_t attached = 0;
  for (std::size_t i = 0; i < states_.size(); ++i) {
    if (plan.choice[i] == Choice::kOff) continue;
    for (const auto& [hook, name] : plan.want_links) {
      if (hook != i) continue;
      LinkPtr l(bpf_link__open((plan.pin_dir + "/link_" + name).c_str()));
      if (!l) {
        spdlog::warn(
            "{}", log_fields("pinned link unusable", {{"collector", "ebpf"}, {"link", name}, {"err", errstr(errno)}}));
        reuse_failed_ = true;
        return;
      }
      bpf_link_info info{};
      __u32 len = sizeof(info);
      OwnedFd prog_fd;
      if (bpf_obj_get_info_by_fd(bpf_link__fd(l.get()), &info, &len) == 0)
        prog_fd = OwnedFd(bpf_prog_get_fd_by_id(info.prog_id));
      obj_->links.push_back(std::move(l));
      const int fd = prog_fd.get();
      obj_->attached_progs.push_back(AttachedProgram{name, fd, std::move(prog_fd)});
    }
    auto& st = states_[i];
    st.attached = true;
    st.attach_type = plan.choice[i] == Choice::kFentry ? "fentry" : "kprobe";
    ++attached;
  }
  // The kretprobe events the pinned links use (made by the instance that pinned them), for their miss counts.
  if (!tracefs.empty()) {
    const std::string group = kPinnedGroupPrefix + state_.layout;
    for (const auto& ev : read_kprobe_events(tracefs))
      if (ev.group == group) obj_->tracefs_events.push_back({tracefs, group, ev.event});
  }
  obj_->keep_tracefs_events = true;
  state_.pinned = true;
  state_.reused = true;
  state_.discovery = "not_needed";
  spdlog::info("{}",
               log_fields("took over the pinned state (counting while no exporter ran)",
                          {{"collector", "ebpf"}, {"pin_dir", plan.pin_dir}, {"attached", std::to_string(attached)}}));
}

// Attaches each chosen hook (its kretprobe through tracefs, for maxactive), pins maps and links when pinning, finds
// the enclaves that already exist, and removes the pinned state of other layouts.
void Probes::attach(const Options& options, Plan& plan) {
  const auto& specs = hook_specs();
  std::string& pin_dir = plan.pin_dir;
  auto progs = programs_of(obj_->skel.get());
  std::size_t attached = 0;
  const std::string tracefs = tracefs_dir(options.sys_path);
  if (!tracefs.empty()) remove_stale_tracefs_events(tracefs, options.proc_path);
  const std::string group =
      pin_dir.empty() ? kTracefsGroupPrefix + std::to_string(::getpid()) : kPinnedGroupPrefix + state_.layout;
  if (!pin_dir.empty()) {
    remove_pinned_tracefs_events(tracefs, state_.layout);  // left by an instance that died before pinning
    if (!pin_maps(obj_->skel->obj, pin_dir)) {
      (void)remove_layout_dir(pin_dir);
      pin_dir.clear();
    }
  }
  bool pin_failed = false;
  for (std::size_t i = 0; i < progs.size(); ++i) {
    if (plan.choice[i] == Choice::kOff) continue;
    const bool f = plan.choice[i] == Choice::kFentry;
    auto& st = states_[i];
    auto hook = attach_hook(progs[i], f, plan.host.grow_fexit, specs[i].function, tracefs, group);
    if (!hook) {
      st.reason = hook.error().message;
      continue;
    }
    obj_->tracefs_events.insert(obj_->tracefs_events.end(), hook->events.begin(), hook->events.end());
    for (auto* prog : hook->progs)
      obj_->attached_progs.push_back(AttachedProgram{bpf_program__name(prog), bpf_program__fd(prog), {}});
    if (!pin_dir.empty() && !pin_failed) {
      for (std::size_t k = 0; k < hook->links.size() && !pin_failed; ++k) {
        const char* name = bpf_program__name(hook->progs[k]);
        if (bpf_link__pin(hook->links[k].get(), (pin_dir + "/link_" + name).c_str()) != 0) {
          spdlog::warn("{}", log_fields("pinning a link failed: state is not pinned, a restart starts over",
                                        {{"collector", "ebpf"}, {"link", name}, {"err", errstr(errno)}}));
          pin_failed = true;
        }
      }
    }
    for (auto& l : hook->links) obj_->links.push_back(std::move(l));
    st.attached = true;
    st.attach_type = f ? "fentry" : "kprobe";
    ++attached;
  }
  if (!pin_dir.empty() && pin_failed) {
    for (auto& l : obj_->links) bpf_link__unpin(l.get());
    (void)remove_layout_dir(pin_dir);
    pin_dir.clear();
  }
  if (!pin_dir.empty() && attached > 0) {
    state_.pinned = true;
    obj_->keep_tracefs_events = true;
  } else if (!pin_dir.empty()) {
    (void)remove_layout_dir(pin_dir);
  }
  if (!state_.pinned) state_.layout.clear();
  spdlog::info("{}", log_fields("probes attached", {{"collector", "ebpf"},
                                                    {"attached", std::to_string(attached)},
                                                    {"probes", std::to_string(progs.size())},
                                                    {"pinned_in", state_.pinned ? pin_dir : ""}}));
  if (!options.discover)
    state_.discovery = "off";
  else if (attached > 0)
    discover_enclaves();
  // Pinned state of other layouts (another version of the exporter) goes only now: its probes counted until ours
  // were attached and had found the live enclaves, so no event falls in between. Its maps are never read.
  if (options.mode == Mode::kRun && !options.pin_path.empty() && is_bpffs(options.pin_path)) {
    const std::string& mine = state_.layout;  // "" when this instance is not pinned
    for (const auto& other : list_pins(options.pin_path)) {
      if (other == mine) continue;
      const UnpinOutcome r = remove_layout_dir(options.pin_path + "/" + other);
      spdlog::info("{}", log_fields("removed pinned state of another map layout",
                                    {{"collector", "ebpf"},
                                     {"layout", other},
                                     {"objects", std::to_string(r.removed)},
                                     {"err", r.status ? "" : r.status.error().message}}));
      remove_pinned_tracefs_events(tracefs, other);
    }
  }
  for (const auto& st : states_) {
    if (st.attached)
      spdlog::debug(
          "{}",
          log_fields("probe attached",
                     {{"collector", "ebpf"}, {"probe", st.name}, {"function", st.function}, {"via", st.attach_type}}));
    else
      log_probe_off(st);
  }
  if (plan.host.kallsyms.nr_free_pages_addr == 0)
    spdlog::warn("{}", log_fields("sgx_nr_free_pages address unknown (kallsyms hides it?): no node free EPC",
                                  {{"collector", "ebpf"}}));
}

// Runs the start-up iterators once (enclaves that existed before the probes: epc.bpf.c, seed_*). The probes are
// attached already, so an enclave created meanwhile is in the map and left alone by the iterators.
void Probes::discover_enclaves() {
  auto* skel = obj_->skel.get();
  std::uint32_t zero = 0;
  epc_node_stats before{}, after{};
  bpf_map_lookup_elem(bpf_map__fd(skel->maps.node), &zero, &before);
  int ran = 0;
  std::string why;
  for (bpf_program* prog : {skel->progs.seed_task_file, skel->progs.seed_task_vma}) {
    if (!bpf_program__autoload(prog) || bpf_program__fd(prog) < 0) continue;
    LinkPtr l(bpf_program__attach_iter(prog, nullptr));
    if (!l) {
      why = std::string("attaching ") + bpf_program__name(prog) + ": " + errstr(errno);
      continue;
    }
    OwnedFd fd(bpf_iter_create(bpf_link__fd(l.get())));
    if (fd.get() < 0) {
      why = std::string("bpf_iter_create ") + bpf_program__name(prog) + ": " + errstr(errno);
      continue;
    }
    char buf[256];
    ssize_t n;
    while ((n = ::read(fd.get(), buf, sizeof(buf))) > 0) {
    }
    if (n < 0) why = std::string("reading ") + bpf_program__name(prog) + ": " + errstr(errno);
    ++ran;
  }
  bpf_map_lookup_elem(bpf_map__fd(skel->maps.node), &zero, &after);
  if (ran == 0) {
    state_.discovery = "unavailable";
    spdlog::warn(
        "{}",
        log_fields(
            "cannot look for enclaves that existed before the exporter: they stay untracked "
            "until they end",
            {{"collector", "ebpf"},
             {"reason", why.empty() ? "no BPF task iterators in this kernel, or the enclave file cannot be recognised "
                                      "(no sgx_encl_fops in kallsyms and no /dev/sgx_enclave)"
                                    : why}}));
    return;
  }
  state_.discovery = "iterator";
  const std::uint64_t found = after.seed_found - before.seed_found, skipped = after.seed_skipped - before.seed_skipped;
  if (skipped)
    spdlog::warn("{}", log_fields("enclaves that existed before the exporter could not be read (too many VA pages, "
                                  "or changing while read): untracked until they end",
                                  {{"collector", "ebpf"},
                                   {"enclaves", std::to_string(skipped)},
                                   {"max_va_pages", std::to_string(EPC_SEED_MAX_VA_PAGES)}}));
  spdlog::info("{}", log_fields("found enclaves that existed before the probes (task iterators)",
                                {{"collector", "ebpf"}, {"enclaves", std::to_string(found - skipped)}, {"note", why}}));
}

int Probes::event_program_fd() const { return obj_ ? bpf_program__fd(obj_->skel->progs.epc_event) : -1; }

int Probes::bench_program_fd() const { return obj_ ? bpf_program__fd(obj_->skel->progs.epc_event_repeat) : -1; }

int Probes::run_event(const epc_test_event& event) {
  int fd = event.repeat > 1 ? bench_program_fd() : event_program_fd();
  if (fd < 0) return -EBADF;
  epc_test_event ev = event;
  LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = &ev, .ctx_size_in = sizeof(ev));
  if (bpf_prog_test_run_opts(fd, &opts) != 0) return -errno;
  return static_cast<int>(opts.retval);
}

namespace {
// Each key once. A hash map walk restarts from the first key when the previous key was deleted meanwhile (an
// enclave released during the scrape): without the seen-set such a walk would count enclaves twice.
template <class Fn>
void for_each_key(int fd, Fn fn) {
  std::uint64_t key = 0, next = 0;
  std::uint64_t* prev = nullptr;
  std::unordered_set<std::uint64_t> seen;
  for (int guard = 0; guard < 1'000'000 && bpf_map_get_next_key(fd, prev, &next) == 0; ++guard) {
    if (seen.insert(next).second) fn(next);
    key = next;
    prev = &key;
  }
}

std::atomic<bool> g_batch_reads{true};  // false: forced off (tests), or the kernel refused batch lookups

// Each entry of a hash map with a u64 key and a value of type V, as few system calls as the kernel allows:
// BPF_MAP_LOOKUP_BATCH in chunks (grown when one hash bucket holds more than a chunk: ENOSPC), then, where the
// kernel has no batch lookup (before 5.6: EINVAL; EPERM/ENOTSUPP from a policy) or a batch fails half-way, the
// key-by-key walk for the keys not seen yet. A key is delivered once.
template <class V, class Fn>
void for_each_entry(int fd, Fn fn) {
  std::unordered_set<std::uint64_t> seen;
  if (g_batch_reads.load(std::memory_order_relaxed)) {
    std::uint32_t chunk = 256;
    std::vector<std::uint64_t> keys;
    std::vector<V> values;
    std::uint64_t in_batch = 0, out_batch = 0;
    bool first = true;
    for (int guard = 0; guard < 1'000'000; ++guard) {
      keys.resize(chunk);
      values.resize(chunk);
      __u32 count = chunk;
      LIBBPF_OPTS(bpf_map_batch_opts, opts);
      int rc = bpf_map_lookup_batch(fd, first ? nullptr : &in_batch, &out_batch, keys.data(), values.data(), &count,
                                    &opts);
      int err = rc < 0 ? -rc : 0;
      if (err == ENOSPC && count == 0 && chunk < (1u << 16)) {
        chunk *= 2;
        continue;
      }
      for (__u32 i = 0; i < count && i < chunk; ++i)
        if (seen.insert(keys[i]).second) fn(keys[i], values[i]);
      if (err == ENOENT) return;  // the end of the map
      if (err != 0) {
        if (first && count == 0 && (err == EINVAL || err == EPERM || err == EOPNOTSUPP || err == 524 /* ENOTSUPP */)) {
          spdlog::debug("{}", log_fields("no batch map lookups here, reading maps key by key",
                                         {{"collector", "ebpf"}, {"err", std::strerror(err)}}));
          g_batch_reads.store(false, std::memory_order_relaxed);
        }
        break;
      }
      in_batch = out_batch;
      first = false;
    }
  }
  for_each_key(fd, [&](std::uint64_t key) {
    if (seen.count(key)) return;
    V v{};
    if (bpf_map_lookup_elem(fd, &key, &v) != 0) return;  // deleted meanwhile
    seen.insert(key);
    fn(key, v);
  });
}

std::uint64_t count_keys(int fd) {
  std::uint64_t n = 0;
  for_each_key(fd, [&](std::uint64_t) { ++n; });
  return n;
}

// Entries of a map with a u64 key, whatever its value (read in batches of raw bytes); key-by-key where batch
// lookups are refused. Per-CPU and array maps are counted key by key.
std::uint64_t count_entries(bpf_map* m) {
  const bpf_map_type t = bpf_map__type(m);
  if (bpf_map__key_size(m) != sizeof(std::uint64_t) || (t != BPF_MAP_TYPE_HASH && t != BPF_MAP_TYPE_LRU_HASH))
    return count_keys(bpf_map__fd(m));
  const std::size_t vsize = bpf_map__value_size(m);
  if (!g_batch_reads.load(std::memory_order_relaxed)) return count_keys(bpf_map__fd(m));
  std::uint32_t chunk = 256;
  std::vector<std::uint64_t> keys;
  std::vector<unsigned char> values;
  std::uint64_t in_batch = 0, out_batch = 0, n = 0;
  bool first = true;
  for (int guard = 0; guard < 1'000'000; ++guard) {
    keys.resize(chunk);
    values.resize(static_cast<std::size_t>(chunk) * vsize);
    __u32 count = chunk;
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    int rc = bpf_map_lookup_batch(bpf_map__fd(m), first ? nullptr : &in_batch, &out_batch, keys.data(), values.data(),
                                  &count, &opts);
    int err = rc < 0 ? -rc : 0;
    if (err == ENOSPC && count == 0 && chunk < (1u << 16)) {
      chunk *= 2;
      continue;
    }
    n += count;
    if (err == ENOENT) return n;
    if (err != 0) return count_keys(bpf_map__fd(m));  // a fill figure: counted again, key by key
    in_batch = out_batch;
    first = false;
  }
  return n;
}
}  // namespace

void Probes::set_batch_reads(bool enabled) { g_batch_reads.store(enabled, std::memory_order_relaxed); }

// "/a/b/c" from a recorded path (names leaf first); "" when it was truncated or a name is not a plain directory
// name (the kernel wrote it, but the bytes are read as untrusted all the same).
std::string cgroup_path_of(const epc_cgroup_path& p) {
  if (p.truncated || p.depth > EPC_CGROUP_PATH_LEVELS) return {};
  if (p.depth == 0) return "/";
  std::string out;
  for (std::uint32_t i = p.depth; i-- > 0;) {
    const char* name = p.names[i];
    std::size_t len = strnlen(name, EPC_CGROUP_NAME_LEN);
    std::string_view n(name, len);
    if (len == 0 || len == EPC_CGROUP_NAME_LEN || n == "." || n == ".." || n.find('/') != n.npos) return {};
    out += '/';
    out += n;
  }
  return out;
}

namespace {
// The monotonic counters, which a live enclave's entry and a cgroup's released-enclave entry both carry.
template <class Entry>
WorkloadCounters monotonic_counters_of(const Entry& v) {
  WorkloadCounters c;
  c.evicted_pages = v.evicted_pages;
  c.loaded_back_pages = v.loaded_back_pages;
  c.page_faults = v.page_faults;
  c.page_fault_ns = v.page_fault_ns;
  c.alloc_failures = v.alloc_failures;
  c.fault_retries = v.fault_retries;
  return c;
}

WorkloadCounters counters_of(const epc_encl_state& e) {
  WorkloadCounters c = monotonic_counters_of(e);
  c.enclaves = 1;
  c.size_bytes = static_cast<std::int64_t>(e.size_bytes);
  c.resident_pages = e.resident_pages;
  c.swapped_pages = e.swapped_pages;
  c.va_pages = e.va_pages;
  return c;
}

WorkloadCounters counters_of(const epc_cgroup_stats& v) {
  WorkloadCounters c = monotonic_counters_of(v);
  c.init_failures = v.init_failures;
  return c;
}

std::string hex_of(const unsigned char* p, std::size_t n) {
  static const char* k = "0123456789abcdef";
  std::string o;
  o.reserve(2 * n);
  for (std::size_t i = 0; i < n; ++i) {
    o += k[p[i] >> 4];
    o += k[p[i] & 15];
  }
  return o;
}

std::string sha256_hex(const void* data, std::size_t n) {
  unsigned char d[32];
  unsigned int len = 0;
  if (EVP_Digest(data, n, d, &len, EVP_sha256(), nullptr) != 1 || len != sizeof d) return {};
  return hex_of(d, sizeof d);
}

// The identity as the collector reports it. id: 12 hex digits of SHA-256("<boot id>/<enclave number>"): stable for
// the enclave's life and across exporter restarts that keep the pinned state, unique per node and boot, and not a
// kernel address.
EnclaveIdentity identity_of(const epc_encl_identity& v, const std::string& boot_id, const std::string* cached_id,
                            const std::string* cached_mrsigner);

// FNV-1a over the modulus: tells whether a cached MRSIGNER still belongs to the bytes in the map (a retried INIT
// may bring another SIGSTRUCT under the same flags).
std::uint64_t fnv1a(const void* data, std::size_t n) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

// Seconds since the epoch of a CLOCK_BOOTTIME reading (bpf_ktime_get_boot_ns), 0 when it cannot be converted.
double boot_ns_to_unix(std::uint64_t boot_ns) {
  timespec rt{}, bt{};
  if (boot_ns == 0 || clock_gettime(CLOCK_REALTIME, &rt) != 0 || clock_gettime(CLOCK_BOOTTIME, &bt) != 0) return 0;
  const double now_boot = static_cast<double>(bt.tv_sec) + static_cast<double>(bt.tv_nsec) / 1e9;
  const double now_unix = static_cast<double>(rt.tv_sec) + static_cast<double>(rt.tv_nsec) / 1e9;
  return now_unix - (now_boot - static_cast<double>(boot_ns) / 1e9);
}

EnclaveIdentity identity_of(const epc_encl_identity& v, const std::string& boot_id, const std::string* cached_id,
                            const std::string* cached_mrsigner) {
  EnclaveIdentity e;
  if (cached_id) {
    e.id = *cached_id;
  } else {
    const std::string name = boot_id + "/" + std::to_string(v.seq);
    e.id = sha256_hex(name.data(), name.size()).substr(0, 12);
  }
  e.cgroup_id = v.cgroup_id;
  e.initialized = (v.flags & EPC_ID_INITIALIZED) != 0;
  if (v.flags & EPC_ID_DISCOVERED) {
    e.source = "discovered";
  } else if (v.flags & (EPC_ID_SIG_KERNEL | EPC_ID_SIG_USER)) {
    e.source = (v.flags & EPC_ID_SIG_KERNEL) ? "kernel" : "user";
    e.mrenclave = hex_of(v.mrenclave, sizeof v.mrenclave);
    e.mrsigner = cached_mrsigner ? *cached_mrsigner : sha256_hex(v.modulus, sizeof v.modulus);
    e.isv_prod_id = v.isv_prod_id;
    e.isv_svn = v.isv_svn;
  } else {
    e.source = "unavailable";
  }
  e.attributes = v.attributes;
  e.xfrm = v.xfrm;
  e.miscselect = v.miscselect;
  e.size_bytes = v.size_bytes;
  e.created_unix = boot_ns_to_unix(v.created_ns);
  e.init_failures = v.init_failures;
  return e;
}
}  // namespace

Snapshot Probes::read(const std::function<void()>& between_walks) {
  Snapshot s;
  s.probes = states_;
  if (!obj_) return s;
  auto* skel = obj_->skel.get();
  if (skel->rodata->nr_free_pages_addr) {
    epc_test_event ev{};
    ev.type = EPC_EV_READ_FREE_PAGES;
    run_event(ev);
  }
  // Each cgroup's released-enclave counters, then its live enclaves. A release moves an enclave's counters from
  // its entry to its cgroup after deleting the entry (epc_encl_retire): in this order a release during the read
  // is missed once at most (the collector keeps high-water marks), never counted twice.
  std::map<std::uint64_t, WorkloadCounters> per;
  int cg_fd = bpf_map__fd(skel->maps.cgroups);
  std::map<std::uint64_t, epc_cgroup_stats> read_cgroups;
  for_each_entry<epc_cgroup_stats>(cg_fd, [&](std::uint64_t id, const epc_cgroup_stats& v) {
    per[id] += counters_of(v);
    read_cgroups[id] = v;
  });
  if (between_walks) between_walks();
  int encl_fd = bpf_map__fd(skel->maps.encls);
  std::unordered_map<std::uint64_t, std::pair<std::int64_t, std::int64_t>> pages;  // enclave -> resident, swapped
  for_each_entry<epc_encl_state>(encl_fd, [&](std::uint64_t key, const epc_encl_state& e) {
    pages[key] = {e.resident_pages, e.swapped_pages};
    per[e.cgroup_id] += counters_of(e);
    ++(e.origin == EPC_ORIGIN_DISCOVERED ? s.enclaves_discovered : s.enclaves_created);
    read_cgroups.erase(e.cgroup_id);  // live in this read: not a candidate for forgetting
  });
  {
    std::lock_guard<std::mutex> g(reported_mu_);
    reported_idle_cgroups_ = std::move(read_cgroups);
  }
  // Identities, with their enclave's pages from the walk above (an enclave created since keeps 0).
  std::unordered_map<std::uint64_t, IdentityHashes> hashes;
  hashes.reserve(identity_hashes_.size());
  for_each_entry<epc_encl_identity>(bpf_map__fd(skel->maps.identities),
                                    [&](std::uint64_t key, const epc_encl_identity& v) {
                                      const std::uint64_t fnv = fnv1a(v.modulus, sizeof v.modulus);
                                      auto it = identity_hashes_.find(key);
                                      const bool hit = it != identity_hashes_.end() && it->second.seq == v.seq &&
                                                       it->second.flags == v.flags && it->second.modulus_fnv == fnv;
                                      EnclaveIdentity e = identity_of(v, boot_id_, hit ? &it->second.id : nullptr,
                                                                      hit ? &it->second.mrsigner : nullptr);
                                      if (hit)  // the cached entry moves over: no copy of its digests
                                        hashes.insert(identity_hashes_.extract(it));
                                      else
                                        hashes[key] = IdentityHashes{v.seq, v.flags, fnv, e.id, e.mrsigner};
                                      if (auto it = pages.find(key); it != pages.end()) {
                                        e.resident_pages = it->second.first;
                                        e.swapped_pages = it->second.second;
                                      }
                                      s.enclaves.push_back(std::move(e));
                                    });
  identity_hashes_ = std::move(hashes);  // enclaves gone from the map leave the cache with this
  std::set<std::uint64_t> identity_cgroups;
  for (const auto& e : s.enclaves) identity_cgroups.insert(e.cgroup_id);
  // The recorded paths in one walk, joined to the workloads and identities (not a lookup per workload).
  std::map<std::uint64_t, std::string> paths;
  for_each_entry<epc_cgroup_path>(bpf_map__fd(skel->maps.cgroup_paths), [&](std::uint64_t id, const epc_cgroup_path& p) {
    if (per.count(id) || identity_cgroups.count(id)) paths[id] = cgroup_path_of(p);
  });
  for (auto& [id, c] : per) {
    WorkloadEntry w;
    w.cgroup_id = id;
    w.counters = c;
    if (auto it = paths.find(id); it != paths.end()) w.recorded_path = it->second;
    s.workloads.push_back(std::move(w));
  }
  for (auto& e : s.enclaves)
    if (auto it = paths.find(e.cgroup_id); it != paths.end()) e.recorded_path = it->second;
  std::uint32_t zero = 0;
  epc_node_stats n{};
  if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.node), &zero, &n) == 0) {
    if (n.free_pages_seen) s.free_pages = n.free_pages;
    s.reclaim_ksgxd = n.reclaim_ksgxd;
    s.reclaim_direct = n.reclaim_direct;
    s.vepc_pages = n.vepc_pages;
    s.vepc_alloc_failures = n.vepc_alloc_failures;
    for (int i = 0; i < EPC_DROP_NR; ++i) s.dropped[kDropReasons[i]] = n.dropped[i];
    s.discovery_skipped = n.seed_skipped;
  }
  for (bpf_map* m : {skel->maps.encls, skel->maps.cgroups, skel->maps.cgroup_paths, skel->maps.inflight,
                     skel->maps.va_pages, skel->maps.evicted, skel->maps.fault_waits, skel->maps.identities,
                     skel->maps.init_pending}) {
    s.maps.push_back(MapFill{bpf_map__name(m), count_entries(m), bpf_map__max_entries(m)});
  }
  s.kretprobe_misses = kretprobe_misses(obj_->tracefs_events);
  s.program_stats_enabled = read_first_line(stats_enabled_path_) == "1";
  for (const auto& [name, fd, owned] : obj_->attached_progs) {  // the attached ones: ours, or the pinned links'
    if (fd < 0) continue;
    bpf_prog_info info{};
    __u32 len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) continue;
    s.programs.push_back(ProgramStats{name, info.run_cnt, info.run_time_ns});
  }
  s.state = state_;
  return s;
}

std::size_t Probes::forget_gone_cgroups(const std::function<bool(std::uint64_t)>& cgroup_exists) {
  if (!obj_) return 0;
  std::set<std::uint64_t> live;
  int encl_fd = bpf_map__fd(obj_->skel->maps.encls);
  for_each_entry<epc_encl_state>(encl_fd, [&](std::uint64_t, const epc_encl_state& e) { live.insert(e.cgroup_id); });
  int fd = bpf_map__fd(obj_->skel->maps.cgroups);
  std::vector<std::uint64_t> gone;
  std::unordered_set<std::uint64_t> kept;
  std::map<std::uint64_t, epc_cgroup_stats> reported;
  {
    std::lock_guard<std::mutex> g(reported_mu_);
    reported = reported_idle_cgroups_;
  }
  // Only what the last read reported, unchanged since: an enclave that ended (its counters moving to its cgroup)
  // and a cgroup removed after that read and before this call must be reported once more first.
  for_each_entry<epc_cgroup_stats>(fd, [&](std::uint64_t id, const epc_cgroup_stats& v) {
    auto it = reported.find(id);
    const bool reported_as_is = it != reported.end() && std::memcmp(&it->second, &v, sizeof v) == 0;
    if (!live.count(id) && reported_as_is && !cgroup_exists(id))
      gone.push_back(id);
    else
      kept.insert(id);
  });
  for (auto id : gone) bpf_map_delete_elem(fd, &id);
  // Recorded paths go with their cgroup's entry, and so do those whose entry was never made (cgroups map full).
  int path_fd = bpf_map__fd(obj_->skel->maps.cgroup_paths);
  std::vector<std::uint64_t> orphans;
  for_each_entry<epc_cgroup_path>(path_fd, [&](std::uint64_t id, const epc_cgroup_path&) {
    if (!live.count(id) && !kept.count(id)) orphans.push_back(id);
  });
  for (auto id : orphans) bpf_map_delete_elem(path_fd, &id);
  return gone.size();
}

std::vector<std::pair<std::string, std::uint64_t>> Probes::map_memory_bytes() const {
  std::vector<std::pair<std::string, std::uint64_t>> out;
  if (!obj_) return out;
  auto* skel = obj_->skel.get();
  for (bpf_map* m : {skel->maps.encls, skel->maps.cgroups, skel->maps.cgroup_paths, skel->maps.node,
                     skel->maps.inflight, skel->maps.va_pages, skel->maps.evicted, skel->maps.fault_waits}) {
    std::uint64_t bytes = 0;
    if (auto text = read_file("/proc/self/fdinfo/" + std::to_string(bpf_map__fd(m)), 64 << 10))
      for (std::string_view line : split_lines(*text))
        if (line.rfind("memlock:", 0) == 0) bytes = parse_u64(trim(line.substr(8))).value_or(0);
    out.emplace_back(bpf_map__name(m), bytes);
  }
  return out;
}

std::vector<std::string> Probes::loaded_programs() const {
  std::vector<std::string> out;
  if (!obj_) return out;
  bpf_program* prog;
  bpf_object__for_each_program(prog, obj_->skel->obj) {
    if (bpf_program__autoload(prog) && bpf_program__fd(prog) >= 0) out.emplace_back(bpf_program__name(prog));
  }
  return out;
}

}  // namespace epc::probes
