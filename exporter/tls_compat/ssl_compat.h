// Makes Debian's CivetWeb (OpenSSL 1.1 API, loaded at run time) work with OpenSSL 3: see ssl_shim.c.
#pragma once

#include "core/result.h"

namespace epc {

// Loads the embedded shim (from a memfd, so it works on a read-only root file system) unless a "libssl.so"
// that provides SSL_get_peer_certificate is already loadable. Idempotent; call before starting a TLS server.
Status ensure_civetweb_ssl_compat();

}  // namespace epc
