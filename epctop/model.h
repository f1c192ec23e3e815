// What epctop shows, computed from one or two parsed scrapes: the node summary and the workload rows at a level
// (pod, container, enclave), with rates from two consecutive scrapes. Pure: no I/O, no clock (times are passed in).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "promtext/prom_text.h"

namespace epctop {

using promtext::parse_prometheus_text;
using promtext::ParseError;
using promtext::ParseLimits;
using promtext::ParseResult;
using promtext::Sample;

// One scrape, indexed by series. `t` is a monotonic time in seconds (when the response arrived).
struct Snapshot {
  double t = 0;
  std::vector<Sample> samples;
  std::map<std::string, double> by_series;  // series_id(sample) -> value, for rates
};

// "name{k=v,...}" with labels sorted: the identity of a series across scrapes.
std::string series_id(const Sample& s);

// Checks that the page is an epc_exporter's (some sgx_ series) and indexes it; an error string otherwise.
std::variant<Snapshot, std::string> make_snapshot(std::vector<Sample> samples, double t);

enum class Level { Pod, Container, Enclave };
const char* level_name(Level l);

struct NodeInfo {
  std::string driver;                                       // sgx_platform_info driver; "" when absent
  bool sgx1 = false, sgx2 = false, flc = false, has_platform = false;
  std::string version;                                      // sgx_exporter_build_info version
  std::vector<std::pair<std::string, double>> capacity;     // numa_node -> bytes (sgx_epc_capacity_bytes)
  std::optional<double> capacity_total, free, used;
  std::vector<std::pair<std::string, double>> free_numa;    // only if the exporter labels free by numa_node
  std::optional<double> reclaim_ksgxd_rate, reclaim_direct_rate;
  bool has_reclaim = false;                                 // the counter exists (rate needs two scrapes)
  std::optional<double> vepc;
  int probes_attached = 0, probes_total = 0;
  std::vector<std::string> failed_collectors;
  std::optional<double> workloads_aggregated;
};

NodeInfo node_info(const Snapshot& cur, const Snapshot* prev);

struct Row {
  std::string name;       // "ns/pod/container", "ns/pod", a cgroup path; at enclave level + "/<enclave>"
  std::string ns;         // for the namespace filter ("" for cgroup rows)
  // The name's parts, so a narrow column can keep the pod whole and shorten the rest: name is
  // (ns or "-") + "/" + pod + ("/" + rest when rest is not empty). Empty pod: a cgroup row.
  std::string pod, rest;
  bool is_cgroup = false;
  std::optional<double> enclaves, resident, swapped;
  std::optional<double> evict_rate, loadback_rate, fault_rate, stall_rate;
  // Enclave identity (sgx_enclave_info); "" when not exported. Several distinct values: "<n> ids". debug is
  // "yes" or "no" (the exporter's debug="true"|"false"), "mix" when the workload runs both.
  std::string mrenclave, mrsigner, isv_svn, debug;
};

struct Rows {
  std::vector<Row> rows;
  bool has_identity = false;       // sgx_enclave_info present: identity columns are shown
  bool has_enclave_series = false;  // per-enclave data exists (the enclave level has rows)
  bool resident_from_cgroup = false;  // no eBPF resident series: misc.current shown instead
  bool has_rates = false;           // a previous scrape was given
};

Rows build_rows(const Snapshot& cur, const Snapshot* prev, Level level);

// Counter rate between two values `dt` seconds apart; a counter that went down was reset, and the new value is
// what it counted since the reset.
double counter_rate(double prev, double cur, double dt);

}  // namespace epctop
