// epc_exporter: Prometheus exporter for Intel SGX Enclave Page Cache usage and paging, per pod.
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <filesystem>
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
#include "collectors/cgroup.h"
#include "collectors/ebpf.h"
#include "scrape/version.h"
#include "web/web_config.h"

namespace {

constexpr int kExitUsage = 2;

// Descriptors kept free of the connection cap for BPF objects, libraries, logging and the collectors' transient
// reads (the cgroup collector's kept descriptors come out of what the cap leaves: collectors/cgroup.h).
constexpr rlim_t kFdReserve = epc::kFdReserve;

// Makes room for the connection cap in RLIMIT_NOFILE: the soft limit is raised towards the hard one (no capability
// needed; systemd and container runtimes commonly start services at soft 1024). Where the hard limit is too low,
// the cap shrinks instead, so a connection flood can never take the descriptors a scrape needs.
unsigned fit_connection_cap(unsigned wanted) {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return wanted;
  const rlim_t need = wanted + kFdReserve;
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
    rlimit raised = rl;
    raised.rlim_cur = rl.rlim_max == RLIM_INFINITY ? need : std::min<rlim_t>(rl.rlim_max, need);
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
  }
  if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need) return wanted;
  const unsigned fit = rl.rlim_cur > kFdReserve + 16 ? static_cast<unsigned>(rl.rlim_cur - kFdReserve) : 16u;
  spdlog::warn("{}", epc::log_fields("--web.max-connections lowered to fit RLIMIT_NOFILE",
                                     {{"wanted", std::to_string(wanted)}, {"max_connections", std::to_string(fit)},
                                      {"nofile", std::to_string(rl.rlim_cur)}, {"nofile_hard", std::to_string(rl.rlim_max)},
                                      {"kept_for_collectors", std::to_string(kFdReserve)}}));
  return fit;
}

int run(const epc::Config& cfg) {
  std::error_code ec;
  if (!std::filesystem::is_directory(cfg.rootfs, ec)) {
    spdlog::error("{}", epc::log_fields("--path.rootfs is not a directory", {{"path", cfg.rootfs}}));
    return kExitUsage;
  }
  // The web config is checked before anything is loaded: a bad file stops start-up with exit 2.
  epc::WebConfig web;
  if (!cfg.web_config_file.empty()) {
    auto loaded = epc::load_web_config(cfg.web_config_file);
    if (!loaded) {
      spdlog::error("{}", loaded.error().message);
      return kExitUsage;
    }
    web = std::move(*loaded);
    spdlog::info("{}", epc::log_fields("web config", {{"file", cfg.web_config_file}, {"tls", web.tls ? "on" : "off"},
                                                      {"basic_auth_users", std::to_string(web.basic_auth_users.size())}}));
  }
  epc::HostPaths paths(cfg.rootfs);
  epc::Attribution attribution(paths);
  epc::CollectorServices services{cfg, paths, attribution};
  try {
    if (epc::unpin_requested(cfg)) return epc::unpin_ebpf_state(services) ? 0 : 1;
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return kExitUsage;
  }

  std::vector<epc::Scraper::Named> collectors;
  for (const auto& spec : epc::all_collectors()) {
    if (!cfg.collector_enabled(spec.name)) continue;
    try {
      collectors.push_back({spec.name, spec.make(services)});
      spdlog::info("{}", epc::log_fields("collector enabled", {{"collector", spec.name}}));
    } catch (const std::exception& e) {
      spdlog::error("{}", epc::log_fields("collector not started", {{"collector", spec.name}, {"err", e.what()}}));
      return kExitUsage;
    }
  }
  epc::Scraper scraper(std::move(collectors), [&attribution] { attribution.refresh(); },
                       epc::Scraper::Options{.max_workloads = cfg.max_workloads,
                                             .workload_grace = std::chrono::milliseconds(cfg.workload_grace_ms),
                                             .exporter_metrics = !cfg.disable_exporter_metrics});

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
  http.listen_address = cfg.listen_address;
  http.telemetry_path = cfg.telemetry_path;
  http.max_requests = cfg.max_requests;
  http.request_timeout_ms = cfg.request_timeout_ms;
  const unsigned max_connections = cfg.max_connections;  // fitted to RLIMIT_NOFILE in main()
  http.max_connections = max_connections;
  http.keep_alive_timeout_ms = std::min(5000u, cfg.request_timeout_ms);
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
  spdlog::info("{}", epc::log_fields("listening", {{"address", cfg.listen_address}, {"port", ports},
                                                   {"telemetry_path", cfg.telemetry_path}, {"rootfs", cfg.rootfs},
                                                   {"max_connections", std::to_string(max_connections)}}));

  int sig = 0;
  sigwait(&sigs, &sig);
  spdlog::info("{}", epc::log_fields("shutting down", {{"signal", std::to_string(sig)}}));
  server->reset();
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
  if (!parsed) {
    std::cerr << "epc_exporter: error: " << parsed.error().message << "\n"
              << "Try 'epc_exporter --help'.\n";
    return kExitUsage;
  }
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
  epc::setup_logging(parsed->config.log_level, parsed->config.log_format);
  spdlog::info("{}", epc::log_fields("starting epc_exporter", {{"version", epc::kVersion}, {"revision", epc::kRevision}}));
  // One descriptor budget: the connection cap first, then the cgroup collector keeps what is left
  // (collectors/cgroup.h, kept_fd_budget).
  parsed->config.max_connections = fit_connection_cap(parsed->config.max_connections);
  try {
    return run(parsed->config);
  } catch (const std::exception& e) {
    spdlog::error("{}", epc::log_fields("fatal", {{"err", e.what()}}));
    return 1;
  }
}
