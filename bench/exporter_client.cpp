#include "exporter_client.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

namespace epcbench {
namespace {

bool is_name_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':'; }
bool is_name_char(char c) { return is_name_start(c) || std::isdigit(static_cast<unsigned char>(c)); }

std::optional<double> parse_value(std::string_view s) {
  if (s == "NaN") return std::numeric_limits<double>::quiet_NaN();
  if (s == "+Inf" || s == "Inf") return std::numeric_limits<double>::infinity();
  if (s == "-Inf") return -std::numeric_limits<double>::infinity();
  if (s.empty()) return std::nullopt;
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

Result<std::vector<Sample>> parse_prometheus_text(std::string_view text) {
  std::vector<Sample> out;
  std::size_t lineno = 0;
  while (!text.empty()) {
    std::size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::size_t i = 0;
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    if (i == line.size() || line[i] == '#') continue;
    auto bad = [&](const char* why) { return make_error("metrics line " + std::to_string(lineno) + ": " + why); };
    Sample s;
    if (!is_name_start(line[i])) return bad("expected a metric name");
    std::size_t st = i;
    while (i < line.size() && is_name_char(line[i])) ++i;
    s.name = std::string(line.substr(st, i - st));
    if (i < line.size() && line[i] == '{') {
      ++i;
      for (;;) {
        while (i < line.size() && line[i] == ' ') ++i;
        if (i < line.size() && line[i] == '}') {
          ++i;
          break;
        }
        if (i >= line.size() || !is_name_start(line[i])) return bad("expected a label name");
        st = i;
        while (i < line.size() && is_name_char(line[i])) ++i;
        std::string key(line.substr(st, i - st));
        if (i >= line.size() || line[i] != '=') return bad("expected '=' after a label name");
        ++i;
        if (i >= line.size() || line[i] != '"') return bad("expected a quoted label value");
        ++i;
        std::string val;
        bool closed = false;
        while (i < line.size()) {
          char c = line[i++];
          if (c == '"') {
            closed = true;
            break;
          }
          if (c == '\\') {
            if (i >= line.size()) return bad("dangling escape in a label value");
            char e = line[i++];
            if (e == 'n')
              val += '\n';
            else if (e == '\\' || e == '"')
              val += e;
            else
              return bad("unknown escape in a label value");
          } else {
            val += c;
          }
        }
        if (!closed) return bad("unterminated label value");
        s.labels[std::move(key)] = std::move(val);
        while (i < line.size() && line[i] == ' ') ++i;
        if (i < line.size() && line[i] == ',') {
          ++i;
          continue;
        }
        if (i < line.size() && line[i] == '}') {
          ++i;
          break;
        }
        return bad("expected ',' or '}' in a label set");
      }
    }
    if (i >= line.size() || (line[i] != ' ' && line[i] != '\t')) return bad("expected a space before the value");
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    st = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    auto v = parse_value(line.substr(st, i - st));
    if (!v) return bad("bad sample value");
    s.value = *v;
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    if (i < line.size()) {  // optional timestamp: an integer
      std::int64_t ts = 0;
      auto rest = line.substr(i);
      auto [p, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), ts);
      if (ec != std::errc() || p != rest.data() + rest.size()) return bad("trailing garbage after the value");
    }
    out.push_back(std::move(s));
  }
  return out;
}

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
  int fd = -1;
  std::string last = "no address";
  for (addrinfo* a = res; a != nullptr && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) continue;
    if (connect(fd, a->ai_addr, a->ai_addrlen) != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      int err = 0;
      socklen_t len = sizeof err;
      if (poll(&p, 1, timeout_ms) != 1 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
        last = err != 0 ? std::strerror(err) : "connect timed out";
        close(fd);
        fd = -1;
      }
    } else if (errno != 0 && errno != EINPROGRESS) {
      last = std::strerror(errno);
    }
  }
  freeaddrinfo(res);
  if (fd < 0) return make_error("connect " + url.host + ":" + port + ": " + last);
  std::string req = "GET " + url.path + " HTTP/1.0\r\nHost: " + url.host + "\r\nAccept: text/plain\r\nConnection: close\r\n\r\n";
  std::size_t sent = 0;
  std::string resp;
  char buf[16384];
  for (;;) {
    pollfd p{fd, static_cast<short>(sent < req.size() ? POLLOUT : POLLIN), 0};
    int n = poll(&p, 1, timeout_ms);
    if (n <= 0) {
      close(fd);
      return make_error("exporter did not answer within " + std::to_string(timeout_ms) + " ms");
    }
    if (sent < req.size()) {
      ssize_t w = send(fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
      if (w < 0 && errno != EAGAIN) {
        close(fd);
        return make_error(std::string("send: ") + std::strerror(errno));
      }
      if (w > 0) sent += static_cast<std::size_t>(w);
      continue;
    }
    ssize_t r = recv(fd, buf, sizeof buf, 0);
    if (r == 0) break;
    if (r < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      close(fd);
      return make_error(std::string("recv: ") + std::strerror(errno));
    }
    resp.append(buf, static_cast<std::size_t>(r));
    if (resp.size() > max_bytes) {
      close(fd);
      return make_error("exporter response larger than " + std::to_string(max_bytes) + " bytes");
    }
  }
  close(fd);
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

bool WorkloadSelector::matches(const Sample& s) const {
  // An empty label is an absent one (every series of a family carries all its label names; Prometheus drops the
  // empty ones).
  auto get = [&](const char* k) -> const std::string* {
    auto it = s.labels.find(k);
    return it == s.labels.end() || it->second.empty() ? nullptr : &it->second;
  };
  if (!pod.empty()) {
    const std::string* ns = get("namespace");
    const std::string* p = get("pod");
    if (ns == nullptr || p == nullptr) {  // scraped through a ServiceMonitor without honorLabels
      ns = get("exported_namespace");
      p = get("exported_pod");
    }
    return ns != nullptr && p != nullptr && *ns == namespace_name && *p == pod;
  }
  const std::string* c = get("cgroup");
  return c != nullptr && *c == cgroup;
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
