// The exporter's own process_* metrics, as the Prometheus Go and Java clients and node_exporter export them (same
// names, help strings and types as client_golang's process collector, so dashboards and alerts written for any
// Prometheus-instrumented process work here). Read from the exporter's own /proc/self (stat, limits, fd/) and
// /proc/stat (boot time) with the bounded reads of host/file_reader.h. Always the real /proc, never
// --path.rootfs: it is this process, not the host. A value that cannot be read leaves its series out and is
// logged once (per value, for the life of the process); it never fails the scrape.
#pragma once

#include <atomic>
#include <filesystem>
#include <optional>
#include <string_view>
#include <vector>

#include "host/result.h"
#include "scrape/metric_sink.h"

namespace epc {

// The fields of a /proc/<pid>/stat line after the command name, whose parentheses may hold spaces and ')'; the
// first is field 3 (state) of proc(5). Error when the line has no ")".
Result<std::vector<std::string_view>> proc_stat_fields(std::string_view text);

// Field `number` (proc(5) numbering: 14 utime, 15 stime, 22 starttime, 23 vsize, 24 rss) as an unsigned integer.
Result<unsigned long long> proc_stat_field(const std::vector<std::string_view>& fields, int number);

// The "btime" line of /proc/stat: boot time in seconds since the epoch.
Result<unsigned long long> parse_boot_time(std::string_view proc_stat);

// The soft limit of one row of /proc/<pid>/limits ("Max open files", "Max address space"); "unlimited" is -1, as
// client_golang (procfs) reports it.
Result<double> parse_limit(std::string_view limits, std::string_view row);

// What one collection found; a value that could not be read is nullopt.
struct ProcessSample {
  std::optional<double> cpu_seconds, resident_bytes, virtual_bytes, virtual_max_bytes, open_fds, max_fds,
      start_time_seconds;
};

class ProcessMetrics {
 public:
  // proc: where procfs is mounted ("/proc"; tests pass a tree of sample files). ticks_per_second and page_size
  // default to sysconf(_SC_CLK_TCK) and sysconf(_SC_PAGESIZE).
  explicit ProcessMetrics(std::filesystem::path proc = "/proc", long ticks_per_second = 0, long page_size = 0);

  ProcessSample sample() const;   // reads the files; logs each failing value once
  void collect(MetricSink& sink) const;  // sample() written as process_* families

 private:
  enum Value { kCpu, kResident, kVirtual, kVirtualMax, kOpenFds, kMaxFds, kStartTime, kValues };
  void failed(Value v, const char* what, const std::string& why) const;

  std::filesystem::path proc_;
  double ticks_per_second_;
  double page_size_;
  mutable std::atomic<bool> logged_[kValues] = {};
};

// The process_* definitions, in the order collect() writes them.
const std::vector<const MetricDef*>& process_metric_defs();

}  // namespace epc
