// The sim backend's calibrated cost model: profile lookup, the counts-to-time arithmetic, and that anything
// but a known profile is refused with the list of known ones (epc_bench turns that into exit 2; the smoke
// test checks the exit code).
#include "sim/sim_model.h"

#include <gtest/gtest.h>

namespace epcbench::sim {
namespace {

TEST(SimModel, RawMeansNoModel) {
  auto m = parse_sim_model("raw");
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_FALSE(m.value().has_value());
}

TEST(SimModel, VaultProfileIsThePublishedSwapCostChargedOncePerLoadBack) {
  auto m = parse_sim_model("vault");
  ASSERT_TRUE(m) << m.error().message;
  ASSERT_TRUE(m.value().has_value());
  EXPECT_EQ(m.value()->name, "vault");
  EXPECT_DOUBLE_EQ(m.value()->fault_cycles, 40000);  // "about 40K cycles" per page swap
  EXPECT_DOUBLE_EQ(m.value()->ewb_cycles, 0);        // the swap already includes the page written out
  EXPECT_NE(m.value()->source.find("VAULT"), std::string::npos);
}

TEST(SimModel, EveryNamedProfileNamesItsSourceAndParsesBackToItself) {
  ASSERT_FALSE(cost_profiles().empty());
  for (const auto& p : cost_profiles()) {
    EXPECT_FALSE(p.source.empty()) << p.name;
    auto m = parse_sim_model(p.name);
    ASSERT_TRUE(m && m.value()) << p.name;
    EXPECT_EQ(m.value()->fault_cycles, p.fault_cycles);
  }
}

TEST(SimModel, UnknownProfileIsAnErrorListingTheKnownOnes) {
  for (const char* bad : {"", "coffeelake", "icelake", "VAULT", "vault ", "raw,vault"}) {
    auto m = parse_sim_model(bad);
    ASSERT_FALSE(m) << "'" << bad << "' accepted";
    EXPECT_NE(m.error().message.find("unknown profile"), std::string::npos) << m.error().message;
    EXPECT_NE(m.error().message.find("raw, vault"), std::string::npos) << m.error().message;
  }
}

TEST(SimModel, UserGivenCycles) {
  auto m = parse_sim_model("cycles:30000,12000.5");
  ASSERT_TRUE(m && m.value()) << (m ? "" : m.error().message);
  EXPECT_DOUBLE_EQ(m.value()->fault_cycles, 30000);
  EXPECT_DOUBLE_EQ(m.value()->ewb_cycles, 12000.5);
  for (const char* bad : {"cycles:", "cycles:1", "cycles:1,", "cycles:,1", "cycles:a,1", "cycles:1,2,3",
                          "cycles:-1,0", "cycles:1e10,0", "cycles:nan,0", "cycles:inf,0"}) {
    auto b = parse_sim_model(bad);
    EXPECT_FALSE(b) << bad << " accepted";
    if (!b) {
      EXPECT_NE(b.error().message.find("cycles:FAULT,EWB"), std::string::npos) << b.error().message;
    }
  }
}

TEST(SimModel, CountsToTime) {
  CostProfile vault = parse_sim_model("vault").value().value();
  // Every touch pages (sequential order above the EPC): 40000 cycles at 2 GHz = 20 us on top of 50 ns.
  auto o = model_touch_cost(vault, 2.0, {50, 1.0, 1.0});
  EXPECT_DOUBLE_EQ(o.ns_per_touch, 50 + 20000);
  EXPECT_DOUBLE_EQ(o.slowdown_vs_native, 401);
  // No paging (below the EPC): the model is native, exactly.
  o = model_touch_cost(vault, 3.0, {42, 0, 0});
  EXPECT_DOUBLE_EQ(o.ns_per_touch, 42);
  EXPECT_DOUBLE_EQ(o.slowdown_vs_native, 1);
  // Both terms, each with its own rate: 10 + 0.5 x 3000/3 + 0.25 x 6000/3 = 1010 ns.
  CostProfile both = parse_sim_model("cycles:3000,6000").value().value();
  o = model_touch_cost(both, 3.0, {10, 0.5, 0.25});
  EXPECT_DOUBLE_EQ(o.ns_per_touch, 1010);
  EXPECT_DOUBLE_EQ(o.slowdown_vs_native, 101);
  // The clock scales only the paging term.
  EXPECT_DOUBLE_EQ(model_touch_cost(vault, 4.0, {10, 0.1, 0.1}).ns_per_touch, 10 + 1000);
}

}  // namespace
}  // namespace epcbench::sim
