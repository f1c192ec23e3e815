// The sim backend's cost model: what SGX paging would add to a workload, computed from the model EPC's exact
// paging counts and per-event costs taken from published hardware measurements. Analytic, not measured:
//
//   model ns/touch = native ns/touch + load-backs/touch x fault_ns + evictions/touch x ewb_ns
//
// where fault_ns covers one enclave page fault served by a load-back (AEX, #PF into the driver, ELDU,
// ERESUME) and ewb_ns one eviction (EBLOCK/ETRACK/EWB). The sim backend's own timing (userfaultfd round trips,
// user-space AES-GCM) is kept as it is ("raw"); the model's figures are reported beside it, named model_*.
// Sources of every profile: docs/benchmarking.md, "The calibrated model".
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "backend.h"

namespace epcbench::sim {

struct CostProfile {
  std::string name;
  double fault_cycles = 0;  // per load-back: the fault round trip and ELDU
  double ewb_cycles = 0;    // per eviction
  std::string source;       // where the figures come from (printed in the JSON context)
};

// The named profiles (every one with a published source), in a fixed order.
const std::vector<CostProfile>& cost_profiles();

// "raw" -> nullopt (no model: the userfaultfd timing only); a profile name -> that profile;
// "cycles:F,E" -> a user-given profile (F cycles per load-back, E per eviction; for figures measured on the
// user's own hardware). Anything else is an error naming the known profiles.
Result<std::optional<CostProfile>> parse_sim_model(const std::string& spec);

struct ModelInput {
  double native_ns_per_touch = 0;
  double load_backs_per_touch = 0;
  double evictions_per_touch = 0;
};

struct ModelOutput {
  double ns_per_touch = 0;
  double slowdown_vs_native = 0;
};

// The formula above at `ghz` cycles per ns. Requires ghz > 0 and a positive native time.
ModelOutput model_touch_cost(const CostProfile& p, double ghz, const ModelInput& in);

// The clock the cycle counts are converted at, unless --sim-model-ghz says otherwise: an assumption (the
// sources give cycles, not the clock of the machine they were measured on), stated as such in the docs.
inline constexpr double kDefaultModelGhz = 3.0;

}  // namespace epcbench::sim
