#include "exporter_client.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <variant>

#include "host/owned_fd.h"

namespace epcbench {

Result<HttpUrl> parse_http_url(std::string_view url) {
  constexpr std::string_view scheme = "http://";
  if (url.substr(0, scheme.size()) != scheme) return make_error("exporter URL must start with http:// (got '" + std::string(url) + "')");
  url.remove_prefix(scheme.size());
  HttpUrl u;
  std::size_t slash = url.find('/');
  std::string_view hostport = url.substr(0, slash);
  u.path = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  std::size_t colon = hostport.rfind(':');
  if (colon != std::string_view::npos) {
    unsigned port = 0;
    auto ps = hostport.substr(colon + 1);
    auto [p, ec] = std::from_chars(ps.data(), ps.data() + ps.size(), port);
    if (ec != std::errc() || p != ps.data() + ps.size() || port == 0 || port > 65535)
      return make_error("exporter URL: bad port '" + std::string(ps) + "'");
    u.port = static_cast<std::uint16_t>(port);
    hostport = hostport.substr(0, colon);
  }
  if (hostport.empty()) return make_error("exporter URL: empty host");
  u.host = std::string(hostport);
  return u;
}

Result<std::string> http_get(const HttpUrl& url, int timeout_ms, std::size_t max_bytes) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string port = std::to_string(url.port);
  if (int rc = getaddrinfo(url.host.c_str(), port.c_str(), &hints, &res); rc != 0)
    return make_error("resolve " + url.host + ": " + gai_strerror(rc));
  epc::OwnedFd fd;
  std::string last = "no address";
  for (addrinfo* a = res; a != nullptr && !fd; a = a->ai_next) {
    fd.reset(socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol));
    if (!fd) continue;
    if (connect(fd.get(), a->ai_addr, a->ai_addrlen) != 0 && errno == EINPROGRESS) {
      pollfd p{fd.get(), POLLOUT, 0};
      int err = 0;
      socklen_t len = sizeof err;
      if (poll(&p, 1, timeout_ms) != 1 || getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
        last = err != 0 ? std::strerror(err) : "connect timed out";
        fd.reset();
      }
    } else if (errno != 0 && errno != EINPROGRESS) {
      last = std::strerror(errno);
    }
  }
  freeaddrinfo(res);
  if (!fd) return make_error("connect " + url.host + ":" + port + ": " + last);
  std::string req = "GET " + url.path + " HTTP/1.0\r\nHost: " + url.host + "\r\nAccept: text/plain\r\nConnection: close\r\n\r\n";
  std::size_t sent = 0;
  std::string resp;
  char buf[16384];
  for (;;) {
    pollfd p{fd.get(), static_cast<short>(sent < req.size() ? POLLOUT : POLLIN), 0};
    int n = poll(&p, 1, timeout_ms);
    if (n <= 0) {
      return make_error("exporter did not answer within " + std::to_string(timeout_ms) + " ms");
    }
    if (sent < req.size()) {
      ssize_t w = send(fd.get(), req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
      if (w < 0 && errno != EAGAIN) {
        return make_error(std::string("send: ") + std::strerror(errno));
      }
      if (w > 0) sent += static_cast<std::size_t>(w);
      continue;
    }
    ssize_t r = recv(fd.get(), buf, sizeof buf, 0);
    if (r == 0) break;
    if (r < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return make_error(std::string("recv: ") + std::strerror(errno));
    }
    resp.append(buf, static_cast<std::size_t>(r));
    if (resp.size() > max_bytes) {
      return make_error("exporter response larger than " + std::to_string(max_bytes) + " bytes");
    }
  }
  fd.reset();
  std::size_t hdr_end = resp.find("\r\n\r\n");
  if (hdr_end == std::string::npos || resp.compare(0, 5, "HTTP/") != 0) return make_error("not an HTTP response");
  std::size_t sp = resp.find(' ');
  if (sp == std::string::npos || resp.compare(sp + 1, 3, "200") != 0)
    return make_error("exporter answered: " + resp.substr(0, resp.find("\r\n")));
  std::string headers = resp.substr(0, hdr_end);
  for (auto& c : headers) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (headers.find("transfer-encoding: chunked") != std::string::npos)
    return make_error("chunked response to an HTTP/1.0 request is not supported");
  if (headers.find("content-encoding: gzip") != std::string::npos) return make_error("gzip response not supported");
  return resp.substr(hdr_end + 4);
}

Result<std::vector<Sample>> scrape(const HttpUrl& url, int timeout_ms) {
  auto body = http_get(url, timeout_ms);
  if (!body) return make_error("exporter: " + body.error().message);
  auto parsed = promtext::parse_prometheus_text(body.value());
  if (auto* e = std::get_if<promtext::ParseError>(&parsed)) return make_error("exporter: " + e->what());
  return std::move(std::get<std::vector<Sample>>(parsed));
}

bool WorkloadSelector::matches(const Sample& s) const {
  // An empty label is an absent one (every series of a family carries all its label names; Prometheus drops the
  // empty ones; Sample::label returns "" for both).
  if (!pod.empty()) {
    std::string_view ns = s.label("namespace"), p = s.label("pod");
    if (ns.empty() || p.empty()) {  // scraped through a ServiceMonitor without honorLabels
      ns = s.label("exported_namespace");
      p = s.label("exported_pod");
    }
    return !ns.empty() && !p.empty() && ns == namespace_name && p == pod;
  }
  std::string_view c = s.label("cgroup");
  return !c.empty() && c == cgroup;
}

std::string WorkloadSelector::describe() const {
  if (!pod.empty()) return "pod " + namespace_name + "/" + pod;
  return "cgroup " + cgroup;
}

std::optional<std::string> cgroup_label_from_proc(std::string_view text) {
  while (!text.empty()) {
    std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (line.substr(0, 3) == "0::") {
      std::string_view path = line.substr(3);
      if (path.empty() || path[0] != '/') return std::nullopt;
      if (path == "/") return std::string("/");
      return std::string(path.substr(1));
    }
  }
  return std::nullopt;
}

ExporterCounts select_counts(const std::vector<Sample>& samples, const WorkloadSelector& sel) {
  ExporterCounts c;
  for (const Sample& s : samples) {
    if (s.name == "sgx_exporter_probe_attached" && s.value == 1) c.probes_attached = true;
    double* dst = nullptr;
    if (s.name == "sgx_epc_evicted_pages_total")
      dst = &c.evicted;
    else if (s.name == "sgx_epc_loaded_back_pages_total")
      dst = &c.loaded_back;
    else if (s.name == "sgx_enclave_page_faults_total")
      dst = &c.faults;
    if (dst == nullptr || !sel.matches(s)) continue;
    *dst += s.value;  // Kubernetes: sum over the pod's containers
    c.any_series = true;
  }
  return c;
}

}  // namespace epcbench
