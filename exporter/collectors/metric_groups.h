// Every metric family the exporter can write, by table of docs/metrics.md: the exporter's own (scrape/), each
// collector's (their definitions live next to the code that fills them). epc_metrics_doc (exporter/app/metrics_doc.cpp)
// generates docs/metrics.md's tables from this list.
#pragma once

#include <vector>

#include "scrape/metric_def.h"

namespace epc {

std::vector<MetricGroup> all_metric_groups();

}  // namespace epc
