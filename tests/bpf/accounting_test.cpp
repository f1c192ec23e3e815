// Proof 3: accounting semantics. Synthetic event sequences go through the on-demand BPF program with
// BPF_PROG_TEST_RUN; it calls the same accounting functions (probes/epc_account.bpf.h) the SGX probes call.
// Needs root (loads BPF); each test loads a fresh object, so maps start empty.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "epc.h"
#include "epc_probes.h"
#include "probes_testing.h"
#include "tracefs_kretprobes.h"

using epc::probes::Mode;
using epc::probes::Options;
using epc::probes::Probes;
using epc::probes::Snapshot;
using epc::probes::WorkloadCounters;

namespace {

constexpr std::uint64_t kPodA = 1001, kPodB = 2002, kOther = 3003;
constexpr std::uint64_t kEnclA = 0xffff888100010000ull, kEnclB = 0xffff888100020000ull;
constexpr std::uint64_t kTid = 100, kKsgxd = 7;

class Accounting : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to load BPF programs and use BPF_PROG_TEST_RUN";
    Options o;
    o.mode = Mode::kTestOnly;
    o.kallsyms_path = "";  // synthetic events only
    p_ = Probes::start(o);
    if (!p_->loaded()) GTEST_SKIP() << "BPF object does not load here: " << p_->load_error();
  }

  int run(epc_test_event e) {
    if (e.tgid == 0) e.tgid = 4242;
    int rc = epc::probes::testing::run_event(*p_, e);
    EXPECT_EQ(rc, 0) << "event " << e.type;
    return rc;
  }
  int ev(std::uint32_t type, std::uint64_t encl = 0, std::uint64_t cgroup = 0, std::uint64_t arg = 0,
         std::uint64_t secs_candidate = 0, std::uint64_t tid = kTid, std::uint64_t page = 0) {
    epc_test_event e{};
    e.type = type;
    e.encl = encl;
    e.cgroup_id = cgroup;
    e.arg = arg;
    e.secs_candidate = secs_candidate;
    e.tid = tid;
    e.page = page;
    return run(e);
  }

  // One handler step each, as the probes run them.
  std::uint64_t next_page() { return next_page_ += 0x40; }  // struct sgx_epc_page addresses
  std::uint64_t alloc(std::uint64_t encl, std::uint64_t secs = 0, std::uint64_t tid = kTid) {
    std::uint64_t page = next_page();
    alloc_page(page, encl, secs, tid);
    return page;
  }
  void alloc_page(std::uint64_t page, std::uint64_t encl, std::uint64_t secs = 0, std::uint64_t tid = kTid) {
    ev(EPC_EV_PAGE_ALLOC, encl, 0, 0, secs, tid);
    epc_test_event e{};
    e.type = EPC_EV_PAGE_ALLOC_RET;
    e.tid = tid;
    e.page = page;
    run(e);
  }
  void alloc_fail(std::uint64_t encl, std::uint64_t current_cgroup, std::uint64_t tid = kTid) {
    ev(EPC_EV_PAGE_ALLOC, encl, 0, 0, 0, tid);
    ev(EPC_EV_PAGE_ALLOC_RET, 0, current_cgroup, 0, 0, tid);
  }
  void free_page(std::uint64_t page, std::uint64_t owner_encl, std::uint64_t tid = kTid) {
    epc_test_event e{};
    e.type = EPC_EV_PAGE_FREE;
    e.tid = tid;
    e.page = page;
    e.encl = owner_encl;
    run(e);
  }
  void ewb(std::uint64_t page, std::uint64_t encl) {
    epc_test_event e{};
    e.type = EPC_EV_EWB;
    e.tid = kKsgxd;
    e.page = page;
    e.encl = encl;
    run(e);
  }
  std::uint64_t grow(std::uint64_t encl, std::uint64_t tid = kTid) {
    std::uint64_t page = next_page();
    ev(EPC_EV_VA_GROW, encl, 0, 0, 0, tid);
    ev(EPC_EV_PAGE_ALLOC, 0, 0, 0, 0, tid);  // sgx_alloc_va_page(): owner NULL
    epc_test_event e{};
    e.type = EPC_EV_PAGE_ALLOC_RET;
    e.tid = tid;
    e.page = page;
    run(e);
    e.type = EPC_EV_VA_GROW_RET;
    run(e);
    va_[encl].push_back(page);
    return page;
  }
  void fault(std::uint64_t encl, std::uint64_t addr, std::uint64_t now, std::uint64_t tid = kTid) {
    epc_test_event e{};
    e.type = EPC_EV_FAULT;
    e.tid = tid;
    e.encl = encl;
    e.addr = addr;
    e.arg = now;
    run(e);
  }
  void fault_ret(std::uint64_t now, std::uint64_t tid = kTid) { ev(EPC_EV_FAULT_RET, 0, 0, now, 0, tid); }
  // ELDU inside the current fault: allocation (fails with -EBUSY when !ok), load.
  std::uint64_t eldu(std::uint64_t encl, bool ok, std::uint64_t tid = kTid) {
    ev(EPC_EV_ELDU, encl, 0, 0, 0, tid);
    std::uint64_t page = 0;
    if (ok)
      page = alloc(encl, 0, tid);
    else
      alloc_fail(encl, 0, tid);
    ev(EPC_EV_ELDU_RET, 0, 0, ok ? 1 : 0, 0, tid);
    return page;
  }

  std::map<std::uint64_t, WorkloadCounters> by_cgroup(const Snapshot& s) {
    std::map<std::uint64_t, WorkloadCounters> m;
    for (const auto& w : s.workloads) m[w.cgroup_id] = w.counters;
    return m;
  }

  // Enclave creation as sgx_encl_create() does it: VA page (sgx_encl_grow), SECS page (owner &encl->secs whose
  // ->encl is still NULL: resolved through the SECS candidate), then `pages` EADDs with a VA page per 512 pages.
  std::vector<std::uint64_t> build_enclave(std::uint64_t encl, std::uint64_t cgroup, std::uint64_t size, int pages,
                                           std::uint64_t tid = kTid) {
    std::vector<std::uint64_t> out;
    ev(EPC_EV_ENCL_CREATE, encl, cgroup, size, 0, tid);
    out.push_back(grow(encl, tid));
    out.push_back(alloc(0, /*secs_candidate=*/encl, tid));
    ev(EPC_EV_ENCL_CREATE_RET, 0, 0, 0, 0, tid);
    for (int i = 0; i < pages; ++i) {
      out.push_back(alloc(encl, 0, tid));
      if ((i + 1) % 512 == 0) out.push_back(grow(encl, tid));
    }
    return out;
  }
  // sgx_encl_release() in thread tid: the enclave's remaining pages are freed inside it.
  void release(std::uint64_t encl, const std::vector<std::uint64_t>& pages, std::uint64_t tid = kTid) {
    ev(EPC_EV_ENCL_RELEASE, encl, 0, 0, 0, tid);
    for (auto p : pages) free_page(p, encl, tid);
    ev(EPC_EV_ENCL_RELEASE_DONE, 0, 0, 0, 0, tid);
  }

  std::unique_ptr<Probes> p_;
  std::uint64_t next_page_ = 0xffffc90000000000ull;
  std::map<std::uint64_t, std::vector<std::uint64_t>> va_;
};

TEST_F(Accounting, IssueExampleTwoPodsEvictionLoadBackRelease) {
  // Enclave of 1,000 pages in pod A: SECS + 2 VA pages + 1,000 pages resident.
  auto pages = build_enclave(kEnclA, kPodA, 4 << 20, 1000);
  // ksgxd evicts 300 pages in passes of up to 16: EWB, then the EPC page is freed (6.x).
  for (int pass = 0; pass < 19; ++pass) ev(EPC_EV_RECLAIM, 0, 0, /*ksgxd=*/1);
  std::vector<std::uint64_t> live(pages.begin(), pages.end());
  for (int i = 0; i < 300; ++i) {
    std::uint64_t p = live.back();
    live.pop_back();
    ewb(p, kEnclA);
    free_page(p, kEnclA, kKsgxd);
  }
  // 100 pages loaded back on enclave page faults of 25 us each: fault -> ELDU -> new EPC page.
  for (int i = 0; i < 100; ++i) {
    fault(kEnclA, 0x7f0000000000ull + i * 4096, 1'000'000ull * i);
    live.push_back(eldu(kEnclA, true));
    fault_ret(1'000'000ull * i + 25'000);
  }
  // One direct reclaim pass from an allocating task.
  ev(EPC_EV_RECLAIM, 0, 0, 0);

  auto mid = by_cgroup(p_->read());
  ASSERT_EQ(mid.count(kPodA), 1u);
  EXPECT_EQ(mid[kPodA].enclaves, 1);
  EXPECT_EQ(mid[kPodA].size_bytes, 4 << 20);
  EXPECT_EQ(mid[kPodA].resident_pages, 1 + 2 + 1000 - 300 + 100);
  EXPECT_EQ(mid[kPodA].va_pages, 2);
  EXPECT_EQ(mid[kPodA].swapped_pages, 200);
  EXPECT_EQ(mid[kPodA].evicted_pages, 300u);
  EXPECT_EQ(mid[kPodA].loaded_back_pages, 100u);
  EXPECT_EQ(mid[kPodA].page_faults, 100u);
  EXPECT_EQ(mid[kPodA].page_fault_ns, 2'500'000u);  // each load-back fault waited 25 us
  EXPECT_EQ(mid[kPodA].fault_retries, 0u);

  // A second enclave in pod B.
  build_enclave(kEnclB, kPodB, 1 << 20, 10);
  // Release of the first: its frees during sgx_encl_release() are its teardown, not events.
  release(kEnclA, live);

  auto s = p_->read();
  auto m = by_cgroup(s);
  ASSERT_EQ(m.size(), 2u);
  // Pod A: nothing live, counters kept (monotonic).
  EXPECT_EQ(m[kPodA].enclaves, 0);
  EXPECT_EQ(m[kPodA].size_bytes, 0);
  EXPECT_EQ(m[kPodA].resident_pages, 0);
  EXPECT_EQ(m[kPodA].swapped_pages, 0);
  EXPECT_EQ(m[kPodA].evicted_pages, 300u);
  EXPECT_EQ(m[kPodA].loaded_back_pages, 100u);
  EXPECT_EQ(m[kPodA].page_faults, 100u);
  EXPECT_EQ(m[kPodA].page_fault_ns, 2'500'000u);
  EXPECT_EQ(m[kPodA].alloc_failures, 0u);
  // Pod B: SECS + 1 VA + 10 pages.
  EXPECT_EQ(m[kPodB].enclaves, 1);
  EXPECT_EQ(m[kPodB].size_bytes, 1 << 20);
  EXPECT_EQ(m[kPodB].resident_pages, 12);
  EXPECT_EQ(m[kPodB].va_pages, 1);
  EXPECT_EQ(m[kPodB].swapped_pages, 0);
  EXPECT_EQ(m[kPodB].evicted_pages, 0u);
  // Node.
  EXPECT_EQ(s.reclaim_ksgxd, 19u);
  EXPECT_EQ(s.reclaim_direct, 1u);
  for (const auto& [reason, n] : s.dropped) EXPECT_EQ(n, 0u) << reason;
  for (const auto& f : s.maps) {
    if (f.map == "encls") {
      EXPECT_EQ(f.entries, 1u);
    }
    if (f.map == "va_pages") {
      EXPECT_EQ(f.entries, 1u);  // B's; A's were deleted at their frees in the release
    }
  }

  // After the release, events naming the gone enclave are counted as dropped, never charged.
  ewb(next_page(), kEnclA);
  auto after = p_->read();
  EXPECT_EQ(after.dropped["untracked_enclave"], 1u);
  EXPECT_EQ(by_cgroup(after)[kPodA].evicted_pages, 300u);
}

TEST_F(Accounting, EnclaveMapFullCountsDrops) {
  for (std::uint64_t i = 0; i < EPC_MAX_ENCLAVES + 5; ++i) ev(EPC_EV_ENCL_CREATE, kEnclA + i * 4096, kPodA, 4096);
  auto s = p_->read();
  EXPECT_EQ(s.dropped["enclave_map_full"], 5u);
  EXPECT_EQ(by_cgroup(s)[kPodA].enclaves, EPC_MAX_ENCLAVES);
}

TEST_F(Accounting, CgroupMapFullCountsDrops) {
  for (std::uint64_t i = 0; i < EPC_MAX_CGROUPS + 3; ++i) ev(EPC_EV_ENCL_CREATE, kEnclA + i * 4096, 10'000 + i, 4096);
  auto s = p_->read();
  EXPECT_EQ(s.dropped["cgroup_map_full"], 3u);
  // Live enclaves still show (they are summed from the enclave map) ...
  EXPECT_EQ(s.workloads.size(), static_cast<std::size_t>(EPC_MAX_CGROUPS + 3));
  // ... but the counters of a released enclave whose cgroup has no entry are lost, and counted.
  const std::uint64_t last = kEnclA + (EPC_MAX_CGROUPS + 2) * 4096ull;
  ewb(next_page(), last);
  release(last, {});
  auto after = p_->read();
  EXPECT_EQ(after.dropped["cgroup_map_full"], 4u);
  EXPECT_EQ(after.workloads.size(), static_cast<std::size_t>(EPC_MAX_CGROUPS + 2));
}

TEST_F(Accounting, AllocationFailuresGoToTheOwnerElseTheCallingTask) {
  build_enclave(kEnclA, kPodA, 1 << 20, 4);
  alloc_fail(kEnclA, kOther);  // reclaimer or other task: the owner's cgroup is charged
  alloc_fail(0, kOther);       // VA page or SECS of an enclave we do not track: the calling task's cgroup
  auto m = by_cgroup(p_->read());
  EXPECT_EQ(m[kPodA].alloc_failures, 1u);
  EXPECT_EQ(m[kOther].alloc_failures, 1u);
  EXPECT_EQ(m[kPodA].resident_pages, 1 + 1 + 4);  // failures allocate nothing
}

TEST_F(Accounting, VaPagesAndFailedCreation) {
  ev(EPC_EV_ENCL_CREATE, kEnclA, kPodA, 1 << 20);
  std::uint64_t va = grow(kEnclA);
  std::uint64_t secs = alloc(0, kEnclA);
  EXPECT_EQ(by_cgroup(p_->read())[kPodA].resident_pages, 2);
  // ECREATE failed: sgx_encl_create() frees the SECS page and the VA page (ioctl.c:129-137), returns != 0.
  free_page(secs, 0);  // owner &encl->secs with ->encl still NULL
  free_page(va, 0);    // owner NULL: the VA map charges it
  ev(EPC_EV_ENCL_CREATE_RET, 0, 0, static_cast<std::uint64_t>(-5));
  auto m = by_cgroup(p_->read());
  EXPECT_EQ(m[kPodA].enclaves, 0);
  EXPECT_EQ(m[kPodA].size_bytes, 0);
  EXPECT_EQ(m[kPodA].resident_pages, 0);
  // The same struct sgx_encl may be created again (retried ioctl).
  ev(EPC_EV_ENCL_CREATE, kEnclA, kPodA, 1 << 20);
  EXPECT_EQ(by_cgroup(p_->read())[kPodA].enclaves, 1);
}

// Churn (sgx_enclaves_created_total, sgx_enclaves_released_total): a creation counts when sgx_encl_create() returns
// 0, a release when sgx_encl_release() starts on a tracked enclave, both charged to the creating cgroup whoever runs
// them; an undone creation counts neither. Enclaves that live and end between two reads still count.
TEST_F(Accounting, EnclavesCreatedAndReleasedPerCreatingCgroup) {
  auto a1 = build_enclave(kEnclA, kPodA, 1 << 20, 2);
  build_enclave(kEnclA + 0x1000, kPodA, 1 << 20, 2, /*tid=*/201);
  build_enclave(kEnclB, kPodB, 1 << 20, 1);
  // A creation undone: its entry seen, then sgx_encl_create() returns -ENOMEM.
  ev(EPC_EV_ENCL_CREATE, kEnclA + 0x2000, kPodA, 1 << 20);
  ev(EPC_EV_ENCL_CREATE_RET, 0, 0, static_cast<std::uint64_t>(-12));
  // A return whose entry was not seen (the probes attached mid-call): not a creation they tracked.
  ev(EPC_EV_ENCL_CREATE_RET, 0, 0, 0, 0, /*tid=*/202);
  auto m = by_cgroup(p_->read());
  EXPECT_EQ(m[kPodA].enclaves, 2);
  EXPECT_EQ(m[kPodA].enclaves_created, 2u);
  EXPECT_EQ(m[kPodA].enclaves_released, 0u);
  EXPECT_EQ(m[kPodB].enclaves_created, 1u);
  // A's first enclave released by another process that received its fd: charged to A, the creator.
  release(kEnclA, a1, /*tid=*/300);
  release(kEnclA, {}, 300);  // the address again, nothing tracked there: nothing
  // Created and released between two reads: no gauge ever shows it, both counters do.
  auto a3 = build_enclave(kEnclA + 0x3000, kPodA, 1 << 20, 1);
  release(kEnclA + 0x3000, a3);
  m = by_cgroup(p_->read());
  EXPECT_EQ(m[kPodA].enclaves, 1);
  EXPECT_EQ(m[kPodA].enclaves_created, 3u);
  EXPECT_EQ(m[kPodA].enclaves_released, 2u);
  EXPECT_EQ(m[kPodB].enclaves_released, 0u);
  // An entry whose release was not seen, replaced by a new enclave at its address: only seen releases count.
  build_enclave(kEnclB, kPodB, 1 << 20, 1, /*tid=*/203);
  m = by_cgroup(p_->read());
  EXPECT_EQ(m[kPodB].enclaves, 1);
  EXPECT_EQ(m[kPodB].enclaves_created, 2u);
  EXPECT_EQ(m[kPodB].enclaves_released, 0u);
}

// A missed release return leaves only a per-thread mark (LRU); a new enclave at the same address is tracked afresh.
TEST_F(Accounting, ReusedAddressAfterMissedReleaseReturn) {
  build_enclave(kEnclA, kPodA, 1 << 20, 5);
  ewb(next_page(), kEnclA);
  ev(EPC_EV_ENCL_RELEASE, kEnclA);  // no EPC_EV_ENCL_RELEASE_DONE
  build_enclave(kEnclA, kPodB, 2 << 20, 3, /*tid=*/200);
  auto m = by_cgroup(p_->read());
  EXPECT_EQ(m[kPodA].enclaves, 0);
  EXPECT_EQ(m[kPodA].evicted_pages, 1u);
  EXPECT_EQ(m[kPodB].enclaves, 1);
  EXPECT_EQ(m[kPodB].size_bytes, 2 << 20);
  EXPECT_EQ(m[kPodB].resident_pages, 1 + 1 + 3);
  EXPECT_EQ(m[kPodB].evicted_pages, 0u);
}

TEST_F(Accounting, UntrackedOwnersAreDroppedNotCharged) {
  alloc(kEnclB);     // enclave created before the probes: counted as dropped
  alloc(0, kEnclB);  // NULL owner->encl, SECS candidate untracked: a VA page, not a drop
  release(kEnclB, {});  // open+close of /dev/sgx_enclave without create: nothing
  auto s = p_->read();
  EXPECT_EQ(s.dropped["untracked_enclave"], 1u);
  EXPECT_TRUE(s.workloads.empty());
}

TEST_F(Accounting, LoadBackOfPageEvictedBeforeTrackingKeepsSwappedAtZero) {
  build_enclave(kEnclA, kPodA, 1 << 20, 1);
  eldu(kEnclA, true);
  auto m = by_cgroup(p_->read());
  EXPECT_EQ(m[kPodA].swapped_pages, 0);
  EXPECT_EQ(m[kPodA].loaded_back_pages, 1u);
}

TEST_F(Accounting, VepcAndFreePages) {
  ev(EPC_EV_VEPC_FAULT);
  std::vector<std::uint64_t> v;
  for (int i = 0; i < 3; ++i) v.push_back(alloc(0));
  ev(EPC_EV_VEPC_FAULT_RET);
  ev(EPC_EV_VEPC_FREE);
  free_page(v[0], 0);
  ev(EPC_EV_VEPC_FREE_RET);
  ev(EPC_EV_FREE_PAGES, 0, 0, 23'000);
  auto s = p_->read();
  EXPECT_EQ(s.vepc_pages, 2);
  ASSERT_TRUE(s.free_pages.has_value());
  EXPECT_EQ(*s.free_pages, 23'000);
}

TEST_F(Accounting, FreePagesUnknownUntilRead) {
  EXPECT_FALSE(p_->read().free_pages.has_value());
  epc_test_event e{};
  e.type = EPC_EV_READ_FREE_PAGES;  // no address in test mode
  EXPECT_EQ(epc::probes::testing::run_event(*p_, e), -2);
  e.type = 999;
  EXPECT_EQ(epc::probes::testing::run_event(*p_, e), -22);
}

TEST_F(Accounting, GoneCgroupsAreForgottenOnlyWhenEmpty) {
  auto a = build_enclave(kEnclA, kPodA, 1 << 20, 2);
  build_enclave(kEnclB, kPodB, 1 << 20, 2);
  release(kEnclA, a);
  // Neither cgroup exists any more; only A holds nothing. A scrape reads, then forgets what it reported.
  p_->read();
  EXPECT_EQ(p_->forget_gone_cgroups([](std::uint64_t) { return false; }), 1u);
  auto m = by_cgroup(p_->read());
  EXPECT_EQ(m.count(kPodA), 0u);
  EXPECT_EQ(m.count(kPodB), 1u);
  EXPECT_EQ(p_->forget_gone_cgroups([](std::uint64_t) { return true; }), 0u);
}

// A scrape's read sees the enclave live; before that scrape forgets anything, the enclave pages more, ends and its
// cgroup goes (tests/sgx_emu restart on 6.12 lost those last evictions): its counters must survive to the next
// read, and only then be forgotten.
TEST_F(Accounting, ACgroupThatEndsBetweenReadAndForgetIsReportedOnceMore) {
  auto a = build_enclave(kEnclA, kPodA, 1 << 20, 4);
  p_->read();  // the enclave is live here
  epc_test_event ewb{};
  ewb.type = EPC_EV_EWB;
  ewb.encl = kEnclA;
  ewb.page = a.front();
  ASSERT_EQ(epc::probes::testing::run_event(*p_, ewb), 0);
  release(kEnclA, a);
  EXPECT_EQ(p_->forget_gone_cgroups([](std::uint64_t) { return false; }), 0u);
  auto m = by_cgroup(p_->read());
  ASSERT_EQ(m.count(kPodA), 1u);
  EXPECT_EQ(m[kPodA].evicted_pages, 1u);
  EXPECT_EQ(p_->forget_gone_cgroups([](std::uint64_t) { return false; }), 1u);
  EXPECT_EQ(by_cgroup(p_->read()).count(kPodA), 0u);
}

// ---- kernel-audit.md points ----

// Audit 3: where EADD fails, sgx_encl_shrink() is inlined (6.1 ioctl.c:341) and only sgx_free_epc_page() of the VA
// page (owner NULL) is seen. The VA page must leave resident and VA bytes all the same.
TEST_F(Accounting, VaPageFreedWithoutTheShrinkHookIsSubtracted) {
  build_enclave(kEnclA, kPodA, 1 << 20, 511);
  // EADD of page 512: sgx_encl_grow() adds a VA page, the EPC page is allocated, EADD fails, both are freed.
  std::uint64_t va = grow(kEnclA);
  std::uint64_t page = alloc(kEnclA);
  free_page(va, 0);  // inlined sgx_encl_shrink -> sgx_encl_free_epc_page -> sgx_free_epc_page(owner NULL)
  free_page(page, kEnclA);
  auto m = by_cgroup(p_->read());
  EXPECT_EQ(m[kPodA].resident_pages, 1 + 1 + 511);
  EXPECT_EQ(m[kPodA].va_pages, 1);
}

// Audit 4: vEPC pages (owner struct sgx_vepc) never touch enclave accounting: their -EBUSY failures are not charged to
// the VMM's cgroup, and the error-path free inside __sgx_vepc_fault (virt.c:70) is a vEPC free.
TEST_F(Accounting, VepcIsKeptApartIncludingErrorPathFrees) {
  build_enclave(kEnclA, kPodA, 1 << 20, 3);
  ev(EPC_EV_VEPC_FAULT, 0, 0, 0, 0, 300);
  // What owner->encl would read from a struct sgx_vepc is garbage; give it a tracked enclave's address.
  ev(EPC_EV_PAGE_ALLOC, kEnclA, 0, 0, 0, 300);
  ev(EPC_EV_PAGE_ALLOC_RET, 0, kOther, 0, 0, 300);  // -EBUSY
  std::uint64_t p = alloc(kEnclA, 0, 300);
  free_page(p, kEnclA, 300);  // xa_store / vmf_insert_pfn failed: err_free inside sgx_vepc_fault
  ev(EPC_EV_VEPC_FAULT_RET, 0, 0, 0, 0, 300);
  auto s = p_->read();
  auto m = by_cgroup(s);
  EXPECT_EQ(m.count(kOther), 0u);
  EXPECT_EQ(m[kPodA].alloc_failures, 0u);
  EXPECT_EQ(m[kPodA].resident_pages, 1 + 1 + 3);
  EXPECT_EQ(s.vepc_pages, 0);
  EXPECT_EQ(s.vepc_alloc_failures, 1u);
  for (const auto& [reason, n] : s.dropped) EXPECT_EQ(n, 0u) << reason;
}

// Audit 5: 5.15-5.18 put an evicted page back on the free list without sgx_free_epc_page() (5.15 main.c:413-417).
// Residency drops at EWB; the page's next life (re-allocation) clears the mark, so its later free counts again.
TEST_F(Accounting, EvictionWithoutFreeDropsResidency) {
  auto pages = build_enclave(kEnclA, kPodA, 1 << 20, 10);
  const std::uint64_t p = pages.back();
  ewb(p, kEnclA);  // 5.15: no free follows
  auto m = by_cgroup(p_->read());
  EXPECT_EQ(m[kPodA].resident_pages, 1 + 1 + 10 - 1);
  EXPECT_EQ(m[kPodA].swapped_pages, 1);
  // The same EPC page is handed out again, to the load-back of that enclave page, and later freed.
  fault(kEnclA, 0x7f0000001000ull, 1000);
  ev(EPC_EV_ELDU, kEnclA);
  alloc_page(p, kEnclA);
  ev(EPC_EV_ELDU_RET, 0, 0, 1);
  fault_ret(2000);
  m = by_cgroup(p_->read());
  EXPECT_EQ(m[kPodA].resident_pages, 1 + 1 + 10);
  EXPECT_EQ(m[kPodA].swapped_pages, 0);
  free_page(p, kEnclA);  // e.g. EREMOVE by SGX_IOC_ENCLAVE_REMOVE_PAGES: counts
  EXPECT_EQ(by_cgroup(p_->read())[kPodA].resident_pages, 1 + 1 + 10 - 1);
  // 6.x: EWB then sgx_free_epc_page() of the same page: one decrement, not two.
  ewb(pages[5], kEnclA);
  free_page(pages[5], kEnclA, kKsgxd);
  EXPECT_EQ(by_cgroup(p_->read())[kPodA].resident_pages, 1 + 1 + 10 - 2);
}

// 6.x: the reclaimer's EWB of a page can be followed by the SECS's EWB and free (the enclave's last child left,
// sgx_reclaimer_write, 6.1 main.c:263-276) before the page's own free: both frees are the evictions', not events.
TEST_F(Accounting, SecsEvictedBetweenAPagesEwbAndItsFree) {
  auto pages = build_enclave(kEnclA, kPodA, 1 << 20, 4);
  const std::uint64_t secs = pages[1], p = pages.back();
  ewb(p, kEnclA);
  ewb(secs, kEnclA);  // owner &encl->secs, whose ->encl is the enclave
  free_page(secs, kEnclA, kKsgxd);
  free_page(p, kEnclA, kKsgxd);
  auto m = by_cgroup(p_->read());
  EXPECT_EQ(m[kPodA].resident_pages, 1 + 1 + 4 - 2);
  EXPECT_EQ(m[kPodA].evicted_pages, 2u);
  EXPECT_EQ(m[kPodA].swapped_pages, 2);
}

// The fentry flavor runs sgx_alloc_epc_page() and sgx_encl_eldu() by their fexit alone (hooks.h FEXIT): the same
// load-backs, retries, failures, residency and wait as entry and kretprobe.
TEST_F(Accounting, FexitAloneCountsAsEntryAndReturn) {
  for (const bool alone : {false, true}) {
    const std::uint64_t encl = alone ? kEnclB : kEnclA, pod = alone ? kPodB : kPodA, tid = alone ? 301 : 300;
    auto pages = build_enclave(encl, pod, 1 << 20, 4);
    ewb(pages.back(), encl);
    free_page(pages.back(), encl, kKsgxd);
    auto load = [&](bool ok) {
      if (!alone) return eldu(encl, ok, tid);
      const std::uint64_t page = ok ? next_page() : 0;
      ev(EPC_EV_PAGE_ALLOC_EXIT, encl, kOther, 0, 0, tid, page);
      ev(EPC_EV_ELDU_EXIT, encl, 0, ok ? 1 : 0, 0, tid);
      return page;
    };
    fault(encl, 0x7f0000003000ull, 1000, tid);
    load(false);
    fault_ret(2000, tid);
    fault(encl, 0x7f0000003000ull, 3000, tid);
    load(true);
    fault_ret(7000, tid);
  }
  auto m = by_cgroup(p_->read());
  for (const std::uint64_t pod : {kPodA, kPodB}) {
    SCOPED_TRACE(pod);
    EXPECT_EQ(m[pod].resident_pages, 1 + 1 + 4);
    EXPECT_EQ(m[pod].swapped_pages, 0);
    EXPECT_EQ(m[pod].evicted_pages, 1u);
    EXPECT_EQ(m[pod].loaded_back_pages, 1u);
    EXPECT_EQ(m[pod].page_faults, 2u);
    EXPECT_EQ(m[pod].fault_retries, 1u);
    EXPECT_EQ(m[pod].alloc_failures, 1u);
    EXPECT_EQ(m[pod].page_fault_ns, 6000u);  // from the first attempt's entry to the mapping fault's return
  }
  EXPECT_EQ(m.count(kOther), 0u);
}

// Audit 8: the reclaimer's last kref_put() runs sgx_encl_release() between EWB and sgx_free_epc_page() (6.1
// main.c:371-374); the release kfree()s the sgx_encl_page and the sgx_encl. The late free must be decided by the page
// alone: here a new enclave reuses the address the stale owner->encl still reads, and must not lose a page.
TEST_F(Accounting, ReclaimerFreeAfterReleaseDoesNotUseTheOwner) {
  auto pages = build_enclave(kEnclA, kPodA, 1 << 20, 4);
  const std::uint64_t p = pages.back();
  pages.pop_back();
  ewb(p, kEnclA);
  release(kEnclA, pages, kKsgxd);  // in ksgxd, from its kref_put
  build_enclave(kEnclA, kPodB, 1 << 20, 2, /*tid=*/200);  // kzalloc hands out the same address
  free_page(p, /*stale owner->encl=*/kEnclA, kKsgxd);
  auto s = p_->read();
  EXPECT_EQ(by_cgroup(s)[kPodB].resident_pages, 1 + 1 + 2);
  EXPECT_EQ(by_cgroup(s)[kPodA].evicted_pages, 1u);
  for (const auto& [reason, n] : s.dropped) EXPECT_EQ(n, 0u) << reason;
}

// Audit 9: the release return runs after kfree(encl) (encl.c:767); an enclave created at the same address meanwhile
// (another CPU) must keep its entry.
TEST_F(Accounting, ReleaseReturnDoesNotDeleteAReusedAddress) {
  auto a = build_enclave(kEnclA, kPodA, 1 << 20, 2);
  ev(EPC_EV_ENCL_RELEASE, kEnclA, 0, 0, 0, kTid);
  for (auto p : a) free_page(p, kEnclA, kTid);
  build_enclave(kEnclA, kPodB, 1 << 20, 3, /*tid=*/200);
  ev(EPC_EV_ENCL_RELEASE_DONE, 0, 0, 0, 0, kTid);
  auto m = by_cgroup(p_->read());
  EXPECT_EQ(m[kPodB].enclaves, 1);
  EXPECT_EQ(m[kPodB].resident_pages, 1 + 1 + 3);
}

// Audit 10: missed kretprobes (more concurrent calls than maxactive) leave entry states behind. They age out of the
// LRU instead of filling it, and a missed release return pins neither the enclave nor its cgroup.
TEST_F(Accounting, MissedReturnsNeitherFillTheMapNorPin) {
  for (std::uint64_t t = 0; t < 2 * EPC_MAX_INFLIGHT; ++t) ev(EPC_EV_PAGE_ALLOC, 0, 0, 0, 0, 10'000 + t);
  auto a = build_enclave(kEnclA, kPodA, 1 << 20, 2);
  ev(EPC_EV_ENCL_RELEASE, kEnclA);  // return missed
  auto s = p_->read();
  EXPECT_EQ(s.dropped["inflight_map_full"], 0u);
  EXPECT_EQ(by_cgroup(s)[kPodA].resident_pages, 0);
  for (const auto& f : s.maps) {
    if (f.map == "inflight") {
      EXPECT_LE(f.entries, static_cast<std::uint64_t>(EPC_MAX_INFLIGHT));
    }
  }
  EXPECT_EQ(p_->forget_gone_cgroups([](std::uint64_t) { return false; }), 1u);
}

// Audit 6: a release between the two map walks of a read. Before the fix the enclave was counted live and again in
// its cgroup (and the old per-cgroup clamp kept the double); now it can only be missed once.
TEST_F(Accounting, ReadRacingAReleaseNeverCountsTwice) {
  auto a = build_enclave(kEnclA, kPodA, 1 << 20, 8);
  for (int i = 0; i < 5; ++i) ewb(a[2 + i], kEnclA);
  auto s = p_->read([&] { release(kEnclA, {}); });
  auto m = by_cgroup(s);
  EXPECT_LE(m[kPodA].evicted_pages, 5u);
  EXPECT_EQ(by_cgroup(p_->read())[kPodA].evicted_pages, 5u);
}

// Fault wait: an -EBUSY retry loop on one address (alloc with reclaim=false failed inside sgx_vma_fault, which
// returns VM_FAULT_NOPAGE unmapped), then the load-back that maps it. The wait runs from the first fault's entry to
// the mapping fault's return, between-fault time included.
TEST_F(Accounting, FaultWaitSpansTheRetryLoop) {
  build_enclave(kEnclA, kPodA, 1 << 20, 4);
  const std::uint64_t addr = 0x7f0000003000ull;
  fault(kEnclA, addr + 12, 1'000);
  eldu(kEnclA, false);  // -EBUSY
  fault_ret(1'100);
  fault(kEnclA, addr + 12, 5'000);
  eldu(kEnclA, false);
  fault_ret(5'100);
  fault(kEnclA, addr, 9'000);
  eldu(kEnclA, true);
  fault_ret(9'500);
  // A resident page: no wait.
  fault(kEnclA, addr + 4096, 20'000);
  fault_ret(20'400);
  auto m = by_cgroup(p_->read());
  EXPECT_EQ(m[kPodA].page_faults, 4u);
  EXPECT_EQ(m[kPodA].fault_retries, 2u);
  EXPECT_EQ(m[kPodA].page_fault_ns, 9'500u - 1'000u);
  EXPECT_EQ(m[kPodA].alloc_failures, 2u);
  EXPECT_EQ(m[kPodA].loaded_back_pages, 1u);
}

TEST_F(Accounting, FaultWaitPerThreadAndAbandonedWaits) {
  build_enclave(kEnclA, kPodA, 1 << 20, 4);
  // EAUG-style: the allocation itself fails (no ELDU), two threads on two addresses, interleaved.
  fault(kEnclA, 0x1000, 100, 1);
  alloc_fail(kEnclA, 0, 1);
  fault(kEnclA, 0x2000, 150, 2);
  alloc_fail(kEnclA, 0, 2);
  fault_ret(200, 1);
  fault_ret(250, 2);
  fault(kEnclA, 0x1000, 1'000, 1);  // served (another thread loaded it meanwhile): wait ends
  alloc(kEnclA, 0, 1);
  fault_ret(1'100, 1);
  fault(kEnclA, 0x2000, 2'000, 2);
  fault_ret(2'050, 2);
  // Thread 3 gives up on 0x3000 (a served fault elsewhere) and touches 0x3000 much later: not a wait.
  fault(kEnclA, 0x3000, 10'000, 3);
  alloc_fail(kEnclA, 0, 3);
  fault_ret(10'100, 3);
  fault(kEnclA, 0x9000, 20'000, 3);
  fault_ret(20'100, 3);
  fault(kEnclA, 0x3000, 900'000, 3);
  fault_ret(900'100, 3);
  auto m = by_cgroup(p_->read());
  EXPECT_EQ(m[kPodA].fault_retries, 3u);
  EXPECT_EQ(m[kPodA].page_fault_ns, (1'100u - 100u) + (2'050u - 150u));
}

// The on-demand reader of the kernel's sgx_nr_free_pages (what sgx_epc_free_bytes reports). Runs where the kernel
// has the SGX driver: in the kernel matrix guests (tests/kernel_matrix), not on a build host without SGX.
TEST(FreePagesReader, ReadsTheKernelCounter) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  auto ks = epc::probes::parse_kallsyms([] {
    std::string out, line;
    std::ifstream in("/proc/kallsyms");
    while (std::getline(in, line))
      if (line.find("sgx_nr_free_pages") != std::string::npos) out += line + "\n";
    return out;
  }());
  if (ks.nr_free_pages_addr == 0) GTEST_SKIP() << "no sgx_nr_free_pages in /proc/kallsyms (no SGX driver here)";
  Options o;
  o.mode = Mode::kTestOnly;
  auto p = Probes::start(o);
  ASSERT_TRUE(p->loaded()) << p->load_error();
  epc_test_event e{};
  e.type = EPC_EV_READ_FREE_PAGES;
  ASSERT_EQ(epc::probes::testing::run_event(*p, e), 0);
  auto s = p->read();
  ASSERT_TRUE(s.free_pages.has_value());
  EXPECT_GE(*s.free_pages, 0);
  std::printf("sgx_nr_free_pages = %lld\n", static_cast<long long>(*s.free_pages));
}

TEST(Kallsyms, ParsesFunctionsClonesAndTheFreePagesCounter) {
  auto ks = epc::probes::parse_kallsyms(
      "ffffffff81050000 T sgx_alloc_epc_page\n"
      "ffffffff81051000 t sgx_encl_ewb.isra.0\n"
      "ffffffff83a00000 b sgx_nr_free_pages\n"
      "ffffffff81052000 T unrelated_function\n"
      "garbage\n"
      "ffffffff81053000 t sgx_vma_fault [sgx_module]\n");
  EXPECT_TRUE(ks.any_sgx);
  EXPECT_TRUE(ks.has_function("sgx_alloc_epc_page"));
  EXPECT_FALSE(ks.has_function("sgx_encl_ewb"));
  EXPECT_TRUE(ks.has_renamed("sgx_encl_ewb"));
  EXPECT_TRUE(ks.has_function("sgx_vma_fault"));
  EXPECT_EQ(ks.nr_free_pages_addr, 0xffffffff83a00000ull);
  EXPECT_EQ(ks.encl_fops_addr, 0u);
  auto fops = epc::probes::parse_kallsyms("ffffffff81a08ae0 d sgx_encl_fops\nffffffff81a08b00 t sgx_encl_fops_x\n");
  EXPECT_EQ(fops.encl_fops_addr, 0xffffffff81a08ae0ull);  // the start-up iterators' enclave file test
  auto hidden = epc::probes::parse_kallsyms("0000000000000000 b sgx_nr_free_pages\n0000000000000000 r sgx_encl_fops\n");
  EXPECT_EQ(hidden.nr_free_pages_addr, 0u);
  EXPECT_EQ(hidden.encl_fops_addr, 0u);
  EXPECT_FALSE(hidden.any_sgx);
}

// Recorded cgroup paths (probes/epc.h, struct epc_cgroup_path): names leaf first, joined root first; anything that
// is not a plain directory name, or a truncated record, gives "" (the id is then resolved from the cgroup tree only).
// choose(): how each hook attaches, from what detect() found (plain data: no kernel needed).
epc::probes::Detection full_host() {
  epc::probes::Detection d;
  std::string text;
  for (const auto& s : epc::probes::hook_specs()) {
    text += std::string("ffffffff81050000 t ") + s.function + "\n";
    d.btf_functions.insert(s.function);
  }
  d.kallsyms = epc::probes::parse_kallsyms(text);
  d.btf = d.kprobes = d.tracing = d.root = true;
  d.grow_fexit = "fx_va_grow";
  return d;
}

std::size_t hook(const std::string& name) {
  const auto& specs = epc::probes::hook_specs();
  for (std::size_t i = 0; i < specs.size(); ++i)
    if (specs[i].name == name) return i;
  ADD_FAILURE() << "no hook " << name;
  return 0;
}

using epc::probes::Choice;

TEST(Choose, FentryWhereTheBtfHasTheFunctionElseKprobe) {
  auto d = full_host();
  d.btf_functions.erase("sgx_encl_ewb");
  const auto c = epc::probes::choose(d, Options{});
  const auto& specs = epc::probes::hook_specs();
  ASSERT_EQ(c.size(), specs.size());
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const bool fentry = specs[i].fentry && std::string(specs[i].name) != "ewb";
    EXPECT_EQ(c[i].how, fentry ? Choice::kFentry : Choice::kKprobe) << specs[i].name;
    EXPECT_EQ(c[i].reason, "") << specs[i].name;
  }
  EXPECT_EQ(c[hook("encl_sigstruct")].how, Choice::kKprobe) << "a kprobe-only hook";
}

TEST(Choose, KprobesWithoutTracingOrWhenFentryIsNotPreferred) {
  auto d = full_host();
  d.tracing = false;
  for (const auto& c : epc::probes::choose(d, Options{})) EXPECT_EQ(c.how, Choice::kKprobe);
  Options no_fentry;
  no_fentry.prefer_fentry = false;
  for (const auto& c : epc::probes::choose(full_host(), no_fentry)) EXPECT_EQ(c.how, Choice::kKprobe);
  d.kprobes = false;
  const auto c = epc::probes::choose(d, Options{});
  EXPECT_EQ(c[hook("ewb")].how, Choice::kOff);
  EXPECT_EQ(c[hook("ewb")].reason, "no kprobes (no kprobe PMU or tracefs kprobe_events) and no fentry for sgx_encl_ewb");
}

TEST(Choose, OffWhenTheFunctionIsNotInKallsymsOrOnlyAsAClone) {
  auto d = full_host();
  std::string text;
  for (const auto& f : d.kallsyms.functions)
    if (f == "sgx_encl_ewb")
      text += "ffffffff81050000 t sgx_encl_ewb.isra.0\n";
    else if (f != "sgx_encl_shrink")
      text += "ffffffff81050000 t " + f + "\n";
  d.kallsyms = epc::probes::parse_kallsyms(text);
  const auto c = epc::probes::choose(d, Options{});
  EXPECT_EQ(c[hook("va_shrink")].how, Choice::kOff);
  EXPECT_EQ(c[hook("va_shrink")].reason, "sgx_encl_shrink not in kallsyms (inlined or absent)");
  EXPECT_EQ(c[hook("ewb")].how, Choice::kOff);
  EXPECT_EQ(c[hook("ewb")].reason, "sgx_encl_ewb only exists as a compiler clone (.isra/.constprop/.part)");
  EXPECT_EQ(c[hook("eldu")].how, Choice::kFentry) << "the others are unaffected";
}

TEST(Choose, OffWhenDisabledByConfiguration) {
  Options o;
  o.disabled = {"ewb", "vepc_fault"};
  const auto c = epc::probes::choose(full_host(), o);
  for (const char* name : {"ewb", "vepc_fault"}) {
    EXPECT_EQ(c[hook(name)].how, Choice::kOff) << name;
    EXPECT_EQ(c[hook(name)].reason, "disabled by configuration") << name;
  }
  EXPECT_EQ(c[hook("eldu")].how, Choice::kFentry);
}

// sgx_encl_grow's fexit needs a known signature (encl_grow_fexit_variant): unknown, the hook takes the kprobe flavor.
TEST(Choose, VaGrowTakesFentryOnlyWithAKnownFexitVariant) {
  auto d = full_host();
  d.grow_fexit = "";
  auto c = epc::probes::choose(d, Options{});
  EXPECT_EQ(c[hook("va_grow")].how, Choice::kKprobe);
  EXPECT_EQ(c[hook("va_shrink")].how, Choice::kFentry);
  d.grow_fexit = "fx_va_grow1";
  c = epc::probes::choose(d, Options{});
  EXPECT_EQ(c[hook("va_grow")].how, Choice::kFentry);
}

TEST(Choose, WhatTheHostLacksSwitchesEveryProbeOff) {
  auto expect_all_off = [](const epc::probes::Detection& d, const std::string& reason) {
    Options o;
    o.kallsyms_path = "/fixture/kallsyms";
    for (const auto& c : epc::probes::choose(d, o)) {
      EXPECT_EQ(c.how, Choice::kOff);
      EXPECT_EQ(c.reason, reason);
    }
  };
  auto d = full_host();
  d.root = false;
  expect_all_off(d, "not root: loading BPF programs needs CAP_BPF and CAP_PERFMON");
  d.btf = false;
  expect_all_off(d, "kernel has no BTF (/sys/kernel/btf/vmlinux): CO-RE needs CONFIG_DEBUG_INFO_BTF");
  d.kallsyms = epc::probes::parse_kallsyms("ffffffff81052000 T unrelated_function\n");
  expect_all_off(d, "no SGX driver in this kernel (no sgx_* function in kallsyms)");
  d.kallsyms = {};
  expect_all_off(d, "cannot read /fixture/kallsyms");
}

TEST(Choose, LoadCheckLoadsEveryKprobeAndTestOnlyNone) {
  Options o;
  o.mode = Mode::kLoadCheck;
  for (const auto& c : epc::probes::choose({}, o)) EXPECT_EQ(c.how, Choice::kKprobe);
  o.mode = Mode::kTestOnly;
  for (const auto& c : epc::probes::choose(full_host(), o)) {
    EXPECT_EQ(c.how, Choice::kOff);
    EXPECT_EQ(c.reason, "");
  }
}

TEST(RecordedCgroupPath, JoinsNamesAndRejectsWhatIsNotAPath) {
  auto rec = [](std::vector<std::string> leaf_first, std::uint32_t truncated = 0) {
    epc_cgroup_path p{};
    p.depth = static_cast<std::uint32_t>(leaf_first.size());
    p.truncated = truncated;
    for (std::size_t i = 0; i < leaf_first.size() && i < EPC_CGROUP_PATH_LEVELS; ++i)
      std::strncpy(p.names[i], leaf_first[i].c_str(), EPC_CGROUP_NAME_LEN);
    return p;
  };
  using epc::probes::cgroup_path_of;
  EXPECT_EQ(cgroup_path_of(rec({})), "/");
  EXPECT_EQ(cgroup_path_of(rec({"aesmd.service", "system.slice"})), "/system.slice/aesmd.service");
  EXPECT_EQ(cgroup_path_of(rec({"cri-containerd-ab.scope", "kubepods-burstable-pod1.slice", "kubepods-burstable.slice",
                                "kubepods.slice"})),
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/cri-containerd-ab.scope");
  EXPECT_EQ(cgroup_path_of(rec({"a", "b"}, 1)), "");         // deeper than recorded, or a name was cut
  EXPECT_EQ(cgroup_path_of(rec({"a", ".."})), "");
  EXPECT_EQ(cgroup_path_of(rec({"a", "."})), "");
  EXPECT_EQ(cgroup_path_of(rec({"a/b", "c"})), "");
  EXPECT_EQ(cgroup_path_of(rec({"a", ""})), "");
  epc_cgroup_path deep = rec({"a"});
  deep.depth = EPC_CGROUP_PATH_LEVELS + 1;  // garbage depth
  EXPECT_EQ(cgroup_path_of(deep), "");
  epc_cgroup_path full = rec({"a"});
  std::memset(full.names[0], 'x', EPC_CGROUP_NAME_LEN);  // no NUL
  EXPECT_EQ(cgroup_path_of(full), "");
}

// kretprobe events left in tracefs by a dead exporter are removed at start-up; live exporters' and other tools'
// events are not. kprobe_events is a plain file here: removal requests are appended lines, as tracefs takes them.
TEST(TracefsKretprobes, StaleEventsOfDeadExportersAreRemoved) {
  char dir[] = "/tmp/epc-tracefs-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string events = std::string(dir) + "/kprobe_events";
  const std::string self = std::to_string(getpid());
  {
    std::ofstream out(events);
    out << "r1024:epc_exporter_999999999/kr_eldu sgx_encl_eldu\n"
        << "r1024:epc_exporter_" << self << "/kr_page_fault sgx_vma_fault\n"
        << "r1024:epc_exporter_1/kr_ewb sgx_encl_ewb\n"  // pid 1 is alive
        << "p:kprobes/other_tool do_sys_open\n"
        << "r:epc_exporter_x/kr_bad sgx_encl_eldu\n"     // not a pid
        << "garbage line\n";
  }
  // The dead pid's, and our own pid's (a previous instance with the same pid: a container's pid 1 restarted).
  EXPECT_EQ(epc::probes::remove_stale_tracefs_events(dir, "/proc"), 2u);
  std::ifstream in(events);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  ASSERT_EQ(lines.size(), 8u);
  EXPECT_EQ(lines[6], "-:epc_exporter_999999999/kr_eldu");
  EXPECT_EQ(lines[7], "-:epc_exporter_" + self + "/kr_page_fault");
  EXPECT_EQ(epc::probes::remove_stale_tracefs_events(std::string(dir) + "/missing", "/proc"), 0u);
  std::remove(events.c_str());
  rmdir(dir);
}

// Pinned state is taken over only by an identical BPF object: the layout id is the object's content id, and a tag
// (the tests' stand-in for an upgrade) changes it.
TEST(PinnedState, LayoutIdIsStableAndTagged) {
  const std::string id = epc::probes::layout_id("");
  EXPECT_EQ(id.size(), 16u);
  EXPECT_EQ(id.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(epc::probes::layout_id(""), id);
  EXPECT_NE(epc::probes::layout_id("upgrade-0"), id);
  EXPECT_NE(epc::probes::layout_id("upgrade-0"), epc::probes::layout_id("upgrade-1"));
}

// --collector.ebpf.unpin: every layout's pins go, then the pin directory, then the kretprobe events of pinned state
// (group epc_exporter_p<layout>); other events stay. A plain directory and a plain kprobe_events file stand in for
// bpffs and tracefs (unlink and appended removal lines are what the real ones take).
TEST(PinnedState, UnpinRemovesEveryLayoutAndItsEvents) {
  char dir[] = "/tmp/epc-pins-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string root = dir, pins = root + "/fs/bpf/epc_exporter", tracing = root + "/kernel/tracing";
  ASSERT_EQ(std::system(("mkdir -p " + pins + "/aaaa " + pins + "/bbbb " + tracing).c_str()), 0);
  for (const char* f : {"/aaaa/map_encls", "/aaaa/link_fe_ewb", "/bbbb/map_encls"}) std::ofstream(pins + f) << "";
  {
    std::ofstream out(tracing + "/kprobe_events");
    out << "r1024:epc_exporter_paaaa/kr_eldu sgx_encl_eldu\n"
        << "r1024:epc_exporter_999999998/kr_eldu sgx_encl_eldu\n"
        << "p:kprobes/other_tool do_sys_open\n";
  }
  auto r = epc::probes::unpin_all(pins, root);
  EXPECT_EQ(r.removed, 3u);
  EXPECT_TRUE(r.status.ok()) << r.status.error().message;
  EXPECT_NE(access(pins.c_str(), F_OK), 0) << "the pin directory is removed";
  std::ifstream in(tracing + "/kprobe_events");
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[3], "-:epc_exporter_paaaa/kr_eldu");
  // A stale-event sweep at start-up leaves pinned state's events alone (they are in use by pinned links).
  EXPECT_EQ(epc::probes::remove_stale_tracefs_events(tracing, "/proc"), 1u);  // the dead pid's only
  // Nothing pinned: nothing removed, no error.
  r = epc::probes::unpin_all(pins, root);
  EXPECT_EQ(r.removed, 0u);
  EXPECT_TRUE(r.status.ok()) << r.status.error().message;
  std::system(("rm -rf " + root).c_str());
}

}  // namespace

// The eBPF path at scale: 2,000 live enclaves in 1,000 cgroups (plus 500 released ones), read through batch map
// lookups and key by key: the same snapshot either way. Prints what a read costs both ways (not asserted).
TEST_F(Accounting, BatchAndKeyByKeyReadsAgreeAtTwoThousandEnclaves) {
  constexpr int kCgroups = 1000, kEnclaves = 2000;
  std::vector<std::vector<std::uint64_t>> pages(kEnclaves);
  for (int i = 0; i < kEnclaves; ++i)
    pages[i] = build_enclave(kEnclA + 0x1000ull * i, 50000 + i % kCgroups, 1 << 20, 1 + i % 3);
  for (int i = 0; i < kEnclaves; i += 4) release(kEnclA + 0x1000ull * i, pages[i]);  // counters move to the cgroup

  auto read = [&](bool batch, double* ms) {
    epc::probes::testing::set_batch_reads(batch);
    auto t0 = std::chrono::steady_clock::now();
    Snapshot s = p_->read();
    *ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    return s;
  };
  double batch_ms = 0, key_ms = 0;
  Snapshot a = read(true, &batch_ms);
  Snapshot b = read(false, &key_ms);
  epc::probes::testing::set_batch_reads(true);
  auto ma = by_cgroup(a), mb = by_cgroup(b);
  ASSERT_EQ(ma.size(), static_cast<std::size_t>(kCgroups));
  EXPECT_EQ(a.enclaves_created, kEnclaves - kEnclaves / 4);
  EXPECT_EQ(a.enclaves_created, b.enclaves_created);
  std::int64_t live = 0;
  for (const auto& [id, c] : ma) {
    const auto& o = mb[id];
    EXPECT_EQ(c.enclaves, o.enclaves) << id;
    EXPECT_EQ(c.resident_pages, o.resident_pages) << id;
    EXPECT_EQ(c.size_bytes, o.size_bytes) << id;
    EXPECT_EQ(c.va_pages, o.va_pages) << id;
    live += c.enclaves;
  }
  EXPECT_EQ(live, kEnclaves - kEnclaves / 4);
  ASSERT_EQ(a.maps.size(), b.maps.size());
  for (std::size_t i = 0; i < a.maps.size(); ++i) EXPECT_EQ(a.maps[i].entries, b.maps[i].entries) << a.maps[i].map;
  std::printf("probes read of %d cgroups, %d live enclaves: batch %.2f ms, key by key %.2f ms\n", kCgroups,
              kEnclaves - kEnclaves / 4, batch_ms, key_ms);
}
