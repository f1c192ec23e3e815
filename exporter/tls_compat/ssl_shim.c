/* Debian 12's CivetWeb 1.15 loads OpenSSL at run time (dlopen("libssl.so"), then dlsym for each function it
 * uses). It was written against the OpenSSL 1.1 API and looks up SSL_get_peer_certificate, which OpenSSL 3 only
 * provides as a macro for SSL_get1_peer_certificate, so loading fails and no TLS port can start.
 *
 * This shim has the soname "libssl.so" and depends on the real libssl.so.3: once it is loaded, CivetWeb's
 * dlopen("libssl.so") returns it (glibc matches loaded objects by soname), every other symbol resolves through
 * its dependency, and the one missing function is defined here. Same semantics: OpenSSL 1.1's
 * SSL_get_peer_certificate returned a new reference, exactly as SSL_get1_peer_certificate does. */
#include <openssl/ssl.h>

#undef SSL_get_peer_certificate
X509 *SSL_get_peer_certificate(const SSL *s);
X509 *SSL_get_peer_certificate(const SSL *s) { return SSL_get1_peer_certificate(s); }
