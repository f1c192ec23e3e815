// Userspace side of the SGX probes: opens the embedded BPF object (bpftool skeleton), decides per hook whether
// and how to attach it, and reads the maps into a Snapshot. Never fails the process: a host without SGX, BTF,
// kprobes or privileges gets a Probes object whose probes are all off, each with the reason.
//
// The rooms of probes/: hooks.h (the hook table), detect.h (detection and choice), tracefs_kretprobes.h,
// pinned_state.h, this class (load and attach: epc_probes.cpp; the maps read into a Snapshot and the identity
// cache: snapshot_reader.cpp), map_reading.h (batched map walks), libbpf_owners.h; what only tests and benchmarks
// use is in probes_testing.h (library epc_probes_testing).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "detect.h"
#include "epc.h"  // struct epc_cgroup_stats (kept between a read and forget_gone_cgroups)
#include "epc_snapshot.h"
#include "hooks.h"
#include "host/result.h"
#include "pinned_state.h"

struct epc_test_event;
struct epc_cgroup_path;

namespace epc::probes {

// The path a cgroup_paths entry records ("/kubepods.slice/.../cri-containerd-<id>.scope", "/" for the root); ""
// when it was truncated or holds anything but plain directory names (exposed for tests).
std::string cgroup_path_of(const epc_cgroup_path& p);

// Whether the BPF object's map values have this build's layout: every field of the workload table (epc_workload.h) in
// struct epc_encl_state and struct epc_cgroup_stats at the offset and size epc.h gives it here, read from the BTF of
// the embedded object (tests/bpf checks it; nothing is loaded).
Status check_object_layout();

class Probes {
 public:
  ~Probes();
  Probes(const Probes&) = delete;
  Probes& operator=(const Probes&) = delete;

  // Never returns null. Logs once what is missing.
  static std::unique_ptr<Probes> start(const Options& options);

  bool loaded() const { return obj_ != nullptr; }
  // Why the BPF object did not load (ok when it did, or when nothing was to load).
  const Status& load_status() const { return load_status_; }
  const std::string& load_error() const { return load_status_.error().message; }  // "" when ok
  const std::vector<ProbeState>& states() const { return states_; }

  // Reads maps, node counters, program stats and (on demand) sgx_nr_free_pages. Per-cgroup counters are read
  // before the enclaves: a release during the read can hide an enclave's counters once, never count them twice.
  // between_walks runs between the two (a test seam for that race).
  Snapshot read(const std::function<void()>& between_walks = {});

  // Deletes per-cgroup entries of cgroups without live enclaves that no longer exist. Returns how many.
  std::size_t forget_gone_cgroups(const std::function<bool(std::uint64_t)>& cgroup_exists);

 private:
  friend struct ProbesTestAccess;  // probes_testing.cpp: synthetic events and the benchmark's figures
  Probes() = default;
  // start(): start_once() runs detect() and choose(), then these steps on a Plan (epc_probes.cpp).
  struct Plan;
  static std::unique_ptr<Probes> start_once(const Options& options, bool allow_reuse);
  void prepare_pins(const Options& options, bool allow_reuse, Plan& plan);  // reuse the pinned state, or start fresh
  bool load(const Options& options, Plan& plan);          // open, set autoload, reuse pinned maps, load
  void adopt_pinned(const Options& options, Plan& plan);  // hold the pinned links of the state taken over
  void attach(const Options& options, Plan& plan);        // attach and pin the links, discover enclaves
  void all_off(const std::string& reason);                // every probe not attached and without reason: off
  void discover_enclaves();
  // Runs the on-demand program once with `event` (the free-pages reader, synthetic events): its return value, or
  // -errno when the run failed.
  int run_on_demand(int program_fd, const epc_test_event& event);
  struct Obj;  // the skeleton and what is attached (probes_obj.h); its destructor detaches in order
  std::unique_ptr<Obj> obj_;
  StateInfo state_;
  bool reuse_failed_ = false;
  Status load_status_;
  std::vector<ProbeState> states_;
  std::string stats_enabled_path_;
  std::string boot_id_;  // /proc/sys/kernel/random/boot_id: part of the enclave ids
  // Cgroups the last read() found without a live enclave, with the counters it reported: forget_gone_cgroups()
  // deletes only those, and only while unchanged.
  std::mutex reported_mu_;
  std::map<std::uint64_t, epc_cgroup_stats> reported_idle_cgroups_;
  // The two SHA-256 digests of each enclave's identity (its id, its MRSIGNER), kept between reads: computing them
  // for every enclave on every scrape was most of the scrape at 2,000 enclaves. Keyed by the identities map's key;
  // valid while the enclave number, the flags and the modulus' fingerprint are unchanged; entries of enclaves gone
  // from the map are dropped on each read.
  struct IdentityHashes {
    std::uint64_t seq = 0;
    std::uint32_t flags = 0;
    std::uint64_t modulus_fnv = 0;
    std::string id, mrsigner;
  };
  std::unordered_map<std::uint64_t, IdentityHashes> identity_hashes_;
};

}  // namespace epc::probes
