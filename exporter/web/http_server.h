// The HTTP front: / (landing page), /healthz, and the telemetry path.
//
// Event-driven (Boost.Asio + Boost.Beast): one I/O thread accepts and runs every connection, so a client that
// connects and sends nothing, or sends its request a byte at a time, costs a socket and a few hundred bytes, never
// a thread. Requests other than /healthz (scrape, serialisation, compression) run on a small fixed worker pool and
// the response is handed back to the I/O thread. With basic auth, a request is admitted there only once its
// Authorization header is known good (web/basic_auth.h, a cache lookup); a header never seen is verified (bcrypt)
// on a pool of its own within a budget of its own, so clients without the password never take a request slot and
// never delay a scrape whose credentials were verified before. TLS is OpenSSL on the socket itself
// (web/tls_stream.h: about 20 KiB per open connection, not asio::ssl's 100), its context configured by
// configure_tls_ctx() (web/tls.h); connections past their first TLS byte are capped by the memory the process
// may use (max_tls_connections), and the heap is trimmed as a flood of them ends.
//
// A thin adapter over the scrape pipeline: the telemetry path asks Scraper::render_within() for the exposition
// text (collectors, self metrics, workload cap, serialisation all happen there) and only compresses and sends it.
// prometheus-cpp's Exposer only serves registered collectables and cannot answer / or /healthz, return 405, cap
// concurrent requests or check credentials.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "host/result.h"
#include "web/web_config.h"

namespace epc {

class BasicAuth;
class Scraper;

struct HttpOptions {
  std::string listen_address = ":9840";
  std::string telemetry_path = "/metrics";
  // Authorized requests (other than /healthz) being served at once; one more is answered 503 with Retry-After.
  unsigned max_requests = 40;
  // Time a connection has to send a complete request (TLS handshake included) and to take its response; also the
  // longest a scrape waits for another one to finish.
  unsigned request_timeout_ms = 10000;
  // Idle time allowed between requests on a kept-alive connection.
  unsigned keep_alive_timeout_ms = 5000;
  // Request line plus headers, and separately the body; larger requests are refused and the connection closed.
  unsigned max_request_bytes = 8192;
  // Open connections. At the cap the oldest connection that has not yet sent a complete request is closed to make
  // room (failing that, the oldest idle kept-alive one), so clients that send nothing cannot lock scrapers out.
  unsigned max_connections = 4096;
  // TLS connections that started a handshake (each holds OpenSSL's state, up to kTlsConnectionBytes); at the cap
  // the oldest one without a request is closed to make room (failing that, the oldest idle one). 0: derived from
  // the memory the process may use (tls_connection_cap()), logged at start.
  unsigned max_tls_connections = 0;
  // Threads that serve requests off the I/O thread; 0: min(max_requests, 4). Scrapes are serialised by the
  // scraper, so more threads only help the landing page and requests that wait for a running scrape.
  unsigned workers = 0;
  // Authorization headers being verified at once (distinct headers: requests with the same header wait for one
  // bcrypt run); one more is answered 429 with Retry-After at once and its connection closed. They run on one
  // thread of their own: a flood of wrong passwords costs at most one core.
  unsigned max_unverified = 4;
  // TLS from the web config: the port then speaks only TLS.
  std::optional<TlsConfig> tls;
  // Extra response headers (web config http_server_config.headers).
  std::vector<std::pair<std::string, std::string>> headers;
  // Basic auth for every request except /healthz (absent: none); wrong or missing credentials get 401.
  std::shared_ptr<BasicAuth> auth;
};

class HttpServer {
 public:
  static Result<std::unique_ptr<HttpServer>> start(HttpOptions options, const Scraper& scraper);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The ports actually bound (useful with port 0).
  std::vector<int> ports() const;

  struct Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// What one open TLS connection may hold at most: OpenSSL's SSL object and handshake state, a record buffer while a
// record is in flight, the request and response of the connection (tests/load/tls_flood_test.py measures it and
// fails when a connection costs more).
inline constexpr std::uint64_t kTlsConnectionBytes = 32 * 1024;

// The TLS connection cap for a process that may use memory_limit bytes (host/memory_limit.h): half of it for TLS
// connections (the other half for the process itself and its scrapes) at kTlsConnectionBytes each, at least 64,
// at most max_connections. A 128 MiB DaemonSet limit gives 2048.
unsigned tls_connection_cap(std::uint64_t memory_limit, unsigned max_connections);

// "[host]:port" as --web.listen-address takes it: ":9840" (every address, IPv6 and IPv4), "127.0.0.1:9840",
// "[::1]:9840", "localhost:9840". The host comes back without brackets, "" for every address.
struct ListenAddress {
  std::string host;
  std::uint16_t port = 0;
};
Result<ListenAddress> parse_listen_address(std::string_view address);

// True when an Accept-Encoding header value allows gzip (RFC 9110 section 12.5.3: "gzip", "x-gzip" or "*" with a
// non-zero q; an explicit gzip;q=0 refuses it).
bool accepts_gzip(std::string_view accept_encoding);

// The gzip member (RFC 1952) of data, at zlib's fastest level: a scrape is compressed once and sent once.
Result<std::string> gzip_compress(std::string_view data);

}  // namespace epc
