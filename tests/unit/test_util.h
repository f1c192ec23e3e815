// What the unit tests share: a temporary directory tree (removed on destruction), a basic-auth header.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace epc::test {

// The Authorization header value of HTTP basic auth for "user:password" (standard base64 with padding).
inline std::string basic_authorization(std::string_view user_pass) {
  static const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  auto byte = [&](std::size_t k) { return static_cast<unsigned>(static_cast<unsigned char>(user_pass[k])); };
  for (; i + 2 < user_pass.size(); i += 3) {
    unsigned n = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
    out += {a[n >> 18 & 63], a[n >> 12 & 63], a[n >> 6 & 63], a[n & 63]};
  }
  if (user_pass.size() - i == 1) {
    unsigned n = byte(i) << 16;
    out += {a[n >> 18 & 63], a[n >> 12 & 63], '=', '='};
  } else if (user_pass.size() - i == 2) {
    unsigned n = byte(i) << 16 | byte(i + 1) << 8;
    out += {a[n >> 18 & 63], a[n >> 12 & 63], a[n >> 6 & 63], '='};
  }
  return "Basic " + out;
}

class TempTree {
 public:
  TempTree() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "epc_unit_XXXXXX").string();
    char* p = ::mkdtemp(tmpl.data());
    if (!p) std::abort();
    root_ = p;
  }
  ~TempTree() {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  TempTree(const TempTree&) = delete;
  TempTree& operator=(const TempTree&) = delete;

  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path path(std::string_view rel) const { return root_ / std::filesystem::path(rel); }

  void write(std::string_view rel, std::string_view content) const {
    auto p = path(rel);
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
  }
  void mkdir(std::string_view rel) const { std::filesystem::create_directories(path(rel)); }
  void symlink(std::string_view target, std::string_view rel) const {
    auto p = path(rel);
    std::filesystem::create_directories(p.parent_path());
    std::filesystem::create_symlink(target, p);
  }
  void remove(std::string_view rel) const { std::filesystem::remove_all(path(rel)); }

 private:
  std::filesystem::path root_;
};

}  // namespace epc::test
