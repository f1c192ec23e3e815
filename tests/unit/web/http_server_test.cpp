#include "web/http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <zlib.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <thread>
#include <vector>

#include "exposition_check.h"
#include "scrape/scraper.h"
#include "test_util.h"
#include "web/basic_auth.h"

namespace epc {
namespace {

// Minimal HTTP/1.0 client: sends raw bytes, returns everything the server sent until it closed.
std::string raw_request(int port, const std::string& request) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return "connect failed";
  }
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

std::string get(int port, const std::string& method, const std::string& path, const std::string& authorization = "") {
  return raw_request(port, method + " " + path + " HTTP/1.0\r\nHost: localhost\r\n" +
                               (authorization.empty() ? "" : "Authorization: " + authorization + "\r\n") + "\r\n");
}

int status_of(const std::string& response) {
  if (response.rfind("HTTP/1.", 0) != 0 || response.size() < 12) return -1;
  return std::stoi(response.substr(9, 3));
}

std::string body_of(const std::string& response) {
  auto p = response.find("\r\n\r\n");
  return p == std::string::npos ? "" : response.substr(p + 4);
}

class GateCollector : public Collector {
 public:
  Status collect(MetricSink& sink) override {
    entered = true;
    while (blocked.load()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    sink.gauge("sgx_epc_free_bytes", "free", {}, 4096);
    return {};
  }
  std::atomic<bool> blocked{false};
  std::atomic<bool> entered{false};
};

struct Fixture {
  GateCollector* gate;
  std::unique_ptr<Scraper> scraper;
  std::unique_ptr<HttpServer> server;
  int port = 0;

  explicit Fixture(unsigned timeout_ms = 2000, unsigned max_requests = 4,
                   const std::function<void(HttpOptions&)>& tweak = nullptr) {
    auto c = std::make_unique<GateCollector>();
    gate = c.get();
    std::vector<Scraper::Named> cs;
    cs.push_back({"gate", std::move(c)});
    scraper = std::make_unique<Scraper>(std::move(cs), nullptr);
    HttpOptions o;
    o.listen_address = "127.0.0.1:0";
    o.request_timeout_ms = timeout_ms;
    o.max_requests = max_requests;
    if (tweak) tweak(o);
    auto s = HttpServer::start(o, *scraper);
    if (!s) throw std::runtime_error(s.error().message);
    server = std::move(*s);
    port = server->ports().at(0);
  }
};

TEST(HttpServer, Endpoints) {
  Fixture f;
  ASSERT_GT(f.port, 0);

  auto metrics = get(f.port, "GET", "/metrics");
  EXPECT_EQ(status_of(metrics), 200);
  EXPECT_NE(metrics.find("Content-Type: text/plain; version=0.0.4"), std::string::npos);
  EXPECT_NE(body_of(metrics).find("sgx_epc_free_bytes 4096"), std::string::npos);
  EXPECT_NE(body_of(metrics).find("sgx_exporter_collector_success{collector=\"gate\"} 1"), std::string::npos);
  EXPECT_TRUE(test::exposition_is_clean(body_of(metrics)));

  auto head = get(f.port, "HEAD", "/metrics");
  EXPECT_EQ(status_of(head), 200);
  EXPECT_EQ(body_of(head), "");

  auto landing = get(f.port, "GET", "/");
  EXPECT_EQ(status_of(landing), 200);
  EXPECT_NE(body_of(landing).find("href=\"/metrics\""), std::string::npos);

  EXPECT_EQ(status_of(get(f.port, "GET", "/healthz")), 200);
  EXPECT_EQ(status_of(get(f.port, "GET", "/nope")), 404);
  EXPECT_EQ(status_of(get(f.port, "GET", "/metrics/extra")), 404);
  auto post = get(f.port, "POST", "/metrics");
  EXPECT_EQ(status_of(post), 405);
  EXPECT_NE(post.find("Allow: GET, HEAD"), std::string::npos);
  EXPECT_EQ(status_of(get(f.port, "DELETE", "/")), 405);
}

TEST(HttpServer, GarbageRequestsDoNotKillTheServer) {
  Fixture f;
  raw_request(f.port, "\x01\x02\x03garbage\r\n\r\n");
  raw_request(f.port, "GET " + std::string(100000, 'a') + " HTTP/1.1\r\n\r\n");
  raw_request(f.port, "GET /metrics HTTP/1.1\r\nHost: x\r\nX: " + std::string(200000, 'b') + "\r\n\r\n");
  raw_request(f.port, "GET /metrics HTTP/9.9\r\n\r\n");
  EXPECT_EQ(status_of(get(f.port, "GET", "/metrics")), 200);
}

TEST(HttpServer, StuckScrapeYields503NotAHang) {
  Fixture f(/*timeout_ms=*/300);
  f.gate->blocked = true;
  auto first = std::async(std::launch::async, [&] { return get(f.port, "GET", "/metrics"); });
  while (!f.gate->entered) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  auto start = std::chrono::steady_clock::now();
  auto second = get(f.port, "GET", "/metrics");
  auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(status_of(second), 503);
  EXPECT_LT(waited, std::chrono::seconds(5));
  // Liveness is not behind the scrape lock.
  EXPECT_EQ(status_of(get(f.port, "GET", "/healthz")), 200);
  f.gate->blocked = false;
  EXPECT_EQ(status_of(first.get()), 200);
}

// Issue 23: a client that sends "Expect: 100-continue" waits for the interim answer before its body; the server
// waited for the body, so both sat until the request timeout. Now 100 Continue comes at once, then the answer.
TEST(HttpServer, Expect100ContinueIsAnsweredAtOnce) {
  Fixture f(/*timeout_ms=*/20000);
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(f.port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  timeval tv{3, 0};  // far below the request timeout: a server that waits for the body fails here
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  auto send = [&](const std::string& d) { ::send(fd, d.data(), d.size(), MSG_NOSIGNAL); };
  auto recv_some = [&] {
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
  };
  send("POST /metrics HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
  EXPECT_EQ(recv_some(), "HTTP/1.1 100 Continue\r\n\r\n");
  send("hello");
  auto answer = recv_some();
  EXPECT_EQ(status_of(answer), 405) << answer;
  // On the same connection, a GET that announces a body it then sends: 100, then the scrape.
  send("GET /metrics HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\n");
  EXPECT_EQ(recv_some(), "HTTP/1.1 100 Continue\r\n\r\n");
  send("{}");
  EXPECT_EQ(status_of(recv_some()), 200);
  ::close(fd);
  // Expect without a body to wait for: no interim answer, the final one.
  auto r = raw_request(f.port, "GET /metrics HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(status_of(r), 200) << r.substr(0, 40);
}

// bcrypt("s3cret") at cost 10 (tens of milliseconds) and 12 (four times that: long enough to act while it runs).
constexpr const char* kHash10 = "$2b$10$06ZyxmUVYTJR6wp42Pnbiu/GJorEB8CsrHeeU7hTGEbzqjF6KVb1y";
constexpr const char* kHash12 = "$2b$12$bHltBWPqJlcilP7oJwzuV.NrewOxqZJJcW1x7RWbCg7v1OmLCkykq";

std::shared_ptr<BasicAuth> prometheus_user(const char* hash) {
  return std::make_shared<BasicAuth>(std::map<std::string, std::string>{{"prometheus", hash}});
}

// Issue 23: credentials were checked on the request workers, within --web.max-requests, so requests without the
// password took the slots authorized scrapes needed (503). Now they are refused before any slot is taken.
TEST(HttpServer, RequestsWithoutThePasswordTakeNoRequestSlot) {
  auto auth = prometheus_user(kHash10);
  Fixture f(/*timeout_ms=*/5000, /*max_requests=*/1, [&](HttpOptions& o) { o.auth = auth; });
  const auto good = test::basic_authorization("prometheus:s3cret");
  ASSERT_EQ(status_of(get(f.port, "GET", "/metrics", good)), 200);
  f.gate->entered = false;
  f.gate->blocked = true;
  auto first = std::async(std::launch::async, [&] { return get(f.port, "GET", "/metrics", good); });
  while (!f.gate->entered) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  // The one request slot is taken by a running scrape; what has no password is still answered 401, not 503.
  EXPECT_EQ(status_of(get(f.port, "GET", "/metrics")), 401);
  EXPECT_EQ(status_of(get(f.port, "GET", "/metrics", "Basic !!!")), 401);
  EXPECT_EQ(status_of(get(f.port, "GET", "/metrics", test::basic_authorization("prometheus:wrong"))), 401);
  EXPECT_EQ(status_of(get(f.port, "GET", "/", test::basic_authorization("mallory:s3cret"))), 401);
  // An authorized request beyond the cap: 503 as before.
  EXPECT_EQ(status_of(get(f.port, "GET", "/", good)), 503);
  f.gate->blocked = false;
  EXPECT_EQ(status_of(first.get()), 200);
  EXPECT_EQ(auth->hashes_run(), 3u);  // the good header once, then wrong and mallory; nothing twice
}

TEST(HttpServer, ConcurrentFirstRequestsWithOneHeaderRunBcryptOnce) {
  auto auth = prometheus_user(kHash10);
  Fixture f(2000, 40, [&](HttpOptions& o) { o.auth = auth; });
  const auto good = test::basic_authorization("prometheus:s3cret");
  std::vector<std::future<std::string>> all;
  for (int i = 0; i < 12; ++i)
    all.push_back(std::async(std::launch::async, [&] { return get(f.port, "GET", "/metrics", good); }));
  for (auto& r : all) EXPECT_EQ(status_of(r.get()), 200);
  // Every scraper connection after a restart brings the same header: it is verified once, the others wait for
  // that verdict instead of running bcrypt each (12 runs would take 12 times as long on the one verifier thread).
  EXPECT_EQ(auth->hashes_run(), 1u);
}

TEST(HttpServer, UnverifiedHeadersBeyondTheBudgetGet429AtOnceAndVerifiedOnesPass) {
  auto auth = prometheus_user(kHash12);
  Fixture f(10000, 4, [&](HttpOptions& o) {
    o.auth = auth;
    o.max_unverified = 1;
  });
  const auto good = test::basic_authorization("prometheus:s3cret");
  ASSERT_EQ(status_of(get(f.port, "GET", "/metrics", good)), 200);
  ASSERT_EQ(auth->hashes_run(), 1u);
  auto slow = std::async(std::launch::async,
                         [&] { return get(f.port, "GET", "/metrics", test::basic_authorization("prometheus:wrong1")); });
  while (auth->hashes_run() < 2) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  // wrong1 is being verified (cost 12) and fills the budget of one: another header never seen is refused at once,
  // and the verified one is served without waiting for bcrypt.
  auto busy = get(f.port, "GET", "/metrics", test::basic_authorization("prometheus:wrong2"));
  auto scrape = get(f.port, "GET", "/metrics", good);
  EXPECT_EQ(status_of(busy), 429) << busy;
  EXPECT_NE(busy.find("Retry-After: 1"), std::string::npos);
  EXPECT_EQ(status_of(scrape), 200);
  EXPECT_EQ(slow.wait_for(std::chrono::seconds(0)), std::future_status::timeout)
      << "wrong1's bcrypt run ended before the checks above: they proved nothing (machine too fast for cost 12?)";
  EXPECT_EQ(status_of(slow.get()), 401);
  EXPECT_EQ(auth->hashes_run(), 2u);
}

// ---- TLS

// A self-signed P-256 certificate for localhost, valid for an hour, and its key, as PEM files in t.
TlsConfig self_signed(const test::TempTree& t) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, key);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(cert, X509_get_subject_name(cert));
  X509_sign(cert, key, EVP_sha256());
  TlsConfig tls;
  tls.cert_file = t.path("cert.pem").string();
  tls.key_file = t.path("key.pem").string();
  FILE* f = std::fopen(tls.cert_file.c_str(), "w");
  PEM_write_X509(f, cert);
  std::fclose(f);
  f = std::fopen(tls.key_file.c_str(), "w");
  PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  X509_free(cert);
  EVP_PKEY_free(key);
  return tls;
}

// A blocking TLS client connection (no certificate check: the server's is self-signed).
class TlsClient {
 public:
  explicit TlsClient(int port) : ctx_(SSL_CTX_new(TLS_client_method())) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{10, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return;
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    handshaken_ = SSL_connect(ssl_) == 1;
  }
  ~TlsClient() {
    if (ssl_) SSL_free(ssl_);
    SSL_CTX_free(ctx_);
    ::close(fd_);
  }
  bool handshaken() const { return handshaken_; }
  // Sends a request and reads until the server closes (HTTP/1.0) or the connection fails; what came back.
  std::string request(const std::string& raw) {
    if (SSL_write(ssl_, raw.data(), static_cast<int>(raw.size())) <= 0) return "write failed";
    std::string out;
    char buf[16384];
    int n;
    while ((n = SSL_read(ssl_, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    return out;
  }
  // True when the server closes the connection within ms (session tickets it sends meanwhile are read and
  // ignored); false when it is still open then.
  bool closed_by_server(int ms) {
    const int flags = ::fcntl(fd_, F_GETFL);
    ::fcntl(fd_, F_SETFL, flags | O_NONBLOCK);
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    bool closed = false;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
      pollfd p{fd_, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      char c;
      int n = SSL_read(ssl_, &c, 1);
      if (n > 0) break;  // data: not closed
      if (SSL_get_error(ssl_, n) != SSL_ERROR_WANT_READ) {
        closed = true;
        break;
      }
    }
    ::fcntl(fd_, F_SETFL, flags);
    return closed;
  }

 private:
  SSL_CTX* ctx_;
  SSL* ssl_ = nullptr;
  int fd_ = -1;
  bool handshaken_ = false;
};

// Issue 23: every TLS connection that completes a handshake holds memory, and clients need no credentials for
// that. At the TLS cap the oldest such connection without a request makes room; the newcomer is served.
TEST(HttpServer, TlsCapClosesTheOldestTlsConnectionWithoutARequest) {
  test::TempTree t;
  auto tls = self_signed(t);
  Fixture f(/*timeout_ms=*/60000, 4, [&](HttpOptions& o) {  // no request timeout closes anything here
    o.tls = tls;
    o.max_tls_connections = 3;
  });
  std::vector<std::unique_ptr<TlsClient>> idle;
  for (int i = 0; i < 3; ++i) {
    idle.push_back(std::make_unique<TlsClient>(f.port));
    ASSERT_TRUE(idle.back()->handshaken());
  }
  TlsClient fourth(f.port);
  ASSERT_TRUE(fourth.handshaken());
  auto r = fourth.request("GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n");
  EXPECT_EQ(status_of(r), 200) << r;
  EXPECT_TRUE(test::exposition_is_clean(body_of(r)));
  EXPECT_TRUE(idle[0]->closed_by_server(2000)) << "the oldest connection without a request was not closed";
  EXPECT_FALSE(idle[1]->closed_by_server(100));
  // The other two were left alone: they can still be served.
  EXPECT_EQ(status_of(idle[1]->request("GET /healthz HTTP/1.0\r\nHost: x\r\n\r\n")), 200);
  EXPECT_EQ(status_of(idle[2]->request("GET /healthz HTTP/1.0\r\nHost: x\r\n\r\n")), 200);
}

TEST(HttpServer, TlsCapFollowsTheMemoryLimit) {
  EXPECT_EQ(tls_connection_cap(128u << 20, 4096), 2048u);       // the DaemonSet's limit: half of it at 32 KiB each
  EXPECT_EQ(tls_connection_cap(1ull << 34, 4096), 4096u);       // 16 GiB: the connection cap decides
  EXPECT_EQ(tls_connection_cap(1u << 20, 4096), 64u);           // tiny: still room for scrapers
  EXPECT_EQ(tls_connection_cap(128u << 20, 1000), 1000u);
}

// A response far larger than one TLS record (16 KiB), so that writes are partial and resume: byte for byte.
class BigCollector : public Collector {
 public:
  Status collect(MetricSink& sink) override {
    for (int i = 0; i < 20000; ++i)
      sink.gauge("sgx_test_series_bytes", "A series of a large page.", {{"cgroup", "c" + std::to_string(i)}}, i);
    return {};
  }
};

TEST(HttpServer, TlsCarriesLargePagesWhole) {
  test::TempTree t;
  auto tls = self_signed(t);
  std::vector<Scraper::Named> cs;
  cs.push_back({"big", std::make_unique<BigCollector>()});
  Scraper scraper(std::move(cs), nullptr);
  HttpOptions o;
  o.listen_address = "127.0.0.1:0";
  o.tls = tls;
  auto server = HttpServer::start(o, scraper);
  ASSERT_TRUE(server.ok()) << server.error().message;
  int port = (*server)->ports().at(0);
  auto plain = scraper.render_within(std::chrono::seconds(5));
  ASSERT_TRUE(plain);
  TlsClient c(port);
  ASSERT_TRUE(c.handshaken());
  auto r = c.request("GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n");
  ASSERT_EQ(status_of(r), 200);
  auto body = body_of(r);
  EXPECT_GT(body.size(), 500000u);
  EXPECT_NE(body.find("sgx_test_series_bytes{cgroup=\"c19999\"} 19999\n"), std::string::npos);
  EXPECT_TRUE(test::exposition_is_clean(body));
  // The same page as the scraper renders, apart from the self metrics that change between scrapes.
  auto series = [](const std::string& page) { return page.substr(0, page.find("# HELP sgx_exporter_")); };
  EXPECT_GT(series(body).size(), 500000u);
  EXPECT_EQ(series(body), series(*plain));
}

TEST(HttpServer, PortInUseIsAnError) {
  Fixture f;
  GateCollector c;
  std::vector<Scraper::Named> none;
  Scraper s(std::move(none), nullptr);
  HttpOptions o;
  o.listen_address = "127.0.0.1:" + std::to_string(f.port);
  auto r = HttpServer::start(o, s);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("cannot serve"), std::string::npos);
}

TEST(HttpServer, ListenAddressSyntax) {
  auto any = parse_listen_address(":9840");
  ASSERT_TRUE(any.ok());
  EXPECT_EQ(any->host, "");
  EXPECT_EQ(any->port, 9840);
  auto v4 = parse_listen_address("127.0.0.1:0");
  ASSERT_TRUE(v4.ok());
  EXPECT_EQ(v4->host, "127.0.0.1");
  EXPECT_EQ(v4->port, 0);
  auto v6 = parse_listen_address("[::1]:9840");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_FALSE(parse_listen_address("9840").ok());
  EXPECT_FALSE(parse_listen_address("::1:9840").ok());
  EXPECT_FALSE(parse_listen_address("127.0.0.1:65536").ok());
  EXPECT_FALSE(parse_listen_address("127.0.0.1:x").ok());
}

TEST(HttpServer, ServesIPv6Loopback) {
  GateCollector c;
  std::vector<Scraper::Named> none;
  Scraper s(std::move(none), nullptr);
  HttpOptions o;
  o.listen_address = "[::1]:0";
  auto r = HttpServer::start(o, s);
  if (!r.ok()) GTEST_SKIP() << "no IPv6 loopback here: " << r.error().message;
  int port = (*r)->ports().at(0);
  int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
  sockaddr_in6 addr{};
  addr.sin6_family = AF_INET6;
  addr.sin6_port = htons(static_cast<uint16_t>(port));
  addr.sin6_addr = in6addr_loopback;
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  std::string req = "GET /healthz HTTP/1.0\r\n\r\n";
  ::send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  char buf[256];
  ssize_t n = ::recv(fd, buf, sizeof buf, 0);
  ::close(fd);
  ASSERT_GT(n, 12);
  EXPECT_EQ(status_of(std::string(buf, static_cast<size_t>(n))), 200);
}

TEST(HttpServer, AcceptEncoding) {
  EXPECT_TRUE(accepts_gzip("gzip"));
  EXPECT_TRUE(accepts_gzip("gzip, deflate, br"));  // Go's net/http and Prometheus
  EXPECT_TRUE(accepts_gzip("deflate, GZIP;q=0.5"));
  EXPECT_TRUE(accepts_gzip("x-gzip"));
  EXPECT_TRUE(accepts_gzip("*"));
  EXPECT_TRUE(accepts_gzip("identity;q=1, *;q=0.1"));
  EXPECT_FALSE(accepts_gzip(""));
  EXPECT_FALSE(accepts_gzip("identity"));
  EXPECT_FALSE(accepts_gzip("deflate, br"));
  EXPECT_FALSE(accepts_gzip("gzip;q=0"));
  EXPECT_FALSE(accepts_gzip("gzip; q=0.000, *"));
  EXPECT_FALSE(accepts_gzip("*;q=0"));
  EXPECT_FALSE(accepts_gzip("gzipped"));
  EXPECT_FALSE(accepts_gzip(";;;,,,q=1"));
}

TEST(HttpServer, MetricsGzipWhenAskedOnly) {
  Fixture f;
  auto plain = raw_request(f.port, "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n");
  EXPECT_EQ(status_of(plain), 200);
  EXPECT_EQ(plain.find("Content-Encoding"), std::string::npos);
  EXPECT_NE(plain.find("Vary: Accept-Encoding"), std::string::npos);
  EXPECT_NE(body_of(plain).find("sgx_epc_free_bytes 4096"), std::string::npos);

  auto zipped = raw_request(f.port, "GET /metrics HTTP/1.0\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n");
  EXPECT_EQ(status_of(zipped), 200);
  EXPECT_NE(zipped.find("Content-Encoding: gzip"), std::string::npos);
  EXPECT_NE(zipped.find("Vary: Accept-Encoding"), std::string::npos);
  std::string body = body_of(zipped);
  ASSERT_GE(body.size(), 18u);
  EXPECT_EQ(static_cast<unsigned char>(body[0]), 0x1f);  // gzip magic
  EXPECT_EQ(static_cast<unsigned char>(body[1]), 0x8b);
  EXPECT_EQ(zipped.find("sgx_epc_free_bytes"), std::string::npos);

  // Round trip through zlib's own inflater.
  std::string out(1 << 20, '\0');
  z_stream zs{};
  ASSERT_EQ(inflateInit2(&zs, 15 + 16), Z_OK);
  zs.next_in = reinterpret_cast<Bytef*>(body.data());
  zs.avail_in = static_cast<uInt>(body.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(inflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  inflateEnd(&zs);
  EXPECT_NE(out.find("sgx_epc_free_bytes 4096"), std::string::npos);
}

TEST(HttpServer, KeepAliveServesSeveralRequestsOnOneConnection) {
  Fixture f;
  auto both = raw_request(f.port,
                          "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                          "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  std::size_t first = both.find("HTTP/1.1 200");
  ASSERT_NE(first, std::string::npos);
  EXPECT_NE(both.find("HTTP/1.1 200", first + 1), std::string::npos);
  EXPECT_NE(both.find("X-Content-Type-Options: nosniff"), std::string::npos);
}

// The value of header `name` in the header block that starts at `from`; "" when absent.
std::string header_of(const std::string& response, const std::string& name, std::size_t from = 0) {
  auto end = response.find("\r\n\r\n", from);
  auto at = response.find("\r\n" + name + ": ", from);
  if (at == std::string::npos || at > end) return "";
  at += 4 + name.size();
  return response.substr(at, response.find("\r\n", at) - at);
}

// A scrape whose text is the same every time: no collector (no durations), no process_* metrics.
struct StableFixture {
  Scraper scraper{{}, nullptr, [] {
                    Scraper::Options o;
                    o.exporter_metrics = false;
                    return o;
                  }()};
  std::unique_ptr<HttpServer> server;
  int port = 0;
  StableFixture() {
    HttpOptions o;
    o.listen_address = "127.0.0.1:0";
    auto s = HttpServer::start(o, scraper);
    if (!s) throw std::runtime_error(s.error().message);
    server = std::move(*s);
    port = server->ports().at(0);
  }
};

// HEAD answers with GET's headers (Content-Type, Content-Encoding, the Content-Length of GET's body) and no body:
// on a kept-alive connection the next bytes after HEAD's header block are the next response's status line.
TEST(HttpServer, HeadOnTheTelemetryPathHasGetsHeadersAndNoBody) {
  StableFixture f;
  for (const std::string ae : {"", "Accept-Encoding: gzip\r\n"}) {
    SCOPED_TRACE(ae.empty() ? "identity" : "gzip");
    auto both = raw_request(f.port, "HEAD /metrics HTTP/1.1\r\nHost: x\r\n" + ae + "\r\n" +
                                        "GET /metrics HTTP/1.1\r\nHost: x\r\n" + ae + "Connection: close\r\n\r\n");
    ASSERT_EQ(status_of(both), 200) << both;
    auto head_end = both.find("\r\n\r\n");
    ASSERT_NE(head_end, std::string::npos);
    const std::size_t get_at = head_end + 4;
    ASSERT_EQ(both.compare(get_at, 15, "HTTP/1.1 200 OK"), 0) << "HEAD sent a body:\n" << both.substr(0, 600);
    const std::string get = both.substr(get_at);
    const std::string get_body = body_of(get);
    ASSERT_FALSE(get_body.empty());

    for (const char* h : {"Content-Type", "Content-Length", "Content-Encoding", "Vary"})
      EXPECT_EQ(header_of(both, h), header_of(get, h)) << h;
    EXPECT_EQ(header_of(both, "Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
    EXPECT_EQ(header_of(both, "Content-Length"), std::to_string(get_body.size()));
    EXPECT_EQ(header_of(both, "Vary"), "Accept-Encoding");
    if (ae.empty()) {
      EXPECT_EQ(header_of(both, "Content-Encoding"), "");
      EXPECT_NE(get_body.find("sgx_exporter_build_info{"), std::string::npos);
    } else {
      EXPECT_EQ(header_of(both, "Content-Encoding"), "gzip");
      ASSERT_GE(get_body.size(), 2u);
      EXPECT_EQ(static_cast<unsigned char>(get_body[0]), 0x1f);  // the gzip magic: the length is the gzip body's
      EXPECT_EQ(static_cast<unsigned char>(get_body[1]), 0x8b);
    }
  }
}

// As promhttp: no caching headers and no validators, so conditional requests never get a 304.
TEST(HttpServer, NoCachingHeadersAndNever304) {
  StableFixture f;
  for (const std::string method : {"GET", "HEAD"}) {
    SCOPED_TRACE(method);
    auto r = raw_request(f.port, method + " /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                 "If-Modified-Since: Fri, 01 Jan 2100 00:00:00 GMT\r\nIf-None-Match: *\r\n\r\n");
    EXPECT_EQ(status_of(r), 200) << r;
    for (const char* h : {"Cache-Control", "Expires", "Last-Modified", "ETag", "Pragma"})
      EXPECT_EQ(header_of(r, h), "") << h;
    EXPECT_NE(header_of(r, "Content-Length"), "0");
    if (method == "GET") EXPECT_NE(body_of(r).find("sgx_exporter_build_info{"), std::string::npos);
    else EXPECT_EQ(body_of(r), "");
  }
}

TEST(HttpServer, OversizedBodyIsRefused) {
  Fixture f;
  auto r = raw_request(f.port, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" +
                                   std::string(100000, 'x'));
  EXPECT_EQ(status_of(r), 413);
  EXPECT_EQ(status_of(get(f.port, "GET", "/healthz")), 200);
}

TEST(HttpServer, ConnectionCapClosesTheOldestConnectionWithoutARequest) {
  auto c = std::make_unique<GateCollector>();
  std::vector<Scraper::Named> cs;
  cs.push_back({"gate", std::move(c)});
  Scraper scraper(std::move(cs), nullptr);
  HttpOptions o;
  o.listen_address = "127.0.0.1:0";
  o.max_connections = 8;
  auto s = HttpServer::start(o, scraper);
  ASSERT_TRUE(s.ok()) << s.error().message;
  int port = (*s)->ports().at(0);
  auto open_idle = [&] {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    return fd;
  };
  std::vector<int> idle;
  for (int i = 0; i < 8; ++i) idle.push_back(open_idle());
  // Past the cap, a scrape is still served: the oldest idle connection made room for it.
  EXPECT_EQ(status_of(get(port, "GET", "/metrics")), 200);
  // The first idle connection was the one closed: it reads end of file at once.
  timeval tv{10, 0};
  setsockopt(idle[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char b;
  EXPECT_EQ(::recv(idle[0], &b, 1, 0), 0);
  for (int fd : idle) ::close(fd);
}

}  // namespace
}  // namespace epc
