#include "web/basic_auth.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cctype>
#include <cstdlib>
#include <cstring>
#include <memory>

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
  unsigned char salt[16];
  if (RAND_bytes(salt, sizeof salt) != 1)
    for (auto& b : salt) b = static_cast<unsigned char>(std::rand());
  salt_.assign(reinterpret_cast<char*>(salt), sizeof salt);
}

std::string BasicAuth::cache_key(std::string_view user, std::string_view password) const {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (!ctx) return {};
  const unsigned char zero = 0;
  bool ok = EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1 &&
            EVP_DigestUpdate(ctx, salt_.data(), salt_.size()) == 1 &&
            EVP_DigestUpdate(ctx, user.data(), user.size()) == 1 && EVP_DigestUpdate(ctx, &zero, 1) == 1 &&
            EVP_DigestUpdate(ctx, password.data(), password.size()) == 1 &&
            EVP_DigestFinal_ex(ctx, md, &len) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) return {};
  return std::string(reinterpret_cast<char*>(md), len);
}

bool BasicAuth::check(std::string_view header) {
  auto creds = parse_basic_authorization(header);
  if (!creds) return false;
  const auto& [user, password] = *creds;
  std::string key = cache_key(user, password);
  if (!key.empty()) {
    std::lock_guard<std::mutex> lock(mu_);
    if (cache_.count(key)) return true;
  }
  // One bcrypt run at a time: concurrent first requests with the same credentials (every scraper connection
  // after a restart) wait for the first and then hit the cache, and a flood of wrong passwords costs at most
  // one core.
  std::lock_guard<std::mutex> slow(bcrypt_mu_);
  if (!key.empty()) {
    std::lock_guard<std::mutex> lock(mu_);
    if (cache_.count(key)) return true;
  }
  auto it = users_.find(user);
  if (it == users_.end()) {
    (void)bcrypt_matches(password, kDummyHash);
    return false;
  }
  if (!bcrypt_matches(password, it->second)) return false;
  if (!key.empty()) {
    std::lock_guard<std::mutex> lock(mu_);
    if (cache_.size() >= kCacheEntries) cache_.clear();  // bounded; refilled by the next successful checks
    cache_.insert(std::move(key));
  }
  return true;
}

std::size_t BasicAuth::cache_size() {
  std::lock_guard<std::mutex> lock(mu_);
  return cache_.size();
}

}  // namespace epc
