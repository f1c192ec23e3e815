#include "web/tls_stream.h"

#include <sys/socket.h>

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <cerrno>
#include <cstdint>
#include <new>

namespace epc {
namespace {

// The socket BIO of this stream: OpenSSL's own writes with write(2), which raises SIGPIPE on a connection the
// peer has closed; these use send(MSG_NOSIGNAL). Data: the descriptor.
int fd_of(BIO* b) { return static_cast<int>(reinterpret_cast<std::intptr_t>(BIO_get_data(b))); }

int bio_write(BIO* b, const char* data, int len) {
  BIO_clear_retry_flags(b);
  ssize_t n = ::send(fd_of(b), data, static_cast<std::size_t>(len), MSG_NOSIGNAL);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) BIO_set_retry_write(b);
  return static_cast<int>(n);
}

int bio_read(BIO* b, char* data, int len) {
  BIO_clear_retry_flags(b);
  ssize_t n = ::recv(fd_of(b), data, static_cast<std::size_t>(len), 0);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) BIO_set_retry_read(b);
  return static_cast<int>(n);
}

long bio_ctrl(BIO*, int cmd, long, void*) {
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;  // nothing is buffered here
}

int bio_create(BIO* b) {
  BIO_set_init(b, 1);
  return 1;
}

const BIO_METHOD* socket_method() {
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "epc socket");
    if (m) {
      BIO_meth_set_write(m, bio_write);
      BIO_meth_set_read(m, bio_read);
      BIO_meth_set_ctrl(m, bio_ctrl);
      BIO_meth_set_create(m, bio_create);
    }
    return m;
  }();
  return method;
}

}  // namespace

TlsStream::TlsStream(boost::asio::ip::tcp::socket socket, SSL_CTX* ctx)
    : socket_(std::move(socket)), ssl_(SSL_new(ctx)), timer_(socket_.get_executor()) {
  const BIO_METHOD* method = socket_method();
  BIO* bio = method ? BIO_new(method) : nullptr;
  if (!ssl_ || !bio) {
    BIO_free(bio);
    throw std::bad_alloc();
  }
  BIO_set_data(bio, reinterpret_cast<void*>(static_cast<std::intptr_t>(socket_.native_handle())));
  SSL_set_bio(ssl_.get(), bio, bio);  // the SSL owns it now
  SSL_set_accept_state(ssl_.get());
  error_code ec;
  socket_.native_non_blocking(true, ec);  // OpenSSL calls recv/send itself: they must not block the I/O thread
}

TlsStream::~TlsStream() { alive_.reset(); }

void TlsStream::expires_after(std::chrono::steady_clock::duration d) {
  timed_out_ = false;
  timer_.expires_after(d);  // a pending wait ends with operation_aborted
  timer_.async_wait([this, alive = std::weak_ptr<char>(alive_)](error_code ec) {
    if (ec || alive.expired()) return;
    timed_out_ = true;
    error_code ignored;
    socket_.close(ignored);  // pending waits end with operation_aborted, reported as timeout
  });
}

TlsStream::Step TlsStream::step(int r) {
  const int saved_errno = errno;  // of the SSL call's recv/send, for SSL_ERROR_SYSCALL
  if (r > 0) return {};
  const int err = SSL_get_error(ssl_.get(), r);
  Step s;
  switch (err) {
    case SSL_ERROR_WANT_READ:
      s.wait = Step::Wait::kRead;
      break;
    case SSL_ERROR_WANT_WRITE:
      s.wait = Step::Wait::kWrite;
      break;
    case SSL_ERROR_ZERO_RETURN:  // close_notify
      s.ec = boost::asio::error::eof;
      break;
    case SSL_ERROR_SYSCALL:
      s.ec = saved_errno ? error_code(saved_errno, boost::system::system_category()) : boost::asio::error::eof;
      break;
    default: {  // a protocol error (bad record, handshake failure, unexpected EOF): the connection ends
      unsigned long e = ERR_get_error();
      s.ec = e ? error_code(static_cast<int>(e), boost::asio::error::get_ssl_category())
               : error_code(boost::asio::ssl::error::stream_truncated);
    }
  }
  ERR_clear_error();  // the next SSL call must start with an empty queue (SSL_get_error reads it)
  return s;
}

}  // namespace epc
