#include "scrape/scraper.h"

#include <spdlog/spdlog.h>

#include <exception>

#include "host/log_fields.h"
#include "scrape/exposition.h"
#include "scrape/series_cap.h"
#include "scrape/version.h"

namespace epc {

Scraper::Scraper(std::vector<Named> collectors, std::function<void()> before_collect, Options options)
    : collectors_(std::move(collectors)),
      before_collect_(std::move(before_collect)),
      options_(std::move(options)),
      process_(options_.proc),
      cap_(WorkloadCap::Options{.max_workloads = options_.max_workloads, .grace = options_.workload_grace}) {}

std::vector<prometheus::MetricFamily> Scraper::Collect() const {
  std::lock_guard<std::timed_mutex> lock(mu_);
  return collect_locked();
}

std::optional<std::vector<prometheus::MetricFamily>> Scraper::collect_within(std::chrono::milliseconds wait) const {
  std::unique_lock<std::timed_mutex> lock(mu_, std::defer_lock);
  if (!lock.try_lock_for(wait)) return std::nullopt;
  return collect_locked();
}

std::optional<std::string> Scraper::render_within(std::chrono::milliseconds wait) const {
  std::unique_lock<std::timed_mutex> lock(mu_, std::defer_lock);
  if (!lock.try_lock_for(wait)) return std::nullopt;
  auto families = collect_locked();
  // Under the lock: the cap's state moves from one scrape to the next, in scrape order.
  CapStats cap = cap_.apply(families, WorkloadCap::Clock::now());
  add_cap_metrics(families, cap, options_.max_workloads);
  if (options_.exporter_metrics) {  // last, outside the cap: they have no workload labels
    MetricSink own;
    process_.collect(own);
    for (auto& f : own.take()) families.push_back(std::move(f));
  }
  std::string text = text_exposition(families);
  if (spdlog::should_log(spdlog::level::debug)) {
    std::size_t series = 0;
    for (const auto& f : families) series += f.metric.size();
    spdlog::debug("{}", log_fields("scrape rendered", {{"families", std::to_string(families.size())},
                                                       {"series", std::to_string(series)},
                                                       {"bytes", std::to_string(text.size())},
                                                       {"workloads_aggregated", std::to_string(cap.aggregated)}}));
  }
  return text;
}

std::vector<prometheus::MetricFamily> Scraper::collect_locked() const {
  if (before_collect_) before_collect_();

  MetricSink sink;
  struct Outcome {
    const std::string* name;
    bool ok;
    double seconds;
  };
  std::vector<Outcome> outcomes;
  for (const auto& [name, collector] : collectors_) {
    // Each collector writes into its own sink, so a collector that fails half-way adds nothing partial.
    MetricSink own;
    auto start = std::chrono::steady_clock::now();
    bool ok = false;
    try {
      Status s = collector->collect(own);
      ok = s.ok();
      if (!ok) spdlog::error("{}", log_fields("collector failed", {{"collector", name}, {"err", s.error().message}}));
    } catch (const std::exception& e) {
      spdlog::error("{}", log_fields("collector failed", {{"collector", name}, {"err", e.what()}}));
    } catch (...) {
      spdlog::error("{}", log_fields("collector failed", {{"collector", name}, {"err", "unknown exception"}}));
    }
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    outcomes.push_back({&name, ok, secs});
    if (spdlog::should_log(spdlog::level::debug))
      spdlog::debug("{}", log_fields("collector scraped", {{"collector", name},
                                                           {"ok", ok ? "true" : "false"},
                                                           {"duration_seconds", std::to_string(secs)},
                                                           {"series", std::to_string(own.series_count())}}));
    if (!ok) continue;
    // Moved, not copied: a scrape of thousands of series builds them once.
    for (const auto& refused : sink.absorb(own.take()))
      // Two collectors disagreeing on a family's type or label names: keep the first, say so.
      spdlog::error("{}", log_fields("metric dropped: written with two different types or label sets",
                                     {{"collector", name}, {"metric", refused}}));
  }

  sink.info("sgx_exporter_build_info", "A metric with a constant '1' value labeled by version and revision of epc_exporter.",
            {{"version", kVersion}, {"revision", kRevision}, {"compiler", __VERSION__}});
  for (const auto& o : outcomes)
    sink.gauge("sgx_exporter_collector_success", "Whether a collector succeeded in this scrape (1) or failed (0).",
               {{"collector", *o.name}}, o.ok ? 1 : 0);
  for (const auto& o : outcomes)
    sink.gauge("sgx_exporter_collector_duration_seconds", "Time a collector took in this scrape.",
               {{"collector", *o.name}}, o.seconds);
  return sink.take();
}

}  // namespace epc
