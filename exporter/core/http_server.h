// The HTTP front: / (landing page), /healthz, and the telemetry path, served by CivetWeb.
//
// prometheus-cpp's Exposer only serves registered collectables and cannot answer / or /healthz, return 405, cap
// concurrent requests or check credentials, so CivetWeb is used directly and prometheus-cpp's TextSerializer
// writes the exposition format.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/result.h"

struct mg_context;
struct mg_connection;

namespace epc {

class Scraper;

struct HttpOptions {
  std::string listen_address = ":9840";
  std::string telemetry_path = "/metrics";
  unsigned max_requests = 40;
  unsigned request_timeout_ms = 10000;
  // Extra CivetWeb options (name, value, name, value...), e.g. TLS settings from the web config file.
  std::vector<std::string> civetweb_options;
  // Called for every request except /healthz; returns false after it has answered (e.g. 401) itself.
  std::function<bool(mg_connection*)> authorize;
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

  HttpOptions options_;
  const Scraper& scraper_;
  mg_context* ctx_ = nullptr;
  std::atomic<unsigned> in_flight_{0};
};

// ":9840" -> "9840", "127.0.0.1:9840" and "[::1]:9840" unchanged: CivetWeb's listening_ports syntax.
std::string civetweb_listening_port(const std::string& listen_address);

}  // namespace epc
