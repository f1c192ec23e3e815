// The blocked-time measurement on plain memory: the first write to each fresh anonymous page faults (THP off, so
// one fault per page), the second does not; the log counts exactly those, and its summary adds up.
#include "access_timing.h"

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cstdint>

namespace epcbench {
namespace {

constexpr std::size_t kPages = 64;

struct AnonPages {
  AnonPages() {
    p = static_cast<std::uint8_t*>(mmap(nullptr, kPages * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    madvise(p, kPages * 4096, MADV_NOHUGEPAGE);
  }
  ~AnonPages() { munmap(p, kPages * 4096); }
  void write(std::size_t i) { *reinterpret_cast<volatile std::uint64_t*>(p + i * 4096) = i; }
  std::uint8_t* p;
};

TEST(AccessTiming, FirstTouchesFaultSecondTouchesDoNot) {
  AnonPages m;
  ASSERT_NE(m.p, MAP_FAILED);
  SchedWatch watch;  // may be unavailable (not root, no tracefs): then nothing is taken off
  AccessLog log(watch);
  log.prepare(2 * kPages);
  std::size_t faulted = 0;
  for (std::size_t i = 0; i < kPages; ++i) faulted += log.time([&] { m.write(i); });
  for (std::size_t i = 0; i < kPages; ++i) faulted += log.time([&] { m.write(i); });
  EXPECT_EQ(faulted, kPages);
  EXPECT_EQ(log.size(), 2 * kPages);
  EXPECT_EQ(log.faults(), kPages);
  for (std::size_t i = 0; i < kPages; ++i) {
    EXPECT_EQ(log.faulted_[i], 1) << i;
    EXPECT_EQ(log.faulted_[kPages + i], 0) << i;
  }

  BlockedTime b = summarize(log, 0);
  EXPECT_EQ(b.accesses, 2 * kPages);
  EXPECT_EQ(b.faulted_accesses, kPages);
  EXPECT_GT(b.faulted_p50_ns, 0u);
  EXPECT_GE(b.faulted_max_ns, b.faulted_p50_ns);
  EXPECT_EQ(b.baseline_ns, b.resident_p50_ns);
  // Blocked time is what the faulted accesses took beyond the baseline, nothing more.
  double faulted_ns = 0;
  for (std::size_t i = 0; i < kPages; ++i) faulted_ns += log.lat_[i];
  EXPECT_GT(b.blocked_seconds, 0);
  EXPECT_LE(b.blocked_seconds, faulted_ns / 1e9);
  EXPECT_NEAR(b.blocked_seconds, (faulted_ns - double(kPages) * double(b.baseline_ns)) / 1e9 - b.descheduled_seconds,
              1e-9 * double(kPages));

  // A trap round trip as long as the slowest fault leaves no blocked time; a given baseline replaces the log's.
  EXPECT_EQ(summarize(log, b.faulted_max_ns + b.baseline_ns).blocked_seconds, 0);
  EXPECT_EQ(summarize(log, 0, 7).baseline_ns, 7u);
}

TEST(AccessTiming, TrapRoundTripIsMeasured) {
  SchedWatch watch;
  EXPECT_GT(measure_trap_ns(watch), 0u);  // read faults on fresh anonymous memory happen everywhere
}

TEST(AccessTiming, LogGrowsBeyondItsPreparedSize) {
  AnonPages m;
  for (std::size_t i = 0; i < kPages; ++i) m.write(i);  // resident: no timed access below faults
  SchedWatch watch;
  AccessLog log(watch);
  log.prepare(1);
  constexpr std::size_t kAccesses = 200'000;  // the log grows to MiBs: fresh pages the growth itself faults in
  for (std::size_t i = 0; i < kAccesses; ++i) log.time([&] { m.write(i % kPages); });
  EXPECT_EQ(log.size(), kAccesses);
  EXPECT_EQ(summarize(log, 0).faulted_accesses, 0u);  // the growth's faults are not charged to an access
}

}  // namespace
}  // namespace epcbench
