// The sim backend: data survives many evictions (also with two enclaves contending), tampered or replayed
// backing data is detected and never returned, and reclaim follows the low/high watermarks.
#include "sim/sim_epc.h"

#include <gtest/gtest.h>

#include <cstring>
#include <thread>

#include "workloads.h"

namespace epcbench::sim {
namespace {

#define REQUIRE_SIM()                                         \
  do {                                                        \
    if (auto why = sim_unavailable()) GTEST_SKIP() << *why;   \
  } while (0)

// A Status as a gtest assertion, with the error's message on failure.
::testing::AssertionResult is_ok(const Status& st) {
  if (st) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << st.error().message;
}

std::uint64_t page_word(std::size_t idx, int round, std::size_t w) {
  return (idx * 0x9E3779B97F4A7C15ull) ^ (std::uint64_t(round) << 48) ^ (w * 0x100000001B3ull);
}

void fill(SimEnclave& e, std::size_t idx, int round) {
  Status st = e.guarded([&](std::uint8_t* base) {
    auto* p = reinterpret_cast<std::uint64_t*>(base + idx * kPageSize);
    for (std::size_t w = 0; w < kPageSize / 8; ++w) p[w] = page_word(idx, round, w);
  });
  ASSERT_TRUE(st) << st.error().message;
}

// Number of words that differ from what fill() wrote.
std::size_t mismatches(SimEnclave& e, std::size_t idx, int round) {
  std::size_t bad = 0;
  Status st = e.guarded([&](std::uint8_t* base) {
    auto* p = reinterpret_cast<const std::uint64_t*>(base + idx * kPageSize);
    for (std::size_t w = 0; w < kPageSize / 8; ++w) bad += p[w] != page_word(idx, round, w);
  });
  EXPECT_TRUE(st) << st.error().message;
  return st ? bad : kPageSize;
}

TEST(SimEpc, DataSurvivesManyEvictions) {
  REQUIRE_SIM();
  auto epc = SimEpc::create({.epc_pages = 64});
  auto r = epc->create_enclave(256);
  ASSERT_TRUE(r) << r.error().message;
  SimEnclave& e = *r.value();
  for (int round = 0; round < 6; ++round) {
    for (std::size_t i = 0; i < 256; ++i) {
      if (round > 0) {
        ASSERT_EQ(mismatches(e, i, round - 1), 0u) << "page " << i << " round " << round;
      }
      fill(e, i, round);
    }
  }
  SimStats s = epc->stats();
  // 4x oversubscribed, every page written every round: most accesses must have gone through EWB/ELDU.
  EXPECT_GT(s.evictions, 5u * 192u);
  EXPECT_GT(s.load_backs, 5u * 192u);
  EXPECT_EQ(s.integrity_errors, 0u);
  EXPECT_LE(epc->config().epc_pages - epc->free_pages(), 64u);
  EXPECT_TRUE(is_ok(epc->check_accounting()));
}

TEST(SimEpc, TwoEnclavesContendingKeepTheirData) {
  REQUIRE_SIM();
  auto epc = SimEpc::create({.epc_pages = 48});
  auto a = epc->create_enclave(96);
  auto b = epc->create_enclave(96);
  ASSERT_TRUE(a && b);
  std::atomic<std::size_t> bad{0};
  auto work = [&](SimEnclave& e) {
    for (int round = 0; round < 4; ++round)
      for (std::size_t i = 0; i < 96; ++i) {
        if (round > 0) bad += mismatches(e, i, round - 1);
        fill(e, i, round);
      }
  };
  std::thread ta(work, std::ref(*a.value()));
  std::thread tb(work, std::ref(*b.value()));
  ta.join();
  tb.join();
  EXPECT_EQ(bad.load(), 0u);
  EXPECT_GT(epc->stats().evictions, 200u);
  EXPECT_EQ(epc->stats().integrity_errors, 0u);
  epc->wait_idle();
  EXPECT_TRUE(is_ok(epc->check_accounting()));
}

// Touches every page of a 4x oversubscribed enclave so that page 0 is evicted, and returns it.
std::unique_ptr<SimEnclave> enclave_with_page0_evicted(const std::shared_ptr<SimEpc>& epc) {
  auto r = epc->create_enclave(64);
  EXPECT_TRUE(r) << (r ? "" : r.error().message);
  if (!r) return nullptr;
  auto e = std::move(r.value());
  auto idx = make_pattern(Pattern::kSequential, 64);
  auto t = run_pass(*e, idx);
  EXPECT_TRUE(t);
  epc->wait_idle();
  EXPECT_TRUE(e->evicted(0));
  return e;
}

void expect_integrity_error(SimEnclave& e, const std::shared_ptr<SimEpc>& epc) {
  std::uint32_t zero = 0;
  auto r = e.touch(std::span<const std::uint32_t>(&zero, 1));
  ASSERT_FALSE(r) << "tampered page was returned, value " << r.value();
  EXPECT_NE(r.error().message.find("integrity"), std::string::npos) << r.error().message;
  EXPECT_TRUE(e.failed());
  EXPECT_FALSE(e.resident(0));
  EXPECT_EQ(epc->stats().integrity_errors, 1u);
  // The enclave stays failed.
  EXPECT_FALSE(e.touch(std::span<const std::uint32_t>(&zero, 1)));
  EXPECT_TRUE(is_ok(epc->check_accounting()));
}

TEST(SimEpc, TamperedCiphertextIsDetected) {
  REQUIRE_SIM();
  auto epc = SimEpc::create({.epc_pages = 16});
  auto e = enclave_with_page0_evicted(epc);
  ASSERT_TRUE(e);
  e->backing_for_test(0)[100] ^= 0x01;
  expect_integrity_error(*e, epc);
}

TEST(SimEpc, TamperedTagIsDetected) {
  REQUIRE_SIM();
  auto epc = SimEpc::create({.epc_pages = 16});
  auto e = enclave_with_page0_evicted(epc);
  ASSERT_TRUE(e);
  e->backing_for_test(0)[kPageSize + 3] ^= 0x80;
  expect_integrity_error(*e, epc);
}

TEST(SimEpc, ReplayedOldCopyIsDetected) {
  REQUIRE_SIM();
  auto epc = SimEpc::create({.epc_pages = 16});
  auto e = enclave_with_page0_evicted(epc);
  ASSERT_TRUE(e);
  auto slot = e->backing_for_test(0);
  std::vector<std::uint8_t> old(slot.begin(), slot.end());  // a valid copy, version n
  // Load page 0 back (value becomes 2) and get it evicted again (version n+1).
  auto idx = make_pattern(Pattern::kSequential, 64);
  ASSERT_TRUE(run_pass(*e, idx));
  epc->wait_idle();
  ASSERT_TRUE(e->evicted(0));
  ASSERT_NE(std::memcmp(old.data(), slot.data(), slot.size()), 0);
  std::memcpy(slot.data(), old.data(), old.size());  // roll back to the old, correctly MACed copy
  expect_integrity_error(*e, epc);
}

TEST(SimEpc, IntactPagesStillLoadAfterAnotherEnclaveFailed) {
  REQUIRE_SIM();
  auto epc = SimEpc::create({.epc_pages = 16});
  auto bad = enclave_with_page0_evicted(epc);
  auto good = enclave_with_page0_evicted(epc);
  ASSERT_TRUE(bad && good);
  bad->backing_for_test(0)[0] ^= 0xff;
  std::uint32_t zero = 0;
  EXPECT_FALSE(bad->touch(std::span<const std::uint32_t>(&zero, 1)));
  auto r = good->touch(std::span<const std::uint32_t>(&zero, 1));
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r.value(), 1u);  // touched once before: the load-back returned the right value
}

TEST(SimEpc, BackgroundReclaimFollowsWatermarks) {
  REQUIRE_SIM();
  auto epc = SimEpc::create({.epc_pages = 256, .low_watermark = 16, .high_watermark = 32, .batch = 8});
  auto r = epc->create_enclave(512);
  ASSERT_TRUE(r);
  auto& e = *r.value();
  // Down to exactly the low watermark: nothing is reclaimed yet.
  auto idx = make_pattern(Pattern::kSequential, 256 - 16);
  ASSERT_TRUE(e.touch(idx));
  epc->wait_idle();
  EXPECT_EQ(epc->free_pages(), 16u);
  EXPECT_EQ(epc->stats().evictions, 0u);
  // One page below it: ksgxd wakes and reclaims in batches of 8 until free >= high.
  std::uint32_t next = 256 - 16;
  ASSERT_TRUE(e.touch(std::span<const std::uint32_t>(&next, 1)));
  epc->wait_idle();
  SimStats s = epc->stats();
  EXPECT_GE(epc->free_pages(), 32u);
  EXPECT_LT(epc->free_pages(), 32u + 8u);
  EXPECT_EQ(s.evictions % 8, 0u);
  EXPECT_GE(s.ksgxd_passes, 1u);
  EXPECT_EQ(s.direct_passes, 0u);
  // The oldest pages went first (FIFO), the newest is still resident.
  EXPECT_TRUE(e.evicted(0));
  EXPECT_TRUE(e.resident(next));
  EXPECT_TRUE(is_ok(epc->check_accounting()));
}

TEST(SimEpc, DirectReclaimWithoutBackgroundThread) {
  REQUIRE_SIM();
  auto epc = SimEpc::create({.epc_pages = 64, .low_watermark = 4, .high_watermark = 8, .batch = 4,
                             .background_reclaim = false});
  auto r = epc->create_enclave(128);
  ASSERT_TRUE(r);
  ASSERT_TRUE(run_pass(*r.value(), make_pattern(Pattern::kSequential, 128)));
  SimStats s = epc->stats();
  EXPECT_EQ(s.ksgxd_passes, 0u);
  EXPECT_EQ(s.direct_passes, 16u);  // 64 pages over capacity, 4 per pass
  EXPECT_EQ(s.evictions, 64u);
  EXPECT_EQ(epc->free_pages(), 0u);
  EXPECT_TRUE(is_ok(epc->check_accounting()));
}

TEST(SimEpc, EnclaveTeardownReturnsItsPages) {
  REQUIRE_SIM();
  auto epc = SimEpc::create({.epc_pages = 64});
  {
    auto r = epc->create_enclave(32);
    ASSERT_TRUE(r);
    ASSERT_TRUE(run_pass(*r.value(), make_pattern(Pattern::kSequential, 32)));
    EXPECT_EQ(epc->free_pages(), 32u);
  }
  EXPECT_EQ(epc->free_pages(), 64u);
  EXPECT_TRUE(is_ok(epc->check_accounting()));
}

TEST(SimEpc, RejectsEmptyEnclave) {
  REQUIRE_SIM();
  auto epc = SimEpc::create({.epc_pages = 64});
  EXPECT_FALSE(epc->create_enclave(0));
}

}  // namespace
}  // namespace epcbench::sim
