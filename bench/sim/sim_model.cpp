#include "sim/sim_model.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace epcbench::sim {

const std::vector<CostProfile>& cost_profiles() {
  // VAULT (Taassori, Shafiee, Balasubramonian, ASPLOS 2018), abstract: "A page swap is expensive (about 40K
  // cycles) because it requires an OS system call, page copying, updates to integrity trees and metadata,
  // etc." Measured on first-generation SGX (MEE, "currently 128 MB" of EPC); the abstract names no CPU model.
  // One swap is one page out and one page in, so the whole figure is charged per load-back (above the EPC
  // every load-back needs an eviction) and nothing extra per eviction: charging both would count it twice.
  static const std::vector<CostProfile> profiles = {
      {"vault", 40000, 0,
       "VAULT (ASPLOS'18) abstract: a page swap costs about 40K cycles (SGX1, 128 MB EPC); charged per load-back"},
  };
  return profiles;
}

namespace {

bool parse_cycles(const std::string& s, double* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  double d = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || errno != 0 || !std::isfinite(d) || d < 0 || d > 1e9) return false;
  *out = d;
  return true;
}

std::string known() {
  std::string k = "raw";
  for (const auto& p : cost_profiles()) k += ", " + p.name;
  return k + ", cycles:FAULT,EWB";
}

}  // namespace

Result<std::optional<CostProfile>> parse_sim_model(const std::string& spec) {
  if (spec == "raw") return std::optional<CostProfile>();
  for (const auto& p : cost_profiles())
    if (p.name == spec) return std::optional<CostProfile>(p);
  const std::string pre = "cycles:";
  if (spec.rfind(pre, 0) == 0) {
    std::string rest = spec.substr(pre.size());
    auto comma = rest.find(',');
    CostProfile p;
    if (comma == std::string::npos || !parse_cycles(rest.substr(0, comma), &p.fault_cycles) ||
        !parse_cycles(rest.substr(comma + 1), &p.ewb_cycles))
      return make_error("'" + spec + "': expected cycles:FAULT,EWB with two numbers of cycles in [0, 1e9]");
    p.name = spec;
    p.source = "user-given cycles per load-back and per eviction";
    return std::optional<CostProfile>(p);
  }
  return make_error("unknown profile '" + spec + "' (known: " + known() + ")");
}

ModelOutput model_touch_cost(const CostProfile& p, double ghz, const ModelInput& in) {
  ModelOutput o;
  o.ns_per_touch = in.native_ns_per_touch + in.load_backs_per_touch * p.fault_cycles / ghz +
                   in.evictions_per_touch * p.ewb_cycles / ghz;
  o.slowdown_vs_native = in.native_ns_per_touch > 0 ? o.ns_per_touch / in.native_ns_per_touch : 0;
  return o;
}

}  // namespace epcbench::sim
