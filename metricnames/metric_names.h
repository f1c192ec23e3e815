// The names of the metric families the exporter's clients read (epctop, epc_bench), from where the exporter defines
// them: the per-workload families from the workload table (probes/epc_workload.h, by field), the others as the
// constants their MetricDefs are made with (exporter/collectors/*.cpp, exporter/scrape/*.cpp). A rename is one
// change here or in the table, and a client naming a family the exporter does not define does not compile.
// Header only, the standard library only (epctop and epc_bench link no exporter code).
#pragma once

#include <string_view>

#include "epc_workload.h"

namespace epc::metric_names {

// Per workload: the table's rows by field, e.g. workload::resident_pages == "sgx_epc_resident_bytes".
namespace workload {
#define EPC_METRIC_NAME(field, kind, where, metric, ...) inline constexpr std::string_view field = metric;
EPC_WORKLOAD_FIELDS(EPC_METRIC_NAME)
#undef EPC_METRIC_NAME
}  // namespace workload

// Self (exporter/scrape/scraper.cpp, series_cap.cpp).
inline constexpr std::string_view kBuildInfo = "sgx_exporter_build_info";
inline constexpr std::string_view kCollectorSuccess = "sgx_exporter_collector_success";
inline constexpr std::string_view kWorkloadsAggregated = "sgx_exporter_workloads_aggregated";
// platform collector.
inline constexpr std::string_view kPlatformInfo = "sgx_platform_info";
inline constexpr std::string_view kEpcCapacity = "sgx_epc_capacity_bytes";
// cgroup collector.
inline constexpr std::string_view kCgroupEpcUsage = "sgx_cgroup_epc_usage_bytes";
// ebpf collector: per enclave, node level, probe health.
inline constexpr std::string_view kEnclaveInfo = "sgx_enclave_info";
inline constexpr std::string_view kEpcFree = "sgx_epc_free_bytes";
inline constexpr std::string_view kEpcUsed = "sgx_epc_used_bytes";
inline constexpr std::string_view kReclaimPasses = "sgx_epc_reclaim_passes_total";
inline constexpr std::string_view kVepc = "sgx_vepc_bytes";
inline constexpr std::string_view kProbeAttached = "sgx_exporter_probe_attached";
inline constexpr std::string_view kProbeInfo = "sgx_exporter_probe_info";
inline constexpr std::string_view kKretprobeMissed = "sgx_exporter_kretprobe_missed_total";
inline constexpr std::string_view kBpfDroppedEvents = "sgx_exporter_bpf_dropped_events_total";

}  // namespace epc::metric_names
