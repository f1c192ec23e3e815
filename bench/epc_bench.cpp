// epc_bench: what EPC oversubscription costs an enclave, on SGX hardware (sgx), on a software model of EPC
// paging (sim) and on plain memory (native). Google Benchmark harness; our own flags are parsed first and
// removed, the rest go to benchmark::Initialize. See docs/benchmarking.md.
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include "backend.h"
#include "exporter_client.h"
#include "sim/sim_model.h"
#include "validate.h"
#include "workloads.h"

namespace epcbench {
namespace {

struct Options {
  std::vector<std::string> backends = {"sim"};
  BackendOptions backend;
  std::vector<double> ratios = {0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0};
  std::vector<Pattern> patterns = {Pattern::kSequential, Pattern::kRandom, Pattern::kStrided};
  std::vector<int> enclaves = {2, 4};
  std::vector<double> contend_ratios = {0.5, 2.0};
  std::vector<std::size_t> build_pages = {256, 4096};
  std::optional<HttpUrl> exporter;
  WorkloadSelector selector;
  std::string attach_cmd, detach_cmd;
  // --validate: check the exporter against a known workload on this SGX node instead of benchmarking.
  bool validate = false;
  std::string validate_out = ".";
  int validate_rounds = 5;
  // sim only: the calibrated cost model (nullopt = raw, the userfaultfd timing alone) and its clock.
  std::optional<sim::CostProfile> model;
  double model_ghz = sim::kDefaultModelGhz;
};

Options g_opts;
std::map<std::string, std::unique_ptr<Backend>> g_backends;

Backend& backend(const std::string& name) {
  auto& b = g_backends[name];
  if (!b) b = make_backend(name, g_opts.backend);
  return *b;
}

double now_ns() {
  return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

long minor_faults() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_minflt;
}

// A set of enclaves that each make one pass of the same pattern per round, in parallel when there are several.
// Random order uses a different permutation each round (cycling through kRandomOrders): one fixed order
// repeated is a cyclic pattern, which FIFO-like reclaim turns into a miss on every touch just like sequential.
constexpr int kRandomOrders = 8;

struct Fleet {
  std::vector<std::unique_ptr<Enclave>> enclaves;
  std::vector<std::vector<std::vector<std::uint32_t>>> orders;  // [enclave][variant]
  std::size_t rounds = 0;

  static Result<Fleet> make(Backend& b, Pattern p, std::size_t pages_each, int n) {
    Fleet f;
    for (int i = 0; i < n; ++i) {
      auto e = b.create({pages_each});
      if (!e) return make_error(b.name() + ": " + e.error().message);
      f.enclaves.push_back(std::move(e.value()));
      f.orders.emplace_back();
      int variants = p == Pattern::kRandom ? kRandomOrders : 1;
      for (int v = 0; v < variants; ++v)
        f.orders.back().push_back(make_pattern(p, pages_each, 1 + static_cast<std::uint64_t>(i * kRandomOrders + v)));
    }
    return f;
  }
  const std::vector<std::uint32_t>& idx(std::size_t i, std::size_t round) const {
    return orders[i][round % orders[i].size()];
  }
  std::size_t touches_per_round() const {
    std::size_t t = 0;
    for (auto& v : orders) t += v[0].size();
    return t;
  }
  Status round() {
    std::size_t r = rounds++;
    if (enclaves.size() == 1) {
      auto res = run_pass(*enclaves[0], idx(0, r));
      if (!res) return res.error();
      benchmark::DoNotOptimize(res.value());
      return Status::Ok();
    }
    std::vector<Status> st(enclaves.size());
    std::vector<std::thread> th;
    for (std::size_t i = 0; i < enclaves.size(); ++i)
      th.emplace_back([&, i, r] {
        auto res = run_pass(*enclaves[i], idx(i, r));
        if (!res) st[i] = res.error();
      });
    for (auto& t : th) t.join();
    for (auto& s : st)
      if (!s) return s;
    return Status::Ok();
  }
  EnclaveStats totals() const {
    EnclaveStats t;
    for (auto& e : enclaves) {
      EnclaveStats s = e->stats();
      auto add = [](std::optional<std::uint64_t>& a, const std::optional<std::uint64_t>& b) {
        if (b) a = a.value_or(0) + *b;
      };
      add(t.faults, s.faults);
      add(t.evictions, s.evictions);
      add(t.load_backs, s.load_backs);
    }
    return t;
  }
};

// ns per touch of the native baseline for the same shape; measured once per shape.
Result<double> native_baseline(Pattern p, std::size_t pages_each, int n) {
  static std::map<std::tuple<int, std::size_t, int>, double> cache;
  auto key = std::make_tuple(static_cast<int>(p), pages_each, n);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  auto f = Fleet::make(backend("native"), p, pages_each, n);
  if (!f) return f.error();
  if (auto st = f.value().round(); !st) return st.error();  // warm-up
  // Best of three blocks of at least 20 ms (and 3 rounds) each: robust against a noisy neighbour stealing the
  // CPU for a while, which only ever makes a block slower.
  double best = 0;
  for (int block = 0; block < 3; ++block) {
    double t0 = now_ns(), t = 0;
    std::size_t touches = 0;
    int rounds = 0;
    do {
      if (auto st = f.value().round(); !st) return st.error();
      touches += f.value().touches_per_round();
      t = now_ns() - t0;
    } while (++rounds < 3 || t < 20e6);
    double v = t / static_cast<double>(touches);
    if (block == 0 || v < best) best = v;
  }
  return cache[key] = best;
}

std::optional<ExporterCounts> scrape_exporter(std::string* err) {
  if (!g_opts.exporter) return std::nullopt;
  auto samples = scrape(*g_opts.exporter);
  if (!samples) {
    *err = samples.error().message;
    return std::nullopt;
  }
  return select_counts(samples.value(), g_opts.selector);
}

// Runs the rounds of one case and sets the counters every touch case reports.
void run_touch_case(benchmark::State& state, const std::string& bname, Pattern p, double ratio, int n) {
  Backend& b = backend(bname);
  if (auto why = b.unavailable()) {
    state.SkipWithError(why->c_str());
    return;
  }
  std::size_t epc_pages = b.epc_bytes() / kPageSize;
  if (epc_pages == 0) {
    state.SkipWithError("EPC size unknown on this host");
    return;
  }
  std::size_t total = std::max<std::size_t>(n, static_cast<std::size_t>(std::llround(ratio * double(epc_pages))));
  std::size_t each = total / static_cast<std::size_t>(n);
  auto fleet = Fleet::make(b, p, each, n);
  if (!fleet) {
    state.SkipWithError(fleet.error().message.c_str());
    return;
  }
  Fleet& f = fleet.value();
  if (auto st = f.round(); !st) {  // warm-up: first touches / initial load
    state.SkipWithError(st.error().message.c_str());
    return;
  }
  std::string exp_err;
  auto exp0 = scrape_exporter(&exp_err);
  EnclaveStats s0 = f.totals();
  long mf0 = minor_faults();
  double ns = 0;
  std::size_t touches = 0;
  std::vector<double> per_round;
  for (auto _ : state) {
    double t0 = now_ns();
    if (auto st = f.round(); !st) {
      state.SkipWithError(st.error().message.c_str());
      return;
    }
    double t = now_ns() - t0;
    ns += t;
    touches += f.touches_per_round();
    per_round.push_back(t / static_cast<double>(f.touches_per_round()));
  }
  EnclaveStats s1 = f.totals();
  long mf1 = minor_faults();
  auto exp1 = scrape_exporter(&exp_err);

  // The mean is what the workload pays (periodic reclaim included); the median shows the typical round.
  std::sort(per_round.begin(), per_round.end());
  double ns_per_touch = ns / static_cast<double>(std::max<std::size_t>(1, touches));
  state.counters["ns_per_touch_median"] = per_round.empty() ? 0 : per_round[per_round.size() / 2];
  state.counters["ws_over_epc"] = static_cast<double>(each * n) / static_cast<double>(epc_pages);
  state.counters["ns_per_touch"] = ns_per_touch;
  state.counters["os_minor_faults_per_touch"] = static_cast<double>(mf1 - mf0) / double(std::max<std::size_t>(1, touches));
  using C = benchmark::Counter;
  if (s1.faults) state.counters["faults_per_s"] = C(static_cast<double>(*s1.faults - *s0.faults), C::kIsRate);
  if (s1.evictions) state.counters["evictions_per_s"] = C(static_cast<double>(*s1.evictions - *s0.evictions), C::kIsRate);
  if (s1.load_backs) state.counters["load_backs_per_s"] = C(static_cast<double>(*s1.load_backs - *s0.load_backs), C::kIsRate);
  if (s1.evictions) state.counters["evictions"] = static_cast<double>(*s1.evictions - *s0.evictions);
  if (s1.load_backs) state.counters["load_backs"] = static_cast<double>(*s1.load_backs - *s0.load_backs);
  // Fraction of touches that paged: the curve's shape without the host's noise.
  if (s1.load_backs && touches > 0)
    state.counters["load_backs_per_touch"] = static_cast<double>(*s1.load_backs - *s0.load_backs) / double(touches);
  auto base = native_baseline(p, each, n);
  if (base) {
    state.counters["native_ns_per_touch"] = base.value();
    state.counters["slowdown_vs_native"] = ns_per_touch / base.value();
  }
  // The calibrated model (sim only): what the same paging would cost at the profile's published per-event
  // costs. Computed, not measured: the model_ prefix says so, and the JSON context names the profile.
  if (bname == "sim" && g_opts.model && base && s1.load_backs && s1.evictions && touches > 0) {
    sim::ModelInput in;
    in.native_ns_per_touch = base.value();
    in.load_backs_per_touch = static_cast<double>(*s1.load_backs - *s0.load_backs) / double(touches);
    in.evictions_per_touch = static_cast<double>(*s1.evictions - *s0.evictions) / double(touches);
    auto m = sim::model_touch_cost(*g_opts.model, g_opts.model_ghz, in);
    state.counters["model_ns_per_touch"] = m.ns_per_touch;
    state.counters["model_slowdown_vs_native"] = m.slowdown_vs_native;
    state.counters["evictions_per_touch"] = in.evictions_per_touch;
  }
  if (exp0 && exp1) {
    // The exporter's view of the same interval, beside the bench's own counts.
    state.counters["exporter_evicted"] = exp1->evicted - exp0->evicted;
    state.counters["exporter_loaded_back"] = exp1->loaded_back - exp0->loaded_back;
    state.counters["exporter_faults"] = exp1->faults - exp0->faults;
    if (!exp1->any_series)
      state.SetLabel("exporter has no series for " + g_opts.selector.describe());
  } else if (g_opts.exporter) {
    state.SetLabel(exp_err);
  }
}

void bm_touch(benchmark::State& state, std::string b, Pattern p, double ratio) { run_touch_case(state, b, p, ratio, 1); }
void bm_contend(benchmark::State& state, std::string b, int n, double ratio) {
  run_touch_case(state, b, Pattern::kRandom, ratio, n);
}

void bm_build(benchmark::State& state, std::string bname, std::size_t pages) {
  Backend& b = backend(bname);
  if (bname != "sgx") {
    state.SkipWithError("enclave build (ECREATE/EADD/EEXTEND/EINIT) exists only on the sgx backend");
    return;
  }
  if (auto why = b.unavailable()) {
    state.SkipWithError(why->c_str());
    return;
  }
  for (auto _ : state) {
    auto e = b.create({pages});
    if (!e) {
      state.SkipWithError(e.error().message.c_str());
      return;
    }
    state.PauseTiming();
    e.value().reset();  // teardown (EREMOVE) is not build time
    state.ResumeTiming();
  }
  state.counters["pages_per_s"] = benchmark::Counter(double(pages) * double(state.iterations()), benchmark::Counter::kIsRate);
}

void bm_round_trip(benchmark::State& state, std::string bname) {
  Backend& b = backend(bname);
  if (bname != "sgx") {
    state.SkipWithError("enclave entry/exit (EENTER/EEXIT) exists only on the sgx backend");
    return;
  }
  if (auto why = b.unavailable()) {
    state.SkipWithError(why->c_str());
    return;
  }
  auto e = b.create({1});
  if (!e) {
    state.SkipWithError(e.error().message.c_str());
    return;
  }
  for (auto _ : state) {
    if (auto st = e.value()->round_trip(); !st) {
      state.SkipWithError(st.error().message.c_str());
      return;
    }
  }
}

// Slowdown of the workload with the exporter's probes attached vs detached. Needs probes that fire, i.e. SGX
// hardware with the in-kernel driver; everywhere else it skips with the reason.
void bm_exporter_overhead(benchmark::State& state, std::string bname, double ratio) {
  if (!g_opts.exporter || g_opts.attach_cmd.empty() || g_opts.detach_cmd.empty()) {
    state.SkipWithError("needs --exporter-url, --exporter-attach-cmd and --exporter-detach-cmd (an exporter whose "
                        "SGX probes can be attached and detached)");
    return;
  }
  if (std::system(g_opts.attach_cmd.c_str()) != 0) {
    state.SkipWithError("--exporter-attach-cmd failed");
    return;
  }
  std::string err;
  auto c = scrape_exporter(&err);
  if (!c || !c->probes_attached) {
    state.SkipWithError(c ? "the exporter reports no attached SGX probe (sgx_exporter_probe_attached == 1 for none): "
                            "no in-kernel SGX driver to probe here, so there is no overhead to measure"
                          : err.c_str());
    return;
  }
  Backend& b = backend(bname);
  if (auto why = b.unavailable()) {
    state.SkipWithError(why->c_str());
    return;
  }
  std::size_t pages = std::max<std::size_t>(1, static_cast<std::size_t>(ratio * double(b.epc_bytes() / kPageSize)));
  auto f = Fleet::make(b, Pattern::kRandom, pages, 1);
  if (!f) {
    state.SkipWithError(f.error().message.c_str());
    return;
  }
  (void)f.value().round();  // warm-up; a failed round is not reported by this case
  double on = 0, off = 0;
  for (auto _ : state) {
    // Alternate so drift (thermal, noisy neighbours) hits both sides alike.
    if (std::system(g_opts.attach_cmd.c_str()) != 0) break;
    double t0 = now_ns();
    (void)f.value().round();
    on += now_ns() - t0;
    state.PauseTiming();
    if (std::system(g_opts.detach_cmd.c_str()) != 0) break;
    state.ResumeTiming();
    t0 = now_ns();
    (void)f.value().round();
    off += now_ns() - t0;
  }
  if (std::system(g_opts.attach_cmd.c_str()) != 0) state.SetLabel("re-attach failed");
  if (off > 0) state.counters["overhead_pct"] = 100.0 * (on - off) / off;
}

// ---------------------------------------------------------------------------------------------------------
// Flags

[[noreturn]] void usage(int rc, const std::string& msg = "") {
  if (!msg.empty()) std::fprintf(stderr, "epc_bench: %s\n", msg.c_str());
  std::fprintf(rc == 0 ? stdout : stderr,
               "usage: epc_bench [--backend=sim,native,sgx|all] [--epc-mib=N] [--ratios=R,...]\n"
               "                 [--patterns=sequential,random,strided] [--enclaves=N,...] [--contend-ratios=R,...]\n"
               "                 [--build-pages=N,...] [--smoke] [--sim-model=raw|vault|cycles:F,E] [--sim-model-ghz=G]\n"
               "                 [--exporter-url=http://HOST:PORT/metrics] [--exporter-pod=NS/POD | --exporter-cgroup=PATH]\n"
               "                 [--exporter-attach-cmd=CMD --exporter-detach-cmd=CMD] [Google Benchmark flags]\n"
               "       epc_bench --validate [--exporter-url=URL] [--exporter-pod=NS/POD | --exporter-cgroup=PATH]\n"
               "                 [--exporter-attach-cmd=CMD --exporter-detach-cmd=CMD] [--validate-out=DIR]\n"
               "                 [--validate-rounds=N] [--sgx-epc-mib=N]\n"
               "  --validate      on an SGX node: check the exporter (--exporter-url, default\n"
               "                  http://127.0.0.1:9840/metrics) against enclaves this run creates and pages (below\n"
               "                  the EPC, then about 2x over it); measure the probes' overhead (attached/detached by\n"
               "                  the two commands, else by a private exporter instance) and the cost of a page swap;\n"
               "                  write validate.json and validate.md in --validate-out (default .), print the summary.\n"
               "                  Exit 0 pass, 1 fail or incomplete, 77 no SGX here\n"
               "  --validate-rounds attached/detached pairs of the overhead measurement, default 5\n"
               "  --epc-mib       model EPC size of the sim backend (and the native reference), default 16\n"
               "  --sgx-epc-mib   EPC size for the sgx backend where the host reports none (sysfs, CPUID 0x12)\n"
               "  --ratios        working set / EPC ratios of the touch cases, default 0.25..4\n"
               "  --smoke         small, fast run: 2 MiB model EPC, ratios 0.5 and 2, sequential and random\n"
               "  --sim-model     sim cost model: raw (default; the userfaultfd timing only) or a profile of published\n"
               "                  per-event SGX costs (vault: about 40K cycles per page swap, VAULT ASPLOS'18), or\n"
               "                  cycles:F,E (F cycles per load-back, E per eviction); adds model_ns_per_touch and\n"
               "                  model_slowdown_vs_native (computed from the exact paging counts, not measured)\n"
               "  --sim-model-ghz clock the model converts cycles at, default 3.0 (an assumption)\n");
  std::exit(rc);
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

double to_double(const std::string& flag, const std::string& v, double lo, double hi) {
  char* end = nullptr;
  errno = 0;
  double d = std::strtod(v.c_str(), &end);
  if (v.empty() || end != v.c_str() + v.size() || errno != 0 || !(d >= lo && d <= hi))
    usage(2, flag + ": '" + v + "' is not a number in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return d;
}

std::vector<char*> parse_flags(int argc, char** argv, bool* has_min_time) {
  std::vector<char*> rest = {argv[0]};
  bool smoke = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto val = [&](const char* name) -> std::optional<std::string> {
      std::string pre = std::string(name) + "=";
      if (a.rfind(pre, 0) == 0) return a.substr(pre.size());
      return std::nullopt;
    };
    if (a == "--help" || a == "-h") usage(0);
    if (a.rfind("--benchmark_", 0) == 0 || a.rfind("--v=", 0) == 0) {
      if (a.rfind("--benchmark_min_time", 0) == 0) *has_min_time = true;
      rest.push_back(argv[i]);
    } else if (a == "--smoke") {
      smoke = true;
    } else if (a == "--validate") {
      g_opts.validate = true;
    } else if (auto v = val("--validate-out")) {
      if (v->empty()) usage(2, "--validate-out: empty");
      g_opts.validate_out = *v;
    } else if (auto v = val("--validate-rounds")) {
      g_opts.validate_rounds = static_cast<int>(to_double("--validate-rounds", *v, 1, 100));
    } else if (auto v = val("--backend")) {
      g_opts.backends = *v == "all" ? std::vector<std::string>{"native", "sim", "sgx"} : split(*v);
      for (auto& b : g_opts.backends)
        if (b != "sim" && b != "native" && b != "sgx") usage(2, "--backend: unknown backend '" + b + "'");
      if (g_opts.backends.empty()) usage(2, "--backend: empty");
    } else if (auto v = val("--sgx-epc-mib")) {
      g_opts.backend.sgx_epc_bytes =
          static_cast<std::size_t>(to_double("--sgx-epc-mib", *v, 0.0625, 1 << 20) * (1 << 20));
    } else if (auto v = val("--epc-mib")) {
      g_opts.backend.model_epc_bytes = static_cast<std::size_t>(to_double("--epc-mib", *v, 0.0625, 65536) * (1 << 20));
    } else if (auto v = val("--ratios")) {
      g_opts.ratios.clear();
      for (auto& r : split(*v)) g_opts.ratios.push_back(to_double("--ratios", r, 0.001, 64));
    } else if (auto v = val("--contend-ratios")) {
      g_opts.contend_ratios.clear();
      for (auto& r : split(*v)) g_opts.contend_ratios.push_back(to_double("--contend-ratios", r, 0.001, 64));
    } else if (auto v = val("--patterns")) {
      g_opts.patterns.clear();
      for (auto& p : split(*v)) {
        auto pp = parse_pattern(p);
        if (!pp) usage(2, "--patterns: unknown pattern '" + p + "'");
        g_opts.patterns.push_back(*pp);
      }
    } else if (auto v = val("--enclaves")) {
      g_opts.enclaves.clear();
      for (auto& n : split(*v)) g_opts.enclaves.push_back(static_cast<int>(to_double("--enclaves", n, 1, 64)));
    } else if (auto v = val("--build-pages")) {
      g_opts.build_pages.clear();
      for (auto& n : split(*v)) g_opts.build_pages.push_back(static_cast<std::size_t>(to_double("--build-pages", n, 1, 1 << 26)));
    } else if (auto v = val("--sim-model")) {
      auto m = sim::parse_sim_model(*v);
      if (!m) usage(2, "--sim-model: " + m.error().message);
      g_opts.model = m.value();
    } else if (auto v = val("--sim-model-ghz")) {
      g_opts.model_ghz = to_double("--sim-model-ghz", *v, 0.1, 10);
    } else if (auto v = val("--exporter-url")) {
      auto u = parse_http_url(*v);
      if (!u) usage(2, "--exporter-url: " + u.error().message);
      g_opts.exporter = u.value();
    } else if (auto v = val("--exporter-pod")) {
      auto slash = v->find('/');
      if (slash == std::string::npos || slash == 0 || slash + 1 == v->size()) usage(2, "--exporter-pod: expected NAMESPACE/POD");
      g_opts.selector.namespace_name = v->substr(0, slash);
      g_opts.selector.pod = v->substr(slash + 1);
    } else if (auto v = val("--exporter-cgroup")) {
      g_opts.selector.cgroup = *v;
    } else if (auto v = val("--exporter-attach-cmd")) {
      g_opts.attach_cmd = *v;
    } else if (auto v = val("--exporter-detach-cmd")) {
      g_opts.detach_cmd = *v;
    } else {
      usage(2, "unknown flag '" + a + "'");
    }
  }
  if (smoke) {
    g_opts.backend.model_epc_bytes = 2u << 20;
    g_opts.ratios = {0.5, 2.0};
    g_opts.patterns = {Pattern::kSequential, Pattern::kRandom};
    g_opts.enclaves = {2};
    g_opts.contend_ratios = {2.0};
    g_opts.build_pages = {16};
  }
  if (g_opts.validate && !g_opts.exporter) g_opts.exporter = parse_http_url(validate::kDefaultExporterUrl).value();
  if (g_opts.attach_cmd.empty() != g_opts.detach_cmd.empty())
    usage(2, "--exporter-attach-cmd and --exporter-detach-cmd go together");
  if (g_opts.exporter && g_opts.selector.pod.empty() && g_opts.selector.cgroup.empty()) {
    std::ifstream f("/proc/self/cgroup");
    std::stringstream ss;
    ss << f.rdbuf();
    auto c = cgroup_label_from_proc(ss.str());
    if (!c) usage(2, "--exporter-url: cannot tell this process's cgroup v2 path; give --exporter-pod or --exporter-cgroup");
    g_opts.selector.cgroup = *c;
  }
  return rest;
}

std::string fmt_ratio(double r) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2f", r);
  return b;
}

void register_all() {
  for (const auto& b : g_opts.backends) {
    for (Pattern p : g_opts.patterns)
      for (double r : g_opts.ratios)
        benchmark::RegisterBenchmark(("touch/" + b + "/" + pattern_name(p) + "/ws_over_epc:" + fmt_ratio(r)).c_str(),
                                     bm_touch, b, p, r)
            ->UseRealTime()
            ->Unit(benchmark::kMillisecond);
    for (int n : g_opts.enclaves)
      for (double r : g_opts.contend_ratios)
        benchmark::RegisterBenchmark(
            ("contend/" + b + "/enclaves:" + std::to_string(n) + "/ws_over_epc:" + fmt_ratio(r)).c_str(), bm_contend, b,
            n, r)
            ->UseRealTime()
            ->Unit(benchmark::kMillisecond);
    if (b == "sgx") {
      for (std::size_t pages : g_opts.build_pages)
        benchmark::RegisterBenchmark(("build/sgx/heap_pages:" + std::to_string(pages)).c_str(), bm_build, b, pages)
            ->UseRealTime()
            ->Unit(benchmark::kMillisecond);
      benchmark::RegisterBenchmark("round_trip/sgx", bm_round_trip, b)->Unit(benchmark::kNanosecond);
    }
    if (b != "native")
      benchmark::RegisterBenchmark(("exporter_overhead/" + b + "/ws_over_epc:2.00").c_str(), bm_exporter_overhead, b, 2.0)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
  }
}

}  // namespace
}  // namespace epcbench

int main(int argc, char** argv) {
  bool has_min_time = false;
  auto rest = epcbench::parse_flags(argc, argv, &has_min_time);
  if (epcbench::g_opts.validate) {
    const auto& g = epcbench::g_opts;
    epcbench::validate::Options vo;
    vo.exporter = *g.exporter;
    vo.selector = g.selector;
    vo.attach_cmd = g.attach_cmd;
    vo.detach_cmd = g.detach_cmd;
    vo.out_dir = g.validate_out;
    vo.overhead_rounds = g.validate_rounds;
    vo.epc_bytes_fallback = g.backend.sgx_epc_bytes;
    return epcbench::validate::run(vo);
  }
  static std::string min_time = "--benchmark_min_time=0.05";
  bool smoke = false;
  for (int i = 1; i < argc; ++i) smoke |= std::strcmp(argv[i], "--smoke") == 0;
  if (smoke && !has_min_time) rest.push_back(min_time.data());
  for (const auto& b : epcbench::g_opts.backends)
    if (auto why = epcbench::backend(b).unavailable()) std::fprintf(stderr, "epc_bench: %s\n", why->c_str());
  int n = static_cast<int>(rest.size());
  rest.push_back(nullptr);
  benchmark::Initialize(&n, rest.data());
  if (benchmark::ReportUnrecognizedArguments(n, rest.data())) return 2;
  epcbench::register_all();
  if (const auto& m = epcbench::g_opts.model) {
    // Into the JSON's context, so every figure derived from model_* carries its provenance.
    benchmark::AddCustomContext("sim_model", m->name);
    benchmark::AddCustomContext("sim_model_source", m->source);
    benchmark::AddCustomContext("sim_model_fault_cycles", std::to_string(m->fault_cycles));
    benchmark::AddCustomContext("sim_model_ewb_cycles", std::to_string(m->ewb_cycles));
    benchmark::AddCustomContext("sim_model_ghz", std::to_string(epcbench::g_opts.model_ghz));
    benchmark::AddCustomContext("sim_model_note", "model_* counters are computed (software model), not measured");
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
