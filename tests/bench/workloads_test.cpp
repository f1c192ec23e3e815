// Every access pattern touches each page of the working set exactly once per pass, so "working set / EPC"
// means what it says; random orders differ by seed and are not sequential.
#include "workloads.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

namespace epcbench {
namespace {

TEST(Workloads, EveryPatternIsAPermutationOfTheWorkingSet) {
  for (Pattern p : {Pattern::kSequential, Pattern::kRandom, Pattern::kStrided}) {
    for (std::size_t n : {1u, 2u, 17u, 1000u, 4097u}) {
      auto v = make_pattern(p, n, 7);
      ASSERT_EQ(v.size(), n) << pattern_name(p);
      std::sort(v.begin(), v.end());
      std::vector<std::uint32_t> want(n);
      std::iota(want.begin(), want.end(), 0u);
      EXPECT_EQ(v, want) << pattern_name(p) << " n=" << n;
    }
  }
}

TEST(Workloads, RandomOrderDependsOnTheSeed) {
  auto a = make_pattern(Pattern::kRandom, 1000, 1);
  auto b = make_pattern(Pattern::kRandom, 1000, 2);
  EXPECT_NE(a, b);
  EXPECT_EQ(a, make_pattern(Pattern::kRandom, 1000, 1));
  EXPECT_NE(a, make_pattern(Pattern::kSequential, 1000));
}

TEST(Workloads, StridedStepsByTheStride) {
  auto v = make_pattern(Pattern::kStrided, 64, 1, 16);
  EXPECT_EQ(v[0], 0u);
  EXPECT_EQ(v[1], 16u);
  EXPECT_EQ(v[4], 1u);
}

TEST(Workloads, NamesRoundTrip) {
  for (Pattern p : {Pattern::kSequential, Pattern::kRandom, Pattern::kStrided})
    EXPECT_EQ(parse_pattern(pattern_name(p)), p);
  EXPECT_FALSE(parse_pattern("zigzag"));
}

}  // namespace
}  // namespace epcbench
