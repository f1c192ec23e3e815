#include "core/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "core/scraper.h"

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

TEST(HttpServer, ListeningPortSyntax) {
  EXPECT_EQ(civetweb_listening_port(":9840"), "9840");
  EXPECT_EQ(civetweb_listening_port("127.0.0.1:9840"), "127.0.0.1:9840");
  EXPECT_EQ(civetweb_listening_port("[::1]:9840"), "[::1]:9840");
}

}  // namespace
}  // namespace epc
