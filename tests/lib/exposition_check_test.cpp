// The C++ exposition check finds each kind of problem tests/lib/prom_text_test.py finds, and none in a clean page.
#include "exposition_check.h"

#include <gtest/gtest.h>

namespace epc::test {
namespace {

bool mentions(const std::vector<std::string>& problems, std::string_view what) {
  for (const auto& p : problems)
    if (p.find(what) != std::string::npos) return true;
  return false;
}

TEST(ExpositionCheck, CleanPagePasses) {
  EXPECT_TRUE(exposition_is_clean(
      "# HELP a A.\n# TYPE a gauge\na{numa_node=\"0\"} 1\na{numa_node=\"1\"} 2\n"
      "# TYPE u gauge\nu{cgroup=\"\",namespace=\"n\",pod=\"p\"} 1\nu{cgroup=\"/\",namespace=\"\",pod=\"\"} 2\n"
      "# TYPE h histogram\nh_bucket{op=\"x\",le=\"1\"} 1\nh_bucket{op=\"x\",le=\"+Inf\"} 1\nh_sum{op=\"x\"} 1\n"
      "h_count{op=\"x\"} 1\n# TYPE q summary\nq{quantile=\"0.5\"} 1\nq_sum 1\nq_count 1\n"));
}

TEST(ExpositionCheck, DuplicateSeries) {
  // Issue 23: the cap wrote every node-level series of a family without labels.
  auto p = exposition_problems("# TYPE c gauge\nc 1\nc 2\n");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_TRUE(mentions(p, "duplicate series"));
  EXPECT_TRUE(mentions(exposition_problems("x{a=\"1\",b=\"2\"} 1\nx{b=\"2\",a=\"1\"} 1\n"), "duplicate series"));
}

TEST(ExpositionCheck, DuplicateOnceEmptyLabelsAreDropped) {
  auto p = exposition_problems("x{a=\"\",b=\"2\"} 1\nx{a=\"1\",b=\"2\"} 1\n");
  EXPECT_TRUE(p.empty());
  p = exposition_problems("x{a=\"\",b=\"2\",c=\"3\"} 1\nx{a=\"9\",b=\"2\",c=\"\"} 1\nx{a=\"\",b=\"2\",c=\"\"} 1\n"
                          "x{a=\"\",b=\"2\",c=\"\"} 1\n");
  EXPECT_TRUE(mentions(p, "duplicate series")) << p.size();
  p = exposition_problems("x{a=\"\",b=\"2\"} 1\nx{a=\"\",b=\"2\",c=\"\"} 1\n");
  EXPECT_TRUE(mentions(p, "once empty labels are dropped"));
}

TEST(ExpositionCheck, LabelNamesDifferWithinAFamily) {
  auto p = exposition_problems("# TYPE u gauge\nu{namespace=\"a\",pod=\"p\"} 1\nu{namespace=\"a\",pod=\"p\",container=\"c\"} 1\n"
                               "u{cgroup=\"/\"} 1\n");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_TRUE(mentions(p, "family u: its series carry 3 different sets of label names"));
  EXPECT_TRUE(exposition_problems("u{a=\"\",b=\"x\"} 1\nu{a=\"y\",b=\"\"} 1\n").empty());
}

TEST(ExpositionCheck, StructuralLabelsAreNotLabelNames) {
  EXPECT_EQ(exposition_problems("# TYPE h histogram\nh_bucket{a=\"x\",le=\"1\"} 1\nh_sum{a=\"x\",le=\"1\"} 1\n").size(), 1u);
}

TEST(ExpositionCheck, LabelTwiceTypedTwiceScatteredAndUnparsable) {
  EXPECT_TRUE(mentions(exposition_problems("x{a=\"1\",a=\"2\"} 1\n"), "duplicate label a"));
  EXPECT_TRUE(mentions(exposition_problems("# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na{x=\"y\"} 2\n"), "not together"));
  EXPECT_TRUE(mentions(exposition_problems("# TYPE a gauge\na 1\n# TYPE a gauge\n"), "typed twice"));
  EXPECT_TRUE(mentions(exposition_problems("x{a=b} 1\n"), "does not parse"));
  EXPECT_FALSE(exposition_is_clean("c 1\nc 1\n"));
}

}  // namespace
}  // namespace epc::test
