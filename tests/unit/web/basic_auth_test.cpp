#include "web/basic_auth.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace epc {
namespace {

// bcrypt("s3cret"), cost 10.
constexpr const char* kHash = "$2b$10$06ZyxmUVYTJR6wp42Pnbiu/GJorEB8CsrHeeU7hTGEbzqjF6KVb1y";

std::string basic(const std::string& user_pass) {
  static const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < user_pass.size(); i += 3) {
    unsigned n = (unsigned char)user_pass[i] << 16 | (unsigned char)user_pass[i + 1] << 8 | (unsigned char)user_pass[i + 2];
    out += {a[n >> 18 & 63], a[n >> 12 & 63], a[n >> 6 & 63], a[n & 63]};
  }
  if (user_pass.size() - i == 1) {
    unsigned n = (unsigned char)user_pass[i] << 16;
    out += {a[n >> 18 & 63], a[n >> 12 & 63], '=', '='};
  } else if (user_pass.size() - i == 2) {
    unsigned n = (unsigned char)user_pass[i] << 16 | (unsigned char)user_pass[i + 1] << 8;
    out += {a[n >> 18 & 63], a[n >> 12 & 63], a[n >> 6 & 63], '='};
  }
  return "Basic " + out;
}

TEST(Base64, DecodesRfc4648Vectors) {
  EXPECT_EQ(decode_base64(""), "");
  EXPECT_EQ(decode_base64("Zg=="), "f");
  EXPECT_EQ(decode_base64("Zm8="), "fo");
  EXPECT_EQ(decode_base64("Zm9v"), "foo");
  EXPECT_EQ(decode_base64("Zm9vYmFy"), "foobar");
  EXPECT_FALSE(decode_base64("Zm9"));       // no padding
  EXPECT_FALSE(decode_base64("Zg=a"));      // data after padding
  EXPECT_FALSE(decode_base64("Z==="));      // too much padding
  EXPECT_FALSE(decode_base64("Zm9v!A=="));  // outside the alphabet
  EXPECT_FALSE(decode_base64("Zg==Zg=="));  // padding in the middle
}

TEST(BasicAuthHeader, Parses) {
  auto c = parse_basic_authorization(basic("alice:pa:ss"));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->first, "alice");
  EXPECT_EQ(c->second, "pa:ss");  // only the first ':' separates
  EXPECT_TRUE(parse_basic_authorization("basic " + basic("a:b").substr(6)));  // scheme is case-insensitive
  EXPECT_FALSE(parse_basic_authorization(""));
  EXPECT_FALSE(parse_basic_authorization("Bearer abc"));
  EXPECT_FALSE(parse_basic_authorization(basic("no-colon")));
  EXPECT_FALSE(parse_basic_authorization("Basic " + std::string(5000, 'A')));
}

TEST(BasicAuth, AcceptsOnlyTheRightPassword) {
  BasicAuth auth(std::map<std::string, std::string>{{"prometheus", kHash}});
  EXPECT_TRUE(auth.enabled());
  EXPECT_TRUE(auth.check(basic("prometheus:s3cret")));
  EXPECT_FALSE(auth.check(basic("prometheus:s3cre")));
  EXPECT_FALSE(auth.check(basic("prometheus:s3cret ")));
  EXPECT_FALSE(auth.check(basic("Prometheus:s3cret")));
  EXPECT_FALSE(auth.check(basic("nobody:s3cret")));
  EXPECT_FALSE(auth.check(""));
  EXPECT_FALSE(auth.check("Basic !!!!"));
  EXPECT_FALSE(auth.check(basic(std::string("prometheus:s3cret\0x", 19))));
}

TEST(BasicAuth, SuccessIsCachedAndTheCacheIsBounded) {
  BasicAuth auth(std::map<std::string, std::string>{{"prometheus", kHash}});
  ASSERT_TRUE(auth.check(basic("prometheus:s3cret")));
  EXPECT_EQ(auth.cache_size(), 1u);
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(auth.check(basic("prometheus:s3cret")));
  auto per_check = (std::chrono::steady_clock::now() - t0) / 100;
  EXPECT_LT(per_check, std::chrono::milliseconds(2)) << "cached checks should not run bcrypt";
  // Failures are never cached: a wrong password stays wrong and costs a bcrypt run.
  EXPECT_FALSE(auth.check(basic("prometheus:wrong")));
  EXPECT_EQ(auth.cache_size(), 1u);
}

TEST(BasicAuth, ConcurrentFirstChecksRunBcryptOnce) {
  BasicAuth probe(std::map<std::string, std::string>{{"prometheus", kHash}});
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(probe.check(basic("prometheus:s3cret")));
  auto one = std::chrono::steady_clock::now() - t0;

  BasicAuth auth(std::map<std::string, std::string>{{"prometheus", kHash}});
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 16; ++i)
    threads.emplace_back([&] { ok += auth.check(basic("prometheus:s3cret")) ? 1 : 0; });
  for (auto& t : threads) t.join();
  auto all = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(ok.load(), 16);
  // 16 bcrypt runs on this 2-core machine would take ~8x one; one run plus cache hits stays near one.
  EXPECT_LT(all, one * 4 + std::chrono::milliseconds(50));
}

TEST(BasicAuth, UnknownUserCostsAboutAsMuchAsAKnownOne) {
  BasicAuth auth(std::map<std::string, std::string>{{"prometheus", kHash}});
  auto time = [&](const std::string& h) {
    auto t0 = std::chrono::steady_clock::now();
    EXPECT_FALSE(auth.check(h));
    return std::chrono::steady_clock::now() - t0;
  };
  auto known = time(basic("prometheus:wrong"));
  auto unknown = time(basic("mallory:wrong"));
  // Both run one cost-10 bcrypt; an early return for unknown users would be ~1000 times faster.
  EXPECT_GT(unknown * 5, known);
}

}  // namespace
}  // namespace epc
