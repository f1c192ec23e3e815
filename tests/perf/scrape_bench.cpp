// The scrape's CPU cost per series, by stage, in this process (no HTTP): the collectors' rows from a node tree
// (tests/perf/gen_fixture.py: the cgroup collector reading every misc file; with --ebpf-replay, the ebpf
// collector from a replay snapshot), the workload cap, and the exposition text written from the rows. Prints the
// median of each stage over the iterations, in ms and in ns per series.
//
// usage: scrape_bench <rootfs> [iterations=50] [--ebpf-replay FILE] [--max-workloads N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "attribution/attribution.h"
#include "collectors/cgroup.h"
#include "collectors/ebpf.h"
#include "host/host_paths.h"
#include "scrape/scraper.h"
#include "scrape/series_cap.h"

namespace {

double cpu_ms() {
  timespec t{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) / 1e6;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: scrape_bench <rootfs> [iterations] [--ebpf-replay FILE] [--max-workloads N]\n");
    return 2;
  }
  int iterations = 50;
  std::string replay;
  std::size_t max_workloads = 0;
  for (int i = 2; i < argc; ++i) {
    if (std::strcmp(argv[i], "--ebpf-replay") == 0 && i + 1 < argc) {
      replay = argv[++i];
    } else if (std::strcmp(argv[i], "--max-workloads") == 0 && i + 1 < argc) {
      max_workloads = static_cast<std::size_t>(std::atol(argv[++i]));
    } else {
      iterations = std::max(1, std::atoi(argv[i]));
    }
  }
  epc::HostPaths paths(argv[1]);
  epc::Attribution attribution(paths);
  // Descriptors kept open between scrapes, as the exporter allows them where RLIMIT_NOFILE is large.
  epc::CollectorServices services{paths, attribution, epc::FdBudget{65536}};
  std::vector<epc::Scraper::Named> collectors;
  collectors.push_back({"cgroup", epc::make_cgroup_collector(services)});
  if (!replay.empty())
    collectors.push_back({"ebpf", epc::make_ebpf_collector_from(epc::make_replay_ebpf_source(replay), services,
                                                                 epc::EnclaveMetricsOptions{})});
  epc::Scraper scraper(std::move(collectors), [&attribution] { attribution.refresh(); });
  epc::WorkloadCap cap(epc::WorkloadCap::Options{.max_workloads = max_workloads});

  std::vector<double> collect_ms, cap_ms, render_ms;
  std::size_t series = 0, bytes = 0, workloads = 0;
  auto now = epc::WorkloadCap::Clock::now();
  for (int i = 0; i < iterations + 3; ++i) {  // 3 warm-up rounds: caches, first-scrape allocations
    const double t0 = cpu_ms();
    epc::MetricSink sink = scraper.collect();
    const double t1 = cpu_ms();
    const auto stats = cap.apply(sink, now += std::chrono::seconds(15));
    epc::add_cap_metrics(sink, stats, max_workloads);
    const double t2 = cpu_ms();
    const std::string text = sink.text();
    const double t3 = cpu_ms();
    if (i < 3) continue;
    collect_ms.push_back(t1 - t0);
    cap_ms.push_back(t2 - t1);
    render_ms.push_back(t3 - t2);
    series = sink.series_count();
    bytes = text.size();
    workloads = stats.workloads;
  }
  const double c = median(collect_ms), k = median(cap_ms), r = median(render_ms);
  const double per = 1e6 / static_cast<double>(std::max<std::size_t>(series, 1));
  std::printf("scrape in-process CPU, median of %d: %zu series, %zu workloads, %zu bytes%s\n", iterations, series,
              workloads, bytes, max_workloads ? (", cap " + std::to_string(max_workloads)).c_str() : "");
  std::printf("  collect %7.2f ms (%6.0f ns/series)   cap %6.2f ms (%5.0f ns/series)   render %6.2f ms (%5.0f "
              "ns/series)   total %7.2f ms (%6.0f ns/series)\n",
              c, c * per, k, k * per, r, r * per, c + k + r, (c + k + r) * per);
  return 0;
}
