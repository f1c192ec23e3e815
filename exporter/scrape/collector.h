// The one narrow interface every collector implements (after node_exporter's collector.Collector).
//
// A collector builds its metrics fresh on every scrape. It returns an error Status when it could not do its
// job (unreadable or garbage input): the scrape then reports sgx_exporter_collector_success{collector}=0 and
// the other collectors' metrics are served as usual. "No data here" (no SGX, no misc sgx_epc resource) is
// not a failure: write nothing and return Ok.
#pragma once

#include "scrape/metric_sink.h"
#include "host/result.h"

namespace epc {

class Collector {
 public:
  virtual ~Collector() = default;
  virtual Status collect(MetricSink& sink) = 0;
};

}  // namespace epc
