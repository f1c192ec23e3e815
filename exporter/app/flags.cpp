#include "app/flags.h"

#include <charconv>
#include <cmath>
#include <functional>
#include <sstream>

#include "host/parse.h"

namespace epc {
namespace {

struct FlagDef {
  std::string name;
  std::string placeholder;  // empty: boolean flag, takes no value
  std::string help;
  std::function<Status(Config&, const std::string&)> set;
  std::function<std::string()> default_text = [] { return std::string(); };
};

Status one_of(const std::string& flag, const std::string& v, std::initializer_list<const char*> allowed) {
  for (const char* a : allowed)
    if (v == a) return {};
  std::string list;
  for (const char* a : allowed) list += std::string(list.empty() ? "" : ", ") + a;
  return make_error("--" + flag + ": '" + v + "' is not one of " + list);
}

Status positive(const std::string& flag, const std::string& v, unsigned& out, unsigned max) {
  auto n = parse_u64(v);
  if (!n || *n == 0 || *n > max)
    return make_error("--" + flag + ": '" + v + "' is not a whole number from 1 to " + std::to_string(max));
  out = static_cast<unsigned>(*n);
  return {};
}

const std::vector<FlagDef>& flag_defs() {
  static const std::vector<FlagDef> defs = {
      {"web.listen-address", "ADDRESS", "Address to listen on: [host]:port, e.g. :9840, 127.0.0.1:9840, [::1]:9840.",
       [](Config& c, const std::string& v) -> Status {
         auto colon = v.rfind(':');
         if (colon == std::string::npos) return make_error("--web.listen-address: '" + v + "' has no :port");
         auto port = parse_u64(std::string_view(v).substr(colon + 1));
         if (!port || *port > 65535) return make_error("--web.listen-address: bad port in '" + v + "'");
         std::string host = v.substr(0, colon);
         if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
           // IPv6 literal
         } else if (host.find(':') != std::string::npos) {
           return make_error("--web.listen-address: IPv6 addresses need brackets, e.g. [::1]:9840");
         }
         c.listen_address = v;
         return {};
       },
       [] { return std::string(":9840"); }},
      {"web.telemetry-path", "PATH", "Path under which to expose metrics.",
       [](Config& c, const std::string& v) -> Status {
         if (v.size() < 2 || v.front() != '/' || v == "/healthz" || v.find_first_of(" ?#*\t") != std::string::npos)
           return make_error("--web.telemetry-path: '" + v + "' must start with '/', not be '/' or '/healthz'");
         c.telemetry_path = v;
         return {};
       },
       [] { return std::string("/metrics"); }},
      {"web.config.file", "FILE", "Path to a web configuration file (TLS and basic auth, exporter-toolkit format).",
       [](Config& c, const std::string& v) -> Status {
         c.web_config_file = v;
         return {};
       }},
      {"web.max-requests", "N", "Maximum number of requests served at once; more are answered 503.",
       [](Config& c, const std::string& v) { return positive("web.max-requests", v, c.max_requests, 1024); },
       [] { return std::string("40"); }},
      {"web.max-connections", "N",
       "Maximum number of open connections; at the cap the oldest connection that has not sent a complete request "
       "is closed to make room.",
       [](Config& c, const std::string& v) {
         return positive("web.max-connections", v, c.max_connections, 1048576);
       },
       [] { return std::string("4096"); }},
      {"web.request-timeout", "DURATION", "Time a client has to send its request and a scrape may wait, e.g. 10s.",
       [](Config& c, const std::string& v) -> Status {
         auto ms = parse_duration_ms(v);
         if (!ms || *ms == 0) return make_error("--web.request-timeout: '" + v + "' is not a duration like 10s or 500ms");
         c.request_timeout_ms = *ms;
         return {};
       },
       [] { return std::string("10s"); }},
      {"web.disable-exporter-metrics", "",
       "Exclude the exporter's own process_* metrics (CPU, memory, file descriptors, start time) from the "
       "telemetry path, as node_exporter's flag does. The sgx_exporter_* self metrics stay: they carry collector "
       "success and the workload cap.",
       [](Config& c, const std::string& v) -> Status {
         if (v != "true" && v != "false")
           return make_error("--web.disable-exporter-metrics: '" + v + "' is not true or false");
         c.disable_exporter_metrics = v == "true";
         return {};
       }},
      {"metrics.max-workloads", "N",
       "Most workloads (pods, containers, cgroups) with their own series; the rest are summed into "
       "cgroup=\"_overflow\". 0: no limit.",
       [](Config& c, const std::string& v) -> Status {
         auto n = parse_u64(v);
         if (!n || *n > 1000000)
           return make_error("--metrics.max-workloads: '" + v + "' is not a whole number from 0 to 1000000");
         c.max_workloads = static_cast<unsigned>(*n);
         return {};
       },
       [] { return std::string("1000"); }},
      {"metrics.workload-grace", "DURATION",
       "Time a workload must be missing before its slot under --metrics.max-workloads is freed (and an overflowed "
       "one forgotten), e.g. 5m.",
       [](Config& c, const std::string& v) -> Status {
         auto ms = parse_duration_ms(v);
         if (!ms) return make_error("--metrics.workload-grace: '" + v + "' is not a duration like 5m or 30s");
         c.workload_grace_ms = *ms;
         return {};
       },
       [] { return std::string("5m"); }},
      {"path.rootfs", "PATH", "Root of the host's file system (sys, proc, sys/fs/cgroup, var/log/pods are read under it).",
       [](Config& c, const std::string& v) -> Status {
         if (v.empty()) return make_error("--path.rootfs: empty path");
         c.rootfs = v;
         return {};
       },
       [] { return std::string("/"); }},
      {"log.level", "LEVEL", "Only log messages with the given severity or above: debug, info, warn, error.",
       [](Config& c, const std::string& v) -> Status {
         if (auto s = one_of("log.level", v, {"debug", "info", "warn", "error"}); !s) return s;
         c.log_level = v;
         return {};
       },
       [] { return std::string("info"); }},
      {"log.format", "FORMAT", "Output format of log messages: logfmt, json.",
       [](Config& c, const std::string& v) -> Status {
         if (auto s = one_of("log.format", v, {"logfmt", "json"}); !s) return s;
         c.log_format = v;
         return {};
       },
       [] { return std::string("logfmt"); }},
  };
  return defs;
}

const CollectorSpec* find_collector(const std::vector<CollectorSpec>& collectors, std::string_view name) {
  for (const auto& c : collectors)
    if (c.name == name) return &c;
  return nullptr;
}

}  // namespace

Result<unsigned> parse_duration_ms(const std::string& text) {
  std::string_view s = trim(text);
  std::size_t unit_at = s.find_first_not_of("0123456789.");
  if (unit_at == 0 || unit_at == std::string_view::npos) return make_error("duration needs a unit (ms, s, m)");
  std::string_view num = s.substr(0, unit_at), unit = s.substr(unit_at);
  double v = 0;
  auto [ptr, ec] = std::from_chars(num.data(), num.data() + num.size(), v);
  if (ec != std::errc() || ptr != num.data() + num.size()) return make_error("bad number in duration");
  double factor = unit == "ms" ? 1 : unit == "s" ? 1000 : unit == "m" ? 60000 : -1;
  if (factor < 0) return make_error("unknown duration unit '" + std::string(unit) + "'");
  double ms = v * factor;
  if (!std::isfinite(ms) || ms > 24.0 * 3600 * 1000) return make_error("duration longer than a day");
  return static_cast<unsigned>(std::llround(ms));
}

Result<ParsedFlags> parse_flags(const std::vector<std::string>& args, const std::vector<CollectorSpec>& collectors) {
  ParsedFlags out;
  Config& cfg = out.config;
  for (const auto& c : collectors) {
    if (c.enabled_by_default) cfg.enabled_collectors.insert(c.name);
    for (const auto& f : c.flags) cfg.collector_flags[c.name + "." + f.name] = f.default_value;
  }
  bool disable_defaults = false;
  std::set<std::string> explicit_on, explicit_off;

  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "-h" || arg == "--help") {
      out.action = ParsedFlags::Action::kHelp;
      return out;
    }
    if (arg == "--version") {
      out.action = ParsedFlags::Action::kVersion;
      return out;
    }
    if (arg.rfind("--", 0) != 0 || arg.size() == 2)
      return make_error("unexpected argument '" + arg + "' (flags start with --; see --help)");

    std::string name = arg.substr(2), value;
    bool has_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
      has_value = true;
    }
    // Takes the value from "--flag=value" or from the next argument.
    auto take_value = [&]() -> Result<std::string> {
      if (has_value) return value;
      if (i + 1 >= args.size()) return make_error("--" + name + " needs a value");
      return args[++i];
    };

    if (name == "collector.disable-defaults") {
      if (has_value) return make_error("--collector.disable-defaults takes no value");
      disable_defaults = true;
      continue;
    }
    if (name.rfind("no-collector.", 0) == 0) {
      std::string c = name.substr(13);
      if (!find_collector(collectors, c)) return make_error("unknown collector in --" + name);
      if (has_value) return make_error("--" + name + " takes no value");
      explicit_off.insert(c);
      explicit_on.erase(c);
      continue;
    }
    if (name.rfind("collector.", 0) == 0) {
      std::string rest = name.substr(10);
      auto dot = rest.find('.');
      std::string c = rest.substr(0, dot);
      const CollectorSpec* spec = find_collector(collectors, c);
      if (!spec) return make_error("unknown collector in --" + name);
      if (dot == std::string::npos) {
        if (has_value) return make_error("--" + name + " takes no value (use --no-" + name + " to disable)");
        explicit_on.insert(c);
        explicit_off.erase(c);
        continue;
      }
      std::string f = rest.substr(dot + 1);
      const CollectorFlag* flag = nullptr;
      for (const auto& cf : spec->flags)
        if (cf.name == f) flag = &cf;
      if (!flag) return make_error("unknown flag --" + name);
      // A true/false flag given bare (no value, next argument another flag or none) means true.
      const bool boolean = flag->default_value == "true" || flag->default_value == "false";
      if (boolean && !has_value && (i + 1 >= args.size() || args[i + 1].rfind("--", 0) == 0)) {
        cfg.collector_flags[c + "." + f] = "true";
        continue;
      }
      auto v = take_value();
      if (!v) return v.error();
      cfg.collector_flags[c + "." + f] = *v;
      continue;
    }

    const FlagDef* def = nullptr;
    // A boolean flag (no placeholder) as kingpin has them in node_exporter: "--flag" or "--flag=true|false" sets
    // it, "--no-flag" clears it; it never takes the next argument as its value.
    const bool negated = name.rfind("no-", 0) == 0;
    for (const auto& d : flag_defs())
      if (d.name == name || (negated && d.placeholder.empty() && d.name == name.substr(3))) def = &d;
    if (!def) return make_error("unknown flag --" + name + " (see --help)");
    if (def->placeholder.empty()) {
      if (negated && has_value) return make_error("--" + name + " takes no value");
      if (auto s = def->set(cfg, negated ? "false" : has_value ? value : "true"); !s) return s.error();
      continue;
    }
    auto v = take_value();
    if (!v) return v.error();
    if (auto s = def->set(cfg, *v); !s) return s.error();
  }

  if (disable_defaults) cfg.enabled_collectors.clear();
  for (const auto& c : explicit_on) cfg.enabled_collectors.insert(c);
  for (const auto& c : explicit_off) cfg.enabled_collectors.erase(c);
  return out;
}

std::string usage(const std::vector<CollectorSpec>& collectors) {
  std::ostringstream o;
  o << "usage: epc_exporter [<flags>]\n\n"
       "Prometheus exporter for Intel SGX Enclave Page Cache (EPC) usage and paging, per pod.\n\nFlags:\n";
  auto line = [&](const std::string& flag, const std::string& help) {
    o << "  " << flag;
    if (flag.size() < 38) o << std::string(38 - flag.size(), ' ');
    else o << "\n" << std::string(40, ' ');
    o << help << "\n";
  };
  line("-h, --help", "Show this help and exit.");
  line("--version", "Show the version and exit.");
  for (const auto& d : flag_defs()) {
    std::string def = d.default_text();
    line(d.placeholder.empty() ? "--[no-]" + d.name : "--" + d.name + "=" + d.placeholder,
         d.help + (def.empty() ? "" : " Default: " + def));
  }
  line("--collector.disable-defaults", "Disable every collector not enabled explicitly.");
  for (const auto& c : collectors) {
    line("--[no-]collector." + c.name, c.help + (c.enabled_by_default ? " (default: on)" : " (default: off)"));
    for (const auto& f : c.flags)
      line("--collector." + c.name + "." + f.name + "=VALUE",
           f.help + (f.default_value.empty() ? "" : " Default: " + f.default_value));
  }
  return o.str();
}

}  // namespace epc
