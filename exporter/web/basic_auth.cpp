#include "web/basic_auth.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <memory>
#include <stdexcept>

namespace epc {
namespace {

int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// A valid hash of cost 10 to spend the same time on unknown users as on known ones.
constexpr const char* kDummyHash = "$2b$10$OwFKRNKkNcMPgOB0vaIQxeZPJ71MP.lKKuSEYvFl6uqJDBRPcd0Ta";

}  // namespace

std::optional<std::string> decode_base64(std::string_view in) {
  if (in.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(in.size() / 4 * 3);
  for (std::size_t i = 0; i < in.size(); i += 4) {
    const bool last = i + 4 == in.size();
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      char c = in[i + k];
      if (c == '=' && last && k >= 2) {
        v[k] = 0;
        ++pad;
        continue;
      }
      if (pad) return std::nullopt;  // data after padding
      v[k] = b64_value(c);
      if (v[k] < 0) return std::nullopt;
    }
    unsigned n = (unsigned(v[0]) << 18) | (unsigned(v[1]) << 12) | (unsigned(v[2]) << 6) | unsigned(v[3]);
    out.push_back(static_cast<char>((n >> 16) & 0xff));
    if (pad < 2) out.push_back(static_cast<char>((n >> 8) & 0xff));
    if (pad < 1) out.push_back(static_cast<char>(n & 0xff));
  }
  return out;
}

std::optional<std::pair<std::string, std::string>> parse_basic_authorization(std::string_view h) {
  while (!h.empty() && (h.front() == ' ' || h.front() == '\t')) h.remove_prefix(1);
  while (!h.empty() && (h.back() == ' ' || h.back() == '\t')) h.remove_suffix(1);
  if (h.size() < 6 || h.size() > 4096) return std::nullopt;
  // The scheme is case-insensitive (RFC 7617).
  static constexpr char kScheme[] = "basic ";
  for (std::size_t i = 0; i < 6; ++i)
    if (static_cast<char>(std::tolower(static_cast<unsigned char>(h[i]))) != kScheme[i]) return std::nullopt;
  h.remove_prefix(6);
  while (!h.empty() && h.front() == ' ') h.remove_prefix(1);
  auto decoded = decode_base64(h);
  if (!decoded) return std::nullopt;
  auto colon = decoded->find(':');
  if (colon == std::string::npos) return std::nullopt;
  return std::make_pair(decoded->substr(0, colon), decoded->substr(colon + 1));
}

bool bcrypt_matches(std::string_view password, const std::string& hash) {
  if (password.find('\0') != std::string_view::npos) return false;
  auto data = std::make_unique<crypt_data>();  // about 32 KiB: not on a worker thread's stack
  std::memset(data.get(), 0, sizeof(crypt_data));
  std::string pw(password);
  const char* out = crypt_r(pw.c_str(), hash.c_str(), data.get());
  OPENSSL_cleanse(pw.data(), pw.size());
  if (!out || out[0] == '*') return false;
  std::size_t n = std::strlen(out);
  return n == hash.size() && CRYPTO_memcmp(out, hash.data(), n) == 0;
}

BasicAuth::BasicAuth(std::map<std::string, std::string> users) : users_(std::move(users)) {
  if (RAND_bytes(hmac_key_.data(), static_cast<int>(hmac_key_.size())) != 1)
    throw std::runtime_error("basic auth: no random bytes for the cache key");
}

bool BasicAuth::Ring::contains(const Digest& d) const {
  int found = 0;
  for (std::size_t i = 0; i < used; ++i) found |= CRYPTO_memcmp(entries[i].data(), d.data(), d.size()) == 0;
  return found != 0;
}

void BasicAuth::Ring::insert(const Digest& d) {
  if (contains(d)) return;
  entries[next] = d;
  next = (next + 1) % entries.size();
  used = std::min(used + 1, entries.size());
}

std::optional<BasicAuth::Digest> BasicAuth::digest(std::string_view header) const {
  Digest d{};
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), hmac_key_.data(), static_cast<int>(hmac_key_.size()),
            reinterpret_cast<const unsigned char*>(header.data()), header.size(), d.data(), &len) ||
      len != d.size())
    return std::nullopt;
  return d;
}

BasicAuth::Lookup BasicAuth::lookup(std::string_view header) const {
  if (!parse_basic_authorization(header)) return {};  // missing, another scheme, malformed: no hash needed
  auto d = digest(header);
  if (!d) return {};  // no HMAC (out of memory): refused, never verified under a key another header could share
  std::lock_guard<std::mutex> lock(mu_);
  const bool allowed = allowed_.contains(*d), denied = denied_.contains(*d);  // both scanned whatever the answer
  return {allowed ? Verdict::kAllowed : denied ? Verdict::kDenied : Verdict::kUnverified, as_key(*d)};
}

bool BasicAuth::verify(std::string_view header, const std::string& key) {
  auto creds = parse_basic_authorization(header);
  if (!creds) return false;
  const auto& [user, password] = *creds;
  ++hashes_;
  bool ok = false;
  if (auto it = users_.find(user); it != users_.end())
    ok = bcrypt_matches(password, it->second);
  else
    (void)bcrypt_matches(password, kDummyHash);  // an unknown user costs what a known one costs
  if (key.size() == sizeof(Digest)) {
    Digest d;
    std::copy(key.begin(), key.end(), d.begin());
    std::lock_guard<std::mutex> lock(mu_);
    (ok ? allowed_ : denied_).insert(d);
  }
  return ok;
}

bool BasicAuth::check(std::string_view header) {
  auto found = lookup(header);
  if (found.verdict != Verdict::kUnverified) return found.verdict == Verdict::kAllowed;
  return verify(header, found.key);
}

std::size_t BasicAuth::cache_size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return allowed_.used;
}

std::uint64_t BasicAuth::hashes_run() const { return hashes_.load(); }

}  // namespace epc
