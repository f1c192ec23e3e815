// The measured parts of what the probes cost per swapped page (bench_probe_cost, bpf_event_cost_bench and the guest
// tool bpf_attach_cost share them):
// - StepBench: each handler step of the accounting in the state it meets on the paging path, timed with
//   BPF_PROG_TEST_RUN in bpf_loop batches (kernel BPF stats), and each helper a handler calls before its step;
// - measure_attach(): an empty fentry / fexit / kprobe / kretprobe on getpid() against none.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "epc.h"
#include "epc_probes.h"

namespace epc::costbench {

// Page-swap events on plain values, as the handlers of epc.bpf.c pass them to the accounting.
namespace ids {
constexpr std::uint64_t kEncl = 0xffff888100010000ull;
constexpr std::uint64_t kCgroup = 1001;
constexpr std::uint64_t kFaulter = 77;   // the enclave's thread that faults
constexpr std::uint64_t kReclaimer = 78;  // ksgxd
constexpr std::uint64_t kEvictedPage = 0xffffc90000001000ull;
constexpr std::uint64_t kLoadPage = 0xffffc90000002000ull;
constexpr std::uint64_t kAddr = 0x7f0000010000ull;
}  // namespace ids

// Creates the tracked enclave (ids::kEncl in ids::kCgroup) the sequences' events belong to.
void track_enclave(epc::probes::Probes& p);

struct Step {
  std::string name;     // "fault entry", "alloc return (-EBUSY)", ...
  std::string program;  // the probe it stands for without its fe_/kp_/fx_/kr_ prefix: "page_fault"
  bool ret = false;     // a return step (fexit / kretprobe)
  epc_test_event ev{};
};

// One swapped page as the paging path runs it: EWB and the free of its page (ksgxd), then the fault that loads it
// back. retries > 0: that many -EBUSY attempts before (fault, ELDU, allocation failing with reclaim=false, the
// fault returning unmapped). fexit_alone: ELDU and the allocation as the fentry flavor runs them (their fexit
// alone, hooks.h FEXIT), else as the kprobe flavor does (entry and kretprobe).
std::vector<Step> swap_sequence(int retries, bool fexit_alone = false);
// Steps outside a swap's sequence that still run on the paging path: reclaim passes, VA-page grows.
std::vector<Step> other_steps();

struct StepCost {
  Step step;
  double ns = 0;  // the step's accounting alone (the sequence's per-step overhead taken out)
};

class StepBench {
 public:
  // Needs p loaded with Options::load_bench_program; turns the kernel's BPF stats on while it times (BPF_ENABLE_STATS).
  // events: events per figure; reps: each figure is the fastest of this many repetitions, interleaved.
  StepBench(epc::probes::Probes& p, long events, int reps);
  const std::string& error() const { return error_; }  // "" when usable

  // Per step of seq, in the order given: the prefix up to it less the prefix before it, less the per-step overhead.
  std::vector<StepCost> sequence_costs(const std::vector<Step>& seq);
  // Sum of a whole sequence's steps (ns per run of the sequence, per-step overhead taken out).
  double sequence_ns(const std::vector<Step>& seq);
  // Steps each in a loop of their own (no state from other steps).
  std::vector<StepCost> alone_costs(const std::vector<Step>& steps);
  // ns of one call of each helper (enum epc_bench_helper), the empty event taken out.
  std::map<int, double> helper_costs();
  double step_overhead_ns() const { return step_overhead_; }
  // Runs swap_sequence(retries) `times` times and checks that the enclave's counters moved as one swapped page each
  // (evicted, loaded back, faults, retries, failed allocations, residency and swapped pages back where they were):
  // what is timed is the accounting of a swap, not steps that return early. "" when they did, else what differed.
  std::string verify_swap(int retries, int times, bool fexit_alone = false);

 private:
  double per_iteration(const epc_test_event& ev, long iterations);
  double run_prefix(const std::vector<Step>& seq, std::size_t n);
  bool write_sequence(const std::vector<Step>& seq, std::size_t n);
  epc::probes::Probes& p_;
  long events_;
  int reps_;
  int prog_fd_ = -1;
  int seq_fd_ = -1;
  double step_overhead_ = 0;
  std::string error_;
};

// What every benchmark here starts with: the probes' object loaded for BPF_PROG_TEST_RUN (nothing attached, the
// batch runner loaded), a StepBench on it, the sequences' enclave created, and one swapped page's accounting checked
// with and without a retry. Returns 0 when ready, else the exit code with *msg: 77 (not root, no BPF, no batch
// runner: a skip) or 1 (the sequence is not one swapped page's accounting).
struct BenchSetup {
  std::unique_ptr<epc::probes::Probes> probes;
  std::unique_ptr<StepBench> bench;
};
int start_bench(long events, int reps, BenchSetup* out, std::string* msg);

// The helpers each program of the BPF object calls, from its instructions (each call site counted once: an upper
// bound where a branch skips one). Only the helpers of enum epc_bench_helper; map helpers belong to the steps.
std::map<std::string, std::map<int, int>> helper_calls(const std::string& object_path);
const char* helper_name(int which);

// getpid() cost with an empty program attached, ns per call, per configuration ("none", "fentry", "fexit",
// "fentry+fexit", "kprobe", "kretprobe", "kprobe+kretprobe"). A configuration that cannot attach here is left out
// and its reason put in *why.
std::map<std::string, double> measure_attach(long calls, int rounds, std::map<std::string, std::string>* why);
const std::vector<std::string>& attach_configs();

double median(std::vector<double> v);
// The fastest of repeated timings: on a shared machine interference only adds time.
double fastest(const std::vector<double>& v);
std::string kernel_release();
std::string cpu_model();

}  // namespace epc::costbench
