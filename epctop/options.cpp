#include "options.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace epctop {

const char* const kUsage =
    "usage: epctop [options] [URL]\n"
    "Live view of an epc_exporter's EPC usage and paging, per pod, container or enclave.\n"
    "\n"
    "  URL, --url=URL              exporter metrics URL (default http://127.0.0.1:9840/metrics;\n"
    "                              host:port means http://host:port/metrics)\n"
    "  -d, --interval=SECONDS      time between scrapes (default 2, at least 0.2)\n"
    "      --timeout=SECONDS       per-scrape timeout (default 5)\n"
    "      --max-size=BYTES        largest response read (default 16777216; K, M, G suffixes)\n"
    "      --tls.ca-file=FILE      CA certificates to verify the exporter's certificate\n"
    "      --tls.cert-file=FILE    client certificate (PEM)\n"
    "      --tls.key-file=FILE     client key (PEM)\n"
    "      --tls.insecure-skip-verify  do not verify the server certificate\n"
    "      --basic-auth.username=USER\n"
    "      --basic-auth.password-file=FILE  password on the first line\n"
    "      --level=pod|container|enclave    initial level (default container)\n"
    "      --sort=COLUMN           workload, encl, resident, swapped, evict, loadb, fault, stall,\n"
    "                              mrenclave, mrsigner, svn, dbg (default resident)\n"
    "      --namespace=TEXT        show only namespaces containing TEXT\n"
    "  -b, --batch                 print text snapshots instead of the live screen (like top -b)\n"
    "  -n, --iterations=N          with --batch: stop after N snapshots (rates from the second on)\n"
    "  -1, --once                  --batch -n 1\n"
    "      --width=COLS            with --batch: line width (default: the terminal's; without a\n"
    "                              terminal, as wide as the content: nothing is cut)\n"
    "      --height=ROWS           with --batch: lines per snapshot (default: as many as the rows need)\n"
    "      --note=TEXT             shown first on the status line (e.g. where the numbers come from)\n"
    "  -h, --help                  this text\n"
    "      --version\n"
    "\n"
    "Keys: h or ? in the live view.\n";

std::string normalize_url(const std::string& u) {
  std::string s = u;
  if (s.find("://") == std::string::npos) s = "http://" + s;
  auto scheme_end = s.find("://") + 3;
  if (s.find('/', scheme_end) == std::string::npos) s += "/metrics";
  return s;
}

std::string url_target(const std::string& u) {
  auto b = u.find("://");
  b = (b == std::string::npos) ? 0 : b + 3;
  auto e = u.find('/', b);
  std::string hp = u.substr(b, e == std::string::npos ? std::string::npos : e - b);
  if (auto at = hp.rfind('@'); at != std::string::npos) hp = hp.substr(at + 1);  // never show credentials
  return hp;
}

namespace {

bool to_double(const std::string& s, double& out) {
  char* end = nullptr;
  errno = 0;
  out = std::strtod(s.c_str(), &end);
  return !s.empty() && end && *end == '\0' && errno == 0 && std::isfinite(out);
}

bool to_long(const std::string& s, long& out) {
  char* end = nullptr;
  errno = 0;
  out = std::strtol(s.c_str(), &end, 10);
  return !s.empty() && end && *end == '\0' && errno == 0;
}

bool to_size(std::string s, std::size_t& out) {
  unsigned long long mult = 1;
  if (!s.empty()) {
    char c = s.back();
    if (c == 'K' || c == 'k') mult = 1ull << 10;
    if (c == 'M' || c == 'm') mult = 1ull << 20;
    if (c == 'G' || c == 'g') mult = 1ull << 30;
    if (mult != 1) s.pop_back();
  }
  long v = 0;
  if (!to_long(s, v) || v <= 0) return false;
  out = static_cast<std::size_t>(v) * mult;
  return true;
}

std::optional<Column> column_by_name(const std::string& n) {
  static const std::pair<const char*, Column> names[] = {
      {"workload", Column::Name},   {"name", Column::Name},         {"encl", Column::Enclaves},
      {"enclaves", Column::Enclaves}, {"resident", Column::Resident}, {"swapped", Column::Swapped},
      {"evict", Column::Evict},     {"loadb", Column::Loadback},    {"fault", Column::Faults},
      {"faults", Column::Faults},   {"stall", Column::Stall},       {"mrenclave", Column::Mrenclave},
      {"mrsigner", Column::Mrsigner}, {"svn", Column::Svn},         {"dbg", Column::Debug},
  };
  for (const auto& [k, c] : names)
    if (n == k) return c;
  return std::nullopt;
}

}  // namespace

std::variant<Options, std::string> parse_options(const std::vector<std::string>& args) {
  Options o;
  bool url_set = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i];
    std::string key = a, val;
    bool has_val = false;
    if (a.rfind("--", 0) == 0) {
      if (auto eq = a.find('='); eq != std::string::npos) {
        key = a.substr(0, eq);
        val = a.substr(eq + 1);
        has_val = true;
      }
    }
    auto value = [&](std::string& out) -> bool {
      if (has_val) { out = val; return true; }
      if (i + 1 < args.size()) { out = args[++i]; return true; }
      return false;
    };
    auto need = [&](std::string& out) -> std::optional<std::string> {
      if (!value(out)) return key + " needs a value";
      return std::nullopt;
    };
    std::string v;
    if (key == "-h" || key == "--help") {
      o.help = true;
    } else if (key == "--version") {
      o.version = true;
    } else if (key == "-b" || key == "--batch") {
      o.batch = true;
    } else if (key == "-1" || key == "--once") {
      o.batch = true;
      o.iterations = 1;
    } else if (key == "--tls.insecure-skip-verify") {
      o.fetch.insecure_skip_verify = true;
    } else if (key == "-d" || key == "--interval") {
      if (auto e = need(v)) return *e;
      if (!to_double(v, o.interval_s) || o.interval_s < 0.2 || o.interval_s > 3600)
        return key + ": '" + v + "' is not a number of seconds between 0.2 and 3600";
    } else if (key == "--timeout") {
      if (auto e = need(v)) return *e;
      double t = 0;
      if (!to_double(v, t) || t < 0.1 || t > 600) return key + ": '" + v + "' is not a number of seconds between 0.1 and 600";
      o.fetch.timeout_ms = static_cast<long>(t * 1000);
    } else if (key == "--max-size") {
      if (auto e = need(v)) return *e;
      if (!to_size(v, o.fetch.max_bytes) || o.fetch.max_bytes < 1024)
        return key + ": '" + v + "' is not a size of at least 1024 bytes";
    } else if (key == "--tls.ca-file") {
      if (auto e = need(o.fetch.ca_file)) return *e;
    } else if (key == "--tls.cert-file") {
      if (auto e = need(o.fetch.cert_file)) return *e;
    } else if (key == "--tls.key-file") {
      if (auto e = need(o.fetch.key_file)) return *e;
    } else if (key == "--basic-auth.username") {
      if (auto e = need(o.fetch.username)) return *e;
    } else if (key == "--basic-auth.password-file") {
      if (auto e = need(o.password_file)) return *e;
    } else if (key == "--level") {
      if (auto e = need(v)) return *e;
      if (v == "pod") o.view.level = Level::Pod;
      else if (v == "container") o.view.level = Level::Container;
      else if (v == "enclave") o.view.level = Level::Enclave;
      else return key + ": '" + v + "' is not pod, container or enclave";
    } else if (key == "--sort") {
      if (auto e = need(v)) return *e;
      auto c = column_by_name(v);
      if (!c) return key + ": unknown column '" + v + "'";
      o.view.sort = *c;
      o.view.descending = *c != Column::Name;
    } else if (key == "--note") {
      if (auto e = need(o.note)) return *e;
      if (o.note.size() > 200) return key + ": longer than 200 characters";
    } else if (key == "--namespace") {
      if (auto e = need(o.view.ns_filter)) return *e;
    } else if (key == "-n" || key == "--iterations") {
      if (auto e = need(v)) return *e;
      if (!to_long(v, o.iterations) || o.iterations < 1) return key + ": '" + v + "' is not a positive count";
    } else if (key == "--width" || key == "--height") {
      if (auto e = need(v)) return *e;
      long n = 0;
      if (!to_long(v, n) || n < 0 || n > 10000) return key + ": '" + v + "' is not a size between 0 and 10000";
      (key == "--width" ? o.width : o.height) = static_cast<int>(n);
    } else if (key == "--url") {
      if (auto e = need(v)) return *e;
      o.fetch.url = normalize_url(v);
      url_set = true;
    } else if (!a.empty() && a[0] == '-') {
      return "unknown option " + a + " (epctop --help lists them)";
    } else {
      if (url_set) return "more than one URL: " + o.fetch.url + " and " + a;
      o.fetch.url = normalize_url(a);
      url_set = true;
    }
  }
  if (o.fetch.url.rfind("http://", 0) != 0 && o.fetch.url.rfind("https://", 0) != 0)
    return "URL " + o.fetch.url + ": only http:// and https:// are supported";
  if (!o.fetch.key_file.empty() && o.fetch.cert_file.empty()) return "--tls.key-file needs --tls.cert-file";
  if (!o.password_file.empty() && o.fetch.username.empty())
    return "--basic-auth.password-file needs --basic-auth.username";
  if (o.batch && o.width != 0 && o.width < 40) return "--width must be at least 40";
  return o;
}

}  // namespace epctop
