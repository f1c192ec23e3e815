#include "core/http_server.h"

#include <civetweb.h>
#include <prometheus/text_serializer.h>
#include <spdlog/spdlog.h>

#include <cstring>
#include <mutex>

#include "core/scraper.h"
#include "core/series_cap.h"
#include "core/tls.h"
#include "tls_compat/ssl_compat.h"

namespace epc {
namespace {

constexpr const char* kLanding = R"(<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>SGX EPC Exporter</title></head>
<body><h1>SGX EPC Exporter</h1>
<p>Per-pod Intel SGX Enclave Page Cache usage and paging, for Prometheus.</p>
<ul><li><a href="{path}">Metrics</a></li><li><a href="/healthz">Health</a></li></ul>
</body></html>
)";

// CivetWeb reports start-up errors (e.g. port in use) through its log callback.
thread_local std::string* g_start_error = nullptr;

int log_message(const mg_connection*, const char* message) {
  if (g_start_error) {
    if (g_start_error->empty()) *g_start_error = message;  // keep the first, most specific error
  } else {
    spdlog::debug("civetweb: {}", message);
  }
  return 1;
}

}  // namespace

std::string civetweb_listening_port(const std::string& listen_address) {
  if (!listen_address.empty() && listen_address.front() == ':') return listen_address.substr(1);
  return listen_address;
}

HttpServer::HttpServer(HttpOptions options, const Scraper& scraper) : options_(std::move(options)), scraper_(scraper) {
  for (const auto& [name, value] : options_.headers) common_headers_ += name + ": " + value + "\r\n";
}

void HttpServer::respond(mg_connection* conn, int status, const char* reason, const std::string& content_type,
                         const std::string& body, bool head, const std::string& extra_headers) const {
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nCache-Control: no-store\r\n"
            "X-Content-Type-Options: nosniff\r\n%s%s\r\n",
            status, reason, content_type.c_str(), body.size(), common_headers_.c_str(), extra_headers.c_str());
  if (!head && !body.empty()) mg_write(conn, body.data(), body.size());
}

void HttpServer::respond_text(mg_connection* conn, int status, const char* reason, const std::string& text, bool head,
                              const std::string& extra_headers) const {
  respond(conn, status, reason, "text/plain; charset=utf-8", text, head, extra_headers);
}

int HttpServer::init_ssl(void* ssl_ctx, void* self) {
  auto* server = static_cast<HttpServer*>(self);
  if (!server->options_.tls) return 0;
  Status s = configure_tls_ctx(ssl_ctx, *server->options_.tls);
  if (!s) {
    if (g_start_error) *g_start_error = s.error().message;
    spdlog::error("TLS: {}", s.error().message);
    return -1;
  }
  return 1;  // the context is complete: CivetWeb must not load certificates itself
}

HttpServer::~HttpServer() {
  if (ctx_) mg_stop(ctx_);
}

Result<std::unique_ptr<HttpServer>> HttpServer::start(HttpOptions options, const Scraper& scraper) {
  static std::once_flag init;
  std::call_once(init, [] { mg_init_library(0); });

  if (options.tls) {
    if (auto s = ensure_civetweb_ssl_compat(); !s) return make_error("TLS unavailable: " + s.error().message);
  }
  if (!options.listen_address.empty() && options.listen_address.front() == '[' && !mg_check_feature(8))
    return make_error("cannot serve on " + options.listen_address +
                      ": this CivetWeb was built without IPv6 (Debian 12's is); listen on an IPv4 address");
  std::unique_ptr<HttpServer> server(new HttpServer(std::move(options), scraper));
  const auto& o = server->options_;
  // One more thread than the request cap, so the cap (503) answers before CivetWeb's queue holds clients.
  // A TLS port ("s" suffix) speaks only TLS: a plain HTTP request fails the handshake and is closed.
  std::vector<std::string> opts = {
      "listening_ports", civetweb_listening_port(o.listen_address) + (o.tls ? "s" : ""),
      "num_threads", std::to_string(o.max_requests + 1),
      "request_timeout_ms", std::to_string(o.request_timeout_ms),
      "enable_keep_alive", "yes",
      "keep_alive_timeout_ms", std::to_string(o.keep_alive_timeout_ms),
      "max_request_size", std::to_string(o.max_request_bytes),
      "linger_timeout_ms", "1000",
  };
  opts.insert(opts.end(), o.civetweb_options.begin(), o.civetweb_options.end());
  std::vector<const char*> cstrs;
  for (const auto& s : opts) cstrs.push_back(s.c_str());
  cstrs.push_back(nullptr);

  mg_callbacks callbacks{};
  callbacks.log_message = log_message;
  if (o.tls) callbacks.init_ssl = &HttpServer::init_ssl;
  std::string err;
  g_start_error = &err;
  server->ctx_ = mg_start(&callbacks, server.get(), cstrs.data());
  g_start_error = nullptr;
  if (!server->ctx_)
    return make_error("cannot serve on " + o.listen_address + (err.empty() ? std::string() : ": " + err));
  mg_set_request_handler(server->ctx_, "/", &HttpServer::handle, server.get());
  return server;
}

std::vector<int> HttpServer::ports() const {
  std::vector<int> out;
  mg_server_port ports[8];
  int n = mg_get_server_ports(ctx_, 8, ports);
  for (int i = 0; i < n; ++i) out.push_back(ports[i].port);
  return out;
}

int HttpServer::handle(mg_connection* conn, void* self) { return static_cast<HttpServer*>(self)->handle(conn); }

int HttpServer::handle(mg_connection* conn) {
  const mg_request_info* req = mg_get_request_info(conn);
  const std::string uri = req->local_uri ? req->local_uri : "";
  const std::string method = req->request_method ? req->request_method : "";
  const bool head = method == "HEAD";
  const bool get_or_head = method == "GET" || head;

  struct InFlight {
    std::atomic<unsigned>& n;
    explicit InFlight(std::atomic<unsigned>& c) : n(c) { ++n; }
    ~InFlight() { --n; }
  } in_flight(in_flight_);

  if (uri == "/healthz") {
    if (!get_or_head) {
      respond_text(conn, 405, "Method Not Allowed", "method not allowed\n", false, "Allow: GET, HEAD\r\n");
      return 405;
    }
    respond_text(conn, 200, "OK", "ok\n", head);
    return 200;
  }
  if (in_flight_.load() > options_.max_requests) {
    respond_text(conn, 503, "Service Unavailable", "too many concurrent requests\n", head, "Retry-After: 1\r\n");
    return 503;
  }
  if (options_.authorize) {
    const char* authz = mg_get_header(conn, "Authorization");
    if (!options_.authorize(authz ? std::string_view(authz) : std::string_view())) {
      respond_text(conn, 401, "Unauthorized", "unauthorized\n", head,
                   "WWW-Authenticate: Basic realm=\"epc_exporter\", charset=\"UTF-8\"\r\n");
      return 401;
    }
  }

  if (uri == options_.telemetry_path || uri == "/") {
    if (!get_or_head) {
      respond_text(conn, 405, "Method Not Allowed", "method not allowed\n", false, "Allow: GET, HEAD\r\n");
      return 405;
    }
    if (uri == "/") {
      std::string page = kLanding;
      page.replace(page.find("{path}"), 6, options_.telemetry_path);
      respond(conn, 200, "OK", "text/html; charset=utf-8", page, head);
      return 200;
    }
    serve_metrics(conn, head);
    return 200;
  }
  respond_text(conn, 404, "Not Found", "not found\n", head);
  return 404;
}

void HttpServer::serve_metrics(mg_connection* conn, bool head) {
  auto families = scraper_.collect_within(std::chrono::milliseconds(options_.request_timeout_ms));
  if (!families) {
    spdlog::warn("scrape refused: another scrape still running after {} ms", options_.request_timeout_ms);
    respond_text(conn, 503, "Service Unavailable", "another scrape is still running\n", head, "Retry-After: 1\r\n");
    return;
  }
  CapStats cap = apply_workload_cap(*families, options_.max_workloads);
  add_cap_metrics(*families, cap, options_.max_workloads);
  std::string body = prometheus::TextSerializer().Serialize(*families);
  respond(conn, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", body, head);
}

}  // namespace epc
