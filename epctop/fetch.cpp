#include "fetch.h"

#include <curl/curl.h>

#include <cstdio>
#include <fstream>
#include <memory>


namespace epctop {

void fetch_global_init() { curl_global_init(CURL_GLOBAL_DEFAULT); }

namespace {

struct Sink {
  std::string body;
  std::size_t max = 0;
  bool too_big = false;
};

std::size_t on_data(char* p, std::size_t size, std::size_t n, void* user) {
  auto* s = static_cast<Sink*>(user);
  std::size_t len = size * n;
  if (s->body.size() + len > s->max) {
    s->too_big = true;
    return 0;  // aborts the transfer (CURLE_WRITE_ERROR)
  }
  s->body.append(p, len);
  return len;
}

int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* cancel = static_cast<const std::atomic<bool>*>(user);
  return (cancel && cancel->load()) ? 1 : 0;
}

std::string mib(std::size_t b) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f MiB", b / 1048576.0);
  return buf;
}

}  // namespace

FetchResult fetch(const FetchOptions& opt, const std::atomic<bool>* cancel) {
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> h(curl_easy_init(), &curl_easy_cleanup);
  if (!h) return FetchError{"libcurl: cannot create a handle"};
  CURL* c = h.get();
  Sink sink;
  sink.max = opt.max_bytes;
  char errbuf[CURL_ERROR_SIZE] = "";
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> headers(
      curl_slist_append(nullptr, "Accept: text/plain;version=0.0.4"), &curl_slist_free_all);
  curl_easy_setopt(c, CURLOPT_URL, opt.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, opt.timeout_ms);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, opt.timeout_ms);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(opt.max_bytes));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");  // gzip if the server offers it; the cap applies decoded
  curl_easy_setopt(c, CURLOPT_USERAGENT, "epctop/" EPCTOP_VERSION);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, cancel);
  if (!opt.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, opt.ca_file.c_str());
  if (!opt.cert_file.empty()) curl_easy_setopt(c, CURLOPT_SSLCERT, opt.cert_file.c_str());
  if (!opt.key_file.empty()) curl_easy_setopt(c, CURLOPT_SSLKEY, opt.key_file.c_str());
  if (opt.insecure_skip_verify) {
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (!opt.username.empty()) {
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
    curl_easy_setopt(c, CURLOPT_USERNAME, opt.username.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, opt.password.c_str());
  }

  CURLcode rc = curl_easy_perform(c);
  if (sink.too_big || rc == CURLE_FILESIZE_EXCEEDED)
    return FetchError{"response larger than " + mib(opt.max_bytes) + " (--max-size): not read"};
  if (rc == CURLE_ABORTED_BY_CALLBACK) return FetchError{"cancelled"};
  if (rc != CURLE_OK) {
    std::string msg = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    if (rc == CURLE_PARTIAL_FILE) msg = "response truncated: " + msg;
    return FetchError{msg};
  }
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) {
    std::string m = "HTTP " + std::to_string(status);
    if (status == 401) m += " Unauthorized (--basic-auth.username / --basic-auth.password-file)";
    else if (status == 403) m += " Forbidden";
    else if (status == 404) m += " Not Found (wrong path? the exporter serves /metrics)";
    else if (status >= 300 && status < 400) m += " redirect (not followed; give the final URL)";
    return FetchError{m};
  }
  char* ctype = nullptr;
  curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ctype);
  if (ctype && std::string(ctype).find("html") != std::string::npos)
    return FetchError{"the page is HTML (" + std::string(ctype) + "), not Prometheus metrics: wrong URL?"};
  return std::move(sink.body);
}

bool read_password_file(const std::string& path, std::string& password, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = "--basic-auth.password-file " + path + ": cannot open";
    return false;
  }
  std::string data(4097, '\0');
  in.read(data.data(), static_cast<std::streamsize>(data.size()));
  data.resize(static_cast<std::size_t>(in.gcount()));
  if (data.size() > 4096) {
    error = "--basic-auth.password-file " + path + ": larger than 4 KiB";
    return false;
  }
  if (auto nl = data.find_first_of("\r\n"); nl != std::string::npos) data.resize(nl);
  if (data.empty()) {
    error = "--basic-auth.password-file " + path + ": empty";
    return false;
  }
  password = data;
  return true;
}

}  // namespace epctop
