// What collectors write their samples into, and what the scrape is written from: rows, not objects per series.
//
// A family is a definition (metric_def.h) and its rows; a row is a workload, the text of its own labels and a
// value. A workload's label set (namespace, pod, container, cgroup) is rendered once per scrape, when the first
// family writes it, and every family's rows refer to it by a WorkloadId; a row's other labels are rendered once,
// when it is written. The exposition text is then written straight from the rows (render()), byte for byte as the
// Prometheus Go client writes it (text_format.h). Families come out in the order they were first written.
//
// Build everything fresh on every scrape: a series that is not written simply disappears. Writing a series whose
// label values do not match its definition's names, or two definitions of one name that differ, is a programming
// error (std::logic_error).
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "scrape/metric_def.h"

namespace epc {

// Label name/value pairs as a reader sees them (tests, decoded rows).
using Labels = std::vector<std::pair<std::string, std::string>>;

// A workload's label values (docs/metrics.md); "" where a label does not apply.
struct WorkloadLabels {
  std::string namespace_name, pod, container, cgroup;
  friend auto operator<=>(const WorkloadLabels&, const WorkloadLabels&) = default;
};

struct WorkloadLabelsHash {
  std::size_t operator()(const WorkloadLabels& w) const {
    std::hash<std::string_view> h;
    std::size_t v = h(w.namespace_name);
    for (std::string_view part : {std::string_view(w.pod), std::string_view(w.container), std::string_view(w.cgroup)})
      v = v * 1000003u ^ h(part);
    return v;
  }
};

// A workload of this scrape. kNoWorkload: a per-workload family's row that belongs to none (all four labels "").
using WorkloadId = std::uint32_t;
inline constexpr WorkloadId kNoWorkload = 0;

class MetricSink {
 public:
  struct Row {
    WorkloadId workload;
    std::uint32_t labels_at;   // the row's own labels, rendered (name="value",...), in the sink's label text
    std::uint32_t labels_len;
    double value;
  };
  struct Family {
    const MetricDef* def;
    std::vector<Row> rows;
  };

  MetricSink();
  MetricSink(MetricSink&&) = default;  // label sets are views into storage that moves with the sink
  MetricSink& operator=(MetricSink&&) = default;
  MetricSink(const MetricSink&) = delete;
  MetricSink& operator=(const MetricSink&) = delete;

  // The workload's id in this sink: its label set rendered and interned the first time, found after that.
  WorkloadId workload(const WorkloadLabels& w);

  // One series. `values` are the definition's own label values (its label names less the workload's four), in
  // order; a per-workload family takes the workload as well (kNoWorkload: none).
  void add(const MetricDef& def, double value) { add(def, kNoWorkload, std::span<const std::string_view>(), value); }
  void add(const MetricDef& def, std::initializer_list<std::string_view> values, double value) {
    add(def, kNoWorkload, std::span<const std::string_view>(values.begin(), values.size()), value);
  }
  void add(const MetricDef& def, WorkloadId w, double value) {
    add(def, w, std::span<const std::string_view>(), value);
  }
  void add(const MetricDef& def, WorkloadId w, std::initializer_list<std::string_view> values, double value) {
    add(def, w, std::span<const std::string_view>(values.begin(), values.size()), value);
  }
  void add(const MetricDef& def, WorkloadId w, std::span<const std::string_view> values, double value);

  // What a collector wrote after mark() is dropped by rollback(mark): a collector that fails half-way adds nothing.
  struct Mark {
    std::size_t families = 0, workloads = 0, label_text = 0;
    std::vector<std::size_t> rows;  // per family present at the mark
  };
  Mark mark() const;
  void rollback(const Mark& m);

  // The exposition text (format 0.0.4) of every family with rows, appended to out.
  void render(std::string& out) const;
  std::string text() const;
  std::size_t series_count() const;

  // ---- the rows, for the scrape pipeline (the workload cap) and tests ----
  std::vector<Family>& families() { return families_; }
  const std::vector<Family>& families() const { return families_; }
  // The family of a definition, created (without rows) when it has none yet.
  Family& family(const MetricDef& def);
  const Family* find(std::string_view name) const;
  std::size_t workload_count() const { return workloads_.size(); }  // ids 0 .. count-1, 0 being kNoWorkload
  std::string_view workload_text(WorkloadId w) const { return workloads_[w].text; }
  bool container_level(WorkloadId w) const { return workloads_[w].container_level; }
  // A workload whose label set is already rendered (render_workload_labels), e.g. the cap's overflow workloads.
  WorkloadId workload_rendered(std::string_view text, bool container_level);
  std::string_view row_labels(const Row& r) const { return std::string_view(label_text_).substr(r.labels_at, r.labels_len); }
  // Rendered own-label text stored for rows built outside add() (the cap's overflow counters): {at, len}.
  std::pair<std::uint32_t, std::uint32_t> store_labels(std::string_view rendered);
  // A row's labels decoded, every name of its definition in order (tests and tools; not on the scrape path).
  Labels labels_of(const Family& f, const Row& r) const;

 private:
  struct Workload {
    std::string_view text;  // into workload_text_ (a deque: never moves)
    bool container_level = false;
  };
  struct PtrHash {
    std::size_t operator()(const MetricDef* p) const { return std::hash<const void*>{}(p); }
  };
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  std::size_t family_index(const MetricDef& def);

  std::vector<Family> families_;
  std::unordered_map<const MetricDef*, std::uint32_t, PtrHash> by_def_;
  std::unordered_map<std::string_view, std::uint32_t, Hash, std::equal_to<>> by_name_;  // views of def names
  const MetricDef* last_def_ = nullptr;
  std::size_t last_index_ = 0;

  std::deque<std::string> workload_texts_;
  std::vector<Workload> workloads_;
  std::unordered_map<std::string_view, WorkloadId, Hash, std::equal_to<>> workload_index_;
  std::string scratch_;  // a label set being rendered

  std::string label_text_;
};

// namespace="…",pod="…",container="…",cgroup="…", values escaped.
void render_workload_labels(std::string& out, const WorkloadLabels& w);

}  // namespace epc
