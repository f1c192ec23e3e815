#include "web/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <zlib.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "scrape/scraper.h"

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

std::string get(int port, const std::string& method, const std::string& path) {
  return raw_request(port, method + " " + path + " HTTP/1.0\r\nHost: localhost\r\n\r\n");
}

int status_of(const std::string& response) {
  if (response.rfind("HTTP/1.", 0) != 0 || response.size() < 12) return -1;
  return std::stoi(response.substr(9, 3));
}

std::string body_of(const std::string& response) {
  auto p = response.find("\r\n\r\n");
  return p == std::string::npos ? "" : response.substr(p + 4);
}

constexpr MetricDef kFree{.name = "sgx_epc_free_bytes", .type = MetricType::kGauge, .help = "free"};

class GateCollector : public Collector {
 public:
  Status collect(MetricSink& sink) override {
    entered = true;
    while (blocked.load()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    sink.add(kFree, 4096);
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

  explicit Fixture(unsigned timeout_ms = 2000, unsigned max_requests = 4) {
    auto c = std::make_unique<GateCollector>();
    gate = c.get();
    std::vector<Scraper::Named> cs;
    cs.push_back({"gate", std::move(c)});
    scraper = std::make_unique<Scraper>(std::move(cs), nullptr);
    HttpOptions o;
    o.listen_address = "127.0.0.1:0";
    o.request_timeout_ms = timeout_ms;
    o.max_requests = max_requests;
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
