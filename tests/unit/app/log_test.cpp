#include "app/log.h"

#include <gtest/gtest.h>

namespace epc {
namespace {

TEST(Log, LogfmtQuotesOnlyWhenNeeded) {
  EXPECT_EQ(logfmt_value("plain"), "plain");
  EXPECT_EQ(logfmt_value(""), "\"\"");
  EXPECT_EQ(logfmt_value("two words"), "\"two words\"");
  EXPECT_EQ(logfmt_value("a=b"), "\"a=b\"");
  EXPECT_EQ(logfmt_value("say \"hi\""), "\"say \\\"hi\\\"\"");
  EXPECT_EQ(logfmt_value("line\nbreak"), "\"line\\nbreak\"");
}

TEST(Log, JsonEscapesControlCharacters) {
  EXPECT_EQ(json_string("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(json_string(std::string("\x01", 1)), "\"\\u0001\"");
  EXPECT_EQ(json_string("tab\there"), "\"tab\\there\"");
}

}  // namespace
}  // namespace epc
