/* Soname "libcrypto.so", depends on libcrypto.so.3 and adds nothing: CivetWeb's dlopen("libcrypto.so") then
 * works without the development symlink (libssl-dev) on the node. See ssl_shim.c. */
#include <openssl/crypto.h>

const char *epc_crypto_shim_version(void);
const char *epc_crypto_shim_version(void) { return OpenSSL_version(OPENSSL_VERSION); }
