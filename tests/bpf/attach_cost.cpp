// bpf_attach_cost: what attaching costs per call, beside a reference body measured by the same kernel, for the third
// part of bench_probe_cost. Runs where fentry and kprobes exist: in the SGX-emulating guest
// (tests/sgx_emu/scenarios/attach_cost.json; the figures there are TCG's, only ratios carry over) or on any host.
//
// Prints, one per line: "kernel <release>", "cpu <model>", "bpf_stats_enabled <sysctl>" (must be 0: with stats
// on each run of the empty programs reads the clock twice), "reference <ns>" (the accounting of one swapped page:
// swap_sequence(0) through BPF_PROG_TEST_RUN, measured before and after the attach runs, their mean), then
// "attach <config> <ns per getpid()>" for each configuration that attaches and "unavailable <config> <reason>" for
// the others, and "ratio <config> <r>": the median over the rounds of (attach - none) / reference, each round's
// figures measured together. Exit 0, 1 when the reference or "none" could not be measured, 77 without root or BPF.
//
// usage: bpf_attach_cost [--calls N] [--rounds R] [--events N]
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "cost_parts.h"

using namespace epc::costbench;

int main(int argc, char** argv) {
  long calls = 200000, events = 200000;
  int rounds = 5;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--calls" && i + 1 < argc) calls = std::strtol(argv[++i], nullptr, 10);
    else if (a == "--rounds" && i + 1 < argc) rounds = std::atoi(argv[++i]);
    else if (a == "--events" && i + 1 < argc) events = std::strtol(argv[++i], nullptr, 10);
    else {
      std::fprintf(stderr, "usage: %s [--calls N] [--rounds R] [--events N]\n", argv[0]);
      return 2;
    }
  }
  if (calls < 1000 || rounds < 1 || rounds > 100 || events < 1000) {
    std::fprintf(stderr, "--calls >= 1000, --rounds 1..100, --events >= 1000\n");
    return 2;
  }
  BenchSetup setup;
  std::string msg;
  if (int rc = start_bench(events, 1, &setup, &msg); rc != 0) {  // one figure per round: the rounds give the median
    std::printf("%s: %s\n", rc == 77 ? "SKIP" : "FAIL", msg.c_str());
    return rc;
  }
  StepBench& bench = *setup.bench;
  std::string stats = "?";
  std::ifstream("/proc/sys/kernel/bpf_stats_enabled") >> stats;  // 1: every run of the empty programs reads clocks
  std::printf("kernel %s\ncpu %s\nbpf_stats_enabled %s\n", kernel_release().c_str(), cpu_model().c_str(),
              stats.c_str());
  // Reference and attach runs interleaved, round by round, and each configuration's ratio taken within its round:
  // a machine whose speed drifts (TCG on a shared host) moves all three alike.
  std::vector<double> refs;
  std::map<std::string, std::vector<double>> per_config, ratios;
  std::map<std::string, std::string> why;
  for (int r = 0; r < rounds; ++r) {
    const double ref = bench.sequence_ns(swap_sequence(0));
    const auto round = measure_attach(calls, 1, &why);
    refs.push_back(ref);
    for (const auto& [c, ns] : round) {
      per_config[c].push_back(ns);
      if (c != "none" && round.count("none") && ref > 0) ratios[c].push_back((ns - round.at("none")) / ref);
    }
    std::fprintf(stderr, "round %d: reference %.1f ns, none %.1f ns\n", r, ref,
                 round.count("none") ? round.at("none") : -1.0);
  }
  const double ref = median(refs);
  std::printf("reference %.2f\n", ref);
  bool none = false;
  for (const auto& c : attach_configs()) {
    if (why.count(c)) {
      std::printf("unavailable %s %s\n", c.c_str(), why.at(c).c_str());
      continue;
    }
    if (!per_config.count(c)) continue;
    none |= c == "none";
    std::printf("attach %s %.2f\n", c.c_str(), median(per_config.at(c)));
    if (ratios.count(c)) std::printf("ratio %s %.5f\n", c.c_str(), median(ratios.at(c)));
  }
  return ref > 0 && none ? 0 : 1;
}
