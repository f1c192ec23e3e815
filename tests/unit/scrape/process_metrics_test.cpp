#include "scrape/process_metrics.h"

#include <sys/resource.h>

#include <unistd.h>

#include <gtest/gtest.h>

#include <ctime>

#include "exposition_check.h"
#include "scrape/scraper.h"
#include "test_util.h"

namespace epc {
namespace {

// A /proc/self/stat line: pid, (comm), then fields 3.. of proc(5). utime (14) 250, stime (15) 125, starttime (22)
// 98765, vsize (23) 123456789, rss (24) 2048 pages.
std::string stat_line(std::string comm = "epc_exporter", std::string vsize = "123456789", std::string rss = "2048",
                      std::string utime = "250") {
  return "4242 (" + comm + ") S 1 4242 4242 0 -1 4194560 1234 0 5 0 " + utime +
         " 125 0 0 20 0 9 0 98765 " + vsize + " " + rss +
         " 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 17 3 0 0 0 0 0\n";
}

constexpr const char* kProcStat =
    "cpu  10132153 290696 3084719 46828483 16683 0 25195 0 0 0\n"
    "cpu0 1393280 32966 572056 13343292 6130 0 17875 0 0 0\n"
    "intr 199292 0 0\n"
    "ctxt 1990473\n"
    "btime 1700000000\n"
    "processes 2101\n";

constexpr const char* kLimits =
    "Limit                     Soft Limit           Hard Limit           Units     \n"
    "Max cpu time              unlimited            unlimited            seconds   \n"
    "Max file size             unlimited            unlimited            bytes     \n"
    "Max open files            65536                1048576              files     \n"
    "Max address space         unlimited            unlimited            bytes     \n"
    "Max locked memory         8388608              8388608              bytes     \n";

struct ProcTree {
  test::TempTree t;
  ProcTree(std::string stat = stat_line(), std::string limits = kLimits, std::string proc_stat = kProcStat) {
    t.write("self/stat", stat);
    t.write("self/limits", limits);
    t.write("stat", proc_stat);
    for (const char* fd : {"0", "1", "2", "5"}) t.write(std::string("self/fd/") + fd, "");
  }
  ProcessSample sample() const { return ProcessMetrics(t.root(), 100, 4096).sample(); }
};

TEST(ProcessMetrics, ReadsEveryValueFromSampleFiles) {
  ProcTree p;
  auto s = p.sample();
  ASSERT_TRUE(s.cpu_seconds);
  EXPECT_DOUBLE_EQ(*s.cpu_seconds, 3.75);  // (250 + 125) ticks / 100
  ASSERT_TRUE(s.virtual_bytes);
  EXPECT_DOUBLE_EQ(*s.virtual_bytes, 123456789);
  ASSERT_TRUE(s.resident_bytes);
  EXPECT_DOUBLE_EQ(*s.resident_bytes, 2048.0 * 4096);
  ASSERT_TRUE(s.start_time_seconds);
  EXPECT_DOUBLE_EQ(*s.start_time_seconds, 1700000000 + 987.65);
  ASSERT_TRUE(s.open_fds);
  EXPECT_EQ(*s.open_fds, 4);
  ASSERT_TRUE(s.max_fds);
  EXPECT_EQ(*s.max_fds, 65536);
  ASSERT_TRUE(s.virtual_max_bytes);
  EXPECT_EQ(*s.virtual_max_bytes, -1);  // unlimited, as client_golang reports it
}

TEST(ProcessMetrics, CommandNameWithSpacesAndParentheses) {
  ProcTree p(stat_line("a) b (c) 1 2 3"));
  auto s = p.sample();
  ASSERT_TRUE(s.cpu_seconds);
  EXPECT_DOUBLE_EQ(*s.cpu_seconds, 3.75);
  ASSERT_TRUE(s.resident_bytes);
  EXPECT_DOUBLE_EQ(*s.resident_bytes, 2048.0 * 4096);
}

TEST(ProcessMetrics, GarbageStatLeavesOnlyItsSeriesOut) {
  ProcTree p("\x7f" "ELF garbage without a command name\n");
  auto s = p.sample();
  EXPECT_FALSE(s.cpu_seconds);
  EXPECT_FALSE(s.virtual_bytes);
  EXPECT_FALSE(s.resident_bytes);
  EXPECT_FALSE(s.start_time_seconds);
  // The other files still count.
  EXPECT_TRUE(s.open_fds);
  EXPECT_TRUE(s.max_fds);
  EXPECT_TRUE(s.virtual_max_bytes);
}

TEST(ProcessMetrics, NonNumericFieldLeavesOutThatValueOnly) {
  ProcTree p(stat_line("x", "banana", "2048", "-5"));
  auto s = p.sample();
  EXPECT_FALSE(s.cpu_seconds);  // utime "-5"
  EXPECT_FALSE(s.virtual_bytes);
  ASSERT_TRUE(s.resident_bytes);
  ASSERT_TRUE(s.start_time_seconds);
}

TEST(ProcessMetrics, TruncatedStatLineKeepsTheFieldsItHas) {
  // Up to field 21 (itrealvalue): utime and stime are there, starttime, vsize and rss are not.
  ProcTree p("4242 (x) S 1 4242 4242 0 -1 4194560 1234 0 5 0 250 125 0 0 20 0 9 0\n");
  auto s = p.sample();
  ASSERT_TRUE(s.cpu_seconds);
  EXPECT_DOUBLE_EQ(*s.cpu_seconds, 3.75);
  EXPECT_FALSE(s.start_time_seconds);
  EXPECT_FALSE(s.virtual_bytes);
  EXPECT_FALSE(s.resident_bytes);
}

TEST(ProcessMetrics, BigValues) {
  ProcTree p(stat_line("x", "18446744073709551615", "4503599627370496", "18446744073709551615"));
  auto s = p.sample();
  ASSERT_TRUE(s.virtual_bytes);
  EXPECT_DOUBLE_EQ(*s.virtual_bytes, 18446744073709551615.0);
  ASSERT_TRUE(s.resident_bytes);
  EXPECT_DOUBLE_EQ(*s.resident_bytes, 4503599627370496.0 * 4096);
  ASSERT_TRUE(s.cpu_seconds);
  EXPECT_GT(*s.cpu_seconds, 1e17);
  // One past 2^64 - 1 does not wrap: the value is left out.
  ProcTree over(stat_line("x", "18446744073709551616"));
  EXPECT_FALSE(over.sample().virtual_bytes);
  EXPECT_TRUE(over.sample().resident_bytes);
}

TEST(ProcessMetrics, LimitsRows) {
  EXPECT_EQ(*parse_limit(kLimits, "Max open files"), 65536);
  EXPECT_EQ(*parse_limit(kLimits, "Max address space"), -1);
  EXPECT_EQ(*parse_limit(kLimits, "Max locked memory"), 8388608);
  EXPECT_FALSE(parse_limit(kLimits, "Max open"));  // a prefix of a row is not the row
  EXPECT_FALSE(parse_limit(kLimits, "Max processes"));
  EXPECT_FALSE(parse_limit("Max open files            banana   1 files\n", "Max open files"));
  EXPECT_FALSE(parse_limit("Max open files\n", "Max open files"));
  EXPECT_EQ(*parse_limit("Max address space 18446744073709551615 unlimited bytes\n", "Max address space"),
            18446744073709551615.0);

  ProcTree p(stat_line(), "Limit Soft Limit Hard Limit Units\nMax open files  lots  1048576  files\n");
  auto s = p.sample();
  EXPECT_FALSE(s.max_fds);
  EXPECT_FALSE(s.virtual_max_bytes);  // no such row
  EXPECT_TRUE(s.cpu_seconds);
}

TEST(ProcessMetrics, BootTime) {
  EXPECT_EQ(*parse_boot_time(kProcStat), 1700000000u);
  EXPECT_FALSE(parse_boot_time("cpu 1 2 3\nctxt 5\n"));
  EXPECT_FALSE(parse_boot_time("btime\n"));
  EXPECT_FALSE(parse_boot_time("btime -1\n"));
  EXPECT_FALSE(parse_boot_time("btime 1 2\n"));
  ProcTree p(stat_line(), kLimits, "cpu 1 2 3\n");
  auto s = p.sample();
  EXPECT_FALSE(s.start_time_seconds);
  EXPECT_TRUE(s.cpu_seconds);
}

TEST(ProcessMetrics, MissingFilesWriteNothingAndDoNotThrow) {
  test::TempTree empty;
  ProcessMetrics m(empty.root() / "nope", 100, 4096);
  auto s = m.sample();
  EXPECT_FALSE(s.cpu_seconds || s.resident_bytes || s.virtual_bytes || s.virtual_max_bytes || s.open_fds ||
               s.max_fds || s.start_time_seconds);
  MetricSink sink;
  m.collect(sink);
  m.collect(sink);  // logged once; a second scrape is as quiet and as empty
  EXPECT_EQ(sink.series_count(), 0u);
}

TEST(ProcessMetrics, FamiliesAsClientGolang) {
  ProcTree p;
  MetricSink sink;
  ProcessMetrics(p.t.root(), 100, 4096).collect(sink);
  auto fams = sink.take();
  struct Want {
    const char* name;
    const char* help;
    prometheus::MetricType type;
  };
  const Want want[] = {
      {"process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", prometheus::MetricType::Counter},
      {"process_max_fds", "Maximum number of open file descriptors.", prometheus::MetricType::Gauge},
      {"process_open_fds", "Number of open file descriptors.", prometheus::MetricType::Gauge},
      {"process_resident_memory_bytes", "Resident memory size in bytes.", prometheus::MetricType::Gauge},
      {"process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
       prometheus::MetricType::Gauge},
      {"process_virtual_memory_bytes", "Virtual memory size in bytes.", prometheus::MetricType::Gauge},
      {"process_virtual_memory_max_bytes", "Maximum amount of virtual memory available in bytes.",
       prometheus::MetricType::Gauge},
  };
  ASSERT_EQ(fams.size(), std::size(want));
  for (std::size_t i = 0; i < fams.size(); ++i) {
    EXPECT_EQ(fams[i].name, want[i].name);
    EXPECT_EQ(fams[i].help, want[i].help);
    EXPECT_EQ(fams[i].type, want[i].type) << fams[i].name;
    ASSERT_EQ(fams[i].metric.size(), 1u);
    EXPECT_TRUE(fams[i].metric[0].label.empty());
  }
  EXPECT_DOUBLE_EQ(fams[0].metric[0].counter.value, 3.75);
}

TEST(ProcessMetrics, RealProcSelf) {
  ProcessMetrics m;  // /proc, sysconf
  auto s = m.sample();
  ASSERT_TRUE(s.cpu_seconds && s.resident_bytes && s.virtual_bytes && s.virtual_max_bytes && s.open_fds &&
              s.max_fds && s.start_time_seconds);
  EXPECT_GE(*s.cpu_seconds, 0);
  EXPECT_GT(*s.resident_bytes, 0);
  EXPECT_GE(*s.virtual_bytes, *s.resident_bytes);
  EXPECT_GE(*s.open_fds, 3);  // at least the directory being read and two standard streams
  rlimit rl{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &rl), 0);
  EXPECT_EQ(*s.max_fds, rl.rlim_cur == RLIM_INFINITY ? -1.0 : static_cast<double>(rl.rlim_cur));
  const double now = static_cast<double>(std::time(nullptr));
  EXPECT_LE(*s.start_time_seconds, now + 1);
  EXPECT_GT(*s.start_time_seconds, now - 24 * 3600.0);  // this test binary started less than a day ago
}

TEST(ProcessMetrics, InThePipelineUnlessDisabled) {
  ProcTree p;
  Scraper::Options on;
  on.proc = p.t.root();
  auto with = Scraper({}, nullptr, on).render_within(std::chrono::seconds(5));
  ASSERT_TRUE(with);
  EXPECT_NE(with->find("# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 3.75\n"),
            std::string::npos)
      << *with;
  EXPECT_NE(with->find("process_open_fds 4\n"), std::string::npos);
  EXPECT_NE(with->find("process_virtual_memory_max_bytes -1\n"), std::string::npos);
  EXPECT_NE(with->find("sgx_exporter_build_info{"), std::string::npos);
  EXPECT_TRUE(test::exposition_is_clean(*with));

  Scraper::Options off = on;
  off.exporter_metrics = false;
  auto without = Scraper({}, nullptr, off).render_within(std::chrono::seconds(5));
  ASSERT_TRUE(without);
  EXPECT_EQ(without->find("process_"), std::string::npos) << *without;
  // The product's own health stays.
  EXPECT_NE(without->find("sgx_exporter_build_info{"), std::string::npos);
  EXPECT_NE(without->find("sgx_exporter_workloads "), std::string::npos);
  EXPECT_TRUE(test::exposition_is_clean(*without));
}

// The count follows the descriptors the process really holds, whichever way it is read (stat() of the procfs
// directory on 6.2+, a listing before): 200 more open descriptors are 200 more, exactly.
TEST(ProcessMetrics, RealProcSelfCountsEveryOpenDescriptor) {
  ProcessMetrics m;
  auto before = m.sample().open_fds;
  ASSERT_TRUE(before);
  std::vector<int> fds;
  for (int i = 0; i < 200; ++i) {
    int fd = ::dup(0);
    ASSERT_GE(fd, 0);
    fds.push_back(fd);
  }
  auto after = m.sample().open_fds;
  for (int fd : fds) ::close(fd);
  ASSERT_TRUE(after);
  EXPECT_EQ(*after - *before, 200);
}

}  // namespace
}  // namespace epc
