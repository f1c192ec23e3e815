#include "cost_parts.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "attach_cost.skel.h"
#include "probes_testing.h"

namespace epc::costbench {

namespace {

constexpr long kBatch = 1000;  // events per BPF_PROG_TEST_RUN (bpf_loop): the stats' two clock reads spread over them

Step step(const char* name, const char* program, bool ret, std::uint32_t type, std::uint64_t tid,
          std::uint64_t page = 0, std::uint64_t arg = 0) {
  Step s;
  s.name = name;
  s.program = program;
  s.ret = ret;
  s.ev.type = type;
  s.ev.tid = tid;
  s.ev.tgid = 4242;
  s.ev.encl = ids::kEncl;
  s.ev.cgroup_id = ids::kCgroup;
  s.ev.page = page;
  s.ev.arg = arg;
  s.ev.addr = ids::kAddr;
  return s;
}

}  // namespace

void track_enclave(epc::probes::Probes& p) {
  epc_test_event create{};
  create.type = EPC_EV_ENCL_CREATE;
  create.encl = ids::kEncl;
  create.cgroup_id = ids::kCgroup;
  create.tid = ids::kFaulter;
  create.tgid = 4242;
  create.arg = 1 << 30;
  epc::probes::testing::run_event(p, create);
}

std::vector<Step> swap_sequence(int retries, bool fexit_alone) {
  using namespace ids;
  std::vector<Step> s = {
      step("ewb", "ewb", false, EPC_EV_EWB, kReclaimer, kEvictedPage),
      step("page free (evicted page)", "epc_free", false, EPC_EV_PAGE_FREE, kReclaimer, kEvictedPage),
  };
  // ELDU and its allocation: the fexit alone (fentry flavor, hooks.h FEXIT), or entry and kretprobe.
  auto load = [&](bool ok) {
    if (fexit_alone) {
      s.push_back(ok ? step("alloc exit (fexit alone)", "epc_alloc", true, EPC_EV_PAGE_ALLOC_EXIT, kFaulter, kLoadPage)
                     : step("alloc exit (fexit alone, -EBUSY)", "epc_alloc", true, EPC_EV_PAGE_ALLOC_EXIT, kFaulter, 0));
      s.push_back(step(ok ? "eldu exit (fexit alone)" : "eldu exit (fexit alone, failed)", "eldu", true,
                       EPC_EV_ELDU_EXIT, kFaulter, 0, ok ? 1 : 0));
      return;
    }
    s.push_back(step("eldu entry", "eldu", false, EPC_EV_ELDU, kFaulter));
    s.push_back(step("alloc entry", "epc_alloc", false, EPC_EV_PAGE_ALLOC, kFaulter));
    s.push_back(ok ? step("alloc return", "epc_alloc", true, EPC_EV_PAGE_ALLOC_RET, kFaulter, kLoadPage)
                   : step("alloc return (-EBUSY)", "epc_alloc", true, EPC_EV_PAGE_ALLOC_RET, kFaulter, 0));
    s.push_back(ok ? step("eldu return", "eldu", true, EPC_EV_ELDU_RET, kFaulter, 0, 1)
                   : step("eldu return (failed)", "eldu", true, EPC_EV_ELDU_RET, kFaulter, 0, 0));
  };
  for (int r = 0; r < retries; ++r) {
    s.push_back(step("fault entry", "page_fault", false, EPC_EV_FAULT, kFaulter, 0, 1000));
    load(false);
    s.push_back(step("fault return (retry)", "page_fault", true, EPC_EV_FAULT_RET, kFaulter, 0, 2000));
  }
  s.push_back(step("fault entry", "page_fault", false, EPC_EV_FAULT, kFaulter, 0, 3000));
  load(true);
  s.push_back(step("fault return", "page_fault", true, EPC_EV_FAULT_RET, kFaulter, 0, 5000));
  return s;
}

std::vector<Step> other_steps() {
  using namespace ids;
  return {
      step("reclaim", "reclaim", false, EPC_EV_RECLAIM, kReclaimer, 0, 1),
      step("va grow entry", "va_grow", false, EPC_EV_VA_GROW, kFaulter),
      step("va grow return (slot left)", "va_grow", true, EPC_EV_VA_GROW_RET, kFaulter, 0),
  };
}

StepBench::StepBench(epc::probes::Probes& p, long events, int reps) : p_(p), events_(events), reps_(reps) {
  prog_fd_ = epc::probes::testing::bench_program_fd(p);
  if (prog_fd_ < 0) {
    error_ = "the batch runner (epc_event_repeat, bpf_loop: 5.17+) is not loaded";
    return;
  }
  // bench_seq: one of the maps the batch runner uses (the Probes API does not hand out maps).
  bpf_prog_info info{};
  __u32 len = sizeof(info);
  std::uint32_t map_ids[64] = {};
  info.nr_map_ids = 64;
  info.map_ids = reinterpret_cast<std::uint64_t>(map_ids);
  if (bpf_obj_get_info_by_fd(prog_fd_, &info, &len) != 0) {
    error_ = std::string("program info: ") + std::strerror(errno);
    return;
  }
  for (std::uint32_t i = 0; i < std::min<std::uint32_t>(info.nr_map_ids, 64) && seq_fd_ < 0; ++i) {
    int fd = bpf_map_get_fd_by_id(map_ids[i]);
    if (fd < 0) continue;
    bpf_map_info mi{};
    __u32 mlen = sizeof(mi);
    if (bpf_obj_get_info_by_fd(fd, &mi, &mlen) == 0 && std::string(mi.name) == "bench_seq")
      seq_fd_ = fd;
    else
      ::close(fd);
  }
  if (seq_fd_ < 0) {
    error_ = "the batch runner has no bench_seq map";
    return;
  }
  // Per-step overhead of a sequence (the global function call, the switch): steps that do nothing.
  std::vector<Step> empty(16);
  std::vector<double> zero, sixteen;
  for (int r = 0; r < reps_; ++r) {
    zero.push_back(run_prefix(empty, 0));
    sixteen.push_back(run_prefix(empty, empty.size()));
  }
  step_overhead_ = (fastest(sixteen) - fastest(zero)) / static_cast<double>(empty.size());
}

double StepBench::per_iteration(const epc_test_event& event, long iterations) {
  // Stats on only while timing: they add two clock reads to every program run, also the attach runs' programs.
  const int stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
  if (stats_fd < 0) {
    error_ = std::string("BPF_ENABLE_STATS refused: ") + std::strerror(errno);
    return -1;
  }
  epc_test_event ev = event;
  ev.repeat = kBatch;
  auto stats = [this] {
    bpf_prog_info info{};
    __u32 len = sizeof(info);
    bpf_obj_get_info_by_fd(prog_fd_, &info, &len);
    return std::pair<std::uint64_t, std::uint64_t>{info.run_cnt, info.run_time_ns};
  };
  const auto before = stats();
  const long runs = std::max(1L, iterations / kBatch);
  for (long i = 0; i < runs; ++i) epc::probes::testing::run_event(p_, ev);
  const auto after = stats();
  ::close(stats_fd);
  const double n = static_cast<double>(after.first - before.first) * kBatch;
  return n > 0 ? static_cast<double>(after.second - before.second) / n : -1;
}

bool StepBench::write_sequence(const std::vector<Step>& seq, std::size_t n) {
  epc_test_sequence s{};
  s.n = static_cast<__u32>(std::min({n, seq.size(), static_cast<std::size_t>(EPC_TEST_SEQ_MAX)}));
  for (std::size_t i = 0; i < s.n; ++i) s.ev[i] = seq[i].ev;
  const __u32 zero = 0;
  return bpf_map_update_elem(seq_fd_, &zero, &s, BPF_ANY) == 0;
}

double StepBench::run_prefix(const std::vector<Step>& seq, std::size_t n) {
  if (!write_sequence(seq, n)) return -1;
  epc_test_event ev{};
  ev.type = EPC_EV_SEQUENCE;
  // The same number of sequence runs for every prefix of seq: the differences then have equal weight.
  return per_iteration(ev, std::max<long>(kBatch, events_ / static_cast<long>(std::max<std::size_t>(seq.size(), 1))));
}

std::vector<StepCost> StepBench::sequence_costs(const std::vector<Step>& seq) {
  const std::size_t n = std::min<std::size_t>(seq.size(), EPC_TEST_SEQ_MAX);
  std::vector<std::vector<double>> t(n + 1);
  for (int r = 0; r < reps_; ++r)
    for (std::size_t k = 0; k <= n; ++k) t[k].push_back(run_prefix(seq, k));
  // Each step from the prefixes timed next to each other in the same repetition (they see the same interference),
  // the median over the repetitions.
  std::vector<StepCost> out;
  for (std::size_t k = 1; k <= n; ++k) {
    std::vector<double> d;
    for (int r = 0; r < reps_; ++r) d.push_back(t[k][r] - t[k - 1][r]);
    out.push_back({seq[k - 1], median(d) - step_overhead_});
  }
  return out;
}

double StepBench::sequence_ns(const std::vector<Step>& seq) {
  const std::size_t n = std::min<std::size_t>(seq.size(), EPC_TEST_SEQ_MAX);
  std::vector<double> zero, all;
  for (int r = 0; r < reps_; ++r) {
    zero.push_back(run_prefix(seq, 0));
    all.push_back(run_prefix(seq, n));
  }
  return fastest(all) - fastest(zero) - step_overhead_ * static_cast<double>(n);
}

std::string StepBench::verify_swap(int retries, int times, bool fexit_alone) {
  auto counters = [this] {
    for (const auto& w : p_.read().workloads)
      if (w.cgroup_id == ids::kCgroup) return w.counters;
    return epc::probes::WorkloadCounters{};
  };
  const auto before = counters();
  if (!write_sequence(swap_sequence(retries, fexit_alone), EPC_TEST_SEQ_MAX)) return "cannot write bench_seq";
  epc_test_event ev{};
  ev.type = EPC_EV_SEQUENCE;
  ev.repeat = static_cast<std::uint64_t>(times);
  if (int rc = epc::probes::testing::run_event(p_, ev); rc != 0) return "the batch runner returned " + std::to_string(rc);
  const auto after = counters();
  const std::uint64_t n = static_cast<std::uint64_t>(times), r = n * static_cast<std::uint64_t>(retries);
  std::string diff;
  auto expect = [&](const char* what, std::int64_t got, std::int64_t want) {
    if (got != want) diff += std::string(diff.empty() ? "" : ", ") + what + " moved by " + std::to_string(got) +
                             " instead of " + std::to_string(want);
  };
  expect("evicted", after.evicted_pages - before.evicted_pages, n);
  expect("loaded back", after.loaded_back_pages - before.loaded_back_pages, n);
  expect("faults", after.page_faults - before.page_faults, n + r);
  expect("fault retries", after.fault_retries - before.fault_retries, r);
  expect("failed allocations", after.alloc_failures - before.alloc_failures, r);
  expect("resident", after.resident_pages - before.resident_pages, 0);
  expect("swapped", after.swapped_pages - before.swapped_pages, 0);
  if (after.page_fault_ns <= before.page_fault_ns) diff += std::string(diff.empty() ? "" : ", ") + "no stall time";
  return diff;
}

std::vector<StepCost> StepBench::alone_costs(const std::vector<Step>& steps) {
  std::vector<StepCost> out;
  for (const auto& s : steps) {
    std::vector<double> one, zero;
    for (int r = 0; r < reps_; ++r) {
      one.push_back(run_prefix({s}, 1));
      zero.push_back(run_prefix({s}, 0));
    }
    out.push_back({s, fastest(one) - fastest(zero) - step_overhead_});
  }
  return out;
}

std::map<int, double> StepBench::helper_costs() {
  std::map<int, std::vector<double>> t;
  for (int r = 0; r < reps_; ++r)
    for (int h = EPC_BH_NONE; h < EPC_BH_NR; ++h) {
      epc_test_event ev{};
      ev.type = EPC_EV_HELPER;
      ev.arg = static_cast<std::uint64_t>(h);
      t[h].push_back(per_iteration(ev, events_));
    }
  std::map<int, double> out;
  const double none = fastest(t[EPC_BH_NONE]);
  for (int h = EPC_BH_NONE + 1; h < EPC_BH_NR; ++h) out[h] = fastest(t[h]) - none;
  return out;
}

int start_bench(long events, int reps, BenchSetup* out, std::string* msg) {
  if (::geteuid() != 0) {
    *msg = "needs root (BPF_PROG_TEST_RUN, BPF_ENABLE_STATS)";
    return 77;
  }
  epc::probes::Options o;
  o.mode = epc::probes::Mode::kTestOnly;
  o.kallsyms_path = "";
  o.load_bench_program = true;  // epc_event_repeat (bpf_loop, 5.17+)
  out->probes = epc::probes::Probes::start(o);
  if (!out->probes->loaded()) {
    *msg = "BPF object does not load: " + out->probes->load_error();
    return 77;
  }
  out->bench = std::make_unique<StepBench>(*out->probes, events, reps);
  if (!out->bench->error().empty()) {
    *msg = out->bench->error();
    return 77;
  }
  track_enclave(*out->probes);
  for (bool fexit_alone : {false, true})
    for (int retries : {0, 1})
      if (std::string diff = out->bench->verify_swap(retries, 3, fexit_alone); !diff.empty()) {
        *msg = std::string("the swap sequence ") + (fexit_alone ? "(fexit alone) " : "") + "with " +
               std::to_string(retries) + " retries is not one swapped page's accounting: " + diff;
        return 1;
      }
  return 0;
}

const char* helper_name(int which) {
  switch (which) {
    case EPC_BH_PID_TGID: return "get_current_pid_tgid";
    case EPC_BH_CGROUP_ID: return "get_current_cgroup_id";
    case EPC_BH_KTIME: return "ktime_get_ns";
    case EPC_BH_PROBE_READ: return "probe_read_kernel";
    case EPC_BH_COMM: return "get_current_comm";
    case EPC_BH_TASK: return "get_current_task";
    default: return "?";
  }
}

std::map<std::string, std::map<int, int>> helper_calls(const std::string& object_path) {
  // The helpers a handler calls to read the kernel, and the timed helper that stands for each (the _str and
  // boot-clock variants run at enclave creation only).
  static const std::map<int, int> kind = {
      {BPF_FUNC_get_current_pid_tgid, EPC_BH_PID_TGID}, {BPF_FUNC_get_current_cgroup_id, EPC_BH_CGROUP_ID},
      {BPF_FUNC_ktime_get_ns, EPC_BH_KTIME},            {BPF_FUNC_ktime_get_boot_ns, EPC_BH_KTIME},
      {BPF_FUNC_probe_read_kernel, EPC_BH_PROBE_READ},   {BPF_FUNC_probe_read_kernel_str, EPC_BH_PROBE_READ},
      {BPF_FUNC_probe_read_user, EPC_BH_PROBE_READ},     {BPF_FUNC_get_current_comm, EPC_BH_COMM},
      {BPF_FUNC_get_current_task, EPC_BH_TASK},
  };
  std::map<std::string, std::map<int, int>> out;
  bpf_object* obj = bpf_object__open_file(object_path.c_str(), nullptr);
  if (!obj) return out;
  bpf_program* prog;
  bpf_object__for_each_program(prog, obj) {
    auto& calls = out[bpf_program__name(prog)];
    const bpf_insn* insn = bpf_program__insns(prog);
    for (std::size_t i = 0; i < bpf_program__insn_cnt(prog); ++i) {
      if (insn[i].code != (BPF_JMP | BPF_CALL) || insn[i].src_reg != 0) continue;
      if (auto k = kind.find(insn[i].imm); k != kind.end()) ++calls[k->second];
    }
  }
  bpf_object__close(obj);
  return out;
}

const std::vector<std::string>& attach_configs() {
  static const std::vector<std::string> c = {"none",   "fentry",    "fexit", "fentry+fexit",
                                             "kprobe", "kretprobe", "kprobe+kretprobe"};
  return c;
}

namespace {

double getpid_ns(long calls) {
  timespec a{}, b{};
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (long i = 0; i < calls; ++i) ::syscall(SYS_getpid);
  clock_gettime(CLOCK_MONOTONIC, &b);
  return (static_cast<double>(b.tv_sec - a.tv_sec) * 1e9 + static_cast<double>(b.tv_nsec - a.tv_nsec)) /
         static_cast<double>(calls);
}

const char* fentry_target() {
  static const char* target = [] () -> const char* {
    btf* vmlinux = btf__load_vmlinux_btf();
    if (!vmlinux) return nullptr;
    const char* t = nullptr;
    for (const char* name : {"__x64_sys_getpid", "__do_sys_getpid"})
      if (!t && btf__find_by_name_kind(vmlinux, name, BTF_KIND_FUNC) > 0) t = name;
    btf__free(vmlinux);
    return t;
  }();
  return target;
}

// getpid() ns per call with configuration c attached; < 0 with *why when it cannot attach here.
double attached_getpid_ns(const std::string& c, long calls, std::string* why) {
  if (c == "none") return getpid_ns(calls);
  attach_cost_bpf* skel = attach_cost_bpf__open();
  if (!skel) {
    *why = std::string("open: ") + std::strerror(errno);
    return -1;
  }
  bpf_program* progs[] = {skel->progs.fe_empty, skel->progs.fx_empty, skel->progs.kp_empty, skel->progs.kr_empty};
  const bool want[] = {c == "fentry" || c == "fentry+fexit", c == "fexit" || c == "fentry+fexit",
                       c == "kprobe" || c == "kprobe+kretprobe", c == "kretprobe" || c == "kprobe+kretprobe"};
  for (int i = 0; i < 4; ++i) bpf_program__set_autoload(progs[i], want[i]);
  // Some kernels' BTF has getpid() only as __do_sys_getpid, an alias at the same address (SYSCALL_DEFINE0; 6.1's
  // pahole keeps one name per address): fentry attaches by BTF name, the kprobe by kallsyms name.
  if (const char* target = fentry_target()) {
    bpf_program__set_attach_target(progs[0], 0, target);
    bpf_program__set_attach_target(progs[1], 0, target);
  }
  double ns = -1;
  std::vector<bpf_link*> links;
  if (attach_cost_bpf__load(skel) != 0) {
    *why = std::string("load: ") + std::strerror(errno);
  } else {
    bool ok = true;
    for (int i = 0; i < 4 && ok; ++i) {
      if (!want[i]) continue;
      bpf_link* l = bpf_program__attach(progs[i]);
      if (!l) {
        *why = std::string("attach ") + bpf_program__name(progs[i]) + ": " + std::strerror(errno);
        ok = false;
      } else {
        links.push_back(l);
      }
    }
    if (ok) {
      getpid_ns(calls / 10);  // warm
      ns = getpid_ns(calls);
    }
  }
  for (auto* l : links) bpf_link__destroy(l);
  attach_cost_bpf__destroy(skel);
  return ns;
}

}  // namespace

std::map<std::string, double> measure_attach(long calls, int rounds, std::map<std::string, std::string>* why) {
  std::map<std::string, std::vector<double>> t;
  libbpf_print_fn_t old = libbpf_set_print(nullptr);  // a refused attach is a result here, not log noise
  for (int r = 0; r < rounds; ++r) {
    for (const auto& c : attach_configs()) {
      if (why->count(c)) continue;
      std::string reason;
      const double ns = attached_getpid_ns(c, calls, &reason);
      if (ns < 0)
        (*why)[c] = reason;
      else
        t[c].push_back(ns);
    }
  }
  libbpf_set_print(old);
  std::map<std::string, double> out;
  for (const auto& [c, v] : t)
    if (!why->count(c)) out[c] = fastest(v);
  return out;
}

double fastest(const std::vector<double>& v) { return v.empty() ? 0 : *std::min_element(v.begin(), v.end()); }

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::string kernel_release() {
  std::string rel = "?";
  std::ifstream("/proc/sys/kernel/osrelease") >> rel;
  return rel;
}

std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0) {
      auto p = line.find(':');
      return p == std::string::npos ? line : line.substr(p + 2);
    }
  return "?";
}

}  // namespace epc::costbench
