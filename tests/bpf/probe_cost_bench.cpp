// bench_probe_cost: what the probes cost per swapped page on this CPU, a model built from three measured parts (no
// SGX hardware is involved; it is not a measurement on one):
//  1. runs per swapped page of every program: tests/bpf/data/probe_runs.txt (tests/sgx_emu/probe_cost_data.py runs:
//     run_cnt of each program / the emulated EWB count, SGX-emulating kernels under QEMU/TCG, -EBUSY retries included);
//  2. each program's body on this CPU: its accounting step through BPF_PROG_TEST_RUN in the state it meets on the
//     paging path (cost_parts.h), plus the helpers it calls to read the kernel (each timed here, counted from the
//     program's call sites in the BPF object: an upper bound where a branch skips one);
//  3. the attach mechanism per call: an empty fentry / fexit / kprobe / kretprobe on getpid() against none, measured
//     here when this kernel can attach them, else taken from tests/bpf/data/attach_cost.txt (probe_cost_data.py
//     attach: measured in the emulated guest as a ratio to one swapped page's accounting there, scaled by that
//     accounting's figure here); the published figures are printed beside.
// A hook with entry and return programs pays the pair's cost once per call, split evenly between its two programs.
//
// Prints each part with its source, the total per kernel, flavor and scenario, and last, for the worst kernel and
// scenario per flavor:
//   probe cost per swapped page: fentry N ns (X.XX % of a 40K-cycle swap at 2.8 GHz), kprobe M ns (Y.YY %)
// A benchmark: it never fails on a slow machine. Exit 0, 1 when a data file is missing or malformed, 77 without root
// or BPF (the bodies cannot be measured).
//
// usage: bpf_probe_cost_bench [--runs FILE] [--attach FILE] [--events N] [--reps N] [--calls N]
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cost_parts.h"

namespace cb = epc::costbench;

namespace {

constexpr double kSwapNs = 40000.0 / 2.8;  // a page swap, ~40K cycles (VAULT, ASPLOS'18) at 2.8 GHz (Xeon 8370C)
// cloudflare/ebpf_exporter benchmark/README.md: empty probe on getpid(), Linux 6.5-rc1 on an M1 under QEMU.
const std::map<std::string, double> kPublished = {{"fentry", 24}, {"kprobe", 137}};

struct Record {
  std::string kernel, flavor, scenario, release;
  std::map<std::string, double> n;        // EWB=, ELDU=, fault_retries=, ...
  std::map<std::string, double> programs;  // program -> runs
};

// "run"/"prog" lines of probe_runs.txt. Empty and *err set on a malformed file.
std::vector<Record> read_runs(const std::string& path, std::string* err) {
  std::ifstream f(path);
  if (!f) {
    *err = "cannot read " + path;
    return {};
  }
  std::vector<Record> out;
  std::string line;
  for (int no = 1; std::getline(f, line); ++no) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream in(line);
    std::string kind, kernel, flavor, scenario;
    in >> kind >> kernel >> flavor >> scenario;
    auto bad = [&](const std::string& why) {
      *err = path + ":" + std::to_string(no) + ": " + why;
      return std::vector<Record>{};
    };
    if (scenario.empty()) return bad("too few fields");
    if (kind == "run") {
      Record r{kernel, flavor, scenario, "?", {}, {}};
      for (std::string kv; in >> kv;) {
        const auto eq = kv.find('=');
        if (eq == std::string::npos) return bad("not key=value: " + kv);
        if (kv.compare(0, eq, "release") == 0) {
          r.release = kv.substr(eq + 1);
          continue;
        }
        char* end = nullptr;
        const double v = std::strtod(kv.c_str() + eq + 1, &end);
        if (*end || v < 0) return bad("not a count: " + kv);
        r.n[kv.substr(0, eq)] = v;
      }
      if (r.n["EWB"] <= 0) return bad("no EWB count");
      out.push_back(r);
    } else if (kind == "prog") {
      std::string prog;
      double runs = -1;
      if (!(in >> prog >> runs) || runs < 0) return bad("expected: prog <kernel> <flavor> <scenario> <program> <runs>");
      auto it = std::find_if(out.begin(), out.end(), [&](const Record& r) {
        return r.kernel == kernel && r.flavor == flavor && r.scenario == scenario;
      });
      if (it == out.end()) return bad("prog line before its run line");
      it->programs[prog] = runs;
    } else {
      return bad("unknown line kind " + kind);
    }
  }
  // Rows recorded before the fentry flavor ran the allocation and ELDU by their fexit alone (before_cut=1): the
  // driver's calls are the same, so the fexits' runs stand; the entry programs that no longer exist are taken out.
  for (auto& r : out)
    if (r.n.count("before_cut") && r.flavor == "fentry") {
      r.programs.erase("fe_epc_alloc");
      r.programs.erase("fe_eldu");
    }
  if (out.empty()) *err = path + ": no runs";
  return out;
}

struct Guest {
  std::string kernel, release;
  double reference = 0;
  std::map<std::string, double> attach;  // config -> ns per getpid()
  std::map<std::string, double> ratio;   // config -> (attach - none) / reference, per round, median
};

std::vector<Guest> read_attach(const std::string& path, std::string* err) {
  std::ifstream f(path);
  if (!f) {
    *err = "cannot read " + path;
    return {};
  }
  std::vector<Guest> out;
  std::string line;
  for (int no = 1; std::getline(f, line); ++no) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream in(line);
    std::string kind, a;
    in >> kind >> a;
    if (kind == "guest") {
      out.push_back(Guest{a, "?", 0, {}, {}});
      continue;
    }
    if (out.empty()) {
      *err = path + ":" + std::to_string(no) + ": a line before the first guest line";
      return {};
    }
    double v = -1;
    if (kind == "kernel") out.back().release = a;
    else if (kind == "reference") out.back().reference = std::strtod(a.c_str(), nullptr);
    else if (kind == "attach" && (in >> v) && v > 0) out.back().attach[a] = v;
    else if (kind == "ratio" && (in >> v)) out.back().ratio[a] = v;
  }
  std::erase_if(out, [](const Guest& g) { return g.reference <= 0 || !g.attach.count("none"); });
  if (out.empty()) *err = path + ": no guest with a reference and an unattached (none) figure";
  return out;
}

// "fe_page_fault" -> {"fentry", "page_fault"}; the fexit variant for one-argument sgx_encl_grow is va_grow.
std::pair<std::string, std::string> split_program(const std::string& p) {
  static const std::map<std::string, std::string> kinds = {
      {"fe_", "fentry"}, {"fx_", "fexit"}, {"kp_", "kprobe"}, {"kr_", "kretprobe"}};
  for (const auto& [prefix, kind] : kinds)
    if (p.rfind(prefix, 0) == 0) {
      std::string hook = p.substr(3);
      if (hook == "va_grow1") hook = "va_grow";
      return {kind, hook};
    }
  return {"?", p};
}

bool is_return(const std::string& kind) { return kind == "fexit" || kind == "kretprobe"; }

struct Model {
  std::map<std::string, double> step;    // step name -> ns (accounting alone)
  std::map<int, double> helper;          // helper -> ns per call
  std::map<std::string, std::map<int, int>> calls;  // program -> helper -> call sites
  std::map<std::string, double> attach;  // config -> ns per call on this CPU
  double unmeasured_bound = 0;           // bodies of hooks with no test step: bounded by the costliest step
};

// The accounting paths a program takes on the paging path, each with its share of the program's runs (from the
// run's counts: retries, failed allocations, ELDU leaves). one_attempt: only the paths a load-back takes when its
// first attempt succeeds.
std::vector<std::pair<std::string, double>> paths(const std::string& hook, bool ret, double runs, const Record& r,
                                                  bool one_attempt) {
  auto n = [&](const char* k) { return r.n.count(k) ? r.n.at(k) : 0.0; };
  // A fexit that ran without its fentry (hooks.h FEXIT): the fexit alone does the entry's work too.
  const bool alone = ret && r.flavor == "fentry" && !(r.programs.count("fe_" + hook) && r.programs.at("fe_" + hook) > 0);
  const double retries = one_attempt ? 0 : std::min(runs, n("fault_retries"));
  if (hook == "ewb") return {{"ewb", runs}};
  if (hook == "epc_free") return {{"page free (evicted page)", runs}};
  if (hook == "reclaim") return {{"reclaim", runs}};
  if (hook == "va_grow") return {{ret ? "va grow return (slot left)" : "va grow entry", runs}};
  if (hook == "page_fault") {
    if (!ret) return {{"fault entry", runs}};
    // A load-back after retries ends its wait (one per retried load-back at most); the others end none.
    const double ok = runs - retries, after = std::min(ok, retries);
    return {{"fault return (retry)", retries}, {"fault return (after retries)", after}, {"fault return", ok - after}};
  }
  if (hook == "eldu") {
    if (!ret) return {{"eldu entry", runs}};
    const double failed = one_attempt ? 0 : std::max(0.0, runs - n("ELDU"));
    if (alone) return {{"eldu exit (fexit alone, failed)", failed}, {"eldu exit (fexit alone)", runs - failed}};
    return {{"eldu return (failed)", failed}, {"eldu return", runs - failed}};
  }
  if (hook == "epc_alloc") {
    if (!ret) return {{"alloc entry", runs}};
    const double failed = one_attempt ? 0 : std::min(runs, n("alloc_failures"));
    if (alone) return {{"alloc exit (fexit alone, -EBUSY)", failed}, {"alloc exit (fexit alone)", runs - failed}};
    return {{"alloc return (-EBUSY)", failed}, {"alloc return", runs - failed}};
  }
  return {{"", runs}};  // not on the paging path: no test step (bounded)
}

// Runs of a program with one attempt per load-back: the -EBUSY attempts (fault, ELDU, allocation) taken out.
double one_attempt_runs(const std::string& hook, double runs, const Record& r) {
  auto n = [&](const char* k) { return r.n.count(k) ? r.n.at(k) : 0.0; };
  if (hook == "page_fault") return std::max(0.0, runs - n("fault_retries"));
  if (hook == "eldu") return std::min(runs, n("ELDU"));
  if (hook == "epc_alloc") return std::max(0.0, runs - n("alloc_failures"));
  return runs;
}

struct Cost {
  double runs = 0, body = 0, helpers = 0, attach = 0;
  double total() const { return body + helpers + attach; }
};

// Per program of a run, per swapped page (the run's EWB count).
std::map<std::string, Cost> price(const Record& r, const Model& m, bool one_attempt) {
  const double ewb = r.n.at("EWB");
  std::set<std::string> hooks_with_return;
  for (const auto& [p, runs] : r.programs)
    if (runs > 0 && is_return(split_program(p).first)) hooks_with_return.insert(split_program(p).second);
  std::map<std::string, Cost> out;
  for (const auto& [p, all_runs] : r.programs) {
    if (all_runs <= 0) continue;
    const auto [kind, hook] = split_program(p);
    const double runs = one_attempt ? one_attempt_runs(hook, all_runs, r) : all_runs;
    Cost c;
    c.runs = runs / ewb;
    for (const auto& [name, n] : paths(hook, is_return(kind), runs, r, one_attempt)) {
      const auto it = m.step.find(name);
      c.body += n / ewb * (it != m.step.end() ? std::max(0.0, it->second) : m.unmeasured_bound);
    }
    if (auto it = m.calls.find(p); it != m.calls.end())
      for (const auto& [h, k] : it->second)
        c.helpers += c.runs * k * std::max(0.0, m.helper.count(h) ? m.helper.at(h) : 0.0);
    // The pair's cost once per call of the hook, half to each program; a lone program pays its own kind.
    const bool kprobe = kind == "kprobe" || kind == "kretprobe";
    const auto entry = r.programs.find((kprobe ? "kp_" : "fe_") + hook);
    const bool paired = hooks_with_return.count(hook) && entry != r.programs.end() && entry->second > 0;
    const std::string pair = kprobe ? "kprobe+kretprobe" : "fentry+fexit";
    const auto a = m.attach.find(paired ? pair : kind);
    c.attach = a == m.attach.end() ? 0 : c.runs * (paired ? a->second / 2 : a->second);
    out[p] = c;
  }
  return out;
}

double sum_total(const std::map<std::string, Cost>& costs) {
  double t = 0;
  for (const auto& [p, c] : costs) t += c.total();
  return t;
}
double sum_runs(const std::map<std::string, Cost>& costs) {
  double t = 0;
  for (const auto& [p, c] : costs) t += c.runs;
  return t;
}

double pct(double ns) { return ns / kSwapNs * 100; }

}  // namespace

int main(int argc, char** argv) {
  std::string runs_path = EPC_PROBE_RUNS, attach_path = EPC_ATTACH_COST;
  long events = 400000, calls = 200000;
  int reps = 7;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--runs" && i + 1 < argc) runs_path = argv[++i];
    else if (a == "--attach" && i + 1 < argc) attach_path = argv[++i];
    else if (a == "--events" && i + 1 < argc) events = std::strtol(argv[++i], nullptr, 10);
    else if (a == "--calls" && i + 1 < argc) calls = std::strtol(argv[++i], nullptr, 10);
    else if (a == "--reps" && i + 1 < argc) reps = std::atoi(argv[++i]);
    else {
      std::fprintf(stderr, "usage: %s [--runs FILE] [--attach FILE] [--events N] [--reps N] [--calls N]\n", argv[0]);
      return 2;
    }
  }
  if (events < 1000 || calls < 1000 || reps < 1 || reps > 100) {
    std::fprintf(stderr, "--events >= 1000, --calls >= 1000, --reps 1..100\n");
    return 2;
  }
  std::string err;
  const auto records = read_runs(runs_path, &err);
  if (records.empty()) {
    std::printf("FAIL: runs per swapped page: %s\n", err.c_str());
    return 1;
  }
  const auto guests = read_attach(attach_path, &err);
  if (guests.empty()) {
    std::printf("FAIL: attach mechanism: %s\n", err.c_str());
    return 1;
  }
  cb::BenchSetup setup;
  if (int rc = cb::start_bench(events, reps, &setup, &err); rc != 0) {
    std::printf("%s: %s\n", rc == 77 ? "SKIP" : "FAIL", err.c_str());
    return rc;
  }
  cb::StepBench& bench = *setup.bench;

  std::string load = "?";
  std::ifstream("/proc/loadavg") >> load;  // a loaded machine inflates every timed part
  std::printf("probe cost per swapped page on this CPU (%s, %ld CPUs, Linux %s, load average %s): a model built from "
              "measured parts, not a measurement on SGX hardware\n", cb::cpu_model().c_str(),
              ::sysconf(_SC_NPROCESSORS_ONLN), cb::kernel_release().c_str(), load.c_str());

  // ---- part 2: bodies here ----
  Model m;
  std::printf("\npart 2, each program's body on this CPU: its accounting step through BPF_PROG_TEST_RUN (bpf_loop "
              "batches, kernel BPF stats, the fastest of %d, ~%ld events per figure), in the state the paging path "
              "leaves it (one swap's steps in order; a step = its prefix less the prefix before it, less %.1f ns of "
              "sequence overhead)\n", reps, events, bench.step_overhead_ns());
  auto keep = [&](const std::vector<cb::StepCost>& costs, const char* title) {
    std::printf("  %s:\n", title);
    for (const auto& c : costs) {
      std::string name = c.step.name;
      std::printf("    %-30s %7.1f ns\n", name.c_str(), c.ns);
      if (!m.step.count(name)) m.step[name] = c.ns;
    }
  };
  keep(bench.sequence_costs(cb::swap_sequence(0)), "a swapped page loaded back at the first attempt");
  auto retry = bench.sequence_costs(cb::swap_sequence(1));
  retry.back().step.name = "fault return (after retries)";  // ends the wait the retry began
  keep(retry, "a swapped page loaded back after one -EBUSY attempt");
  // The fentry flavor's ELDU and allocation: their fexit alone (hooks.h FEXIT); the other steps as above.
  auto only_alone = [](std::vector<cb::StepCost> costs) {
    std::erase_if(costs, [](const cb::StepCost& c) { return c.step.name.find("fexit alone") == std::string::npos; });
    return costs;
  };
  keep(only_alone(bench.sequence_costs(cb::swap_sequence(0, true))),
       "fentry flavor, ELDU and allocation by their fexit alone, first attempt");
  keep(only_alone(bench.sequence_costs(cb::swap_sequence(1, true))),
       "fentry flavor, ELDU and allocation by their fexit alone, after one -EBUSY attempt");
  keep(bench.alone_costs(cb::other_steps()), "outside a swap's sequence, each alone");
  for (const auto& [name, ns] : m.step) m.unmeasured_bound = std::max(m.unmeasured_bound, ns);
  m.helper = bench.helper_costs();
  std::printf("  helpers the handlers call to read the kernel (the test events hand those values in), one call each:\n");
  for (const auto& [h, ns] : m.helper) std::printf("    %-30s %7.1f ns\n", cb::helper_name(h), ns);
  m.calls = cb::helper_calls(EPC_BPF_OBJECT_PATH);
  if (m.calls.empty()) {
    std::printf("FAIL: cannot read the programs' helper calls from %s\n", EPC_BPF_OBJECT_PATH);
    return 1;
  }
  std::printf("  hooks off the paging path with no test step (creation, release, ioctl, SIGSTRUCT, vEPC): bounded "
              "by the costliest step, %.1f ns\n", m.unmeasured_bound);

  // ---- part 3: attach ----
  std::printf("\npart 3, the attach mechanism per call (an empty program on getpid() against none):\n");
  std::map<std::string, std::string> why;
  const auto here = cb::measure_attach(calls, reps, &why);
  const double host_ref = bench.sequence_ns(cb::swap_sequence(0));
  for (const auto& c : cb::attach_configs()) {
    if (c == "none") continue;
    std::string line;
    char buf[256];
    if (here.count(c) && here.count("none")) {
      m.attach[c] = here.at(c) - here.at("none");
      std::snprintf(buf, sizeof buf, "%7.1f ns measured on this host", m.attach[c]);
      line = buf;
    } else {
      // Scaled from each guest; the largest figure is used.
      std::string from;
      for (const auto& g : guests) {
        if (!g.attach.count(c)) continue;
        const double ratio =
            g.ratio.count(c) ? g.ratio.at(c) : (g.attach.at(c) - g.attach.at("none")) / g.reference;
        const double ns = ratio * host_ref;
        m.attach[c] = std::max(m.attach.count(c) ? m.attach[c] : 0.0, ns);
        std::snprintf(buf, sizeof buf, "%s%s guest %.4f x reference = %.1f ns", from.empty() ? "" : "; ",
                      g.kernel.c_str(), ratio, ns);
        from += buf;
      }
      if (!m.attach.count(c)) {
        std::printf("  %-17s not measured (%s; no guest figure)\n", c.c_str(), why.count(c) ? why[c].c_str() : "?");
        continue;
      }
      std::snprintf(buf, sizeof buf, "%7.1f ns (%s)", m.attach[c], from.c_str());
      line = buf;
    }
    if (auto pub = kPublished.find(c); pub != kPublished.end())
      line += "; published " + std::to_string(static_cast<int>(pub->second)) + " ns";
    std::printf("  %-17s %s\n", c.c_str(), line.c_str());
  }
  if (here.size() < cb::attach_configs().size())
    std::printf("  (this kernel cannot attach all of them here: %s; emulated guests' ratios (QEMU/TCG, %s) to one "
                "swapped page's accounting there, times its figure here, %.1f ns)\n",
                why.empty() ? "?" : why.begin()->second.c_str(), attach_path.c_str(), host_ref);
  std::printf("  published: cloudflare/ebpf_exporter benchmark/README.md (empty probe, Linux 6.5-rc1, M1 under QEMU)\n");

  // ---- part 1 and the totals ----
  std::printf("\npart 1, runs per swapped page (%s: run_cnt / emulated EWB, SGX-emulating kernels under QEMU/TCG, "
              "-EBUSY retries included; one attempt = the retried faults, ELDUs and allocations taken out):\n",
              runs_path.c_str());
  std::printf("  %-5s %-6s %-10s %6s %6s %8s %8s %9s %9s %9s %7s\n", "kernel", "flavor", "scenario", "EWB", "ELDU",
              "retries", "runs", "ns", "% swap", "1 attempt", "%");
  struct Worst {
    const Record* r = nullptr;
    double ns = -1, one = 0;
  };
  std::map<std::string, Worst> worst;
  for (const auto& r : records) {
    const auto all = price(r, m, false), one = price(r, m, true);
    const double ns = sum_total(all), ns1 = sum_total(one);
    std::printf("  %-5s %-6s %-10s %6.0f %6.0f %8.2f %8.1f %9.0f %8.2f%% %9.0f %6.2f%%%s\n", r.kernel.c_str(),
                r.flavor.c_str(), r.scenario.c_str(), r.n.at("EWB"), r.n.count("ELDU") ? r.n.at("ELDU") : 0,
                r.n.count("fault_retries") && r.n.count("ELDU") && r.n.at("ELDU") > 0
                    ? r.n.at("fault_retries") / r.n.at("ELDU")
                    : 0,
                sum_runs(all), ns, pct(ns), ns1, pct(ns1), r.n.count("before_cut") ? "  (before the cut)" : "");
    Worst& w = worst[r.flavor];
    if (ns > w.ns) w = {&r, ns, ns1};
  }
  std::printf("  (retries: -EBUSY faults per load-back; runs: program runs per swapped page; \"before the cut\": "
              "counted before the fentry flavor ran the allocation and ELDU by their fexit alone, their fentry runs "
              "taken out)\n");
  for (const auto& [flavor, w] : worst) {
    const auto all = price(*w.r, m, false), one = price(*w.r, m, true);
    std::printf("\n%s flavor, worst run (%s %s, kernel %s): per program, per swapped page\n", flavor.c_str(),
                w.r->scenario.c_str(), w.r->release.c_str(), w.r->kernel.c_str());
    std::printf("  %-20s %7s %9s %9s %9s %9s   %s\n", "program", "runs", "body ns", "helpers", "attach", "total",
                "one attempt: runs, total");
    for (const auto& [prog, c] : all) {
      const Cost c1 = one.count(prog) ? one.at(prog) : Cost{};
      std::printf("  %-20s %7.2f %9.1f %9.1f %9.1f %9.1f   %5.2f %9.1f\n", prog.c_str(), c.runs, c.body, c.helpers,
                  c.attach, c.total(), c1.runs, c1.total());
    }
    std::printf("  %-20s %7.2f %39.1f   %5.2f %9.1f  (%.2f %% and %.2f %% of a page swap)\n", "total", sum_runs(all),
                w.ns, sum_runs(one), w.one, pct(w.ns), pct(w.one));
    std::printf("  helper call sites counted per run (probe_read_kernel: 8 bytes each):");
    for (const auto& [prog, c] : all) {
      std::string list;
      if (auto it = m.calls.find(prog); it != m.calls.end())
        for (const auto& [h, k] : it->second)
          list += (list.empty() ? "" : ", ") + std::to_string(k) + " " + cb::helper_name(h);
      std::printf("%s %s: %s", &prog == &all.begin()->first ? "" : ";", prog.c_str(), list.empty() ? "none" : list.c_str());
    }
    std::printf("\n");
  }
  const Worst fe = worst.count("fentry") ? worst.at("fentry") : Worst{};
  const Worst kp = worst.count("kprobe") ? worst.at("kprobe") : Worst{};
  std::printf("\none attempt per load-back (no -EBUSY retries): fentry %.0f ns (%.2f %%), kprobe %.0f ns (%.2f %%)\n",
              fe.one, pct(fe.one), kp.one, pct(kp.one));
  std::printf("probe cost per swapped page: fentry %.0f ns (%.2f %% of a 40K-cycle swap at 2.8 GHz), kprobe %.0f ns "
              "(%.2f %%)\n", std::max(0.0, fe.ns), pct(std::max(0.0, fe.ns)), std::max(0.0, kp.ns),
              pct(std::max(0.0, kp.ns)));
  return 0;
}
