// Blocked time per access, measured by the process that makes the accesses: every access is timed with
// CLOCK_MONOTONIC and classified as faulted or not by the thread's fault count (getrusage RUSAGE_THREAD; every
// enclave fault, including -EBUSY retries, is one); baseline = median latency of the accesses that did not fault;
// blocked = sum over faulted accesses of (latency - baseline - trap - descheduled), descheduled = time off the CPU
// before the access's first fault or after its last (SchedWatch), trap = the fault round trip outside the driver
// (read faults on anonymous memory). tests/sgx_emu's workload and `epc_bench --validate` both measure this way, and
// the exporter's sgx_enclave_page_fault_seconds_total is checked against it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace epcbench {

std::uint64_t monotonic_ns();
// Minor + major faults of the calling thread so far.
std::uint64_t thread_faults();

// Off-CPU time of this thread that is not a wait for an enclave page, per access, from the kernel's own records
// (perf, this thread only, CLOCK_MONOTONIC): sched_switch samples (time and prev_state), page-fault samples (time,
// at fault entry) and context-switch records (time back on the CPU), in one ring drained after each access.
// A thread switched out inside the fault handler is preempted there (cond_resched: state R with the preempt mark)
// or blocks (D/S), both inside the wait. A plain R switch-out is at a return to user mode: between -EBUSY retries
// (a fault follows: waiting), or after the fault that mapped the page or before the first fault (none follows /
// none yet: the page is mapped or not yet asked for; typically ksgxd, woken by the fault's own allocation below
// SGX_NR_LOW_PAGES, runs on the same CPU). Those intervals are `descheduled`, and not blocked time.
// Needs tracefs's sched_switch and perf_event_open on this thread; ok() is false where either is missing (then
// blocked time includes the time off the CPU).
class SchedWatch {
 public:
  SchedWatch();
  ~SchedWatch();
  SchedWatch(const SchedWatch&) = delete;
  SchedWatch& operator=(const SchedWatch&) = delete;
  bool ok() const { return ok_; }
  // Drops the records so far (call before the access to measure).
  void skip() { drain(nullptr); }
  // Descheduled ns within [t0, t1] (records of earlier accesses are dropped by the caller's skip()).
  std::uint64_t descheduled(std::uint64_t t0, std::uint64_t t1);

 private:
  static constexpr std::size_t kRingPages = 64;
  struct Ev {
    char kind;  // F fault entry, O switched out (state: prev_state, 0 = plain R), I back on the CPU
    std::uint64_t t;
    std::uint64_t state;
  };
  static int open_event(void* attr, int group_out);
  bool drain(std::vector<Ev>* out);
  void* ring_ = nullptr;
  int fd_sw_ = -1, fd_pf_ = -1, fd_cs_ = -1;
  std::uint64_t id_sw_ = 0, id_pf_ = 0;
  int state_off_ = -1, state_size_ = 0;
  bool ok_ = false;
  std::vector<Ev> evs_;
};

// The accesses of one timed run, in order.
class AccessLog {
 public:
  explicit AccessLog(SchedWatch& watch) : watch_(watch) {}
  // Room for n accesses, written now: a record must not fault on a fresh page of its own buffer (that fault would
  // count in the next access). Beyond n the log grows, resyncing the fault count after each growth.
  void prepare(std::size_t n);
  // Times access() (one access to one page); returns whether it faulted.
  template <class F>
  bool time(F&& access) {
    if (!synced_) resync();
    if (watch_.ok()) watch_.skip();
    const std::uint64_t t0 = monotonic_ns();
    access();
    const std::uint64_t t1 = monotonic_ns();
    const std::uint64_t f1 = thread_faults();
    const bool faulted = f1 != faults_at_;
    record(t1 - t0, faulted, faulted && watch_.ok() ? watch_.descheduled(t0, t1) : 0, f1 - faults_at_);
    faults_at_ = f1;
    return faulted;
  }
  // Code between two timed accesses may fault (not counted): call this before the next access.
  void resync();
  std::size_t size() const { return n_; }
  std::uint64_t faults() const { return faults_; }  // every fault of the timed accesses (retries included)

  // [0, size()): latency (ns), faulted (0/1), descheduled ns (faulted accesses only).
  std::vector<std::uint32_t> lat_;
  std::vector<std::uint8_t> faulted_;
  std::vector<std::uint32_t> desched_;

 private:
  void record(std::uint64_t lat, bool faulted, std::uint64_t desched, std::uint64_t faults);
  SchedWatch& watch_;
  bool synced_ = false;
  std::size_t n_ = 0;
  std::uint64_t faults_at_ = 0, faults_ = 0;
};

// The fault round trip outside the driver (exception entry, the generic fault path, return to user; ~20-40 us
// under TCG): the median latency of read faults on untouched anonymous memory (the zero page is mapped; the same
// trap and perf records as an enclave fault, a trivial handler). Raw (baseline included); 0 when none could be
// measured.
std::uint64_t measure_trap_ns(SchedWatch& watch);

struct BlockedTime {
  std::uint64_t accesses = 0, faulted_accesses = 0;
  std::uint64_t baseline_ns = 0;  // median latency of the accesses that did not fault
  std::uint64_t trap_ns = 0;      // trap round trip less the baseline, taken off every faulted access
  std::uint64_t faulted_p50_ns = 0, faulted_max_ns = 0, resident_p50_ns = 0;
  double blocked_seconds = 0;      // see the top of this file
  double descheduled_seconds = 0;  // off the CPU in faulted accesses while not waiting for a page
  double access_seconds = 0;       // every access's latency summed
};
// baseline_ns: 0 = the median of the log's own non-faulted accesses (a log without any has baseline 0).
// [from, to): the accesses summarised (default all).
BlockedTime summarize(const AccessLog& log, std::uint64_t trap_raw_ns, std::uint64_t baseline_ns = 0,
                      std::size_t from = 0, std::size_t to = SIZE_MAX);

}  // namespace epcbench
