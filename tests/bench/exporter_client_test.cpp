// Exporter in the loop: the workload selector, the URL parser and the HTTP GET
// (against a loopback server in the test).
#include "exporter_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmath>
#include <thread>

namespace epcbench {
namespace {

constexpr const char* kMetrics = R"(# HELP sgx_epc_evicted_pages_total EWB evictions
# TYPE sgx_epc_evicted_pages_total counter
sgx_epc_evicted_pages_total{namespace="",pod="",container="",cgroup="system.slice/bench.service"} 120
sgx_epc_evicted_pages_total{namespace="",pod="",container="",cgroup="system.slice/other.service"} 7
sgx_epc_loaded_back_pages_total{cgroup="system.slice/bench.service"} 100 1700000000000
sgx_enclave_page_faults_total{cgroup="system.slice/bench.service"} 1.5e2
sgx_epc_evicted_pages_total{namespace="team-a",pod="web-0",container="app",cgroup=""} 10
sgx_epc_evicted_pages_total{namespace="team-a",pod="web-0",container="sidecar",cgroup=""} 5
sgx_epc_evicted_pages_total{namespace="team-a",pod="web-1",container="app",cgroup=""} 99
sgx_exporter_probe_attached{probe="sgx_encl_ewb"} 0
sgx_exporter_probe_attached{probe="sgx_vma_fault"} 1
weird{path="a\"b\\c\nd",empty=""} NaN
inf_metric +Inf
)";

// The parser itself is promtext/'s (tests/unit/promtext); here only what bench picks from its samples.
std::vector<Sample> parse(std::string_view text) {
  auto r = promtext::parse_prometheus_text(text);
  if (auto* e = std::get_if<promtext::ParseError>(&r)) ADD_FAILURE() << e->what();
  return r.index() == 0 ? std::get<0>(r) : std::vector<Sample>{};
}

TEST(Selector, PicksTheBenchCgroupOrPod) {
  auto samples = parse(kMetrics);
  ASSERT_EQ(samples.size(), 11u);
  WorkloadSelector cg;
  cg.cgroup = "system.slice/bench.service";
  ExporterCounts c = select_counts(samples, cg);
  EXPECT_TRUE(c.any_series);
  EXPECT_EQ(c.evicted, 120);
  EXPECT_EQ(c.loaded_back, 100);
  EXPECT_EQ(c.faults, 150);
  EXPECT_TRUE(c.probes_attached);

  WorkloadSelector pod;
  pod.namespace_name = "team-a";
  pod.pod = "web-0";
  c = select_counts(samples, pod);
  EXPECT_EQ(c.evicted, 15);  // both containers
  EXPECT_EQ(c.faults, 0);

  WorkloadSelector none;
  none.cgroup = "nope";
  c = select_counts(samples, none);
  EXPECT_FALSE(c.any_series);

  // An empty label is an absent one: a workload outside Kubernetes writes namespace="" and pod="", which must
  // not hide the exported_ pair a ServiceMonitor without honorLabels adds.
  auto e = parse(
      R"(sgx_epc_evicted_pages_total{namespace="",pod="",container="",cgroup="",exported_namespace="ns",exported_pod="p"} 3)"
      "\n");
  WorkloadSelector p;
  p.namespace_name = "ns";
  p.pod = "p";
  EXPECT_EQ(select_counts(e, p).evicted, 3);
}

TEST(Selector, ExportedLabelsFromAServiceMonitorWithoutHonorLabels) {
  auto samples = parse("sgx_epc_evicted_pages_total{exported_namespace=\"ns\",exported_pod=\"p\",namespace=\"monitoring\","
                       "pod=\"epc-exporter-x\"} 4\n");
  WorkloadSelector pod;
  pod.namespace_name = "ns";
  pod.pod = "p";
  // namespace/pod name the exporter itself here; the selector must not match them ...
  EXPECT_FALSE(select_counts(samples, pod).any_series);
  // ... but does match when only the exported_ pair exists.
  EXPECT_EQ(select_counts(parse("sgx_epc_evicted_pages_total{exported_namespace=\"ns\",exported_pod=\"p\"} 4\n"), pod).evicted,
            4);
}

TEST(CgroupLabel, FromProcSelfCgroup) {
  EXPECT_EQ(cgroup_label_from_proc("0::/system.slice/bench.service\n"), "system.slice/bench.service");
  EXPECT_EQ(cgroup_label_from_proc("12:memory:/x\n0::/\n"), "/");
  EXPECT_EQ(cgroup_label_from_proc("4:memory:/x\n"), std::nullopt);
  EXPECT_EQ(cgroup_label_from_proc(""), std::nullopt);
  EXPECT_EQ(cgroup_label_from_proc("0::relative"), std::nullopt);
}

TEST(Url, ParsesHostPortPath) {
  auto u = parse_http_url("http://127.0.0.1:9101/metrics");
  ASSERT_TRUE(u) << u.error().message;
  EXPECT_EQ(u.value().host, "127.0.0.1");
  EXPECT_EQ(u.value().port, 9101);
  EXPECT_EQ(u.value().path, "/metrics");
  auto d = parse_http_url("http://localhost");
  ASSERT_TRUE(d);
  EXPECT_EQ(d.value().port, 80);
  EXPECT_EQ(d.value().path, "/");
  for (const char* bad : {"https://x/metrics", "127.0.0.1:9/metrics", "http://:9/", "http://h:0/", "http://h:99999/",
                          "http://h:12a/", ""})
    EXPECT_FALSE(parse_http_url(bad)) << bad;
}

// A one-shot loopback HTTP server answering with `response` (or never answering).
class OneShotServer {
 public:
  explicit OneShotServer(std::string response, bool answer = true) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    listen(fd_, 1);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    th_ = std::thread([this, response, answer] {
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      char buf[4096];
      ssize_t n = read(c, buf, sizeof buf);
      request_ = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "";
      if (answer) (void)!write(c, response.data(), response.size());
      else usleep(600 * 1000);
      close(c);
    });
  }
  ~OneShotServer() {
    th_.join();
    close(fd_);
  }
  HttpUrl url() const { return {"127.0.0.1", port_, "/metrics"}; }
  std::string request_;

 private:
  int fd_;
  std::uint16_t port_ = 0;
  std::thread th_;
};

TEST(HttpGet, FetchesTheBody) {
  std::string body = "sgx_epc_evicted_pages_total{cgroup=\"/\"} 3\n";
  OneShotServer s("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n" + body);
  auto r = http_get(s.url());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r.value(), body);
}

TEST(HttpGet, Non200IsAnError) {
  OneShotServer s("HTTP/1.1 404 Not Found\r\n\r\nnope");
  auto r = http_get(s.url());
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("404"), std::string::npos) << r.error().message;
}

TEST(HttpGet, GarbageAndSilenceAreErrorsNotHangs) {
  {
    OneShotServer s("garbage without headers");
    EXPECT_FALSE(http_get(s.url()));
  }
  {
    OneShotServer s("", false);
    auto t0 = std::chrono::steady_clock::now();
    auto r = http_get(s.url(), 200);
    EXPECT_FALSE(r);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
  }
  {
    OneShotServer s("HTTP/1.1 200 OK\r\n\r\n" + std::string(4096, 'x'));
    auto r = http_get(s.url(), 1000, 1024);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("larger"), std::string::npos) << r.error().message;
  }
}

TEST(HttpGet, ConnectionRefused) {
  // Bind then close to get a port nobody listens on.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  auto r = http_get({"127.0.0.1", ntohs(a.sin_port), "/metrics"}, 500);
  EXPECT_FALSE(r);
}

}  // namespace
}  // namespace epcbench
