#include "collectors/metric_groups.h"

#include "collectors/cgroup.h"
#include "collectors/ebpf.h"
#include "collectors/platform.h"
#include "scrape/process_metrics.h"
#include "scrape/scraper.h"
#include "scrape/series_cap.h"

namespace epc {

std::vector<MetricGroup> all_metric_groups() {
  MetricGroup self{"self", scraper_metric_defs()};
  for (const auto* d : cap_metric_defs()) self.defs.push_back(d);
  std::vector<MetricGroup> out = {std::move(self), {"process", process_metric_defs()}, platform_metrics(),
                                  cgroup_metrics()};
  for (auto& g : ebpf_metrics()) out.push_back(std::move(g));
  return out;
}

}  // namespace epc
