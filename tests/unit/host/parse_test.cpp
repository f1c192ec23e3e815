#include "host/parse.h"

#include <gtest/gtest.h>

namespace epc {
namespace {

TEST(Trim, Basics) {
  EXPECT_EQ(trim("  a b \t\r\n"), "a b");
  EXPECT_EQ(trim(""), "");
  EXPECT_EQ(trim(" \n\t "), "");
  EXPECT_EQ(trim("x"), "x");
}

TEST(ParseU64, Valid) {
  EXPECT_EQ(*parse_u64("0"), 0u);
  EXPECT_EQ(*parse_u64("34359738368"), 34359738368ULL);
  EXPECT_EQ(*parse_u64("18446744073709551615"), 18446744073709551615ULL);
  EXPECT_EQ(*parse_u64("007"), 7u);
}

TEST(ParseU64, Invalid) {
  for (const char* bad : {"", " 1", "1 ", "-1", "+1", "1.0", "0x10", "12abc", "abc", "18446744073709551616",
                          "99999999999999999999999999"}) {
    auto r = parse_u64(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_FALSE(r.error().message.empty());
    }
  }
  // Huge input: the message stays short.
  auto r = parse_u64(std::string(1 << 20, '9'));
  ASSERT_FALSE(r.ok());
  EXPECT_LT(r.error().message.size(), 100u);
  EXPECT_FALSE(parse_u64(std::string("1\0" "2", 3)).ok());
}

TEST(SplitFields, Basics) {
  EXPECT_EQ(split_fields("  a  b\tc "), (std::vector<std::string_view>{"a", "b", "c"}));
  EXPECT_TRUE(split_fields("").empty());
  EXPECT_TRUE(split_fields("   ").empty());
  EXPECT_EQ(split_fields("a__b_", "_"), (std::vector<std::string_view>{"a", "b"}));
  EXPECT_EQ(split_fields("a,b;c", ",;"), (std::vector<std::string_view>{"a", "b", "c"}));
}

TEST(SplitLines, Basics) {
  EXPECT_EQ(split_lines("a\nb\r\nc"), (std::vector<std::string_view>{"a", "b", "c"}));
  EXPECT_EQ(split_lines("a\n"), (std::vector<std::string_view>{"a"}));
  EXPECT_EQ(split_lines("\n\n"), (std::vector<std::string_view>{"", ""}));
  EXPECT_TRUE(split_lines("").empty());
  EXPECT_EQ(split_lines(std::string(100000, '\n')).size(), 100000u);
}

}  // namespace
}  // namespace epc
