#include "web/basic_auth.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "test_util.h"

namespace epc {
namespace {

// bcrypt("s3cret"), cost 10.
constexpr const char* kHash = "$2b$10$06ZyxmUVYTJR6wp42Pnbiu/GJorEB8CsrHeeU7hTGEbzqjF6KVb1y";

// bcrypt("s3cret"), cost 4: for tests that run many checks.
constexpr const char* kCheapHash = "$2b$04$3CI1KcIM3ljEFPq9HxleDufuu8J7U0iWlUZbc0YlGRIOYnUBe1GnS";

std::string basic(const std::string& user_pass) { return test::basic_authorization(user_pass); }

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

TEST(BasicAuth, VerdictsAreRememberedWithoutAnotherBcryptRun) {
  BasicAuth auth(std::map<std::string, std::string>{{"prometheus", kHash}});
  const auto good = basic("prometheus:s3cret"), bad = basic("prometheus:wrong");
  EXPECT_EQ(auth.lookup(good).verdict, BasicAuth::Verdict::kUnverified);
  ASSERT_TRUE(auth.check(good));
  EXPECT_EQ(auth.hashes_run(), 1u);
  EXPECT_EQ(auth.cache_size(), 1u);
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(auth.check(good));
  EXPECT_EQ(auth.lookup(good).verdict, BasicAuth::Verdict::kAllowed);
  // A refuted header stays refuted and costs no second bcrypt run either; it never enters the allowed cache.
  EXPECT_FALSE(auth.check(bad));
  EXPECT_FALSE(auth.check(bad));
  EXPECT_EQ(auth.lookup(bad).verdict, BasicAuth::Verdict::kDenied);
  EXPECT_EQ(auth.hashes_run(), 2u);
  EXPECT_EQ(auth.cache_size(), 1u);
  // Missing or malformed credentials are refused without any hashing.
  for (const char* h : {"", "Bearer x", "Basic !!!!", "Basic Zm9v"})
    EXPECT_EQ(auth.lookup(h).verdict, BasicAuth::Verdict::kDenied) << h;
  EXPECT_EQ(auth.hashes_run(), 2u);
}

TEST(BasicAuth, CachesAreBoundedAndRefutedHeadersCannotEvictVerifiedOnes) {
  BasicAuth auth(std::map<std::string, std::string>{{"prometheus", kCheapHash}});
  const auto good = basic("prometheus:s3cret");
  ASSERT_TRUE(auth.check(good));
  // More wrong passwords than the cache holds: the verified header keeps its place.
  for (std::size_t i = 0; i < BasicAuth::kCacheEntries + 8; ++i) {
    auto h = basic("prometheus:wrong" + std::to_string(i));
    auto found = auth.lookup(h);
    ASSERT_EQ(found.verdict, BasicAuth::Verdict::kUnverified);
    ASSERT_FALSE(auth.verify(h, found.key));
  }
  EXPECT_EQ(auth.lookup(good).verdict, BasicAuth::Verdict::kAllowed);
  // The oldest refuted ones were replaced: bounded.
  EXPECT_EQ(auth.lookup(basic("prometheus:wrong0")).verdict, BasicAuth::Verdict::kUnverified);
  EXPECT_EQ(auth.lookup(basic("prometheus:wrong70")).verdict, BasicAuth::Verdict::kDenied);
  // More verified headers than the cache holds (the same credentials written differently: leading blanks):
  // bounded too, the oldest replaced.
  for (std::size_t i = 1; i <= BasicAuth::kCacheEntries; ++i) ASSERT_TRUE(auth.check(std::string(i, ' ') + good));
  EXPECT_EQ(auth.cache_size(), BasicAuth::kCacheEntries);
  EXPECT_EQ(auth.lookup(good).verdict, BasicAuth::Verdict::kUnverified);
}

TEST(BasicAuth, TheCacheKeyIsKeyedPerProcessNotTheCredentials) {
  BasicAuth a(std::map<std::string, std::string>{{"prometheus", kHash}});
  BasicAuth b(std::map<std::string, std::string>{{"prometheus", kHash}});
  const auto good = basic("prometheus:s3cret");
  auto ka = a.lookup(good).key, kb = b.lookup(good).key;
  EXPECT_EQ(ka.size(), 32u);
  EXPECT_NE(ka, kb);  // a random HMAC key each: nobody can compute an entry without the process's key
  EXPECT_EQ(ka.find("s3cret"), std::string::npos);
  EXPECT_EQ(a.lookup(good).key, ka);
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
