// epc_exporter: Prometheus exporter for Intel SGX Enclave Page Cache usage and paging, per pod.
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <malloc.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/utsname.h>

#include <spdlog/spdlog.h>

#include "attribution/attribution.h"
#include "collectors/registry.h"
#include "web/basic_auth.h"
#include "app/flags.h"
#include "host/host_paths.h"
#include "web/http_server.h"
#include "app/log.h"
#include "app/privileges.h"
#include "host/log_fields.h"
#include "scrape/scraper.h"
#include "collectors/ebpf.h"
#include "scrape/version.h"
#include "web/web_config.h"

namespace {

constexpr int kExitUsage = 2;

// Splits the descriptors once: room for the connection cap in RLIMIT_NOFILE (the soft limit is raised towards the
// hard one, no capability needed; systemd and container runtimes commonly start services at soft 1024), a reserve,
// and what the collectors may keep open between scrapes. Where the hard limit is too low the connection cap shrinks
// instead, so a connection flood can never take the descriptors a scrape needs.
struct DescriptorSplit {
  unsigned connections = 0;
  epc::FdBudget collectors;
};

DescriptorSplit split_descriptors(unsigned wanted) {
  const rlim_t reserve = epc::kFdReserve;
  DescriptorSplit out{wanted, epc::FdBudget{4096}};
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return out;
  const rlim_t need = wanted + reserve;
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
    rlimit raised = rl;
    raised.rlim_cur = rl.rlim_max == RLIM_INFINITY ? need : std::min<rlim_t>(rl.rlim_max, need);
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
  }
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
    out.connections = rl.rlim_cur > reserve + 16 ? static_cast<unsigned>(rl.rlim_cur - reserve) : 16u;
    spdlog::warn("{}", epc::log_fields("--web.max-connections lowered to fit RLIMIT_NOFILE",
                                       {{"wanted", std::to_string(wanted)},
                                        {"max_connections", std::to_string(out.connections)},
                                        {"nofile", std::to_string(rl.rlim_cur)},
                                        {"nofile_hard", std::to_string(rl.rlim_max)},
                                        {"kept_for_collectors", std::to_string(reserve)}}));
  }
  if (rl.rlim_cur != RLIM_INFINITY)
    out.collectors.keep = epc::kept_fd_budget(static_cast<std::size_t>(rl.rlim_cur), out.connections);
  spdlog::debug("{}", epc::log_fields("descriptors split", {{"nofile", std::to_string(rl.rlim_cur)},
                                                            {"max_connections", std::to_string(out.connections)},
                                                            {"reserve", std::to_string(reserve)},
                                                            {"collectors_keep", std::to_string(out.collectors.keep)}}));
  return out;
}

int run(const epc::ParsedFlags& cfg, const epc::WebConfig& web, const DescriptorSplit& fds) {
  const auto started = std::chrono::steady_clock::now();
  epc::HostPaths paths(cfg.rootfs);
  epc::Attribution attribution(paths);
  if (const auto* ebpf = cfg.collector_options<epc::EbpfOptions>("ebpf"); ebpf && ebpf->unpin)
    return epc::unpin_ebpf_state(*ebpf, paths) ? 0 : 1;

  const epc::CollectorServices services{paths, attribution, fds.collectors};
  std::vector<epc::Scraper::Named> collectors;
  for (const auto& c : cfg.collectors) {
    if (!c.enabled) continue;
    try {
      collectors.push_back({c.spec->name, c.options->make(services)});
      spdlog::info("{}", epc::log_fields("collector enabled", {{"collector", c.spec->name}}));
    } catch (const std::exception& e) {
      spdlog::error("{}", epc::log_fields("collector not started", {{"collector", c.spec->name}, {"err", e.what()}}));
      return kExitUsage;
    }
  }
  epc::Scraper scraper(std::move(collectors), [&attribution] { attribution.refresh(); },
                       epc::Scraper::Options{.max_workloads = cfg.scrape.max_workloads,
                                             .workload_grace = std::chrono::milliseconds(cfg.scrape.workload_grace_ms),
                                             .exporter_metrics = !cfg.scrape.disable_exporter_metrics});
  // Probes are loaded and attached: from here on nothing needs a capability (app/privileges.h says why).
  // Done before the HTTP server starts its threads, which then inherit the empty sets.
  utsname uts{};
  ::uname(&uts);
  const auto keep = epc::steady_state_capabilities(uts.release, epc::unprivileged_bpf_disabled(),
                                                   epc::process_holds_bpf_objects());
  if (auto dropped = epc::drop_capabilities(keep); !dropped) {
    spdlog::warn("{}", epc::log_fields("capabilities not dropped", {{"err", dropped.error().message}}));
    if (auto again = epc::drop_capabilities(keep, true); !again)
      spdlog::error("{}", epc::log_fields("capabilities not dropped", {{"err", again.error().message}}));
  }
  if (auto caps = epc::read_capability_state())
    spdlog::info("{}", epc::log_fields("capabilities", {{"effective", epc::capability_names(caps->effective)},
                                                        {"permitted", epc::capability_names(caps->permitted)},
                                                        {"bounding", epc::capability_names(caps->bounding)},
                                                        {"no_new_privs", caps->no_new_privs ? "true" : "false"}}));

  // Block the signals in every thread (the HTTP server's included) and wait for them here.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  epc::HttpOptions http;
  http.listen_address = cfg.web.listen_address;
  http.telemetry_path = cfg.web.telemetry_path;
  http.max_requests = cfg.web.max_requests;
  http.request_timeout_ms = cfg.web.request_timeout_ms;
  const unsigned max_connections = fds.connections;  // fitted to RLIMIT_NOFILE
  http.max_connections = max_connections;
  http.keep_alive_timeout_ms = std::min(5000u, cfg.web.request_timeout_ms);
  http.tls = web.tls;
  http.headers = web.headers;
  if (!web.basic_auth_users.empty()) http.auth = std::make_shared<epc::BasicAuth>(web.basic_auth_users);
  auto server = epc::HttpServer::start(std::move(http), scraper);
  if (!server) {
    spdlog::error("{}", server.error().message);
    return 1;
  }
  std::string ports;
  for (int p : (*server)->ports()) {
    if (!ports.empty()) ports += ',';
    ports += std::to_string(p);
  }
  spdlog::info("{}", epc::log_fields("listening", {{"address", cfg.web.listen_address}, {"port", ports},
                                                   {"telemetry_path", cfg.web.telemetry_path}, {"rootfs", cfg.rootfs},
                                                   {"max_connections", std::to_string(max_connections)}}));

  int sig = 0;
  sigwait(&sigs, &sig);
  spdlog::info("{}", epc::log_fields("shutting down", {{"signal", std::to_string(sig)}}));
  server->reset();
  const double up = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  spdlog::debug("{}", epc::log_fields("http server stopped",
                                      {{"uptime_seconds", std::to_string(up)}}));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // One malloc arena: otherwise glibc gives every HTTP worker thread that serves a scrape its own arena and the
  // freed scrape buffers stay in each (tests/perf: RSS 76 MiB -> 16 MiB at 4000 series; scrapes are serialised).
  mallopt(M_ARENA_MAX, 1);
  // The soft descriptor limit up to the hard one (as Go programs such as node_exporter do at start): the cgroup
  // collector keeps the descriptors of the misc files it reads open, within a budget derived from the soft limit
  // (systemd's default soft limit of 1024 would hold about 100 pods' files).
  if (struct rlimit rl {}; ::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, rlim_t{1} << 20);
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
  std::vector<std::string> args(argv + 1, argv + argc);
  auto parsed = epc::parse_flags(args, epc::all_collectors());
  auto usage_error = [](const std::string& message) {
    std::cerr << "epc_exporter: error: " << message << "\n"
              << "Try 'epc_exporter --help'.\n";
    return kExitUsage;
  };
  if (!parsed) return usage_error(parsed.error().message);
  switch (parsed->action) {
    case epc::ParsedFlags::Action::kHelp:
      std::cout << epc::usage(epc::all_collectors());
      return 0;
    case epc::ParsedFlags::Action::kVersion:
      std::cout << "epc_exporter, version " << epc::kVersion << " (revision " << epc::kRevision << ")\n";
      return 0;
    case epc::ParsedFlags::Action::kRun:
      break;
  }
  // Everything the flags name is checked before anything starts or logs: the root, each collector's files, the web
  // config (TLS files, bcrypt hashes).
  if (auto s = epc::validate_flags(*parsed); !s) return usage_error(s.error().message);
  epc::WebConfig web;
  if (!parsed->web.config_file.empty()) {
    auto loaded = epc::load_web_config(parsed->web.config_file);
    if (!loaded) return usage_error(loaded.error().message);
    web = std::move(*loaded);
  }
  epc::setup_logging(parsed->log_level, parsed->log_format);
  spdlog::info("{}", epc::log_fields("starting epc_exporter", {{"version", epc::kVersion}, {"revision", epc::kRevision}}));
  if (spdlog::should_log(spdlog::level::debug)) {
    const auto resolved = epc::resolved_flags(*parsed);
    std::vector<epc::LogField> fields(resolved.begin(), resolved.end());
    spdlog::debug("{}", epc::log_fields("config resolved", fields));
  }
  if (!parsed->web.config_file.empty())
    spdlog::info("{}", epc::log_fields("web config", {{"file", parsed->web.config_file},
                                                      {"tls", web.tls ? "on" : "off"},
                                                      {"basic_auth_users", std::to_string(web.basic_auth_users.size())}}));
  // One descriptor budget: the connection cap first, then what the collectors may keep open.
  const DescriptorSplit fds = split_descriptors(parsed->web.max_connections);
  try {
    return run(*parsed, web, fds);
  } catch (const std::exception& e) {
    spdlog::error("{}", epc::log_fields("fatal", {{"err", e.what()}}));
    return 1;
  }
}
