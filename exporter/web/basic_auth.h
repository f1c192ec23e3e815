// HTTP basic authentication against the web config's bcrypt hashes (exporter-toolkit semantics).
//
// bcrypt is slow on purpose (cost 10: tens of milliseconds), so a successful check is cached under a salted
// SHA-256 of user and password (never the password itself) in a bounded cache, as the toolkit does; an unknown
// user still costs one bcrypt run so response times do not tell which users exist.
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>

namespace epc {

// "Basic dXNlcjpwYXNz" -> ("user", "pass"). nullopt for any other scheme or malformed base64 (strict: padding
// required, no characters outside the alphabet, decoded text must contain ':').
std::optional<std::pair<std::string, std::string>> parse_basic_authorization(std::string_view header);

// Strict standard base64 (RFC 4648 section 4) with padding.
std::optional<std::string> decode_base64(std::string_view in);

class BasicAuth {
 public:
  explicit BasicAuth(std::map<std::string, std::string> users);

  bool enabled() const { return !users_.empty(); }
  // True when the Authorization header value carries a known user and the matching password.
  bool check(std::string_view authorization_header);

  static constexpr std::size_t kCacheEntries = 256;
  std::size_t cache_size();

 private:
  std::string cache_key(std::string_view user, std::string_view password) const;

  std::map<std::string, std::string> users_;
  std::string salt_;
  std::mutex mu_;         // guards cache_
  std::mutex bcrypt_mu_;  // serialises bcrypt runs
  std::set<std::string> cache_;
};

// bcrypt via libxcrypt's crypt_r: true when the password matches the hash (constant-time comparison).
bool bcrypt_matches(std::string_view password, const std::string& hash);

}  // namespace epc
