// The HTTP front: / (landing page), /healthz, and the telemetry path, served by CivetWeb.
//
// prometheus-cpp's Exposer only serves registered collectables and cannot answer / or /healthz, return 405, cap
// concurrent requests or check credentials, so CivetWeb is used directly and prometheus-cpp's TextSerializer
// writes the exposition format.
#pragma once

#include <atomic>
#include <functional>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"
#include "core/web_config.h"

struct mg_context;
struct mg_connection;

namespace epc {

class Scraper;

struct HttpOptions {
  std::string listen_address = ":9840";
  std::string telemetry_path = "/metrics";
  unsigned max_requests = 40;
  unsigned request_timeout_ms = 10000;
  // Idle time a kept-alive connection may hold a worker thread.
  unsigned keep_alive_timeout_ms = 5000;
  // Request line plus headers; larger requests are refused by CivetWeb.
  unsigned max_request_bytes = 8192;
  // Per-workload series beyond this many workloads are folded into cgroup="_overflow" (0: no limit).
  std::size_t max_workloads = 0;
  // TLS from the web config: the port then speaks only TLS.
  std::optional<TlsConfig> tls;
  // Extra response headers (web config http_server_config.headers).
  std::vector<std::pair<std::string, std::string>> headers;
  // Extra CivetWeb options (name, value, name, value...).
  std::vector<std::string> civetweb_options;
  // Called with the Authorization header ("" when absent) for every request except /healthz; false: 401.
  std::function<bool(std::string_view authorization)> authorize;
};

class HttpServer {
 public:
  static Result<std::unique_ptr<HttpServer>> start(HttpOptions options, const Scraper& scraper);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The ports actually bound (useful with port 0).
  std::vector<int> ports() const;

 private:
  HttpServer(HttpOptions options, const Scraper& scraper);
  static int handle(mg_connection* conn, void* self);
  int handle(mg_connection* conn);
  void serve_metrics(mg_connection* conn, bool head);
  void respond(mg_connection* conn, int status, const char* reason, const std::string& content_type,
               const std::string& body, bool head = false, const std::string& extra_headers = {}) const;
  void respond_text(mg_connection* conn, int status, const char* reason, const std::string& text,
                    bool head = false, const std::string& extra_headers = {}) const;
  static int init_ssl(void* ssl_ctx, void* self);

  HttpOptions options_;
  const Scraper& scraper_;
  std::string common_headers_;  // "Name: value\r\n"... added to every response
  mg_context* ctx_ = nullptr;
  std::atomic<unsigned> in_flight_{0};
};

// ":9840" -> "9840", "127.0.0.1:9840" and "[::1]:9840" unchanged: CivetWeb's listening_ports syntax.
std::string civetweb_listening_port(const std::string& listen_address);

}  // namespace epc
