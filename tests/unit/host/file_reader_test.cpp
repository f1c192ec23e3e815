#include "host/file_reader.h"

#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "test_util.h"

namespace epc {
namespace {

TEST(ReadFile, Reads) {
  test::TempTree t;
  t.write("a", "hello\n");
  auto r = read_file(t.path("a"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "hello\n");
  t.write("empty", "");
  EXPECT_EQ(*read_file(t.path("empty")), "");
  std::string bin("\0\x01\xff", 3);
  t.write("bin", bin);
  EXPECT_EQ(*read_file(t.path("bin")), bin);
}

TEST(ReadFile, MissingIsNotFound) {
  test::TempTree t;
  auto r = read_file(t.path("nope"));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().not_found());
  EXPECT_NE(r.error().message.find("nope"), std::string::npos);
  auto under_file = read_file(t.path("nope/deeper"));
  ASSERT_FALSE(under_file.ok());
}

TEST(ReadFile, LimitIsEnforcedNotTruncated) {
  test::TempTree t;
  t.write("big", std::string(10000, 'x'));
  auto r = read_file(t.path("big"), 9999);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().errno_value, EFBIG);
  EXPECT_FALSE(r.error().not_found());
  EXPECT_TRUE(read_file(t.path("big"), 10000).ok());
  t.write("huge", std::string(3 << 20, 'y'));
  EXPECT_FALSE(read_file(t.path("huge")).ok());  // default 1 MiB cap
}

TEST(ForEachLine, LinesAcrossBlocksLastLineAndLimit) {
  test::TempTree t;
  // Lines longer than a read block and one split at every block boundary, plus a last line without '\n'.
  std::string text, want_last = "tail without newline";
  std::vector<std::string> want;
  for (int i = 0; i < 40; ++i) want.push_back(std::string(5000 + i * 97, static_cast<char>('a' + i % 26)));
  want.push_back("");
  want.push_back(std::string(200000, 'z'));
  for (const auto& l : want) text += l + "\n";
  text += want_last;
  want.push_back(want_last);
  t.write("f", text);
  std::vector<std::string> got;
  ASSERT_TRUE(for_each_line(t.path("f"), text.size(), [&](std::string_view l) { got.emplace_back(l); }).ok());
  EXPECT_EQ(got, want);
  // One byte over the limit: an error, not a silent truncation.
  auto over = for_each_line(t.path("f"), text.size() - 1, [](std::string_view) {});
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().errno_value, EFBIG);
  auto missing = for_each_line(t.path("nope"), 100, [](std::string_view) {});
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(missing.error().not_found());
}

TEST(ReadFile, DirectoryIsAnError) {
  test::TempTree t;
  t.mkdir("d");
  auto r = read_file(t.path("d"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().errno_value, EISDIR);
}

TEST(ReadFile, FifoWithoutWriterDoesNotHang) {
  test::TempTree t;
  ASSERT_EQ(::mkfifo(t.path("fifo").c_str(), 0600), 0);
  auto r = read_file(t.path("fifo"));
  // O_NONBLOCK: no writer means EOF (empty) or EAGAIN, never a hang.
  if (r.ok()) {
    EXPECT_EQ(*r, "");
  }
}

TEST(ReadFile, UnreadableFile) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads files whatever their mode";
  test::TempTree t;
  t.write("secret", "x");
  ::chmod(t.path("secret").c_str(), 0);
  auto r = read_file(t.path("secret"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().errno_value, EACCES);
}

TEST(ReadU64File, Parses) {
  test::TempTree t;
  t.write("n", "  34359738368\n");
  EXPECT_EQ(*read_u64_file(t.path("n")), 34359738368ULL);
  for (const char* bad : {"", "\n", "x", "-1", "1 2", "18446744073709551616"}) {
    t.write("bad", bad);
    EXPECT_FALSE(read_u64_file(t.path("bad")).ok()) << bad;
  }
  t.write("long", std::string(5000, '1'));
  EXPECT_FALSE(read_u64_file(t.path("long")).ok());
  EXPECT_TRUE(read_u64_file(t.path("absent")).error().not_found());
}

TEST(ListDir, SortedAndBounded) {
  test::TempTree t;
  t.write("b", "");
  t.write("a", "");
  t.mkdir("c");
  auto r = list_dir(t.root());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, (std::vector<std::string>{"a", "b", "c"}));
  auto capped = list_dir(t.root(), 2);
  ASSERT_FALSE(capped.ok());
  EXPECT_EQ(capped.error().errno_value, E2BIG);
  EXPECT_TRUE(list_dir(t.path("missing")).error().not_found());
  EXPECT_FALSE(list_dir(t.path("a")).ok());  // a file
  t.mkdir("empty");
  EXPECT_TRUE(list_dir(t.path("empty"))->empty());
}

}  // namespace
}  // namespace epc
