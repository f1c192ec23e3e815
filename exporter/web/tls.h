// TLS for the HTTP server, set up with OpenSSL on the server's SSL_CTX (web/tls_stream.h runs the connections), so the
// web config's separate cert_file and key_file, client CA, verification mode and protocol bounds are applied
// exactly, and every problem is reported with the file it concerns.
#pragma once

#include "host/result.h"
#include "web/web_config.h"

namespace epc {

// Applies the config to an OpenSSL SSL_CTX* (void* so this header needs no OpenSSL include): certificate chain,
// private key (must match), client CA and verification, protocol versions, no renegotiation.
Status configure_tls_ctx(void* ssl_ctx, const TlsConfig& tls);

// Start-up check on a throw-away context: files readable and well-formed, key matches certificate, certificate
// valid now (not expired, not yet valid).
Status check_tls_config(const TlsConfig& tls);

}  // namespace epc
