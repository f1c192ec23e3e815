// Per-event cost of the accounting path, measured by the kernel's BPF run-time stats (kernel.bpf_stats_enabled):
// every handler step of a swapped page, entry and return, in the state it meets on the paging path (the steps of
// one swap run in order, cost_parts.h: each step is its prefix less the prefix before it), the steps outside that
// sequence alone, and the helpers the handlers call before their step (the test events give those values). The
// probes add those helpers and, per call, the attach mechanism (bench_probe_cost puts the parts together). Also
// prints the kernel memory of every map at its bound.
//
// Usage: bpf_event_cost_bench [--events N] [--max-ns X]. Exit 77 (skip) without root / BPF; 1 over --max-ns.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "cost_parts.h"
#include "epc.h"
#include "epc_probes.h"
#include "probes_testing.h"

using epc::probes::Probes;
namespace cb = epc::costbench;

int main(int argc, char** argv) {
  long events = 200000;
  double max_ns = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--events" && i + 1 < argc) events = std::strtol(argv[++i], nullptr, 10);
    else if (a == "--max-ns" && i + 1 < argc) max_ns = std::strtod(argv[++i], nullptr);
    else {
      std::fprintf(stderr, "usage: %s [--events N] [--max-ns X]\n", argv[0]);
      return 2;
    }
  }
  if (events < 100 || events > 100'000'000) {
    std::fprintf(stderr, "--events must be within [100, 1e8]\n");
    return 2;
  }
  cb::BenchSetup setup;
  std::string msg;
  if (int rc = cb::start_bench(events, 3, &setup, &msg); rc != 0) {
    std::printf("%s: %s\n", rc == 77 ? "SKIP" : "FAIL", msg.c_str());
    return rc;
  }
  cb::StepBench& bench = *setup.bench;
  Probes* p = setup.probes.get();
  std::printf("per-event cost of the accounting path (kernel BPF stats, about %ld events per figure, the fastest of 3, "
              "kernel %s, %s)\n", events, cb::kernel_release().c_str(), cb::cpu_model().c_str());
  std::printf("  per-step overhead of a sequence (taken out below): %.1f ns\n", bench.step_overhead_ns());
  double worst = 0;
  auto show = [&](const char* title, const std::vector<cb::StepCost>& costs) {
    std::printf("%s\n", title);
    for (const auto& c : costs) {
      std::printf("  %-28s %8.1f ns/event\n", c.step.name.c_str(), c.ns);
      worst = std::max(worst, c.ns);
    }
  };
  show("one swapped page, loaded back at the first attempt (in order):", bench.sequence_costs(cb::swap_sequence(0)));
  show("one swapped page after one -EBUSY retry (in order):", bench.sequence_costs(cb::swap_sequence(1)));
  show("the same, ELDU and allocation by their fexit alone (fentry flavor), first attempt (in order):",
       bench.sequence_costs(cb::swap_sequence(0, true)));
  show("the same after one -EBUSY retry (in order):", bench.sequence_costs(cb::swap_sequence(1, true)));
  show("outside the swap sequence (each alone):", bench.alone_costs(cb::other_steps()));
  std::printf("helpers the handlers call before their step (one call each):\n");
  for (const auto& [h, ns] : bench.helper_costs()) std::printf("  %-28s %8.1f ns\n", cb::helper_name(h), ns);
  std::printf("worst step: %.1f ns/event (goal <= 100 ns)\n", worst);
  std::printf("map memory at bounds (kernel fdinfo memlock):\n");
  std::uint64_t total = 0;
  for (const auto& [name, bytes] : epc::probes::testing::map_memory_bytes(*p)) {
    std::printf("  %-10s %10llu bytes\n", name.c_str(), static_cast<unsigned long long>(bytes));
    total += bytes;
  }
  std::printf("  total      %10llu bytes (%.2f MiB)\n", static_cast<unsigned long long>(total),
              static_cast<double>(total) / (1 << 20));
  if (worst <= 0) {
    std::printf("FAIL: no run-time stats recorded\n");
    return 1;
  }
  if (max_ns > 0 && worst > max_ns) {
    std::printf("FAIL: %.1f ns/event > --max-ns %.1f\n", worst, max_ns);
    return 1;
  }
  return 0;
}
