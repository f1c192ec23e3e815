// Start-up, the first two steps: detect() what the host offers the probes (kallsyms, BTF, kprobes, the enclave
// device) into plain data, then choose() per hook how it attaches (fentry, kprobe or off with the reason): a pure
// function, tested without a kernel. The loader (epc_probes.h) loads and attaches what was chosen.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

struct btf;

namespace epc::probes {

enum class Mode {
  kRun,        // production: probe kallsyms/BTF, load, attach
  kLoadCheck,  // load every kprobe-flavor program (no attach), for CO-RE + verifier checks
  kTestOnly,   // maps and the on-demand program only (probes_testing.h: BPF_PROG_TEST_RUN tests, benchmark);
               // kallsyms_path may be empty (no sgx_nr_free_pages address)
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

// Parameters of kernel function `fn` in `btf` (its FUNC's FUNC_PROTO vlen); -1 when the BTF has no such FUNC.
int btf_function_arity(const struct btf* btf, const char* fn);
// The fexit program that reads sgx_encl_grow()'s return value at the right ctx index: "fx_va_grow" (encl, reclaim:
// the SGX2 series, 6.0+), "fx_va_grow1" (encl: 5.15), "" (unknown signature or absent: use the kprobe flavor).
std::string encl_grow_fexit_variant(const struct btf* btf);

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

}  // namespace epc::probes
