#include "web/tls.h"

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace epc {
namespace {

// The last OpenSSL error, or a fallback; clears the queue so the next call starts clean.
std::string ssl_error(const char* fallback) {
  unsigned long e = ERR_peek_last_error();
  std::string out = fallback;
  if (e != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    const char* reason = ERR_reason_error_string(e);
    out += std::string(": ") + (reason ? reason : buf);
  }
  ERR_clear_error();
  return out;
}

std::string asn1_time(const ASN1_TIME* t) {
  BIO* b = BIO_new(BIO_s_mem());
  if (!b) return "?";
  ASN1_TIME_print(b, t);
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  std::string out(data ? data : "", n > 0 ? static_cast<std::size_t>(n) : 0);
  BIO_free(b);
  return out;
}

}  // namespace

Status configure_tls_ctx(void* raw, const TlsConfig& tls) {
  auto* ctx = static_cast<SSL_CTX*>(raw);
  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(ctx, tls.cert_file.c_str()) != 1)
    return make_error(ssl_error(("cert_file " + tls.cert_file + ": cannot load certificate").c_str()));
  if (SSL_CTX_use_PrivateKey_file(ctx, tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
      ERR_clear_error();
      return make_error("key_file " + tls.key_file + " does not match cert_file " + tls.cert_file);
    }
    return make_error(ssl_error(("key_file " + tls.key_file + ": cannot load private key").c_str()));
  }
  if (SSL_CTX_check_private_key(ctx) != 1)
    return make_error(ssl_error(("key_file " + tls.key_file + " does not match cert_file " + tls.cert_file).c_str()));

  if (X509* cert = SSL_CTX_get0_certificate(ctx)) {
    if (X509_cmp_current_time(X509_get0_notAfter(cert)) <= 0)
      return make_error("cert_file " + tls.cert_file + ": certificate expired on " +
                        asn1_time(X509_get0_notAfter(cert)));
    if (X509_cmp_current_time(X509_get0_notBefore(cert)) >= 0)
      return make_error("cert_file " + tls.cert_file + ": certificate not valid before " +
                        asn1_time(X509_get0_notBefore(cert)));
  }

  // TLS 1.0 and 1.1 sign their handshake with MD5 and SHA-1, which OpenSSL 3 refuses from security level 1 on
  // (SSL_CTX_set_security_level(3): fewer than 80 bits); Debian builds it with level 2 as the default. OpenSSL
  // accepts the protocol bounds anyway and then fails every such handshake with an internal-error alert, so a
  // config asking for them is refused here (a max_version below TLS12 needs such a min_version: the web config
  // refuses max < min); serving them would need level 0 for every connection.
  if (tls.min_version != 0 && tls.min_version < TLS1_2_VERSION && SSL_CTX_get_security_level(ctx) >= 1)
    return make_error(std::string("tls_server_config: min_version: ") +
                      (tls.min_version == TLS1_VERSION ? "TLS10" : "TLS11") + " cannot be served: " +
                      OpenSSL_version(OPENSSL_VERSION) + " refuses TLS 1.0 and 1.1 handshakes at its security level " +
                      std::to_string(SSL_CTX_get_security_level(ctx)) +
                      " (they sign with MD5 and SHA-1); use TLS12 (the default) or TLS13");
  if (SSL_CTX_set_min_proto_version(ctx, tls.min_version) != 1 ||
      SSL_CTX_set_max_proto_version(ctx, tls.max_version) != 1)
    return make_error(ssl_error("cannot set the TLS protocol versions"));
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);

  if (tls.client_auth != TlsConfig::ClientAuth::kNone) {
    if (SSL_CTX_load_verify_locations(ctx, tls.client_ca_file.c_str(), nullptr) != 1)
      return make_error(ssl_error(("client_ca_file " + tls.client_ca_file + ": cannot load CA certificates").c_str()));
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(tls.client_ca_file.c_str());
    if (!names) return make_error(ssl_error(("client_ca_file " + tls.client_ca_file + ": no CA names").c_str()));
    SSL_CTX_set_client_CA_list(ctx, names);
    int mode = SSL_VERIFY_PEER;
    if (tls.client_auth == TlsConfig::ClientAuth::kRequireAndVerify) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(ctx, mode, nullptr);
    SSL_CTX_set_verify_depth(ctx, 9);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  // Session resumption with client certificates needs a session id context.
  static const unsigned char sid[] = "epc_exporter";
  SSL_CTX_set_session_id_context(ctx, sid, sizeof sid - 1);
  return {};
}

Status check_tls_config(const TlsConfig& tls) {
  // A FIFO or device named here would block the loader forever; a huge file is not a certificate.
  for (const auto* f : {&tls.cert_file, &tls.key_file, &tls.client_ca_file}) {
    if (f->empty()) continue;
    struct stat st {};
    if (::stat(f->c_str(), &st) != 0) return make_error(*f + ": " + std::strerror(errno), errno);
    if (!S_ISREG(st.st_mode)) return make_error(*f + ": not a regular file");
    if (st.st_size > 1 << 20) return make_error(*f + ": larger than 1 MiB, not a PEM file");
  }
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) return make_error(ssl_error("cannot create a TLS context"));
  Status s = configure_tls_ctx(ctx, tls);
  SSL_CTX_free(ctx);
  return s;
}

}  // namespace epc
