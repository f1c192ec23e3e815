// HTTP basic authentication against the web config's bcrypt hashes (exporter-toolkit semantics).
//
// bcrypt is slow on purpose (cost 10: tens of milliseconds of CPU), so it is kept off the request path: lookup()
// answers from what was decided before, without hashing the password, and only a header never seen gets
// verify(), which the HTTP server runs on its own small pool within its own budget (web/http_server.h), so clients
// without the password cannot queue authorized scrapes behind their bcrypt runs. Both verdicts are remembered under
// an HMAC-SHA-256 of the whole Authorization header with a key made at start (never the password, and not
// computable by a client), in two bounded caches (allowed, denied) compared in constant time; an unknown user still
// costs one bcrypt run so response times do not tell which users exist. No lock is held while hashing.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
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

  enum class Verdict {
    kAllowed,     // this exact header was verified before
    kDenied,      // not well-formed Basic credentials, or refuted before
    kUnverified,  // never seen: verify() decides, at the cost of one bcrypt run
  };
  struct Lookup {
    Verdict verdict = Verdict::kDenied;
    std::string key;  // the header's keyed hash: what verify() and the server's bookkeeping use
  };
  // Cheap and thread-safe (one HMAC and a scan of both caches): never runs bcrypt.
  Lookup lookup(std::string_view authorization_header) const;
  // The bcrypt check of a header lookup() left kUnverified; remembers the verdict for lookup(). Thread-safe and
  // lock-free while hashing: run it where its cost cannot hold up requests that are already allowed.
  bool verify(std::string_view authorization_header, const std::string& key);
  // lookup(), then verify() when it says kUnverified: for callers that do not need to schedule the bcrypt run.
  bool check(std::string_view authorization_header);

  // Entries of each cache; the oldest is replaced when one is full (only verified headers enter the allowed
  // cache, so clients without a password cannot push an authorized scraper's entry out of it).
  static constexpr std::size_t kCacheEntries = 64;
  std::size_t cache_size() const;    // headers remembered as allowed
  std::uint64_t hashes_run() const;  // bcrypt runs so far

 private:
  using Digest = std::array<unsigned char, 32>;
  struct Ring {
    std::array<Digest, kCacheEntries> entries{};
    std::size_t used = 0, next = 0;
    bool contains(const Digest& d) const;  // constant time over every used entry
    void insert(const Digest& d);
  };
  std::optional<Digest> digest(std::string_view header) const;
  static std::string as_key(const Digest& d) { return std::string(d.begin(), d.end()); }

  std::map<std::string, std::string> users_;
  std::array<unsigned char, 32> hmac_key_{};
  mutable std::mutex mu_;  // guards the rings only, never held while hashing
  Ring allowed_, denied_;
  std::atomic<std::uint64_t> hashes_{0};
};

// bcrypt via libxcrypt's crypt_r: true when the password matches the hash (constant-time comparison).
bool bcrypt_matches(std::string_view password, const std::string& hash);

}  // namespace epc
