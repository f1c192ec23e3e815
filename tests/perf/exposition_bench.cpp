// Serialisation cost of one scrape: prometheus-cpp's TextSerializer (what the HTTP server calls today) against
// epc::text_exposition, on the families the collectors build from a node tree (tests/perf/gen_fixture.py).
// Prints the median time of each and the ratio; exits 1 if the two outputs differ by a byte.
//
// usage: exposition_bench <rootfs> [iterations=50]
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "attribution/attribution.h"
#include "collectors/cgroup.h"
#include "scrape/exposition.h"
#include "host/host_paths.h"
#include "scrape/scraper.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: exposition_bench <rootfs> [iterations]\n");
    return 2;
  }
  const int iterations = argc > 2 ? std::max(1, std::atoi(argv[2])) : 50;
  epc::HostPaths paths(argv[1]);
  epc::Attribution attribution(paths);
  std::vector<epc::Scraper::Named> collectors;
  collectors.push_back({"cgroup", epc::make_cgroup_collector({paths, attribution})});
  epc::Scraper scraper(std::move(collectors), [&attribution] { attribution.refresh(); });
  auto families = scraper.Collect();
  std::size_t series = 0;
  for (const auto& f : families) series += f.metric.size();

  auto median_ms = [&](auto&& fn) {
    std::vector<double> ms;
    for (int i = 0; i < iterations; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      fn();
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    return ms[ms.size() / 2];
  };
  std::string a, b;
  double ref = median_ms([&] { a = prometheus::TextSerializer().Serialize(families); });
  double ours = median_ms([&] { b = epc::text_exposition(families); });
  if (a != b) {
    std::printf("exposition_bench: outputs differ (%zu vs %zu bytes)\n", a.size(), b.size());
    return 1;
  }
  std::printf("serialisation of %zu series (%zu bytes), median of %d: TextSerializer %.2f ms, text_exposition %.2f ms "
              "(%.2fx), outputs identical\n",
              series, a.size(), iterations, ref, ours, ours / ref);
  return 0;
}
