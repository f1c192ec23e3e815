#include "app/flags.h"

#include <filesystem>
#include <map>
#include <sstream>

#include "host/parse.h"

namespace epc {
namespace {

Status check_listen_address(std::string_view v) {
  auto colon = v.rfind(':');
  if (colon == std::string_view::npos) return make_error("'" + std::string(v) + "' has no :port");
  auto port = parse_u64(v.substr(colon + 1));
  if (!port || *port > 65535) return make_error("bad port in '" + std::string(v) + "'");
  std::string_view host = v.substr(0, colon);
  const bool bracketed = host.size() >= 2 && host.front() == '[' && host.back() == ']';
  if (!bracketed && host.find(':') != std::string_view::npos)
    return make_error("IPv6 addresses need brackets, e.g. [::1]:9840");
  return {};
}

Status check_telemetry_path(std::string_view v) {
  if (v.size() < 2 || v.front() != '/' || v == "/healthz" || v.find_first_of(" ?#*\t") != std::string_view::npos)
    return make_error("'" + std::string(v) + "' must start with '/', not be '/' or '/healthz'");
  return {};
}

Status check_not_empty(std::string_view v) {
  if (v.empty()) return make_error("empty path");
  return {};
}

// The flags of the process itself, bound to `f`, in --help's groups. (The collectors' come with their options.)
std::vector<FlagSet> process_flags(ParsedFlags& f) {
  std::vector<FlagSet> groups;
  groups.reserve(4);
  FlagSet& web = groups.emplace_back("Web");
  web.add_string("web.listen-address", "ADDRESS",
                 "Address to listen on, [host]:port: :9840 is every address (IPv6 and IPv4), 127.0.0.1:9840 or "
                 "[::1]:9840 one. Given once: the exporter serves one address.",
                 f.web.listen_address, check_listen_address);
  web.add_string("web.telemetry-path", "PATH",
                 "Path under which to expose metrics; / is a landing page, /healthz answers 200 while serving.",
                 f.web.telemetry_path, check_telemetry_path);
  web.add_string("web.config.file", "FILE",
                 "TLS and basic auth, exporter-toolkit web configuration format (docs/security.md).",
                 f.web.config_file);
  web.add_uint("web.max-requests", "N", "Requests served at once; more are answered 503.", f.web.max_requests, 1,
               1024);
  web.add_uint("web.max-connections", "N",
               "Open connections; at the cap the oldest connection that has not sent a complete request is closed "
               "to make room.",
               f.web.max_connections, 1, 1048576);
  web.add_duration_ms("web.request-timeout",
                      "Time a client has to send its request, and a scrape may wait for another one to finish.",
                      f.web.request_timeout_ms, 1);
  web.add_bool("web.disable-exporter-metrics",
               "Leave out the exporter's own process_* metrics (CPU, memory, file descriptors, start time), as "
               "node_exporter's flag does. The sgx_exporter_* self metrics stay: they carry collector success and "
               "the workload cap.",
               f.scrape.disable_exporter_metrics);
  FlagSet& paths = groups.emplace_back("Paths");
  paths.add_string("path.rootfs", "PATH",
                   "Root of the host's file system: sys, proc, dev, sys/fs/cgroup, var/log/pods and "
                   "var/log/containers are read under it. In a container, mount the host at /host and pass /host.",
                   f.rootfs, check_not_empty);
  FlagSet& metrics = groups.emplace_back("Metrics");
  metrics.add_uint("metrics.max-workloads", "N",
                   "Most workloads (pods, containers, cgroups) with their own series; the rest are summed into "
                   "cgroup=\"_overflow\". 0: no limit.",
                   f.scrape.max_workloads, 0, 1000000);
  metrics.add_duration_ms("metrics.workload-grace",
                          "Time a workload must be missing before its slot under --metrics.max-workloads is freed "
                          "(and an overflowed one forgotten).",
                          f.scrape.workload_grace_ms, 0);
  FlagSet& log = groups.emplace_back("Logging");
  log.add_choice("log.level", "LEVEL", "Least severity logged: debug, info, warn or error.", f.log_level,
                 {"debug", "info", "warn", "error"});
  log.add_choice("log.format", "FORMAT", "Format of log lines: logfmt or json.", f.log_format, {"logfmt", "json"});
  return groups;
}

const CollectorSpec* find_collector(const std::vector<CollectorSpec>& collectors, std::string_view name) {
  for (const auto& c : collectors)
    if (c.name == name) return &c;
  return nullptr;
}

std::vector<ConfiguredCollector> configure_collectors(const std::vector<CollectorSpec>& specs) {
  std::vector<ConfiguredCollector> out;
  for (const auto& spec : specs)
    out.push_back({&spec, spec.options ? spec.options() : nullptr, spec.enabled_by_default});
  return out;
}

// Every flag definition: the process's groups, then each collector's.
std::vector<const FlagDef*> all_defs(const std::vector<FlagSet>& groups, const std::vector<ConfiguredCollector>& cs) {
  std::vector<const FlagDef*> out;
  for (const auto& g : groups)
    for (const auto& d : g.defs()) out.push_back(&d);
  for (const auto& c : cs)
    if (c.options)
      for (const auto& d : c.options->flags().defs()) out.push_back(&d);
  return out;
}

// Flags that are refused when given twice instead of keeping the last (the mistake would go unnoticed otherwise).
bool single_use(std::string_view name) { return name == "web.listen-address"; }

}  // namespace

bool ParsedFlags::collector_enabled(std::string_view name) const {
  for (const auto& c : collectors)
    if (c.spec->name == name) return c.enabled;
  return false;
}

Result<ParsedFlags> parse_flags(const std::vector<std::string>& args, const std::vector<CollectorSpec>& specs) {
  ParsedFlags out;
  out.collectors = configure_collectors(specs);
  const std::vector<FlagSet> groups = process_flags(out);
  const std::vector<const FlagDef*> defs = all_defs(groups, out.collectors);
  bool disable_defaults = false;
  std::map<std::string, bool> explicit_switch;  // collector -> on/off, the last one given
  std::map<std::string, std::string> given;      // single-use flag -> its first value

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
    if (arg.rfind("--", 0) != 0 || arg.size() == 2) {
      std::string msg = "unexpected argument '" + arg + "' (flags start with --; see --help)";
      if ((arg == "true" || arg == "false") && i > 0)
        msg = "unexpected argument '" + arg + "': a boolean flag takes its value as " + args[i - 1] + "=" + arg +
              " (or --no-" + args[i - 1].substr(2) + ")";
      return make_error(msg);
    }

    std::string name = arg.substr(2), value;
    bool has_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name.resize(eq);
      has_value = true;
    }

    if (name == "collector.disable-defaults") {
      if (has_value) return make_error("--collector.disable-defaults takes no value");
      disable_defaults = true;
      continue;
    }
    // --collector.<name> / --no-collector.<name>: a collector's switch.
    const bool negated = name.rfind("no-", 0) == 0;
    const std::string bare = negated ? name.substr(3) : name;
    if (bare.rfind("collector.", 0) == 0 && bare.find('.', 10) == std::string::npos) {
      const std::string c = bare.substr(10);
      if (!find_collector(specs, c)) return make_error("unknown collector in --" + name);
      if (has_value)
        return make_error("--" + name + " takes no value" + (negated ? "" : " (use --no-" + name + " to disable)"));
      explicit_switch[c] = !negated;
      continue;
    }

    const FlagDef* def = nullptr;
    for (const FlagDef* d : defs)
      if (d->name == name || (negated && d->boolean() && d->name == bare)) def = d;
    if (!def) {
      if (bare.rfind("collector.", 0) == 0 && find_collector(specs, bare.substr(10, bare.find('.', 10) - 10)))
        return make_error("unknown flag --" + name + " (see --help for the collector's flags)");
      if (bare.rfind("collector.", 0) == 0) return make_error("unknown collector in --" + name);
      return make_error("unknown flag --" + name + " (see --help)");
    }
    if (def->boolean()) {
      if (negated && has_value) return make_error("--" + name + " takes no value");
      if (auto s = def->set(negated ? "false" : has_value ? value : "true"); !s)
        return make_error("--" + def->name + ": " + s.error().message);
      continue;
    }
    if (!has_value) {
      if (i + 1 >= args.size()) return make_error("--" + name + " needs a value");
      value = args[++i];
    }
    if (single_use(def->name)) {
      auto [it, first] = given.try_emplace(def->name, value);
      if (!first)
        return make_error("--" + def->name + " given twice ('" + it->second + "' and '" + value +
                          "'): the exporter listens on one address (:PORT is every address, IPv6 and IPv4)");
    }
    if (auto s = def->set(value); !s) return make_error("--" + def->name + ": " + s.error().message);
  }

  for (auto& c : out.collectors) {
    if (disable_defaults) c.enabled = false;
    if (auto it = explicit_switch.find(c.spec->name); it != explicit_switch.end()) c.enabled = it->second;
  }
  return out;
}

Status validate_flags(ParsedFlags& flags) {
  std::error_code ec;
  if (!std::filesystem::is_directory(flags.rootfs, ec))
    return make_error("--path.rootfs " + flags.rootfs + ": not a directory");
  for (auto& c : flags.collectors)
    if (c.options)
      if (auto s = c.options->validate(); !s) return s;
  return {};
}

std::vector<std::pair<std::string, std::string>> resolved_flags(ParsedFlags& flags) {
  std::vector<std::pair<std::string, std::string>> out;
  const std::vector<FlagSet> groups = process_flags(flags);
  for (const FlagDef* d : all_defs(groups, flags.collectors)) out.emplace_back(d->name, d->get ? d->get() : "");
  std::string on;
  for (const auto& c : flags.collectors)
    if (c.enabled) on += (on.empty() ? "" : ",") + c.spec->name;
  out.emplace_back("collectors", on);
  return out;
}

namespace {

// "  --flag=PLACEHOLDER   help text wrapped..." with the help column at kHelpColumn.
constexpr std::size_t kHelpColumn = 38;
// A space that does not break a line: "(default: 4096)" stays whole.
constexpr char kKeepTogether = '\x1f';

void wrap_line(std::ostringstream& o, const std::string& flag, const std::string& help) {
  std::string line = "  " + flag;
  if (line.size() + 2 > kHelpColumn) {  // a long flag: its help starts on the next line
    o << line << "\n";
    line.clear();
  }
  line.resize(kHelpColumn, ' ');
  bool line_empty = true;
  std::istringstream words(help);
  std::string w;
  while (words >> w) {
    if (!line_empty && line.size() + 1 + w.size() > kUsageWidth) {  // (kKeepTogether counts as the space it is)
      o << line << "\n";
      line.assign(kHelpColumn, ' ');
      line_empty = true;
    }
    if (!line_empty) line += ' ';
    for (char c : w) line += c == kKeepTogether ? ' ' : c;
    line_empty = false;
  }
  o << line << "\n";
}

std::string with_default(const FlagDef& d) {
  if (d.default_text.empty()) return d.help;
  return d.help + " (default:" + kKeepTogether + d.default_text + ")";
}

void group(std::ostringstream& o, const std::string& title, const std::vector<FlagDef>& defs) {
  o << "\n" << title << ":\n";
  for (const auto& d : defs)
    wrap_line(o, d.boolean() ? "--[no-]" + d.name : "--" + d.name + "=" + d.placeholder, with_default(d));
}

}  // namespace

std::string usage(const std::vector<CollectorSpec>& specs) {
  ParsedFlags defaults;
  defaults.collectors = configure_collectors(specs);
  const std::vector<FlagSet> groups = process_flags(defaults);
  std::ostringstream o;
  o << "usage: epc_exporter [<flags>]\n\n"
       "Prometheus exporter for Intel SGX Enclave Page Cache (EPC) usage and paging, per pod.\n\n";
  wrap_line(o, "-h, --help", "Show this help and exit.");
  wrap_line(o, "--version", "Show the version and exit.");
  for (const auto& g : groups) group(o, g.title(), g.defs());
  o << "\nCollectors:\n";
  wrap_line(o, "--collector.disable-defaults", "Turn off every collector that is not enabled explicitly.");
  for (const auto& c : defaults.collectors)
    wrap_line(o, "--[no-]collector." + c.spec->name,
              c.spec->help + " (default:" + kKeepTogether + (c.spec->enabled_by_default ? "on)" : "off)"));
  for (const auto& c : defaults.collectors)
    if (c.options && !c.options->flags().defs().empty())
      group(o, "Collector " + c.spec->name, c.options->flags().defs());
  return o.str();
}

}  // namespace epc
