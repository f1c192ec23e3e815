// epc_bench --validate's pure parts: how it recognises the emulating kernel, and the sizes it plans from the EPC.
#include "validate.h"

#include <gtest/gtest.h>

namespace epcbench::validate {
namespace {

TEST(Validate, EmulationMarkerIsTheEmulatingKernelsOwnParameter) {
  EXPECT_NE(emulation_marker("console=ttyS0 memmap=4M$0x10000000 sgx_emu_epc=4M@0x10000000 tsc=reliable\n", false)
                .find("sgx_emu_epc=4M@0x10000000"),
            std::string::npos);
  EXPECT_NE(emulation_marker("sgx_emu_epc=8M@0x10000000", false), "");
  EXPECT_NE(emulation_marker("ro quiet", true).find("/sys/kernel/debug/sgx_emu"), std::string::npos);
  // A real node's command line: nothing, not even a parameter that merely contains the name.
  EXPECT_EQ(emulation_marker("BOOT_IMAGE=/vmlinuz-6.8.0-1059-azure root=PARTUUID=x ro console=ttyS0\n", false), "");
  EXPECT_EQ(emulation_marker("foo=sgx_emu_epc=4M", false), "");
  EXPECT_EQ(emulation_marker("", false), "");
}

TEST(Validate, VaPagesFollowTheDriversGrowthRule) {
  // SECS + pages so far reaching a multiple of 512 takes a new VA page (sgx_encl_grow).
  EXPECT_EQ(va_pages_for(0), 1u);
  EXPECT_EQ(va_pages_for(511), 1u);
  EXPECT_EQ(va_pages_for(512), 2u);
  EXPECT_EQ(va_pages_for(1023), 2u);
  EXPECT_EQ(va_pages_for(1024), 3u);
  EXPECT_EQ(epc_pages_for(254), 254u + 1 + 1);
}

TEST(Validate, PlanStaysBelowThenOversubscribesAboutTwice) {
  for (std::uint64_t epc : {1024ull, 4096ull, 24576ull, 1ull << 20}) {
    Plan p = plan_for(epc, epc, 4);
    ASSERT_GT(p.below_heap, 0u) << epc;
    ASSERT_GT(p.over_heap, 0u) << epc;
    EXPECT_LE(p.below_total, epc / 2) << epc;
    EXPECT_GT(p.below_total, epc / 2 - 16) << epc;
    EXPECT_LE(p.over_total, 2 * epc) << epc;
    EXPECT_GT(p.over_total, 2 * epc - 16) << epc;
    EXPECT_EQ(p.below_total, 2 * epc_pages_for(4 + p.below_heap));
    EXPECT_EQ(p.over_total, p.below_total + 2 * epc_pages_for(4 + p.over_heap));
  }
  // Below EPC is sized from what is free: other enclaves hold part of it.
  Plan busy = plan_for(4096, 1024, 4);
  EXPECT_LE(busy.below_total, 512u);
  EXPECT_GT(busy.over_total, 2 * 4096u - 16);
  // Too small to plan anything.
  EXPECT_EQ(plan_for(16, 16, 4).below_heap, 0u);
}

}  // namespace
}  // namespace epcbench::validate
