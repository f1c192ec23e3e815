#include "web/web_config.h"

#include <gtest/gtest.h>

namespace epc {
namespace {

// bcrypt("s3cret"), cost 10.
constexpr const char* kHash = "$2b$10$06ZyxmUVYTJR6wp42Pnbiu/GJorEB8CsrHeeU7hTGEbzqjF6KVb1y";

TEST(WebConfig, EmptyFileMeansPlainHttpWithoutAuth) {
  for (const char* text : {"", "\n", "# only a comment\n", "---\n", "~\n"}) {
    auto c = parse_web_config(text);
    ASSERT_TRUE(c) << text << ": " << c.error().message;
    EXPECT_FALSE(c->tls);
    EXPECT_TRUE(c->basic_auth_users.empty());
  }
}

TEST(WebConfig, FullToolkitExample) {
  std::string text = std::string(R"(tls_server_config:
  cert_file: server.crt
  key_file: /etc/keys/server.key
  client_auth_type: "RequireAndVerifyClientCert"
  client_ca_file: ca.crt
  min_version: TLS13
  prefer_server_cipher_suites: true
http_server_config:
  http2: false
  headers:
    Strict-Transport-Security: max-age=31536000
basic_auth_users:
  prometheus: ')") + kHash + "'\n";
  auto c = parse_web_config(text, "/etc/epc");
  ASSERT_TRUE(c) << c.error().message;
  ASSERT_TRUE(c->tls);
  EXPECT_EQ(c->tls->cert_file, "/etc/epc/server.crt");
  EXPECT_EQ(c->tls->key_file, "/etc/keys/server.key");
  EXPECT_EQ(c->tls->client_ca_file, "/etc/epc/ca.crt");
  EXPECT_EQ(c->tls->client_auth, TlsConfig::ClientAuth::kRequireAndVerify);
  EXPECT_EQ(c->tls->min_version, 0x0304);
  ASSERT_EQ(c->headers.size(), 1u);
  EXPECT_EQ(c->headers[0].first, "Strict-Transport-Security");
  EXPECT_EQ(c->basic_auth_users.at("prometheus"), kHash);
}

TEST(WebConfig, ClientCaAloneMeansRequireAndVerify) {
  auto c = parse_web_config("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_ca_file: c\n");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->tls->client_auth, TlsConfig::ClientAuth::kRequireAndVerify);
}

struct Bad {
  const char* text;
  const char* expect;  // substring of the error
};

class WebConfigBad : public ::testing::TestWithParam<Bad> {};

TEST_P(WebConfigBad, IsRejectedWithAClearMessage) {
  auto c = parse_web_config(GetParam().text);
  ASSERT_FALSE(c) << GetParam().text;
  EXPECT_NE(c.error().message.find(GetParam().expect), std::string::npos) << c.error().message;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, WebConfigBad,
    ::testing::Values(
        Bad{"tls_server_config: {cert_file: a}\n", "key_file is required"},
        Bad{"tls_server_config: {key_file: a}\n", "cert_file is required"},
        Bad{"tls_server_config: {cert_file: a, key_file: b, client_auth_type: RequireAndVerifyClientCert}\n",
            "needs client_ca_file"},
        Bad{"tls_server_config: {cert_file: a, key_file: b, client_auth_type: NoClientCert, client_ca_file: c}\n",
            "client_auth_type is NoClientCert"},
        Bad{"tls_server_config: {cert_file: a, key_file: b, client_auth_type: Sometimes}\n", "is not one of"},
        Bad{"tls_server_config: {cert_file: a, key_file: b, client_auth_type: RequestClientCert}\n",
            "not supported"},
        Bad{"tls_server_config: {cert_file: a, key_file: b, min_version: TLS14}\n", "TLS14"},
        Bad{"tls_server_config: {cert_file: a, key_file: b, min_version: TLS13, max_version: TLS12}\n",
            "lower than min_version"},
        Bad{"tls_server_config: {cert_file: a, key_file: b, cipher_suites: [TLS_AES_128_GCM_SHA256]}\n",
            "not supported"},
        Bad{"tls_server_config: {cert_file: a, key_file: b, cert_fil: c}\n", "unknown key 'cert_fil'"},
        Bad{"tls_server_config: [a, b]\n", "must be a mapping"},
        Bad{"basic_auth_users: {alice: plain-text-password}\n", "not a bcrypt hash"},
        Bad{"basic_auth_users: {alice: '$2y$31$abcdefghijklmnopqrstuu5hSYwwOY0E6a2X8Z4vQ9C1pYbZf3Jt6'}\n",
            "cost 31"},
        Bad{"basic_auth_users: {'a:b': x}\n", "contains ':'"},
        Bad{"basic_auth_users: [alice]\n", "must be a mapping"},
        Bad{"http_server_config: {headers: {Server: evil}}\n", "cannot be set"},
        Bad{"http_server_config: {headers: {X-Frame-Options: \"a\\r\\nSet-Cookie: x\"}}\n", "control character"},
        Bad{"http_server_config: {http2: maybe}\n", "true or false"},
        Bad{"web: {}\n", "unknown key 'web'"},
        Bad{"- a\n- b\n", "must be a YAML mapping"},
        Bad{"a: &x 1\nb: *x\n", "aliases"},
        Bad{"a: 1\na: 2\n", "duplicate key"},
        Bad{"a: [\n", "YAML"},
        Bad{"tls_server_config:\n\tcert_file: a\n", "YAML"},
        Bad{"a: 1\n---\nb: 2\n", "more than one"},
        Bad{"x: [[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]\n", "nested too deeply"}));

TEST(WebConfig, HugeInputIsRefused) {
  std::string text(kWebConfigMaxBytes + 1, '#');
  auto c = parse_web_config(text);
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("larger than"), std::string::npos);
}

TEST(BcryptHash, Format) {
  EXPECT_TRUE(check_bcrypt_hash(kHash));
  EXPECT_FALSE(check_bcrypt_hash(""));
  EXPECT_FALSE(check_bcrypt_hash(std::string(kHash).substr(0, 59)));
  std::string bad = kHash;
  bad[20] = '!';
  EXPECT_FALSE(check_bcrypt_hash(bad));
  std::string md5 = "$1$abc$" + std::string(52, 'a');
  EXPECT_FALSE(check_bcrypt_hash(md5));
}

TEST(WebConfigFile, MissingFileNamesThePath) {
  auto c = load_web_config("/nonexistent/web.yml");
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("/nonexistent/web.yml"), std::string::npos) << c.error().message;
}

}  // namespace
}  // namespace epc
