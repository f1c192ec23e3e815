// A server-side TLS stream for Boost.Beast that costs a TLS connection little more than OpenSSL's own state.
//
// asio::ssl::stream (and beast::ssl_stream over it) gives every connection two 17 KiB record buffers of its own
// plus a 2 x 17 KiB BIO pair between them and OpenSSL, allocated for the connection's whole life: with OpenSSL's
// state about 100 KiB per connection, so about 1,150 clients that complete a handshake (no credentials needed)
// took a DaemonSet past its 128 MiB limit (issue 23). Here OpenSSL reads and writes the socket itself through a
// minimal BIO (recv/send with MSG_NOSIGNAL: no SIGPIPE whatever the process does with signals) and, with
// SSL_MODE_RELEASE_BUFFERS on the context, holds record buffers only while a record is in flight; readiness comes
// from the socket's async_wait. Timeouts as beast::tcp_stream's: expires_after() closes the socket when the time
// passes and the pending operation ends with beast::error::timeout.
//
// Models Beast's AsyncReadStream and AsyncWriteStream (async_read_some, async_write_some, get_executor), so
// http::async_read and http::async_write work on it unchanged. One operation of each direction at a time, as
// with any asio stream; everything runs on the server's single I/O thread.
#pragma once

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <boost/asio/async_result.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>
#include <chrono>
#include <climits>
#include <cstddef>
#include <memory>
#include <type_traits>
#include <utility>

namespace epc {

class TlsStream {
 public:
  using executor_type = boost::asio::ip::tcp::socket::executor_type;
  using error_code = boost::system::error_code;

  // Takes the accepted socket; SSL_new on ctx (throws std::bad_alloc when OpenSSL cannot allocate).
  TlsStream(boost::asio::ip::tcp::socket socket, SSL_CTX* ctx);
  ~TlsStream();
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  executor_type get_executor() { return socket_.get_executor(); }
  boost::asio::ip::tcp::socket& socket() { return socket_; }

  // The pending and following operations must end within d, else the socket is closed (as beast::tcp_stream).
  void expires_after(std::chrono::steady_clock::duration d);

  template <class Handler>
  auto async_handshake(Handler&& handler) {
    return run<false>([this](std::size_t&) { return step(SSL_do_handshake(ssl_.get())); },
                      std::forward<Handler>(handler));
  }

  template <class MutableBuffers, class Handler>
  auto async_read_some(const MutableBuffers& buffers, Handler&& handler) {
    auto b = first_nonempty(buffers);
    return run<true>(
        [this, b](std::size_t& n) {
          if (b.size() == 0) return Step{};
          int r = SSL_read(ssl_.get(), b.data(), static_cast<int>(std::min<std::size_t>(b.size(), INT_MAX)));
          if (r > 0) n = static_cast<std::size_t>(r);
          return step(r);
        },
        std::forward<Handler>(handler));
  }

  template <class ConstBuffers, class Handler>
  auto async_write_some(const ConstBuffers& buffers, Handler&& handler) {
    auto b = first_nonempty(buffers);
    return run<true>(
        [this, b](std::size_t& n) {
          if (b.size() == 0) return Step{};
          int r = SSL_write(ssl_.get(), b.data(), static_cast<int>(std::min<std::size_t>(b.size(), INT_MAX)));
          if (r > 0) n = static_cast<std::size_t>(r);
          return step(r);
        },
        std::forward<Handler>(handler));
  }

  // Sends close_notify (not waiting for the peer's: the connection closes next).
  template <class Handler>
  auto async_shutdown(Handler&& handler) {
    return run<false>(
        [this](std::size_t&) {
          int r = SSL_shutdown(ssl_.get());
          return r >= 0 ? Step{} : step(r);
        },
        std::forward<Handler>(handler));
  }

 private:
  // What one SSL call came to: done (with ec, possibly an error), or wait until the socket is readable/writable.
  struct Step {
    enum class Wait { kNone, kRead, kWrite } wait = Wait::kNone;
    error_code ec;
  };
  Step step(int ssl_result);

  template <class Buffers>
  static auto first_nonempty(const Buffers& buffers) {
    for (auto it = boost::asio::buffer_sequence_begin(buffers); it != boost::asio::buffer_sequence_end(buffers); ++it)
      if (boost::asio::buffer_size(*it) > 0) return *it;
    return *boost::asio::buffer_sequence_begin(buffers);
  }

  // Runs try_once until it is done, waiting on the socket in between; completes with (error_code, bytes) for
  // reads and writes, (error_code) for the handshake and the shutdown. A completion without any wait is posted,
  // never run inside the initiating call (asio's rule).
  template <bool WithBytes, class TryOnce, class Handler>
  auto run(TryOnce try_once, Handler&& handler) {
    using Signature = std::conditional_t<WithBytes, void(error_code, std::size_t), void(error_code)>;
    return boost::asio::async_compose<Handler, Signature>(
        [this, try_once, waited = false](auto& self, error_code wait_ec = {}) mutable {
          std::size_t n = 0;
          Step s;
          if (wait_ec) {
            s.ec = timed_out_ ? error_code(boost::beast::error::timeout) : wait_ec;
          } else {
            ERR_clear_error();  // the queue is per thread and shared by every connection on it
            s = try_once(n);
          }
          if (s.wait != Step::Wait::kNone) {
            waited = true;
            return socket_.async_wait(s.wait == Step::Wait::kRead ? boost::asio::ip::tcp::socket::wait_read
                                                                  : boost::asio::ip::tcp::socket::wait_write,
                                      std::move(self));
          }
          if (waited) return finish<WithBytes>(self, s.ec, n);
          boost::asio::post(socket_.get_executor(), [self = std::move(self), ec = s.ec, n]() mutable {
            finish<WithBytes>(self, ec, n);
          });
        },
        handler, socket_);
  }

  template <bool WithBytes, class Self>
  static void finish(Self& self, error_code ec, std::size_t n) {
    if constexpr (WithBytes)
      self.complete(ec, n);
    else
      self.complete(ec);
  }

  struct SslFree {
    void operator()(SSL* s) const { SSL_free(s); }
  };
  boost::asio::ip::tcp::socket socket_;
  std::unique_ptr<SSL, SslFree> ssl_;
  boost::asio::steady_timer timer_;
  bool timed_out_ = false;
  // Expired when the stream is gone: a timer completion already queued then must not touch it.
  std::shared_ptr<char> alive_ = std::make_shared<char>();
};

}  // namespace epc
