// Userspace side of the SGX probes: opens the embedded BPF object (bpftool skeleton), decides per hook whether
// and how to attach it, and reads the maps into a Snapshot. Never fails the process: a host without SGX, BTF,
// kprobes or privileges gets a Probes object whose probes are all off, each with the reason.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "epc.h"  // struct epc_cgroup_stats (kept between a read and forget_gone_cgroups)
#include "epc_snapshot.h"
#include "hooks.h"
#include "host/result.h"

struct epc_test_event;
struct epc_cgroup_path;
struct btf;

namespace epc::probes {

enum class Mode {
  kRun,        // production: probe kallsyms/BTF, load, attach
  kLoadCheck,  // load every kprobe-flavor program (no attach), for CO-RE + verifier checks
  kTestOnly,   // maps and the on-demand program only (BPF_PROG_TEST_RUN tests, benchmark); kallsyms_path
               // may be empty (no sgx_nr_free_pages address)
};

struct Options {
  Mode mode = Mode::kRun;
  std::string kallsyms_path = "/proc/kallsyms";
  std::string sys_path = "/sys";  // under --path.rootfs: kprobe PMU, bpf stats
  std::string proc_path = "/proc";
  std::string btf_custom_path;    // CO-RE target BTF; empty = the running kernel's
  bool prefer_fentry = true;
  std::vector<std::string> disabled;  // hook names switched off by configuration
  // Also load the batch runner of synthetic events (epc_event_repeat: bpf_loop, 5.17+), for the cost benchmark.
  bool load_bench_program = false;
  // kRun: a bpffs directory where maps and links are pinned (one subdirectory per layout id), so the probes keep
  // counting while the exporter is down and the next instance takes their state over. "" = no pinning.
  std::string pin_path;
  // Mixed into the layout id: a different tag reads as a different map layout (tests of an upgrade).
  std::string layout_tag;
  // kRun, starting without pinned state: find the enclaves that already exist (task iterators) and seed them.
  bool discover = true;
  std::string dev_path = "/dev";  // /dev/sgx_enclave's device number, for the iterators' file test
};

// The layout id of this build's BPF object (+ tag): pinned state is taken over only by an identical object.
std::string layout_id(const std::string& tag);

// What a removal of pinned state removed, and its first failure (it goes on past one: what can go, goes).
struct UnpinOutcome {
  std::size_t removed = 0;  // pinned objects
  Status status;
};

// Removes pinned state below pin_path (every layout) and the kprobe events its links used. Nothing pinned is no
// error.
UnpinOutcome unpin_all(const std::string& pin_path, const std::string& sys_path);

// Parameters of kernel function `fn` in `btf` (its FUNC's FUNC_PROTO vlen); -1 when the BTF has no such FUNC.
int btf_function_arity(const struct btf* btf, const char* fn);
// The fexit program that reads sgx_encl_grow()'s return value at the right ctx index: "fx_va_grow" (encl, reclaim:
// the SGX2 series, 6.0+), "fx_va_grow1" (encl: 5.15), "" (unknown signature or absent: use the kprobe flavor).
std::string encl_grow_fexit_variant(const struct btf* btf);

// The path a cgroup_paths entry records ("/kubepods.slice/.../cri-containerd-<id>.scope", "/" for the root); ""
// when it was truncated or holds anything but plain directory names (exposed for tests).
std::string cgroup_path_of(const epc_cgroup_path& p);

// Removes from <tracefs>/kprobe_events the kretprobe events of exporters that died without removing them
// (SIGKILL, OOM): groups epc_exporter_<pid> whose pid is not alive under proc_path, and the group of our own pid
// (call it before making any: a container's exporter is pid 1 at every restart). Returns how many it asked to
// remove (exposed for tests).
std::size_t remove_stale_tracefs_events(const std::string& tracefs, const std::string& proc_path);

// Which kernel symbols exist, parsed from /proc/kallsyms text (exposed for tests).
struct KallsymsInfo {
  bool readable = false;
  bool any_sgx = false;
  std::uint64_t nr_free_pages_addr = 0;  // 0 if absent or hidden (kptr_restrict)
  std::uint64_t encl_fops_addr = 0;      // sgx_encl_fops (data symbol: needs CONFIG_KALLSYMS_ALL)
  std::vector<std::string> functions;    // text symbols starting with "sgx_", as listed (may carry .isra.0 etc.)
  bool has_function(const std::string& name) const;
  bool has_renamed(const std::string& name) const;  // name.isra.N / name.constprop.N / name.part.N
};
KallsymsInfo parse_kallsyms(const std::string& text);

// ---- start-up, in steps: detect (the host), choose (per hook), then Probes loads and attaches ----

// What the host offers the probes, found before anything is loaded: plain data, so choose() is tested without a
// kernel.
struct Detection {
  KallsymsInfo kallsyms;
  bool btf = false;      // the kernel's BTF (/sys/kernel/btf/vmlinux) or Options::btf_custom_path is there
  bool kprobes = false;  // a kprobe PMU or tracefs kprobe_events
  bool tracing = false;  // the BTF loads and the kernel takes tracing (fentry/fexit) programs
  bool root = false;     // effective uid 0
  std::set<std::string> btf_functions;  // the hooks' functions the BTF has a FUNC for (what fentry attaches to)
  std::string grow_fexit;               // encl_grow_fexit_variant() of that BTF
  bool iter_file = false, iter_vma = false;  // the task_file / task_vma iterators (start-up discovery)
  std::uint32_t enclave_rdev = 0;            // /dev/sgx_enclave's device number as the kernel writes it
};
// Reads kallsyms, looks for BTF, kprobes and the enclave device, as options.mode needs.
Detection detect(const Options& options);

enum class Choice { kOff, kKprobe, kFentry };
struct HookChoice {
  Choice how = Choice::kOff;
  std::string reason;  // why it is off ("" when it is not, and in the modes that attach nothing)
};
// Per hook of hook_specs(), in order: fentry where preferred and the BTF and the kernel allow it, else a kprobe,
// else off with the reason. kLoadCheck: kprobes everywhere; kTestOnly: every hook off, no reason.
std::vector<HookChoice> choose(const Detection& host, const Options& options);

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

  // Runs the on-demand program with one synthetic event (tests, benchmark). Returns the program's return value,
  // or -errno when the run itself failed.
  int run_event(const epc_test_event& event);
  int event_program_fd() const;
  int bench_program_fd() const;  // epc_event_repeat, -1 unless Options::load_bench_program and it loaded

  // Map reads go through BPF_MAP_LOOKUP_BATCH (Linux 5.6+; a few hundred entries per system call) and fall back
  // to a key-by-key walk where the kernel refuses it. false forces the key-by-key walk (tests compare the two).
  static void set_batch_reads(bool enabled);

  // Kernel memory of each map ("memlock" in fdinfo), for the benchmark's report.
  std::vector<std::pair<std::string, std::uint64_t>> map_memory_bytes() const;
  // Names of programs that were loaded.
  std::vector<std::string> loaded_programs() const;

 private:
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
  struct Obj;  // the skeleton and what is attached (epc_probes.cpp); its destructor detaches in order
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
