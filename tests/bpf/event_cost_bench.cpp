// Per-event cost of the accounting path, measured by the kernel's BPF run-time stats (kernel.bpf_stats_enabled):
// the on-demand program runs one synthetic event per BPF_PROG_TEST_RUN, and run_time_ns / run_cnt is the time spent
// inside the program (dispatch + the same accounting functions the probes call; the probes add their CO-RE reads
// and, for kprobes, the kprobe entry cost). Also prints the kernel memory of every map at its bound.
//
// Usage: bpf_event_cost_bench [--events N] [--max-ns X]. Exit 77 (skip) without root / BPF; 1 over --max-ns.
#include <bpf/bpf.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "epc.h"
#include "epc_probes.h"
#include "probes_testing.h"

using epc::probes::Mode;
using epc::probes::Options;
using epc::probes::Probes;

namespace {

struct Stats {
  std::uint64_t cnt = 0, ns = 0;
};

Stats prog_stats(int fd) {
  bpf_prog_info info{};
  __u32 len = sizeof(info);
  Stats s;
  if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) {
    s.cnt = info.run_cnt;
    s.ns = info.run_time_ns;
  }
  return s;
}

}  // namespace

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
  if (::geteuid() != 0) {
    std::printf("SKIP: needs root (BPF_PROG_TEST_RUN, kernel.bpf_stats_enabled)\n");
    return 77;
  }
  Options o;
  o.mode = Mode::kTestOnly;
  o.kallsyms_path = "";
  o.load_bench_program = true;  // epc_event_repeat (bpf_loop, 5.17+)
  auto p = Probes::start(o);
  if (!p->loaded()) {
    std::printf("SKIP: BPF object does not load: %s\n", p->load_error().c_str());
    return 77;
  }
  // BPF_ENABLE_STATS keeps stats on while the returned fd is open, without touching the sysctl.
  int stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
  if (stats_fd < 0) {
    std::printf("SKIP: BPF_ENABLE_STATS refused: %s\n", std::strerror(errno));
    return 77;
  }
  const int bpf_fd = epc::probes::testing::bench_program_fd(*p);  // run_event uses the batch runner for repeat > 1
  if (bpf_fd < 0) {
    std::printf("SKIP: the batch runner (bpf_loop) does not load on this kernel\n");
    return 77;
  }
  const std::uint64_t kEncl = 0xffff888100010000ull;
  epc_test_event create{};
  create.type = EPC_EV_ENCL_CREATE;
  create.encl = kEncl;
  create.cgroup_id = 1001;
  create.arg = 1 << 30;
  epc::probes::testing::run_event(*p, create);

  struct Case {
    const char* name;
    std::uint32_t type;
  } cases[] = {{"empty loop", 0},   {"alloc entry", EPC_EV_PAGE_ALLOC}, {"page_free", EPC_EV_PAGE_FREE},
               {"ewb", EPC_EV_EWB},  {"eldu entry", EPC_EV_ELDU},        {"fault entry", EPC_EV_FAULT},
               {"reclaim", EPC_EV_RECLAIM}};
  std::printf("per-event cost of the accounting path (kernel BPF stats, %ld events each, kernel %s)\n", events,
              [] {
                static char rel[128] = "?";
                std::ifstream("/proc/sys/kernel/osrelease").getline(rel, sizeof(rel));
                return rel;
              }());
  // Each BPF_PROG_TEST_RUN runs the event kBatch times (bpf_loop), so the two clock reads the kernel's stats
  // take around every program run are spread over many events.
  constexpr long kBatch = 1000;
  double worst = 0;
  for (const auto& c : cases) {
    epc_test_event e{};
    e.type = c.type;
    e.encl = kEncl;
    e.arg = 1000;
    e.tid = 77;
    e.page = 0xffffc90000001000ull;  // free: an ordinary enclave page (in no page map); ewb: marks it
    e.repeat = kBatch;
    if (c.type == EPC_EV_PAGE_FREE) {  // the full path: page maps, owner, release mark, enclave
      epc_test_event clear{};
      clear.type = EPC_EV_PAGE_ALLOC;
      clear.tid = 77;
      epc::probes::testing::run_event(*p, clear);
      clear.type = EPC_EV_PAGE_ALLOC_RET;
      clear.page = e.page;  // a re-allocation clears the EWB mark of the ewb case
      epc::probes::testing::run_event(*p, clear);
    }
    Stats before = prog_stats(bpf_fd);
    auto t0 = std::chrono::steady_clock::now();
    const long runs = std::max(1L, events / kBatch);
    for (long i = 0; i < runs; ++i) epc::probes::testing::run_event(*p, e);
    auto wall = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
    Stats after = prog_stats(bpf_fd);
    double n = static_cast<double>(after.cnt - before.cnt) * kBatch;
    double ns = n > 0 ? static_cast<double>(after.ns - before.ns) / n : -1;
    if (c.type != 0) worst = std::max(worst, ns);
    std::printf("  %-10s %8.1f ns/event  (wall %6.1f ns/event incl. bpf() syscalls, %.0f events)\n", c.name, ns,
                wall / (static_cast<double>(runs) * kBatch), n);
  }
  ::close(stats_fd);
  std::printf("worst: %.1f ns/event (goal <= 100 ns)\n", worst);
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
