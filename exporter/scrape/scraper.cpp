#include "scrape/scraper.h"

#include <spdlog/spdlog.h>

#include <exception>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "host/log_fields.h"
#include "scrape/series_cap.h"
#include "scrape/version.h"
#include "metricnames/metric_names.h"

namespace epc {
namespace {

constexpr MetricDef kBuildInfo{
    .name = metric_names::kBuildInfo,
    .type = MetricType::kGauge,
    .help = "A metric with a constant '1' value labeled by version and revision of epc_exporter.",
    .labels = {"version", "revision", "compiler"},
    .doc = "always 1"};
constexpr MetricDef kCollectorSuccess{.name = metric_names::kCollectorSuccess,
                                      .type = MetricType::kGauge,
                                      .help = "Whether a collector succeeded in this scrape (1) or failed (0).",
                                      .labels = {"collector"},
                                      .doc = "1 if the collector's last scrape succeeded"};
constexpr MetricDef kCollectorDuration{.name = "sgx_exporter_collector_duration_seconds",
                                       .type = MetricType::kGauge,
                                       .unit = "seconds",
                                       .help = "Time a collector took in this scrape.",
                                       .labels = {"collector"},
                                       .doc = "time the collector took in this scrape"};

}  // namespace

void release_free_memory() {
#ifdef __GLIBC__
  // The pages a scrape's rows, label sets and parsed inputs took (thousands of small blocks, freed now) go back
  // to the system instead of staying resident until the next scrape; a few hundred microseconds on a full node.
  ::malloc_trim(0);
#endif
}

Scraper::Scraper(std::vector<Named> collectors, std::function<void()> before_collect, Options options)
    : collectors_(std::move(collectors)),
      before_collect_(std::move(before_collect)),
      options_(std::move(options)),
      process_(options_.proc),
      cap_(WorkloadCap::Options{.max_workloads = options_.max_workloads, .grace = options_.workload_grace}) {
#ifdef __GLIBC__
  // Blocks of 128 KiB and more (a scrape's text, a replay file) are mapped on their own and unmapped when freed.
  // glibc's default is the same threshold, but raised to the size of every such block freed: from the second
  // scrape on the text would be carved from the heap and stay resident.
  ::mallopt(M_MMAP_THRESHOLD, 128 * 1024);
#endif
}

MetricSink Scraper::collect() const {
  std::lock_guard<std::timed_mutex> lock(mu_);
  MetricSink sink;
  collect_locked(sink);
  return sink;
}

std::optional<std::string> Scraper::render_within(std::chrono::milliseconds wait) const {
  std::unique_lock<std::timed_mutex> lock(mu_, std::defer_lock);
  if (!lock.try_lock_for(wait)) return std::nullopt;
  std::string text;
  {
    MetricSink sink;
    collect_locked(sink);
    // Under the lock: the cap's state moves from one scrape to the next, in scrape order.
    CapStats cap = cap_.apply(sink, WorkloadCap::Clock::now());
    add_cap_metrics(sink, cap, options_.max_workloads);
    if (options_.exporter_metrics) process_.collect(sink);  // last, outside the cap: they have no workload labels
    text = sink.text();
    if (spdlog::should_log(spdlog::level::debug)) {
      std::size_t families = 0;
      for (const auto& f : sink.families()) families += f.rows.empty() ? 0 : 1;
      spdlog::debug("{}", log_fields("scrape rendered", {{"families", std::to_string(families)},
                                                         {"series", std::to_string(sink.series_count())},
                                                         {"bytes", std::to_string(text.size())},
                                                         {"workloads_aggregated", std::to_string(cap.aggregated)}}));
    }
  }
  release_free_memory();
  return text;
}

void Scraper::collect_locked(MetricSink& sink) const {
  if (before_collect_) before_collect_();

  struct Outcome {
    const std::string* name;
    bool ok;
    double seconds;
  };
  std::vector<Outcome> outcomes;
  for (const auto& [name, collector] : collectors_) {
    // What a collector wrote is dropped when it fails half-way: it adds nothing partial.
    const MetricSink::Mark mark = sink.mark();
    const std::size_t before = sink.series_count();
    auto start = std::chrono::steady_clock::now();
    bool ok = false;
    try {
      Status s = collector->collect(sink);
      ok = s.ok();
      if (!ok) spdlog::error("{}", log_fields("collector failed", {{"collector", name}, {"err", s.error().message}}));
    } catch (const std::exception& e) {
      spdlog::error("{}", log_fields("collector failed", {{"collector", name}, {"err", e.what()}}));
    } catch (...) {
      spdlog::error("{}", log_fields("collector failed", {{"collector", name}, {"err", "unknown exception"}}));
    }
    const std::size_t written = sink.series_count() - before;  // what it wrote, kept or not
    if (!ok) sink.rollback(mark);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    outcomes.push_back({&name, ok, secs});
    if (spdlog::should_log(spdlog::level::debug))
      spdlog::debug("{}", log_fields("collector scraped", {{"collector", name},
                                                           {"ok", ok ? "true" : "false"},
                                                           {"duration_seconds", std::to_string(secs)},
                                                           {"series", std::to_string(written)}}));
  }

  sink.add(kBuildInfo, {kVersion, kRevision, __VERSION__}, 1);
  for (const auto& o : outcomes) sink.add(kCollectorSuccess, {*o.name}, o.ok ? 1 : 0);
  for (const auto& o : outcomes) sink.add(kCollectorDuration, {*o.name}, o.seconds);
}

const std::vector<const MetricDef*>& scraper_metric_defs() {
  static const std::vector<const MetricDef*> defs = {&kBuildInfo, &kCollectorSuccess, &kCollectorDuration};
  return defs;
}

}  // namespace epc
