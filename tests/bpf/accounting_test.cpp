// Proof 3: accounting semantics. Synthetic event sequences go through the on-demand BPF program with
// BPF_PROG_TEST_RUN; it calls the same accounting functions (probes/epc_account.bpf.h) the SGX probes call.
// Needs root (loads BPF); each test loads a fresh object, so maps start empty.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <string>

#include "epc.h"
#include "epc_probes.h"

using epc::probes::Mode;
using epc::probes::Options;
using epc::probes::Probes;
using epc::probes::Snapshot;
using epc::probes::WorkloadCounters;

namespace {

constexpr std::uint64_t kPodA = 1001, kPodB = 2002, kOther = 3003;
constexpr std::uint64_t kEnclA = 0xffff888100010000ull, kEnclB = 0xffff888100020000ull;

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

  int ev(std::uint32_t type, std::uint64_t encl = 0, std::uint64_t cgroup = 0, std::uint64_t arg = 0,
         std::uint64_t secs_candidate = 0) {
    epc_test_event e{};
    e.type = type;
    e.encl = encl;
    e.cgroup_id = cgroup;
    e.arg = arg;
    e.secs_candidate = secs_candidate;
    e.tgid = 4242;
    int rc = p_->run_event(e);
    EXPECT_EQ(rc, 0) << "event " << type;
    return rc;
  }
  void times(int n, std::uint32_t type, std::uint64_t encl, std::uint64_t arg = 0) {
    for (int i = 0; i < n; ++i) ev(type, encl, 0, arg);
  }

  std::map<std::uint64_t, WorkloadCounters> by_cgroup(const Snapshot& s) {
    std::map<std::uint64_t, WorkloadCounters> m;
    for (const auto& w : s.workloads) m[w.cgroup_id] = w.counters;
    return m;
  }

  // Enclave creation as sgx_encl_create() does it: VA page (sgx_encl_grow), SECS page (owner &encl->secs whose
  // ->encl is still NULL: resolved through the SECS candidate), then `pages` EADDs with a VA page per 512 pages.
  void build_enclave(std::uint64_t encl, std::uint64_t cgroup, std::uint64_t size, int pages) {
    ev(EPC_EV_ENCL_CREATE, encl, cgroup, size);
    ev(EPC_EV_VA_GROW, encl);
    ev(EPC_EV_PAGE_ALLOC, 0, 0, 0, /*secs_candidate=*/encl);
    for (int i = 0; i < pages; ++i) {
      ev(EPC_EV_PAGE_ALLOC, encl);
      if ((i + 1) % 512 == 0) ev(EPC_EV_VA_GROW, encl);
    }
  }

  std::unique_ptr<Probes> p_;
};

TEST_F(Accounting, IssueExampleTwoPodsEvictionLoadBackRelease) {
  // Enclave of 1,000 pages in pod A: SECS + 2 VA pages + 1,000 pages resident.
  build_enclave(kEnclA, kPodA, 4 << 20, 1000);
  // ksgxd evicts 300 pages in passes of up to 16: EWB, then the EPC page is freed.
  for (int pass = 0; pass < 19; ++pass) ev(EPC_EV_RECLAIM, 0, 0, /*ksgxd=*/1);
  for (int i = 0; i < 300; ++i) {
    ev(EPC_EV_EWB, kEnclA);
    ev(EPC_EV_PAGE_FREE, kEnclA);
  }
  // 100 pages loaded back on enclave page faults of 25 us each: fault -> ELDU -> new EPC page.
  for (int i = 0; i < 100; ++i) {
    ev(EPC_EV_PAGE_ALLOC, kEnclA);
    ev(EPC_EV_ELDU, kEnclA);
    ev(EPC_EV_FAULT, kEnclA, 0, 25'000);
  }
  // One direct reclaim pass from an allocating task.
  ev(EPC_EV_RECLAIM, 0, 0, 0);

  auto mid = by_cgroup(p_->read());
  ASSERT_EQ(mid.count(kPodA), 1u);
  EXPECT_EQ(mid[kPodA].enclaves, 1);
  EXPECT_EQ(mid[kPodA].size_bytes, 4 << 20);
  EXPECT_EQ(mid[kPodA].resident_pages, 1 + 2 + 1000 - 300 + 100);
  EXPECT_EQ(mid[kPodA].swapped_pages, 200);
  EXPECT_EQ(mid[kPodA].evicted_pages, 300u);
  EXPECT_EQ(mid[kPodA].loaded_back_pages, 100u);
  EXPECT_EQ(mid[kPodA].page_faults, 100u);
  EXPECT_EQ(mid[kPodA].page_fault_ns, 2'500'000u);

  // A second enclave in pod B.
  build_enclave(kEnclB, kPodB, 1 << 20, 10);
  // Release of the first: its frees during sgx_encl_release() are accounted by the release itself.
  ev(EPC_EV_ENCL_RELEASE, kEnclA);
  times(803, EPC_EV_PAGE_FREE, kEnclA);
  ev(EPC_EV_ENCL_RELEASE_DONE, kEnclA);

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
  }

  // After the release, events naming the gone enclave are counted as dropped, never charged.
  ev(EPC_EV_EWB, kEnclA);
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
  ev(EPC_EV_EWB, last);
  ev(EPC_EV_ENCL_RELEASE, last);
  ev(EPC_EV_ENCL_RELEASE_DONE, last);
  auto after = p_->read();
  EXPECT_EQ(after.dropped["cgroup_map_full"], 4u);
  EXPECT_EQ(after.workloads.size(), static_cast<std::size_t>(EPC_MAX_CGROUPS + 2));
}

TEST_F(Accounting, AllocationFailuresGoToTheOwnerElseTheCallingTask) {
  build_enclave(kEnclA, kPodA, 1 << 20, 4);
  epc_test_event e{};
  e.type = EPC_EV_PAGE_ALLOC_FAIL;
  e.encl = kEnclA;
  e.cgroup_id = kOther;  // reclaimer or other task: the owner's cgroup is charged
  EXPECT_EQ(p_->run_event(e), 0);
  e.encl = 0;  // VA page or SECS of an enclave we do not track: the calling task's cgroup
  EXPECT_EQ(p_->run_event(e), 0);
  auto m = by_cgroup(p_->read());
  EXPECT_EQ(m[kPodA].alloc_failures, 1u);
  EXPECT_EQ(m[kOther].alloc_failures, 1u);
  EXPECT_EQ(m[kPodA].resident_pages, 1 + 1 + 4);  // failures allocate nothing
}

TEST_F(Accounting, VaPagesAndFailedCreation) {
  ev(EPC_EV_ENCL_CREATE, kEnclA, kPodA, 1 << 20);
  ev(EPC_EV_VA_GROW, kEnclA);
  ev(EPC_EV_VA_GROW, kEnclA);
  ev(EPC_EV_VA_SHRINK, kEnclA);
  EXPECT_EQ(by_cgroup(p_->read())[kPodA].resident_pages, 1);
  // ECREATE failed: sgx_encl_create() unwinds and the enclave leaves its cgroup.
  ev(EPC_EV_VA_SHRINK, kEnclA);
  ev(EPC_EV_ENCL_CREATE_FAILED, kEnclA);
  auto m = by_cgroup(p_->read());
  EXPECT_EQ(m[kPodA].enclaves, 0);
  EXPECT_EQ(m[kPodA].size_bytes, 0);
  EXPECT_EQ(m[kPodA].resident_pages, 0);
  // The same struct sgx_encl may be created again (retried ioctl).
  ev(EPC_EV_ENCL_CREATE, kEnclA, kPodA, 1 << 20);
  EXPECT_EQ(by_cgroup(p_->read())[kPodA].enclaves, 1);
}

// A missed release return leaves a released entry behind; a new enclave at the same address is tracked afresh.
TEST_F(Accounting, ReusedAddressAfterMissedReleaseReturn) {
  build_enclave(kEnclA, kPodA, 1 << 20, 5);
  ev(EPC_EV_EWB, kEnclA);
  ev(EPC_EV_ENCL_RELEASE, kEnclA);  // no EPC_EV_ENCL_RELEASE_DONE
  build_enclave(kEnclA, kPodB, 2 << 20, 3);
  auto m = by_cgroup(p_->read());
  EXPECT_EQ(m[kPodA].enclaves, 0);
  EXPECT_EQ(m[kPodA].evicted_pages, 1u);
  EXPECT_EQ(m[kPodB].enclaves, 1);
  EXPECT_EQ(m[kPodB].size_bytes, 2 << 20);
  EXPECT_EQ(m[kPodB].resident_pages, 1 + 1 + 3);
  EXPECT_EQ(m[kPodB].evicted_pages, 0u);
}

TEST_F(Accounting, UntrackedOwnersAreDroppedNotCharged) {
  ev(EPC_EV_PAGE_ALLOC, kEnclB);             // enclave created before the probes: counted as dropped
  ev(EPC_EV_PAGE_ALLOC, 0, 0, 0, kEnclB);    // NULL owner->encl, SECS candidate untracked: a VA page, not a drop
  ev(EPC_EV_ENCL_RELEASE, kEnclB);           // open+close of /dev/sgx_enclave without create: nothing
  ev(EPC_EV_ENCL_RELEASE_DONE, kEnclB);
  auto s = p_->read();
  EXPECT_EQ(s.dropped["untracked_enclave"], 1u);
  EXPECT_TRUE(s.workloads.empty());
}

TEST_F(Accounting, LoadBackOfPageEvictedBeforeTrackingKeepsSwappedAtZero) {
  build_enclave(kEnclA, kPodA, 1 << 20, 1);
  ev(EPC_EV_ELDU, kEnclA);
  auto m = by_cgroup(p_->read());
  EXPECT_EQ(m[kPodA].swapped_pages, 0);
  EXPECT_EQ(m[kPodA].loaded_back_pages, 1u);
}

TEST_F(Accounting, VepcAndFreePages) {
  times(3, EPC_EV_VEPC_ALLOC, 0);
  ev(EPC_EV_VEPC_FREE);
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
  EXPECT_EQ(p_->run_event(e), -2);
  e.type = 999;
  EXPECT_EQ(p_->run_event(e), -22);
}

TEST_F(Accounting, GoneCgroupsAreForgottenOnlyWhenEmpty) {
  build_enclave(kEnclA, kPodA, 1 << 20, 2);
  build_enclave(kEnclB, kPodB, 1 << 20, 2);
  ev(EPC_EV_ENCL_RELEASE, kEnclA);
  ev(EPC_EV_ENCL_RELEASE_DONE, kEnclA);
  // Neither cgroup exists any more; only A holds nothing.
  EXPECT_EQ(p_->forget_gone_cgroups([](std::uint64_t) { return false; }), 1u);
  auto m = by_cgroup(p_->read());
  EXPECT_EQ(m.count(kPodA), 0u);
  EXPECT_EQ(m.count(kPodB), 1u);
  EXPECT_EQ(p_->forget_gone_cgroups([](std::uint64_t) { return true; }), 0u);
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
  ASSERT_EQ(p->run_event(e), 0);
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
  auto hidden = epc::probes::parse_kallsyms("0000000000000000 b sgx_nr_free_pages\n");
  EXPECT_EQ(hidden.nr_free_pages_addr, 0u);
  EXPECT_FALSE(hidden.any_sgx);
}

}  // namespace
