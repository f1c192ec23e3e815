#include "app/log.h"
#include "host/log_fields.h"

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

namespace epc {
namespace {

TEST(Log, FieldsAreLogfmtPairsAfterMsg) {
  auto line = render_log_line(log_fields("collector failed", {{"collector", "cgroup"}, {"err", "open x: No such file"}}),
                              "T", "error", false);
  EXPECT_EQ(line, "ts=T level=error msg=\"collector failed\" collector=cgroup err=\"open x: No such file\"\n");
}

TEST(Log, FieldsAreJsonKeys) {
  auto line = render_log_line(log_fields("collector failed", {{"collector", "cgroup"}, {"err", "say \"hi\""}}), "T",
                              "error", true);
  EXPECT_EQ(line, "{\"ts\":\"T\",\"level\":\"error\",\"msg\":\"collector failed\",\"collector\":\"cgroup\","
                  "\"err\":\"say \\\"hi\\\"\"}\n");
}

TEST(Log, MessageWithoutFieldsUnchanged) {
  EXPECT_EQ(render_log_line("listening port=9840", "T", "info", false), "ts=T level=info msg=\"listening port=9840\"\n");
}

}  // namespace
}  // namespace epc
