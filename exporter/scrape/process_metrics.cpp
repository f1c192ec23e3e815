#include "scrape/process_metrics.h"

#include <dirent.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>

#include "host/file_reader.h"
#include "host/log_fields.h"
#include "host/parse.h"

namespace epc {

namespace {

// /proc/self/stat is one line of about 300 bytes, /proc/self/limits about 1.5 KiB; /proc/stat grows with the CPU
// count (one line per CPU before btime), so it gets the default limit.
constexpr std::size_t kSmallProcFile = 64 << 10;

// Names, help strings and types as client_golang's process collector.
constexpr MetricDef kProcessCpu{.name = "process_cpu_seconds_total",
                                .type = MetricType::kCounter,
                                .unit = "seconds",
                                .help = "Total user and system CPU time spent in seconds.",
                                .doc = "user + system CPU time (`stat` utime + stime) in seconds"};
constexpr MetricDef kProcessMaxFds{
    .name = "process_max_fds",
    .type = MetricType::kGauge,
    .help = "Maximum number of open file descriptors.",
    .doc = "soft `RLIMIT_NOFILE` (`limits` \"Max open files\"; the exporter raises it to the hard limit at start); "
           "-1 when unlimited"};
constexpr MetricDef kProcessOpenFds{
    .name = "process_open_fds",
    .type = MetricType::kGauge,
    .help = "Number of open file descriptors.",
    .doc = "open file descriptors (the count `stat()` of `/proc/self/fd` reports on 6.2+, its entries before)"};
constexpr MetricDef kProcessResident{.name = "process_resident_memory_bytes",
                                     .type = MetricType::kGauge,
                                     .unit = "bytes",
                                     .help = "Resident memory size in bytes.",
                                     .doc = "resident set size (`stat` rss × page size)"};
constexpr MetricDef kProcessStart{
    .name = "process_start_time_seconds",
    .type = MetricType::kGauge,
    .unit = "seconds",
    .help = "Start time of the process since unix epoch in seconds.",
    .doc = "start time since the unix epoch (`btime` + `stat` starttime / clock ticks)"};
constexpr MetricDef kProcessVirtual{.name = "process_virtual_memory_bytes",
                                    .type = MetricType::kGauge,
                                    .unit = "bytes",
                                    .help = "Virtual memory size in bytes.",
                                    .doc = "virtual memory size (`stat` vsize)"};
constexpr MetricDef kProcessVirtualMax{
    .name = "process_virtual_memory_max_bytes",
    .type = MetricType::kGauge,
    .unit = "bytes",
    .help = "Maximum amount of virtual memory available in bytes.",
    .doc = "soft `RLIMIT_AS` (`limits` \"Max address space\"); -1 when unlimited, as client_golang"};

// Entries of a directory, "." and ".." not counted. For /proc/self/fd the descriptor of the directory being read
// counts too, as in client_golang (procfs reads the same directory the same way).
Result<unsigned long long> count_entries(const std::filesystem::path& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return make_error("opendir " + dir.string() + ": " + std::strerror(errno), errno);
  unsigned long long n = 0;
  errno = 0;
  while (dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) ++n;
  }
  int err = errno;
  ::closedir(d);
  if (err != 0) return make_error("readdir " + dir.string() + ": " + std::strerror(err), err);
  return n;
}

// Open descriptors in a procfs fd directory without listing it: since Linux 6.2 stat() of /proc/PID/fd reports
// their number as the size. Listing costs a dentry per descriptor, and the cgroup collector keeps thousands open
// (a fifth of a 1,250-cgroup scrape went to it). nullopt where the size says nothing: not procfs (the tests'
// sample trees), or an older kernel (size 0).
std::optional<unsigned long long> procfs_fd_count(const std::filesystem::path& dir) {
  struct statfs fs {};
  struct stat st {};
  if (::statfs(dir.c_str(), &fs) != 0 || fs.f_type != PROC_SUPER_MAGIC) return std::nullopt;
  if (::stat(dir.c_str(), &st) != 0 || st.st_size <= 0) return std::nullopt;
  return static_cast<unsigned long long>(st.st_size);
}

}  // namespace

Result<std::vector<std::string_view>> proc_stat_fields(std::string_view text) {
  // The command name is "(comm)" and comm may hold anything, ")" included: the last ")" ends it.
  auto close = text.rfind(')');
  if (close == std::string_view::npos || text.find('(') == std::string_view::npos || text.find('(') > close)
    return make_error("no (command) in stat line");
  return split_fields(text.substr(close + 1), " \t\n");
}

Result<unsigned long long> proc_stat_field(const std::vector<std::string_view>& fields, int number) {
  // fields[0] is field 3 (state).
  if (number < 3 || static_cast<std::size_t>(number - 3) >= fields.size())
    return make_error("stat line has no field " + std::to_string(number) + " (" + std::to_string(fields.size() + 2) +
                      " fields)");
  auto v = parse_u64(fields[static_cast<std::size_t>(number - 3)]);
  if (!v) return make_error("stat field " + std::to_string(number) + ": '" +
                            std::string(fields[static_cast<std::size_t>(number - 3)].substr(0, 40)) +
                            "' is not an unsigned number");
  return *v;
}

Result<unsigned long long> parse_boot_time(std::string_view proc_stat) {
  for (std::string_view line : split_lines(proc_stat)) {
    auto f = split_fields(line);
    if (f.empty() || f[0] != "btime") continue;
    if (f.size() != 2) return make_error("btime line has " + std::to_string(f.size()) + " fields");
    auto v = parse_u64(f[1]);
    if (!v) return make_error("btime '" + std::string(f[1].substr(0, 40)) + "' is not an unsigned number");
    return *v;
  }
  return make_error("no btime line");
}

Result<double> parse_limit(std::string_view limits, std::string_view row) {
  // "Limit                     Soft Limit           Hard Limit           Units     "
  // "Max open files            1024                 1048576              files     "
  // The names hold spaces; the soft limit is the first field after the name.
  for (std::string_view line : split_lines(limits)) {
    if (line.substr(0, row.size()) != row) continue;
    std::string_view rest = line.substr(row.size());
    if (!rest.empty() && rest.front() != ' ' && rest.front() != '\t') continue;  // a longer name
    auto f = split_fields(rest);
    if (f.empty()) return make_error("'" + std::string(row) + "' has no soft limit");
    if (f[0] == "unlimited") return -1.0;
    auto v = parse_u64(f[0]);
    if (!v) return make_error("'" + std::string(row) + "' soft limit '" + std::string(f[0].substr(0, 40)) +
                              "' is not a number or unlimited");
    return static_cast<double>(*v);
  }
  return make_error("no '" + std::string(row) + "' row");
}

ProcessMetrics::ProcessMetrics(std::filesystem::path proc, long ticks_per_second, long page_size)
    : proc_(std::move(proc)),
      ticks_per_second_(static_cast<double>(ticks_per_second > 0 ? ticks_per_second : ::sysconf(_SC_CLK_TCK))),
      page_size_(static_cast<double>(page_size > 0 ? page_size : ::sysconf(_SC_PAGESIZE))) {
  if (!(ticks_per_second_ > 0)) ticks_per_second_ = 100;  // sysconf failed: Linux's USER_HZ
  if (!(page_size_ > 0)) page_size_ = 4096;
}

void ProcessMetrics::failed(Value v, const char* what, const std::string& why) const {
  if (logged_[v].exchange(true)) return;
  spdlog::warn("{}", log_fields("process metric left out (logged once)", {{"metric", what}, {"err", why}}));
}

ProcessSample ProcessMetrics::sample() const {
  ProcessSample s;
  const auto self = proc_ / "self";

  auto stat = read_file(self / "stat", kSmallProcFile);
  Result<std::vector<std::string_view>> fields =
      stat ? proc_stat_fields(*stat) : Result<std::vector<std::string_view>>(stat.error());
  auto field = [&](int number) -> Result<unsigned long long> {
    if (!fields) return fields.error();
    return proc_stat_field(*fields, number);
  };
  {
    auto ut = field(14), st = field(15);
    if (ut && st)
      s.cpu_seconds = (static_cast<double>(*ut) + static_cast<double>(*st)) / ticks_per_second_;
    else
      failed(kCpu, "process_cpu_seconds_total", (ut ? st : ut).error().message);
  }
  if (auto v = field(23))
    s.virtual_bytes = static_cast<double>(*v);
  else
    failed(kVirtual, "process_virtual_memory_bytes", v.error().message);
  if (auto v = field(24))
    s.resident_bytes = static_cast<double>(*v) * page_size_;
  else
    failed(kResident, "process_resident_memory_bytes", v.error().message);
  {
    auto start = field(22);
    auto pstat = start ? read_file(proc_ / "stat") : Result<std::string>(start.error());
    auto btime = pstat ? parse_boot_time(*pstat) : Result<unsigned long long>(pstat.error());
    if (btime)
      s.start_time_seconds = static_cast<double>(*btime) + static_cast<double>(*start) / ticks_per_second_;
    else
      failed(kStartTime, "process_start_time_seconds", btime.error().message);
  }

  if (auto fast = procfs_fd_count(self / "fd"))
    s.open_fds = static_cast<double>(*fast);
  else if (auto n = count_entries(self / "fd"))
    s.open_fds = static_cast<double>(*n);
  else
    failed(kOpenFds, "process_open_fds", n.error().message);

  auto limits = read_file(self / "limits", kSmallProcFile);
  auto limit = [&](std::string_view row) -> Result<double> {
    if (!limits) return limits.error();
    return parse_limit(*limits, row);
  };
  if (auto v = limit("Max open files"))
    s.max_fds = *v;
  else
    failed(kMaxFds, "process_max_fds", v.error().message);
  if (auto v = limit("Max address space"))
    s.virtual_max_bytes = *v;
  else
    failed(kVirtualMax, "process_virtual_memory_max_bytes", v.error().message);
  return s;
}

void ProcessMetrics::collect(MetricSink& sink) const {
  const ProcessSample s = sample();
  // Families in name order, as client_golang's registry sorts them.
  if (s.cpu_seconds) sink.add(kProcessCpu, *s.cpu_seconds);
  if (s.max_fds) sink.add(kProcessMaxFds, *s.max_fds);
  if (s.open_fds) sink.add(kProcessOpenFds, *s.open_fds);
  if (s.resident_bytes) sink.add(kProcessResident, *s.resident_bytes);
  if (s.start_time_seconds) sink.add(kProcessStart, *s.start_time_seconds);
  if (s.virtual_bytes) sink.add(kProcessVirtual, *s.virtual_bytes);
  if (s.virtual_max_bytes) sink.add(kProcessVirtualMax, *s.virtual_max_bytes);
}

const std::vector<const MetricDef*>& process_metric_defs() {
  static const std::vector<const MetricDef*> defs = {&kProcessCpu,      &kProcessMaxFds, &kProcessOpenFds,
                                                     &kProcessResident, &kProcessStart,  &kProcessVirtual,
                                                     &kProcessVirtualMax};
  return defs;
}

}  // namespace epc
