#include "host/log_fields.h"

#include <gtest/gtest.h>

#include <string>

namespace epc {
namespace {

TEST(LogFields, RoundTrip) {
  const std::string payload = log_fields("collector failed", {{"collector", "cgroup"}, {"err", "a b=c"}});
  auto line = split_log_fields(payload);  // views into payload
  EXPECT_EQ(line.msg, "collector failed");
  ASSERT_EQ(line.fields.size(), 2u);
  EXPECT_EQ(line.fields[0], LogField("collector", "cgroup"));
  EXPECT_EQ(line.fields[1], LogField("err", "a b=c"));
}

TEST(LogFields, PlainMessageHasNoFields) {
  auto line = split_log_fields("listening address=:9840 port=9840");
  EXPECT_EQ(line.msg, "listening address=:9840 port=9840");
  EXPECT_TRUE(line.fields.empty());
}

TEST(LogFields, InputCannotForgeAField) {
  // A value (e.g. a file's content in an error message) holding the separators stays one value.
  const std::string evil = std::string("x") + kLogFieldSep + "level" + kLogKeySep + "debug";
  const std::string payload = log_fields(evil, {{"err", evil}});
  auto line = split_log_fields(payload);  // views into payload
  EXPECT_EQ(line.msg, "x?level?debug");
  ASSERT_EQ(line.fields.size(), 1u);
  EXPECT_EQ(line.fields[0].second, "x?level?debug");
}

TEST(LogFields, KeysAreSanitisedAndReservedOnesPrefixed) {
  const std::string payload = log_fields("m", {{"Bad Key=", "1"}, {"msg", "2"}, {"level", "3"}, {"", "4"}});
  auto line = split_log_fields(payload);  // views into payload
  ASSERT_EQ(line.fields.size(), 4u);
  EXPECT_EQ(line.fields[0].first, "_ad__ey_");
  EXPECT_EQ(line.fields[1].first, "field_msg");
  EXPECT_EQ(line.fields[2].first, "field_level");
  EXPECT_EQ(line.fields[3].first, "field_");
}

TEST(LogFields, FieldsWithoutAValueAreLeftOut) {
  const std::string payload = log_fields("probes attached", {{"attached", "3"}, {"pinned_in", ""}, {"probes", "4"}});
  auto line = split_log_fields(payload);  // views into payload
  ASSERT_EQ(line.fields.size(), 2u);
  EXPECT_EQ(line.fields[0].first, "attached");
  EXPECT_EQ(line.fields[1].first, "probes");
}

}  // namespace
}  // namespace epc
