// A metric family's definition (node_exporter's typedDesc): name, type, unit, help and label names in one value,
// defined once next to the code that fills it; MetricSink takes the definition, never a name typed again.
//
//   constexpr MetricDef kUsage{.name = "sgx_cgroup_epc_usage_bytes", .type = MetricType::kGauge, .unit = "bytes",
//                              .help = "EPC charged to the cgroup (misc.current, sgx_epc).",
//                              .labels = LabelNames::workload()};
//
// Every series of a family carries exactly the definition's label names, in its order (a label that does not apply
// is written ""). A per-workload family's first four labels are the workload's: namespace, pod, container, cgroup.
// docs/metrics.md's tables are generated from the definitions (epc_metrics_doc, exporter/app/metrics_doc.cpp).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string_view>
#include <vector>

namespace epc {

enum class MetricType : std::uint8_t { kGauge, kCounter };

inline constexpr std::array<std::string_view, 4> kWorkloadLabelNames = {"namespace", "pod", "container", "cgroup"};

class LabelNames {
 public:
  static constexpr std::size_t kMax = 20;

  constexpr LabelNames() = default;
  constexpr LabelNames(std::initializer_list<std::string_view> names) { append(names); }
  // The workload's four names, then `more`.
  static constexpr LabelNames workload(std::initializer_list<std::string_view> more = {}) {
    LabelNames l;
    l.append({kWorkloadLabelNames[0], kWorkloadLabelNames[1], kWorkloadLabelNames[2], kWorkloadLabelNames[3]});
    l.append(more);
    l.workload_ = true;
    return l;
  }

  constexpr std::size_t size() const { return size_; }
  constexpr bool empty() const { return size_ == 0; }
  constexpr std::string_view operator[](std::size_t i) const { return names_[i]; }
  constexpr const std::string_view* begin() const { return names_.data(); }
  constexpr const std::string_view* end() const { return names_.data() + size_; }
  constexpr bool per_workload() const { return workload_; }
  // The names a writer gives values for: all of them, less the workload's four.
  constexpr std::size_t own() const { return workload_ ? size_ - kWorkloadLabelNames.size() : size_; }

 private:
  constexpr void append(std::initializer_list<std::string_view> names) {
    for (auto n : names) {
      if (size_ == kMax) throw std::logic_error("more than LabelNames::kMax label names");
      names_[size_++] = n;
    }
  }
  std::array<std::string_view, kMax> names_{};
  std::size_t size_ = 0;
  bool workload_ = false;
};

struct MetricDef {
  std::string_view name = {};
  MetricType type = MetricType::kGauge;
  std::string_view unit = {};  // the base unit the name carries ("bytes", "seconds", "pages"), "" when none
  std::string_view help = {};  // HELP text (the Go client's style: one sentence, plain text)
  LabelNames labels = {};
  // docs/metrics.md only: the meaning column (markdown; "" = the help) and, for the ebpf collector, the probes
  // the family needs (space-separated hook names).
  std::string_view doc = {};
  std::string_view probes = {};
};

// The definitions of one table of docs/metrics.md (a collector's, or a part of one), in the order they are written.
struct MetricGroup {
  std::string_view id;  // the table's marker in docs/metrics.md
  std::vector<const MetricDef*> defs;
};

}  // namespace epc
