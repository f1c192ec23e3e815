#include "options.h"

#include <gtest/gtest.h>

using namespace epctop;

namespace {
std::string err(std::vector<std::string> a) {
  auto r = parse_options(a);
  return r.index() == 1 ? std::get<std::string>(r) : "ok";
}
Options ok(std::vector<std::string> a) {
  auto r = parse_options(a);
  EXPECT_EQ(r.index(), 0u) << (r.index() ? std::get<std::string>(r) : "");
  return r.index() == 0 ? std::get<Options>(r) : Options{};
}
}  // namespace

TEST(EpctopOptions, Defaults) {
  Options o = ok({});
  EXPECT_EQ(o.fetch.url, "http://127.0.0.1:9840/metrics");
  EXPECT_EQ(o.interval_s, 2);
  EXPECT_EQ(o.fetch.max_bytes, 16u * 1024 * 1024);
  EXPECT_FALSE(o.batch);
}

TEST(EpctopOptions, UrlForms) {
  EXPECT_EQ(normalize_url("node1:9840"), "http://node1:9840/metrics");
  EXPECT_EQ(normalize_url("https://node1:9840"), "https://node1:9840/metrics");
  EXPECT_EQ(normalize_url("https://node1:9840/x"), "https://node1:9840/x");
  EXPECT_EQ(url_target("https://u:pw@node1:9840/metrics"), "node1:9840");
  EXPECT_EQ(err({"ftp://x/y"}), "URL ftp://x/y: only http:// and https:// are supported");
  EXPECT_EQ(err({"a:1", "b:2"}), "more than one URL: http://a:1/metrics and b:2");
}

TEST(EpctopOptions, AllFlags) {
  Options o = ok({"--once", "-d", "0.5", "--timeout=3", "--max-size=1M", "--tls.ca-file=ca.pem", "--tls.cert-file",
                  "c.pem", "--tls.key-file=k.pem", "--basic-auth.username=u", "--basic-auth.password-file=pw",
                  "--level=pod", "--sort=evict", "--namespace=sgx", "--width=160", "https://n:1"});
  EXPECT_TRUE(o.batch);
  EXPECT_EQ(o.iterations, 1);
  EXPECT_EQ(o.interval_s, 0.5);
  EXPECT_EQ(o.fetch.timeout_ms, 3000);
  EXPECT_EQ(o.fetch.max_bytes, 1u << 20);
  EXPECT_EQ(o.fetch.ca_file, "ca.pem");
  EXPECT_EQ(o.fetch.cert_file, "c.pem");
  EXPECT_EQ(o.fetch.key_file, "k.pem");
  EXPECT_EQ(o.fetch.username, "u");
  EXPECT_EQ(o.password_file, "pw");
  EXPECT_EQ(o.view.level, Level::Pod);
  EXPECT_EQ(o.view.sort, Column::Evict);
  EXPECT_EQ(o.view.ns_filter, "sgx");
  EXPECT_EQ(o.width, 160);
  EXPECT_EQ(o.fetch.url, "https://n:1/metrics");
}

TEST(EpctopOptions, Errors) {
  EXPECT_EQ(err({"--bogus"}), "unknown option --bogus (epctop --help lists them)");
  EXPECT_EQ(err({"-d"}), "-d needs a value");
  EXPECT_EQ(err({"-d", "0"}), "-d: '0' is not a number of seconds between 0.2 and 3600");
  EXPECT_EQ(err({"--level=node"}), "--level: 'node' is not pod, container or enclave");
  EXPECT_EQ(err({"--sort=cpu"}), "--sort: unknown column 'cpu'");
  EXPECT_EQ(err({"--max-size=10"}), "--max-size: '10' is not a size of at least 1024 bytes");
  EXPECT_EQ(err({"--tls.key-file=k"}), "--tls.key-file needs --tls.cert-file");
  EXPECT_EQ(err({"--basic-auth.password-file=p"}), "--basic-auth.password-file needs --basic-auth.username");
  EXPECT_EQ(err({"--batch", "--width=20"}), "--width must be at least 40");
}
