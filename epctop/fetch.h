// GET of the exporter's /metrics over http or https (libcurl): CA file, client certificate, basic auth with a
// password file (the web config's options), a timeout and a cap on the body. Errors come back as one short line.
#pragma once

#include <atomic>
#include <cstddef>
#include <string>
#include <variant>

namespace epctop {

struct FetchOptions {
  std::string url = "http://127.0.0.1:9840/metrics";
  std::string ca_file, cert_file, key_file;
  bool insecure_skip_verify = false;
  std::string username, password;  // password read from --basic-auth.password-file
  long timeout_ms = 5000;
  std::size_t max_bytes = 16 * 1024 * 1024;
};

struct FetchError {
  std::string message;
};

using FetchResult = std::variant<std::string, FetchError>;

// Blocks up to timeout_ms; returns early with an error when *cancel becomes true.
FetchResult fetch(const FetchOptions& opt, const std::atomic<bool>* cancel = nullptr);

// Once per process, before any thread runs fetch().
void fetch_global_init();

// Reads a password file (first line, without the end of line; at most 4 KiB). "" + error on failure.
bool read_password_file(const std::string& path, std::string& password, std::string& error);

}  // namespace epctop
