#include "tracefs_kretprobes.h"

#include <fcntl.h>
#include <linux/perf_event.h>
#include <spdlog/spdlog.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "host/file_reader.h"
#include "host/log_fields.h"
#include "host/parse.h"

namespace epc::probes {

namespace {
// tracefs listings (kprobe_events, kprobe_profile): a line per event, ours among any other tool's.
constexpr std::size_t kTracefsListLimit = 16u << 20;

}  // namespace

Status append_line(const std::string& path, const std::string& line) {
  OwnedFd fd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
  if (fd.get() < 0) return make_error("opening " + path + ": " + std::strerror(errno), errno);
  ssize_t n = ::write(fd.get(), line.data(), line.size());
  if (n < 0) return make_error("writing " + path + ": " + std::strerror(errno), errno);
  if (n != static_cast<ssize_t>(line.size())) return make_error("writing " + path + ": short write", EIO);
  return Status::Ok();
}

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

std::map<std::string, std::uint64_t> kretprobe_misses(const std::vector<TracefsKretprobe>& events) {
  std::map<std::string, std::uint64_t> out;
  if (events.empty()) return out;
  // kprobe_profile: "<group>/<event> <hits> <misses>" per kprobe event.
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

}  // namespace epc::probes
