#include "web/http_server.h"

#include <malloc.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>
#include <zlib.h>

#include <algorithm>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <chrono>
#include <functional>
#include <list>
#include <thread>
#include <type_traits>
#include <unordered_map>

#include "host/log_fields.h"
#include "host/memory_limit.h"
#include "host/parse.h"
#include "scrape/scraper.h"
#include "web/basic_auth.h"
#include "web/tls.h"
#include "web/tls_stream.h"

namespace epc {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr const char* kLanding = R"(<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>SGX EPC Exporter</title></head>
<body><h1>SGX EPC Exporter</h1>
<p>Per-pod Intel SGX Enclave Page Cache usage and paging, for Prometheus.</p>
<ul><li><a href="{path}">Metrics</a></li><li><a href="/healthz">Health</a></li></ul>
</body></html>
)";
constexpr const char* kTextPlain = "text/plain; charset=utf-8";
// Time a TLS peer gets to take our close_notify before the socket is closed anyway.
constexpr auto kTlsShutdownTimeout = std::chrono::seconds(1);
// After a flood of TLS connections (at least this many at once), each time the open ones have halved again (down
// to a few), the heap's free pages go back to the system (malloc_trim): with one arena (app/main.cpp) the closed
// connections' memory lies between live blocks, and glibc returns only the top of the heap by itself.
constexpr unsigned kTrimAfterTlsSessions = 256;
constexpr unsigned kTrimDownTo = 16;

// What a request is answered with, built on a worker (or inline for /healthz and refusals).
struct Reply {
  unsigned status = 200;
  std::string content_type = kTextPlain;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // beyond the common ones
  bool close = false;                                          // close the connection after this response
};

Reply text(unsigned status, std::string body, std::vector<std::pair<std::string, std::string>> headers = {}) {
  Reply r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

Reply unauthorized() {
  return text(401, "unauthorized\n", {{"WWW-Authenticate", "Basic realm=\"epc_exporter\", charset=\"UTF-8\""}});
}

std::string_view trim_ows(std::string_view s) {  // RFC 9110 optional white space
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return std::tolower(x) == std::tolower(y); });
}

}  // namespace

Result<ListenAddress> parse_listen_address(std::string_view address) {
  auto colon = address.rfind(':');
  if (colon == std::string_view::npos) return make_error("'" + std::string(address) + "' has no :port");
  auto port = parse_u64(address.substr(colon + 1));
  if (!port || *port > 65535) return make_error("bad port in '" + std::string(address) + "'");
  std::string_view host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return make_error("IPv6 addresses need brackets, e.g. [::1]:9840");
  }
  return ListenAddress{std::string(host), static_cast<std::uint16_t>(*port)};
}

bool accepts_gzip(std::string_view header) {
  bool star = false;
  while (!header.empty()) {
    auto comma = header.find(',');
    std::string_view item = header.substr(0, comma);
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    auto semi = item.find(';');
    std::string_view coding = trim_ows(item.substr(0, semi));
    bool allowed = true;
    while (semi != std::string_view::npos) {  // parameters: only q matters
      item = item.substr(semi + 1);
      semi = item.find(';');
      std::string_view param = trim_ows(item.substr(0, semi));
      if (param.size() >= 2 && (param[0] == 'q' || param[0] == 'Q') && param[1] == '=') {
        std::string_view q = trim_ows(param.substr(2));
        // q is 0, 0., 0.0, 0.00 or 0.000 exactly when it has no non-zero digit.
        allowed = q.find_first_of("123456789") != std::string_view::npos;
      }
    }
    if (iequals(coding, "gzip") || iequals(coding, "x-gzip")) return allowed;
    if (coding == "*") star = allowed;
  }
  return star;
}

unsigned tls_connection_cap(std::uint64_t memory_limit, unsigned max_connections) {
  const std::uint64_t fit = memory_limit / 2 / kTlsConnectionBytes;
  return static_cast<unsigned>(std::min<std::uint64_t>(max_connections, std::max<std::uint64_t>(64, fit)));
}

Result<std::string> gzip_compress(std::string_view data) {
  z_stream zs{};
  // 15 window bits + 16: a gzip header and trailer instead of zlib's.
  if (deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return make_error("gzip: deflateInit2 failed");
  std::string out;
  out.resize(deflateBound(&zs, static_cast<uLong>(data.size())) + 32);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) return make_error("gzip: deflate did not finish");
  return out;
}

// ---------------------------------------------------------------------------------------------------------------

class Connection;

struct HttpServer::Impl {
  Impl(HttpOptions o, const Scraper& s) : options(std::move(o)), scraper(s) {
    for (const auto& [name, value] : options.headers) common_headers.emplace_back(name, value);
    unsigned n = options.workers ? options.workers : std::min(options.max_requests, 4u);
    workers.emplace(std::max(1u, n));
    if (options.auth && options.auth->enabled()) verifier.emplace(1);
  }

  // What a header never seen came to; kBusy: the budget of headers being verified was full.
  enum class Verified { kAllowed, kDenied, kBusy };
  using VerifiedFn = std::function<void(Verified)>;
  // On the I/O thread: verifies a header (key: its keyed hash) on the verifier thread and calls done there
  // afterwards, back on the I/O thread; requests with a header already being verified wait for that one run.
  void verify(const std::string& key, std::string header, VerifiedFn done);

  Status listen();
  struct Listener {
    explicit Listener(asio::io_context& io) : acceptor(io), retry(io) {}
    tcp::acceptor acceptor;
    asio::steady_timer retry;  // waits before accepting again after running out of descriptors
  };
  void accept(Listener& listener);
  void admit(tcp::socket socket);
  bool evict_one(bool tls_only = false);
  Reply handle(const http::request<http::string_body>& req, const std::string& path, bool head) const;
  Reply serve_metrics(const http::request<http::string_body>& req) const;

  HttpOptions options;
  const Scraper& scraper;
  std::vector<std::pair<std::string, std::string>> common_headers;
  struct CtxFree {
    void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
  };
  std::unique_ptr<SSL_CTX, CtxFree> tls;
  // TLS connections that started a handshake (each holds an SSL object) and the cap on them; I/O thread only.
  unsigned tls_sessions = 0, max_tls_sessions = 0;
  unsigned trim_at = 0;  // the next malloc_trim when the open TLS connections fall to this; 0: none due
  void tls_session_opened() {
    if (++tls_sessions >= kTrimAfterTlsSessions) trim_at = std::max(trim_at, tls_sessions / 2);
  }
  void tls_session_closed();

  // Open connections in accept order; touched only on the I/O thread (and, after it stopped, by the destructor).
  std::list<Connection*> connections;
  // Requests handed to the workers and not yet answered; touched only on the I/O thread.
  unsigned in_flight = 0;

  // Declared after `connections`, so its pending handlers (which own connections) go first.
  asio::io_context io{1};
  std::list<Listener> listeners;  // a list: accept handlers hold references to its elements
  std::optional<asio::thread_pool> workers;
  std::optional<asio::thread_pool> verifier;  // bcrypt runs, one at a time, off the workers
  // Headers being verified (keyed hash -> the requests waiting for the verdict); I/O thread only. Declared after
  // `io`, so the connections its callbacks hold close while the I/O context still exists.
  std::unordered_map<std::string, std::vector<VerifiedFn>> unverified;
  std::thread io_thread;
};

void HttpServer::Impl::verify(const std::string& key, std::string header, VerifiedFn done) {
  auto [it, first] = unverified.try_emplace(key);
  if (first && unverified.size() > options.max_unverified) {
    unverified.erase(it);
    return done(Verified::kBusy);
  }
  it->second.push_back(std::move(done));
  if (!first) return;
  asio::post(*verifier, [this, key, header = std::move(header)]() mutable {
    bool ok = false;
    try {
      ok = options.auth->verify(header, key);
    } catch (const std::exception& e) {  // out of memory in crypt: refused, the server goes on
      spdlog::warn("{}", log_fields("credential check failed", {{"component", "http"}, {"err", e.what()}}));
    }
    asio::post(io, [this, key = std::move(key), ok] {
      auto node = unverified.extract(key);
      if (node.empty()) return;
      for (auto& waiter : node.mapped()) waiter(ok ? Verified::kAllowed : Verified::kDenied);
    });
  });
}

// One client connection: Plain or TLS stream, the state the connection caps need, its place in the server's list.
class Connection {
 public:
  enum class State { kFresh, kIdle, kBusy };
  Connection(HttpServer::Impl& server, bool tls_session) : server_(server), tls_session_(tls_session) {
    it_ = server_.connections.insert(server_.connections.end(), this);
    if (tls_session_) server_.tls_session_opened();
  }
  virtual ~Connection() { leave(); }
  // Closes the socket (pending operations end with an error and the connection goes away) and leaves the list.
  void evict() {
    leave();
    close_socket();
  }
  State state() const { return state_; }
  bool tls_session() const { return tls_session_; }

 protected:
  // Leaves the list (and the TLS count) without closing (the socket may move on to another connection object).
  void leave() {
    if (!listed_) return;
    server_.connections.erase(it_);
    listed_ = false;
    if (tls_session_) server_.tls_session_closed();
  }
  virtual void close_socket() = 0;
  HttpServer::Impl& server_;
  State state_ = State::kFresh;

 private:
  std::list<Connection*>::iterator it_;
  bool listed_ = true;
  const bool tls_session_;
};

void HttpServer::Impl::tls_session_closed() {
  if (--tls_sessions > trim_at || trim_at == 0) return;
  trim_at = trim_at / 2 >= kTrimDownTo ? trim_at / 2 : 0;
  asio::post(*workers, [] { ::malloc_trim(0); });  // can take milliseconds on a large heap: not on the I/O thread
}

template <class Stream>
class Session : public Connection, public std::enable_shared_from_this<Session<Stream>> {
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

 public:
  template <class... Args>
  Session(HttpServer::Impl& server, Args&&... args)
      : Connection(server, kTls),
        stream_(std::forward<Args>(args)...),
        // Room for the header and body limits; a client that sends more is refused, not buffered.
        buffer_(2 * static_cast<std::size_t>(server.options.max_request_bytes) + 4096) {}

  void start() {
    if constexpr (kTls) {
      stream_.expires_after(request_timeout());
      stream_.async_handshake([self = this->shared_from_this()](error_code ec) {
        if (ec) return self->close_now();
        self->read();
      });
    } else {
      read();
    }
  }

 private:
  std::chrono::milliseconds request_timeout() const {
    return std::chrono::milliseconds(server_.options.request_timeout_ms);
  }

  void close_socket() override {
    error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.socket().close(ec);
  }
  void close_now() { close_socket(); }

  // The first request must be complete within the request timeout of the accept (or handshake); later ones within
  // the keep-alive timeout of the previous response. The deadline covers idle time, header and body alike.
  void read() {
    parser_.emplace();
    parser_->header_limit(server_.options.max_request_bytes);
    parser_->body_limit(server_.options.max_request_bytes);
    stream_.expires_after(state_ == State::kFresh ? request_timeout()
                                                   : std::chrono::milliseconds(server_.options.keep_alive_timeout_ms));
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = this->shared_from_this()](error_code ec, std::size_t) { self->on_header(ec); });
  }

  // A client that sent "Expect: 100-continue" waits for it before sending the body (RFC 9110 10.1.1): answered at
  // once, or both sides would wait for the other until the request timeout. The body, if any, follows.
  void on_header(error_code ec) {
    if (ec) return on_read(ec);
    auto read_rest = [self = this->shared_from_this()](error_code ec2 = {}, std::size_t = 0) {
      if (ec2) return self->close_now();
      http::async_read(self->stream_, self->buffer_, *self->parser_,
                       [self](error_code ec3, std::size_t) { self->on_read(ec3); });
    };
    const auto& req = parser_->get();
    auto expect = req.find(http::field::expect);
    if (expect != req.end() && req.version() >= 11 && !parser_->is_done() &&
        iequals(trim_ows(std::string_view(expect->value().data(), expect->value().size())), "100-continue")) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      return asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()), std::move(read_rest));
    }
    read_rest();
  }

  void on_read(error_code ec) {
    if (ec) {
      if (ec == http::error::header_limit || ec == http::error::buffer_overflow)
        return respond(with_close(text(400, "request line and headers too large\n")), /*head=*/false, 11);
      if (ec == http::error::body_limit)
        return respond(with_close(text(413, "request body too large\n")), false, 11);
      // Timeout, end of stream, eviction: nothing to answer. A malformed request gets a 400.
      if (ec.category() == http::make_error_code(http::error::bad_target).category() &&
          ec != http::error::end_of_stream && ec != http::error::partial_message)
        return respond(with_close(text(400, "bad request\n")), false, 11);
      return close_now();
    }
    state_ = State::kBusy;
    auto& req = parser_->get();
    std::string path(req.target().substr(0, req.target().find('?')));
    const bool head = req.method() == http::verb::head;
    const bool get_or_head = head || req.method() == http::verb::get;
    keep_alive_ = req.keep_alive();
    const unsigned version = req.version() == 10 ? 10 : 11;

    if (path == "/healthz") {  // liveness: never behind authentication or the request cap
      if (!get_or_head) return respond(text(405, "method not allowed\n", {{"Allow", "GET, HEAD"}}), false, version);
      return respond(text(200, "ok\n"), head, version);
    }
    if (const auto& auth = server_.options.auth; auth && auth->enabled()) {
      auto it = req.find(http::field::authorization);
      std::string_view header = it == req.end() ? std::string_view() : std::string_view(it->value().data(), it->value().size());
      auto found = auth->lookup(header);
      if (found.verdict == BasicAuth::Verdict::kDenied) return respond(unauthorized(), head, version);
      if (found.verdict == BasicAuth::Verdict::kUnverified) {
        return server_.verify(found.key, std::string(header),
                              [self = this->shared_from_this(), path = std::move(path), head,
                               version](HttpServer::Impl::Verified v) mutable {
                                using V = HttpServer::Impl::Verified;
                                if (v == V::kAllowed) return self->dispatch(std::move(path), head, version);
                                if (v == V::kDenied) return self->respond(unauthorized(), head, version);
                                self->respond(with_close(text(429, "too many unverified credentials\n",
                                                              {{"Retry-After", "1"}})),
                                              head, version);
                              });
      }
    }
    dispatch(std::move(path), head, version);
  }

  // An authorized request (or any, without basic auth) within --web.max-requests, handled on a worker.
  void dispatch(std::string path, bool head, unsigned version) {
    if (server_.in_flight >= server_.options.max_requests)
      return respond(text(503, "too many concurrent requests\n", {{"Retry-After", "1"}}), head, version);
    ++server_.in_flight;
    auto request = std::make_shared<http::request<http::string_body>>(parser_->release());
    asio::post(*server_.workers, [self = this->shared_from_this(), request, path = std::move(path), head,
                                  version]() mutable {
      Reply reply;
      try {
        reply = self->server_.handle(*request, path, head);
      } catch (const std::exception& e) {  // e.g. out of memory while serialising: this request fails, not the server
        spdlog::error("{}", log_fields("request failed", {{"component", "http"},
                                                          {"method", std::string(request->method_string())},
                                                          {"path", path},
                                                          {"err", e.what()}}));
        reply = text(500, "internal error\n");
      }
      auto& io = self->server_.io;
      asio::post(io, [self = std::move(self), reply = std::move(reply), head, version]() mutable {
        --self->server_.in_flight;
        self->respond(std::move(reply), head, version);
      });
    });
  }

  static Reply with_close(Reply r) {
    r.close = true;
    return r;
  }

  void respond(Reply reply, bool head, unsigned version) {
    state_ = State::kBusy;
    response_.emplace(static_cast<http::status>(reply.status), version);
    auto& res = *response_;
    res.set(http::field::content_type, reply.content_type);
    // No caching headers, as the Prometheus clients: client_golang's promhttp (node_exporter, Prometheus' own
    // /metrics) sets none, nor Last-Modified or ETag, so no conditional request can match: If-Modified-Since and
    // If-None-Match are ignored and every scrape is a fresh 200, never a 304.
    res.set("X-Content-Type-Options", "nosniff");
    for (const auto& [name, value] : server_.common_headers) res.set(name, value);
    for (const auto& [name, value] : reply.headers) res.set(name, value);
    if (reply.close) keep_alive_ = false;
    res.keep_alive(keep_alive_);
    // A HEAD answer runs the same handler as GET (the scrape, gzip when negotiated) and carries the same headers:
    // Content-Type, Content-Encoding, and the Content-Length of the body GET would send; only the body is not
    // written (RFC 9110 9.3.2).
    res.content_length(reply.body.size());
    res.body() = std::move(reply.body);
    serializer_.emplace(res);
    stream_.expires_after(request_timeout());
    auto done = [self = this->shared_from_this()](error_code ec, std::size_t) { self->on_write(ec); };
    if (head)
      http::async_write_header(stream_, *serializer_, std::move(done));
    else
      http::async_write(stream_, *serializer_, std::move(done));
  }

  void on_write(error_code ec) {
    serializer_.reset();
    response_.reset();
    if (ec) return close_now();
    if (!keep_alive_) return shut_down();
    state_ = State::kIdle;
    read();
  }

  void shut_down() {
    if constexpr (kTls) {
      stream_.expires_after(kTlsShutdownTimeout);
      stream_.async_shutdown([self = this->shared_from_this()](error_code) { self->close_now(); });
    } else {
      close_now();
    }
  }

  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::string_body>> response_;
  std::optional<http::response_serializer<http::string_body>> serializer_;
  bool keep_alive_ = true;
};

using PlainSession = Session<beast::tcp_stream>;
using TlsSession = Session<TlsStream>;

// A TLS connection before its first byte: only the socket and a timer. The TLS stream (OpenSSL's SSL object,
// web/tls_stream.h) is made once the client starts its handshake, so clients that connect and send nothing cost
// what they cost on a plain port; from there the TLS cap applies (HttpOptions::max_tls_connections).
class TlsWaiter : public Connection, public std::enable_shared_from_this<TlsWaiter> {
 public:
  TlsWaiter(HttpServer::Impl& server, tcp::socket socket)
      : Connection(server, false), socket_(std::move(socket)), timer_(server.io) {}

  void start() {
    timer_.expires_after(std::chrono::milliseconds(server_.options.request_timeout_ms));
    timer_.async_wait([self = shared_from_this()](error_code ec) {
      if (!ec) self->close_socket();
    });
    socket_.async_wait(tcp::socket::wait_read, [self = shared_from_this()](error_code ec) {
      self->timer_.cancel();
      if (ec || !self->socket_.is_open()) return;
      auto& server = self->server_;
      // At the TLS cap the oldest TLS connection without a request (failing that, the oldest idle one) makes
      // room; when every one is busy this one is closed.
      if (server.tls_sessions >= server.max_tls_sessions && !server.evict_one(/*tls_only=*/true)) {
        spdlog::debug("{}", log_fields("TLS connection cap reached with every TLS connection busy; refusing one",
                                       {{"component", "http"},
                                        {"max_tls_connections", std::to_string(server.max_tls_sessions)}}));
        return self->close_socket();
      }
      self->leave();
      std::make_shared<TlsSession>(server, std::move(self->socket_), server.tls.get())->start();
    });
  }

 private:
  void close_socket() override {
    error_code ec;
    socket_.close(ec);
    timer_.cancel();
  }
  tcp::socket socket_;
  asio::steady_timer timer_;
};

Status HttpServer::Impl::listen() {
  auto parsed = parse_listen_address(options.listen_address);
  if (!parsed) return make_error("cannot serve on " + options.listen_address + ": " + parsed.error().message);
  std::vector<tcp::endpoint> endpoints;
  error_code ec;
  if (parsed->host.empty()) {
    // Every address: one IPv6 socket that also takes IPv4, or IPv4 alone where the host has no IPv6.
    tcp::acceptor probe(io);
    probe.open(tcp::v6(), ec);
    endpoints.emplace_back(ec ? tcp::v4() : tcp::v6(), parsed->port);
  } else {
    auto addr = asio::ip::make_address(parsed->host, ec);
    if (!ec) {
      endpoints.emplace_back(addr, parsed->port);
    } else {
      tcp::resolver resolver(io);
      auto results = resolver.resolve(parsed->host, std::to_string(parsed->port), tcp::resolver::passive, ec);
      if (ec) return make_error("cannot serve on " + options.listen_address + ": " + ec.message());
      for (const auto& r : results) endpoints.push_back(r.endpoint());
    }
  }
  for (const auto& ep : endpoints) {
    auto& a = listeners.emplace_back(io).acceptor;
    auto fail = [&](const char* what) {
      return make_error("cannot serve on " + options.listen_address + ": " + what + ": " + ec.message(), ec.value());
    };
    if (a.open(ep.protocol(), ec)) return fail("socket");
    a.set_option(tcp::acceptor::reuse_address(true), ec);
    if (ep.address().is_v6() && ep.address().is_unspecified()) a.set_option(asio::ip::v6_only(false), ec);
    if (a.bind(ep, ec)) return fail("bind");
    if (a.listen(asio::socket_base::max_listen_connections, ec)) return fail("listen");
  }
  return {};
}

void HttpServer::Impl::accept(Listener& listener) {
  listener.acceptor.async_accept(io, [this, &listener](error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !listener.acceptor.is_open()) return;
    if (ec) {
      // Out of descriptors: make room and try again shortly rather than spinning on the error.
      if (ec == asio::error::no_descriptors || ec.value() == ENFILE) {
        spdlog::warn("{}", log_fields("accept failed; closing the oldest connection without a request",
                                      {{"component", "http"}, {"err", ec.message()}}));
        evict_one();
      } else {
        spdlog::debug("{}", log_fields("accept failed", {{"component", "http"}, {"err", ec.message()}}));
      }
      listener.retry.expires_after(std::chrono::milliseconds(10));
      listener.retry.async_wait([this, &listener](error_code e) {
        if (!e) accept(listener);
      });
      return;
    }
    admit(std::move(socket));
    accept(listener);
  });
}

bool HttpServer::Impl::evict_one(bool tls_only) {
  for (auto state : {Connection::State::kFresh, Connection::State::kIdle}) {
    for (Connection* c : connections) {
      if (c->state() == state && (!tls_only || c->tls_session())) {
        c->evict();
        return true;
      }
    }
  }
  return false;
}

void HttpServer::Impl::admit(tcp::socket socket) {
  if (connections.size() >= options.max_connections && !evict_one()) {
    spdlog::debug("{}",
                  log_fields("connection cap reached with every connection busy; refusing one",
                             {{"component", "http"}, {"max_connections", std::to_string(options.max_connections)}}));
    return;  // the socket closes here
  }
  error_code ec;
  socket.set_option(tcp::no_delay(true), ec);
  if (tls) {
    std::make_shared<TlsWaiter>(*this, std::move(socket))->start();
  } else {
    std::make_shared<PlainSession>(*this, std::move(socket))->start();
  }
}

Reply HttpServer::Impl::handle(const http::request<http::string_body>& req, const std::string& path, bool head) const {
  const bool get_or_head = head || req.method() == http::verb::get;
  if (path != options.telemetry_path && path != "/") return text(404, "not found\n");
  if (!get_or_head) return text(405, "method not allowed\n", {{"Allow", "GET, HEAD"}});
  if (path == "/") {
    Reply r;
    r.content_type = "text/html; charset=utf-8";
    r.body = kLanding;
    r.body.replace(r.body.find("{path}"), 6, options.telemetry_path);
    return r;
  }
  return serve_metrics(req);
}

Reply HttpServer::Impl::serve_metrics(const http::request<http::string_body>& req) const {
  auto body = scraper.render_within(std::chrono::milliseconds(options.request_timeout_ms));
  if (!body) {
    spdlog::warn("{}", log_fields("scrape refused: another scrape still running",
                                  {{"component", "http"}, {"waited_ms", std::to_string(options.request_timeout_ms)}}));
    return text(503, "another scrape is still running\n", {{"Retry-After", "1"}});
  }
  Reply r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = std::move(*body);
  r.headers.emplace_back("Vary", "Accept-Encoding");
  auto ae = req.find(http::field::accept_encoding);
  if (ae != req.end() && accepts_gzip(std::string_view(ae->value().data(), ae->value().size()))) {
    if (auto z = gzip_compress(r.body)) {
      r.body = std::move(*z);
      r.headers.emplace_back("Content-Encoding", "gzip");
    } else {
      spdlog::warn("{}", log_fields("gzip failed; serving the scrape uncompressed",
                                    {{"component", "http"}, {"err", z.error().message}}));
    }
  }
  return r;
}

// ---------------------------------------------------------------------------------------------------------------

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() {
  auto& s = *impl_;
  s.io.stop();
  if (s.io_thread.joinable()) s.io_thread.join();
  // Running requests finish (a scrape waits at most the request timeout); queued ones are dropped. Their answers
  // are posted to the stopped I/O context and destroyed with it, which closes every connection.
  s.workers->stop();
  s.workers->join();
  if (s.verifier) {
    s.verifier->stop();
    s.verifier->join();
  }
  s.unverified.clear();  // the connections waiting for a verdict close while the I/O context exists
}

Result<std::unique_ptr<HttpServer>> HttpServer::start(HttpOptions options, const Scraper& scraper) {
  auto impl = std::make_unique<Impl>(std::move(options), scraper);
  if (impl->options.tls) {
    impl->tls.reset(SSL_CTX_new(TLS_server_method()));
    if (!impl->tls) return make_error("TLS: cannot create a context");
    if (Status s = configure_tls_ctx(impl->tls.get(), *impl->options.tls); !s) return make_error("TLS: " + s.error().message);
    // Idle TLS connections keep no record buffers; writes may be partial and resume from a moved buffer (Beast
    // hands over whatever is left of a response).
    SSL_CTX_set_mode(impl->tls.get(),
                     SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    // No server-side session cache: every full TLS 1.2 handshake would leave a session in it for minutes (a flood
    // of handshakes, megabytes that stay). Resumption still works through tickets, which the client keeps.
    SSL_CTX_set_session_cache_mode(impl->tls.get(), SSL_SESS_CACHE_OFF);
    auto& o = impl->options;
    impl->max_tls_sessions = std::min(o.max_tls_connections, o.max_connections);
    if (o.max_tls_connections == 0) {
      auto limit = process_memory_limit();
      impl->max_tls_sessions = limit ? tls_connection_cap(limit->bytes, o.max_connections) : o.max_connections;
      spdlog::info("{}", log_fields("TLS connection cap", {{"component", "http"},
                                                           {"max_tls_connections", std::to_string(impl->max_tls_sessions)},
                                                           {"memory_limit_bytes", limit ? std::to_string(limit->bytes) : "unknown"},
                                                           {"memory_limit_from", limit ? limit->source : "none"},
                                                           {"bytes_per_connection", std::to_string(kTlsConnectionBytes)}}));
    }
  }
  if (Status s = impl->listen(); !s) return s.error();
  for (auto& l : impl->listeners) impl->accept(l);
  Impl* raw = impl.get();
  impl->io_thread = std::thread([raw] {
    for (;;) {
      try {
        raw->io.run();
        return;
      } catch (const std::exception& e) {
        // A handler threw (e.g. out of memory for one response): that connection is lost, the server goes on.
        spdlog::error("{}", log_fields("connection handler failed", {{"component", "http"}, {"err", e.what()}}));
      }
    }
  });
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

std::vector<int> HttpServer::ports() const {
  std::vector<int> out;
  for (const auto& l : impl_->listeners) {
    error_code ec;
    auto ep = l.acceptor.local_endpoint(ec);
    if (!ec) out.push_back(ep.port());
  }
  return out;
}

}  // namespace epc
