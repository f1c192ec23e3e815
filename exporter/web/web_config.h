// --web.config.file: TLS and basic authentication in the format of the Prometheus exporter-toolkit
// (github.com/prometheus/exporter-toolkit, docs/web-configuration.md), so one file works for this exporter and the
// Go exporters next to it:
//
//   tls_server_config:
//     cert_file: server.crt            # relative paths are relative to the config file's directory
//     key_file: server.key
//     client_auth_type: RequireAndVerifyClientCert   # NoClientCert (default) | VerifyClientCertIfGiven | ...
//     client_ca_file: ca.crt
//     min_version: TLS12               # TLS10..TLS13, default TLS12
//     max_version: TLS13
//   http_server_config:
//     headers: {Strict-Transport-Security: max-age=31536000}
//   basic_auth_users:
//     prometheus: $2y$10$...           # bcrypt hash
//
// Keys the toolkit knows but this exporter cannot honour (cipher_suites with Go names, curve_preferences,
// client_allowed_sans, inline cert/key, RequestClientCert, RequireAnyClientCert) are errors, not silently
// ignored: a config that promises more than is enforced must not start. Unknown keys are errors too (the toolkit
// parses strictly).
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "host/result.h"

namespace epc {

struct TlsConfig {
  std::string cert_file;  // absolute, or relative to the working directory after resolution
  std::string key_file;
  enum class ClientAuth { kNone, kVerifyIfGiven, kRequireAndVerify };
  ClientAuth client_auth = ClientAuth::kNone;
  std::string client_ca_file;
  int min_version = 0x0303;  // TLS1_2_VERSION
  int max_version = 0;       // 0: the highest the library supports
};

struct WebConfig {
  std::optional<TlsConfig> tls;
  // user -> bcrypt hash; empty: no authentication.
  std::map<std::string, std::string> basic_auth_users;
  // Extra response headers from http_server_config.headers.
  std::vector<std::pair<std::string, std::string>> headers;
};

inline constexpr std::size_t kWebConfigMaxBytes = 64 * 1024;

// Parses the text of a web config file. Relative file names resolve against base_dir. Checks syntax and values,
// never touches the files named in it.
Result<WebConfig> parse_web_config(std::string_view text, const std::filesystem::path& base_dir = {});

// Reads and parses the file, then checks the TLS files (readable, key matches certificate, certificate valid now,
// CA file loads). Every error names the file and the problem.
Result<WebConfig> load_web_config(const std::filesystem::path& path);

// A bcrypt hash as htpasswd -B, Go's bcrypt and libxcrypt write it: $2a$, $2b$ or $2y$, a two-digit cost from 4
// to kMaxBcryptCost, 53 characters of bcrypt's base64.
inline constexpr int kMaxBcryptCost = 16;  // cost 17 takes seconds per check: a denial of service on every scrape
Status check_bcrypt_hash(std::string_view hash);

}  // namespace epc
